-- The bytes of each actor's activities recorded and not processed yet,
-- kept by triggers in the transactions that record and mark them, so
-- that the inbox can refuse an actor over its byte budget with one
-- indexed read. The same three triggers as storage/sqlite's 0013.
CREATE TABLE inbox_actor_bytes (
    actor   TEXT PRIMARY KEY,
    pending BIGINT NOT NULL
);

INSERT INTO inbox_actor_bytes (actor, pending)
    SELECT actor, sum(octet_length(body)) FROM inbox WHERE processed_at IS NULL GROUP BY actor;

CREATE FUNCTION inbox_actor_bytes_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO inbox_actor_bytes (actor, pending) VALUES (NEW.actor, octet_length(NEW.body))
        ON CONFLICT (actor) DO UPDATE SET pending = inbox_actor_bytes.pending + excluded.pending;
    RETURN NULL;
END $$;

CREATE TRIGGER inbox_actor_bytes_insert AFTER INSERT ON inbox
    FOR EACH ROW WHEN (NEW.processed_at IS NULL) EXECUTE FUNCTION inbox_actor_bytes_insert();

CREATE FUNCTION inbox_actor_bytes_done() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE inbox_actor_bytes SET pending = pending - octet_length(OLD.body) WHERE actor = OLD.actor;
    RETURN NULL;
END $$;

CREATE TRIGGER inbox_actor_bytes_processed AFTER UPDATE OF processed_at ON inbox
    FOR EACH ROW WHEN (OLD.processed_at IS NULL AND NEW.processed_at IS NOT NULL)
    EXECUTE FUNCTION inbox_actor_bytes_done();

CREATE TRIGGER inbox_actor_bytes_delete AFTER DELETE ON inbox
    FOR EACH ROW WHEN (OLD.processed_at IS NULL) EXECUTE FUNCTION inbox_actor_bytes_done();
