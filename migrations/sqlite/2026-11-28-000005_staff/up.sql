-- Social workers (社工) and their postings to sites over time.
CREATE TABLE staff (
    id INTEGER PRIMARY KEY,
    county_id INTEGER NOT NULL REFERENCES counties (id) ON DELETE RESTRICT,
    name TEXT NOT NULL,
    gender TEXT NOT NULL CHECK (gender IN ('female', 'male')),
    -- Personal data: shown unmasked only to admins and the employing county.
    phone TEXT,
    id_number TEXT,
    education TEXT,
    certification TEXT NOT NULL CHECK (certification IN ('none', 'assistant_social_worker', 'social_worker', 'senior_social_worker')),
    hired_via TEXT NOT NULL CHECK (hired_via IN ('public_exam', 'other')),
    ref TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT staff_county_id_ref_key UNIQUE (county_id, ref)
);
CREATE INDEX staff_county_idx ON staff (county_id, certification);
CREATE INDEX staff_name_idx ON staff (name);

-- A posting covers [from_on, to_on); to_on is null while in post. One person's never overlap.
CREATE TABLE postings (
    id INTEGER PRIMARY KEY,
    staff_id INTEGER NOT NULL REFERENCES staff (id) ON DELETE RESTRICT,
    station_id INTEGER NOT NULL REFERENCES sites (id) ON DELETE RESTRICT,
    -- Copied from the site (which never changes county or kind) so counts need no join.
    county_id INTEGER NOT NULL REFERENCES counties (id) ON DELETE RESTRICT,
    site_kind TEXT NOT NULL CHECK (site_kind IN ('station', 'point')),
    role TEXT NOT NULL CHECK (role IN ('station_lead', 'social_worker', 'assistant')),
    from_on DATE NOT NULL,
    to_on DATE,
    created_at TIMESTAMP NOT NULL,
    CHECK (to_on IS NULL OR to_on > from_on)
);
CREATE INDEX postings_count_idx ON postings (county_id, site_kind, from_on, to_on);
CREATE INDEX postings_staff_idx ON postings (staff_id, from_on);
CREATE INDEX postings_station_idx ON postings (station_id, from_on);
