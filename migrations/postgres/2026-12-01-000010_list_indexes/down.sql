DROP INDEX funding_requests_county_id_idx;
DROP INDEX trainings_county_id_idx;
DROP INDEX staff_county_id_idx;
DROP INDEX sites_county_id_idx;
