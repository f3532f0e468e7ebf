//! Queries on `staff` and `postings`, and the staffing counts the progress table uses.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::counties::{ids_in_city, within_scope, Scope};
use super::schema::{postings, staff};
use super::{contains_pattern, lower, page_and_total, DbConnection, MultiBackend};
use crate::domain::site::SiteKind;
use crate::domain::staff::{Certification, Gender, HiredVia, PostingRole};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = staff)]
pub struct StaffRow {
    pub id: i32,
    pub county_id: i32,
    pub name: String,
    pub gender: Gender,
    pub phone: Option<String>,
    pub id_number: Option<String>,
    pub education: Option<String>,
    pub certification: Certification,
    pub hired_via: HiredVia,
    pub ref_: String,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = staff, treat_none_as_null = true)]
pub struct StaffValues {
    pub county_id: i32,
    pub name: String,
    pub gender: Gender,
    pub phone: Option<String>,
    pub id_number: Option<String>,
    pub education: Option<String>,
    pub certification: Certification,
    pub hired_via: HiredVia,
    pub ref_: String,
    pub version: i32,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = postings)]
pub struct PostingRow {
    pub id: i32,
    pub staff_id: i32,
    pub station_id: i32,
    pub county_id: i32,
    pub site_kind: SiteKind,
    pub role: PostingRole,
    pub from_on: NaiveDate,
    pub to_on: Option<NaiveDate>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = postings)]
pub struct NewPosting {
    pub staff_id: i32,
    pub station_id: i32,
    pub county_id: i32,
    pub site_kind: SiteKind,
    pub role: PostingRole,
    pub from_on: NaiveDate,
    pub to_on: Option<NaiveDate>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Default, Clone)]
pub struct StaffFilter {
    pub county_id: Option<i32>,
    /// Rows of this city's counties.
    pub city_id: Option<i32>,
    pub certification: Option<Certification>,
    /// People in post on this date (with `station_id` / `kind`, there).
    pub in_post_on: Option<NaiveDate>,
    pub station_id: Option<i32>,
    pub kind: Option<SiteKind>,
    pub q: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffSort {
    Id,
    Name,
    CountyId,
    Certification,
}

fn filtered(f: &StaffFilter) -> staff::BoxedQuery<'static, MultiBackend> {
    let mut q = staff::table.into_boxed();
    if let Some(v) = f.county_id {
        q = q.filter(staff::county_id.eq(v));
    }
    if let Some(city) = f.city_id {
        q = q.filter(staff::county_id.eq_any(ids_in_city(city)));
    }
    if let Some(v) = &f.certification {
        q = q.filter(staff::certification.eq(*v));
    }
    if f.in_post_on.is_some() || f.station_id.is_some() || f.kind.is_some() {
        // One subquery shape whatever the filters (absent ones match everything), since
        // MultiConnection cannot nest a boxed subquery.
        let (from_by, to_after) = match f.in_post_on {
            Some(day) => (day, day),
            // Four-digit years: SQLite compares dates as text.
            None => (
                NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or_default(),
                NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or_default(),
            ),
        };
        let (site_lo, site_hi) = match f.station_id {
            Some(id) => (id, id),
            None => (i32::MIN, i32::MAX),
        };
        let kinds = match &f.kind {
            Some(k) => vec![*k],
            None => SiteKind::ALL.to_vec(),
        };
        let posted = postings::table
            .select(postings::staff_id)
            .filter(postings::from_on.le(from_by))
            .filter(postings::to_on.is_null().or(postings::to_on.gt(to_after)))
            .filter(postings::station_id.between(site_lo, site_hi))
            .filter(postings::site_kind.eq_any(kinds));
        q = q.filter(staff::id.eq_any(posted));
    }
    if let Some(text) = &f.q {
        let pattern = contains_pattern(text);
        q = q.filter(
            lower(staff::name)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(staff::ref_).like(pattern).escape('\\')),
        );
    }
    q
}

pub fn list(
    conn: &mut DbConnection,
    filter: &StaffFilter,
    sort: &[(StaffSort, bool)],
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<StaffRow>, i64)> {
    let total = filtered(filter).count().single_value();
    let mut q = filtered(filter).select((StaffRow::as_select(), total));
    for &(field, desc) in sort {
        q = match (field, desc) {
            (StaffSort::Id, false) => q.then_order_by(staff::id.asc()),
            (StaffSort::Id, true) => q.then_order_by(staff::id.desc()),
            (StaffSort::Name, false) => q.then_order_by(staff::name.asc()),
            (StaffSort::Name, true) => q.then_order_by(staff::name.desc()),
            (StaffSort::CountyId, false) => q.then_order_by(staff::county_id.asc()),
            (StaffSort::CountyId, true) => q.then_order_by(staff::county_id.desc()),
            (StaffSort::Certification, false) => q.then_order_by(staff::certification.asc()),
            (StaffSort::Certification, true) => q.then_order_by(staff::certification.desc()),
        };
    }
    let rows = q
        .then_order_by(staff::id.asc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    page_and_total(rows, offset, || filtered(filter).count().get_result(conn))
}

pub fn find(conn: &mut DbConnection, id: i32) -> QueryResult<Option<StaffRow>> {
    staff::table.find(id).first(conn).optional()
}

impl StaffValues {
    /// Whether storing these values would change nothing in `row` (its version aside).
    pub fn same_as(&self, r: &StaffRow) -> bool {
        self.county_id == r.county_id
            && self.name == r.name
            && self.gender == r.gender
            && self.phone == r.phone
            && self.id_number == r.id_number
            && self.education == r.education
            && self.certification == r.certification
            && self.hired_via == r.hired_via
            && self.ref_ == r.ref_
    }
}

/// Inserts many people in one statement (a county's batch), each created when it was last
/// updated, answering their rows.
pub fn insert_all(conn: &mut DbConnection, values: &[StaffValues]) -> QueryResult<Vec<StaffRow>> {
    let rows: Vec<_> = values
        .iter()
        .map(|v| (v, staff::created_at.eq(v.updated_at)))
        .collect();
    match conn {
        DbConnection::Pg(c) => diesel::insert_into(staff::table)
            .values(rows)
            .get_results(c),
        DbConnection::Sqlite(c) => diesel::insert_into(staff::table)
            .values(rows)
            .get_results(c),
    }
}

pub fn insert(
    conn: &mut DbConnection,
    values: &StaffValues,
    at: NaiveDateTime,
) -> QueryResult<StaffRow> {
    diesel::insert_into(staff::table)
        .values((values, staff::created_at.eq(at)))
        .get_result(conn)
}

pub fn update(
    conn: &mut DbConnection,
    id: i32,
    expected_version: i32,
    values: &StaffValues,
) -> QueryResult<Option<StaffRow>> {
    diesel::update(
        staff::table
            .filter(staff::id.eq(id))
            .filter(staff::version.eq(expected_version)),
    )
    .set(values)
    .get_result(conn)
    .optional()
}

pub fn delete(conn: &mut DbConnection, id: i32, expected_version: i32) -> QueryResult<bool> {
    let n = diesel::delete(
        staff::table
            .filter(staff::id.eq(id))
            .filter(staff::version.eq(expected_version)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Moves a person's version: every posting change goes through it, so two concurrent changes
/// to one person's postings queue on the row instead of both passing the overlap check.
pub fn bump_version(conn: &mut DbConnection, id: i32, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(staff::table.find(id))
        .set((
            staff::version.eq(staff::version + 1),
            staff::updated_at.eq(at),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn postings_of(conn: &mut DbConnection, staff_id: i32) -> QueryResult<Vec<PostingRow>> {
    postings::table
        .filter(postings::staff_id.eq(staff_id))
        .order((postings::from_on.asc(), postings::id.asc()))
        .load(conn)
}

pub fn insert_posting(conn: &mut DbConnection, new: &NewPosting) -> QueryResult<PostingRow> {
    diesel::insert_into(postings::table)
        .values(new)
        .get_result(conn)
}

pub fn set_posting_end(
    conn: &mut DbConnection,
    posting_id: i32,
    to: Option<NaiveDate>,
) -> QueryResult<PostingRow> {
    diesel::update(postings::table.find(posting_id))
        .set(postings::to_on.eq(to))
        .get_result(conn)
}

/// People in post on `day`, per county and site kind: one grouped count. One person's postings
/// never overlap, so counting postings counts people.
pub fn in_post_by_county_and_kind(
    conn: &mut DbConnection,
    day: NaiveDate,
    scope: Scope,
) -> QueryResult<Vec<(i32, SiteKind, i64)>> {
    let q = postings::table
        .filter(postings::from_on.le(day))
        .filter(postings::to_on.is_null().or(postings::to_on.gt(day)))
        .group_by((postings::county_id, postings::site_kind))
        .select((postings::county_id, postings::site_kind, count_star()))
        .into_boxed::<MultiBackend>();
    within_scope!(q, postings::county_id, scope).load(conn)
}

/// People in post on `day` at each site of a county (or all counties, or one city's).
pub fn in_post_by_site(
    conn: &mut DbConnection,
    day: NaiveDate,
    county_id: Option<i32>,
    city_id: Option<i32>,
) -> QueryResult<Vec<(i32, i64)>> {
    let mut q = postings::table
        .filter(postings::from_on.le(day))
        .filter(postings::to_on.is_null().or(postings::to_on.gt(day)))
        .group_by(postings::station_id)
        .select((postings::station_id, count_star()))
        .order(postings::station_id.asc())
        .into_boxed::<MultiBackend>();
    if let Some(c) = county_id {
        q = q.filter(postings::county_id.eq(c));
    }
    if let Some(city) = city_id {
        q = q.filter(postings::county_id.eq_any(ids_in_city(city)));
    }
    q.load(conn)
}

/// People in post on `day` per county and site kind who hold a certificate (any level).
pub fn certified_in_post(
    conn: &mut DbConnection,
    day: NaiveDate,
    city_id: Option<i32>,
) -> QueryResult<Vec<(i32, SiteKind, i64)>> {
    let mut q = postings::table
        .inner_join(staff::table)
        .filter(postings::from_on.le(day))
        .filter(postings::to_on.is_null().or(postings::to_on.gt(day)))
        .filter(staff::certification.ne("none"))
        .group_by((postings::county_id, postings::site_kind))
        .select((postings::county_id, postings::site_kind, count_star()))
        .into_boxed::<MultiBackend>();
    if let Some(city) = city_id {
        q = q.filter(postings::county_id.eq_any(ids_in_city(city)));
    }
    q.load(conn)
}

/// Every person employed by a county (county batches load them once).
pub fn of_county(conn: &mut DbConnection, county_id: i32) -> QueryResult<Vec<StaffRow>> {
    staff::table
        .filter(staff::county_id.eq(county_id))
        .order(staff::id.asc())
        .load(conn)
}
