DROP INDEX progress_snapshots_province_idx;
ALTER TABLE progress_snapshots DROP CONSTRAINT progress_snapshots_place_check;
ALTER TABLE progress_snapshots DROP COLUMN province_id;
ALTER TABLE progress_snapshots DROP COLUMN level;
