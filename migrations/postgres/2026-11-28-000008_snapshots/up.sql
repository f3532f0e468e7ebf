-- Published progress tables (bulletins), frozen: corrections after publishing never change them.
CREATE TABLE progress_snapshots (
    id SERIAL PRIMARY KEY,
    as_of DATE NOT NULL,
    fiscal_year INTEGER NOT NULL,
    title TEXT NOT NULL,
    issuing_unit TEXT NOT NULL,
    -- The version of the counting rules that computed it.
    rules_version TEXT NOT NULL,
    -- The whole table as computed when published (JSON).
    table_json TEXT NOT NULL,
    published_by TEXT NOT NULL,
    published_at TIMESTAMP NOT NULL,
    withdrawn_at TIMESTAMP,
    withdrawn_by TEXT,
    withdrawal_reason TEXT
);
CREATE INDEX progress_snapshots_as_of_idx ON progress_snapshots (as_of);
