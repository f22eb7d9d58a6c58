-- Indexes for the pages that list posts newest first, so a page reads about
-- as many rows as it shows instead of every post of the community.

-- Posts: a community's posts by id.
CREATE INDEX posts_by_community ON posts (community_id, id);

-- Outbox: from a community's Announce activities (out_activities_by_community)
-- to the post each announced.
CREATE INDEX announces_by_out_activity ON announces (out_activity_id);
