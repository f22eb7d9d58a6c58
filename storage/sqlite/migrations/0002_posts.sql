-- Posting rules per community.
ALTER TABLE communities ADD COLUMN posting_policy TEXT NOT NULL DEFAULT 'members';
ALTER TABLE communities ADD COLUMN announce_replies INTEGER NOT NULL DEFAULT 0;

-- A remote actor's followers collection, to tell followers-only posts from
-- direct ones.
ALTER TABLE remote_actors ADD COLUMN followers TEXT NOT NULL DEFAULT '';

-- What software a host runs (NodeInfo software.name), which picks the
-- dialect Agora speaks to it; fetched at most once a day.
ALTER TABLE hosts ADD COLUMN software TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN software_at INTEGER NOT NULL DEFAULT 0;

-- Posts addressed to communities: one row per (community, remote object),
-- with the decision and its reason.
CREATE TABLE posts (
    id           INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES communities(id),
    object_id    TEXT NOT NULL,
    activity_id  TEXT NOT NULL DEFAULT '',
    type         TEXT NOT NULL,
    author       TEXT NOT NULL,
    url          TEXT NOT NULL DEFAULT '',
    title        TEXT NOT NULL DEFAULT '',
    summary      TEXT NOT NULL DEFAULT '',
    content      TEXT NOT NULL DEFAULT '', -- sanitized HTML
    sensitive    INTEGER NOT NULL DEFAULT 0,
    attachments  TEXT NOT NULL DEFAULT '[]', -- JSON: [{"url","media_type","alt"}]
    in_reply_to  TEXT NOT NULL DEFAULT '',
    thread_root  TEXT NOT NULL DEFAULT '',
    visibility   TEXT NOT NULL,
    published    INTEGER NOT NULL DEFAULT 0,
    updated      INTEGER NOT NULL DEFAULT 0,
    received_at  INTEGER NOT NULL,
    decision     TEXT NOT NULL CHECK (decision IN ('announce', 'refuse')),
    reason       TEXT NOT NULL,
    activity     BLOB NOT NULL DEFAULT '', -- the Create as received
    deleted_at   INTEGER,
    likes        INTEGER NOT NULL DEFAULT 0,
    dislikes     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (community_id, object_id)
);
CREATE INDEX posts_by_object ON posts (object_id);
CREATE INDEX posts_by_author ON posts (author, community_id, received_at);
CREATE INDEX posts_by_thread ON posts (community_id, thread_root);

-- Who liked or disliked which post, so a repeated Like counts once.
CREATE TABLE reactions (
    post_id INTEGER NOT NULL REFERENCES posts(id),
    actor   TEXT NOT NULL,
    kind    TEXT NOT NULL CHECK (kind IN ('Like', 'Dislike')),
    PRIMARY KEY (post_id, actor, kind)
) WITHOUT ROWID;

-- The Announces a community sent for a post, one per dialect, kept so an
-- Undo can embed the whole earlier Announce.
CREATE TABLE announces (
    post_id         INTEGER NOT NULL REFERENCES posts(id),
    dialect         TEXT NOT NULL CHECK (dialect IN ('microblog', 'threadiverse')),
    out_activity_id INTEGER NOT NULL REFERENCES out_activities(id),
    withdrawn_at    INTEGER,
    PRIMARY KEY (post_id, dialect, out_activity_id)
) WITHOUT ROWID;
CREATE INDEX out_activities_by_community ON out_activities (community_id, type, id);
