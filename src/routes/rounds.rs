//! `/api/v1/rounds`: reporting rounds (报送轮次): participants' sign-offs, the owners' review,
//! completeness and the chase list (催报名单), the round's table, and its bulletin.

use std::hash::{Hash, Hasher};

use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db;
use crate::db::rounds::RoundFilter;
use crate::domain::export::{to_csv, to_list_xlsx};
use crate::domain::round::{RoundLevel, RoundState};
use crate::error::{ApiError, Problem};
use crate::policy::Caller;
use crate::routes::common::{attachment, created_versioned, expected_version, ok_versioned};
use crate::routes::common::{ExportFile, ExportFormat, Json, Page, Paging, Tagged, XLSX};
use crate::routes::responses::*;
use crate::service::bulletins::SnapshotOut;
use crate::service::rounds::{self as service, CompletenessOut, ParticipantOut, PublishIn};
use crate::service::rounds::{ReasonIn, Review, RoundIn, RoundOut, RoundPatch, RoundTableOut};
use crate::service::rounds::{SubmissionIn, SubmissionOut};
use crate::state::AppState;
use crate::write::{write, write_then, AdminWrite, WriteCtx};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoundListQuery {
    /// Only rounds of this level: `city` or `province`.
    pub level: Option<RoundLevel>,
    pub city_id: Option<i32>,
    pub province_id: Option<i32>,
    /// Only rounds in this state: `open`, `closed` or `published`.
    pub state: Option<RoundState>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RoundPath {
    /// The round's id.
    pub id: i32,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ParticipantPath {
    /// The round's id.
    pub id: i32,
    /// The participant's id (see the round's participants).
    pub participant_id: i32,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChaseListQuery {
    /// `csv` or `xlsx`.
    pub format: ExportFormat,
}

impl Tagged for RoundOut {
    fn tag<H: Hasher>(&self, into: &mut H) {
        (self.id, self.version).hash(into);
    }
}

/// A participant's answer changes with its version and with its drift (a backdated write).
impl Tagged for ParticipantOut {
    fn tag<H: Hasher>(&self, into: &mut H) {
        (self.participant_id, self.version, self.state).hash(into);
        (&self.division_code, &self.name).hash(into);
        for d in &self.drift {
            (&d.field, format!("{:?}{:?}", d.submitted, d.live)).hash(into);
        }
    }
}

impl Tagged for SubmissionOut {
    fn tag<H: Hasher>(&self, into: &mut H) {
        self.id.hash(into);
    }
}

#[utoipa::path(
    tag = "rounds",
    params(RoundListQuery, Paging),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of rounds, newest first", body = Page<RoundOut>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/rounds")]
pub async fn list_rounds(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<RoundListQuery>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let filter = RoundFilter {
        level: query.level,
        city_id: query.city_id,
        province_id: query.province_id,
        state: query.state,
    };
    let listed = db::run(&state.pool, move |conn| {
        service::list(conn, filter, limit, offset)
    })
    .await?;
    Page::of(listed, limit, offset).respond(&req)
}

#[utoipa::path(
    tag = "rounds",
    params(IdempotencyKey),
    request_body = RoundIn,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Opened, its participants fixed", body = RoundOut, headers(("Location" = String), ("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "A date in the future, a deadline before the date, or a level without its city or province", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/rounds")]
pub async fn create_round(
    state: web::Data<AppState>,
    AdminWrite(ctx): AdminWrite,
    body: Json<RoundIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let today = state.today();
    write_then(
        &state.pool,
        ctx,
        move |tx| service::create(tx, input, today),
        move |out| {
            let location = format!("/api/v1/rounds/{}", out.id);
            Ok(created_versioned(&out, location, out.version))
        },
    )
    .await
}

#[utoipa::path(
    tag = "rounds",
    params(RoundPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The round", body = RoundOut, headers(("ETag" = String))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 404, description = "No such round", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/rounds/{id}")]
pub async fn get_round(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<RoundPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let out = db::run(&state.pool, move |conn| service::get(conn, id)).await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "rounds",
    params(RoundPath, IfMatch),
    request_body = RoundPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = RoundOut, headers(("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 404, description = "No such round", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The round is published", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[patch("/rounds/{id}")]
pub async fn update_round(
    state: web::Data<AppState>,
    AdminWrite(ctx): AdminWrite,
    req: HttpRequest,
    path: web::Path<RoundPath>,
    body: Json<RoundPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    let patch = body.0;
    let out = write(&state.pool, ctx, move |tx| {
        service::update(tx, id, expected, patch)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "rounds",
    params(RoundPath, IdempotencyKey),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Closed: no more submissions; review goes on", body = RoundOut, headers(("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 404, description = "No such round", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The round is not open", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/rounds/{id}/close")]
pub async fn close_round(
    state: web::Data<AppState>,
    AdminWrite(ctx): AdminWrite,
    path: web::Path<RoundPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    write_then(
        &state.pool,
        ctx,
        move |tx| service::close(tx, id),
        move |out| Ok(ok_versioned(&out, out.version)),
    )
    .await
}

#[utoipa::path(
    tag = "rounds",
    params(RoundPath, IdempotencyKey),
    request_body = ReasonIn,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Open again", body = RoundOut, headers(("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 404, description = "No such round", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The round is not closed", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "No reason given", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/rounds/{id}/reopen")]
pub async fn reopen_round(
    state: web::Data<AppState>,
    AdminWrite(ctx): AdminWrite,
    path: web::Path<RoundPath>,
    body: Json<ReasonIn>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let input = body.0;
    write_then(
        &state.pool,
        ctx,
        move |tx| service::reopen(tx, id, input),
        move |out| Ok(ok_versioned(&out, out.version)),
    )
    .await
}

#[utoipa::path(
    tag = "rounds",
    params(RoundPath, Paging),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The participants in the table's order, each with its state, current submission and drift", body = Page<ParticipantOut>),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 404, description = "No such round", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/rounds/{id}/participants")]
pub async fn list_round_participants(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<RoundPath>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let id = path.id;
    let keeper = state.keeper.clone();
    let listed = db::run(&state.pool, move |conn| {
        service::participants(conn, id, &keeper, limit, offset)
    })
    .await?;
    Page::of(listed, limit, offset).respond(&req)
}

#[utoipa::path(
    tag = "rounds",
    params(ParticipantPath, IdempotencyKey),
    request_body = SubmissionIn,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Signed off: the row frozen as the round's table computes it now", body = SubmissionOut),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such round or participant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The round is not open", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/rounds/{id}/participants/{participant_id}/submissions")]
pub async fn submit_sign_off(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    path: web::Path<ParticipantPath>,
    body: Json<SubmissionIn>,
) -> Result<HttpResponse, ApiError> {
    let (id, participant) = (path.id, path.participant_id);
    let input = body.0;
    let today = state.today();
    write_then(
        &state.pool,
        ctx,
        move |tx| service::submit(tx, id, participant, input, today),
        move |out| Ok(HttpResponse::Created().json(out)),
    )
    .await
}

#[utoipa::path(
    tag = "rounds",
    params(ParticipantPath, Paging),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every submission of the participant, newest first", body = Page<SubmissionOut>),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 404, description = "No such round or participant", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/rounds/{id}/participants/{participant_id}/submissions")]
pub async fn list_sign_offs(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<ParticipantPath>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let (id, participant) = (path.id, path.participant_id);
    let listed = db::run(&state.pool, move |conn| {
        service::history(conn, id, participant, limit, offset)
    })
    .await?;
    Page::of(listed, limit, offset).respond(&req)
}

/// The owners' review of a participant's submission.
async fn review(
    state: &AppState,
    ctx: WriteCtx,
    path: &ParticipantPath,
    review: Review,
) -> Result<HttpResponse, ApiError> {
    let (id, participant) = (path.id, path.participant_id);
    write_then(
        &state.pool,
        ctx,
        move |tx| service::review(tx, id, participant, review),
        move |out| Ok(HttpResponse::Ok().json(out)),
    )
    .await
}

#[utoipa::path(
    tag = "rounds",
    params(ParticipantPath, IdempotencyKey),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Accepted", body = ParticipantOut),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 404, description = "No such round or participant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing submitted to accept, figures changed since (stale), the owners' own row, or the round published", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/rounds/{id}/participants/{participant_id}/accept")]
pub async fn accept_sign_off(
    state: web::Data<AppState>,
    AdminWrite(ctx): AdminWrite,
    path: web::Path<ParticipantPath>,
) -> Result<HttpResponse, ApiError> {
    review(&state, ctx, &path, Review::Accept).await
}

#[utoipa::path(
    tag = "rounds",
    params(ParticipantPath, IdempotencyKey),
    request_body = ReasonIn,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Returned with the reason, which the participant sees", body = ParticipantOut),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 404, description = "No such round or participant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No current submission, the owners' own row, or the round published", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "No reason given", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/rounds/{id}/participants/{participant_id}/return")]
pub async fn return_sign_off(
    state: web::Data<AppState>,
    AdminWrite(ctx): AdminWrite,
    path: web::Path<ParticipantPath>,
    body: Json<ReasonIn>,
) -> Result<HttpResponse, ApiError> {
    review(&state, ctx, &path, Review::Return(body.0)).await
}

#[utoipa::path(
    tag = "rounds",
    params(RoundPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Each participant's state, lateness and the people to chase (phones only for the administrators of their level), with the rates", body = CompletenessOut, headers(("Cache-Control" = String, description = "`no-store`: it may carry phone numbers"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 404, description = "No such round", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/rounds/{id}/completeness")]
pub async fn round_completeness(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<RoundPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let today = state.today();
    let keeper = state.keeper.clone();
    let out = db::run(&state.pool, move |conn| {
        service::completeness(conn, &caller, id, today, &keeper)
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(
    tag = "rounds",
    params(RoundPath, ChaseListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The chase list (催报名单): a line per participant with its state, days overdue and the people to call",
            headers(("Content-Disposition" = String), ("Cache-Control" = String, description = "`no-store`: it may carry phone numbers")),
            content(
                (inline(ExportFile) = "text/csv"),
                (inline(ExportFile) = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
            )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 404, description = "No such round", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/rounds/{id}/completeness/export")]
pub async fn export_chase_list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<RoundPath>,
    query: web::Query<ChaseListQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let today = state.today();
    let keeper = state.keeper.clone();
    let zone = state.settings.time_zone;
    let (sheet, title) = db::run(&state.pool, move |conn| {
        service::chase_list(conn, &caller, id, (today, zone), &keeper)
    })
    .await?;
    let (content_type, ext, body) = match query.format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv", to_csv(&sheet)),
        ExportFormat::Xlsx => (
            XLSX,
            "xlsx",
            to_list_xlsx(&sheet, "催报名单").map_err(ApiError::internal)?,
        ),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            attachment(
                &format!("round-{id}-chase-list-{today}.{ext}"),
                &format!("{title}-{today}.{ext}"),
            ),
        ))
        .body(body))
}

#[utoipa::path(
    tag = "rounds",
    params(RoundPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The round's table: submitted figures where a participant has a current submission, live ones (listed as unconfirmed) elsewhere", body = RoundTableOut),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 404, description = "No such round", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/rounds/{id}/table")]
pub async fn round_table(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<RoundPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let keeper = state.keeper.clone();
    let out = db::run(&state.pool, move |conn| service::table(conn, id, &keeper)).await?;
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(
    tag = "rounds",
    params(RoundPath, IdempotencyKey),
    request_body = PublishIn,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The round's bulletin, frozen from the accepted submissions", body = SnapshotOut, headers(("Location" = String))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 404, description = "No such round", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Participants not accepted or stale (named), or the round published already", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "Forced without a reason, or a bad title", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/rounds/{id}/publish")]
pub async fn publish_round(
    state: web::Data<AppState>,
    AdminWrite(ctx): AdminWrite,
    path: web::Path<RoundPath>,
    body: Json<PublishIn>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let input = body.0;
    write_then(
        &state.pool,
        ctx,
        move |tx| service::publish(tx, id, input),
        move |out| {
            Ok(HttpResponse::Created()
                .insert_header((
                    header::LOCATION,
                    format!("/api/v1/reports/progress/snapshots/{}", out.summary.id),
                ))
                .json(out))
        },
    )
    .await
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_rounds)
        .service(create_round)
        .service(get_round)
        .service(update_round)
        .service(close_round)
        .service(reopen_round)
        .service(list_round_participants)
        .service(submit_sign_off)
        .service(list_sign_offs)
        .service(accept_sign_off)
        .service(return_sign_off)
        .service(round_completeness)
        .service(export_chase_list)
        .service(round_table)
        .service(publish_round);
}
