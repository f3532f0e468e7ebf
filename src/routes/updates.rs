//! `POST /api/v1/counties/{id}/updates`: one county's batch from its integration script.
//!
//! Items are keyed by the county's own keys (`code` for towns, `ref` for the rest), so a script
//! never needs our ids. The engine is `service::batch`; this file reads the body
//! (bounded) and answers.

use actix_web::http::header;
use actix_web::{post, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db;
use crate::error::{ApiError, Problem};
use crate::policy;
use crate::routes::common::parse_json;
use crate::routes::responses::*;
use crate::service::batch::{self, UpdatesIn, UpdatesOut};
use crate::state::AppState;
use crate::write::WriteCtx;

pub use crate::limits::{is_batch_path, MAX_BODY_BYTES, MAX_ITEMS};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UpdatesPath {
    /// The county's id.
    pub id: i32,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpdatesQuery {
    /// Validate and report the outcomes without writing anything.
    pub dry_run: Option<bool>,
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let mime = v
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        })
        .unwrap_or(false)
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "a batch is at most {MAX_BODY_BYTES} bytes and {MAX_ITEMS} items; split it"
    ))
}

/// Reads the body up to [`MAX_BODY_BYTES`].
async fn read_body(req: &HttpRequest, mut payload: web::Payload) -> Result<web::Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| ApiError::BadRequest("could not read the request body".into()))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[utoipa::path(
    tag = "updates",
    params(
        UpdatesPath,
        UpdatesQuery,
        IdempotencyKey,
    ),
    request_body(content = UpdatesIn, description = "One county's batch: at most 10000 items (nested equipment checks and postings included) and 16 MiB (16777216 bytes)."),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Applied (or, with `dry_run=true`, validated and rolled back): every item's outcome", body = UpdatesOut),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "The caller may not write this county (the city level is for administrators)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such county", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A request with the same Idempotency-Key is still in progress", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "More than 10000 items or 16 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, response = NotJson),
        (status = 422, description = "Nothing applied: every failing item's field as a JSON pointer (`/sites/17/completed_on`) with its message", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/counties/{id}/updates")]
pub async fn post_county_updates(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<UpdatesPath>,
    query: web::Query<UpdatesQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let county_id = path.id;
    let caller = ctx.caller.clone();
    // Rights before the body is read: a county's batch is for those who may write it.
    let county = db::run(&state.pool, move |conn| {
        policy::writable_county(conn, &caller, county_id)
    })
    .await?;
    if !is_json(&req) {
        return Err(ApiError::UnsupportedMediaType(
            "send the body as application/json".into(),
        ));
    }
    let body = read_body(&req, payload).await?;
    let input: UpdatesIn = parse_json(&body)?;
    if input.item_count() > MAX_ITEMS {
        return Err(too_large());
    }
    let dry_run = query.dry_run.unwrap_or(false);
    let today = state.today();
    batch::apply(&state.pool, ctx, county, input, dry_run, today, |out| {
        HttpResponse::Ok().json(out)
    })
    .await
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(post_county_updates);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_county_batch_path_is_a_batch_path() {
        assert!(is_batch_path("/api/v1/counties/12/updates"));
        assert!(!is_batch_path("/api/v1/counties//updates"));
        assert!(!is_batch_path("/api/v1/counties/12/plan-status-changes"));
        assert!(!is_batch_path("/api/v1/towns"));
    }
}
