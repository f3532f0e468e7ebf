//! `/api/v1/counties`: counties and the city level, with their plan-status history.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::counties::{
    self as q, CountyChanges, CountyFilter, CountyRow, CountySort, NewCounty, NewPlanChange,
    PlanChangeRow,
};
use crate::db::{self};
use crate::domain::county::{parse_note, plan_cell, CountyKind, DivisionCode, PlanStage};
use crate::domain::{business_date, parse_name, Violations};
use crate::error::{ApiError, Problem};
use crate::policy::{Caller, CountyScope};
use crate::routes::common::{
    created_versioned, double_option, expected_version, now, ok_versioned, parse_q, parse_sort,
    utc, Json, Page, Paging,
};
use crate::routes::responses::*;
use crate::state::AppState;
use crate::write::{write, write_then, Tx, WriteCtx, NOTHING};

const NAME_MAX: usize = 50;

/// A new county or the city level.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountyIn {
    /// GB/T 2260 six-digit code; the city level's ends in `00`.
    #[schema(example = "445302", pattern = "^[0-9]{6}$")]
    pub division_code: String,
    #[schema(example = "云城区", min_length = 1, max_length = 50)]
    pub name: String,
    pub kind: CountyKind,
    /// The first plan status, if there is one yet.
    pub plan_status: Option<PlanChangeIn>,
    /// When the work-coordination mechanism (工作协调机制) was set up.
    pub coordination_established_on: Option<NaiveDate>,
    /// When the site-management mechanism (站点管理机制) was set up.
    pub management_established_on: Option<NaiveDate>,
}

/// Changes to a county; absent fields stay as they are, `null` clears a date.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountyPatch {
    pub division_code: Option<String>,
    pub name: Option<String>,
    pub kind: Option<CountyKind>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub coordination_established_on: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub management_established_on: Option<Option<NaiveDate>>,
}

/// A county as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountyOut {
    pub id: i32,
    pub division_code: String,
    pub name: String,
    pub kind: CountyKind,
    /// The Chinese label of `kind`.
    pub kind_label: String,
    /// The plan status in force on the date asked for (today by default).
    pub plan_status: PlanStatusOut,
    pub coordination_established_on: Option<NaiveDate>,
    pub management_established_on: Option<NaiveDate>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The plan status on a date: `not_started` with no `effective_on` until a change is recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanStatusOut {
    pub stage: PlanStage,
    pub effective_on: Option<NaiveDate>,
    pub note: Option<String>,
    /// What the table prints: the note, or else the stage's Chinese label (e.g. 已出台).
    pub label: String,
}

/// A dated change of the plan status.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanChangeIn {
    pub stage: PlanStage,
    /// The business date the change took effect; not after today.
    pub effective_on: NaiveDate,
    /// As the county wrote it, e.g. 区政府已同意，正在会签.
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanChangeOut {
    pub id: i32,
    pub county_id: i32,
    pub stage: PlanStage,
    pub effective_on: NaiveDate,
    pub note: Option<String>,
    pub label: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CountyListQuery {
    pub kind: Option<CountyKind>,
    pub division_code: Option<String>,
    /// Text search on names.
    pub q: Option<String>,
    /// Comma-separated fields, `-` for descending: `id`, `name`, `division_code`, `kind`, `created_at`.
    #[param(
        pattern = r"^-?(id|name|division_code|kind|created_at)(,-?(id|name|division_code|kind|created_at))*$"
    )]
    pub sort: Option<String>,
    /// The date the plan status is shown as of; default today.
    pub as_of: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOfQuery {
    /// The date the plan status is shown as of; default today (the bureau's time zone).
    pub as_of: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CountyPath {
    /// The county's id.
    pub id: i32,
}

/// What permissions need to know about a county.
pub fn county_scope(row: &CountyRow) -> CountyScope {
    CountyScope {
        county_id: row.id,
        is_city_level: row.kind == CountyKind::CityLevel.as_str(),
    }
}

fn parse_stage(raw: &str) -> Result<PlanStage, ApiError> {
    PlanStage::parse(raw).map_err(|e| ApiError::internal(format!("stored stage: {e}")))
}

fn plan_status_out(change: Option<&PlanChangeRow>) -> Result<PlanStatusOut, ApiError> {
    Ok(match change {
        None => PlanStatusOut {
            stage: PlanStage::NotStarted,
            effective_on: None,
            note: None,
            label: PlanStage::NotStarted.label().to_string(),
        },
        Some(c) => {
            let stage = parse_stage(&c.stage)?;
            PlanStatusOut {
                stage,
                effective_on: Some(c.effective_on),
                note: c.note.clone(),
                label: plan_cell(stage, c.note.as_deref()),
            }
        }
    })
}

fn county_out(row: CountyRow, plan: Option<&PlanChangeRow>) -> Result<CountyOut, ApiError> {
    let kind = CountyKind::parse(&row.kind)
        .map_err(|e| ApiError::internal(format!("stored kind: {e}")))?;
    Ok(CountyOut {
        id: row.id,
        division_code: row.division_code,
        name: row.name,
        kind,
        kind_label: kind.label().to_string(),
        plan_status: plan_status_out(plan)?,
        coordination_established_on: row.coordination_established_on,
        management_established_on: row.management_established_on,
        version: row.version,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    })
}

fn plan_change_out(row: PlanChangeRow) -> Result<PlanChangeOut, ApiError> {
    let stage = parse_stage(&row.stage)?;
    Ok(PlanChangeOut {
        label: plan_cell(stage, row.note.as_deref()),
        id: row.id,
        county_id: row.county_id,
        stage,
        effective_on: row.effective_on,
        note: row.note,
        created_at: utc(row.created_at),
    })
}

/// Loads a county with its plan status as of `as_of`.
pub fn load_out(
    conn: &mut db::DbConnection,
    id: i32,
    as_of: NaiveDate,
) -> Result<CountyOut, ApiError> {
    let row = q::find(conn, id)?.ok_or_else(|| ApiError::not_found("county", id))?;
    let plan = q::plan_status_as_of(conn, Some(&[id]), as_of)?;
    county_out(row, plan.first())
}

pub fn check_plan_change(
    v: &mut Violations,
    prefix: &str,
    change: &PlanChangeIn,
    today: NaiveDate,
) {
    business_date(
        v,
        &format!("{prefix}effective_on"),
        Some(change.effective_on),
        today,
    );
    v.check(&format!("{prefix}note"), parse_note(change.note.as_deref()));
}

/// Appends a checked plan-status change to county `id`, bumps the county's version (its shown
/// status may change: its ETag must too) and audits it.
pub fn record_plan_change(
    tx: &mut Tx<'_>,
    id: i32,
    change: &PlanChangeIn,
) -> Result<PlanChangeOut, ApiError> {
    let at = now();
    let row = q::insert_plan_change(
        tx.conn,
        &NewPlanChange {
            county_id: id,
            stage: change.stage.as_str().to_string(),
            effective_on: change.effective_on,
            note: parse_note(change.note.as_deref()).unwrap_or_default(),
            created_at: at,
        },
    )?;
    q::bump_version(tx.conn, id, at)?;
    let out = plan_change_out(row)?;
    tx.audit(
        "create",
        "plan_status_change",
        out.id,
        Some(id),
        NOTHING,
        Some(&out),
    )?;
    Ok(out)
}

#[utoipa::path(
    tag = "counties",
    params(CountyListQuery, Paging),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 200, description = "A page of counties", body = Page<CountyOut>),
        (status = 400, response = BadRequest),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/counties")]
pub async fn list_counties(
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<CountyListQuery>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let sort = parse_sort(
        query.sort.as_deref(),
        &[
            ("id", CountySort::Id),
            ("name", CountySort::Name),
            ("division_code", CountySort::DivisionCode),
            ("kind", CountySort::Kind),
            ("created_at", CountySort::CreatedAt),
        ],
    )?;
    let filter = CountyFilter {
        kind: query.kind.map(|k| k.as_str().to_string()),
        division_code: query.division_code.clone(),
        q: parse_q(query.q.as_deref())?,
    };
    let as_of = query.as_of.unwrap_or_else(|| state.today());
    let page = db::run(&state.pool, move |conn| {
        let (rows, total) = q::list(conn, &filter, &sort, limit, offset)?;
        let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
        let plans = q::plan_status_as_of(conn, Some(&ids), as_of)?;
        let items = rows
            .into_iter()
            .map(|row| {
                let plan = plans.iter().find(|p| p.county_id == row.id);
                county_out(row, plan)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            total,
            limit,
            offset,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "counties",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: the same key (1 to 255 visible ASCII characters, scoped to the caller and the path) with the same body replays the first response with `Idempotent-Replayed: true`; with another body it is 422; a retry racing the first waits for it, then replays its answer. Keys expire after 24 hours.")),
    request_body = CountyIn,
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 201, description = "Created", body = CountyOut, headers(("Location" = String), ("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 409, description = "The division code (or the city level) already exists", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/counties")]
pub async fn create_county(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    body: Json<CountyIn>,
) -> Result<HttpResponse, ApiError> {
    ctx.caller.require_admin()?;
    let input = body.0;
    let today = state.today();
    let mut v = Violations::new();
    let code = v.check("division_code", DivisionCode::parse(&input.division_code));
    if let Some(code) = &code {
        v.check("division_code", code.fits(input.kind));
    }
    let name = v.check("name", parse_name(&input.name, NAME_MAX));
    business_date(
        &mut v,
        "coordination_established_on",
        input.coordination_established_on,
        today,
    );
    business_date(
        &mut v,
        "management_established_on",
        input.management_established_on,
        today,
    );
    if let Some(change) = &input.plan_status {
        check_plan_change(&mut v, "/plan_status/", change, today);
    }
    v.into_result()?;
    let (Some(code), Some(name)) = (code, name) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    write_then(
        &state.pool,
        ctx,
        move |tx| {
            let at = now();
            let row = q::insert(
                tx.conn,
                &NewCounty {
                    division_code: code.as_str().to_string(),
                    name,
                    kind: input.kind.as_str().to_string(),
                    coordination_established_on: input.coordination_established_on,
                    management_established_on: input.management_established_on,
                    version: 1,
                    created_at: at,
                    updated_at: at,
                },
            )?;
            let plan = match &input.plan_status {
                Some(change) => Some(q::insert_plan_change(
                    tx.conn,
                    &NewPlanChange {
                        county_id: row.id,
                        stage: change.stage.as_str().to_string(),
                        effective_on: change.effective_on,
                        note: parse_note(change.note.as_deref()).unwrap_or_default(),
                        created_at: at,
                    },
                )?),
                None => None,
            };
            let out = county_out(row, plan.as_ref())?;
            tx.audit(
                "create",
                "county",
                out.id,
                Some(out.id),
                NOTHING,
                Some(&out),
            )?;
            Ok(out)
        },
        move |out| {
            let location = format!("/api/v1/counties/{}", out.id);
            Ok(created_versioned(&out, location, out.version))
        },
    )
    .await
}

#[utoipa::path(
    tag = "counties",
    params(CountyPath, AsOfQuery),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 200, description = "The county", body = CountyOut, headers(("ETag" = String))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such county", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/counties/{id}")]
pub async fn get_county(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<CountyPath>,
    query: web::Query<AsOfQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let as_of = query.as_of.unwrap_or_else(|| state.today());
    let out = db::run(&state.pool, move |conn| load_out(conn, id, as_of)).await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "counties",
    params(CountyPath, ("If-Match" = String, Header, description = "The ETag last read")),
    request_body = CountyPatch,
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 200, description = "Updated", body = CountyOut, headers(("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such county", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The new division code is taken, or towns forbid the new kind", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[patch("/counties/{id}")]
pub async fn update_county(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<CountyPath>,
    body: Json<CountyPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    let patch = body.0;
    let today = state.today();
    let mut v = Violations::new();
    let code = match &patch.division_code {
        Some(raw) => v.check("division_code", DivisionCode::parse(raw)),
        None => None,
    };
    let name = match &patch.name {
        Some(raw) => v.check("name", parse_name(raw, NAME_MAX)),
        None => None,
    };
    business_date(
        &mut v,
        "coordination_established_on",
        patch.coordination_established_on.flatten(),
        today,
    );
    business_date(
        &mut v,
        "management_established_on",
        patch.management_established_on.flatten(),
        today,
    );
    v.into_result()?;
    let out = write(&state.pool, ctx, move |tx| {
        let current = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("county", id))?;
        tx.ctx.caller.require_county_write(county_scope(&current))?;
        if (patch.kind.is_some() || code.is_some()) && !tx.ctx.caller.is_admin() {
            return Err(ApiError::Forbidden(
                "only administrators change a county's division code or kind".into(),
            ));
        }
        if current.version != expected {
            return Err(ApiError::PreconditionFailed);
        }
        let kind = match patch.kind {
            Some(k) => k,
            None => CountyKind::parse(&current.kind).map_err(ApiError::internal)?,
        };
        let final_code = match &code {
            Some(c) => c.clone(),
            None => DivisionCode::parse(&current.division_code).map_err(ApiError::internal)?,
        };
        let field = if code.is_some() {
            "division_code"
        } else {
            "kind"
        };
        final_code
            .fits(kind)
            .map_err(|m| ApiError::invalid(field, m))?;
        if kind == CountyKind::CityLevel && q::has_towns(tx.conn, id)? {
            return Err(ApiError::Conflict(
                "the city level has no towns; move or delete this county's towns first".into(),
            ));
        }
        let before = load_out(tx.conn, id, today)?;
        let changes = CountyChanges {
            division_code: code.map(|c| c.as_str().to_string()),
            name,
            kind: patch.kind.map(|k| k.as_str().to_string()),
            coordination_established_on: patch.coordination_established_on,
            management_established_on: patch.management_established_on,
            version: Some(current.version + 1),
            updated_at: Some(now()),
        };
        q::update(tx.conn, id, expected, &changes)?.ok_or(ApiError::PreconditionFailed)?;
        let out = load_out(tx.conn, id, today)?;
        tx.audit("update", "county", id, Some(id), Some(&before), Some(&out))?;
        Ok(out)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "counties",
    params(CountyPath, ("If-Match" = String, Header, description = "The ETag last read")),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 204, description = "Deleted, with its plan-status history"),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such county", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Towns or other records depend on it", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[delete("/counties/{id}")]
pub async fn delete_county(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<CountyPath>,
) -> Result<HttpResponse, ApiError> {
    ctx.caller.require_admin()?;
    let id = path.id;
    let expected = expected_version(&req)?;
    let today = state.today();
    write(&state.pool, ctx, move |tx| {
        let current = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("county", id))?;
        if current.version != expected {
            return Err(ApiError::PreconditionFailed);
        }
        let before = load_out(tx.conn, id, today)?;
        // The foreign keys decide (no check-then-delete race): a dependent row makes this a 409.
        if !q::delete(tx.conn, id, expected)? {
            return Err(ApiError::PreconditionFailed);
        }
        tx.audit("delete", "county", id, Some(id), Some(&before), NOTHING)
    })
    .await
    .map_err(|e| match e {
        ApiError::Conflict(_) => ApiError::Conflict(format!(
            "county {id} still has towns or other records; delete or move them first"
        )),
        other => other,
    })?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    tag = "counties",
    params(CountyPath),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 200, description = "Every plan-status change, oldest first", body = Vec<PlanChangeOut>),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such county", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/counties/{id}/plan-status-changes")]
pub async fn list_plan_changes(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<CountyPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let items = db::run(&state.pool, move |conn| {
        q::find(conn, id)?.ok_or_else(|| ApiError::not_found("county", id))?;
        q::plan_history(conn, id)?
            .into_iter()
            .map(plan_change_out)
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    Ok(HttpResponse::Ok().json(items))
}

#[utoipa::path(
    tag = "counties",
    params(CountyPath, ("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: the same key (1 to 255 visible ASCII characters, scoped to the caller and the path) with the same body replays the first response with `Idempotent-Replayed: true`; with another body it is 422; a retry racing the first waits for it, then replays its answer. Keys expire after 24 hours.")),
    request_body = PlanChangeIn,
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 201, description = "Recorded; backdated changes land in their period", body = PlanChangeOut),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such county", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 503, response = DatabaseUnavailable),
        (status = 409, description = "A request with the same Idempotency-Key is still in progress", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/counties/{id}/plan-status-changes")]
pub async fn create_plan_change(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    path: web::Path<CountyPath>,
    body: Json<PlanChangeIn>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let change = body.0;
    let mut v = Violations::new();
    check_plan_change(&mut v, "", &change, state.today());
    v.into_result()?;
    write_then(
        &state.pool,
        ctx,
        move |tx| {
            let county = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("county", id))?;
            tx.ctx.caller.require_county_write(county_scope(&county))?;
            record_plan_change(tx, id, &change)
        },
        move |out| {
            Ok(HttpResponse::Created()
                .insert_header((
                    actix_web::http::header::LOCATION,
                    format!("/api/v1/counties/{id}/plan-status-changes"),
                ))
                .json(out))
        },
    )
    .await
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_counties)
        .service(create_county)
        .service(get_county)
        .service(update_county)
        .service(delete_county)
        .service(list_plan_changes)
        .service(create_plan_change);
}
