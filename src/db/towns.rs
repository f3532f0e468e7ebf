//! Queries on `towns`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::counties::ids_in_city;
use super::schema::towns;
use super::{contains_pattern, lower, page_and_total, DbConnection, MultiBackend};
use crate::domain::town::TownKind;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = towns)]
pub struct TownRow {
    pub id: i32,
    pub county_id: i32,
    pub name: String,
    pub code: String,
    pub kind: TownKind,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = towns)]
pub struct NewTown {
    pub county_id: i32,
    pub name: String,
    pub code: String,
    pub kind: TownKind,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = towns)]
pub struct TownChanges {
    pub name: Option<String>,
    pub code: Option<String>,
    pub kind: Option<TownKind>,
    pub version: Option<i32>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Default, Clone)]
pub struct TownFilter {
    pub county_id: Option<i32>,
    /// Rows of this city's counties.
    pub city_id: Option<i32>,
    pub kind: Option<TownKind>,
    pub code: Option<String>,
    pub q: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TownSort {
    Id,
    Name,
    Code,
    CountyId,
    CreatedAt,
}

fn filtered(filter: &TownFilter) -> towns::BoxedQuery<'static, MultiBackend> {
    let mut query = towns::table.into_boxed();
    if let Some(county_id) = filter.county_id {
        query = query.filter(towns::county_id.eq(county_id));
    }
    if let Some(city) = filter.city_id {
        query = query.filter(towns::county_id.eq_any(ids_in_city(city)));
    }
    if let Some(kind) = &filter.kind {
        query = query.filter(towns::kind.eq(*kind));
    }
    if let Some(code) = &filter.code {
        query = query.filter(towns::code.eq(code.clone()));
    }
    if let Some(q) = &filter.q {
        query = query.filter(lower(towns::name).like(contains_pattern(q)).escape('\\'));
    }
    query
}

pub fn list(
    conn: &mut DbConnection,
    filter: &TownFilter,
    sort: &[(TownSort, bool)],
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<TownRow>, i64)> {
    let total = filtered(filter).count().single_value();
    let mut query = filtered(filter).select((TownRow::as_select(), total));
    for &(field, descending) in sort {
        query = match (field, descending) {
            (TownSort::Id, false) => query.then_order_by(towns::id.asc()),
            (TownSort::Id, true) => query.then_order_by(towns::id.desc()),
            (TownSort::Name, false) => query.then_order_by(towns::name.asc()),
            (TownSort::Name, true) => query.then_order_by(towns::name.desc()),
            (TownSort::Code, false) => query.then_order_by(towns::code.asc()),
            (TownSort::Code, true) => query.then_order_by(towns::code.desc()),
            (TownSort::CountyId, false) => query.then_order_by(towns::county_id.asc()),
            (TownSort::CountyId, true) => query.then_order_by(towns::county_id.desc()),
            (TownSort::CreatedAt, false) => query.then_order_by(towns::created_at.asc()),
            (TownSort::CreatedAt, true) => query.then_order_by(towns::created_at.desc()),
        };
    }
    let rows = query
        .then_order_by(towns::id.asc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    page_and_total(rows, offset, || filtered(filter).count().get_result(conn))
}

pub fn find(conn: &mut DbConnection, id: i32) -> QueryResult<Option<TownRow>> {
    towns::table.find(id).first(conn).optional()
}

pub fn insert(conn: &mut DbConnection, new: &NewTown) -> QueryResult<TownRow> {
    diesel::insert_into(towns::table)
        .values(new)
        .get_result(conn)
}

/// Inserts many towns in one statement (a county's batch), answering their rows.
pub fn insert_all(conn: &mut DbConnection, new: &[NewTown]) -> QueryResult<Vec<TownRow>> {
    match conn {
        DbConnection::Pg(c) => diesel::insert_into(towns::table).values(new).get_results(c),
        DbConnection::Sqlite(c) => diesel::insert_into(towns::table).values(new).get_results(c),
    }
}

/// Updates when the stored version is still `expected_version`; `None` otherwise.
pub fn update(
    conn: &mut DbConnection,
    id: i32,
    expected_version: i32,
    changes: &TownChanges,
) -> QueryResult<Option<TownRow>> {
    diesel::update(
        towns::table
            .filter(towns::id.eq(id))
            .filter(towns::version.eq(expected_version)),
    )
    .set(changes)
    .get_result(conn)
    .optional()
}

pub fn delete(conn: &mut DbConnection, id: i32, expected_version: i32) -> QueryResult<bool> {
    let n = diesel::delete(
        towns::table
            .filter(towns::id.eq(id))
            .filter(towns::version.eq(expected_version)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// The county's towns with these codes, in one query (a batch reads only what it touches).
pub fn of_county_by_codes(
    conn: &mut DbConnection,
    county_id: i32,
    codes: &[&str],
) -> QueryResult<Vec<TownRow>> {
    let mut rows = Vec::new();
    for chunk in codes.chunks(5_000) {
        rows.extend(
            towns::table
                .filter(towns::county_id.eq(county_id))
                .filter(towns::code.eq_any(chunk))
                .load::<TownRow>(conn)?,
        );
    }
    Ok(rows)
}
