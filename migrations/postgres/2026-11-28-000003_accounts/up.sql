-- People and county scripts that use the API, and their refresh tokens.
CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    -- Stored lower-cased: usernames are unique regardless of case.
    username TEXT NOT NULL CONSTRAINT users_username_key UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'county_officer', 'integration', 'viewer')),
    county_id INTEGER REFERENCES counties (id) ON DELETE RESTRICT,
    password_hash TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    -- Bumped on deactivation and password change: access tokens carrying an older one stop at once.
    auth_version INTEGER NOT NULL DEFAULT 1,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((role IN ('county_officer', 'integration')) = (county_id IS NOT NULL))
);

CREATE TABLE clients (
    id SERIAL PRIMARY KEY,
    client_id TEXT NOT NULL CONSTRAINT clients_client_id_key UNIQUE,
    name TEXT NOT NULL,
    county_id INTEGER NOT NULL REFERENCES counties (id) ON DELETE RESTRICT,
    secret_hash TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    auth_version INTEGER NOT NULL DEFAULT 1,
    last_used_at TIMESTAMP,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE refresh_tokens (
    id SERIAL PRIMARY KEY,
    -- SHA-256 of the opaque token; the token itself is never stored.
    token_hash TEXT NOT NULL CONSTRAINT refresh_tokens_token_hash_key UNIQUE,
    family TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

-- Failed logins per username, kept in the database so the limit holds across instances.
CREATE TABLE login_failures (
    id SERIAL PRIMARY KEY,
    username TEXT NOT NULL,
    failed_at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_username_idx ON login_failures (username, failed_at);
