-- The posting rate limit counts an author's recent announced posts
-- (AuthorFacts). decision and deleted_at sit after the post's content and
-- the Create as received, on overflow pages: counting 40 posts read 40
-- rows' overflow chains (74 us of the inbox's 275 us per activity in
-- `agora bench ingest`). With them in the index the count reads it only.
DROP INDEX posts_by_author;
CREATE INDEX posts_by_author ON posts (author, community_id, received_at, decision, deleted_at);
