-- Only replies are indexed by thread and by parent: most posts addressed
-- to a community start a thread, and each index of a post is a random
-- page written per insert (three such indexes cost about 26 us of the
-- inbox's 143 us per activity in `agora bench ingest`). ThreadPosts and
-- ReplyCounts state the indexes' conditions so the planner uses them
-- (before, both scanned all of the community's posts: TestPostQueryPlans).
DROP INDEX posts_by_thread;
CREATE INDEX posts_by_thread ON posts (community_id, thread_root) WHERE thread_root <> object_id;
CREATE INDEX posts_by_parent ON posts (community_id, in_reply_to) WHERE in_reply_to <> '';
