-- Webhooks: subscriptions to the change feed, pushed as Standard Webhooks 1.0. Every audited
-- change a subscription receives is written to its outbox (webhook_messages) in the change's
-- own transaction; a deliverer sends it, at least once, and records each attempt.
CREATE TABLE webhooks (
    id SERIAL PRIMARY KEY,
    url TEXT NOT NULL,
    description TEXT,
    -- The change types it receives, as a JSON array; NULL for every type.
    event_types TEXT,
    -- Optional filters, within what its owner may see.
    city_id INTEGER REFERENCES cities (id) ON DELETE CASCADE,
    county_id INTEGER REFERENCES counties (id) ON DELETE CASCADE,
    -- Its owner: a user (an administrator, of the deployment or of a city) or an integration
    -- client. The owner's rights, as they are when a change is made, decide what it receives.
    owner_user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    owner_client_id INTEGER REFERENCES clients (id) ON DELETE CASCADE,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    -- Why the deliverer disabled it (an endpoint failing for days).
    disabled_reason TEXT,
    -- The signing secret, sealed (see the README: secrets at rest), and the one it replaced,
    -- which keeps signing beside it until previous_secret_until.
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_until TIMESTAMP,
    -- Since when every attempt has failed (NULL after a success).
    failing_since TIMESTAMP,
    -- A deliverer's lease: the one instance sending this subscription's messages until then.
    lease_until TIMESTAMP,
    leased_by TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    CHECK ((owner_user_id IS NULL) <> (owner_client_id IS NULL))
);
CREATE INDEX webhooks_owner_user_idx ON webhooks (owner_user_id);
CREATE INDEX webhooks_owner_client_idx ON webhooks (owner_client_id);

CREATE TABLE webhook_messages (
    id SERIAL PRIMARY KEY,
    webhook_id INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    -- Sent as `webhook-id`: the same on every attempt.
    msg_id TEXT NOT NULL UNIQUE,
    -- The change it tells of; NULL for a `webhook.test` message, which carries its payload. No
    -- foreign key: the event is written in the same transaction, and the audit trail is never
    -- deleted from; a per-row check cost a 1,000-site batch with three subscriptions about 30 ms
    -- (bench/batch.sh).
    event_id INTEGER,
    event_type TEXT NOT NULL,
    payload TEXT,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP,
    -- As the feed's: messages are sent in (txid, id) order, only once every transaction that
    -- could add one before them has finished.
    txid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)
);
CREATE INDEX webhook_messages_pending_idx ON webhook_messages (webhook_id, txid, id)
    WHERE state = 'pending';
CREATE INDEX webhook_messages_webhook_idx ON webhook_messages (webhook_id, id);
-- What pruning looks for: messages that ended long ago.
CREATE INDEX webhook_messages_ended_idx ON webhook_messages (ended_at) WHERE state <> 'pending';

CREATE TABLE webhook_deliveries (
    id SERIAL PRIMARY KEY,
    webhook_id INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    -- The receiver's status; NULL when none came (refused, timed out, not allowed).
    status_code INTEGER,
    duration_ms INTEGER NOT NULL,
    error TEXT,
    -- When the message is tried again after this attempt; NULL when it ended here.
    next_attempt_at TIMESTAMP
);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_message_idx ON webhook_deliveries (message_id);
