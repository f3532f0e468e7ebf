//! `/api/v1/webhooks`: subscriptions to the change feed, pushed as Standard Webhooks 1.0, with
//! their delivery attempts, retries and test messages.

use std::hash::{Hash, Hasher};

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::config::Webhooks;
use crate::db;
use crate::error::{ApiError, Problem};
use crate::policy::{self, Caller};
use crate::routes::common::{created_versioned, expected_version, ok_versioned};
use crate::routes::common::{no_store, Json, Page, Paging, Tagged};
use crate::routes::responses::*;
use crate::service::webhooks::{self as service, WebhookDeliveryOut, WebhookIn, WebhookMessageOut};
use crate::service::webhooks::{CheckedUrl, WebhookOut, WebhookPatch, WebhookSecretOut};
use crate::state::AppState;
use crate::write::{write, write_then, WriteCtx};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WebhookPath {
    /// The subscription's id.
    pub id: i32,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeliveryPath {
    /// The subscription's id.
    pub id: i32,
    /// The attempt's id (from the deliveries list).
    pub delivery_id: i32,
}

/// The list's ETag: the endpoint's failing state changes without the version.
impl Tagged for WebhookOut {
    fn tag<H: Hasher>(&self, into: &mut H) {
        (self.id, self.version, self.failing_since, self.active).hash(into);
    }
}

/// The list's ETag: an attempt's message moves on without the attempt changing.
impl Tagged for WebhookDeliveryOut {
    fn tag<H: Hasher>(&self, into: &mut H) {
        (self.id, self.message_state).hash(into);
    }
}

/// The target checked on a blocking thread before the write's transaction begins (it may
/// resolve a name: no transaction waits for DNS).
async fn checked(raw: String, settings: Webhooks) -> Result<CheckedUrl, ApiError> {
    web::block(move || service::check_target(&raw, &settings))
        .await
        .map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))?
}

#[utoipa::path(
    tag = "webhooks",
    params(Paging),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscriptions the caller manages: an administrator's, all; a city's administrators', theirs; an integration client's, its own", body = Page<WebhookOut>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let listed = db::run(&state.pool, move |conn| {
        service::list(conn, &caller, limit, offset)
    })
    .await?;
    Page::of(listed, limit, offset).respond(&req)
}

#[utoipa::path(
    tag = "webhooks",
    request_body = WebhookIn,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Subscribed; the signing secret is shown this once (never stored in the answer of an Idempotency-Key, which this route ignores). The caller's rights, as they are when each change is made, decide which changes it receives", body = WebhookSecretOut, headers(("Location" = String), ("ETag" = String), ("Cache-Control" = String, description = "`no-store`: the answer carries a secret"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, description = "Not an administrator or integration client, or a filter outside the caller's city or county", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "A bad field: a URL that is not http(s), or whose host is or resolves to a loopback, private, link-local, multicast or metadata address; an empty `event_types`; an unknown city or county", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/webhooks")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    body: Json<WebhookIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let settings = state.settings.webhooks.clone();
    // Who may subscribe is decided before the target is looked up.
    policy::may_subscribe(&ctx.caller)?;
    let url = checked(input.url.clone(), settings.clone()).await?;
    let out = write(&state.pool, ctx, move |tx| {
        service::create(tx, input, url, &settings)
    })
    .await?;
    let location = format!("/api/v1/webhooks/{}", out.webhook.id);
    let version = out.webhook.version;
    Ok(no_store(created_versioned(&out, location, version)))
}

#[utoipa::path(
    tag = "webhooks",
    params(WebhookPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription (never its secret)", body = WebhookOut, headers(("ETag" = String))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WebhookPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let out = db::run(&state.pool, move |conn| service::get(conn, &caller, id)).await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "webhooks",
    params(WebhookPath, IfMatch),
    request_body = WebhookPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = WebhookOut, headers(("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[patch("/webhooks/{id}")]
pub async fn update_webhook(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<WebhookPath>,
    body: Json<WebhookPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    let patch = body.0;
    policy::may_subscribe(&ctx.caller)?;
    let url = match patch.url.clone() {
        Some(raw) => Some(checked(raw, state.settings.webhooks.clone()).await?),
        None => None,
    };
    let out = write(&state.pool, ctx, move |tx| {
        service::update(tx, id, expected, patch, url)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "webhooks",
    params(WebhookPath, IfMatch),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Unsubscribed: its messages and their attempts are gone"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<WebhookPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    write(&state.pool, ctx, move |tx| {
        service::delete(tx, id, expected)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    tag = "webhooks",
    params(WebhookPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A new signing secret, shown this once; the one it replaces keeps signing beside it (a second signature in `webhook-signature`) for 24 hours. Ignores Idempotency-Key", body = WebhookSecretOut, headers(("Cache-Control" = String, description = "`no-store`: the answer carries a secret"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/webhooks/{id}/rotate-secret")]
pub async fn rotate_webhook_secret(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    path: web::Path<WebhookPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let settings = state.settings.webhooks.clone();
    let out = write(&state.pool, ctx, move |tx| {
        service::rotate_secret(tx, id, &settings)
    })
    .await?;
    Ok(no_store(HttpResponse::Ok().json(out)))
}

#[utoipa::path(
    tag = "webhooks",
    params(WebhookPath, Paging),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Each attempt, newest first: its status code, duration, error and next try", body = Page<WebhookDeliveryOut>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_webhook_deliveries(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WebhookPath>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let (limit, offset) = paging.resolve()?;
    let listed = db::run(&state.pool, move |conn| {
        service::deliveries(conn, &caller, id, limit, offset)
    })
    .await?;
    Page::of(listed, limit, offset).respond(&req)
}

#[utoipa::path(
    tag = "webhooks",
    params(DeliveryPath, IdempotencyKey),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The attempt's message is queued to be sent again at once, with the same `webhook-id` and a fresh retry schedule", body = WebhookMessageOut),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such subscription, or no such attempt of it", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The subscription is not active", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/webhooks/{id}/deliveries/{delivery_id}/retry")]
pub async fn retry_webhook_delivery(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    path: web::Path<DeliveryPath>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery_id) = (path.id, path.delivery_id);
    write_then(
        &state.pool,
        ctx,
        move |tx| service::retry(tx, id, delivery_id),
        |out| Ok(HttpResponse::Accepted().json(out)),
    )
    .await
}

#[utoipa::path(
    tag = "webhooks",
    params(WebhookPath, IdempotencyKey),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "A `webhook.test` message is queued, sent and signed like any other", body = WebhookMessageOut),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The subscription is not active", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/webhooks/{id}/test")]
pub async fn test_webhook(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    path: web::Path<WebhookPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    write_then(
        &state.pool,
        ctx,
        move |tx| service::send_test(tx, id),
        |out| Ok(HttpResponse::Accepted().json(out)),
    )
    .await
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_webhooks)
        .service(create_webhook)
        .service(get_webhook)
        .service(update_webhook)
        .service(delete_webhook)
        .service(rotate_webhook_secret)
        .service(list_webhook_deliveries)
        .service(retry_webhook_delivery)
        .service(test_webhook);
}
