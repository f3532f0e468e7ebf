-- A bulletin is a city's, a province's or the nation's table; a province's names its province.
-- (SQLite adds no table constraint to an existing table: the service sets both together.)
ALTER TABLE progress_snapshots ADD COLUMN level TEXT NOT NULL DEFAULT 'city'
    CHECK (level IN ('city', 'province', 'nation'));
ALTER TABLE progress_snapshots ADD COLUMN province_id INTEGER REFERENCES provinces (id) ON DELETE RESTRICT;
CREATE INDEX progress_snapshots_province_idx ON progress_snapshots (province_id, as_of);
