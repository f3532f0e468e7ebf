//! The progress table (进度情况一览表) as of any date, computed from the records; published
//! snapshots of it, frozen; and the changes between two dates or two snapshots.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::now;
use crate::db::cities as city_q;
use crate::db::counties::{self as counties_q, CountyRow, Scope};
use crate::db::provinces as province_q;
use crate::db::snapshots::{self, NewSnapshot, SnapshotFilter, SnapshotRow};
use crate::db::DbConnection;
use crate::db::{funding as funding_q, report, staff as staff_q, trainings as trainings_q};
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::report::{build, Counted, CountyFacts, Division, FundingFacts, SiteFigures};
use crate::domain::report::{compare, CountChange, CountyChanges, DivisionChanges, RULES_VERSION};
use crate::domain::report::{ProgressTable, RowsBy, TableLevel, TableOf};
use crate::domain::site::SiteKind;
use crate::domain::{business_date, Name, Violations};
use crate::error::ApiError;
use crate::service::{utc, Listed};
use crate::write::{Tx, NOTHING};

/// Publish the table as of a date as a frozen bulletin.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotIn {
    /// The city whose table it is. Without `city_id` or `province_id`, the deployment's table at
    /// its highest level with more than one member (see the table).
    pub city_id: Option<i32>,
    /// The province whose table it is.
    pub province_id: Option<i32>,
    /// What each row stands for (`county`, `city`, `province`); default a row per member.
    pub by: Option<RowsBy>,
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
    /// Whose table it is: a city's, a province's or the nation's.
    pub level: TableLevel,
    /// The city whose table it is (a city's).
    pub city_id: Option<i32>,
    /// The province whose table it is (a province's).
    pub province_id: Option<i32>,
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
    /// Per county-level row.
    pub rows: Vec<CountyChanges>,
    /// Per city and province row of a province's or the nation's table.
    pub divisions: Vec<DivisionChanges>,
    pub totals: Vec<CountChange>,
}

fn summary_out(row: &SnapshotRow) -> SnapshotSummaryOut {
    SnapshotSummaryOut {
        id: row.id,
        level: row.level,
        city_id: row.city_id,
        province_id: row.province_id,
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

/// A snapshot's frozen table; one frozen before tables named their place gets its row's.
fn frozen(row: &SnapshotRow) -> Result<ProgressTable, ApiError> {
    let mut table: ProgressTable = serde_json::from_str(&row.table_json)
        .map_err(|e| ApiError::internal(format!("snapshot {}: {e}", row.id)))?;
    table.city_id = table.city_id.or(row.city_id);
    table.province_id = table.province_id.or(row.province_id);
    Ok(table)
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

/// Whose table a request asks for, and the name it is titled with.
#[derive(Debug, Clone)]
pub struct Place {
    pub of: TableOf,
    /// The city's or the province's name (none for one still named by its code); 全国 for the
    /// nation.
    pub name: Option<String>,
}

impl Place {
    fn scope(&self) -> Scope {
        match (self.of.city_id, self.of.province_id) {
            (Some(c), _) => Scope::City(c),
            (None, Some(p)) => Scope::Province(p),
            (None, None) => Scope::All,
        }
    }
}

/// A division's own name, or none while it is still named by its code.
fn own_name(name: &str, code: &str) -> Option<String> {
    (name != code).then(|| name.to_string())
}

/// The table asked for: city `city_id`'s, province `province_id`'s (not both), or without
/// either the deployment's at its highest level with more than one member (one city: that
/// city's; one province with several cities: the province's; several provinces: the nation's).
/// `by` must fit the level (422 naming `by`).
pub fn place(
    conn: &mut DbConnection,
    city_id: Option<i32>,
    province_id: Option<i32>,
    by: Option<RowsBy>,
) -> Result<Place, ApiError> {
    let city_place = |city: &city_q::CityRow| {
        (
            TableLevel::City,
            Some(city.id),
            None,
            own_name(&city.name, &city.division_code),
        )
    };
    let province_place = |p: &province_q::ProvinceRow| {
        (
            TableLevel::Province,
            None,
            Some(p.id),
            own_name(&p.name, &p.division_code),
        )
    };
    let (level, city, province, name) = match (city_id, province_id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "province_id",
                "give city_id or province_id, not both",
            ))
        }
        (Some(id), None) => city_place(
            &city_q::find(conn, id)?
                .ok_or_else(|| ApiError::invalid("city_id", format!("city {id} does not exist")))?,
        ),
        (None, Some(id)) => province_place(&province_q::find(conn, id)?.ok_or_else(|| {
            ApiError::invalid("province_id", format!("province {id} does not exist"))
        })?),
        (None, None) => match province_q::in_code_order(conn, Some(2))?.as_slice() {
            [] => (TableLevel::City, None, None, None),
            [one] => match city_q::in_code_order(conn, Some(one.id), Some(2))?.as_slice() {
                [city] => city_place(city),
                _ => province_place(one),
            },
            _ => (TableLevel::Nation, None, None, Some("全国".to_string())),
        },
    };
    let by = level.rows_by(by).map_err(|m| ApiError::invalid("by", m))?;
    Ok(Place {
        of: TableOf {
            level,
            by,
            city_id: city,
            province_id: province,
        },
        name,
    })
}

/// A table with the name it is titled with.
#[derive(Debug)]
pub struct PlacedTable {
    pub table: ProgressTable,
    pub name: Option<String>,
}

/// What a table request asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableQuery {
    pub city_id: Option<i32>,
    pub province_id: Option<i32>,
    pub by: Option<RowsBy>,
    pub as_of: Option<NaiveDate>,
    pub fiscal_year: Option<i32>,
}

/// The table `query` asks for (see [`place`]) as of `as_of` (default today) for
/// `fiscal_year` (default the year of `as_of`).
pub fn live_table(
    conn: &mut DbConnection,
    query: TableQuery,
    today: NaiveDate,
) -> Result<PlacedTable, ApiError> {
    let as_of = query.as_of.unwrap_or(today);
    if as_of > today {
        return Err(ApiError::invalid(
            "as_of",
            format!("{as_of} is in the future (today is {today}); the table counts facts that have happened"),
        ));
    }
    let fiscal_year = query.fiscal_year.unwrap_or_else(|| as_of.year());
    if !(2000..=2100).contains(&fiscal_year) {
        return Err(ApiError::invalid(
            "fiscal_year",
            "must be between 2000 and 2100",
        ));
    }
    let place = place(conn, query.city_id, query.province_id, query.by)?;
    Ok(PlacedTable {
        table: progress_table(conn, &place, as_of, fiscal_year)?,
        name: place.name,
    })
}

/// Publishes a table as of a date as a frozen snapshot: a city's by administrators and its own
/// city administrators, a province's or the nation's by administrators only.
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
    let place = place(tx.conn, input.city_id, input.province_id, input.by)?;
    may_publish(tx, &place.of)?;
    let table = progress_table(tx.conn, &place, input.as_of, fiscal_year)?;
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
            city_id: place.of.city_id,
            level: place.of.level,
            province_id: place.of.province_id,
        },
    )?;
    let summary = summary_out(&row);
    let level = level_id(tx.conn, place.of.city_id, place.of.province_id)?;
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

/// Who publishes and withdraws a table's bulletins: a city's, its city administrators and
/// administrators; a province's or the nation's, administrators only.
fn may_publish(tx: &Tx<'_>, of: &TableOf) -> Result<(), ApiError> {
    match (of.level, of.city_id) {
        (TableLevel::City, Some(city)) => tx.ctx.caller.require_city_admin_of(city),
        _ => tx.ctx.caller.require_admin(),
    }
}

/// The level row of a city or a province, which its bulletins' audit events name as their
/// county (the nation's name none).
fn level_id(
    conn: &mut DbConnection,
    city_id: Option<i32>,
    province_id: Option<i32>,
) -> Result<Option<i32>, ApiError> {
    match (city_id, province_id) {
        (Some(c), _) => Ok(counties_q::level_of_city(conn, c)?.map(|l| l.id)),
        (None, Some(p)) => Ok(counties_q::level_of_province(conn, p)?.map(|l| l.id)),
        (None, None) => Ok(None),
    }
}

/// A page of snapshots (of a city, a province or a level when asked), newest first; withdrawn
/// ones only when asked for.
pub fn list(
    conn: &mut DbConnection,
    filter: SnapshotFilter,
    limit: i64,
    offset: i64,
) -> Result<Listed<SnapshotSummaryOut>, ApiError> {
    let (rows, total) = snapshots::list(conn, filter, limit, offset)?;
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

/// Withdraws snapshot `id` with a reason (whoever may publish it); it stays readable.
pub fn withdraw(
    tx: &mut Tx<'_>,
    id: i32,
    input: WithdrawIn,
) -> Result<SnapshotSummaryOut, ApiError> {
    tx.ctx.caller.require_some_admin()?;
    let reason = Name::parse(&input.reason, 500).map_err(|m| ApiError::invalid("reason", m))?;
    let before =
        snapshots::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("snapshot", id))?;
    let of = TableOf {
        level: before.level,
        by: RowsBy::default(),
        city_id: before.city_id,
        province_id: before.province_id,
    };
    may_publish(tx, &of)?;
    if !snapshots::withdraw(tx.conn, id, &tx.ctx.caller.actor(), reason.as_str(), now())? {
        return Err(ApiError::Conflict(format!(
            "snapshot {id} is already withdrawn"
        )));
    }
    let row = snapshots::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("snapshot", id))?;
    let after = summary_out(&row);
    let level = level_id(tx.conn, row.city_id, row.province_id)?;
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
        province_id: Option<i32>,
        by: Option<RowsBy>,
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
            province_id,
            by,
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
            let place = place(conn, city_id, province_id, by)?;
            let a = progress_table(
                conn,
                &place,
                from,
                fiscal_year.unwrap_or_else(|| from.year()),
            )?;
            let b = progress_table(conn, &place, to, fiscal_year.unwrap_or_else(|| to.year()))?;
            ((a, None), (b, None))
        }
    };
    let changed = compare(&from.0, &to.0);
    Ok(ChangesOut {
        from: ChangeEnd {
            as_of: from.0.as_of,
            snapshot_id: from.1,
        },
        to: ChangeEnd {
            as_of: to.0.as_of,
            snapshot_id: to.1,
        },
        rows: changed.rows,
        divisions: changed.divisions,
        totals: changed.totals,
    })
}

/// The table of `place` as of a date: a handful of queries whatever its level (counties, plan
/// statuses, one pass over the sites, staff in post, funding, trainings, and the cities and
/// provinces it arranges them under), none per county or city; a province or the nation is
/// never computed as a table per city.
pub fn progress_table(
    conn: &mut DbConnection,
    place: &Place,
    as_of: NaiveDate,
    fiscal_year: i32,
) -> Result<ProgressTable, ApiError> {
    let of = place.of;
    if of.level == TableLevel::City && of.city_id.is_none() {
        return Ok(build(of, as_of, fiscal_year, &[], &[], Vec::new()));
    }
    // Every figure is counted for the place's own county-level rows only.
    let scope = place.scope();
    let counties: Vec<CountyRow> = counties_q::in_scope(conn, scope)?;
    let ids: Option<Vec<i32>> =
        (scope != Scope::All).then(|| counties.iter().map(|c| c.id).collect());
    let plans = counties_q::plan_status_as_of(conn, ids.as_deref(), as_of)?;
    let sites = report::site_aggregates(conn, as_of, scope)?;
    let staff = staff_q::in_post_by_county_and_kind(conn, as_of, scope)?;
    let funding = funding_q::funding_as_of(conn, fiscal_year, as_of, scope)?;
    let trainings = trainings_q::trainings_held_by(conn, as_of, scope)?;
    let division = |id, division_code, name, province_id| Division {
        id,
        division_code,
        name,
        province_id,
    };
    let cities: Vec<Division> = match of.level {
        TableLevel::City => Vec::new(),
        _ => city_q::in_code_order(conn, of.province_id, None)?
            .into_iter()
            .map(|c| division(c.id, c.division_code, c.name, Some(c.province_id)))
            .collect(),
    };
    let provinces: Vec<Division> = match of.level {
        TableLevel::Nation => province_q::in_code_order(conn, None)?
            .into_iter()
            .map(|p| division(p.id, p.division_code, p.name, None))
            .collect(),
        _ => Vec::new(),
    };

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
                city_id: c.city_id,
                province_id: c.province_id,
                plan,
                coordination_on: c.coordination_established_on,
                management_on: c.management_established_on,
            },
        });
    }
    Ok(build(of, as_of, fiscal_year, &provinces, &cities, counted))
}
