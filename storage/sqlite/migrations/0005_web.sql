-- The web pages and the admin console.

-- What the admin writes about a community beyond its summary, and its images
-- (media ids, "" for none).
ALTER TABLE communities ADD COLUMN rules  TEXT NOT NULL DEFAULT '';
ALTER TABLE communities ADD COLUMN avatar TEXT NOT NULL DEFAULT '';
ALTER TABLE communities ADD COLUMN cover  TEXT NOT NULL DEFAULT '';

-- Accounts of the instance's administrators.
CREATE TABLE admins (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL, -- bcrypt
    created_at    INTEGER NOT NULL
);

-- Logged-in browsers. Only the SHA-256 of the cookie's token is kept, so a
-- copy of the database does not log anyone in.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    admin_id   INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- One-time links that create the first admin account (hashed like sessions).
CREATE TABLE setup_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Images the admin uploaded, re-encoded (no metadata), served at /media/{id}.
CREATE TABLE media (
    id           TEXT PRIMARY KEY, -- hash of the body, with its extension
    content_type TEXT NOT NULL,
    body         BLOB NOT NULL,
    created_at   INTEGER NOT NULL
);

-- Instance settings set from the admin console (name, description...).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
