//! Queries on `cities`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::cities;
use super::{page_and_total, DbConnection, MultiBackend};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = cities)]
pub struct CityRow {
    pub id: i32,
    pub province_id: i32,
    pub division_code: String,
    pub name: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// `false` for a city without counties: its one row is `city_direct`.
    pub has_counties: bool,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = cities)]
pub struct NewCity {
    pub province_id: i32,
    pub division_code: String,
    pub name: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// `false` for a city without counties: its one row is `city_direct`.
    pub has_counties: bool,
}

#[derive(Debug, Default, Clone)]
pub struct CityFilter {
    pub province_id: Option<i32>,
}

fn filtered(filter: &CityFilter) -> cities::BoxedQuery<'static, MultiBackend> {
    let mut query = cities::table.into_boxed();
    if let Some(p) = filter.province_id {
        query = query.filter(cities::province_id.eq(p));
    }
    query
}

/// A page of cities by id, with the filter's total, in one statement.
pub fn list(
    conn: &mut DbConnection,
    filter: &CityFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<CityRow>, i64)> {
    let total = filtered(filter).count().single_value();
    let rows = filtered(filter)
        .select((CityRow::as_select(), total))
        .order(cities::id.asc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    page_and_total(rows, offset, || filtered(filter).count().get_result(conn))
}

pub fn find(conn: &mut DbConnection, id: i32) -> QueryResult<Option<CityRow>> {
    cities::table.find(id).first(conn).optional()
}

/// The city with `code`. On PostgreSQL the row is locked (`FOR SHARE`) until the write
/// commits: a concurrent change of its code waits for that write, or makes this lookup find
/// nothing, so a row placed by the code never lands under a city whose code changed meanwhile.
/// SQLite runs one write at a time.
pub fn by_code(conn: &mut DbConnection, code: &str) -> QueryResult<Option<CityRow>> {
    let query = cities::table.filter(cities::division_code.eq(code.to_string()));
    match conn {
        DbConnection::Pg(c) => query.for_share().first(c).optional(),
        DbConnection::Sqlite(c) => query.first(c).optional(),
    }
}

/// The cities a table arranges its rows under (a province's, or all), by code; `limit` of them
/// when given (to tell one from several).
pub fn in_code_order(
    conn: &mut DbConnection,
    province_id: Option<i32>,
    limit: Option<i64>,
) -> QueryResult<Vec<CityRow>> {
    let mut q = filtered(&CityFilter { province_id }).order(cities::division_code.asc());
    if let Some(n) = limit {
        q = q.limit(n);
    }
    q.load(conn)
}

/// Cities `ids`, in one query.
pub fn with_ids(conn: &mut DbConnection, ids: &[i32]) -> QueryResult<Vec<CityRow>> {
    cities::table
        .filter(cities::id.eq_any(ids.to_vec()))
        .order(cities::id.asc())
        .load(conn)
}

pub fn count_in_province(conn: &mut DbConnection, province_id: i32) -> QueryResult<i64> {
    cities::table
        .filter(cities::province_id.eq(province_id))
        .count()
        .get_result(conn)
}

pub fn insert(conn: &mut DbConnection, new: &NewCity) -> QueryResult<CityRow> {
    diesel::insert_into(cities::table)
        .values(new)
        .get_result(conn)
}

/// Gives city `id` a name and code when its version is still `expected`; `None` otherwise.
pub fn change(
    conn: &mut DbConnection,
    id: i32,
    expected: i32,
    (name, code): (&str, &str),
    at: NaiveDateTime,
) -> QueryResult<Option<CityRow>> {
    diesel::update(
        cities::table
            .filter(cities::id.eq(id))
            .filter(cities::version.eq(expected)),
    )
    .set((
        cities::name.eq(name),
        cities::division_code.eq(code),
        cities::version.eq(expected + 1),
        cities::updated_at.eq(at),
    ))
    .get_result(conn)
    .optional()
}

/// Deletes when the version matches; `false` when it did not.
pub fn delete(conn: &mut DbConnection, id: i32, expected: i32) -> QueryResult<bool> {
    let n = diesel::delete(
        cities::table
            .filter(cities::id.eq(id))
            .filter(cities::version.eq(expected)),
    )
    .execute(conn)?;
    Ok(n == 1)
}
