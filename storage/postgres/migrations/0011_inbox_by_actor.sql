-- Whether a retried activity was taken back meanwhile (ReceivedLater)
-- is asked of the activities its actor sent after it; the claims of
-- several nodes ask for an actor's earlier activities in hand elsewhere.
CREATE INDEX inbox_by_actor ON inbox (actor, id);
