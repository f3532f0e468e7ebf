DROP TABLE login_failures;
CREATE TABLE login_failures (
    id SERIAL PRIMARY KEY,
    username TEXT NOT NULL,
    failed_at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_username_idx ON login_failures (username, failed_at);

DROP TABLE sessions;
