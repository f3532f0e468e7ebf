//! Queries on `sites` and `equipment_checks`.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::exists;
use diesel::prelude::*;

use super::counties::ids_in_city;
use super::schema::{equipment_checks, sites};
use super::{contains_pattern, lower, page_and_total, DbConnection, MultiBackend};
use crate::domain::site::{
    EquipmentItems, SiteKind, SiteStatus, BASIC_FROM_ITEMS, FULL_FROM_ITEMS,
};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = sites)]
pub struct SiteRow {
    pub id: i32,
    pub county_id: i32,
    pub town_id: i32,
    pub kind: SiteKind,
    pub station_id: Option<i32>,
    pub village: Option<String>,
    pub name: String,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub ref_: String,
    pub status: SiteStatus,
    pub planned_on: NaiveDate,
    pub premises_secured_on: Option<NaiveDate>,
    pub completed_on: Option<NaiveDate>,
    pub suspended_on: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
    pub equipment_checked_on: Option<NaiveDate>,
    pub equipment_item_count: Option<i32>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The items of the check on `equipment_checked_on` (added last, as the column was).
    pub equipment_items: Option<EquipmentItems>,
}

/// Every writable column; used for inserts and (with `AsChangeset`) whole-row updates.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = sites, treat_none_as_null = true)]
pub struct SiteValues {
    pub county_id: i32,
    pub town_id: i32,
    pub kind: SiteKind,
    pub station_id: Option<i32>,
    pub village: Option<String>,
    pub name: String,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub ref_: String,
    pub status: SiteStatus,
    pub planned_on: NaiveDate,
    pub premises_secured_on: Option<NaiveDate>,
    pub completed_on: Option<NaiveDate>,
    pub suspended_on: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
    pub version: i32,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = equipment_checks)]
pub struct CheckRow {
    pub id: i32,
    pub site_id: i32,
    pub checked_on: NaiveDate,
    pub items: EquipmentItems,
    pub item_count: i32,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = equipment_checks)]
pub struct NewCheck {
    pub site_id: i32,
    pub checked_on: NaiveDate,
    pub items: EquipmentItems,
    pub item_count: i32,
    pub created_at: NaiveDateTime,
}

/// How today's equipment level is expressed on the stored columns.
#[derive(Debug, Clone, Copy)]
pub enum LevelFilter {
    Full,
    Basic,
    Incomplete,
    NoPremises,
}

#[derive(Debug, Default, Clone)]
pub struct SiteFilter {
    pub county_id: Option<i32>,
    /// Rows of this city's counties.
    pub city_id: Option<i32>,
    pub town_id: Option<i32>,
    pub station_id: Option<i32>,
    pub kind: Option<SiteKind>,
    pub status: Option<SiteStatus>,
    pub premises_secured: Option<bool>,
    pub equipment_level: Option<LevelFilter>,
    pub q: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteSort {
    Id,
    Name,
    CountyId,
    Status,
    PlannedOn,
    PremisesSecuredOn,
    CompletedOn,
}

fn filtered(f: &SiteFilter) -> sites::BoxedQuery<'static, MultiBackend> {
    let mut q = sites::table.into_boxed();
    if let Some(v) = f.county_id {
        q = q.filter(sites::county_id.eq(v));
    }
    if let Some(city) = f.city_id {
        q = q.filter(sites::county_id.eq_any(ids_in_city(city)));
    }
    if let Some(v) = f.town_id {
        q = q.filter(sites::town_id.eq(v));
    }
    if let Some(v) = f.station_id {
        q = q.filter(sites::station_id.eq(v));
    }
    if let Some(v) = &f.kind {
        q = q.filter(sites::kind.eq(*v));
    }
    if let Some(v) = &f.status {
        q = q.filter(sites::status.eq(*v));
    }
    match f.premises_secured {
        Some(true) => q = q.filter(sites::premises_secured_on.is_not_null()),
        Some(false) => q = q.filter(sites::premises_secured_on.is_null()),
        None => {}
    }
    // Dates are never in the future, so the stored latest check is today's. The thresholds are
    // the rule's own (`equipment_level`).
    const FULL: i32 = FULL_FROM_ITEMS as i32;
    const BASIC: i32 = BASIC_FROM_ITEMS as i32;
    match f.equipment_level {
        Some(LevelFilter::NoPremises) => q = q.filter(sites::premises_secured_on.is_null()),
        Some(LevelFilter::Full) => {
            q = q
                .filter(sites::premises_secured_on.is_not_null())
                .filter(sites::equipment_item_count.ge(FULL))
        }
        Some(LevelFilter::Basic) => {
            q = q
                .filter(sites::premises_secured_on.is_not_null())
                .filter(sites::equipment_item_count.ge(BASIC))
                .filter(sites::equipment_item_count.lt(FULL))
        }
        Some(LevelFilter::Incomplete) => {
            q = q.filter(sites::premises_secured_on.is_not_null()).filter(
                sites::equipment_item_count
                    .is_null()
                    .or(sites::equipment_item_count.lt(BASIC)),
            )
        }
        None => {}
    }
    if let Some(text) = &f.q {
        let pattern = contains_pattern(text);
        q = q.filter(
            lower(sites::name)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(sites::ref_).like(pattern).escape('\\')),
        );
    }
    q
}

/// A site of a list page, with its latest equipment check on or before the page's date.
#[derive(Debug, Clone)]
pub struct ListedSite {
    pub row: SiteRow,
    pub check: Option<LatestCheck>,
}

/// A site's latest equipment check on or before a date: its day and what it found.
#[derive(Debug, Clone)]
pub struct LatestCheck {
    pub checked_on: NaiveDate,
    pub items: EquipmentItems,
}

/// A page of sites in one statement: the page, each site's latest check on or before `as_of`
/// and the filter's total (see [`page_and_total`]). A site's own row holds its latest check, and
/// checks are never dated after today, so as of today or later (the default) that is the one:
/// the page is then one index range and the total, the cheapest SQL that gives it. For an
/// earlier date, a site checked again since has its check looked up on the `(site_id,
/// checked_on)` key, for the page's rows only.
pub fn list(
    conn: &mut DbConnection,
    filter: &SiteFilter,
    sort: &[(SiteSort, bool)],
    limit: i64,
    offset: i64,
    as_of: NaiveDate,
    today: NaiveDate,
) -> QueryResult<(Vec<ListedSite>, i64)> {
    use diesel::dsl::sql;
    use diesel::expression::is_aggregate::Never;
    use diesel::sql_types::{Date, Nullable, Text};
    type Column<T> = Box<dyn BoxableExpression<sites::table, MultiBackend, (), Never, SqlType = T>>;
    let current = as_of >= today;
    let (checked_on, items): (Column<Nullable<Date>>, Column<Nullable<Text>>) = if current {
        // Read from the row itself; nothing to send twice.
        (Box::new(sql("NULL")), Box::new(sql("NULL")))
    } else {
        const OWN: &str =
            "(CASE WHEN sites.equipment_checked_on IS NULL OR sites.equipment_checked_on <= ";
        const LATEST: &str =
            "FROM equipment_checks c WHERE c.site_id = sites.id AND c.checked_on <= ";
        (
            Box::new(
                sql(OWN)
                    .bind::<Date, _>(as_of)
                    .sql(&format!(
                        " THEN sites.equipment_checked_on ELSE (SELECT MAX(c.checked_on) {LATEST}"
                    ))
                    .bind::<Date, _>(as_of)
                    .sql(") END)"),
            ),
            Box::new(
                sql(OWN)
                    .bind::<Date, _>(as_of)
                    .sql(&format!(
                        " THEN sites.equipment_items ELSE (SELECT c.items {LATEST}"
                    ))
                    .bind::<Date, _>(as_of)
                    .sql(" ORDER BY c.checked_on DESC LIMIT 1) END)"),
            ),
        )
    };
    let total = filtered(filter).count().single_value();
    let mut q = filtered(filter).select((SiteRow::as_select(), checked_on, items, total));
    for &(field, desc) in sort {
        q = match (field, desc) {
            (SiteSort::Id, false) => q.then_order_by(sites::id.asc()),
            (SiteSort::Id, true) => q.then_order_by(sites::id.desc()),
            (SiteSort::Name, false) => q.then_order_by(sites::name.asc()),
            (SiteSort::Name, true) => q.then_order_by(sites::name.desc()),
            (SiteSort::CountyId, false) => q.then_order_by(sites::county_id.asc()),
            (SiteSort::CountyId, true) => q.then_order_by(sites::county_id.desc()),
            (SiteSort::Status, false) => q.then_order_by(sites::status.asc()),
            (SiteSort::Status, true) => q.then_order_by(sites::status.desc()),
            (SiteSort::PlannedOn, false) => q.then_order_by(sites::planned_on.asc()),
            (SiteSort::PlannedOn, true) => q.then_order_by(sites::planned_on.desc()),
            (SiteSort::PremisesSecuredOn, false) => {
                q.then_order_by(sites::premises_secured_on.asc())
            }
            (SiteSort::PremisesSecuredOn, true) => {
                q.then_order_by(sites::premises_secured_on.desc())
            }
            (SiteSort::CompletedOn, false) => q.then_order_by(sites::completed_on.asc()),
            (SiteSort::CompletedOn, true) => q.then_order_by(sites::completed_on.desc()),
        };
    }
    // A site, its latest check's day and items, and the total.
    type Listed = (
        SiteRow,
        Option<NaiveDate>,
        Option<EquipmentItems>,
        Option<i64>,
    );
    let rows: Vec<Listed> = q
        .then_order_by(sites::id.asc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    let rows = rows
        .into_iter()
        .map(|(row, checked_on, items, total)| {
            let (checked_on, items) = match current {
                true => (row.equipment_checked_on, row.equipment_items.clone()),
                false => (checked_on, items),
            };
            let check = match (checked_on, items) {
                (Some(checked_on), Some(items)) => Some(LatestCheck { checked_on, items }),
                _ => None,
            };
            (ListedSite { row, check }, total)
        })
        .collect();
    page_and_total(rows, offset, || filtered(filter).count().get_result(conn))
}

pub fn find(conn: &mut DbConnection, id: i32) -> QueryResult<Option<SiteRow>> {
    sites::table.find(id).first(conn).optional()
}

pub fn find_by_ref(
    conn: &mut DbConnection,
    county_id: i32,
    reference: &str,
) -> QueryResult<Option<SiteRow>> {
    sites::table
        .filter(sites::county_id.eq(county_id))
        .filter(sites::ref_.eq(reference))
        .first(conn)
        .optional()
}

impl SiteValues {
    /// Whether storing these values would change nothing in `row` (its version aside).
    pub fn same_as(&self, r: &SiteRow) -> bool {
        self.county_id == r.county_id
            && self.town_id == r.town_id
            && self.kind == r.kind
            && self.station_id == r.station_id
            && self.village == r.village
            && self.name == r.name
            && self.address == r.address
            && self.latitude == r.latitude
            && self.longitude == r.longitude
            && self.ref_ == r.ref_
            && self.status == r.status
            && self.planned_on == r.planned_on
            && self.premises_secured_on == r.premises_secured_on
            && self.completed_on == r.completed_on
            && self.suspended_on == r.suspended_on
            && self.closed_on == r.closed_on
    }
}

/// Inserts many sites in one statement (a county's batch), each created when it was last
/// updated, answering their rows.
pub fn insert_all(conn: &mut DbConnection, values: &[SiteValues]) -> QueryResult<Vec<SiteRow>> {
    let rows: Vec<_> = values
        .iter()
        .map(|v| (v, sites::created_at.eq(v.updated_at)))
        .collect();
    match conn {
        DbConnection::Pg(c) => diesel::insert_into(sites::table)
            .values(rows)
            .get_results(c),
        DbConnection::Sqlite(c) => diesel::insert_into(sites::table)
            .values(rows)
            .get_results(c),
    }
}

pub fn insert(
    conn: &mut DbConnection,
    values: &SiteValues,
    at: NaiveDateTime,
) -> QueryResult<SiteRow> {
    diesel::insert_into(sites::table)
        .values((values, sites::created_at.eq(at)))
        .get_result(conn)
}

/// Replaces the writable columns when the version is still `expected_version`.
pub fn update(
    conn: &mut DbConnection,
    id: i32,
    expected_version: i32,
    values: &SiteValues,
) -> QueryResult<Option<SiteRow>> {
    diesel::update(
        sites::table
            .filter(sites::id.eq(id))
            .filter(sites::version.eq(expected_version)),
    )
    .set(values)
    .get_result(conn)
    .optional()
}

pub fn delete(conn: &mut DbConnection, id: i32, expected_version: i32) -> QueryResult<bool> {
    let n = diesel::delete(
        sites::table
            .filter(sites::id.eq(id))
            .filter(sites::version.eq(expected_version)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Another station of the town that is not closed (the rule: one per town).
pub fn open_station_in_town(
    conn: &mut DbConnection,
    town_id: i32,
    except: Option<i32>,
) -> QueryResult<Option<i32>> {
    let mut q = sites::table
        .filter(sites::town_id.eq(town_id))
        .filter(sites::kind.eq(SiteKind::Station))
        .filter(sites::closed_on.is_null())
        .select(sites::id)
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(sites::id.ne(id));
    }
    q.first(conn).optional()
}

pub fn has_points(conn: &mut DbConnection, station_id: i32) -> QueryResult<bool> {
    diesel::select(exists(
        sites::table.filter(sites::station_id.eq(station_id)),
    ))
    .get_result(conn)
}

pub fn insert_check(conn: &mut DbConnection, new: &NewCheck) -> QueryResult<CheckRow> {
    diesel::insert_into(equipment_checks::table)
        .values(new)
        .get_result(conn)
}

pub fn checks(conn: &mut DbConnection, site_id: i32) -> QueryResult<Vec<CheckRow>> {
    equipment_checks::table
        .filter(equipment_checks::site_id.eq(site_id))
        .order((
            equipment_checks::checked_on.asc(),
            equipment_checks::id.asc(),
        ))
        .load(conn)
}

/// The latest check on or before `as_of`: the site's equipment on that date.
pub fn check_as_of(
    conn: &mut DbConnection,
    site_id: i32,
    as_of: NaiveDate,
) -> QueryResult<Option<CheckRow>> {
    equipment_checks::table
        .filter(equipment_checks::site_id.eq(site_id))
        .filter(equipment_checks::checked_on.le(as_of))
        .order((
            equipment_checks::checked_on.desc(),
            equipment_checks::id.desc(),
        ))
        .first(conn)
        .optional()
}

/// Keeps the site's stored latest check (for list filters) in step with its checks, and moves
/// its version so its ETag changes.
pub fn refresh_latest_check(
    conn: &mut DbConnection,
    site_id: i32,
    today: NaiveDate,
    at: NaiveDateTime,
) -> QueryResult<()> {
    let latest = check_as_of(conn, site_id, today)?;
    diesel::update(sites::table.find(site_id))
        .set((
            sites::equipment_checked_on.eq(latest.as_ref().map(|c| c.checked_on)),
            sites::equipment_item_count.eq(latest.as_ref().map(|c| c.item_count)),
            sites::equipment_items.eq(latest.as_ref().map(|c| c.items.clone())),
            sites::version.eq(sites::version + 1),
            sites::updated_at.eq(at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The county's sites with these refs, in one query (a batch reads only what it touches).
pub fn of_county_by_refs(
    conn: &mut DbConnection,
    county_id: i32,
    refs: &[&str],
) -> QueryResult<Vec<SiteRow>> {
    let mut rows = Vec::new();
    // Chunked so that SQLite, which binds each value, stays far below its limit.
    for chunk in refs.chunks(5_000) {
        rows.extend(
            sites::table
                .filter(sites::county_id.eq(county_id))
                .filter(sites::ref_.eq_any(chunk))
                .load::<SiteRow>(conn)?,
        );
    }
    Ok(rows)
}
