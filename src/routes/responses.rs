//! Error responses shared by many operations, declared once for the spec
//! (`(status = 503, response = DatabaseUnavailable)`); each is a problem+json document.
//! The types only describe the contract: responses are built by `ApiError`.
#![allow(dead_code)]

use utoipa::ToResponse;

use crate::error::Problem;

/// Malformed JSON, path or query string.
#[derive(ToResponse)]
#[response(
    description = "Malformed JSON, path or query string",
    content_type = "application/problem+json"
)]
pub struct BadRequest(Problem);

/// No access token, or an invalid, expired or revoked one (with `WWW-Authenticate: Bearer`).
#[derive(ToResponse)]
#[response(
    description = "No or bad access token",
    content_type = "application/problem+json"
)]
pub struct Unauthenticated(Problem);

#[derive(ToResponse)]
#[response(
    description = "Outside the caller's rights: another county's data, or a role that may not",
    content_type = "application/problem+json"
)]
pub struct Forbidden(Problem);

#[derive(ToResponse)]
#[response(
    description = "Not an administrator",
    content_type = "application/problem+json"
)]
pub struct NotAdmin(Problem);

#[derive(ToResponse)]
#[response(
    description = "Changed since read: fetch it again for its new ETag",
    content_type = "application/problem+json"
)]
pub struct Stale(Problem);

#[derive(ToResponse)]
#[response(
    description = "Body too large",
    content_type = "application/problem+json"
)]
pub struct TooLarge(Problem);

#[derive(ToResponse)]
#[response(description = "Not JSON", content_type = "application/problem+json")]
pub struct NotJson(Problem);

#[derive(ToResponse)]
#[response(
    description = "A rule is broken: every failing field, with its message",
    content_type = "application/problem+json"
)]
pub struct Invalid(Problem);

#[derive(ToResponse)]
#[response(
    description = "A filter, sort or paging value is invalid",
    content_type = "application/problem+json"
)]
pub struct InvalidQuery(Problem);

#[derive(ToResponse)]
#[response(
    description = "If-Match missing: send the ETag you read",
    content_type = "application/problem+json"
)]
pub struct IfMatchMissing(Problem);

#[derive(ToResponse)]
#[response(
    description = "Database unavailable; retry after Retry-After",
    content_type = "application/problem+json"
)]
pub struct DatabaseUnavailable(Problem);

/// The `Idempotency-Key` header every `POST` that writes takes, declared once for the spec
/// (`params(IdempotencyKey)`); the middleware in `idempotency.rs` reads it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// Makes the request safe to retry: the same key (1 to 255 visible ASCII characters, scoped to the caller and the path) with the same body replays the first response with `Idempotent-Replayed: true`; with another body it is 422; a retry racing the first waits for it, then replays its answer. Keys expire after 24 hours.
    #[param(rename = "Idempotency-Key", nullable)]
    pub idempotency_key: Option<String>,
}

/// The `If-Match` header every `PATCH` and `DELETE` needs (`params(IfMatch)`), read by
/// `routes::common::expected_version`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatch {
    /// The ETag last read
    #[param(rename = "If-Match")]
    pub if_match: String,
}
