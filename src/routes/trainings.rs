//! `/api/v1/trainings`: social-work training sessions (社工业务培训), pre-job or professional.

use std::hash::{Hash, Hasher};

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db;
use crate::db::trainings::{TrainingFilter, TrainingSort};
use crate::domain::training::TrainingKind;
use crate::error::{ApiError, Problem};
use crate::policy::Caller;
use crate::routes::common::Tagged;
use crate::routes::common::{
    created_versioned, expected_version, ok_versioned, parse_sort, Json, Page, Paging,
};
use crate::routes::responses::*;
use crate::service::trainings::{self, TrainingIn, TrainingOut, TrainingPatch};
use crate::state::AppState;
use crate::write::{write, write_then, WriteCtx};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrainingListQuery {
    pub county_id: Option<i32>,
    /// Only this city's.
    pub city_id: Option<i32>,
    pub kind: Option<TrainingKind>,
    /// Held on or after this date.
    pub held_from: Option<NaiveDate>,
    /// Held on or before this date.
    pub held_to: Option<NaiveDate>,
    /// Comma-separated fields, `-` for descending: `id`, `held_on`, `county_id`.
    #[param(pattern = r"^-?(id|held_on|county_id)(,-?(id|held_on|county_id))*$")]
    pub sort: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TrainingPath {
    /// The training session's id.
    pub id: i32,
}
impl Tagged for TrainingOut {
    fn tag<H: Hasher>(&self, into: &mut H) {
        (self.id, self.version, self.updated_at).hash(into);
    }
}

#[utoipa::path(
    tag = "trainings",
    params(TrainingListQuery, Paging),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 200, description = "A page of training sessions", body = Page<TrainingOut>),
        (status = 400, response = BadRequest),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/trainings")]
pub async fn list_trainings(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<TrainingListQuery>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let sort = parse_sort(
        query.sort.as_deref(),
        &[
            ("id", TrainingSort::Id),
            ("held_on", TrainingSort::HeldOn),
            ("county_id", TrainingSort::CountyId),
        ],
    )?;
    let filter = TrainingFilter {
        county_id: query.county_id,
        city_id: query.city_id,
        kind: query.kind,
        held_from: query.held_from,
        held_to: query.held_to,
    };
    let listed = db::run(&state.pool, move |conn| {
        trainings::list(conn, &filter, &sort, limit, offset)
    })
    .await?;
    Page::of(listed, limit, offset).respond(&req)
}

#[utoipa::path(
    tag = "trainings",
    params(IdempotencyKey),
    request_body = TrainingIn,
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 201, description = "Created", body = TrainingOut, headers(("Location" = String), ("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 409, description = "The ref is taken within the county", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "A rule is broken (unknown county, a date in the future, negative attendees)", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/trainings")]
pub async fn create_training(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    body: Json<TrainingIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let today = state.today();
    write_then(
        &state.pool,
        ctx,
        move |tx| trainings::create(tx, input, today),
        move |out| {
            let location = format!("/api/v1/trainings/{}", out.id);
            Ok(created_versioned(&out, location, out.version))
        },
    )
    .await
}

#[utoipa::path(
    tag = "trainings",
    params(TrainingPath),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 200, description = "The training session", body = TrainingOut, headers(("ETag" = String))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such training session", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/trainings/{id}")]
pub async fn get_training(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<TrainingPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let out = db::run(&state.pool, move |conn| trainings::get(conn, id)).await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "trainings",
    params(TrainingPath, IfMatch),
    request_body = TrainingPatch,
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 200, description = "Updated", body = TrainingOut, headers(("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such training session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The ref is taken within the county", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[patch("/trainings/{id}")]
pub async fn update_training(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<TrainingPath>,
    body: Json<TrainingPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    let patch = body.0;
    let today = state.today();
    let out = write(&state.pool, ctx, move |tx| {
        trainings::update(tx, id, expected, patch, today)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "trainings",
    params(TrainingPath, IfMatch),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such training session", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[delete("/trainings/{id}")]
pub async fn delete_training(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<TrainingPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    write(&state.pool, ctx, move |tx| {
        trainings::delete(tx, id, expected)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_trainings)
        .service(create_training)
        .service(get_training)
        .service(update_training)
        .service(delete_training);
}
