-- Lists filtered by county and ordered by id (their default) read one county's rows in order
-- and stop at the page's end, instead of scanning and sorting the whole county.
CREATE INDEX sites_county_id_idx ON sites (county_id, id);
CREATE INDEX staff_county_id_idx ON staff (county_id, id);
CREATE INDEX trainings_county_id_idx ON trainings (county_id, id);
CREATE INDEX funding_requests_county_id_idx ON funding_requests (county_id, id);
