//! The progress table (进度情况一览表) as of any date, computed from the records; published
//! snapshots of it, frozen; and the changes between two dates or two snapshots.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::now;
use crate::db::counties as counties_q;
use crate::db::snapshots::{self, NewSnapshot, SnapshotFilter, SnapshotRow};
use crate::db::DbConnection;
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::report::{compare, CountChange, CountyChanges, DivisionChanges, RULES_VERSION};
use crate::domain::report::{ProgressTable, RowsBy, TableLevel, TableOf};
use crate::domain::round::ParticipantRef;
use crate::domain::{business_date, Name, Violations};
use crate::error::ApiError;
use crate::service::rounds;
use crate::service::tables::{place, progress_table, read_table, Keeper};
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
    /// The reporting round it was published from, if any.
    pub round_id: Option<i32>,
    /// Why a round's bulletin was published before every participant's figures were accepted.
    pub forced_reason: Option<String>,
    /// The round's participants it shows unconfirmed (their live figures).
    pub unconfirmed: Vec<ParticipantRef>,
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

fn summary_out(row: &SnapshotRow) -> Result<SnapshotSummaryOut, ApiError> {
    let unconfirmed = match &row.unconfirmed {
        Some(json) => serde_json::from_str(json)
            .map_err(|e| ApiError::internal(format!("snapshot {}: {e}", row.id)))?,
        None => Vec::new(),
    };
    Ok(SnapshotSummaryOut {
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
        round_id: row.round_id,
        forced_reason: row.forced_reason.clone(),
        unconfirmed,
    })
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
    keeper: &Keeper,
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
        table: read_table(conn, &place, as_of, fiscal_year, keeper)?,
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
    store_bulletin(
        tx,
        Bulletin {
            table,
            title: title.into(),
            issuing_unit: unit.into(),
            round: None,
        },
    )
}

/// Where a bulletin came from when a round published it.
#[derive(Debug)]
pub struct FromRound {
    pub round_id: i32,
    /// Why it was published without every participant's sign-off.
    pub forced_reason: Option<String>,
    /// The participants whose live figures it shows, unconfirmed.
    pub unconfirmed: Vec<ParticipantRef>,
}

/// A table about to be frozen as a bulletin.
#[derive(Debug)]
pub struct Bulletin {
    pub table: ProgressTable,
    pub title: String,
    pub issuing_unit: String,
    pub round: Option<FromRound>,
}

/// Freezes a table as a bulletin and audits its publishing: the one place bulletins are stored,
/// whether published directly or from a round (whose owners the caller has been checked as).
pub fn store_bulletin(tx: &mut Tx<'_>, bulletin: Bulletin) -> Result<SnapshotOut, ApiError> {
    let Bulletin {
        table,
        title,
        issuing_unit,
        round,
    } = bulletin;
    let json = serde_json::to_string(&table).map_err(|e| ApiError::internal(e.to_string()))?;
    let unconfirmed = match &round {
        Some(r) => Some(
            serde_json::to_string(&r.unconfirmed).map_err(|e| ApiError::internal(e.to_string()))?,
        ),
        None => None,
    };
    let row = snapshots::insert(
        tx.conn,
        &NewSnapshot {
            as_of: table.as_of,
            fiscal_year: table.fiscal_year,
            title,
            issuing_unit,
            rules_version: RULES_VERSION.into(),
            table_json: json,
            published_by: tx.ctx.caller.actor(),
            published_at: now(),
            city_id: table.city_id,
            level: table.level,
            province_id: table.province_id,
            round_id: round.as_ref().map(|r| r.round_id),
            forced_reason: round.and_then(|r| r.forced_reason),
            unconfirmed,
        },
    )?;
    let summary = summary_out(&row)?;
    let level = level_id(tx.conn, row.city_id, row.province_id)?;
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
        items: rows.iter().map(summary_out).collect::<Result<_, _>>()?,
        total,
    })
}

/// Snapshot `id` with its frozen table.
pub fn get(conn: &mut DbConnection, id: i32) -> Result<SnapshotOut, ApiError> {
    let row = snapshots::find(conn, id)?.ok_or_else(|| ApiError::not_found("snapshot", id))?;
    Ok(SnapshotOut {
        summary: summary_out(&row)?,
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
    let after = summary_out(&row)?;
    let level = level_id(tx.conn, row.city_id, row.province_id)?;
    tx.audit(
        AuditAction::Withdraw,
        AuditEntity::ProgressSnapshot,
        id,
        level,
        Some(&summary_out(&before)?),
        Some(&after),
    )?;
    if let Some(round) = row.round_id {
        rounds::bulletin_withdrawn(tx, round, id, level)?;
    }
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
    keeper: &Keeper,
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
            let a = read_table(
                conn,
                &place,
                from,
                fiscal_year.unwrap_or_else(|| from.year()),
                keeper,
            )?;
            let b = read_table(
                conn,
                &place,
                to,
                fiscal_year.unwrap_or_else(|| to.year()),
                keeper,
            )?;
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
