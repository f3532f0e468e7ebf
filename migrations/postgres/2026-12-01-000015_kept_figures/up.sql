-- The progress table's figures kept, not recomputed (issue: kept figures). Each county-level
-- row's generation is bumped by every audited write that names it, in the write's own
-- transaction; figures kept at an older generation are recomputed.
-- No foreign key: a deleted county's generation stays, so a county that gets its id again
-- (SQLite reuses the largest id) never repeats a generation counts were kept at.
CREATE TABLE figure_generations (
    county_id INTEGER PRIMARY KEY,
    generation BIGINT NOT NULL
);
-- Each row's counts as of a date, for a fiscal year and a version of the counting rules, with
-- the generation they were counted at.
CREATE TABLE kept_figures (
    as_of DATE NOT NULL,
    fiscal_year INTEGER NOT NULL,
    rules_version TEXT NOT NULL,
    -- No foreign key either: a deleted county's rows are never read (a table starts from the
    -- counties) and go with their date; a keeper storing a row for a county deleted meanwhile
    -- must not fail the rest.
    county_id INTEGER NOT NULL,
    generation BIGINT NOT NULL,
    counts TEXT NOT NULL,
    PRIMARY KEY (as_of, fiscal_year, rules_version, county_id)
);
-- The dates kept, and when a table last asked for each: the store keeps only dates asked for
-- lately, and only so many of them.
CREATE TABLE kept_dates (
    as_of DATE NOT NULL,
    fiscal_year INTEGER NOT NULL,
    rules_version TEXT NOT NULL,
    last_asked_at TIMESTAMP NOT NULL,
    PRIMARY KEY (as_of, fiscal_year, rules_version)
);
CREATE INDEX kept_dates_asked_idx ON kept_dates (last_asked_at);
