-- The inbox's live claims, by when they run out: the claim reads the
-- ordering keys of what other nodes have in hand (UnprocessedInbox) from
-- the claims that have not run out, not from every activity waiting (a
-- backlog of thousands made each claim read them all).
CREATE INDEX inbox_live_claims ON inbox (claimed_until) WHERE processed_at IS NULL;

-- The ordering keys are no longer probed per candidate, so their GIN
-- index only cost each record and each claim an insertion.
DROP INDEX inbox_order_keys;
