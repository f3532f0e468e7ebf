-- Funding requests (落实经费情况) with every stage change kept, and training sessions (社工业务培训).
-- Money is integer fen (分); the ceiling 100000000000 fen is 10亿元.
CREATE TABLE funding_requests (
    id SERIAL PRIMARY KEY,
    county_id INTEGER NOT NULL REFERENCES counties (id) ON DELETE RESTRICT,
    fiscal_year INTEGER NOT NULL CHECK (fiscal_year BETWEEN 2000 AND 2100),
    title TEXT NOT NULL,
    purpose TEXT,
    requested_fen BIGINT CHECK (requested_fen BETWEEN 0 AND 100000000000),
    approved_fen BIGINT CHECK (approved_fen BETWEEN 0 AND 100000000000),
    status TEXT NOT NULL CHECK (status IN ('estimating', 'consulting', 'submitted', 'approved', 'rejected', 'returned', 'withdrawn')),
    ref TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT funding_requests_county_id_ref_key UNIQUE (county_id, ref)
);
CREATE INDEX funding_requests_year_idx ON funding_requests (fiscal_year, county_id);

CREATE TABLE funding_transitions (
    id SERIAL PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES funding_requests (id) ON DELETE CASCADE,
    action TEXT NOT NULL CHECK (action IN ('create', 'consult', 'submit', 'approve', 'reject', 'return', 'revise', 'withdraw')),
    from_status TEXT,
    to_status TEXT NOT NULL,
    effective_on DATE NOT NULL,
    note TEXT,
    requested_fen BIGINT,
    approved_fen BIGINT,
    actor TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX funding_transitions_request_idx ON funding_transitions (request_id, effective_on, id);

CREATE TABLE trainings (
    id SERIAL PRIMARY KEY,
    county_id INTEGER NOT NULL REFERENCES counties (id) ON DELETE RESTRICT,
    kind TEXT NOT NULL CHECK (kind IN ('pre_job', 'professional')),
    title TEXT NOT NULL,
    held_on DATE NOT NULL,
    attendees INTEGER CHECK (attendees >= 0),
    ref TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT trainings_county_id_ref_key UNIQUE (county_id, ref)
);
CREATE INDEX trainings_county_idx ON trainings (county_id, held_on);
