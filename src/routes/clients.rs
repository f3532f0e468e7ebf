//! `/api/v1/clients` (admin): integration clients, the credentials of a county's scripts.

use std::hash::{Hash, Hasher};

use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db;
use crate::error::{ApiError, Problem};
use crate::policy::Admin;
use crate::routes::common::Tagged;
use crate::routes::common::{
    created_versioned, expected_version, no_store, ok_versioned, Json, Page, Paging,
};
use crate::routes::responses::*;
use crate::service::clients::{self, ClientIn, ClientOut, ClientPatch, ClientSecretOut};
use crate::state::AppState;
use crate::write::{write, AdminWrite};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ClientPath {
    /// The client's id (the number, not `client_id`).
    pub id: i32,
}
/// The list's ETag: its last use changes without its version.
impl Tagged for ClientOut {
    fn tag<H: Hasher>(&self, into: &mut H) {
        (
            self.id,
            self.version,
            self.updated_at,
            self.active,
            self.last_used_at,
        )
            .hash(into);
    }
}

#[utoipa::path(
    tag = "clients",
    params(Paging),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of clients", body = Page<ClientOut>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/clients")]
pub async fn list_clients(
    req: HttpRequest,
    state: web::Data<AppState>,
    Admin(caller): Admin,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let listed = db::run(&state.pool, move |conn| {
        clients::list(conn, &caller, limit, offset)
    })
    .await?;
    Page::of(listed, limit, offset).respond(&req)
}

#[utoipa::path(
    tag = "clients",
    request_body = ClientIn,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; the secret is shown this once (never stored, even with an Idempotency-Key, which this route ignores)", body = ClientSecretOut, headers(("Location" = String), ("ETag" = String), ("Cache-Control" = String, description = "`no-store`: the answer carries a secret"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/clients")]
pub async fn create_client(
    state: web::Data<AppState>,
    AdminWrite(ctx): AdminWrite,
    body: Json<ClientIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let out = write(&state.pool, ctx, move |tx| clients::create(tx, input)).await?;
    let location = format!("/api/v1/clients/{}", out.client.id);
    let version = out.client.version;
    Ok(no_store(created_versioned(&out, location, version)))
}

#[utoipa::path(
    tag = "clients",
    params(ClientPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The client (never its secret)", body = ClientOut, headers(("ETag" = String))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/clients/{id}")]
pub async fn get_client(
    state: web::Data<AppState>,
    Admin(caller): Admin,
    path: web::Path<ClientPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let out = db::run(&state.pool, move |conn| clients::get(conn, &caller, id)).await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "clients",
    params(ClientPath, IfMatch),
    request_body = ClientPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = ClientOut, headers(("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[patch("/clients/{id}")]
pub async fn update_client(
    state: web::Data<AppState>,
    AdminWrite(ctx): AdminWrite,
    req: HttpRequest,
    path: web::Path<ClientPath>,
    body: Json<ClientPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    let patch = body.0;
    let out = write(&state.pool, ctx, move |tx| {
        clients::update(tx, id, expected, patch)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "clients",
    params(ClientPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A new secret, shown this once; the old one and its tokens stop working", body = ClientSecretOut, headers(("Cache-Control" = String, description = "`no-store`: the answer carries a secret"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/clients/{id}/rotate-secret")]
pub async fn rotate_client_secret(
    state: web::Data<AppState>,
    AdminWrite(ctx): AdminWrite,
    path: web::Path<ClientPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let out = write(&state.pool, ctx, move |tx| clients::rotate_secret(tx, id)).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(out))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_clients)
        .service(create_client)
        .service(get_client)
        .service(update_client)
        .service(rotate_client_secret);
}
