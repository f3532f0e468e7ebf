//! Queries on `trainings`.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::counties::{ids_in_city, within_scope, Scope};
use super::schema::trainings;
use super::{page_and_total, DbConnection, MultiBackend};
use crate::domain::training::TrainingKind;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = trainings)]
pub struct TrainingRow {
    pub id: i32,
    pub county_id: i32,
    pub kind: TrainingKind,
    pub title: String,
    pub held_on: NaiveDate,
    pub attendees: Option<i32>,
    #[diesel(column_name = ref_)]
    pub reference: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = trainings)]
pub struct NewTraining {
    pub county_id: i32,
    pub kind: TrainingKind,
    pub title: String,
    pub held_on: NaiveDate,
    pub attendees: Option<i32>,
    #[diesel(column_name = ref_)]
    pub reference: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Changed columns; `None` leaves a column alone, `Some(None)` clears a nullable one.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = trainings)]
pub struct TrainingChanges {
    pub kind: Option<TrainingKind>,
    pub title: Option<String>,
    pub held_on: Option<NaiveDate>,
    pub attendees: Option<Option<i32>>,
    #[diesel(column_name = ref_)]
    pub reference: Option<String>,
    pub version: Option<i32>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Default, Clone)]
pub struct TrainingFilter {
    pub county_id: Option<i32>,
    /// Rows of this city's counties.
    pub city_id: Option<i32>,
    pub kind: Option<TrainingKind>,
    pub held_from: Option<NaiveDate>,
    pub held_to: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainingSort {
    Id,
    HeldOn,
    CountyId,
}

fn filtered(filter: &TrainingFilter) -> trainings::BoxedQuery<'static, MultiBackend> {
    let mut query = trainings::table.into_boxed();
    if let Some(county_id) = filter.county_id {
        query = query.filter(trainings::county_id.eq(county_id));
    }
    if let Some(city) = filter.city_id {
        query = query.filter(trainings::county_id.eq_any(ids_in_city(city)));
    }
    if let Some(kind) = &filter.kind {
        query = query.filter(trainings::kind.eq(*kind));
    }
    if let Some(from) = filter.held_from {
        query = query.filter(trainings::held_on.ge(from));
    }
    if let Some(to) = filter.held_to {
        query = query.filter(trainings::held_on.le(to));
    }
    query
}

pub fn list(
    conn: &mut DbConnection,
    filter: &TrainingFilter,
    sort: &[(TrainingSort, bool)],
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<TrainingRow>, i64)> {
    let total = filtered(filter).count().single_value();
    let mut query = filtered(filter).select((TrainingRow::as_select(), total));
    for &(field, descending) in sort {
        query = match (field, descending) {
            (TrainingSort::Id, false) => query.then_order_by(trainings::id.asc()),
            (TrainingSort::Id, true) => query.then_order_by(trainings::id.desc()),
            (TrainingSort::HeldOn, false) => query.then_order_by(trainings::held_on.asc()),
            (TrainingSort::HeldOn, true) => query.then_order_by(trainings::held_on.desc()),
            (TrainingSort::CountyId, false) => query.then_order_by(trainings::county_id.asc()),
            (TrainingSort::CountyId, true) => query.then_order_by(trainings::county_id.desc()),
        };
    }
    let rows = query
        .then_order_by(trainings::id.asc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    page_and_total(rows, offset, || filtered(filter).count().get_result(conn))
}

pub fn find(conn: &mut DbConnection, id: i32) -> QueryResult<Option<TrainingRow>> {
    trainings::table.find(id).first(conn).optional()
}

pub fn insert(conn: &mut DbConnection, new: &NewTraining) -> QueryResult<TrainingRow> {
    diesel::insert_into(trainings::table)
        .values(new)
        .get_result(conn)
}

/// Inserts many sessions in one statement (a county's batch), answering their rows.
pub fn insert_all(conn: &mut DbConnection, new: &[NewTraining]) -> QueryResult<Vec<TrainingRow>> {
    match conn {
        DbConnection::Pg(c) => diesel::insert_into(trainings::table)
            .values(new)
            .get_results(c),
        DbConnection::Sqlite(c) => diesel::insert_into(trainings::table)
            .values(new)
            .get_results(c),
    }
}

/// Updates when the stored version is still `expected_version`; `None` otherwise.
pub fn update(
    conn: &mut DbConnection,
    id: i32,
    expected_version: i32,
    changes: &TrainingChanges,
) -> QueryResult<Option<TrainingRow>> {
    diesel::update(
        trainings::table
            .filter(trainings::id.eq(id))
            .filter(trainings::version.eq(expected_version)),
    )
    .set(changes)
    .get_result(conn)
    .optional()
}

pub fn delete(conn: &mut DbConnection, id: i32, expected_version: i32) -> QueryResult<bool> {
    let n = diesel::delete(
        trainings::table
            .filter(trainings::id.eq(id))
            .filter(trainings::version.eq(expected_version)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Sessions held on or before `as_of`, all years, per county (counties without any are absent):
/// one `GROUP BY` query.
pub fn trainings_held_by(
    conn: &mut DbConnection,
    as_of: NaiveDate,
    scope: Scope,
) -> QueryResult<Vec<(i32, i64)>> {
    let q = trainings::table
        .filter(trainings::held_on.le(as_of))
        .group_by(trainings::county_id)
        .select((trainings::county_id, count_star()))
        .order(trainings::county_id.asc())
        .into_boxed::<MultiBackend>();
    within_scope!(q, trainings::county_id, scope).load(conn)
}

/// Every training session of a county (county batches load them once).
pub fn of_county(conn: &mut DbConnection, county_id: i32) -> QueryResult<Vec<TrainingRow>> {
    trainings::table
        .filter(trainings::county_id.eq(county_id))
        .order(trainings::id.asc())
        .load(conn)
}
