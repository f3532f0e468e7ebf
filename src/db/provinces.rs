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

pub fn by_code(conn: &mut DbConnection, code: &str) -> QueryResult<Option<ProvinceRow>> {
    provinces::table
        .filter(provinces::division_code.eq(code))
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut DbConnection, new: &NewProvince) -> QueryResult<ProvinceRow> {
    diesel::insert_into(provinces::table)
        .values(new)
        .get_result(conn)
}

/// Renames province `id` when its version is still `expected`; `None` otherwise.
pub fn rename(
    conn: &mut DbConnection,
    id: i32,
    expected: i32,
    name: &str,
    at: NaiveDateTime,
) -> QueryResult<Option<ProvinceRow>> {
    diesel::update(
        provinces::table
            .filter(provinces::id.eq(id))
            .filter(provinces::version.eq(expected)),
    )
    .set((
        provinces::name.eq(name),
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
