ALTER TABLE users DROP COLUMN phone;
ALTER TABLE progress_snapshots DROP COLUMN unconfirmed;
ALTER TABLE progress_snapshots DROP COLUMN forced_reason;
ALTER TABLE progress_snapshots DROP COLUMN round_id;
DROP TABLE round_submissions;
DROP TABLE round_participants;
DROP TABLE rounds;
