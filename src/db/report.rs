//! The progress table's site figures: one aggregate query over all sites, grouped by county and
//! kind, so the database counts and Rust only arranges the result.

use std::sync::LazyLock;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text};

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

/// The aggregate, with the equipment thresholds taken from the one rule
/// ([`crate::domain::site::equipment_level`]): `{full}` and `{basic}` are its item counts.
static SITE_AGGREGATE_SQL: LazyLock<String> = LazyLock::new(|| {
    SITE_AGGREGATE_TEMPLATE
        .replace("{full}", &FULL_FROM_ITEMS.to_string())
        .replace("{basic}", &BASIC_FROM_ITEMS.to_string())
});

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
           WHERE checked_on <= $1 GROUP BY site_id) latest ON latest.site_id = s.id
LEFT JOIN equipment_checks c ON c.site_id = latest.site_id AND c.checked_on = latest.checked_on
WHERE s.planned_on <= $1
  AND (s.closed_on IS NULL OR s.closed_on > $1)
  AND (CAST($2 AS INTEGER) IS NULL
       OR s.county_id IN (SELECT id FROM counties WHERE city_id = CAST($2 AS INTEGER)))
  AND (CAST($3 AS INTEGER) IS NULL
       OR s.county_id IN (SELECT id FROM counties WHERE province_id = CAST($3 AS INTEGER)))
GROUP BY s.county_id, s.kind
ORDER BY s.county_id, s.kind";

/// One pass over the sites of the scope, whatever its level.
pub fn site_aggregates(
    conn: &mut DbConnection,
    as_of: NaiveDate,
    scope: Scope,
) -> QueryResult<Vec<SiteAggregate>> {
    let (city, province) = match scope {
        Scope::All => (None, None),
        Scope::City(c) => (Some(c), None),
        Scope::Province(p) => (None, Some(p)),
    };
    diesel::sql_query(SITE_AGGREGATE_SQL.as_str())
        .bind::<Date, _>(as_of)
        .bind::<Nullable<Integer>, _>(city)
        .bind::<Nullable<Integer>, _>(province)
        .load(conn)
}
