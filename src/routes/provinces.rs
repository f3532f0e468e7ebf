//! `/api/v1/provinces`: provinces (省), each with its own level row (省本级).

use std::hash::{Hash, Hasher};

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db;
use crate::error::{ApiError, Problem};
use crate::policy::Caller;
use crate::routes::common::{
    created_versioned, expected_version, ok_versioned, Json, Page, Paging, Tagged,
};
use crate::routes::responses::*;
use crate::service::cities::{self as service, DivisionPatch, ProvinceIn, ProvinceOut};
use crate::state::AppState;
use crate::write::{write, write_then, WriteCtx};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProvincePath {
    /// The province's id.
    pub id: i32,
}

impl Tagged for ProvinceOut {
    fn tag<H: Hasher>(&self, into: &mut H) {
        (self.id, self.version, self.updated_at).hash(into);
    }
}

#[utoipa::path(
    tag = "provinces",
    params(Paging),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 200, description = "A page of provinces", body = Page<ProvinceOut>),
        (status = 400, response = BadRequest),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/provinces")]
pub async fn list_provinces(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: Caller,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let listed = db::run(&state.pool, move |conn| {
        service::list_provinces(conn, limit, offset)
    })
    .await?;
    Page::of(listed, limit, offset).respond(&req)
}

#[utoipa::path(
    tag = "provinces",
    params(IdempotencyKey),
    request_body = ProvinceIn,
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 201, description = "Created, with its level row (省本级)", body = ProvinceOut, headers(("Location" = String), ("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 409, description = "The code is taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "A code that is not a province's (ending in 0000)", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/provinces")]
pub async fn create_province(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    body: Json<ProvinceIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    write_then(
        &state.pool,
        ctx,
        move |tx| service::create_province(tx, input),
        move |out| {
            let location = format!("/api/v1/provinces/{}", out.id);
            Ok(created_versioned(&out, location, out.version))
        },
    )
    .await
}

#[utoipa::path(
    tag = "provinces",
    params(ProvincePath),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 200, description = "The province", body = ProvinceOut, headers(("ETag" = String))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such province", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/provinces/{id}")]
pub async fn get_province(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<ProvincePath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let out = db::run(&state.pool, move |conn| service::get_province(conn, id)).await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "provinces",
    params(ProvincePath, IfMatch),
    request_body = DivisionPatch,
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 200, description = "Renamed", body = ProvinceOut, headers(("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such province", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[patch("/provinces/{id}")]
pub async fn update_province(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<ProvincePath>,
    body: Json<DivisionPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    let patch = body.0;
    let out = write(&state.pool, ctx, move |tx| {
        service::update_province(tx, id, expected, patch)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "provinces",
    params(ProvincePath, IfMatch),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 204, description = "Deleted, with its level row"),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such province", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It still has cities, or its level row still has records", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[delete("/provinces/{id}")]
pub async fn delete_province(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<ProvincePath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    write(&state.pool, ctx, move |tx| {
        service::delete_province(tx, id, expected)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_provinces)
        .service(create_province)
        .service(get_province)
        .service(update_province)
        .service(delete_province);
}
