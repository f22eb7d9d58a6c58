-- The bytes of each actor's activities recorded and not processed yet,
-- kept by triggers in the transactions that record and mark them, so
-- that the inbox can refuse an actor over its byte budget with one
-- indexed read (summing the actor's waiting rows at each request would
-- cost in proportion to its backlog).
CREATE TABLE inbox_actor_bytes (
    actor   TEXT PRIMARY KEY,
    pending INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO inbox_actor_bytes (actor, pending)
    SELECT actor, sum(length(body)) FROM inbox WHERE processed_at IS NULL GROUP BY actor;

CREATE TRIGGER inbox_actor_bytes_insert AFTER INSERT ON inbox WHEN new.processed_at IS NULL
BEGIN
    INSERT INTO inbox_actor_bytes (actor, pending) VALUES (new.actor, length(new.body))
        ON CONFLICT (actor) DO UPDATE SET pending = pending + excluded.pending;
END;

CREATE TRIGGER inbox_actor_bytes_processed AFTER UPDATE OF processed_at ON inbox
    WHEN old.processed_at IS NULL AND new.processed_at IS NOT NULL
BEGIN
    UPDATE inbox_actor_bytes SET pending = pending - length(old.body) WHERE actor = old.actor;
END;

CREATE TRIGGER inbox_actor_bytes_delete AFTER DELETE ON inbox WHEN old.processed_at IS NULL
BEGIN
    UPDATE inbox_actor_bytes SET pending = pending - length(old.body) WHERE actor = old.actor;
END;
