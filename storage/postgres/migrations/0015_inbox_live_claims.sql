-- The inbox's live claims, by when they run out: whether another node
-- holds a claim, and which of the earlier activities are in other hands
-- (UnprocessedInbox), read the claims that have not run out, not every
-- activity waiting (a backlog of thousands made each claim read them
-- all).
CREATE INDEX inbox_live_claims ON inbox (claimed_until) WHERE processed_at IS NULL;
