//! Idempotency keys for `POST`: a retry with the same `Idempotency-Key` replays the first
//! response instead of applying the request again.
//!
//! Keys are scoped to the caller, the method and the path. Before the handler runs, a claim row
//! is inserted; the unique key (actor, method, path, key) decides races, so two retries racing
//! each other apply once (the loser waits for the winner's response). The same key with another
//! body is refused (422). Any final response but a 5xx is stored and replayed with
//! `Idempotent-Replayed: true`; after a 5xx the claim is released, so a retry runs again. Keys
//! expire after 24 hours. Not on `/api/v1/auth/*`, nor on routes that return a secret once
//! (`POST /api/v1/clients`, `POST /api/v1/clients/{id}/rotate-secret`): there the header is
//! ignored.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use actix_web::{web, FromRequest, HttpResponse};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::db::idempotency::{self as q, IdempotencyRow, NewClaim};
use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::policy::Caller;
use crate::routes::common::now;
use crate::routes::updates::{is_batch_path, MAX_BODY_BYTES};
use crate::state::AppState;

pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Sent with a replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// How long a key is remembered; an older one is ignored (and deleted when met).
pub const KEY_TTL_HOURS: i64 = 24;
/// A claim whose request never finished (the server stopped mid-request) is given up after this.
const ABANDONED_AFTER_SECS: i64 = 120;
/// How long a retry waits for a concurrent request with the same key before `409`.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(10);
const POLL_EVERY: Duration = Duration::from_millis(100);

/// Whether a `POST` to `path` honours `Idempotency-Key`: not the token endpoints, not the
/// routes that return a secret once.
pub fn honours_key(path: &str) -> bool {
    let returns_secret = path == "/api/v1/clients"
        || (path.starts_with("/api/v1/clients/") && path.ends_with("/rotate-secret"));
    !(path.starts_with("/api/v1/auth/") || returns_secret)
}

/// 1 to 255 visible ASCII characters.
fn valid_key(key: &[u8]) -> bool {
    (1..=255).contains(&key.len()) && key.iter().all(|b| (0x21..=0x7e).contains(b))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

enum Claim {
    /// This request holds the key: run it, then store its response.
    Claimed(i32),
    /// The first request with this key finished: replay its response.
    Replay(IdempotencyRow),
    /// The key was used with another body.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

fn try_claim(conn: &mut DbConnection, new: &NewClaim) -> Result<Claim, ApiError> {
    let at = now();
    let expired_before = at - chrono::Duration::hours(KEY_TTL_HOURS);
    let abandoned_before = at - chrono::Duration::seconds(ABANDONED_AFTER_SECS);
    // Now and then, sweep expired keys.
    if rand::random::<u8>() == 0 {
        q::delete_expired(conn, expired_before)?;
    }
    for _ in 0..3 {
        match q::claim(conn, new) {
            Ok(row) => return Ok(Claim::Claimed(row.id)),
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {}
            Err(e) => return Err(e.into()),
        }
        let Some(existing) = q::find(conn, &new.actor, &new.method, &new.path, &new.key)? else {
            // Released in between (the first request failed): claim again.
            continue;
        };
        let abandoned = existing.status.is_none() && existing.created_at < abandoned_before;
        if existing.created_at < expired_before || abandoned {
            q::delete(conn, existing.id)?;
            continue;
        }
        if existing.request_hash != new.request_hash {
            return Ok(Claim::Mismatch);
        }
        return Ok(match existing.status {
            Some(_) => Claim::Replay(existing),
            None => Claim::InProgress,
        });
    }
    Ok(Claim::InProgress)
}

/// The headers a replay repeats.
fn kept_headers() -> [HeaderName; 3] {
    [header::LOCATION, header::ETAG, header::CONTENT_TYPE]
}

fn replay(row: &IdempotencyRow) -> Result<HttpResponse, ApiError> {
    let status = row
        .status
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| ApiError::internal("stored idempotent response has no valid status"))?;
    let headers: BTreeMap<String, String> = match &row.response_headers {
        Some(raw) => serde_json::from_str(raw)
            .map_err(|e| ApiError::internal(format!("stored idempotent headers: {e}")))?,
        None => BTreeMap::new(),
    };
    let mut response = HttpResponse::build(status);
    for (name, value) in headers {
        response.insert_header((name, value));
    }
    response.insert_header((REPLAYED_HEADER, "true"));
    Ok(response.body(row.response_body.clone().unwrap_or_default()))
}

async fn release(state: &AppState, id: i32) {
    if let Err(e) = db::run(&state.pool, move |conn| Ok(q::delete(conn, id)?)).await {
        log::error!("could not release idempotency claim {id}: {e}");
    }
}

/// The request body, within the route's limit: a county batch's own (16 MiB), else the
/// general one.
async fn read_body(req: &mut ServiceRequest) -> Result<web::Bytes, ApiError> {
    if !is_batch_path(req.path()) {
        return req.extract::<web::Bytes>().await.map_err(|e| {
            if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("the request body is larger than allowed".into())
            } else {
                ApiError::BadRequest("could not read the request body".into())
            }
        });
    }
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| ApiError::BadRequest("could not read the request body".into()))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge(format!(
                "a batch is at most {MAX_BODY_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The middleware: see the module's documentation.
pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = match req.headers().get(IDEMPOTENCY_KEY_HEADER) {
        Some(key) if req.method() == Method::POST && honours_key(req.path()) => {
            key.as_bytes().to_vec()
        }
        _ => return Ok(next.call(req).await?.map_into_boxed_body()),
    };
    if !valid_key(&key) {
        return Ok(req.error_response(ApiError::BadRequest(
            "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
        )));
    }
    let key = String::from_utf8_lossy(&key).into_owned();
    // Without a valid token the handler answers 401; keys are per caller.
    let Ok(caller) = Caller::from_request(req.request(), &mut Payload::None).await else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.error_response(ApiError::internal("application state missing")));
    };
    let body = match read_body(&mut req).await {
        Ok(body) => body,
        Err(err) => return Ok(req.error_response(err)),
    };
    let claim = NewClaim {
        actor: caller.actor(),
        method: Method::POST.to_string(),
        path: req.path().to_string(),
        key,
        request_hash: sha256_hex(&body),
        created_at: now(),
    };
    req.set_payload(Payload::from(body));

    let started = Instant::now();
    let id = loop {
        let attempt = claim.clone();
        match db::run(&state.pool, move |conn| try_claim(conn, &attempt)).await {
            Ok(Claim::Claimed(id)) => break id,
            Ok(Claim::Replay(row)) => {
                return Ok(match replay(&row) {
                    Ok(response) => req.into_response(response),
                    Err(e) => req.error_response(e),
                })
            }
            Ok(Claim::Mismatch) => {
                return Ok(req.error_response(ApiError::invalid(
                    "Idempotency-Key",
                    "this key was already used with another request body; use a new key",
                )))
            }
            Ok(Claim::InProgress) if started.elapsed() < WAIT_FOR_FIRST => {
                actix_web::rt::time::sleep(POLL_EVERY).await;
            }
            Ok(Claim::InProgress) => {
                return Ok(req.error_response(ApiError::Conflict(
                    "a request with this key is in progress; retry later".into(),
                )))
            }
            Err(e) => return Ok(req.error_response(e)),
        }
    };

    let res = match next.call(req).await {
        Ok(res) => res,
        Err(e) => {
            release(&state, id).await;
            return Err(e);
        }
    };
    if res.status().is_server_error() {
        release(&state, id).await;
        return Ok(res.map_into_boxed_body());
    }
    let status = i32::from(res.status().as_u16());
    let (http_req, res) = res.into_parts();
    let (res, body) = res.into_parts();
    let bytes = match to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(e) => {
            release(&state, id).await;
            return Err(actix_web::error::ErrorInternalServerError(e.into()));
        }
    };
    let headers: BTreeMap<String, String> = kept_headers()
        .iter()
        .filter_map(|name| {
            let value = res.headers().get(name)?.to_str().ok()?;
            Some((name.as_str().to_string(), value.to_string()))
        })
        .collect();
    match (
        String::from_utf8(bytes.to_vec()),
        serde_json::to_string(&headers),
    ) {
        (Ok(text), Ok(headers)) => {
            let stored = db::run(&state.pool, move |conn| {
                Ok(q::complete(conn, id, status, headers, text)?)
            })
            .await;
            if let Err(e) = stored {
                // The change is made; keeping the claim makes retries wait, not apply it again.
                log::error!("could not store the response of idempotency claim {id}: {e}");
            }
        }
        _ => release(&state, id).await,
    }
    Ok(ServiceResponse::new(
        http_req,
        res.set_body(BoxBody::new(bytes)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert!(valid_key(b"a"));
        assert!(valid_key(&[b'x'; 255]));
        assert!(!valid_key(&[b'x'; 256]));
        assert!(!valid_key(b""));
        assert!(!valid_key(b"with space"));
        assert!(!valid_key("钥匙".as_bytes()));
    }

    #[test]
    fn token_and_secret_routes_ignore_keys() {
        assert!(honours_key("/api/v1/towns"));
        assert!(honours_key("/api/v1/staff/3/postings"));
        assert!(!honours_key("/api/v1/auth/token"));
        assert!(!honours_key("/api/v1/clients"));
        assert!(!honours_key("/api/v1/clients/4/rotate-secret"));
    }
}
