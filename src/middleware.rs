//! Cross-cutting request handling: the request id on every response and log line.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

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
            ApiError::Unavailable(cause) => {
                log::warn!("request_id={id} {method} {path}: database unavailable: {cause}")
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
