-- Reporting rounds: a bureau asks its members for their figures as of a date, by a deadline;
-- each participant signs its row off (a submission freezes it), the owners accept or return it,
-- and the round's bulletin is published from the accepted rows.
CREATE TABLE rounds (
    id SERIAL PRIMARY KEY,
    title TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('city', 'province')),
    city_id INTEGER REFERENCES cities (id) ON DELETE RESTRICT,
    province_id INTEGER REFERENCES provinces (id) ON DELETE RESTRICT,
    as_of DATE NOT NULL,
    fiscal_year INTEGER NOT NULL,
    -- The deadline, a date in the bureau's time zone.
    due_on DATE NOT NULL,
    issuing_unit TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed', 'published')),
    -- The bulletin published from it (no foreign key: the bulletin names its round).
    snapshot_id INTEGER,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    -- Why it was last reopened.
    reopen_reason TEXT,
    -- How many participants it has (fixed when it opens).
    participants INTEGER NOT NULL DEFAULT 0,
    CHECK ((level = 'city' AND city_id IS NOT NULL AND province_id IS NULL)
        OR (level = 'province' AND province_id IS NOT NULL AND city_id IS NULL))
);
CREATE INDEX rounds_city_idx ON rounds (city_id, id);
CREATE INDEX rounds_province_idx ON rounds (province_id, id);

-- Who is asked, fixed when the round opens: a county-level row (a county, or the owner's own
-- level) or, in a province's round, a city.
CREATE TABLE round_participants (
    id SERIAL PRIMARY KEY,
    round_id INTEGER NOT NULL REFERENCES rounds (id) ON DELETE RESTRICT,
    kind TEXT NOT NULL CHECK (kind IN ('county', 'city', 'level')),
    county_id INTEGER REFERENCES counties (id) ON DELETE RESTRICT,
    city_id INTEGER REFERENCES cities (id) ON DELETE RESTRICT,
    -- Its place in the table: the order participants are listed in.
    position INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'not_submitted'
        CHECK (state IN ('not_submitted', 'submitted', 'returned', 'accepted')),
    -- The current submission (none before the first).
    submission_id INTEGER,
    first_submitted_at TIMESTAMP,
    -- Whether the first submission came after the deadline then in force, and by how many days.
    late BOOLEAN NOT NULL DEFAULT FALSE,
    days_late INTEGER NOT NULL DEFAULT 0,
    self_certified BOOLEAN NOT NULL DEFAULT FALSE,
    return_reason TEXT,
    reviewed_by TEXT,
    reviewed_at TIMESTAMP,
    version INTEGER NOT NULL DEFAULT 1,
    CHECK ((kind = 'city') = (city_id IS NOT NULL) AND (kind = 'city') = (county_id IS NULL)),
    UNIQUE (round_id, county_id),
    UNIQUE (round_id, city_id)
);
CREATE INDEX round_participants_round_idx ON round_participants (round_id, position);

-- Every submission, kept: the current one is its participant's submission_id.
CREATE TABLE round_submissions (
    id SERIAL PRIMARY KEY,
    round_id INTEGER NOT NULL REFERENCES rounds (id) ON DELETE RESTRICT,
    participant_id INTEGER NOT NULL REFERENCES round_participants (id) ON DELETE RESTRICT,
    submitted_by TEXT NOT NULL,
    submitted_at TIMESTAMP NOT NULL,
    note TEXT,
    late BOOLEAN NOT NULL,
    self_certified BOOLEAN NOT NULL,
    -- The participant's row frozen as the round's table computed it (JSON), and the version
    -- of the counting rules that computed it.
    figures TEXT NOT NULL,
    rules_version TEXT NOT NULL
);
CREATE INDEX round_submissions_participant_idx ON round_submissions (participant_id, id);

-- A bulletin published from a round names it, and what was published without sign-off.
ALTER TABLE progress_snapshots ADD COLUMN round_id INTEGER REFERENCES rounds (id) ON DELETE RESTRICT;
ALTER TABLE progress_snapshots ADD COLUMN forced_reason TEXT;
ALTER TABLE progress_snapshots ADD COLUMN unconfirmed TEXT;

-- The phone number a chase list shows to the administrators of a user's level.
ALTER TABLE users ADD COLUMN phone TEXT;
