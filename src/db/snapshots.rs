//! Queries on `progress_snapshots`: published tables, stored frozen.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::progress_snapshots as snapshots;
use super::DbConnection;
use crate::domain::report::TableLevel;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = snapshots)]
pub struct SnapshotRow {
    pub id: i32,
    pub as_of: NaiveDate,
    pub fiscal_year: i32,
    pub title: String,
    pub issuing_unit: String,
    pub rules_version: String,
    pub table_json: String,
    pub published_by: String,
    pub published_at: NaiveDateTime,
    pub withdrawn_at: Option<NaiveDateTime>,
    pub withdrawn_by: Option<String>,
    pub withdrawal_reason: Option<String>,
    /// The city whose table it is (a city's).
    pub city_id: Option<i32>,
    pub level: TableLevel,
    /// The province whose table it is (a province's).
    pub province_id: Option<i32>,
    /// The round it was published from.
    pub round_id: Option<i32>,
    /// Why a round's bulletin was published without every participant's sign-off.
    pub forced_reason: Option<String>,
    /// The participants published unconfirmed (JSON).
    pub unconfirmed: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = snapshots)]
pub struct NewSnapshot {
    pub as_of: NaiveDate,
    pub fiscal_year: i32,
    pub title: String,
    pub issuing_unit: String,
    pub rules_version: String,
    pub table_json: String,
    pub published_by: String,
    pub published_at: NaiveDateTime,
    pub city_id: Option<i32>,
    pub level: TableLevel,
    pub province_id: Option<i32>,
    pub round_id: Option<i32>,
    pub forced_reason: Option<String>,
    pub unconfirmed: Option<String>,
}

pub fn insert(conn: &mut DbConnection, new: &NewSnapshot) -> QueryResult<SnapshotRow> {
    diesel::insert_into(snapshots::table)
        .values(new)
        .get_result(conn)
}

pub fn find(conn: &mut DbConnection, id: i32) -> QueryResult<Option<SnapshotRow>> {
    snapshots::table.find(id).first(conn).optional()
}

/// Which bulletins a list shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct SnapshotFilter {
    pub city_id: Option<i32>,
    pub province_id: Option<i32>,
    pub level: Option<TableLevel>,
    pub include_withdrawn: bool,
}

/// Newest first; the frozen table itself is not loaded for lists.
pub fn list(
    conn: &mut DbConnection,
    filter: SnapshotFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<SnapshotRow>, i64)> {
    let filtered = || {
        let mut q = snapshots::table.into_boxed();
        if let Some(city) = filter.city_id {
            q = q.filter(snapshots::city_id.eq(city));
        }
        if let Some(province) = filter.province_id {
            q = q.filter(snapshots::province_id.eq(province));
        }
        if let Some(level) = filter.level {
            q = q.filter(snapshots::level.eq(level));
        }
        if !filter.include_withdrawn {
            q = q.filter(snapshots::withdrawn_at.is_null());
        }
        q
    };
    let total = filtered().count().get_result(conn)?;
    let rows = filtered()
        .order((snapshots::as_of.desc(), snapshots::id.desc()))
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    Ok((rows, total))
}

/// Withdraws a snapshot that is still published; `false` when it already was withdrawn.
pub fn withdraw(
    conn: &mut DbConnection,
    id: i32,
    by: &str,
    reason: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        snapshots::table
            .filter(snapshots::id.eq(id))
            .filter(snapshots::withdrawn_at.is_null()),
    )
    .set((
        snapshots::withdrawn_at.eq(Some(at)),
        snapshots::withdrawn_by.eq(Some(by)),
        snapshots::withdrawal_reason.eq(Some(reason)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}
