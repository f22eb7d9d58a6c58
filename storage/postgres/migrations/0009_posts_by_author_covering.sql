-- The posting rate limit counts an author's recent announced posts
-- (AuthorFacts): the index holds what the count reads.
DROP INDEX posts_by_author;
CREATE INDEX posts_by_author ON posts (author, community_id, received_at, decision, deleted_at);
