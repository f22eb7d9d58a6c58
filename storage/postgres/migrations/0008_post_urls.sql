-- Moderators name posts by the link they see (a Mastodon post's page,
-- https://host/@user/123, is its url, not its id).
CREATE INDEX posts_url ON posts (community_id, url) WHERE url <> '';
