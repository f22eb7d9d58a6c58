-- Only replies are indexed by thread and by parent: most posts addressed
-- to a community start a thread (see storage/sqlite's 0010).
DROP INDEX posts_by_thread;
CREATE INDEX posts_by_thread ON posts (community_id, thread_root) WHERE thread_root <> object_id;
CREATE INDEX posts_by_parent ON posts (community_id, in_reply_to) WHERE in_reply_to <> '';
