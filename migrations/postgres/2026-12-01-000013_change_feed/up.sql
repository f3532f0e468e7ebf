-- The change feed reads the audit trail in commit order. Each event records the id of the
-- transaction that wrote it: the feed serves only events of transactions older than the oldest
-- one still running (pg_snapshot_xmin), ordered by (txid, id), so an event that commits late
-- is never skipped by a reader that went past it. Events of the rows already here share the
-- migration's transaction id.
ALTER TABLE audit_events ADD COLUMN txid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
-- What the feed shows of each event without parsing its values: the record's version after the
-- change (before it, for a delete), and the city and province of its county.
ALTER TABLE audit_events ADD COLUMN entity_version INTEGER;
ALTER TABLE audit_events ADD COLUMN city_id INTEGER;
ALTER TABLE audit_events ADD COLUMN province_id INTEGER;
UPDATE audit_events SET entity_version = CAST(COALESCE(after, before)::json ->> 'version' AS INTEGER)
WHERE COALESCE(after, before) IS NOT NULL AND COALESCE(after, before)::json ->> 'version' ~ '^[0-9]+$';
UPDATE audit_events SET
    city_id = (SELECT c.city_id FROM counties c WHERE c.id = audit_events.county_id),
    province_id = (SELECT c.province_id FROM counties c WHERE c.id = audit_events.county_id);
CREATE INDEX audit_events_feed_idx ON audit_events (txid, id);
