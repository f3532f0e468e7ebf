//! `/api/v1/towns`: towns, townships and streets of a county (镇/乡/街道).

use std::hash::{Hash, Hasher};

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db;
use crate::db::towns::{TownFilter, TownSort};
use crate::domain::town::TownKind;
use crate::error::{ApiError, Problem};
use crate::policy::Caller;
use crate::routes::common::Tagged;
use crate::routes::common::{
    created_versioned, expected_version, ok_versioned, parse_q, parse_sort, Json, Page, Paging,
};
use crate::routes::responses::*;
use crate::service::towns::{self, TownIn, TownOut, TownPatch};
use crate::state::AppState;
use crate::write::{write, write_then, WriteCtx};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TownListQuery {
    pub county_id: Option<i32>,
    /// Only this city's.
    pub city_id: Option<i32>,
    pub kind: Option<TownKind>,
    pub code: Option<String>,
    /// Text search on names.
    pub q: Option<String>,
    /// Comma-separated fields, `-` for descending: `id`, `name`, `code`, `county_id`, `created_at`.
    #[param(
        pattern = r"^-?(id|name|code|county_id|created_at)(,-?(id|name|code|county_id|created_at))*$"
    )]
    pub sort: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TownPath {
    /// The town's id.
    pub id: i32,
}
impl Tagged for TownOut {
    fn tag<H: Hasher>(&self, into: &mut H) {
        (self.id, self.version, self.updated_at).hash(into);
    }
}

#[utoipa::path(
    tag = "towns",
    params(TownListQuery, Paging),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 200, description = "A page of towns", body = Page<TownOut>),
        (status = 400, response = BadRequest),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/towns")]
pub async fn list_towns(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<TownListQuery>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let sort = parse_sort(
        query.sort.as_deref(),
        &[
            ("id", TownSort::Id),
            ("name", TownSort::Name),
            ("code", TownSort::Code),
            ("county_id", TownSort::CountyId),
            ("created_at", TownSort::CreatedAt),
        ],
    )?;
    let filter = TownFilter {
        county_id: query.county_id,
        city_id: query.city_id,
        kind: query.kind,
        code: query.code.clone(),
        q: parse_q(query.q.as_deref())?,
    };
    let listed = db::run(&state.pool, move |conn| {
        towns::list(conn, &filter, &sort, limit, offset)
    })
    .await?;
    Page::of(listed, limit, offset).respond(&req)
}

#[utoipa::path(
    tag = "towns",
    params(IdempotencyKey),
    request_body = TownIn,
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 201, description = "Created", body = TownOut, headers(("Location" = String), ("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 409, description = "The code, or the name within the county, is taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "A rule is broken (unknown county, the city level, a code outside the county)", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/towns")]
pub async fn create_town(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    body: Json<TownIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    write_then(
        &state.pool,
        ctx,
        move |tx| towns::create(tx, input),
        move |out| {
            let location = format!("/api/v1/towns/{}", out.id);
            Ok(created_versioned(&out, location, out.version))
        },
    )
    .await
}

#[utoipa::path(
    tag = "towns",
    params(TownPath),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 200, description = "The town", body = TownOut, headers(("ETag" = String))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such town", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/towns/{id}")]
pub async fn get_town(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<TownPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let out = db::run(&state.pool, move |conn| towns::get(conn, id)).await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "towns",
    params(TownPath, IfMatch),
    request_body = TownPatch,
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 200, description = "Updated", body = TownOut, headers(("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such town", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The code, or the name within the county, is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[patch("/towns/{id}")]
pub async fn update_town(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<TownPath>,
    body: Json<TownPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    let patch = body.0;
    let out = write(&state.pool, ctx, move |tx| {
        towns::update(tx, id, expected, patch)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "towns",
    params(TownPath, IfMatch),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such town", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Sites depend on it", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[delete("/towns/{id}")]
pub async fn delete_town(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<TownPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    write(&state.pool, ctx, move |tx| towns::delete(tx, id, expected)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_towns)
        .service(create_town)
        .service(get_town)
        .service(update_town)
        .service(delete_town);
}
