//! `/api/v1/audit-events`: who changed what, when, before and after (administrators only).

use std::hash::{Hash, Hasher};

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db::audit::AuditFilter;
use crate::db::{self};
use crate::error::{ApiError, Problem};
use crate::policy::Admin;
use crate::routes::common::Tagged;
use crate::routes::common::{Page, Paging};
use crate::routes::responses::*;
use crate::service::audit::{self, AuditEventOut};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditListQuery {
    /// The kind of record, e.g. `town`.
    pub entity: Option<String>,
    /// The record's id (with `entity`).
    pub entity_id: Option<i32>,
    pub county_id: Option<i32>,
    /// Events of this city's counties and city level.
    pub city_id: Option<i32>,
    /// `user:<username>` or `client:<client_id>`.
    pub actor: Option<String>,
    /// From this time (RFC 3339, inclusive) or date (its start in the bureau's time zone).
    #[param(schema_with = time_or_date)]
    pub from: Option<String>,
    /// Before this time (RFC 3339, exclusive) or up to this date (inclusive, the bureau's time
    /// zone).
    #[param(schema_with = time_or_date)]
    pub to: Option<String>,
}

/// `from` and `to` take a timestamp or a date: both are declared, so generated clients accept
/// either.
fn time_or_date() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let of = |format| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
    };
    AnyOfBuilder::new()
        .item(of(KnownFormat::DateTime))
        .item(of(KnownFormat::Date))
        .build()
        .into()
}

fn time_bound(
    field: &str,
    raw: &str,
    tz: chrono_tz::Tz,
    end_of_day: bool,
) -> Result<NaiveDateTime, ApiError> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc).naive_utc());
    }
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
        ApiError::invalid(
            field,
            "must be an RFC 3339 time (2026-11-28T08:00:00Z) or a date (2026-11-28)",
        )
    })?;
    let date = match end_of_day {
        true => date
            .succ_opt()
            .ok_or_else(|| ApiError::invalid(field, "is out of range"))?,
        false => date,
    };
    tz.from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc).naive_utc())
        .ok_or_else(|| ApiError::invalid(field, "is not a time in the bureau's time zone"))
}
/// The list's ETag: an audit event never changes.
impl Tagged for AuditEventOut {
    fn tag<H: Hasher>(&self, into: &mut H) {
        self.id.hash(into);
    }
}

#[utoipa::path(
    tag = "audit",
    params(AuditListQuery, Paging),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of changes, newest first", body = Page<AuditEventOut>),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 422, description = "A filter or paging value is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/audit-events")]
pub async fn list_audit_events(
    req: HttpRequest,
    state: web::Data<AppState>,
    Admin(caller): Admin,
    query: web::Query<AuditListQuery>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let tz = state.settings.time_zone;
    let query = query.into_inner();
    let filter = AuditFilter {
        entity: query.entity.filter(|e| !e.trim().is_empty()),
        entity_id: query.entity_id,
        county_id: query.county_id,
        city_id: query.city_id,
        actor: query.actor.filter(|a| !a.trim().is_empty()),
        from: query
            .from
            .as_deref()
            .map(|f| time_bound("from", f, tz, false))
            .transpose()?,
        to: query
            .to
            .as_deref()
            .map(|t| time_bound("to", t, tz, true))
            .transpose()?,
    };
    let listed = db::run(&state.pool, move |conn| {
        audit::list(conn, &caller, &filter, limit, offset)
    })
    .await?;
    Page::of(listed, limit, offset).respond(&req)
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_audit_events);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bounds_take_rfc3339_or_dates_in_the_bureaus_zone() {
        let tz = chrono_tz::Asia::Shanghai;
        let t = time_bound("from", "2026-11-28T08:00:00Z", tz, false).expect("valid");
        assert_eq!(t.to_string(), "2026-11-28 08:00:00");
        let d = time_bound("from", "2026-11-28", tz, false).expect("valid");
        assert_eq!(d.to_string(), "2026-11-27 16:00:00");
        let e = time_bound("to", "2026-11-28", tz, true).expect("valid");
        assert_eq!(e.to_string(), "2026-11-28 16:00:00");
        assert!(time_bound("to", "yesterday", tz, true).is_err());
    }
}
