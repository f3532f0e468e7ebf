//! `/api/v1/trainings`: social-work training sessions (社工业务培训), pre-job or professional.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::counties as county_q;
use crate::db::trainings::{
    self as q, NewTraining, TrainingChanges, TrainingFilter, TrainingRow, TrainingSort,
};
use crate::db::{self, DbConnection};
use crate::domain::parse_ref;
use crate::domain::training::TrainingKind;
use crate::domain::{business_date, parse_name, random_token, Violations};
use crate::error::{ApiError, Problem};
use crate::policy::Caller;
use crate::routes::common::{
    created_versioned, double_option, expected_version, now, ok_versioned, parse_sort, utc, Json,
    Page, Paging,
};
use crate::routes::counties::county_scope;
use crate::routes::responses::*;
use crate::state::AppState;
use crate::write::{write, write_then, WriteCtx, NOTHING};

const TITLE_MAX: usize = 100;

/// A training session held.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingIn {
    /// The county that held it (the city level included; only administrators write it).
    pub county_id: i32,
    pub kind: TrainingKind,
    #[schema(example = "2021年社工站岗前培训")]
    pub title: String,
    /// When it was held; not after today.
    pub held_on: NaiveDate,
    /// How many attended, when known; not negative.
    #[schema(minimum = 0)]
    pub attendees: Option<i32>,
    /// The county's own key for it (1–64 characters, unique within the county); generated when
    /// absent.
    #[serde(rename = "ref")]
    #[schema(example = "TR-2021-01")]
    pub reference: Option<String>,
}

/// Changes to a training session; absent fields stay as they are, `null` clears `attendees`.
/// A session never changes county.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingPatch {
    pub kind: Option<TrainingKind>,
    pub title: Option<String>,
    pub held_on: Option<NaiveDate>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>, minimum = 0)]
    pub attendees: Option<Option<i32>>,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrainingOut {
    pub id: i32,
    pub county_id: i32,
    pub kind: TrainingKind,
    /// The Chinese label of `kind` (岗前培训, 专业培训).
    pub kind_label: String,
    pub title: String,
    pub held_on: NaiveDate,
    pub attendees: Option<i32>,
    #[serde(rename = "ref")]
    pub reference: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrainingListQuery {
    pub county_id: Option<i32>,
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

pub fn training_out(row: TrainingRow) -> Result<TrainingOut, ApiError> {
    let kind = TrainingKind::parse(&row.kind)
        .map_err(|e| ApiError::internal(format!("stored kind: {e}")))?;
    Ok(TrainingOut {
        id: row.id,
        county_id: row.county_id,
        kind,
        kind_label: kind.label().to_string(),
        title: row.title,
        held_on: row.held_on,
        attendees: row.attendees,
        reference: row.reference,
        version: row.version,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    })
}

/// The county a session is written for: it exists and the caller may write it.
pub fn training_county(
    conn: &mut DbConnection,
    caller: &Caller,
    county_id: i32,
) -> Result<(), ApiError> {
    let county = county_q::find(conn, county_id)?.ok_or_else(|| {
        ApiError::invalid("county_id", format!("county {county_id} does not exist"))
    })?;
    caller.require_county_write(county_scope(&county))
}

/// A session's title, date, attendees and ref, checked; a missing ref is generated. Used by the
/// API and county batches.
pub fn validated_training_fields(
    title: &str,
    held_on: NaiveDate,
    attendees: Option<i32>,
    reference: Option<&str>,
    today: NaiveDate,
) -> Result<(String, String), ApiError> {
    let mut v = Violations::new();
    let title = v.check("title", parse_name(title, TITLE_MAX));
    business_date(&mut v, "held_on", Some(held_on), today);
    check_attendees(&mut v, attendees);
    let reference = match reference {
        Some(raw) => v.check("ref", parse_ref(raw)),
        None => Some(format!("tr-{}", random_token(12))),
    };
    v.into_result()?;
    match (title, reference) {
        (Some(title), Some(reference)) => Ok((title, reference)),
        _ => Err(ApiError::internal("validated fields missing")),
    }
}

fn check_attendees(v: &mut Violations, attendees: Option<i32>) {
    if attendees.is_some_and(|n| n < 0) {
        v.add("attendees", "must not be negative");
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
        kind: query.kind.map(|k| k.as_str().to_string()),
        held_from: query.held_from,
        held_to: query.held_to,
    };
    let page = db::run(&state.pool, move |conn| {
        let (rows, total) = q::list(conn, &filter, &sort, limit, offset)?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(training_out)
                .collect::<Result<_, _>>()?,
            total,
            limit,
            offset,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "trainings",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: the same key (1 to 255 visible ASCII characters, scoped to the caller and the path) with the same body replays the first response with `Idempotent-Replayed: true`; with another body it is 422; a retry racing the first waits for it, then replays its answer. Keys expire after 24 hours.")),
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
    let (title, reference) = validated_training_fields(
        &input.title,
        input.held_on,
        input.attendees,
        input.reference.as_deref(),
        state.today(),
    )?;
    write_then(
        &state.pool,
        ctx,
        move |tx| {
            training_county(tx.conn, &tx.ctx.caller, input.county_id)?;
            let at = now();
            let row = q::insert(
                tx.conn,
                &NewTraining {
                    county_id: input.county_id,
                    kind: input.kind.as_str().to_string(),
                    title,
                    held_on: input.held_on,
                    attendees: input.attendees,
                    reference,
                    version: 1,
                    created_at: at,
                    updated_at: at,
                },
            )?;
            let out = training_out(row)?;
            tx.audit(
                "create",
                "training",
                out.id,
                Some(out.county_id),
                NOTHING,
                Some(&out),
            )?;
            Ok(out)
        },
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
    let out = db::run(&state.pool, move |conn| {
        training_out(q::find(conn, id)?.ok_or_else(|| ApiError::not_found("training", id))?)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "trainings",
    params(TrainingPath, ("If-Match" = String, Header, description = "The ETag last read")),
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
    let mut v = Violations::new();
    let title = match &patch.title {
        Some(raw) => v.check("title", parse_name(raw, TITLE_MAX)),
        None => None,
    };
    let reference = match &patch.reference {
        Some(raw) => v.check("ref", parse_ref(raw)),
        None => None,
    };
    business_date(&mut v, "held_on", patch.held_on, state.today());
    check_attendees(&mut v, patch.attendees.flatten());
    v.into_result()?;
    let out = write(&state.pool, ctx, move |tx| {
        let current = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("training", id))?;
        training_county(tx.conn, &tx.ctx.caller, current.county_id)?;
        if current.version != expected {
            return Err(ApiError::PreconditionFailed);
        }
        let changes = TrainingChanges {
            kind: patch.kind.map(|k| k.as_str().to_string()),
            title,
            held_on: patch.held_on,
            attendees: patch.attendees,
            reference,
            version: Some(current.version + 1),
            updated_at: Some(now()),
        };
        let row =
            q::update(tx.conn, id, expected, &changes)?.ok_or(ApiError::PreconditionFailed)?;
        let before = training_out(current)?;
        let out = training_out(row)?;
        tx.audit(
            "update",
            "training",
            id,
            Some(out.county_id),
            Some(&before),
            Some(&out),
        )?;
        Ok(out)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "trainings",
    params(TrainingPath, ("If-Match" = String, Header, description = "The ETag last read")),
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
        let current = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("training", id))?;
        training_county(tx.conn, &tx.ctx.caller, current.county_id)?;
        if current.version != expected || !q::delete(tx.conn, id, expected)? {
            return Err(ApiError::PreconditionFailed);
        }
        let before = training_out(current)?;
        tx.audit(
            "delete",
            "training",
            id,
            Some(before.county_id),
            Some(&before),
            NOTHING,
        )
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
