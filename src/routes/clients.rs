//! `/api/v1/clients` (admin): integration clients, the credentials of a county's scripts.

use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::hash_secret;
use crate::db::{self, accounts};
use crate::domain::{parse_name, random_token};
use crate::error::{ApiError, Problem};
use crate::policy::Caller;
use crate::routes::common::{
    created_versioned, expected_version, now, ok_versioned, utc, Json, Page, Paging,
};
use crate::routes::responses::*;
use crate::service::accounts::check_account_county;
use crate::state::AppState;
use crate::write::{write, WriteCtx, NOTHING};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientIn {
    /// What the script is, e.g. 罗定市民政局数据同步.
    pub name: String,
    /// The county the script writes for (not the city level).
    pub county_id: i32,
}

/// Rename or (de)activate a client. Deactivating ends its access at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    pub name: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientOut {
    pub id: i32,
    /// Sent as `client_id` with the `client_credentials` grant.
    pub client_id: String,
    pub name: String,
    pub county_id: i32,
    pub active: bool,
    pub last_used_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A client with its secret: shown here once, stored only as a hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientSecretOut {
    pub client: ClientOut,
    pub client_secret: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ClientPath {
    /// The client's id (the number, not `client_id`).
    pub id: i32,
}

fn client_out(row: accounts::ClientRow) -> ClientOut {
    ClientOut {
        id: row.id,
        client_id: row.client_id,
        name: row.name,
        county_id: row.county_id,
        active: row.active,
        last_used_at: row.last_used_at.map(utc),
        version: row.version,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
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
    state: web::Data<AppState>,
    caller: Caller,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let (limit, offset) = paging.resolve()?;
    let page = db::run(&state.pool, move |conn| {
        let (rows, total) = accounts::list_clients(conn, limit, offset)?;
        Ok(Page {
            items: rows.into_iter().map(client_out).collect(),
            total,
            limit,
            offset,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
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
    ctx: WriteCtx,
    body: Json<ClientIn>,
) -> Result<HttpResponse, ApiError> {
    ctx.caller.require_admin()?;
    let input = body.0;
    let name = parse_name(&input.name, 100).map_err(|m| ApiError::invalid("name", m))?;
    let out = write(&state.pool, ctx, move |tx| {
        check_account_county(tx.conn, Some(input.county_id))?;
        let secret = random_token(43);
        let at = now();
        let row = accounts::insert_client(
            tx.conn,
            &accounts::NewClient {
                client_id: format!("sb-{}", random_token(20)),
                name,
                county_id: input.county_id,
                secret_hash: hash_secret(&secret),
                active: true,
                auth_version: 1,
                version: 1,
                created_at: at,
                updated_at: at,
            },
        )?;
        let client = client_out(row);
        tx.audit(
            "create",
            "client",
            client.id,
            Some(client.county_id),
            NOTHING,
            Some(&client),
        )?;
        Ok(ClientSecretOut {
            client,
            client_secret: secret,
        })
    })
    .await?;
    let location = format!("/api/v1/clients/{}", out.client.id);
    let version = out.client.version;
    let mut res = created_versioned(&out, location, version);
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
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
    caller: Caller,
    path: web::Path<ClientPath>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id = path.id;
    let out = db::run(&state.pool, move |conn| {
        Ok(client_out(
            accounts::client_by_id(conn, id)?.ok_or_else(|| ApiError::not_found("client", id))?,
        ))
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "clients",
    params(ClientPath, ("If-Match" = String, Header, description = "The ETag last read")),
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
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<ClientPath>,
    body: Json<ClientPatch>,
) -> Result<HttpResponse, ApiError> {
    ctx.caller.require_admin()?;
    let id = path.id;
    let expected = expected_version(&req)?;
    let patch = body.0;
    let name = match &patch.name {
        Some(raw) => Some(parse_name(raw, 100).map_err(|m| ApiError::invalid("name", m))?),
        None => None,
    };
    let out = write(&state.pool, ctx, move |tx| {
        let current = accounts::client_by_id(tx.conn, id)?
            .ok_or_else(|| ApiError::not_found("client", id))?;
        if current.version != expected {
            return Err(ApiError::PreconditionFailed);
        }
        let changes = accounts::ClientChanges {
            name,
            active: patch.active,
            auth_version: (patch.active == Some(false)).then_some(current.auth_version + 1),
            version: Some(current.version + 1),
            updated_at: Some(now()),
            ..Default::default()
        };
        let row = accounts::update_client(tx.conn, id, expected, &changes)?
            .ok_or(ApiError::PreconditionFailed)?;
        let before = client_out(current);
        let out = client_out(row);
        tx.audit(
            "update",
            "client",
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
    ctx: WriteCtx,
    path: web::Path<ClientPath>,
) -> Result<HttpResponse, ApiError> {
    ctx.caller.require_admin()?;
    let id = path.id;
    let out = write(&state.pool, ctx, move |tx| {
        let current = accounts::client_by_id(tx.conn, id)?
            .ok_or_else(|| ApiError::not_found("client", id))?;
        let secret = random_token(43);
        let changes = accounts::ClientChanges {
            secret_hash: Some(hash_secret(&secret)),
            auth_version: Some(current.auth_version + 1),
            version: Some(current.version + 1),
            updated_at: Some(now()),
            ..Default::default()
        };
        let row = accounts::update_client(tx.conn, id, current.version, &changes)?
            .ok_or(ApiError::PreconditionFailed)?;
        let before = client_out(current);
        let client = client_out(row);
        tx.audit(
            "rotate_secret",
            "client",
            id,
            Some(client.county_id),
            Some(&before),
            Some(&client),
        )?;
        Ok(ClientSecretOut {
            client,
            client_secret: secret,
        })
    })
    .await?;
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
