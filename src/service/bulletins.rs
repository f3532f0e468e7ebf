//! Bulletins (frozen progress tables): their views and the one place they are stored, whether
//! published directly (`service::reports`) or from a reporting round (`service::rounds`). It
//! imports neither, so both may use it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::now;
use crate::db::counties as counties_q;
use crate::db::snapshots::{self, NewSnapshot, SnapshotRow};
use crate::db::DbConnection;
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::report::{ProgressTable, TableLevel, RULES_VERSION};
use crate::domain::round::ParticipantRef;
use crate::error::ApiError;
use crate::service::utc;
use crate::write::{Tx, NOTHING};

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

pub fn summary_out(row: &SnapshotRow) -> Result<SnapshotSummaryOut, ApiError> {
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

/// The level row of a city or a province, which its bulletins' audit events name as their
/// county (the nation's name none).
pub fn level_id(
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
