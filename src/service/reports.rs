//! The progress table (进度情况一览表) as of any date, computed from the records; published
//! snapshots of it, frozen; and the changes between two dates or two snapshots.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::now;
use crate::db::cities::{self as city_q, CityRow};
use crate::db::counties::{self as counties_q, CountyRow};
use crate::db::snapshots::{self, NewSnapshot, SnapshotRow};
use crate::db::DbConnection;
use crate::db::{funding as funding_q, report, staff as staff_q, trainings as trainings_q};
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::report::ProgressTable;
use crate::domain::report::{build, Counted, CountyFacts, FundingFacts, SiteFigures};
use crate::domain::report::{compare, CountChange, CountyChanges, RULES_VERSION};
use crate::domain::site::SiteKind;
use crate::domain::{business_date, Name, Violations};
use crate::error::ApiError;
use crate::service::{utc, Listed};
use crate::write::{Tx, NOTHING};

/// Publish the table as of a date as a frozen bulletin.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotIn {
    /// The city whose table it is; may be left out in a deployment with one city.
    pub city_id: Option<i32>,
    pub as_of: NaiveDate,
    /// Default the year of `as_of`.
    pub fiscal_year: Option<i32>,
    #[schema(example = "云浮市2021年“双百工程”社工站（点）建设进度情况一览表")]
    pub title: String,
    /// 制表单位.
    #[schema(example = "云浮市民政局")]
    pub issuing_unit: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawIn {
    /// Why it is withdrawn; kept with it.
    pub reason: String,
}

/// A published snapshot, without its table (lists).
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotSummaryOut {
    pub id: i32,
    /// The city whose table it is.
    pub city_id: Option<i32>,
    pub as_of: NaiveDate,
    pub fiscal_year: i32,
    pub title: String,
    pub issuing_unit: String,
    /// The version of the counting rules that computed it.
    pub rules_version: String,
    pub published_by: String,
    pub published_at: DateTime<Utc>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub withdrawn_by: Option<String>,
    pub withdrawal_reason: Option<String>,
}

/// A published snapshot with its frozen table.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotOut {
    #[serde(flatten)]
    pub summary: SnapshotSummaryOut,
    pub table: ProgressTable,
}

/// One end of a comparison.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeEnd {
    pub as_of: NaiveDate,
    /// The snapshot compared, when it is one.
    pub snapshot_id: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangesOut {
    pub from: ChangeEnd,
    pub to: ChangeEnd,
    pub rows: Vec<CountyChanges>,
    pub totals: Vec<CountChange>,
}

fn summary_out(row: &SnapshotRow) -> SnapshotSummaryOut {
    SnapshotSummaryOut {
        id: row.id,
        city_id: row.city_id,
        as_of: row.as_of,
        fiscal_year: row.fiscal_year,
        title: row.title.clone(),
        issuing_unit: row.issuing_unit.clone(),
        rules_version: row.rules_version.clone(),
        published_by: row.published_by.clone(),
        published_at: utc(row.published_at),
        withdrawn_at: row.withdrawn_at.map(utc),
        withdrawn_by: row.withdrawn_by.clone(),
        withdrawal_reason: row.withdrawal_reason.clone(),
    }
}

fn frozen(row: &SnapshotRow) -> Result<ProgressTable, ApiError> {
    serde_json::from_str(&row.table_json)
        .map_err(|e| ApiError::internal(format!("snapshot {}: {e}", row.id)))
}

fn check_as_of(as_of: NaiveDate, today: NaiveDate, field: &str) -> Result<(), ApiError> {
    if as_of > today {
        return Err(ApiError::invalid(
            field,
            format!("{as_of} is in the future (today is {today})"),
        ));
    }
    Ok(())
}

/// A city's table, with the city's name when it has one of its own (a city made from a county's
/// code is named by its code until renamed), for the title and issuing unit.
#[derive(Debug)]
pub struct CityTable {
    pub table: ProgressTable,
    pub city_name: Option<String>,
}

/// The city whose table is asked for: `city_id` when given; without it, the deployment's one
/// city (none in an empty deployment); with several, 422 naming `city_id`.
pub fn table_city(
    conn: &mut DbConnection,
    city_id: Option<i32>,
) -> Result<Option<CityRow>, ApiError> {
    if let Some(id) = city_id {
        return Ok(Some(city_q::find(conn, id)?.ok_or_else(|| {
            ApiError::invalid("city_id", format!("city {id} does not exist"))
        })?));
    }
    let mut cities = city_q::first(conn, 2)?;
    if cities.len() > 1 {
        return Err(ApiError::invalid(
            "city_id",
            "this deployment has several cities: say whose table (city_id)",
        ));
    }
    Ok(cities.pop())
}

fn own_name(city: &CityRow) -> Option<String> {
    (city.name != city.division_code).then(|| city.name.clone())
}

/// City `city_id`'s table (see [`table_city`]) as of `as_of` (default today) for
/// `fiscal_year` (default the year of `as_of`).
pub fn live_table(
    conn: &mut DbConnection,
    city_id: Option<i32>,
    as_of: Option<NaiveDate>,
    fiscal_year: Option<i32>,
    today: NaiveDate,
) -> Result<CityTable, ApiError> {
    let as_of = as_of.unwrap_or(today);
    if as_of > today {
        return Err(ApiError::invalid(
            "as_of",
            format!("{as_of} is in the future (today is {today}); the table counts facts that have happened"),
        ));
    }
    let fiscal_year = fiscal_year.unwrap_or_else(|| as_of.year());
    if !(2000..=2100).contains(&fiscal_year) {
        return Err(ApiError::invalid(
            "fiscal_year",
            "must be between 2000 and 2100",
        ));
    }
    let city = table_city(conn, city_id)?;
    Ok(CityTable {
        table: progress_table(conn, city.as_ref().map(|c| c.id), as_of, fiscal_year)?,
        city_name: city.as_ref().and_then(own_name),
    })
}

/// Publishes a city's table as of a date as a frozen snapshot (administrators; a city's for
/// its own).
pub fn publish(
    tx: &mut Tx<'_>,
    input: SnapshotIn,
    today: NaiveDate,
) -> Result<SnapshotOut, ApiError> {
    tx.ctx.caller.require_some_admin()?;
    let mut v = Violations::new();
    let title = v.check("title", Name::parse(&input.title, 200));
    let unit = v.check("issuing_unit", Name::parse(&input.issuing_unit, 100));
    business_date(&mut v, "as_of", Some(input.as_of), today);
    let fiscal_year = input.fiscal_year.unwrap_or_else(|| input.as_of.year());
    if !(2000..=2100).contains(&fiscal_year) {
        v.add("fiscal_year", "must be between 2000 and 2100");
    }
    v.into_result()?;
    let (Some(title), Some(unit)) = (title, unit) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    let city = table_city(tx.conn, input.city_id)?;
    let city_id = city.as_ref().map(|c| c.id);
    match city_id {
        Some(id) => tx.ctx.caller.require_city_admin_of(id)?,
        None => tx.ctx.caller.require_admin()?,
    }
    let table = progress_table(tx.conn, city_id, input.as_of, fiscal_year)?;
    let json = serde_json::to_string(&table).map_err(|e| ApiError::internal(e.to_string()))?;
    let row = snapshots::insert(
        tx.conn,
        &NewSnapshot {
            as_of: input.as_of,
            fiscal_year,
            title: title.into(),
            issuing_unit: unit.into(),
            rules_version: RULES_VERSION.into(),
            table_json: json,
            published_by: tx.ctx.caller.actor(),
            published_at: now(),
            city_id,
        },
    )?;
    let summary = summary_out(&row);
    let level = level_id(tx.conn, city_id)?;
    tx.audit(
        AuditAction::Publish,
        AuditEntity::ProgressSnapshot,
        row.id,
        level,
        NOTHING,
        Some(&summary),
    )?;
    Ok(SnapshotOut { summary, table })
}

/// The level row of a city, which its bulletins' audit events name as their county.
fn level_id(conn: &mut DbConnection, city_id: Option<i32>) -> Result<Option<i32>, ApiError> {
    match city_id {
        Some(c) => Ok(counties_q::level_of_city(conn, c)?.map(|l| l.id)),
        None => Ok(None),
    }
}

/// A page of snapshots (of city `city_id` when given), newest first; withdrawn ones only when
/// asked for.
pub fn list(
    conn: &mut DbConnection,
    city_id: Option<i32>,
    include_withdrawn: bool,
    limit: i64,
    offset: i64,
) -> Result<Listed<SnapshotSummaryOut>, ApiError> {
    let (rows, total) = snapshots::list(conn, city_id, include_withdrawn, limit, offset)?;
    Ok(Listed {
        items: rows.iter().map(summary_out).collect(),
        total,
    })
}

/// Snapshot `id` with its frozen table.
pub fn get(conn: &mut DbConnection, id: i32) -> Result<SnapshotOut, ApiError> {
    let row = snapshots::find(conn, id)?.ok_or_else(|| ApiError::not_found("snapshot", id))?;
    Ok(SnapshotOut {
        summary: summary_out(&row),
        table: frozen(&row)?,
    })
}

/// Withdraws snapshot `id` with a reason (administrators; a city's, its own); it stays
/// readable.
pub fn withdraw(
    tx: &mut Tx<'_>,
    id: i32,
    input: WithdrawIn,
) -> Result<SnapshotSummaryOut, ApiError> {
    tx.ctx.caller.require_some_admin()?;
    let reason = Name::parse(&input.reason, 500).map_err(|m| ApiError::invalid("reason", m))?;
    let before =
        snapshots::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("snapshot", id))?;
    match before.city_id {
        Some(city) => tx.ctx.caller.require_city_admin_of(city)?,
        None => tx.ctx.caller.require_admin()?,
    }
    if !snapshots::withdraw(tx.conn, id, &tx.ctx.caller.actor(), reason.as_str(), now())? {
        return Err(ApiError::Conflict(format!(
            "snapshot {id} is already withdrawn"
        )));
    }
    let row = snapshots::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("snapshot", id))?;
    let after = summary_out(&row);
    let level = level_id(tx.conn, row.city_id)?;
    tx.audit(
        AuditAction::Withdraw,
        AuditEntity::ProgressSnapshot,
        id,
        level,
        Some(&summary_out(&before)),
        Some(&after),
    )?;
    Ok(after)
}

/// What to compare: the live table on two dates, or two published snapshots.
#[derive(Debug, Clone, Copy)]
pub enum Comparison {
    Dates {
        city_id: Option<i32>,
        from: NaiveDate,
        to: Option<NaiveDate>,
        fiscal_year: Option<i32>,
    },
    Snapshots {
        from: i32,
        to: i32,
    },
}

/// Every count that changed between the two ends, per county and in total.
pub fn changes(
    conn: &mut DbConnection,
    comparison: Comparison,
    today: NaiveDate,
) -> Result<ChangesOut, ApiError> {
    let (from, to) = match comparison {
        Comparison::Snapshots { from, to } => {
            let load = |conn: &mut DbConnection, id: i32| {
                snapshots::find(conn, id)?.ok_or_else(|| ApiError::not_found("snapshot", id))
            };
            let (ra, rb) = (load(conn, from)?, load(conn, to)?);
            ((frozen(&ra)?, Some(ra.id)), (frozen(&rb)?, Some(rb.id)))
        }
        Comparison::Dates {
            city_id,
            from,
            to,
            fiscal_year,
        } => {
            let to = to.unwrap_or(today);
            check_as_of(from, today, "from")?;
            check_as_of(to, today, "to")?;
            if from > to {
                return Err(ApiError::invalid("from", "must be on or before to"));
            }
            let city = table_city(conn, city_id)?.map(|c| c.id);
            let a = progress_table(conn, city, from, fiscal_year.unwrap_or_else(|| from.year()))?;
            let b = progress_table(conn, city, to, fiscal_year.unwrap_or_else(|| to.year()))?;
            ((a, None), (b, None))
        }
    };
    let (rows, totals) = compare(&from.0, &to.0);
    Ok(ChangesOut {
        from: ChangeEnd {
            as_of: from.0.as_of,
            snapshot_id: from.1,
        },
        to: ChangeEnd {
            as_of: to.0.as_of,
            snapshot_id: to.1,
        },
        rows,
        totals,
    })
}

/// City `city_id`'s table as of a date (a row per county, its city level last, and the
/// totals; none in a deployment without cities): a handful of queries (counties, plan
/// statuses, site aggregates, staff in post, funding, trainings), none per county.
pub fn progress_table(
    conn: &mut DbConnection,
    city_id: Option<i32>,
    as_of: NaiveDate,
    fiscal_year: i32,
) -> Result<ProgressTable, ApiError> {
    let Some(city) = city_id else {
        return Ok(build(as_of, fiscal_year, Vec::new()));
    };
    // Every figure is counted for the city's own counties only.
    let counties: Vec<CountyRow> = counties_q::of_city(conn, city)?;
    let ids: Vec<i32> = counties.iter().map(|c| c.id).collect();
    let plans = counties_q::plan_status_as_of(conn, Some(&ids), as_of)?;
    let sites = report::site_aggregates(conn, as_of, city_id)?;
    let staff = staff_q::in_post_by_county_and_kind(conn, as_of, city_id)?;
    let funding = funding_q::funding_as_of(conn, fiscal_year, as_of, city_id)?;
    let trainings = trainings_q::trainings_held_by(conn, as_of, city_id)?;

    // Indexed by county, so arranging 3,000 counties is linear.
    let sites: HashMap<(i32, SiteKind), &report::SiteAggregate> =
        sites.iter().map(|a| ((a.county_id, a.kind), a)).collect();
    let staff: HashMap<(i32, SiteKind), i64> =
        staff.into_iter().map(|(c, k, n)| ((c, k), n)).collect();
    let plans: HashMap<i32, &counties_q::PlanChangeRow> =
        plans.iter().map(|p| (p.county_id, p)).collect();
    let funding: HashMap<i32, &funding_q::FundingAsOf> =
        funding.iter().map(|f| (f.county_id, f)).collect();
    let trainings: HashMap<i32, i64> = trainings.into_iter().collect();
    let figures = |county_id: i32, kind: SiteKind| -> SiteFigures {
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
        let plan = plans.get(&c.id).map(|p| (p.stage, p.note.clone()));
        let funding_facts = funding.get(&c.id).map(|f| FundingFacts {
            request_id: f.request_id,
            stage: f.stage,
            requested_fen: f.requested_fen,
            approved_fen: f.approved_fen,
            note: f.note.clone(),
        });
        counted.push(Counted {
            stations: figures(c.id, SiteKind::Station),
            points: figures(c.id, SiteKind::Point),
            funding: funding_facts,
            trainings: trainings.get(&c.id).copied().unwrap_or(0),
            county: CountyFacts {
                county_id: c.id,
                kind: c.kind,
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
