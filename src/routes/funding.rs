//! `/api/v1/funding-requests`: a county's requests for funding (落实经费情况), moved through their
//! stages only by dated transitions, every one kept. Money is integer fen (分) everywhere.

use std::hash::{Hash, Hasher};

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db;
use crate::db::funding::{FundingFilter, FundingSort};
use crate::domain::funding::FundingStage;
use crate::error::{ApiError, Problem};
use crate::policy::Caller;
use crate::routes::common::Tagged;
use crate::routes::common::{
    created_versioned, etag, expected_version, ok_versioned, parse_sort, Json, Page, Paging,
};
use crate::routes::responses::*;
use crate::service::funding::{
    self, FundingRequestIn, FundingRequestOut, FundingRequestPatch, FundingTransitionIn,
    FundingTransitionOut,
};
use crate::state::AppState;
use crate::write::{write, write_then, WriteCtx};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FundingListQuery {
    pub county_id: Option<i32>,
    /// Only this city's.
    pub city_id: Option<i32>,
    pub fiscal_year: Option<i32>,
    pub status: Option<FundingStage>,
    /// Comma-separated fields, `-` for descending: `id`, `fiscal_year`, `county_id`, `created_at`.
    #[param(
        pattern = r"^-?(id|fiscal_year|county_id|created_at)(,-?(id|fiscal_year|county_id|created_at))*$"
    )]
    pub sort: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct FundingPath {
    /// The funding request's id.
    pub id: i32,
}
/// The list's ETag: the actions shown are this caller's.
impl Tagged for FundingRequestOut {
    fn tag<H: Hasher>(&self, into: &mut H) {
        (
            self.id,
            self.version,
            self.updated_at,
            &self.allowed_actions,
        )
            .hash(into);
    }
}

#[utoipa::path(
    tag = "funding",
    params(FundingListQuery, Paging),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 200, description = "A page of funding requests", body = Page<FundingRequestOut>),
        (status = 400, response = BadRequest),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/funding-requests")]
pub async fn list_funding_requests(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<FundingListQuery>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let sort = parse_sort(
        query.sort.as_deref(),
        &[
            ("id", FundingSort::Id),
            ("fiscal_year", FundingSort::FiscalYear),
            ("county_id", FundingSort::CountyId),
            ("created_at", FundingSort::CreatedAt),
        ],
    )?;
    let filter = FundingFilter {
        county_id: query.county_id,
        city_id: query.city_id,
        fiscal_year: query.fiscal_year,
        status: query.status,
    };
    let listed = db::run(&state.pool, move |conn| {
        funding::list(conn, &filter, &sort, limit, offset)
    })
    .await?;
    Page::of(listed, limit, offset).respond(&req)
}

#[utoipa::path(
    tag = "funding",
    params(IdempotencyKey),
    request_body = FundingRequestIn,
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 201, description = "Created, `estimating`, with its first transition", body = FundingRequestOut, headers(("Location" = String), ("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 409, description = "The ref is taken within the county", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "A rule is broken (unknown county, an amount below 0 or above 100000000000 fen, a date in the future)", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/funding-requests")]
pub async fn create_funding_request(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    body: Json<FundingRequestIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let today = state.today();
    write_then(
        &state.pool,
        ctx,
        move |tx| funding::create(tx, input, today),
        move |out| {
            let location = format!("/api/v1/funding-requests/{}", out.id);
            Ok(created_versioned(&out, location, out.version))
        },
    )
    .await
}

#[utoipa::path(
    tag = "funding",
    params(FundingPath),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 200, description = "The funding request", body = FundingRequestOut, headers(("ETag" = String))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such funding request", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/funding-requests/{id}")]
pub async fn get_funding_request(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<FundingPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let out = db::run(&state.pool, move |conn| funding::get(conn, id)).await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "funding",
    params(FundingPath, IfMatch),
    request_body = FundingRequestPatch,
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 200, description = "Updated", body = FundingRequestOut, headers(("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such funding request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request is past consulting: it no longer changes", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "A rule is broken (an amount out of range; `status` is not a field: stages change through transitions)", body = Problem, content_type = "application/problem+json"),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[patch("/funding-requests/{id}")]
pub async fn update_funding_request(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<FundingPath>,
    body: Json<FundingRequestPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    let patch = body.0;
    let out = write(&state.pool, ctx, move |tx| {
        funding::update(tx, id, expected, patch)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "funding",
    params(FundingPath, IfMatch),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 204, description = "Deleted, with its history"),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such funding request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request is past consulting: withdraw it instead", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[delete("/funding-requests/{id}")]
pub async fn delete_funding_request(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<FundingPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    write(&state.pool, ctx, move |tx| {
        funding::delete(tx, id, expected)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    tag = "funding",
    params(FundingPath),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 200, description = "Every stage change, oldest first (by effective date, then as recorded)", body = Vec<FundingTransitionOut>),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such funding request", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/funding-requests/{id}/transitions")]
pub async fn list_funding_transitions(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<FundingPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let items = db::run(&state.pool, move |conn| funding::transitions(conn, id)).await?;
    Ok(HttpResponse::Ok().json(items))
}

#[utoipa::path(
    tag = "funding",
    params(FundingPath, ("If-Match" = Option<String>, Header, description = "Optional: the request's ETag last read; when sent, a stale one is 412"), IdempotencyKey),
    request_body = FundingTransitionIn,
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, description = "Outside the caller's rights (approve, reject and return are for administrators)", body = Problem, content_type = "application/problem+json"),
        (status = 201, description = "Recorded; the request moved to the new stage and its version went up", body = FundingTransitionOut, headers(("Location" = String), ("ETag" = String, description = "The request's new ETag"))),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such funding request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The current stage does not allow the action: the detail names the stage and the allowed actions", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match sent and stale", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "A rule is broken (a date in the future or before the previous change, an amount out of range, an amount the action does not take)", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/funding-requests/{id}/transitions")]
pub async fn create_funding_transition(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<FundingPath>,
    body: Json<FundingTransitionIn>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = match req.headers().contains_key(header::IF_MATCH) {
        true => Some(expected_version(&req)?),
        false => None,
    };
    let input = body.0;
    let today = state.today();
    write_then(
        &state.pool,
        ctx,
        move |tx| funding::create_transition(tx, id, input, expected, today),
        move |(out, version)| {
            Ok(HttpResponse::Created()
                .insert_header((
                    header::LOCATION,
                    format!("/api/v1/funding-requests/{id}/transitions"),
                ))
                .insert_header((header::ETAG, etag(version)))
                .json(out))
        },
    )
    .await
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_funding_requests)
        .service(create_funding_request)
        .service(get_funding_request)
        .service(update_funding_request)
        .service(delete_funding_request)
        .service(list_funding_transitions)
        .service(create_funding_transition);
}
