//! The one error type every handler returns, rendered as `application/problem+json` (RFC 9457).
//!
//! Internal causes (SQL errors, pool failures) are logged with the request id and never sent.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::round::Unconfirmed;
use crate::domain::{Violation, Violations};

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`about:blank` when the status says it all).
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this case.
    pub detail: String,
    /// For 422: every broken rule, with the field at fault (a JSON pointer inside batches).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// For a round that cannot be published: each participant not yet accepted, with its state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participants: Option<Vec<Unconfirmed>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// The field at fault: its name, or a JSON pointer such as `/sites/17/completed_on`.
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("malformed request: {0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A round's bulletin waits for these participants' accepted sign-off (409).
    #[error("not signed off: {detail}")]
    NotSignedOff {
        detail: String,
        participants: Vec<Unconfirmed>,
    },
    /// What was asked for is no longer kept (a change-feed cursor past its retention).
    #[error("gone: {0}")]
    Gone(String),
    #[error("method {method} not allowed")]
    MethodNotAllowed { method: String, allow: String },
    #[error("If-Match does not match the current version")]
    PreconditionFailed,
    #[error("If-Match header required")]
    PreconditionRequired,
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("validation failed")]
    Validation(Vec<Violation>),
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// A write attempt given up on purpose so that it runs again another way (a batch's fast
    /// attempt, after an item failed without a savepoint). Never meant for a client: one that
    /// escapes is a 500.
    #[error("write attempt abandoned: {0}")]
    Abandoned(&'static str),
}

impl ApiError {
    pub fn internal(cause: impl Into<String>) -> Self {
        ApiError::Internal(cause.into())
    }

    /// A single broken rule.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![Violation {
            field: field.into(),
            message: message.into(),
        }])
    }

    pub fn not_found(what: &str, id: impl std::fmt::Display) -> Self {
        ApiError::NotFound(format!("{what} {id} does not exist"))
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "Malformed request",
            ApiError::Unauthorized(_) => "Authentication required",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::NotFound(_) => "Not found",
            ApiError::Conflict(_) | ApiError::NotSignedOff { .. } => "Conflict",
            ApiError::Gone(_) => "Gone",
            ApiError::MethodNotAllowed { .. } => "Method not allowed",
            ApiError::PreconditionFailed => "Precondition failed",
            ApiError::PreconditionRequired => "Precondition required",
            ApiError::PayloadTooLarge(_) => "Payload too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::Validation(_) => "Validation failed",
            ApiError::TooManyRequests { .. } => "Too many requests",
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::Internal(_) | ApiError::Abandoned(_) => "Internal server error",
        }
    }

    /// What the client is told. Internal causes stay in the log.
    fn detail(&self) -> String {
        match self {
            ApiError::BadRequest(d)
            | ApiError::Forbidden(d)
            | ApiError::NotFound(d)
            | ApiError::Conflict(d)
            | ApiError::Gone(d)
            | ApiError::PayloadTooLarge(d)
            | ApiError::UnsupportedMediaType(d)
            | ApiError::Unauthorized(d)
            | ApiError::NotSignedOff { detail: d, .. } => d.clone(),
            ApiError::MethodNotAllowed { method, allow } => {
                format!("{method} is not offered here; use {allow}")
            }
            ApiError::PreconditionFailed => {
                "the resource changed since you read it: fetch it again and retry with its new ETag"
                    .into()
            }
            ApiError::PreconditionRequired => {
                "send If-Match with the ETag you read, so concurrent edits are not lost".into()
            }
            ApiError::Validation(v) => {
                let fields: Vec<&str> = v.iter().map(|e| e.field.as_str()).collect();
                format!("{} rule(s) broken: {}", v.len(), fields.join(", "))
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                format!("too many requests; retry after {retry_after_secs} s")
            }
            ApiError::Unavailable(_) => "the database is unavailable; retry shortly".into(),
            ApiError::Internal(_) | ApiError::Abandoned(_) => {
                "an unexpected error occurred; it has been logged".into()
            }
        }
    }

    pub fn problem(&self) -> Problem {
        Problem {
            type_: "about:blank".into(),
            title: self.title().into(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            errors: match self {
                ApiError::Validation(v) => Some(
                    v.iter()
                        .map(|e| FieldError {
                            field: e.field.clone(),
                            message: e.message.clone(),
                        })
                        .collect(),
                ),
                _ => None,
            },
            participants: match self {
                ApiError::NotSignedOff { participants, .. } => Some(participants.clone()),
                _ => None,
            },
        }
    }
}

impl From<Violations> for ApiError {
    fn from(v: Violations) -> Self {
        ApiError::Validation(v.0)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::NotSignedOff { .. } => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) | ApiError::Abandoned(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        // Internal causes are logged with the request id by `middleware::request_id`.
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        match self {
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::MethodNotAllowed { allow, .. } => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            _ => {}
        }
        let body = serde_json::to_string(&self.problem()).unwrap_or_else(|_| "{}".into());
        response.body(body)
    }
}

/// Database errors: constraint violations become 409, a lost connection 503, the rest 500.
impl From<DieselError> for ApiError {
    fn from(e: DieselError) -> Self {
        match &e {
            DieselError::NotFound => ApiError::NotFound("the resource does not exist".into()),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                ApiError::Conflict(
                    match duplicate_field(info.constraint_name(), info.message()) {
                        Some(field) => format!("a record with the same {field} already exists"),
                        None => "a record with the same key already exists".into(),
                    },
                )
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                ApiError::Conflict(
                    "other records depend on this one, or it refers to one that is gone".into(),
                )
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                ApiError::Unavailable(e.to_string())
            }
            // SQLite reports a violated foreign key without a kind.
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message().contains("FOREIGN KEY constraint failed") =>
            {
                ApiError::Conflict(
                    "other records depend on this one, or it refers to one that is gone".into(),
                )
            }
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message().contains("database is locked") =>
            {
                ApiError::Unavailable(e.to_string())
            }
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(e: r2d2::Error) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

/// The field(s) behind a unique violation: PostgreSQL names the constraint
/// (`towns_county_id_name_key`), SQLite the columns (`UNIQUE constraint failed: towns.code`).
fn duplicate_field(constraint: Option<&str>, message: &str) -> Option<String> {
    if let Some(columns) = message.strip_prefix("UNIQUE constraint failed: ") {
        let names: Vec<&str> = columns
            .split(", ")
            .filter_map(|c| c.split('.').nth(1))
            .collect();
        return (!names.is_empty()).then(|| names.join(", "));
    }
    let constraint = constraint?;
    let known = [
        ("counties_division_code_key", "division_code"),
        (
            "counties_one_city_level",
            "kind (a city has one city level)",
        ),
        (
            "counties_one_province_level",
            "kind (a province has one province level)",
        ),
        ("provinces_division_code_key", "division_code"),
        ("cities_division_code_key", "division_code"),
        ("towns_code_key", "code"),
        ("towns_county_id_name_key", "county_id, name"),
        ("funding_requests_county_id_ref_key", "county_id, ref"),
        ("trainings_county_id_ref_key", "county_id, ref"),
    ];
    known
        .iter()
        .find(|(c, _)| *c == constraint)
        .map(|(_, f)| f.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_name_the_duplicate_field() {
        assert_eq!(
            duplicate_field(
                None,
                "UNIQUE constraint failed: towns.county_id, towns.name"
            ),
            Some("county_id, name".into())
        );
        assert_eq!(
            duplicate_field(Some("counties_division_code_key"), "duplicate key value"),
            Some("division_code".into())
        );
    }

    #[test]
    fn internal_errors_never_reach_the_client() {
        let e = ApiError::internal("relation \"counties\" does not exist");
        let p = e.problem();
        assert_eq!(p.status, 500);
        assert!(!p.detail.contains("counties"));
    }
}
