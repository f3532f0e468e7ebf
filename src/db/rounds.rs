//! Queries on `rounds`, `round_participants` and `round_submissions`: reporting rounds, who
//! takes part, and every submission.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{round_participants as parts, round_submissions as subs, rounds};
use super::{page_and_total, DbConnection, MultiBackend};
use crate::domain::round::{ParticipantKind, ParticipantState, RoundLevel, RoundState};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rounds)]
pub struct RoundRow {
    pub id: i32,
    pub title: String,
    pub level: RoundLevel,
    pub city_id: Option<i32>,
    pub province_id: Option<i32>,
    pub as_of: NaiveDate,
    pub fiscal_year: i32,
    pub due_on: NaiveDate,
    pub issuing_unit: String,
    pub state: RoundState,
    pub snapshot_id: Option<i32>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
    pub reopen_reason: Option<String>,
    pub participants: i32,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = rounds)]
pub struct NewRound {
    pub title: String,
    pub level: RoundLevel,
    pub city_id: Option<i32>,
    pub province_id: Option<i32>,
    pub as_of: NaiveDate,
    pub fiscal_year: i32,
    pub due_on: NaiveDate,
    pub issuing_unit: String,
    pub state: RoundState,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
    pub participants: i32,
}

/// What a change to a round sets; every change moves its version.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = rounds)]
pub struct RoundChanges {
    pub title: Option<String>,
    pub due_on: Option<NaiveDate>,
    pub state: Option<RoundState>,
    pub snapshot_id: Option<Option<i32>>,
    pub reopen_reason: Option<Option<String>>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RoundFilter {
    pub level: Option<RoundLevel>,
    pub city_id: Option<i32>,
    pub province_id: Option<i32>,
    pub state: Option<RoundState>,
}

fn filtered(f: RoundFilter) -> rounds::BoxedQuery<'static, MultiBackend> {
    let mut q = rounds::table.into_boxed();
    if let Some(level) = f.level {
        q = q.filter(rounds::level.eq(level));
    }
    if let Some(city) = f.city_id {
        q = q.filter(rounds::city_id.eq(city));
    }
    if let Some(province) = f.province_id {
        q = q.filter(rounds::province_id.eq(province));
    }
    if let Some(state) = f.state {
        q = q.filter(rounds::state.eq(state));
    }
    q
}

/// A page of rounds, newest first, with the filter's total, in one statement.
pub fn list(
    conn: &mut DbConnection,
    f: RoundFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<RoundRow>, i64)> {
    let total = filtered(f).count().single_value();
    let rows = filtered(f)
        .select((RoundRow::as_select(), total))
        .order(rounds::id.desc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    page_and_total(rows, offset, || filtered(f).count().get_result(conn))
}

pub fn find(conn: &mut DbConnection, id: i32) -> QueryResult<Option<RoundRow>> {
    rounds::table
        .find(id)
        .select(RoundRow::as_select())
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut DbConnection, new: &NewRound) -> QueryResult<RoundRow> {
    diesel::insert_into(rounds::table)
        .values(new)
        .get_result(conn)
}

/// Changes round `id` if it is in one of `states` (and at `expected` version when given),
/// moving its version; none when it is not. The update locks the row, so a round's writes
/// (submissions, reviews, closing, publishing) take their turns on it.
pub fn change(
    conn: &mut DbConnection,
    id: i32,
    states: &[RoundState],
    expected: Option<i32>,
    changes: &RoundChanges,
) -> QueryResult<Option<RoundRow>> {
    let target = rounds::table
        .filter(rounds::id.eq(id))
        .filter(rounds::state.eq_any(states.to_vec()));
    let bump = rounds::version.eq(rounds::version + 1);
    match expected {
        Some(v) => diesel::update(target.filter(rounds::version.eq(v)))
            .set((changes, bump))
            .get_result(conn)
            .optional(),
        None => diesel::update(target)
            .set((changes, bump))
            .get_result(conn)
            .optional(),
    }
}

/// Takes round `id`'s row lock for the rest of the transaction if it is in one of `states`,
/// without changing it, and answers the round as it is under the lock: a submission, a review
/// or publishing holds it, so a round is never changed halfway through one. None when the
/// round is in another state.
pub fn hold(
    conn: &mut DbConnection,
    id: i32,
    states: &[RoundState],
) -> QueryResult<Option<RoundRow>> {
    diesel::update(
        rounds::table
            .filter(rounds::id.eq(id))
            .filter(rounds::state.eq_any(states.to_vec())),
    )
    .set(rounds::version.eq(rounds::version))
    .get_result(conn)
    .optional()
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = parts)]
pub struct ParticipantRow {
    pub id: i32,
    pub round_id: i32,
    pub kind: ParticipantKind,
    pub county_id: Option<i32>,
    pub city_id: Option<i32>,
    pub position: i32,
    pub state: ParticipantState,
    pub submission_id: Option<i32>,
    pub first_submitted_at: Option<NaiveDateTime>,
    pub late: bool,
    pub days_late: i32,
    pub self_certified: bool,
    pub return_reason: Option<String>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<NaiveDateTime>,
    pub version: i32,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = parts)]
pub struct NewParticipant {
    pub round_id: i32,
    pub kind: ParticipantKind,
    pub county_id: Option<i32>,
    pub city_id: Option<i32>,
    pub position: i32,
    pub state: ParticipantState,
}

/// What a submission or a review sets on a participant; every change moves its version.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = parts)]
pub struct ParticipantChanges {
    pub state: Option<ParticipantState>,
    pub submission_id: Option<Option<i32>>,
    pub first_submitted_at: Option<Option<NaiveDateTime>>,
    pub late: Option<bool>,
    pub days_late: Option<i32>,
    pub self_certified: Option<bool>,
    pub return_reason: Option<Option<String>>,
    pub reviewed_by: Option<Option<String>>,
    pub reviewed_at: Option<Option<NaiveDateTime>>,
}

/// Inserts a round's participants in multi-row statements.
pub fn insert_participants(conn: &mut DbConnection, new: &[NewParticipant]) -> QueryResult<usize> {
    let mut n = 0;
    for chunk in new.chunks(500) {
        n += match conn {
            DbConnection::Pg(c) => diesel::insert_into(parts::table).values(chunk).execute(c)?,
            DbConnection::Sqlite(c) => {
                diesel::insert_into(parts::table).values(chunk).execute(c)?
            }
        };
    }
    Ok(n)
}

/// Every participant of round `id`, in the table's order.
pub fn participants(conn: &mut DbConnection, round_id: i32) -> QueryResult<Vec<ParticipantRow>> {
    parts::table
        .filter(parts::round_id.eq(round_id))
        .order(parts::position.asc())
        .select(ParticipantRow::as_select())
        .load(conn)
}

pub fn find_participant(
    conn: &mut DbConnection,
    round_id: i32,
    id: i32,
) -> QueryResult<Option<ParticipantRow>> {
    parts::table
        .filter(parts::round_id.eq(round_id))
        .filter(parts::id.eq(id))
        .select(ParticipantRow::as_select())
        .first(conn)
        .optional()
}

/// Changes participant `id` if it is still at version `expected`; none when another write
/// changed it meanwhile.
pub fn change_participant(
    conn: &mut DbConnection,
    id: i32,
    expected: i32,
    changes: &ParticipantChanges,
) -> QueryResult<Option<ParticipantRow>> {
    diesel::update(
        parts::table
            .filter(parts::id.eq(id))
            .filter(parts::version.eq(expected)),
    )
    .set((changes, parts::version.eq(parts::version + 1)))
    .get_result(conn)
    .optional()
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = subs)]
pub struct SubmissionRow {
    pub id: i32,
    pub round_id: i32,
    pub participant_id: i32,
    pub submitted_by: String,
    pub submitted_at: NaiveDateTime,
    pub note: Option<String>,
    pub late: bool,
    pub self_certified: bool,
    pub figures: String,
    pub rules_version: String,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = subs)]
pub struct NewSubmission {
    pub round_id: i32,
    pub participant_id: i32,
    pub submitted_by: String,
    pub submitted_at: NaiveDateTime,
    pub note: Option<String>,
    pub late: bool,
    pub self_certified: bool,
    pub figures: String,
    pub rules_version: String,
}

pub fn insert_submission(
    conn: &mut DbConnection,
    new: &NewSubmission,
) -> QueryResult<SubmissionRow> {
    diesel::insert_into(subs::table)
        .values(new)
        .get_result(conn)
}

/// The current submission of each participant of round `id` that has one, in one query.
pub fn current_submissions(
    conn: &mut DbConnection,
    round_id: i32,
) -> QueryResult<Vec<SubmissionRow>> {
    subs::table
        .inner_join(parts::table.on(parts::submission_id.eq(subs::id.nullable())))
        .filter(parts::round_id.eq(round_id))
        .select(SubmissionRow::as_select())
        .load(conn)
}

/// A participant's submissions, newest first, with their total, in one statement.
pub fn history(
    conn: &mut DbConnection,
    participant_id: i32,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<SubmissionRow>, i64)> {
    let of = || {
        subs::table
            .filter(subs::participant_id.eq(participant_id))
            .into_boxed::<MultiBackend>()
    };
    let total = of().count().single_value();
    let rows = of()
        .select((SubmissionRow::as_select(), total))
        .order(subs::id.desc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    page_and_total(rows, offset, || of().count().get_result(conn))
}
