-- A bulletin is a city's, a province's or the nation's table; a province's names its province.
ALTER TABLE progress_snapshots ADD COLUMN level TEXT NOT NULL DEFAULT 'city'
    CONSTRAINT progress_snapshots_level_check CHECK (level IN ('city', 'province', 'nation'));
ALTER TABLE progress_snapshots ADD COLUMN province_id INTEGER REFERENCES provinces (id) ON DELETE RESTRICT;
ALTER TABLE progress_snapshots ADD CONSTRAINT progress_snapshots_place_check
    CHECK ((level = 'province') = (province_id IS NOT NULL) AND (level = 'city' OR city_id IS NULL));
CREATE INDEX progress_snapshots_province_idx ON progress_snapshots (province_id, as_of);
