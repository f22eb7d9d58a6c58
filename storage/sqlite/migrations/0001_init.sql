-- Communities and their members.
CREATE TABLE communities (
    id                INTEGER PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    title             TEXT NOT NULL,
    summary           TEXT NOT NULL DEFAULT '',
    requires_approval INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL, -- Unix milliseconds, like every time here
    updated_at        INTEGER NOT NULL,
    deleted_at        INTEGER
);

CREATE TABLE members (
    community_id INTEGER NOT NULL REFERENCES communities(id),
    actor        TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'member', 'banned')),
    follow_id    TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (community_id, actor)
) WITHOUT ROWID;
CREATE INDEX members_by_state ON members (community_id, state, actor);
CREATE INDEX members_by_actor ON members (actor);

-- Private keys of Agora's own actors ("actor" for the instance, "c/NAME" for
-- communities). Never replaced.
CREATE TABLE local_keys (
    owner       TEXT PRIMARY KEY,
    private_pem TEXT NOT NULL,
    public_pem  TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Remote public keys, by keyId.
CREATE TABLE remote_keys (
    key_id     TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    public_pem TEXT NOT NULL,
    fetched_at INTEGER NOT NULL
);

-- Remote actors Agora talks to.
CREATE TABLE remote_actors (
    iri                TEXT PRIMARY KEY,
    type               TEXT NOT NULL DEFAULT '',
    preferred_username TEXT NOT NULL DEFAULT '',
    name               TEXT NOT NULL DEFAULT '',
    url                TEXT NOT NULL DEFAULT '',
    icon               TEXT NOT NULL DEFAULT '',
    inbox              TEXT NOT NULL,
    shared_inbox       TEXT NOT NULL DEFAULT '',
    fetched_at         INTEGER NOT NULL
);

-- Verified incoming activities: recorded before the 202, processed after.
CREATE TABLE inbox (
    id           INTEGER PRIMARY KEY,
    activity_id  TEXT NOT NULL UNIQUE,
    type         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    body         BLOB NOT NULL,
    received_at  INTEGER NOT NULL,
    processed_at INTEGER,
    result       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX inbox_unprocessed ON inbox (id) WHERE processed_at IS NULL;

-- Activities Agora sends, stored once however many inboxes they go to.
CREATE TABLE out_activities (
    id           INTEGER PRIMARY KEY,
    iri          TEXT NOT NULL UNIQUE,
    type         TEXT NOT NULL,
    community_id INTEGER NOT NULL DEFAULT 0,
    signer       TEXT NOT NULL,
    body         BLOB NOT NULL,
    created_at   INTEGER NOT NULL
);

-- The delivery queue: one row per (activity, inbox) until it is delivered
-- or given up.
CREATE TABLE deliveries (
    id          INTEGER PRIMARY KEY,
    activity_id INTEGER NOT NULL REFERENCES out_activities(id),
    inbox       TEXT NOT NULL,
    host        TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,
    lease_until INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_at);

-- Remote hosts: failures and availability (Mastodon's 7-day rule).
CREATE TABLE hosts (
    host              TEXT PRIMARY KEY,
    failing_since     INTEGER,
    unavailable_since INTEGER
);

-- Counters for IRIs that carry a number ({base}/c/NAME/announce/{n}).
CREATE TABLE sequences (
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
);
INSERT INTO sequences (name, n) VALUES ('out_activity', 0);
