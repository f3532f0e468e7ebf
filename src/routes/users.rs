//! `/api/v1/users` (admin): the people who use the API.

use std::hash::{Hash, Hasher};

use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db;
use crate::error::{ApiError, Problem};
use crate::policy::Admin;
use crate::routes::common::Tagged;
use crate::routes::common::{
    created_versioned, expected_version, ok_versioned, Json, Page, Paging,
};
use crate::routes::responses::*;
use crate::service::accounts::{self, UserIn, UserOut, UserPatch};
use crate::state::AppState;
use crate::write::{write, write_then, AdminWrite};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct UserPath {
    /// The user's id.
    pub id: i32,
}
impl Tagged for UserOut {
    fn tag<H: Hasher>(&self, into: &mut H) {
        (self.id, self.version, self.updated_at, self.active).hash(into);
    }
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
    req: HttpRequest,
    state: web::Data<AppState>,
    Admin(caller): Admin,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let listed = db::run(&state.pool, move |conn| {
        accounts::list_users(conn, &caller, limit, offset)
    })
    .await?;
    Page::of(listed, limit, offset).respond(&req)
}

#[utoipa::path(
    tag = "users",
    params(IdempotencyKey),
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
    AdminWrite(ctx): AdminWrite,
    body: Json<UserIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    write_then(
        &state.pool,
        ctx,
        move |tx| accounts::add_user(tx, input),
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
    Admin(caller): Admin,
    path: web::Path<UserPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let out = db::run(&state.pool, move |conn| {
        accounts::get_user(conn, &caller, id)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "users",
    params(UserPath, IfMatch),
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
    AdminWrite(ctx): AdminWrite,
    req: HttpRequest,
    path: web::Path<UserPath>,
    body: Json<UserPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    let patch = body.0;
    let out = write(&state.pool, ctx, move |tx| {
        accounts::update_user(tx, id, expected, patch)
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
