-- Moderation: roles, domain blocks, reports, pins, the moderation log.

-- Who runs a community: remote actors (IRIs) or local accounts ("local:NAME").
CREATE TABLE moderators (
    community_id INTEGER NOT NULL REFERENCES communities(id),
    actor        TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'moderator')),
    added_by     TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (community_id, actor)
) WITHOUT ROWID;

-- Blocked servers: community_id 0 blocks on the whole instance.
CREATE TABLE domain_blocks (
    community_id INTEGER NOT NULL,
    domain       TEXT NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    blocked_by   TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (community_id, domain)
) WITHOUT ROWID;

-- Reports (incoming Flags), one per community and Flag.
CREATE TABLE reports (
    id           INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES communities(id),
    reporter     TEXT NOT NULL,
    activity_id  TEXT NOT NULL,
    targets      TEXT NOT NULL DEFAULT '[]', -- JSON list of IRIs
    content      TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    resolved_at  INTEGER,
    resolved_by  TEXT NOT NULL DEFAULT '',
    UNIQUE (community_id, activity_id)
);
CREATE INDEX reports_open ON reports (community_id, id) WHERE resolved_at IS NULL;

-- Every moderation action; community_id 0 for instance-wide ones.
CREATE TABLE mod_log (
    id           INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT NOT NULL DEFAULT '',
    reason       TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL
);
CREATE INDEX mod_log_by_community ON mod_log (community_id, id);

-- Featured (pinned) posts.
CREATE TABLE pins (
    community_id INTEGER NOT NULL REFERENCES communities(id),
    post_id      INTEGER NOT NULL REFERENCES posts(id),
    pinned_at    INTEGER NOT NULL,
    PRIMARY KEY (community_id, post_id)
) WITHOUT ROWID;

-- When a non-moderator was last told they may not give commands.
CREATE TABLE mod_refusals (
    community_id INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    refused_at   INTEGER NOT NULL,
    PRIMARY KEY (community_id, actor)
) WITHOUT ROWID;

-- Communities whose moderation log is shown on their web page.
CREATE TABLE public_mod_logs (
    community_id INTEGER PRIMARY KEY REFERENCES communities(id)
);
