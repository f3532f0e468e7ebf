//! The progress table (进度情况一览表) as of any date, computed from the records; published
//! snapshots of it, frozen; and the changes between two dates or two snapshots.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::now;
use crate::db::snapshots::{self, SnapshotFilter, SnapshotRow};
use crate::db::DbConnection;
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::report::{compare, CountChange, CountyChanges, DivisionChanges};
use crate::domain::report::{ProgressTable, RowsBy, TableLevel, TableOf};
use crate::domain::{self, business_date, Name, Violations};
use crate::error::ApiError;
use crate::policy;
use crate::service::bulletins::{level_id, store_bulletin, summary_out, Bulletin};
use crate::service::bulletins::{SnapshotOut, SnapshotSummaryOut};
use crate::service::rounds;
use crate::service::tables::{place, progress_table, read_table, Keeper};
use crate::service::Listed;
use crate::write::Tx;

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
    let mut v = Violations::new();
    domain::fiscal_year(&mut v, fiscal_year);
    v.into_result()?;
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
    domain::fiscal_year(&mut v, fiscal_year);
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

/// Who publishes and withdraws a table's bulletins: a city's, its city administrators and
/// administrators; a province's or the nation's, administrators only.
fn may_publish(tx: &Tx<'_>, of: &TableOf) -> Result<(), ApiError> {
    let city = of.city_id.filter(|_| of.level == TableLevel::City);
    policy::administers_level(&tx.ctx.caller, city)
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
