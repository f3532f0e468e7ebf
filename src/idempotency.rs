//! Idempotency keys for `POST`: a retry with the same `Idempotency-Key` replays the first
//! response instead of applying the request again.
//!
//! Keys are scoped to the caller, the method and the path; the query string and the body must
//! match too (the same key with another body or query is refused, 422). A request that writes
//! stores its answer in the write's own transaction ([`crate::write::write_then`]), so after any
//! failure a retry either replays that answer or finds that nothing was written; two retries
//! racing each other apply once, the second waiting for the first to commit (an advisory lock
//! on the key on PostgreSQL; SQLite serialises writes) and then replaying its answer. Answers
//! that wrote nothing (refusals, dry runs) are stored after the handler. A 5xx is never stored,
//! so a retry after one runs again. Keys expire after 24 hours. Not on `/api/v1/auth/*`, nor on
//! routes that return a secret once (`POST /api/v1/clients`, `POST /api/v1/webhooks` and their
//! `…/{id}/rotate-secret`): there the header is ignored.
//!
//! Which route a request is for is decided on the path as the router matches it (percent-decoded
//! by actix-router's `Url`), never on the raw path: `/api/v1/%63lients` is `/api/v1/clients`.
//! As a second guard, a response marked `Cache-Control: no-store` (every answer carrying a
//! secret or a token) is never stored.

use std::collections::BTreeMap;

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use actix_web::{web, FromRequest, HttpResponse};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::clock::now;
use crate::db::idempotency::{self as q, IdempotencyRow, NewStoredKey};
use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::limits::{is_batch_path, MAX_BODY_BYTES};
use crate::policy::Caller;
use crate::state::AppState;

pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Sent with a replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// How long a key is remembered; an older one is ignored (and deleted when met).
pub const KEY_TTL_HOURS: i64 = 24;

/// The path the router matches: the raw path percent-decoded as actix-router does (all but
/// `%2F`, `%25` and `%2B`), so `/api/v1/%61uth/token` is the token endpoint here too.
fn routed_path(req: &ServiceRequest) -> &str {
    req.match_info().as_str()
}

/// Whether a response must never be kept: `Cache-Control: no-store`, which every answer
/// carrying a secret or a token sends.
fn no_store(headers: &[(HeaderName, HeaderValue)]) -> bool {
    headers.iter().any(|(name, value)| {
        name == header::CACHE_CONTROL
            && value.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|d| d.trim().eq_ignore_ascii_case("no-store"))
            })
    })
}

/// Whether a `POST` to `path` (as routed: see `routed_path`) honours `Idempotency-Key`: not
/// the token endpoints, not the routes that return a secret once.
pub fn honours_key(path: &str) -> bool {
    let returns_secret = ["/api/v1/clients", "/api/v1/webhooks"]
        .iter()
        .any(|base| path == *base || (path.starts_with(base) && path.ends_with("/rotate-secret")));
    !(path.starts_with("/api/v1/auth/") || returns_secret)
}

/// 1 to 255 visible ASCII characters.
fn valid_key(key: &[u8]) -> bool {
    (1..=255).contains(&key.len()) && key.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// What must match for a replay: the query string and the body.
fn request_hash(query: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(query.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The key a `POST` carries, read by the middleware and handed to the write (through
/// [`crate::write::WriteCtx`]), which stores the answer in its own transaction.
#[derive(Debug, Clone)]
pub struct PendingKey {
    actor: String,
    method: String,
    path: String,
    key: String,
    request_hash: String,
}

impl PendingKey {
    fn stored(&self, answer: &Rendered) -> Option<NewStoredKey> {
        if no_store(&answer.headers) {
            return None;
        }
        let body = String::from_utf8(answer.body.to_vec()).ok()?;
        let headers: BTreeMap<String, String> = answer
            .headers
            .iter()
            .filter(|(name, _)| kept_headers().contains(name))
            .filter_map(|(name, value)| {
                Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
            })
            .collect();
        Some(NewStoredKey {
            actor: self.actor.clone(),
            method: self.method.clone(),
            path: self.path.clone(),
            key: self.key.clone(),
            request_hash: self.request_hash.clone(),
            status: Some(i32::from(answer.status.as_u16())),
            response_headers: Some(serde_json::to_string(&headers).ok()?),
            response_body: Some(body),
            created_at: now(),
        })
    }
}

/// Set on a response whose key is settled (stored with the write, or replayed), so the
/// middleware does not store it again.
#[derive(Debug, Clone, Copy)]
struct Settled;

/// What an earlier request with the same key left.
pub enum Earlier {
    /// Its answer, to replay.
    Answered(IdempotencyRow),
    /// The key was used with another body or query.
    Mismatch,
}

impl Earlier {
    /// The answer to this request: the replay, or 422 for another body.
    pub fn into_response(self) -> Result<HttpResponse, ApiError> {
        match self {
            Earlier::Answered(row) => replay(&row),
            Earlier::Mismatch => Err(ApiError::invalid(
                "Idempotency-Key",
                "this key was already used with another request body or query; use a new key",
            )),
        }
    }
}

/// The earlier request with this key, if any answered within the last 24 hours.
fn earlier(conn: &mut DbConnection, pending: &PendingKey) -> Result<Option<Earlier>, ApiError> {
    let Some(row) = q::find(
        conn,
        &pending.actor,
        &pending.method,
        &pending.path,
        &pending.key,
    )?
    else {
        return Ok(None);
    };
    let expired_before = now() - chrono::Duration::hours(KEY_TTL_HOURS);
    if row.created_at < expired_before || row.status.is_none() {
        q::delete(conn, row.id)?;
        return Ok(None);
    }
    Ok(Some(if row.request_hash == pending.request_hash {
        Earlier::Answered(row)
    } else {
        Earlier::Mismatch
    }))
}

/// Inside a write's transaction, before it changes anything: waits until no other request with
/// this key is writing (on PostgreSQL an advisory lock on the key, released at commit; SQLite
/// runs one write transaction at a time), then finds what an earlier one answered.
pub fn earlier_in_transaction(
    conn: &mut DbConnection,
    pending: &PendingKey,
) -> Result<Option<Earlier>, ApiError> {
    if let DbConnection::Pg(pg) = conn {
        use diesel::RunQueryDsl;
        let scope = format!(
            "idempotency\n{}\n{}\n{}\n{}",
            pending.actor, pending.method, pending.path, pending.key
        );
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<diesel::sql_types::Text, _>(scope)
            .execute(pg)?;
    }
    earlier(conn, pending)
}

/// Inside a write's transaction, after it: stores the answer with the key, so the change and
/// its answer commit together.
pub fn store_in_transaction(
    conn: &mut DbConnection,
    pending: &PendingKey,
    answer: &Rendered,
) -> Result<(), ApiError> {
    if answer.status.is_server_error() {
        return Ok(());
    }
    match pending.stored(answer) {
        Some(row) => Ok(q::insert(conn, &row)?),
        None => Ok(()),
    }
}

/// A response taken apart, so it can be built inside the write's blocking thread, stored, and
/// sent from the async one.
pub struct Rendered {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: web::Bytes,
}

impl Rendered {
    /// A response whose body is in memory (JSON built with `.json()` or `.body()`).
    pub fn of(response: HttpResponse) -> Result<Rendered, ApiError> {
        let status = response.status();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        let body = response
            .into_body()
            .try_into_bytes()
            .map_err(|_| ApiError::internal("a written answer must have its body in memory"))?;
        Ok(Rendered {
            status,
            headers,
            body,
        })
    }

    pub fn into_response(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        for header in self.headers {
            response.append_header(header);
        }
        let mut response = response.body(self.body);
        response.extensions_mut().insert(Settled);
        response
    }
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
    let mut response = response.body(row.response_body.clone().unwrap_or_default());
    response.extensions_mut().insert(Settled);
    Ok(response)
}

/// The request body, within the route's limit: a county batch's own (16 MiB), else the
/// general one.
async fn read_body(req: &mut ServiceRequest) -> Result<web::Bytes, ApiError> {
    if !is_batch_path(routed_path(req)) {
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
        Some(key) if req.method() == Method::POST && honours_key(routed_path(&req)) => {
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
    let pending = PendingKey {
        actor: caller.actor(),
        method: Method::POST.to_string(),
        path: routed_path(&req).to_string(),
        key,
        request_hash: request_hash(req.query_string(), &body),
    };
    req.set_payload(Payload::from(body));

    let lookup = pending.clone();
    match db::run(&state.pool, move |conn| earlier(conn, &lookup)).await {
        Ok(None) => {}
        Ok(Some(found)) => {
            return Ok(match found.into_response() {
                Ok(response) => req.into_response(response),
                Err(e) => req.error_response(e),
            })
        }
        Err(e) => return Ok(req.error_response(e)),
    }
    req.extensions_mut().insert(pending.clone());

    let res = next.call(req).await?;
    if res.response().extensions().get::<Settled>().is_some() || res.status().is_server_error() {
        return Ok(res.map_into_boxed_body());
    }
    // An answer that wrote nothing (a refusal, a dry run): stored now, so a retry gets it again.
    let (http_req, res) = res.into_parts();
    let (res, body) = res.into_parts();
    let bytes = to_bytes(body)
        .await
        .map_err(|e| actix_web::error::ErrorInternalServerError(e.into()))?;
    let answer = Rendered {
        status: res.status(),
        headers: res
            .headers()
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect(),
        body: bytes.clone(),
    };
    if let Some(row) = pending.stored(&answer) {
        let stored = db::run(&state.pool, move |conn| Ok(q::insert(conn, &row)?)).await;
        match stored {
            Ok(()) => {}
            // Another request with the same key answered first; it is the one replayed.
            Err(ApiError::Conflict(_)) => {}
            Err(e) => log::warn!("could not store the answer of an idempotent request: {e}"),
        }
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
        assert!(!honours_key("/api/v1/webhooks"));
        assert!(!honours_key("/api/v1/webhooks/4/rotate-secret"));
        assert!(honours_key("/api/v1/webhooks/4/test"));
    }

    #[test]
    fn the_routed_path_is_decoded_as_the_router_decodes_it() {
        use actix_web::test::TestRequest;
        for (raw, routed) in [
            ("/api/v1/%63lients", "/api/v1/clients"),
            ("/api/v1/%61uth/token", "/api/v1/auth/token"),
            (
                "/api/v1/clients/%34/rotate-secret",
                "/api/v1/clients/4/rotate-secret",
            ),
            ("/api/v1/%74owns", "/api/v1/towns"),
        ] {
            let req = TestRequest::post().uri(raw).to_srv_request();
            assert_eq!(routed_path(&req), routed, "{raw}");
            assert!(!honours_key(routed_path(&req)) || routed == "/api/v1/towns");
        }
    }

    #[test]
    fn answers_marked_no_store_are_never_kept() {
        let pending = PendingKey {
            actor: "user:a".into(),
            method: "POST".into(),
            path: "/api/v1/towns".into(),
            key: "k".into(),
            request_hash: request_hash("", b"{}"),
        };
        let answer = |cache: Option<&str>| Rendered {
            status: StatusCode::OK,
            headers: cache
                .map(|v| {
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_str(v).expect("value"),
                    )
                })
                .into_iter()
                .collect(),
            body: web::Bytes::from_static(b"{}"),
        };
        assert!(pending.stored(&answer(None)).is_some());
        assert!(pending.stored(&answer(Some("private, no-store"))).is_none());
        assert!(pending.stored(&answer(Some("No-Store"))).is_none());
    }

    #[test]
    fn the_query_string_is_part_of_what_must_match() {
        assert_ne!(request_hash("dry_run=true", b"{}"), request_hash("", b"{}"));
        assert_eq!(request_hash("", b"{}"), request_hash("", b"{}"));
    }
}
