-- Provinces and cities above the counties (province → city → county), and city administrators.
CREATE TABLE provinces (
    id SERIAL PRIMARY KEY,
    division_code VARCHAR(6) NOT NULL CONSTRAINT provinces_division_code_key UNIQUE,
    name TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE cities (
    id SERIAL PRIMARY KEY,
    province_id INTEGER NOT NULL REFERENCES provinces (id) ON DELETE RESTRICT,
    division_code VARCHAR(6) NOT NULL CONSTRAINT cities_division_code_key UNIQUE,
    name TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    -- A city without counties (东莞, 中山) has one city_direct row instead; fixed when made.
    has_counties BOOLEAN NOT NULL DEFAULT TRUE,
    -- The target of counties' (city_id, province_id, city_has_counties): a county's province
    -- is its city's, and only a city without counties has a city_direct row.
    CONSTRAINT cities_id_province_key UNIQUE (id, province_id, has_counties)
);
CREATE INDEX cities_province_idx ON cities (province_id, id);

-- An existing database becomes one province and one city per code prefix of its counties,
-- named by their codes until an administrator renames them.
INSERT INTO provinces (division_code, name, created_at, updated_at)
SELECT DISTINCT substr(division_code, 1, 2) || '0000', substr(division_code, 1, 2) || '0000',
       now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
FROM counties;
INSERT INTO cities (province_id, division_code, name, created_at, updated_at)
SELECT DISTINCT p.id, substr(c.division_code, 1, 4) || '00', substr(c.division_code, 1, 4) || '00',
       now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
FROM counties c JOIN provinces p ON p.division_code = substr(c.division_code, 1, 2) || '0000';

ALTER TABLE counties ADD COLUMN province_id INTEGER REFERENCES provinces (id) ON DELETE RESTRICT;
ALTER TABLE counties ADD COLUMN city_id INTEGER;
ALTER TABLE counties ADD COLUMN city_has_counties BOOLEAN;
UPDATE counties SET
    city_has_counties = TRUE,
    province_id = (SELECT p.id FROM provinces p
                   WHERE p.division_code = substr(counties.division_code, 1, 2) || '0000'),
    city_id = (SELECT c.id FROM cities c
               WHERE c.division_code = substr(counties.division_code, 1, 4) || '00');
ALTER TABLE counties DROP CONSTRAINT counties_kind_check;
ALTER TABLE counties ADD CONSTRAINT counties_kind_check CHECK (kind IN
    ('district', 'county', 'county_city', 'city_level', 'city_direct', 'province_level'));
ALTER TABLE counties ALTER COLUMN province_id SET NOT NULL;
ALTER TABLE counties ADD CONSTRAINT counties_city_fkey
    FOREIGN KEY (city_id, province_id, city_has_counties)
    REFERENCES cities (id, province_id, has_counties) ON DELETE RESTRICT;
-- Only the province level stands outside a city; in a city without counties every row is its
-- one city_direct row (one, by the index below), and in a city with counties none is.
ALTER TABLE counties ADD CONSTRAINT counties_city_check
    CHECK ((kind = 'province_level') = (city_id IS NULL)
           AND (city_id IS NULL) = (city_has_counties IS NULL)
           AND (kind = 'province_level' OR (kind = 'city_direct') = (NOT city_has_counties)));
-- A city has one level row (市本级, or its one city_direct row); a province one 省本级.
DROP INDEX counties_one_city_level;
CREATE UNIQUE INDEX counties_one_city_level ON counties (city_id)
    WHERE kind IN ('city_level', 'city_direct');
CREATE UNIQUE INDEX counties_one_province_level ON counties (province_id)
    WHERE kind = 'province_level';
CREATE INDEX counties_city_idx ON counties (city_id, id);
CREATE INDEX counties_province_idx ON counties (province_id, id);

-- City administrators, each bound to one city.
ALTER TABLE users ADD COLUMN city_id INTEGER REFERENCES cities (id) ON DELETE RESTRICT;
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN
    ('admin', 'city_admin', 'county_officer', 'integration', 'viewer'));
ALTER TABLE users DROP CONSTRAINT users_check;
ALTER TABLE users ADD CONSTRAINT users_check CHECK (
    (role IN ('county_officer', 'integration')) = (county_id IS NOT NULL)
    AND (role = 'city_admin') = (city_id IS NOT NULL));

-- Each bulletin is a city's: an existing database's are its one city's.
ALTER TABLE progress_snapshots ADD COLUMN city_id INTEGER REFERENCES cities (id) ON DELETE RESTRICT;
UPDATE progress_snapshots SET city_id = (SELECT MIN(id) FROM cities)
WHERE (SELECT COUNT(*) FROM cities) = 1;
CREATE INDEX progress_snapshots_city_idx ON progress_snapshots (city_id, as_of);
