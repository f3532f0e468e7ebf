DROP INDEX progress_snapshots_province_idx;
ALTER TABLE progress_snapshots DROP COLUMN province_id;
ALTER TABLE progress_snapshots DROP COLUMN level;
