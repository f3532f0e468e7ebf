//! Queries on `counties` and `plan_status_changes`.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::{exists, not};
use diesel::prelude::*;

use super::schema::{counties, plan_status_changes, towns};
use super::{contains_pattern, lower, page_and_total, DbConnection, MultiBackend};
use crate::domain::county::{CountyKind, PlanStage};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = counties)]
pub struct CountyRow {
    pub id: i32,
    pub division_code: String,
    pub name: String,
    pub kind: CountyKind,
    pub coordination_established_on: Option<NaiveDate>,
    pub management_established_on: Option<NaiveDate>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub province_id: i32,
    /// The city it belongs to; none only for a province's own level.
    pub city_id: Option<i32>,
    /// Its city's `has_counties` (kept beside `city_id` so a constraint can check its kind).
    pub city_has_counties: Option<bool>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = counties)]
pub struct NewCounty {
    pub division_code: String,
    pub name: String,
    pub kind: CountyKind,
    pub coordination_established_on: Option<NaiveDate>,
    pub management_established_on: Option<NaiveDate>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub province_id: i32,
    pub city_id: Option<i32>,
    pub city_has_counties: Option<bool>,
}

/// Changed columns; `None` leaves a column alone, `Some(None)` clears a nullable one.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = counties)]
pub struct CountyUpdate {
    pub division_code: Option<String>,
    pub name: Option<String>,
    pub kind: Option<CountyKind>,
    pub coordination_established_on: Option<Option<NaiveDate>>,
    pub management_established_on: Option<Option<NaiveDate>>,
    pub version: Option<i32>,
    pub updated_at: Option<NaiveDateTime>,
    pub province_id: Option<i32>,
    pub city_id: Option<Option<i32>>,
    pub city_has_counties: Option<Option<bool>>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = plan_status_changes)]
pub struct PlanChangeRow {
    pub id: i32,
    pub county_id: i32,
    pub stage: PlanStage,
    pub effective_on: NaiveDate,
    pub note: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = plan_status_changes)]
pub struct NewPlanChange {
    pub county_id: i32,
    pub stage: PlanStage,
    pub effective_on: NaiveDate,
    pub note: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Default, Clone)]
pub struct CountyFilter {
    pub city_id: Option<i32>,
    pub province_id: Option<i32>,
    pub kind: Option<CountyKind>,
    pub division_code: Option<String>,
    pub q: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountySort {
    Id,
    Name,
    DivisionCode,
    Kind,
    CreatedAt,
}

fn filtered(filter: &CountyFilter) -> counties::BoxedQuery<'static, MultiBackend> {
    let mut query = counties::table.into_boxed();
    if let Some(city) = filter.city_id {
        query = query.filter(counties::city_id.eq(city));
    }
    if let Some(province) = filter.province_id {
        query = query.filter(counties::province_id.eq(province));
    }
    if let Some(kind) = &filter.kind {
        query = query.filter(counties::kind.eq(*kind));
    }
    if let Some(code) = &filter.division_code {
        query = query.filter(counties::division_code.eq(code.clone()));
    }
    if let Some(q) = &filter.q {
        query = query.filter(lower(counties::name).like(contains_pattern(q)).escape('\\'));
    }
    query
}

/// The plan status in force on a date: what the latest change on or before it says.
#[derive(Debug, Clone)]
pub struct PlanInForce {
    pub stage: PlanStage,
    pub effective_on: NaiveDate,
    pub note: Option<String>,
}

impl From<&PlanChangeRow> for PlanInForce {
    fn from(change: &PlanChangeRow) -> Self {
        PlanInForce {
            stage: change.stage,
            effective_on: change.effective_on,
            note: change.note.clone(),
        }
    }
}

/// A county of a list page, with its plan status in force on the page's date.
pub type ListedCounty = (CountyRow, Option<PlanInForce>);

/// A page of counties in one statement: each with its plan status in force on `as_of` (three
/// correlated lookups on the `(county_id, effective_on, id)` index, for the page's rows only;
/// the later-written change wins a tie, as in [`plan_status_as_of`]) and the filter's total.
pub fn list(
    conn: &mut DbConnection,
    filter: &CountyFilter,
    sort: &[(CountySort, bool)],
    limit: i64,
    offset: i64,
    as_of: NaiveDate,
) -> QueryResult<(Vec<ListedCounty>, i64)> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Date, Nullable, Text};
    const IN_FORCE: &str =
        " FROM plan_status_changes p WHERE p.county_id = counties.id AND p.effective_on <= ";
    const LATEST: &str = " ORDER BY p.effective_on DESC, p.id DESC LIMIT 1)";
    let stage = sql::<Nullable<Text>>(&format!("(SELECT p.stage{IN_FORCE}"))
        .bind::<Date, _>(as_of)
        .sql(LATEST);
    let effective_on = sql::<Nullable<Date>>(&format!("(SELECT p.effective_on{IN_FORCE}"))
        .bind::<Date, _>(as_of)
        .sql(LATEST);
    let note = sql::<Nullable<Text>>(&format!("(SELECT p.note{IN_FORCE}"))
        .bind::<Date, _>(as_of)
        .sql(LATEST);
    let total = filtered(filter).count().single_value();
    let mut query =
        filtered(filter).select((CountyRow::as_select(), stage, effective_on, note, total));
    for &(field, descending) in sort {
        query = match (field, descending) {
            (CountySort::Id, false) => query.then_order_by(counties::id.asc()),
            (CountySort::Id, true) => query.then_order_by(counties::id.desc()),
            (CountySort::Name, false) => query.then_order_by(counties::name.asc()),
            (CountySort::Name, true) => query.then_order_by(counties::name.desc()),
            (CountySort::DivisionCode, false) => query.then_order_by(counties::division_code.asc()),
            (CountySort::DivisionCode, true) => query.then_order_by(counties::division_code.desc()),
            (CountySort::Kind, false) => query.then_order_by(counties::kind.asc()),
            (CountySort::Kind, true) => query.then_order_by(counties::kind.desc()),
            (CountySort::CreatedAt, false) => query.then_order_by(counties::created_at.asc()),
            (CountySort::CreatedAt, true) => query.then_order_by(counties::created_at.desc()),
        };
    }
    // A county, the stage, day and note of its plan in force, and the total.
    type Listed = (
        CountyRow,
        Option<PlanStage>,
        Option<NaiveDate>,
        Option<String>,
        Option<i64>,
    );
    // A stable tie-break, so pages never skip or repeat rows.
    let rows: Vec<Listed> = query
        .then_order_by(counties::id.asc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    let rows = rows
        .into_iter()
        .map(|(row, stage, effective_on, note, total)| {
            let plan = match (stage, effective_on) {
                (Some(stage), Some(effective_on)) => Some(PlanInForce {
                    stage,
                    effective_on,
                    note,
                }),
                _ => None,
            };
            ((row, plan), total)
        })
        .collect();
    page_and_total(rows, offset, || filtered(filter).count().get_result(conn))
}

pub fn find(conn: &mut DbConnection, id: i32) -> QueryResult<Option<CountyRow>> {
    counties::table.find(id).first(conn).optional()
}

pub fn insert(conn: &mut DbConnection, new: &NewCounty) -> QueryResult<CountyRow> {
    diesel::insert_into(counties::table)
        .values(new)
        .get_result(conn)
}

/// Updates only when the stored version is still `expected_version` (optimistic concurrency);
/// `None` when someone else changed the row first.
pub fn update(
    conn: &mut DbConnection,
    id: i32,
    expected_version: i32,
    changes: &CountyUpdate,
) -> QueryResult<Option<CountyRow>> {
    diesel::update(
        counties::table
            .filter(counties::id.eq(id))
            .filter(counties::version.eq(expected_version)),
    )
    .set(changes)
    .get_result(conn)
    .optional()
}

/// Deletes when the version matches; `false` when it did not.
pub fn delete(conn: &mut DbConnection, id: i32, expected_version: i32) -> QueryResult<bool> {
    let n = diesel::delete(
        counties::table
            .filter(counties::id.eq(id))
            .filter(counties::version.eq(expected_version)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// The ids of city `city_id`'s county-level rows as a subquery: the `city_id` filter of the
/// lists and figures of other tables (`county_id IN (…)`, on the `(city_id, id)` index).
pub type IdsInCity = diesel::dsl::Select<
    diesel::dsl::Filter<counties::table, diesel::dsl::Eq<counties::city_id, Option<i32>>>,
    counties::id,
>;

pub fn ids_in_city(city_id: i32) -> IdsInCity {
    counties::table
        .filter(counties::city_id.eq(Some(city_id)))
        .select(counties::id)
}

/// Whose county-level rows a table or a figure covers: every one, a province's (its cities'
/// and its own level), a city's, or just these rows (those whose kept figures are stale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    All,
    Province(i32),
    City(i32),
    Rows(&'a [i32]),
}

impl Scope<'_> {
    /// A city's when given, else all.
    pub fn of_city(city_id: Option<i32>) -> Scope<'static> {
        city_id.map_or(Scope::All, Scope::City)
    }
}

/// The ids of province `province_id`'s county-level rows as a subquery.
pub type IdsInProvince = diesel::dsl::Select<
    diesel::dsl::Filter<counties::table, diesel::dsl::Eq<counties::province_id, i32>>,
    counties::id,
>;

pub fn ids_in_province(province_id: i32) -> IdsInProvince {
    counties::table
        .filter(counties::province_id.eq(province_id))
        .select(counties::id)
}

/// Restricts boxed query `$q` on its county column `$column` to `$scope`'s county-level rows
/// (`county_id IN (…)`, on the `(city_id, id)` or `(province_id, id)` index). A macro, because
/// the two subqueries are of different types and the multi-backend connection takes no boxed
/// subquery.
macro_rules! within_scope {
    ($q:expr, $column:expr, $scope:expr) => {
        match $scope {
            $crate::db::counties::Scope::All => $q,
            $crate::db::counties::Scope::City(c) => {
                $q.filter($column.eq_any($crate::db::counties::ids_in_city(c)))
            }
            $crate::db::counties::Scope::Province(p) => {
                $q.filter($column.eq_any($crate::db::counties::ids_in_province(p)))
            }
            $crate::db::counties::Scope::Rows(ids) => $q.filter($column.eq_any(ids.to_vec())),
        }
    };
}
pub(crate) use within_scope;

/// Every county-level row the scope covers, for its table.
pub fn in_scope(conn: &mut DbConnection, scope: Scope) -> QueryResult<Vec<CountyRow>> {
    let mut q = counties::table.order(counties::id.asc()).into_boxed();
    match scope {
        Scope::All => {}
        Scope::Province(p) => q = q.filter(counties::province_id.eq(p)),
        Scope::City(c) => q = q.filter(counties::city_id.eq(c)),
        Scope::Rows(ids) => q = q.filter(counties::id.eq_any(ids.to_vec())),
    }
    q.load(conn)
}

/// The ids of city `city_id`'s county-level rows.
pub fn ids_of_city(conn: &mut DbConnection, city_id: i32) -> QueryResult<Vec<i32>> {
    ids_in_city(city_id).load(conn)
}

/// The level row of city `city_id` (市本级, or its one `city_direct` row), if it has one yet.
pub fn level_of_city(conn: &mut DbConnection, city_id: i32) -> QueryResult<Option<CountyRow>> {
    counties::table
        .filter(counties::city_id.eq(city_id))
        .filter(counties::kind.eq_any([CountyKind::CityLevel, CountyKind::CityDirect]))
        .first(conn)
        .optional()
}

/// The level row of province `province_id` (省本级).
pub fn level_of_province(
    conn: &mut DbConnection,
    province_id: i32,
) -> QueryResult<Option<CountyRow>> {
    counties::table
        .filter(counties::province_id.eq(province_id))
        .filter(counties::kind.eq(CountyKind::ProvinceLevel))
        .first(conn)
        .optional()
}

/// How many rows of city `city_id` are not its level row: its counties.
pub fn count_in_city_beside_level(conn: &mut DbConnection, city_id: i32) -> QueryResult<i64> {
    counties::table
        .filter(counties::city_id.eq(city_id))
        .filter(counties::kind.ne_all([CountyKind::CityLevel, CountyKind::CityDirect]))
        .count()
        .get_result(conn)
}

pub fn has_towns(conn: &mut DbConnection, county_id: i32) -> QueryResult<bool> {
    diesel::select(exists(towns::table.filter(towns::county_id.eq(county_id)))).get_result(conn)
}

pub fn bump_version(conn: &mut DbConnection, id: i32, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(counties::table.find(id))
        .set((
            counties::version.eq(counties::version + 1),
            counties::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn insert_plan_change(
    conn: &mut DbConnection,
    new: &NewPlanChange,
) -> QueryResult<PlanChangeRow> {
    diesel::insert_into(plan_status_changes::table)
        .values(new)
        .get_result(conn)
}

pub fn plan_history(conn: &mut DbConnection, county_id: i32) -> QueryResult<Vec<PlanChangeRow>> {
    plan_status_changes::table
        .filter(plan_status_changes::county_id.eq(county_id))
        .order((
            plan_status_changes::effective_on.asc(),
            plan_status_changes::id.asc(),
        ))
        .load(conn)
}

diesel::alias!(plan_status_changes as later_change: LaterChange);

/// The plan status in force on `as_of` for each of `county_ids` (all counties when `None`): the
/// latest change dated on or before it, the later-written winning a tie. One query, no N+1.
pub fn plan_status_as_of(
    conn: &mut DbConnection,
    county_ids: Option<&[i32]>,
    as_of: NaiveDate,
) -> QueryResult<Vec<PlanChangeRow>> {
    let superseded = later_change
        .filter(
            later_change
                .field(plan_status_changes::county_id)
                .eq(plan_status_changes::county_id),
        )
        .filter(
            later_change
                .field(plan_status_changes::effective_on)
                .le(as_of),
        )
        .filter(
            later_change
                .field(plan_status_changes::effective_on)
                .gt(plan_status_changes::effective_on)
                .or(later_change
                    .field(plan_status_changes::effective_on)
                    .eq(plan_status_changes::effective_on)
                    .and(
                        later_change
                            .field(plan_status_changes::id)
                            .gt(plan_status_changes::id),
                    )),
        );
    let mut query = plan_status_changes::table
        .filter(plan_status_changes::effective_on.le(as_of))
        .filter(not(exists(superseded)))
        .into_boxed();
    if let Some(ids) = county_ids {
        query = query.filter(plan_status_changes::county_id.eq_any(ids.to_vec()));
    }
    query.load(conn)
}
