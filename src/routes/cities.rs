//! `/api/v1/cities`: cities (地级市), each with its city level (市本级) or, without counties, its one row.

use std::hash::{Hash, Hasher};

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db;
use crate::db::cities::CityFilter;
use crate::error::{ApiError, Problem};
use crate::policy::Caller;
use crate::routes::common::{
    created_versioned, expected_version, ok_versioned, Json, Page, Paging, Tagged,
};
use crate::routes::responses::*;
use crate::service::cities::{self as service, CityIn, CityOut, DivisionPatch};
use crate::state::AppState;
use crate::write::{write, write_then, WriteCtx};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CityListQuery {
    pub province_id: Option<i32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CityPath {
    /// The city's id.
    pub id: i32,
}

impl Tagged for CityOut {
    fn tag<H: Hasher>(&self, into: &mut H) {
        (self.id, self.version, self.updated_at).hash(into);
    }
}

#[utoipa::path(
    tag = "cities",
    params(CityListQuery, Paging),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 200, description = "A page of cities", body = Page<CityOut>),
        (status = 400, response = BadRequest),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/cities")]
pub async fn list_cities(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<CityListQuery>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let filter = CityFilter {
        province_id: query.province_id,
    };
    let listed = db::run(&state.pool, move |conn| {
        service::list_cities(conn, &filter, limit, offset)
    })
    .await?;
    Page::of(listed, limit, offset).respond(&req)
}

#[utoipa::path(
    tag = "cities",
    params(IdempotencyKey),
    request_body = CityIn,
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 201, description = "Created, with its level row (市本级, or the one row of a city without counties)", body = CityOut, headers(("Location" = String), ("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 409, description = "The code is taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "A code that is not a city's, or that disagrees with its province", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/cities")]
pub async fn create_city(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    body: Json<CityIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    write_then(
        &state.pool,
        ctx,
        move |tx| service::create_city(tx, input),
        move |out| {
            let location = format!("/api/v1/cities/{}", out.id);
            Ok(created_versioned(&out, location, out.version))
        },
    )
    .await
}

#[utoipa::path(
    tag = "cities",
    params(CityPath),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 200, description = "The city", body = CityOut, headers(("ETag" = String))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such city", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/cities/{id}")]
pub async fn get_city(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<CityPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let out = db::run(&state.pool, move |conn| service::get_city(conn, id)).await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "cities",
    params(CityPath, IfMatch),
    request_body = DivisionPatch,
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 200, description = "Renamed", body = CityOut, headers(("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such city", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[patch("/cities/{id}")]
pub async fn update_city(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<CityPath>,
    body: Json<DivisionPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    let patch = body.0;
    let out = write(&state.pool, ctx, move |tx| {
        service::update_city(tx, id, expected, patch)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "cities",
    params(CityPath, IfMatch),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 204, description = "Deleted, with its level row"),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such city", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It still has counties, or its level row still has records", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[delete("/cities/{id}")]
pub async fn delete_city(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<CityPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    write(&state.pool, ctx, move |tx| {
        service::delete_city(tx, id, expected)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_cities)
        .service(create_city)
        .service(get_city)
        .service(update_city)
        .service(delete_city);
}
