-- Social-work stations (社工站, one per town) and points (社工点, at villages), with dated equipment checks.
CREATE TABLE sites (
    id SERIAL PRIMARY KEY,
    -- Kept equal to the town's county by the service: county-scoped lists and rights need no join.
    county_id INTEGER NOT NULL REFERENCES counties (id) ON DELETE RESTRICT,
    town_id INTEGER NOT NULL REFERENCES towns (id) ON DELETE RESTRICT,
    kind TEXT NOT NULL CHECK (kind IN ('station', 'point')),
    station_id INTEGER REFERENCES sites (id) ON DELETE RESTRICT,
    village TEXT,
    name TEXT NOT NULL,
    address TEXT,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    ref TEXT NOT NULL,
    -- Derived from the dates when written; dates are never in the future, so it stays true.
    status TEXT NOT NULL CHECK (status IN ('planned', 'completed', 'suspended', 'closed')),
    planned_on DATE NOT NULL,
    premises_secured_on DATE,
    completed_on DATE,
    suspended_on DATE,
    closed_on DATE,
    -- The latest equipment check, kept with each check for filtering lists by today's level.
    equipment_checked_on DATE,
    equipment_item_count INTEGER,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT sites_county_id_ref_key UNIQUE (county_id, ref),
    CHECK ((kind = 'point') = (station_id IS NOT NULL))
);
-- One station per town that is not closed.
CREATE UNIQUE INDEX sites_one_open_station_per_town ON sites (town_id) WHERE kind = 'station' AND closed_on IS NULL;
CREATE INDEX sites_county_kind_idx ON sites (county_id, kind, planned_on);
CREATE INDEX sites_town_idx ON sites (town_id);
CREATE INDEX sites_station_idx ON sites (station_id);
CREATE INDEX sites_status_idx ON sites (status, county_id);
CREATE INDEX sites_name_idx ON sites (name);

CREATE TABLE equipment_checks (
    id SERIAL PRIMARY KEY,
    site_id INTEGER NOT NULL REFERENCES sites (id) ON DELETE RESTRICT,
    checked_on DATE NOT NULL,
    -- The items present, comma-separated in a fixed order; their count, for SQL.
    items TEXT NOT NULL,
    item_count INTEGER NOT NULL CHECK (item_count BETWEEN 0 AND 8),
    created_at TIMESTAMP NOT NULL,
    CONSTRAINT equipment_checks_site_id_checked_on_key UNIQUE (site_id, checked_on)
);
