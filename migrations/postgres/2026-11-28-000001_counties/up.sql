-- Counties (县/市/区) and the city level (市本级), with their plan-status history.
CREATE TABLE counties (
    id SERIAL PRIMARY KEY,
    division_code VARCHAR(6) NOT NULL CONSTRAINT counties_division_code_key UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('district', 'county', 'county_city', 'city_level')),
    coordination_established_on DATE,
    management_established_on DATE,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- There is one city level.
CREATE UNIQUE INDEX counties_one_city_level ON counties (kind) WHERE kind = 'city_level';
CREATE INDEX counties_name_idx ON counties (name);

CREATE TABLE plan_status_changes (
    id SERIAL PRIMARY KEY,
    county_id INTEGER NOT NULL REFERENCES counties (id) ON DELETE CASCADE,
    stage TEXT NOT NULL CHECK (stage IN ('not_started', 'drafting', 'approved', 'issued')),
    effective_on DATE NOT NULL,
    note TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX plan_status_changes_county_idx ON plan_status_changes (county_id, effective_on, id);
