-- Back to one city: city administrators and the province levels go, and with them the levels.
DROP INDEX progress_snapshots_city_idx;
ALTER TABLE progress_snapshots DROP COLUMN city_id;
DELETE FROM users WHERE role = 'city_admin';
ALTER TABLE users DROP CONSTRAINT users_check;
ALTER TABLE users ADD CONSTRAINT users_check CHECK ((role IN ('county_officer', 'integration')) = (county_id IS NOT NULL));
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'county_officer', 'integration', 'viewer'));
ALTER TABLE users DROP COLUMN city_id;

DELETE FROM counties WHERE kind = 'province_level';
UPDATE counties SET kind = 'city_level' WHERE kind = 'city_direct';
DROP INDEX counties_province_idx;
DROP INDEX counties_city_idx;
DROP INDEX counties_one_province_level;
DROP INDEX counties_one_city_level;
ALTER TABLE counties DROP CONSTRAINT counties_city_check;
ALTER TABLE counties DROP CONSTRAINT counties_city_fkey;
ALTER TABLE counties DROP COLUMN city_has_counties;
ALTER TABLE counties DROP COLUMN city_id;
ALTER TABLE counties DROP COLUMN province_id;
ALTER TABLE counties DROP CONSTRAINT counties_kind_check;
ALTER TABLE counties ADD CONSTRAINT counties_kind_check CHECK (kind IN ('district', 'county', 'county_city', 'city_level'));
CREATE UNIQUE INDEX counties_one_city_level ON counties (kind) WHERE kind = 'city_level';
DROP TABLE cities;
DROP TABLE provinces;
