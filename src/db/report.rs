//! The progress table's site figures: one aggregate query over all sites, grouped by county and
//! kind, so the database counts and Rust only arranges the result.

use std::sync::LazyLock;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Text};

use super::counties::Scope;
use super::DbConnection;
use crate::domain::site::{SiteKind, BASIC_FROM_ITEMS, FULL_FROM_ITEMS};

/// Per county and site kind (of a scope's counties), as of a date: sites planned and not closed; of them, completed and
/// with premises; and among those with premises, how many are at each equipment level.
#[derive(Debug, Clone, QueryableByName, PartialEq, Eq)]
pub struct SiteAggregate {
    #[diesel(sql_type = Integer)]
    pub county_id: i32,
    #[diesel(sql_type = Text)]
    pub kind: SiteKind,
    #[diesel(sql_type = BigInt)]
    pub planned: i64,
    #[diesel(sql_type = BigInt)]
    pub completed: i64,
    #[diesel(sql_type = BigInt)]
    pub premises: i64,
    #[diesel(sql_type = BigInt)]
    pub full: i64,
    #[diesel(sql_type = BigInt)]
    pub basic: i64,
    #[diesel(sql_type = BigInt)]
    pub incomplete: i64,
}

/// The aggregate over every site, a province's or a city's, with the equipment thresholds
/// taken from the one rule ([`crate::domain::site::equipment_level`]): `{full}` and `{basic}`
/// are its item counts; `{sites_in_scope}` and `{checks_in_scope}` the scope's filters, each a
/// plain `IN` (never `$2 IS NULL OR …`, which PostgreSQL cannot turn into a join: a city's
/// table then scanned every site and check).
fn site_aggregate_sql(counties: Option<&str>) -> String {
    let filter = |template: &str| match counties {
        Some(c) => template.replace("{counties}", c),
        None => String::new(),
    };
    SITE_AGGREGATE_TEMPLATE
        .replace("{full}", &FULL_FROM_ITEMS.to_string())
        .replace("{basic}", &BASIC_FROM_ITEMS.to_string())
        .replace("{sites_in_scope}", &filter(SITES_IN_SCOPE))
        .replace("{checks_in_scope}", &filter(CHECKS_IN_SCOPE))
}

static SITE_AGGREGATE_SQL: LazyLock<[String; 3]> = LazyLock::new(|| {
    let of = |column: &str| COUNTIES_WHERE.replace("{column}", column);
    [
        site_aggregate_sql(None),
        site_aggregate_sql(Some(&of("province_id"))),
        site_aggregate_sql(Some(&of("city_id"))),
    ]
});

/// A province's or a city's county-level rows: `{column}` is `province_id` or `city_id`, `$2`
/// its id.
const COUNTIES_WHERE: &str = "SELECT id FROM counties WHERE {column} = CAST($2 AS INTEGER)";
/// The scope's sites: `{counties}` its county-level rows.
const SITES_IN_SCOPE: &str = "AND s.county_id IN ({counties})";
/// And their checks, so the grouped pass reads only theirs.
const CHECKS_IN_SCOPE: &str =
    "AND site_id IN (SELECT id FROM sites WHERE county_id IN ({counties}))";

/// A fact counts when its own date is on or before the day (DOMAIN.md). The equipment of a
/// site is its latest check on or before the day (one per site and date, by constraint), found
/// by one grouped pass over the checks rather than a lookup per site (three times faster at
/// national scale); with premises but no check it is incomplete. The same SQL runs on both
/// backends.
const SITE_AGGREGATE_TEMPLATE: &str = "
SELECT s.county_id AS county_id,
       s.kind AS kind,
       COUNT(*) AS planned,
       COALESCE(SUM(CASE WHEN s.completed_on <= $1 THEN 1 ELSE 0 END), 0) AS completed,
       COALESCE(SUM(CASE WHEN s.premises_secured_on <= $1 THEN 1 ELSE 0 END), 0) AS premises,
       COALESCE(SUM(CASE WHEN s.premises_secured_on <= $1 AND c.item_count >= {full} THEN 1 ELSE 0 END), 0) AS full,
       COALESCE(SUM(CASE WHEN s.premises_secured_on <= $1 AND c.item_count >= {basic} AND c.item_count < {full} THEN 1 ELSE 0 END), 0) AS basic,
       COALESCE(SUM(CASE WHEN s.premises_secured_on <= $1 AND (c.item_count IS NULL OR c.item_count < {basic}) THEN 1 ELSE 0 END), 0) AS incomplete
FROM sites s
LEFT JOIN (SELECT site_id, MAX(checked_on) AS checked_on FROM equipment_checks
           WHERE checked_on <= $1 {checks_in_scope}
           GROUP BY site_id) latest ON latest.site_id = s.id
LEFT JOIN equipment_checks c ON c.site_id = latest.site_id AND c.checked_on = latest.checked_on
WHERE s.planned_on <= $1
  AND (s.closed_on IS NULL OR s.closed_on > $1)
  {sites_in_scope}
GROUP BY s.county_id, s.kind
ORDER BY s.county_id, s.kind";

/// One pass over the sites of the scope, whatever its level.
pub fn site_aggregates(
    conn: &mut DbConnection,
    as_of: NaiveDate,
    scope: Scope,
) -> QueryResult<Vec<SiteAggregate>> {
    let [all, province, city] = &*SITE_AGGREGATE_SQL;
    let (sql, id) = match scope {
        Scope::All => (all.clone(), None),
        Scope::Province(p) => (province.clone(), Some(p)),
        Scope::City(c) => (city.clone(), Some(c)),
        // Row ids read from the database, written as numbers: a list of any length in one
        // statement on both backends.
        Scope::Rows(ids) => {
            let list: Vec<String> = ids.iter().map(i32::to_string).collect();
            (site_aggregate_sql(Some(&list.join(","))), None)
        }
    };
    if matches!(scope, Scope::Rows([])) {
        return Ok(Vec::new());
    }
    let query = diesel::sql_query(sql).bind::<Date, _>(as_of);
    match id {
        None => query.load(conn),
        Some(id) => query.bind::<Integer, _>(id).load(conn),
    }
}
