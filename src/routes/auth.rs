//! `/api/v1/auth/token`, `/api/v1/auth/revoke` and `/api/v1/me`: OAuth2-style tokens.
//!
//! Token errors follow RFC 6749 §5.2 (`{"error": "invalid_grant", ...}`), not problem+json, so
//! standard OAuth2 client libraries understand them.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::auth::Role;
use crate::error::{ApiError, Problem};
use crate::policy::{Caller, Principal};
use crate::routes::common::{parse_json, Json};
use crate::routes::responses::*;
use crate::service::sessions::{self, Grant, RevokeIn, TokenIn, TokenOut};
use crate::state::AppState;

/// An RFC 6749 error.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorOut {
    /// `invalid_request`, `invalid_client`, `invalid_grant` or `unsupported_grant_type`.
    pub error: String,
    pub error_description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeOut {
    /// `user` or `client`.
    pub kind: String,
    pub id: i32,
    /// The username, or the integration client's `client_id`.
    pub name: String,
    pub role: Role,
    pub county_id: Option<i32>,
    /// A city administrator's city.
    pub city_id: Option<i32>,
}

fn parse_token_request(req: &HttpRequest, body: &[u8]) -> Result<TokenIn, ApiError> {
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    match mime.as_str() {
        // A form is read as the JSON object of its fields, so both spellings meet the same
        // checks (NUL characters, wrong fields) in `parse_json`.
        "application/x-www-form-urlencoded" => {
            let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|e| ApiError::BadRequest(format!("malformed form: {e}")))?;
            let object: serde_json::Map<String, serde_json::Value> = fields
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            let json =
                serde_json::to_vec(&object).map_err(|e| ApiError::internal(e.to_string()))?;
            parse_json(&json)
        }
        "application/json" => parse_json(body),
        _ => Err(ApiError::UnsupportedMediaType(
            "send application/x-www-form-urlencoded or application/json".into(),
        )),
    }
}

/// Get an access token: `password`, `refresh_token` or `client_credentials` grant.
#[utoipa::path(
    tag = "auth",
    request_body(content = TokenIn, content_type = "application/x-www-form-urlencoded", description = "Also accepted as application/json"),
    responses(
        (status = 200, description = "Tokens issued", body = TokenOut, headers(("Cache-Control" = String, description = "`no-store`: the answer carries tokens"))),
        (status = 400, description = "invalid_request, invalid_grant or unsupported_grant_type (RFC 6749)", body = OAuthErrorOut),
        (status = 401, description = "invalid_client (RFC 6749)", body = OAuthErrorOut),
        (status = 413, response = TooLarge),
        (status = 415, description = "Neither form-encoded nor JSON", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/auth/token")]
pub async fn issue_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let peer = req.peer_addr().map(|a| a.ip());
    state
        .check_login_rate(peer)
        .map_err(|retry_after_secs| ApiError::TooManyRequests { retry_after_secs })?;
    // A body that is not a token request is RFC 6749's invalid_request, like any other refusal
    // here, so OAuth2 client libraries understand it; only the content type stays problem+json.
    let input = match parse_token_request(&req, &body) {
        Ok(input) => input,
        Err(e @ (ApiError::UnsupportedMediaType(_) | ApiError::PayloadTooLarge(_))) => {
            return Err(e)
        }
        Err(e) => {
            let description = match &e {
                ApiError::Validation(v) => v
                    .iter()
                    .map(|x| format!("{}: {}", x.field, x.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.problem().detail,
            };
            return Ok(HttpResponse::BadRequest()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(OAuthErrorOut {
                    error: "invalid_request".into(),
                    error_description: description,
                }));
        }
    };
    let grant = sessions::grant(state.get_ref(), peer, input).await?;
    Ok(match grant {
        Grant::Ok(out) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(out),
        Grant::Refused {
            status,
            error,
            description,
        } => {
            let mut res = if status == 401 {
                let mut r = HttpResponse::Unauthorized();
                r.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"shuangbai\""));
                r
            } else {
                HttpResponse::BadRequest()
            };
            res.insert_header((header::CACHE_CONTROL, "no-store"))
                .json(OAuthErrorOut {
                    error: error.into(),
                    error_description: description,
                })
        }
    })
}

/// Revoke a refresh token of yours, with every token of its session, access tokens included: they
/// are refused from now on (RFC 7009: always 200).
#[utoipa::path(
    tag = "auth",
    request_body = RevokeIn,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 415, response = NotJson),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/auth/revoke")]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<RevokeIn>,
) -> Result<HttpResponse, ApiError> {
    sessions::revoke(state.get_ref(), caller, body.0.token).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// Who the access token belongs to.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = MeOut),
        (status = 401, response = Unauthenticated),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/me")]
pub async fn me(caller: Caller) -> HttpResponse {
    let (kind, id, name) = match caller.principal {
        Principal::User { id, username } => ("user", id, username),
        Principal::Client { id, client_id } => ("client", id, client_id),
    };
    HttpResponse::Ok().json(MeOut {
        kind: kind.into(),
        id,
        name,
        role: caller.role,
        county_id: caller.county_id,
        city_id: caller.city_id,
    })
}
