-- Provinces and cities above the counties (province → city → county), and city administrators.
-- SQLite changes a CHECK only by rebuilding the table, which needs foreign keys off, and that
-- only outside a transaction: this migration opens its own (metadata.toml).
PRAGMA foreign_keys = OFF;
-- Renaming a table must not rewrite the other tables' references to it.
PRAGMA legacy_alter_table = ON;
BEGIN;

CREATE TABLE provinces (
    id INTEGER PRIMARY KEY,
    division_code TEXT NOT NULL CONSTRAINT provinces_division_code_key UNIQUE,
    name TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE cities (
    id INTEGER PRIMARY KEY,
    province_id INTEGER NOT NULL REFERENCES provinces (id) ON DELETE RESTRICT,
    division_code TEXT NOT NULL CONSTRAINT cities_division_code_key UNIQUE,
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
       strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now')
FROM counties;
INSERT INTO cities (province_id, division_code, name, created_at, updated_at)
SELECT DISTINCT p.id, substr(c.division_code, 1, 4) || '00', substr(c.division_code, 1, 4) || '00',
       strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now')
FROM counties c JOIN provinces p ON p.division_code = substr(c.division_code, 1, 2) || '0000';

ALTER TABLE counties RENAME TO counties_before;
CREATE TABLE counties (
    id INTEGER PRIMARY KEY,
    division_code TEXT NOT NULL CONSTRAINT counties_division_code_key UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN
        ('district', 'county', 'county_city', 'city_level', 'city_direct', 'province_level')),
    coordination_established_on DATE,
    management_established_on DATE,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    province_id INTEGER NOT NULL REFERENCES provinces (id) ON DELETE RESTRICT,
    city_id INTEGER,
    city_has_counties BOOLEAN,
    CONSTRAINT counties_city_fkey
        FOREIGN KEY (city_id, province_id, city_has_counties)
        REFERENCES cities (id, province_id, has_counties) ON DELETE RESTRICT,
    -- Only the province level stands outside a city; in a city without counties every row is
    -- its one city_direct row (one, by the index below), and in a city with counties none is.
    CONSTRAINT counties_city_check
        CHECK ((kind = 'province_level') = (city_id IS NULL)
               AND (city_id IS NULL) = (city_has_counties IS NULL)
               AND (kind = 'province_level' OR (kind = 'city_direct') = (NOT city_has_counties)))
);
INSERT INTO counties (id, division_code, name, kind, coordination_established_on,
    management_established_on, version, created_at, updated_at, province_id, city_id,
    city_has_counties)
SELECT id, division_code, name, kind, coordination_established_on, management_established_on,
       version, created_at, updated_at,
       (SELECT p.id FROM provinces p WHERE p.division_code = substr(b.division_code, 1, 2) || '0000'),
       (SELECT c.id FROM cities c WHERE c.division_code = substr(b.division_code, 1, 4) || '00'),
       TRUE
FROM counties_before b;
DROP TABLE counties_before;
CREATE INDEX counties_name_idx ON counties (name);
-- A city has one level row (市本级, or its one city_direct row); a province one 省本级.
CREATE UNIQUE INDEX counties_one_city_level ON counties (city_id)
    WHERE kind IN ('city_level', 'city_direct');
CREATE UNIQUE INDEX counties_one_province_level ON counties (province_id)
    WHERE kind = 'province_level';
CREATE INDEX counties_city_idx ON counties (city_id, id);
CREATE INDEX counties_province_idx ON counties (province_id, id);

-- City administrators, each bound to one city.
ALTER TABLE users RENAME TO users_before;
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    -- Stored lower-cased: usernames are unique regardless of case.
    username TEXT NOT NULL CONSTRAINT users_username_key UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'city_admin', 'county_officer', 'integration', 'viewer')),
    county_id INTEGER REFERENCES counties (id) ON DELETE RESTRICT,
    password_hash TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    -- Bumped on deactivation and password change: access tokens carrying an older one stop at once.
    auth_version INTEGER NOT NULL DEFAULT 1,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    city_id INTEGER REFERENCES cities (id) ON DELETE RESTRICT,
    CHECK ((role IN ('county_officer', 'integration')) = (county_id IS NOT NULL)
        AND (role = 'city_admin') = (city_id IS NOT NULL))
);
INSERT INTO users (id, username, display_name, role, county_id, password_hash, active,
    auth_version, version, created_at, updated_at, city_id)
SELECT id, username, display_name, role, county_id, password_hash, active,
       auth_version, version, created_at, updated_at, NULL
FROM users_before;
DROP TABLE users_before;

-- Each bulletin is a city's: an existing database's are its one city's.
ALTER TABLE progress_snapshots ADD COLUMN city_id INTEGER REFERENCES cities (id) ON DELETE RESTRICT;
UPDATE progress_snapshots SET city_id = (SELECT MIN(id) FROM cities)
WHERE (SELECT COUNT(*) FROM cities) = 1;
CREATE INDEX progress_snapshots_city_idx ON progress_snapshots (city_id, as_of);

COMMIT;
PRAGMA legacy_alter_table = OFF;
PRAGMA foreign_keys = ON;
