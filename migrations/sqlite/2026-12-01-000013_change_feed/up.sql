-- The change feed reads the audit trail in commit order. SQLite runs one writer at a time, so
-- ids already follow commit order: the transaction id is 0 for every event.
ALTER TABLE audit_events ADD COLUMN txid INTEGER NOT NULL DEFAULT 0;
-- What the feed shows of each event without parsing its values: the record's version after the
-- change (before it, for a delete), and the city and province of its county.
ALTER TABLE audit_events ADD COLUMN entity_version INTEGER;
ALTER TABLE audit_events ADD COLUMN city_id INTEGER;
ALTER TABLE audit_events ADD COLUMN province_id INTEGER;
UPDATE audit_events SET entity_version = CAST(json_extract(COALESCE(after, before), '$.version') AS INTEGER)
WHERE COALESCE(after, before) IS NOT NULL AND json_valid(COALESCE(after, before));
UPDATE audit_events SET
    city_id = (SELECT c.city_id FROM counties c WHERE c.id = audit_events.county_id),
    province_id = (SELECT c.province_id FROM counties c WHERE c.id = audit_events.county_id);
CREATE INDEX audit_events_feed_idx ON audit_events (txid, id);
