-- Towns, townships and streets (镇/乡/街道); a station serves one.
CREATE TABLE towns (
    id SERIAL PRIMARY KEY,
    county_id INTEGER NOT NULL REFERENCES counties (id) ON DELETE RESTRICT,
    name TEXT NOT NULL,
    code VARCHAR(9) NOT NULL CONSTRAINT towns_code_key UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('town', 'township', 'street')),
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    -- Town names repeat across counties (太平镇), never within one.
    CONSTRAINT towns_county_id_name_key UNIQUE (county_id, name)
);
CREATE INDEX towns_name_idx ON towns (name);
