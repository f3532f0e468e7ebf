-- Back to one city: city administrators and the province levels go, and the tables above.
PRAGMA foreign_keys = OFF;
-- Renaming a table must not rewrite the other tables' references to it.
PRAGMA legacy_alter_table = ON;
BEGIN;

DROP INDEX progress_snapshots_city_idx;
ALTER TABLE progress_snapshots DROP COLUMN city_id;

ALTER TABLE users RENAME TO users_before;
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    -- Stored lower-cased: usernames are unique regardless of case.
    username TEXT NOT NULL CONSTRAINT users_username_key UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'county_officer', 'integration', 'viewer')),
    county_id INTEGER REFERENCES counties (id) ON DELETE RESTRICT,
    password_hash TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    -- Bumped on deactivation and password change: access tokens carrying an older one stop at once.
    auth_version INTEGER NOT NULL DEFAULT 1,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((role IN ('county_officer', 'integration')) = (county_id IS NOT NULL))
);
INSERT INTO users (id, username, display_name, role, county_id, password_hash, active,
    auth_version, version, created_at, updated_at)
SELECT id, username, display_name, role, county_id, password_hash, active,
       auth_version, version, created_at, updated_at
FROM users_before WHERE role <> 'city_admin';
DROP TABLE users_before;

ALTER TABLE counties RENAME TO counties_before;
CREATE TABLE counties (
    id INTEGER PRIMARY KEY,
    division_code TEXT NOT NULL CONSTRAINT counties_division_code_key UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('district', 'county', 'county_city', 'city_level')),
    coordination_established_on DATE,
    management_established_on DATE,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO counties (id, division_code, name, kind, coordination_established_on,
    management_established_on, version, created_at, updated_at)
SELECT id, division_code, name,
       CASE kind WHEN 'city_direct' THEN 'city_level' ELSE kind END,
       coordination_established_on, management_established_on, version, created_at, updated_at
FROM counties_before WHERE kind <> 'province_level';
DROP TABLE counties_before;
-- There is one city level.
CREATE UNIQUE INDEX counties_one_city_level ON counties (kind) WHERE kind = 'city_level';
CREATE INDEX counties_name_idx ON counties (name);

DROP TABLE cities;
DROP TABLE provinces;

COMMIT;
PRAGMA legacy_alter_table = OFF;
PRAGMA foreign_keys = ON;
