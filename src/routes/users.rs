//! `/api/v1/users` (admin): the people who use the API.

use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::hash_password;
use crate::db::{self, accounts};
use crate::domain::auth::{check_password, check_role_county, Role};
use crate::domain::{parse_name, Violations};
use crate::error::{ApiError, Problem};
use crate::policy::Caller;
use crate::routes::common::{
    created_versioned, double_option, expected_version, now, ok_versioned, Json, Page, Paging,
};
use crate::routes::responses::*;
pub use crate::service::accounts::UserOut;
use crate::service::accounts::{check_account_county, create_user, user_out, NewAccount};
use crate::state::AppState;
use crate::write::{write, write_then, WriteCtx, NOTHING};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    /// 3 to 64 of `a-z 0-9 . _ -`; unique regardless of case.
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// Required for `county_officer` and `integration`, absent otherwise.
    pub county_id: Option<i32>,
    /// At least 12 characters. Stored as an argon2id hash, never returned.
    #[schema(format = Password)]
    pub password: String,
}

impl From<UserIn> for NewAccount {
    fn from(i: UserIn) -> Self {
        NewAccount {
            username: i.username,
            display_name: i.display_name,
            role: i.role,
            county_id: i.county_id,
            password: i.password,
        }
    }
}

/// Changes to a user. Deactivating, or changing the password or role, ends the user's sessions.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>)]
    pub county_id: Option<Option<i32>>,
    pub active: Option<bool>,
    #[schema(format = Password)]
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// The user's id.
    pub id: i32,
}

#[utoipa::path(
    tag = "users",
    params(Paging),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of users", body = Page<UserOut>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    caller: Caller,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let (limit, offset) = paging.resolve()?;
    let page = db::run(&state.pool, move |conn| {
        let (rows, total) = accounts::list_users(conn, limit, offset)?;
        Ok(Page {
            items: rows.into_iter().map(user_out).collect::<Result<_, _>>()?,
            total,
            limit,
            offset,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "users",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: the same key (1 to 255 visible ASCII characters, scoped to the caller and the path) with the same body replays the first response with `Idempotent-Replayed: true`; with another body it is 422; a retry racing the first waits for it, then replays its answer. Keys expire after 24 hours.")),
    request_body = UserIn,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = UserOut, headers(("Location" = String), ("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 409, description = "The username is taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/users")]
pub async fn create_user_route(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    body: Json<UserIn>,
) -> Result<HttpResponse, ApiError> {
    ctx.caller.require_admin()?;
    let input = body.0;
    write_then(
        &state.pool,
        ctx,
        move |tx| {
            let out = user_out(create_user(tx.conn, input.into())?)?;
            tx.audit("create", "user", out.id, out.county_id, NOTHING, Some(&out))?;
            Ok(out)
        },
        move |out| {
            let location = format!("/api/v1/users/{}", out.id);
            Ok(created_versioned(&out, location, out.version))
        },
    )
    .await
}

#[utoipa::path(
    tag = "users",
    params(UserPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserOut, headers(("ETag" = String))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<UserPath>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id = path.id;
    let out = db::run(&state.pool, move |conn| {
        user_out(accounts::user_by_id(conn, id)?.ok_or_else(|| ApiError::not_found("user", id))?)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "users",
    params(UserPath, ("If-Match" = String, Header, description = "The ETag last read")),
    request_body = UserPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = UserOut, headers(("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[patch("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<UserPath>,
    body: Json<UserPatch>,
) -> Result<HttpResponse, ApiError> {
    ctx.caller.require_admin()?;
    let id = path.id;
    let expected = expected_version(&req)?;
    let patch = body.0;
    let mut v = Violations::new();
    let display_name = match &patch.display_name {
        Some(raw) => v.check("display_name", parse_name(raw, 100)),
        None => None,
    };
    if let Some(pw) = &patch.password {
        v.check("password", check_password(pw));
    }
    v.into_result()?;
    let out = write(&state.pool, ctx, move |tx| {
        let current =
            accounts::user_by_id(tx.conn, id)?.ok_or_else(|| ApiError::not_found("user", id))?;
        if current.version != expected {
            return Err(ApiError::PreconditionFailed);
        }
        let role = match patch.role {
            Some(r) => r,
            None => Role::parse(&current.role).map_err(ApiError::internal)?,
        };
        let county_id = patch.county_id.unwrap_or(current.county_id);
        check_role_county(role, county_id).map_err(|m| ApiError::invalid("county_id", m))?;
        if patch.county_id.is_some() {
            check_account_county(tx.conn, county_id)?;
        }
        let password_hash = match &patch.password {
            Some(pw) => Some(hash_password(pw).map_err(ApiError::internal)?),
            None => None,
        };
        // Anything that changes what the user may do ends their current sessions.
        let ends_sessions = password_hash.is_some()
            || patch.active == Some(false)
            || role.as_str() != current.role
            || county_id != current.county_id;
        let changes = accounts::UserChanges {
            display_name,
            role: patch.role.map(|r| r.as_str().to_string()),
            county_id: patch.county_id,
            password_hash,
            active: patch.active,
            auth_version: ends_sessions.then_some(current.auth_version + 1),
            version: Some(current.version + 1),
            updated_at: Some(now()),
        };
        let row = accounts::update_user(tx.conn, id, expected, &changes)?
            .ok_or(ApiError::PreconditionFailed)?;
        if ends_sessions {
            accounts::revoke_user_tokens(tx.conn, id, now())?;
        }
        let password_changed = changes.password_hash.is_some();
        let before = user_out(current)?;
        let out = user_out(row)?;
        let action = if password_changed {
            "set_password"
        } else {
            "update"
        };
        tx.audit(action, "user", id, out.county_id, Some(&before), Some(&out))?;
        Ok(out)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_users)
        .service(create_user_route)
        .service(get_user)
        .service(update_user);
}
