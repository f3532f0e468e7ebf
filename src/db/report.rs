//! The progress table's site figures: one aggregate query over all sites, grouped by county and
//! kind, so the database counts and Rust only arranges the result.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Text};

use super::counties::{self as counties_q, CountyRow};
use super::funding as funding_q;
use super::staff as staff_q;
use super::trainings as trainings_q;
use super::DbConnection;
use crate::domain::county::{CountyKind, PlanStage};
use crate::domain::funding::FundingStage;
use crate::domain::report::{
    build, Counted, CountyFacts, FundingFacts, ProgressTable, SiteFigures,
};
use crate::domain::site::SiteKind;

/// Per county and site kind, as of a date: sites planned and not closed; of them, completed and
/// with premises; and among those with premises, how many are at each equipment level.
#[derive(Debug, Clone, QueryableByName, PartialEq, Eq)]
pub struct SiteAggregate {
    #[diesel(sql_type = Integer)]
    pub county_id: i32,
    #[diesel(sql_type = Text)]
    pub kind: String,
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

/// A fact counts when its own date is on or before the day (DOMAIN.md). The equipment of a
/// site is its latest check on or before the day (one per site and date, by constraint), found
/// by one grouped pass over the checks rather than a lookup per site (three times faster at
/// national scale); with premises but no check it is incomplete. The same SQL runs on both
/// backends.
const SITE_AGGREGATE_SQL: &str = "
SELECT s.county_id AS county_id,
       s.kind AS kind,
       COUNT(*) AS planned,
       COALESCE(SUM(CASE WHEN s.completed_on <= $1 THEN 1 ELSE 0 END), 0) AS completed,
       COALESCE(SUM(CASE WHEN s.premises_secured_on <= $1 THEN 1 ELSE 0 END), 0) AS premises,
       COALESCE(SUM(CASE WHEN s.premises_secured_on <= $1 AND c.item_count = 8 THEN 1 ELSE 0 END), 0) AS full,
       COALESCE(SUM(CASE WHEN s.premises_secured_on <= $1 AND c.item_count IN (6, 7) THEN 1 ELSE 0 END), 0) AS basic,
       COALESCE(SUM(CASE WHEN s.premises_secured_on <= $1 AND (c.item_count IS NULL OR c.item_count < 6) THEN 1 ELSE 0 END), 0) AS incomplete
FROM sites s
LEFT JOIN (SELECT site_id, MAX(checked_on) AS checked_on FROM equipment_checks
           WHERE checked_on <= $1 GROUP BY site_id) latest ON latest.site_id = s.id
LEFT JOIN equipment_checks c ON c.site_id = latest.site_id AND c.checked_on = latest.checked_on
WHERE s.planned_on <= $1
  AND (s.closed_on IS NULL OR s.closed_on > $1)
GROUP BY s.county_id, s.kind
ORDER BY s.county_id, s.kind";

pub fn site_aggregates(
    conn: &mut DbConnection,
    as_of: NaiveDate,
) -> QueryResult<Vec<SiteAggregate>> {
    diesel::sql_query(SITE_AGGREGATE_SQL)
        .bind::<Date, _>(as_of)
        .load(conn)
}

/// The whole table as of a date: a handful of queries (counties, plan statuses, site
/// aggregates, staff in post, funding, trainings), none per county.
pub fn progress_table(
    conn: &mut DbConnection,
    as_of: NaiveDate,
    fiscal_year: i32,
) -> Result<ProgressTable, crate::error::ApiError> {
    use crate::error::ApiError;
    let stored = |e: String| ApiError::internal(format!("stored value: {e}"));
    let counties: Vec<CountyRow> = super::schema::counties::table.load(conn)?;
    let plans = counties_q::plan_status_as_of(conn, None, as_of)?;
    let sites = site_aggregates(conn, as_of)?;
    let staff = staff_q::in_post_by_county_and_kind(conn, as_of)?;
    let funding = funding_q::funding_as_of(conn, fiscal_year, as_of)?;
    let trainings = trainings_q::trainings_held_by(conn, as_of)?;

    // Indexed by county, so arranging 3,000 counties is linear.
    let sites: HashMap<(i32, &str), &SiteAggregate> = sites
        .iter()
        .map(|a| ((a.county_id, a.kind.as_str()), a))
        .collect();
    let staff: HashMap<(i32, &str), i64> = staff
        .iter()
        .map(|(c, k, n)| ((*c, k.as_str()), *n))
        .collect();
    let plans: HashMap<i32, &counties_q::PlanChangeRow> =
        plans.iter().map(|p| (p.county_id, p)).collect();
    let funding: HashMap<i32, &funding_q::FundingAsOf> =
        funding.iter().map(|f| (f.county_id, f)).collect();
    let trainings: HashMap<i32, i64> = trainings.into_iter().collect();
    let figures = |county_id: i32, kind: &str| -> SiteFigures {
        let mut f = sites
            .get(&(county_id, kind))
            .map(|a| SiteFigures {
                planned: a.planned,
                completed: a.completed,
                premises: a.premises,
                full: a.full,
                basic: a.basic,
                incomplete: a.incomplete,
                staff: 0,
            })
            .unwrap_or_default();
        f.staff = staff.get(&(county_id, kind)).copied().unwrap_or(0);
        f
    };
    let mut counted = Vec::with_capacity(counties.len());
    for c in counties {
        let plan = match plans.get(&c.id) {
            Some(p) => Some((PlanStage::parse(&p.stage).map_err(stored)?, p.note.clone())),
            None => None,
        };
        let funding_facts = match funding.get(&c.id) {
            Some(f) => Some(FundingFacts {
                request_id: f.request_id,
                stage: FundingStage::parse(&f.stage).map_err(stored)?,
                requested_fen: f.requested_fen,
                approved_fen: f.approved_fen,
                note: f.note.clone(),
            }),
            None => None,
        };
        counted.push(Counted {
            stations: figures(c.id, SiteKind::Station.as_str()),
            points: figures(c.id, SiteKind::Point.as_str()),
            funding: funding_facts,
            trainings: trainings.get(&c.id).copied().unwrap_or(0),
            county: CountyFacts {
                county_id: c.id,
                kind: CountyKind::parse(&c.kind).map_err(stored)?,
                division_code: c.division_code,
                name: c.name,
                plan,
                coordination_on: c.coordination_established_on,
                management_on: c.management_established_on,
            },
        });
    }
    Ok(build(as_of, fiscal_year, counted))
}
