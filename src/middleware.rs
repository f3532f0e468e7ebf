//! Cross-cutting request handling: request ids, conditional GETs, NUL characters in query
//! strings, problem+json for every error, security headers.

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse};

use crate::error::ApiError;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being served; also sent back as `X-Request-Id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A caller's own id is kept when it is short and plain, so a script can correlate its logs.
fn acceptable(id: &str) -> bool {
    (8..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Gives every request an id, returns it as `X-Request-Id`, and logs internal errors with it
/// (the client only ever sees the id, never the cause).
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_string)
        .unwrap_or_else(|| crate::domain::random_token(22));
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.path().to_string();
    let mut res = next.call(req).await?;
    if let Some(api) = res
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
    {
        match api {
            ApiError::Internal(cause) => {
                log::error!("request_id={id} {method} {path}: internal error: {cause}")
            }
            // The outage itself is logged once by `db::Health`; each refused request only at debug.
            ApiError::Unavailable(cause) => {
                log::debug!("request_id={id} {method} {path}: database unavailable: {cause}")
            }
            _ => {}
        }
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(res)
}

/// `ETag` on every successful `GET`, and `304 Not Modified` when `If-None-Match` matches.
///
/// Versioned resources keep the strong ETag their handler set (`"3"`, what `If-Match` expects),
/// and lists the weak one `Page::respond` made from what decides them; other answers get a weak
/// one from a hash of the body, so mobile clients on slow links can
/// revalidate lists and reports too. Runs inside compression, so the hash is of the plain body.
pub async fn conditional_get(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let is_get = req.method() == Method::GET || req.method() == Method::HEAD;
    let if_none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let res = next.call(req).await?;
    if !is_get || res.status() != StatusCode::OK {
        return Ok(res.map_into_boxed_body());
    }
    let (req, res) = res.into_parts();
    let (mut res, body) = res.into_parts();
    // A tag the handler set (a version, a list's) needs no look at the body; only other answers
    // (reports, exports) are read whole and hashed.
    let (tag, body) = match res.headers().get(header::ETAG) {
        Some(existing) => (
            existing.to_str().unwrap_or_default().to_string(),
            BoxBody::new(body),
        ),
        None => {
            let bytes = to_bytes(body)
                .await
                .map_err(|e| actix_web::error::ErrorInternalServerError(e.into()))?;
            (weak_etag(&bytes), BoxBody::new(bytes))
        }
    };
    if let Ok(value) = HeaderValue::from_str(&tag) {
        res.headers_mut().insert(header::ETAG, value);
    }
    if if_none_match.is_some_and(|candidates| etag_matches(&candidates, &tag)) {
        let mut not_modified = HttpResponse::NotModified();
        for name in [
            header::ETAG,
            header::CACHE_CONTROL,
            HeaderName::from_static(REQUEST_ID_HEADER),
        ] {
            if let Some(v) = res.headers().get(&name) {
                not_modified.insert_header((name.clone(), v.clone()));
            }
        }
        return Ok(ServiceResponse::new(req, not_modified.finish()));
    }
    Ok(ServiceResponse::new(req, res.set_body(body)))
}

/// A query string whose decoded names or values hold a NUL character is refused, 422 naming
/// the parameter, before any handler sees it (PostgreSQL refuses NUL in text; SQLite would
/// store it). Bodies get the same check in `routes::common::parse_json`.
pub async fn refuse_nul_in_query(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // A NUL cannot appear in a URI as such, only percent-encoded.
    if req.query_string().contains("%00") {
        if let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string()) {
            // Only the parameters the operation reads: others are ignored anyway.
            let declared = crate::startup::declared_query(req.method().as_str(), req.path());
            let broken: Vec<crate::domain::Violation> = pairs
                .iter()
                .filter(|(name, value)| value.contains('\0') && declared.contains(name))
                .map(|(name, _)| crate::domain::Violation {
                    field: name.clone(),
                    message: "must not contain NUL characters".into(),
                })
                .collect();
            if !broken.is_empty() {
                return Ok(req.error_response(ApiError::Validation(broken)));
            }
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Media types an error may carry as it is: ours (problem+json) and the token endpoint's
/// RFC 6749 JSON.
fn is_structured(res: &HttpResponse<impl MessageBody>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("application/problem+json") || v.starts_with("application/json")
        })
}

/// Every error is problem+json, including those actix and its middleware answer themselves in
/// plain text (a body over the limit before a handler runs, a refused CORS preflight).
pub async fn problems_everywhere(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Errors raised by extractors and middleware arrive as responses; an `Err` here would be
    // a middleware's own, and ours are ApiErrors, already problem+json.
    let res = next.call(req).await?;
    if res.status().as_u16() < 400 || is_structured(res.response()) {
        return Ok(res.map_into_boxed_body());
    }
    let status = res.status();
    let (req, res) = res.into_parts();
    let headers = res.headers().clone();
    let text = to_bytes(res.into_body())
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let mut problem = as_problem(status, &text);
    for (name, value) in headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(ServiceResponse::new(req, problem))
}

/// A problem+json answer for a plain-text error: its own short text as the detail (actix's
/// messages, such as "payload reached size limit"), else the status's reason.
fn as_problem(status: StatusCode, text: &str) -> HttpResponse {
    let text = text.trim();
    let detail = if !text.is_empty() && text.len() <= 200 && !text.contains('\n') {
        text.to_string()
    } else {
        status.canonical_reason().unwrap_or("error").to_string()
    };
    let problem = crate::error::Problem {
        type_: "about:blank".into(),
        title: status.canonical_reason().unwrap_or("Error").into(),
        status: status.as_u16(),
        detail,
        errors: None,
        participants: None,
    };
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "application/problem+json"))
        .body(serde_json::to_string(&problem).unwrap_or_else(|_| "{}".into()))
}

/// Paths whose answers carry personal data (a social worker's phone and ID number, accounts,
/// the audit trail, a round's chase list with phones) or tokens: never stored by a cache.
fn is_personal(path: &str) -> bool {
    let round_people = path.starts_with("/api/v1/rounds/") && path.contains("/completeness");
    round_people
        || [
            "/api/v1/staff",
            "/api/v1/auth/",
            "/api/v1/me",
            "/api/v1/users",
            "/api/v1/clients",
            "/api/v1/audit-events",
        ]
        .iter()
        .any(|p| path.starts_with(p))
}

/// The documentation page runs offline from its own files; it needs inline styles and the
/// inline start-up script Swagger UI writes.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// OWASP's REST security headers on every answer: `nosniff`; on the API no framing and no
/// referrer; `Cache-Control: no-store` on personal data and tokens.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // The path as the router decodes it: `/api/v1/%73taff` is `/api/v1/staff`.
    let path = req.match_info().as_str().to_string();
    let mut res = next.call(req).await?.map_into_boxed_body();
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let csp = if path.starts_with("/docs") {
        DOCS_CSP
    } else {
        API_CSP
    };
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if is_personal(&path) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// A weak `ETag` from what is fed to it: a body here, the fields that decide a list in
/// `Page::respond` (fed through `Hash`, so a tag is written as a tuple of them).
#[derive(Default)]
pub struct WeakTag(sha2::Sha256);

impl std::hash::Hasher for WeakTag {
    fn write(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.0, bytes);
    }

    fn finish(&self) -> u64 {
        let digest = sha2::Digest::finalize(self.0.clone());
        digest[..8].iter().fold(0, |n, b| (n << 8) | u64::from(*b))
    }
}

impl WeakTag {
    /// `W/"…"`: the first 16 bytes of the digest in hex.
    pub fn etag(self) -> String {
        let digest = sha2::Digest::finalize(self.0);
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("W/\"{hex}\"")
    }
}

fn weak_etag(body: &[u8]) -> String {
    let mut tag = WeakTag::default();
    std::hash::Hasher::write(&mut tag, body);
    tag.etag()
}

/// Weak comparison (RFC 9110 §13.1.2): `W/` is ignored; `*` matches anything.
fn etag_matches(candidates: &str, tag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let tag = bare(tag);
    candidates
        .split(',')
        .any(|c| c.trim() == "*" || bare(c) == tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists() {
        assert!(etag_matches("\"1\"", "\"1\""));
        assert!(etag_matches("W/\"ab\", \"cd\"", "\"ab\""));
        assert!(etag_matches("*", "W/\"x\""));
        assert!(!etag_matches("\"2\"", "\"1\""));
    }

    #[test]
    fn request_ids_from_callers_must_be_short_and_plain() {
        assert!(acceptable("script-run-0001"));
        assert!(!acceptable("short"));
        assert!(!acceptable("has space in it"));
        assert!(!acceptable(&"x".repeat(65)));
    }

    #[test]
    fn weak_etags_follow_the_body() {
        assert_eq!(weak_etag(b"a"), weak_etag(b"a"));
        assert_ne!(weak_etag(b"a"), weak_etag(b"b"));
        assert!(weak_etag(b"a").starts_with("W/\""));
    }
}
