-- Nodes keep the communities and the domain blocks in memory while they
-- listen (storage/postgres/cache.go): every write to those tables, from
-- whatever connection (a node, `agora` commands, psql), tells them to
-- forget the table's rows, at its commit.
CREATE FUNCTION agora_cache_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('agora_cache', TG_TABLE_NAME);
	RETURN NULL;
END $$;

CREATE TRIGGER communities_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON communities
	FOR EACH STATEMENT EXECUTE FUNCTION agora_cache_notify();
CREATE TRIGGER domain_blocks_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON domain_blocks
	FOR EACH STATEMENT EXECUTE FUNCTION agora_cache_notify();
