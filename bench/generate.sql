-- National-scale data for the benchmark, made inside PostgreSQL: 31 provinces, 333 cities (each
-- with its city level, each province with its own), 3,000 counties, 39,000 towns,
-- 640,000 sites (39,000 stations, 601,000 points), equipment checks, 200,000 staff with postings,
-- plan changes, funding requests and trainings. Dates are spread over 2021.
-- Run against a database migrated by `shuangbai migrate`. The scale is psql variables, national by
-- default: `psql -v provinces=1 -v cities=21 -v counties=122 -v points=20000 -v staff=8100 …` makes
-- a province (21,586 sites).
\if :{?provinces}
\else
  \set provinces 31
\endif
\if :{?cities}
\else
  \set cities 333
\endif
\if :{?counties}
\else
  \set counties 3000
\endif
\if :{?points}
\else
  \set points 601000
\endif
\if :{?staff}
\else
  \set staff 200000
\endif
BEGIN;
-- The 31 mainland provinces' GB/T 2260 prefixes (Guangdong, 44, first: a one-province set is it).
INSERT INTO provinces (division_code, name, version, created_at, updated_at)
SELECT p || '0000', '基准省' || p, 1, now(), now()
FROM unnest(ARRAY[44, 11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 45, 46, 50,
                  51, 52, 53, 54, 61, 62, 63, 64, 65]) WITH ORDINALITY AS u(p, n)
WHERE n <= :provinces;
INSERT INTO counties (division_code, name, kind, province_id, version, created_at, updated_at)
SELECT division_code, '省本级', 'province_level', id, 1, now(), now() FROM provinces;
-- Cities dealt round the provinces: city k is the ((k - 1) / provinces + 1)th of its province.
INSERT INTO cities (province_id, division_code, name, has_counties, version, created_at, updated_at)
SELECT p.id, (substr(p.division_code, 1, 2)::int * 10000 + ((k - 1) / :provinces + 1) * 100)::text,
       '基准市' || k, TRUE, 1, now(), now()
FROM generate_series(1, :cities) k
JOIN (SELECT id, division_code, row_number() OVER (ORDER BY id) AS n FROM provinces) p
  ON p.n = (k - 1) % :provinces + 1;
INSERT INTO counties (division_code, name, kind, province_id, city_id, city_has_counties, version, created_at, updated_at)
SELECT division_code, '市本级', 'city_level', province_id, id, TRUE, 1, now(), now() FROM cities;
-- Counties dealt round the cities likewise.
INSERT INTO counties (division_code, name, kind, province_id, city_id, city_has_counties,
                      coordination_established_on, management_established_on, version, created_at, updated_at)
SELECT (c.division_code::int + (n - 1) / :cities + 1)::text, '基准县' || n,
       (ARRAY['district', 'county', 'county_city'])[n % 3 + 1], c.province_id, c.id, TRUE,
       DATE '2021-01-01' + (n % 200), CASE WHEN n % 2 = 0 THEN DATE '2021-02-01' + (n % 150) END,
       1, now(), now()
FROM generate_series(1, :counties) n
JOIN (SELECT id, province_id, division_code, row_number() OVER (ORDER BY id) AS k FROM cities) c
  ON c.k = (n - 1) % :cities + 1;

INSERT INTO plan_status_changes (county_id, stage, effective_on, note, created_at)
SELECT id, 'drafting', DATE '2021-01-05', NULL, now() FROM counties;
INSERT INTO plan_status_changes (county_id, stage, effective_on, note, created_at)
SELECT id, CASE WHEN id % 3 = 0 THEN 'approved' ELSE 'issued' END, DATE '2021-02-01' + (id % 180),
       CASE WHEN id % 3 = 0 THEN '县政府已同意，正在会签' END, now()
FROM counties;

INSERT INTO towns (county_id, name, code, kind, version, created_at, updated_at)
SELECT c.id, '基准镇' || t, c.division_code || lpad(t::text, 3, '0'), 'town', 1, now(), now()
FROM counties c, generate_series(101, 113) t
WHERE c.kind NOT IN ('city_level', 'province_level');

-- One station per town.
INSERT INTO sites (county_id, town_id, kind, station_id, village, name, address, latitude, longitude, ref, status,
                   planned_on, premises_secured_on, completed_on, suspended_on, closed_on,
                   equipment_checked_on, equipment_item_count, version, created_at, updated_at)
SELECT t.county_id, t.id, 'station', NULL, NULL, t.name || '社工站', NULL, NULL, NULL, 'ST-' || t.id,
       CASE WHEN t.id % 10 < 5 THEN 'completed' ELSE 'planned' END,
       DATE '2021-01-15', CASE WHEN t.id % 10 < 8 THEN DATE '2021-02-01' + (t.id % 120) END,
       CASE WHEN t.id % 10 < 5 THEN DATE '2021-06-01' + (t.id % 120) END, NULL, NULL,
       NULL, NULL, 1, now(), now()
FROM towns t;

-- 601,000 points, spread over the towns, each under its town's station.
INSERT INTO sites (county_id, town_id, kind, station_id, village, name, address, latitude, longitude, ref, status,
                   planned_on, premises_secured_on, completed_on, suspended_on, closed_on,
                   equipment_checked_on, equipment_item_count, version, created_at, updated_at)
SELECT s.county_id, s.town_id, 'point', s.id, '村' || p, '村' || p || '社工点', NULL, NULL, NULL, 'PT-' || p,
       CASE WHEN p % 10 < 4 THEN 'completed' ELSE 'planned' END,
       DATE '2021-01-15' + (p % 60), CASE WHEN p % 10 < 7 THEN DATE '2021-03-20' + (p % 150) END,
       CASE WHEN p % 10 < 4 THEN DATE '2021-08-01' + (p % 120) END, NULL,
       CASE WHEN p % 97 = 0 THEN DATE '2021-11-30' END,
       NULL, NULL, 1, now(), now()
FROM generate_series(1, :points) p
JOIN sites s ON s.kind = 'station' AND s.town_id = (SELECT min(id) FROM towns) + (p % (:counties * 13));

-- Equipment checks: one or two per site with premises.
INSERT INTO equipment_checks (site_id, checked_on, items, item_count, created_at)
SELECT id, premises_secured_on + 10, 'desks_chairs,air_conditioner,computer,printer,telephone,file_cabinet', 6, now()
FROM sites WHERE premises_secured_on IS NOT NULL AND id % 5 <> 0;
INSERT INTO equipment_checks (site_id, checked_on, items, item_count, created_at)
SELECT id, premises_secured_on + 40, 'desks_chairs,air_conditioner,computer,printer,telephone,file_cabinet,stationery,fire_safety', 8, now()
FROM sites WHERE premises_secured_on IS NOT NULL AND id % 3 = 0;
UPDATE sites s SET equipment_checked_on = c.checked_on, equipment_item_count = c.item_count, equipment_items = c.items
FROM equipment_checks c
WHERE c.site_id = s.id AND c.checked_on = (SELECT max(checked_on) FROM equipment_checks x WHERE x.site_id = s.id);

-- 200,000 social workers, each posted once at a site of their county.
INSERT INTO staff (county_id, name, gender, phone, id_number, education, certification, hired_via, ref, version, created_at, updated_at)
SELECT (n % :counties) + (SELECT min(id) FROM counties WHERE kind IN ('district', 'county', 'county_city')), '社工' || n, CASE WHEN n % 3 = 0 THEN 'male' ELSE 'female' END,
       NULL, NULL, NULL, CASE WHEN n % 4 = 0 THEN 'social_worker' ELSE 'none' END, 'public_exam', 'SW-' || n, 1, now(), now()
FROM generate_series(1, :staff) n;
INSERT INTO postings (staff_id, station_id, county_id, site_kind, role, from_on, to_on, created_at)
SELECT st.id, si.id, si.county_id, si.kind, 'social_worker', DATE '2021-03-01' + (st.id % 200),
       CASE WHEN st.id % 17 = 0 THEN DATE '2021-10-01' END, now()
FROM staff st
JOIN LATERAL (SELECT id, county_id, kind FROM sites WHERE county_id = st.county_id AND closed_on IS NULL
              ORDER BY id OFFSET (st.id % 200) LIMIT 1) si ON true;

INSERT INTO funding_requests (county_id, fiscal_year, title, purpose, requested_fen, approved_fen, status, ref, version, created_at, updated_at)
SELECT id, 2021, '2021年社工站运营经费', NULL, 100000000 + id, NULL, 'submitted', 'FR-2021', 1, now(), now() FROM counties;
INSERT INTO funding_transitions (request_id, action, from_status, to_status, effective_on, note, requested_fen, approved_fen, actor, created_at)
SELECT id, 'create', NULL, 'estimating', DATE '2021-03-01', '正在测算费用', requested_fen, NULL, 'bench', now() FROM funding_requests;
INSERT INTO funding_transitions (request_id, action, from_status, to_status, effective_on, note, requested_fen, approved_fen, actor, created_at)
SELECT id, 'submit', 'estimating', 'submitted', DATE '2021-05-01' + (id % 60), NULL, requested_fen, NULL, 'bench', now() FROM funding_requests;

INSERT INTO trainings (county_id, kind, title, held_on, attendees, ref, version, created_at, updated_at)
SELECT c.id, CASE WHEN k % 2 = 0 THEN 'pre_job' ELSE 'professional' END, '培训' || k, DATE '2021-02-01' + (k * 30 + c.id % 20), 30, 'TR-' || k, 1, now(), now()
FROM counties c, generate_series(1, 4) k;
COMMIT;
ANALYZE;
SELECT (SELECT count(*) FROM provinces) AS provinces, (SELECT count(*) FROM cities) AS cities,
       (SELECT count(*) FROM counties) AS counties, (SELECT count(*) FROM towns) AS towns,
       (SELECT count(*) FROM sites) AS sites, (SELECT count(*) FROM staff) AS staff,
       (SELECT count(*) FROM equipment_checks) AS checks;
