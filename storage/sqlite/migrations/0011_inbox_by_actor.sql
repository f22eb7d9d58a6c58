-- Whether a retried activity was taken back meanwhile (ReceivedLater)
-- is asked of the activities its actor sent after it. Without this index
-- that read every activity received since, from anyone: up to 12 hours
-- of the whole inbox for the last retry.
CREATE INDEX inbox_by_actor ON inbox (actor, id);
