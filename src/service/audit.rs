//! The audit trail: who changed what, when, before and after (administrators only).

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::audit::{self as q, AuditFilter, AuditRow};
use crate::db::DbConnection;
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::error::ApiError;
use crate::policy::Caller;
use crate::service::{utc, Listed};

/// One change made through the API.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventOut {
    pub id: i32,
    pub occurred_at: DateTime<Utc>,
    /// Who: `user:<username>` or `client:<client_id>`; `cli:<login>` for the command line
    /// (`shuangbai user add`, `set-password`, `deactivate`).
    #[schema(example = "user:bureau.admin")]
    pub actor: String,
    /// `create`, `update`, `delete`, or another verb (`transition`, `rotate_secret`, and from the
    /// command line `set_password`, `deactivate`).
    #[schema(value_type = String)]
    pub action: AuditAction,
    /// The kind of record: `county`, `plan_status_change`, `town`, `station`,
    /// `equipment_check`, `staff`, `posting`, `funding_request`, `training`, `user`, `client`.
    #[schema(value_type = String)]
    pub entity: AuditEntity,
    pub entity_id: i32,
    /// The county the record belongs to, when it belongs to one.
    pub county_id: Option<i32>,
    /// The `X-Request-Id` of the request that made the change.
    pub request_id: String,
    /// From the request's `X-Change-Reason` header.
    pub reason: Option<String>,
    /// The record before the change (none for a create); phone and ID numbers masked, secrets
    /// left out.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The record after the change (none for a delete), masked the same way.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

fn stored_json(raw: Option<String>) -> Result<Option<serde_json::Value>, ApiError> {
    raw.map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| ApiError::internal(format!("stored audit value: {e}")))
}

fn event_out(row: AuditRow) -> Result<AuditEventOut, ApiError> {
    Ok(AuditEventOut {
        id: row.id,
        occurred_at: utc(row.occurred_at),
        actor: row.actor,
        action: row.action,
        entity: row.entity,
        entity_id: row.entity_id,
        county_id: row.county_id,
        request_id: row.request_id,
        reason: row.reason,
        before: stored_json(row.before)?,
        after: stored_json(row.after)?,
    })
}

/// A bound of the time range as a stored (UTC) timestamp: an RFC 3339 time, or a date's start
/// in the bureau's time zone (the day after it for an inclusive `to`).
/// A page of audit events, newest first.
pub fn list(
    conn: &mut DbConnection,
    caller: &Caller,
    filter: &AuditFilter,
    limit: i64,
    offset: i64,
) -> Result<Listed<AuditEventOut>, ApiError> {
    caller.require_some_admin()?;
    // A city's administrators see their city's events only.
    let mut filter = filter.clone();
    if let Some(city) = caller.city_limit() {
        if filter.city_id.is_some_and(|c| c != city) {
            return Err(ApiError::Forbidden(format!(
                "you may read only your own city's audit events, not city {}'s",
                filter.city_id.unwrap_or_default()
            )));
        }
        filter.city_id = Some(city);
    }
    let (rows, total) = q::list(conn, &filter, limit, offset)?;
    Ok(Listed {
        items: rows
            .into_iter()
            .map(event_out)
            .collect::<Result<Vec<_>, _>>()?,
        total,
    })
}
