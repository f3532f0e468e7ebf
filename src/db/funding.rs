//! Queries on `funding_requests` and their kept history, `funding_transitions`.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::{exists, not};
use diesel::prelude::*;

use super::counties::{ids_in_city, within_scope, Scope};
use super::schema::{funding_requests, funding_transitions};
use super::{page_and_total, DbConnection, MultiBackend};
use crate::domain::funding::{FundingAction, FundingStage};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = funding_requests)]
pub struct FundingRequestRow {
    pub id: i32,
    pub county_id: i32,
    pub fiscal_year: i32,
    pub title: String,
    pub purpose: Option<String>,
    pub requested_fen: Option<i64>,
    pub approved_fen: Option<i64>,
    pub status: FundingStage,
    #[diesel(column_name = ref_)]
    pub reference: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = funding_requests)]
pub struct NewFundingRequest {
    pub county_id: i32,
    pub fiscal_year: i32,
    pub title: String,
    pub purpose: Option<String>,
    pub requested_fen: Option<i64>,
    pub approved_fen: Option<i64>,
    pub status: FundingStage,
    #[diesel(column_name = ref_)]
    pub reference: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Changed columns; `None` leaves a column alone, `Some(None)` clears a nullable one.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = funding_requests)]
pub struct FundingRequestChanges {
    pub fiscal_year: Option<i32>,
    pub title: Option<String>,
    pub purpose: Option<Option<String>>,
    pub requested_fen: Option<Option<i64>>,
    pub approved_fen: Option<Option<i64>>,
    pub status: Option<FundingStage>,
    pub version: Option<i32>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = funding_transitions)]
pub struct TransitionRow {
    pub id: i32,
    pub request_id: i32,
    pub action: FundingAction,
    pub from_status: Option<FundingStage>,
    pub to_status: FundingStage,
    pub effective_on: NaiveDate,
    pub note: Option<String>,
    pub requested_fen: Option<i64>,
    pub approved_fen: Option<i64>,
    pub actor: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = funding_transitions)]
pub struct NewTransition {
    pub request_id: i32,
    pub action: FundingAction,
    pub from_status: Option<FundingStage>,
    pub to_status: FundingStage,
    pub effective_on: NaiveDate,
    pub note: Option<String>,
    pub requested_fen: Option<i64>,
    pub approved_fen: Option<i64>,
    pub actor: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Default, Clone)]
pub struct FundingFilter {
    pub county_id: Option<i32>,
    /// Rows of this city's counties.
    pub city_id: Option<i32>,
    pub fiscal_year: Option<i32>,
    pub status: Option<FundingStage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FundingSort {
    Id,
    FiscalYear,
    CountyId,
    CreatedAt,
}

fn filtered(filter: &FundingFilter) -> funding_requests::BoxedQuery<'static, MultiBackend> {
    let mut query = funding_requests::table.into_boxed();
    if let Some(county_id) = filter.county_id {
        query = query.filter(funding_requests::county_id.eq(county_id));
    }
    if let Some(city) = filter.city_id {
        query = query.filter(funding_requests::county_id.eq_any(ids_in_city(city)));
    }
    if let Some(year) = filter.fiscal_year {
        query = query.filter(funding_requests::fiscal_year.eq(year));
    }
    if let Some(status) = &filter.status {
        query = query.filter(funding_requests::status.eq(*status));
    }
    query
}

pub fn list(
    conn: &mut DbConnection,
    filter: &FundingFilter,
    sort: &[(FundingSort, bool)],
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<FundingRequestRow>, i64)> {
    use funding_requests as r;
    let total = filtered(filter).count().single_value();
    let mut query = filtered(filter).select((FundingRequestRow::as_select(), total));
    for &(field, descending) in sort {
        query = match (field, descending) {
            (FundingSort::Id, false) => query.then_order_by(r::id.asc()),
            (FundingSort::Id, true) => query.then_order_by(r::id.desc()),
            (FundingSort::FiscalYear, false) => query.then_order_by(r::fiscal_year.asc()),
            (FundingSort::FiscalYear, true) => query.then_order_by(r::fiscal_year.desc()),
            (FundingSort::CountyId, false) => query.then_order_by(r::county_id.asc()),
            (FundingSort::CountyId, true) => query.then_order_by(r::county_id.desc()),
            (FundingSort::CreatedAt, false) => query.then_order_by(r::created_at.asc()),
            (FundingSort::CreatedAt, true) => query.then_order_by(r::created_at.desc()),
        };
    }
    let rows = query
        .then_order_by(r::id.asc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    page_and_total(rows, offset, || filtered(filter).count().get_result(conn))
}

/// Every request of a county, oldest first.
pub fn of_county(conn: &mut DbConnection, county_id: i32) -> QueryResult<Vec<FundingRequestRow>> {
    funding_requests::table
        .filter(funding_requests::county_id.eq(county_id))
        .order(funding_requests::id.asc())
        .load(conn)
}

pub fn find(conn: &mut DbConnection, id: i32) -> QueryResult<Option<FundingRequestRow>> {
    funding_requests::table.find(id).first(conn).optional()
}

pub fn insert(conn: &mut DbConnection, new: &NewFundingRequest) -> QueryResult<FundingRequestRow> {
    diesel::insert_into(funding_requests::table)
        .values(new)
        .get_result(conn)
}

/// Updates when the stored version is still `expected_version`; `None` otherwise.
pub fn update(
    conn: &mut DbConnection,
    id: i32,
    expected_version: i32,
    changes: &FundingRequestChanges,
) -> QueryResult<Option<FundingRequestRow>> {
    diesel::update(
        funding_requests::table
            .filter(funding_requests::id.eq(id))
            .filter(funding_requests::version.eq(expected_version)),
    )
    .set(changes)
    .get_result(conn)
    .optional()
}

/// Deletes the request and, by cascade, its history, when the version matches.
pub fn delete(conn: &mut DbConnection, id: i32, expected_version: i32) -> QueryResult<bool> {
    let n = diesel::delete(
        funding_requests::table
            .filter(funding_requests::id.eq(id))
            .filter(funding_requests::version.eq(expected_version)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

pub fn insert_transition(
    conn: &mut DbConnection,
    new: &NewTransition,
) -> QueryResult<TransitionRow> {
    diesel::insert_into(funding_transitions::table)
        .values(new)
        .get_result(conn)
}

/// A request's history, oldest first (by effective date, then as written).
pub fn history(conn: &mut DbConnection, request_id: i32) -> QueryResult<Vec<TransitionRow>> {
    funding_transitions::table
        .filter(funding_transitions::request_id.eq(request_id))
        .order((
            funding_transitions::effective_on.asc(),
            funding_transitions::id.asc(),
        ))
        .load(conn)
}

/// The request's latest transition (by effective date, then as written).
pub fn last_transition(
    conn: &mut DbConnection,
    request_id: i32,
) -> QueryResult<Option<TransitionRow>> {
    funding_transitions::table
        .filter(funding_transitions::request_id.eq(request_id))
        .order((
            funding_transitions::effective_on.desc(),
            funding_transitions::id.desc(),
        ))
        .first(conn)
        .optional()
}

/// A county's funding request of a fiscal year as it stood on a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingAsOf {
    pub county_id: i32,
    pub request_id: i32,
    pub reference: String,
    /// The stage as of the date (the latest transition on or before it).
    pub stage: FundingStage,
    /// When that stage took effect.
    pub effective_on: NaiveDate,
    /// Amounts as recorded by that transition.
    pub requested_fen: Option<i64>,
    pub approved_fen: Option<i64>,
    /// The note of the transition that set that stage (never an older stage's sentence).
    pub note: Option<String>,
}

diesel::alias!(funding_transitions as later_t: LaterT);

/// county_id, request id, ref, stage, effective_on, requested_fen, approved_fen, note.
type CurrentRow = (
    i32,
    i32,
    String,
    FundingStage,
    NaiveDate,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// Per county, its request of `fiscal_year` as of `as_of`: among requests already made by then
/// and not withdrawn as of then, the one whose stage changed last (ties: the highest request id),
/// with that stage, its amounts and the note of the change that set it. One query whatever the
/// number of counties: each request's current stage is found in SQL, the county's latest kept.
pub fn funding_as_of(
    conn: &mut DbConnection,
    fiscal_year: i32,
    as_of: NaiveDate,
    scope: Scope,
) -> QueryResult<Vec<FundingAsOf>> {
    use funding_requests as r;
    use funding_transitions as t;

    // A later transition of the same request on or before the date supersedes `t`.
    let superseded = later_t
        .filter(later_t.field(t::request_id).eq(t::request_id))
        .filter(later_t.field(t::effective_on).le(as_of))
        .filter(
            later_t
                .field(t::effective_on)
                .gt(t::effective_on)
                .or(later_t
                    .field(t::effective_on)
                    .eq(t::effective_on)
                    .and(later_t.field(t::id).gt(t::id))),
        );
    // Each request's current transition (one indexed NOT EXISTS per row), newest first within a
    // county; the county's request is the first of its rows. (A correlated "beaten by a rival"
    // subquery took seconds at national scale.)
    let mut query = t::table
        .inner_join(r::table)
        .filter(r::fiscal_year.eq(fiscal_year))
        .filter(t::effective_on.le(as_of))
        .filter(t::to_status.ne(FundingStage::Withdrawn))
        .filter(not(exists(superseded)))
        .into_boxed::<MultiBackend>();
    query = within_scope!(query, r::county_id, scope);
    let mut current: Vec<CurrentRow> = query
        .select((
            r::county_id,
            r::id,
            r::ref_,
            t::to_status,
            t::effective_on,
            t::requested_fen,
            t::approved_fen,
            t::note,
        ))
        .order((r::county_id.asc(), t::effective_on.desc(), r::id.desc()))
        .load(conn)?;
    current.dedup_by_key(|row| row.0);

    Ok(current
        .into_iter()
        .map(
            |(county_id, request_id, reference, stage, effective_on, requested, approved, note)| {
                FundingAsOf {
                    county_id,
                    request_id,
                    reference,
                    stage,
                    effective_on,
                    requested_fen: requested,
                    approved_fen: approved,
                    note,
                }
            },
        )
        .collect())
}
