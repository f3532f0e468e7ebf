//! `/api/v1/counties`: counties and the city level, with their plan-status history.

use std::hash::{Hash, Hasher};

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db::counties::{CountyFilter, CountySort};
use crate::db::{self};
use crate::domain::county::CountyKind;
use crate::error::{ApiError, Problem};
use crate::policy::Caller;
use crate::routes::common::Tagged;
use crate::routes::common::{
    created_versioned, expected_version, ok_versioned, parse_q, parse_sort, Json, Page, Paging,
};
use crate::routes::responses::*;
use crate::service::counties::{
    self, CountyIn, CountyOut, CountyPatch, PlanChangeIn, PlanChangeOut,
};
use crate::state::AppState;
use crate::write::{write, write_then, AdminWrite, WriteCtx};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CountyListQuery {
    /// Rows of this city (its counties and its city level).
    pub city_id: Option<i32>,
    /// Rows of this province (its cities' rows and its own level).
    pub province_id: Option<i32>,
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
/// The list's ETag: its plan status is as of the date.
impl Tagged for CountyOut {
    fn tag<H: Hasher>(&self, into: &mut H) {
        (
            self.id,
            self.version,
            self.updated_at,
            self.plan_status.stage,
            self.plan_status.effective_on,
            &self.plan_status.note,
        )
            .hash(into);
    }
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
    req: HttpRequest,
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
        city_id: query.city_id,
        province_id: query.province_id,
        kind: query.kind,
        division_code: query.division_code.clone(),
        q: parse_q(query.q.as_deref())?,
    };
    let as_of = query.as_of.unwrap_or_else(|| state.today());
    let listed = db::run(&state.pool, move |conn| {
        counties::list(conn, &filter, &sort, limit, offset, as_of)
    })
    .await?;
    Page::of(listed, limit, offset).respond(&req)
}

#[utoipa::path(
    tag = "counties",
    params(IdempotencyKey),
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
    AdminWrite(ctx): AdminWrite,
    body: Json<CountyIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let today = state.today();
    write_then(
        &state.pool,
        ctx,
        move |tx| counties::create(tx, input, today),
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
    let out = db::run(&state.pool, move |conn| counties::load_out(conn, id, as_of)).await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "counties",
    params(CountyPath, IfMatch),
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
    let out = write(&state.pool, ctx, move |tx| {
        counties::update(tx, id, expected, patch, today)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "counties",
    params(CountyPath, IfMatch),
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
    AdminWrite(ctx): AdminWrite,
    req: HttpRequest,
    path: web::Path<CountyPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    let today = state.today();
    write(&state.pool, ctx, move |tx| {
        counties::delete(tx, id, expected, today)
    })
    .await?;
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
    let items = db::run(&state.pool, move |conn| counties::plan_changes(conn, id)).await?;
    Ok(HttpResponse::Ok().json(items))
}

#[utoipa::path(
    tag = "counties",
    params(CountyPath, IdempotencyKey),
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
    let today = state.today();
    write_then(
        &state.pool,
        ctx,
        move |tx| counties::create_plan_change(tx, id, change, today),
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
