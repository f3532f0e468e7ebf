DROP INDEX audit_events_feed_idx;
ALTER TABLE audit_events DROP COLUMN province_id;
ALTER TABLE audit_events DROP COLUMN city_id;
ALTER TABLE audit_events DROP COLUMN entity_version;
ALTER TABLE audit_events DROP COLUMN txid;
