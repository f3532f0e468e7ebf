-- Sessions: one per password login, owning the family of its refresh tokens. Access tokens name
-- their session (claim `sid`), so revoking it ends them at once; `expires_at` is the absolute
-- end (SHUANGBAI_SESSION_MAX_DAYS after the login), however often the refresh token rotates.
CREATE TABLE sessions (
    -- The refresh-token family.
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    started_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
-- The families issued so far, each a session: revoked when any of its tokens was.
INSERT INTO sessions (id, user_id, started_at, expires_at, revoked_at)
SELECT family, MIN(user_id), MIN(issued_at), MAX(expires_at), MAX(revoked_at)
FROM refresh_tokens
GROUP BY family;

-- Failed logins by a hash of the name (64 characters whatever was sent) and the client address,
-- kept 15 minutes (older rows are deleted as new failures come).
DROP TABLE login_failures;
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY,
    -- SHA-256 (hex) of the lower-cased username.
    username_hash TEXT NOT NULL,
    -- The client's IP address, '' when unknown.
    address TEXT NOT NULL,
    failed_at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_username_idx ON login_failures (username_hash, failed_at);
CREATE INDEX login_failures_failed_idx ON login_failures (failed_at);
