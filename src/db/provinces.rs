//! Queries on `provinces`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::provinces;
use super::{page_and_total, DbConnection, MultiBackend};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = provinces)]
pub struct ProvinceRow {
    pub id: i32,
    pub division_code: String,
    pub name: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = provinces)]
pub struct NewProvince {
    pub division_code: String,
    pub name: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Provinces by code; `limit` of them when given (to tell one from several).
pub fn in_code_order(conn: &mut DbConnection, limit: Option<i64>) -> QueryResult<Vec<ProvinceRow>> {
    let mut q = provinces::table
        .order(provinces::division_code.asc())
        .into_boxed::<MultiBackend>();
    if let Some(n) = limit {
        q = q.limit(n);
    }
    q.load(conn)
}

/// A page of provinces by id, with the total, in one statement.
pub fn list(
    conn: &mut DbConnection,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<ProvinceRow>, i64)> {
    let total = provinces::table.into_boxed().count().single_value();
    let rows = provinces::table
        .into_boxed::<MultiBackend>()
        .select((ProvinceRow::as_select(), total))
        .order(provinces::id.asc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    page_and_total(rows, offset, || provinces::table.count().get_result(conn))
}

pub fn find(conn: &mut DbConnection, id: i32) -> QueryResult<Option<ProvinceRow>> {
    provinces::table.find(id).first(conn).optional()
}

/// The province with `code`. On PostgreSQL the row is locked (`FOR SHARE`) until the write
/// commits: a concurrent change of its code waits for that write, or makes this lookup find
/// nothing, so a row placed by the code never lands under a province whose code changed meanwhile.
/// SQLite runs one write at a time.
pub fn by_code(conn: &mut DbConnection, code: &str) -> QueryResult<Option<ProvinceRow>> {
    let query = provinces::table.filter(provinces::division_code.eq(code.to_string()));
    match conn {
        DbConnection::Pg(c) => query.for_share().first(c).optional(),
        DbConnection::Sqlite(c) => query.first(c).optional(),
    }
}

pub fn insert(conn: &mut DbConnection, new: &NewProvince) -> QueryResult<ProvinceRow> {
    diesel::insert_into(provinces::table)
        .values(new)
        .get_result(conn)
}

/// Gives province `id` a name and code when its version is still `expected`; `None` otherwise.
pub fn change(
    conn: &mut DbConnection,
    id: i32,
    expected: i32,
    (name, code): (&str, &str),
    at: NaiveDateTime,
) -> QueryResult<Option<ProvinceRow>> {
    diesel::update(
        provinces::table
            .filter(provinces::id.eq(id))
            .filter(provinces::version.eq(expected)),
    )
    .set((
        provinces::name.eq(name),
        provinces::division_code.eq(code),
        provinces::version.eq(expected + 1),
        provinces::updated_at.eq(at),
    ))
    .get_result(conn)
    .optional()
}

/// Deletes when the version matches; `false` when it did not.
pub fn delete(conn: &mut DbConnection, id: i32, expected: i32) -> QueryResult<bool> {
    let n = diesel::delete(
        provinces::table
            .filter(provinces::id.eq(id))
            .filter(provinces::version.eq(expected)),
    )
    .execute(conn)?;
    Ok(n == 1)
}
