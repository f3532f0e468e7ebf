-- The audit trail: every write through the API, with the values before and after (personal
-- fields masked), written in the same transaction as the change.
CREATE TABLE audit_events (
    id SERIAL PRIMARY KEY,
    occurred_at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id INTEGER NOT NULL,
    county_id INTEGER,
    request_id TEXT NOT NULL,
    reason TEXT,
    before TEXT,
    after TEXT
);
CREATE INDEX audit_events_entity_idx ON audit_events (entity, entity_id);
CREATE INDEX audit_events_county_idx ON audit_events (county_id, occurred_at);
CREATE INDEX audit_events_actor_idx ON audit_events (actor, occurred_at);
CREATE INDEX audit_events_occurred_idx ON audit_events (occurred_at);

-- Idempotency keys of POST requests, scoped to the caller, method and path. A row is claimed
-- (status NULL) before the handler runs and completed with the response; keys expire after 24 h.
CREATE TABLE idempotency_keys (
    id SERIAL PRIMARY KEY,
    actor TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER,
    response_headers TEXT,
    response_body TEXT,
    created_at TIMESTAMP NOT NULL,
    CONSTRAINT idempotency_keys_scope_key UNIQUE (actor, method, path, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
