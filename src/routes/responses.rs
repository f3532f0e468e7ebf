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
