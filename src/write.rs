//! The one write path: every create, update and delete runs through [`write()`], which opens the
//! transaction and knows who asked and under which request id. The audit trail and idempotency
//! keys attach here, once, rather than route by route.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;

use crate::caller_cache::CallerCache;
use crate::clock::now;
use crate::db::audit::{self, NewAuditEvent};
use crate::db::{self, DbConnection, DbPool};
use crate::domain::audit::{AuditAction, AuditEntity, ChangeType};
use crate::domain::staff::{mask_id_number, mask_phone};
use crate::error::ApiError;
use crate::idempotency::{self, Earlier, PendingKey, Rendered};
use crate::middleware::RequestId;
use crate::policy::Caller;
use crate::state::AppState;

/// The optional header explaining a change, kept in the audit trail.
pub const CHANGE_REASON_HEADER: &str = "x-change-reason";
/// The longest reason kept; a longer one is cut.
pub const REASON_MAX_CHARS: usize = 500;

/// For [`Tx::audit`] when there is no value before (a create) or after (a delete).
pub const NOTHING: Option<&()> = None;

/// Who is writing and in which request. Extracting it authenticates the caller (401 without a
/// valid token); the handler then checks the caller's rights on what it touches.
#[derive(Debug, Clone)]
pub struct WriteCtx {
    pub request_id: String,
    pub caller: Caller,
    /// Why, from the optional `X-Change-Reason` header: trimmed, at most 500 characters.
    pub reason: Option<String>,
    /// The request's `Idempotency-Key`, when it has one: [`write_then`] stores the answer with
    /// the change.
    pub idempotency: Option<PendingKey>,
    /// This instance's kept access-token checks, forgotten once a write to accounts commits.
    pub callers: Option<Arc<CallerCache>>,
}

/// The `X-Change-Reason` header: UTF-8 (so 调整 works), trimmed, empty means none, cut to
/// [`REASON_MAX_CHARS`].
fn change_reason(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(raw) = req.headers().get(CHANGE_REASON_HEADER) else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(raw.as_bytes());
    let trimmed = text.trim();
    // Kept in the audit trail and shown to administrators: the same rule as a note's.
    crate::domain::check_visible_text(trimmed, false)
        .map_err(|m| ApiError::invalid("X-Change-Reason", m))?;
    Ok((!trimmed.is_empty()).then(|| trimmed.chars().take(REASON_MAX_CHARS).collect()))
}

impl FromRequest for WriteCtx {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let reason = change_reason(req);
        let idempotency = req.extensions().get::<PendingKey>().cloned();
        let callers = req
            .app_data::<actix_web::web::Data<AppState>>()
            .map(|state| state.callers.clone());
        let caller = Caller::from_request(req, payload);
        Box::pin(async move {
            // Authenticated first: without a token the answer is 401, whatever the reason says.
            let caller = caller.await?;
            Ok(WriteCtx {
                request_id,
                caller,
                reason: reason?,
                idempotency,
                callers,
            })
        })
    }
}

/// A [`WriteCtx`] whose caller is an administrator, of the deployment or of a city: 403 for
/// any other role, before the body is read. The service then checks the city's bounds.
#[derive(Debug, Clone)]
pub struct AdminWrite(pub WriteCtx);

impl FromRequest for AdminWrite {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let ctx = WriteCtx::from_request(req, payload);
        Box::pin(async move {
            let ctx = ctx.await?;
            ctx.caller.require_some_admin()?;
            Ok(AdminWrite(ctx))
        })
    }
}

/// A write in progress: the connection inside the transaction, and its context.
pub struct Tx<'a> {
    pub conn: &'a mut DbConnection,
    pub ctx: &'a WriteCtx,
    /// Audit events of this write, stored together just before it commits (a batch of thousands
    /// of items then costs a few multi-row inserts, not one round trip per item).
    pub pending: &'a mut Vec<NewAuditEvent>,
}

impl Tx<'_> {
    /// Records the change in the audit trail, in this transaction: the change and its record
    /// stand or fall together. `before` is the value loaded before the change (none for a
    /// create), `after` the result (none for a delete); personal fields are masked and secrets
    /// dropped before they are stored.
    pub fn audit<B, A>(
        &mut self,
        action: AuditAction,
        entity: AuditEntity,
        entity_id: i32,
        county_id: Option<i32>,
        before: Option<&B>,
        after: Option<&A>,
    ) -> Result<(), ApiError>
    where
        B: Serialize + ?Sized,
        A: Serialize + ?Sized,
    {
        let who = Who {
            actor: self.ctx.caller.actor(),
            request_id: self.ctx.request_id.clone(),
            reason: self.ctx.reason.clone(),
        };
        self.pending
            .push(who.event(action, entity, entity_id, county_id, before, after)?);
        Ok(())
    }
}

/// Who made a change, in which request and why: what every audit event carries.
struct Who {
    actor: String,
    request_id: String,
    reason: Option<String>,
}

impl Who {
    /// The audit event of a change: `before` and `after` masked, secrets dropped.
    fn event<B, A>(
        self,
        action: AuditAction,
        entity: AuditEntity,
        entity_id: i32,
        county_id: Option<i32>,
        before: Option<&B>,
        after: Option<&A>,
    ) -> Result<NewAuditEvent, ApiError>
    where
        B: Serialize + ?Sized,
        A: Serialize + ?Sized,
    {
        let Some(_) = ChangeType::of(entity, action) else {
            return Err(ApiError::internal(format!(
                "the audit trail has no change type {entity}.{action}"
            )));
        };
        let (before, after) = (audit_json(before)?, audit_json(after)?);
        let mut event = NewAuditEvent {
            occurred_at: now(),
            actor: self.actor,
            action,
            entity,
            entity_id,
            county_id,
            request_id: self.request_id,
            reason: self.reason,
            before,
            after,
            entity_version: None,
            city_id: None,
            province_id: None,
        };
        // The feed shows the record's version (after the change, before it for a delete).
        event.entity_version = event.number_in_value("version");
        Ok(event)
    }
}

/// Records a change made outside the API (the command line) in the audit trail, in the
/// caller's transaction, as [`Tx::audit`] does for the API: `actor` such as `cli:root`, and a
/// request id of its own (`cli-…`, `system-…`: the actor's kind).
#[allow(clippy::too_many_arguments)]
pub fn audit_outside_api<B, A>(
    conn: &mut DbConnection,
    actor: &str,
    action: AuditAction,
    entity: AuditEntity,
    entity_id: i32,
    county_id: Option<i32>,
    before: Option<&B>,
    after: Option<&A>,
) -> Result<(), ApiError>
where
    B: Serialize + ?Sized,
    A: Serialize + ?Sized,
{
    let who = Who {
        actor: actor.to_string(),
        request_id: format!(
            "{}-{}",
            actor.split(':').next().unwrap_or("cli"),
            crate::domain::random_token(16)
        ),
        reason: None,
    };
    let event = who.event(action, entity, entity_id, county_id, before, after)?;
    Ok(audit::insert_all(conn, &mut [event])?)
}

/// A value as stored in the audit trail: JSON with personal fields masked; `None` for none.
fn audit_json<T: Serialize + ?Sized>(value: Option<&T>) -> Result<Option<String>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    let mut json =
        serde_json::to_value(value).map_err(|e| ApiError::internal(format!("audit value: {e}")))?;
    if json.is_null() {
        return Ok(None);
    }
    mask_personal(&mut json);
    serde_json::to_string(&json)
        .map(Some)
        .map_err(|e| ApiError::internal(format!("audit value: {e}")))
}

/// Fields never stored in the audit trail as they are.
const SECRET_FIELDS: &[&str] = &[
    "password",
    "password_hash",
    "client_secret",
    "secret_hash",
    "secret",
];

/// Masks phone and ID numbers (as [`mask_phone`] and [`mask_id_number`] do for responses) and
/// removes passwords and secrets, at any depth.
pub fn mask_personal(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !SECRET_FIELDS.contains(&k.as_str()));
            for (k, v) in map.iter_mut() {
                match (k.as_str(), &v) {
                    ("phone", Value::String(s)) => *v = Value::String(mask_phone(s)),
                    ("id_number", Value::String(s)) => *v = Value::String(mask_id_number(s)),
                    _ => mask_personal(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_personal),
        _ => {}
    }
}

/// Runs `f` in one transaction off the async workers; any error rolls everything back.
pub async fn write<T, F>(pool: &DbPool, ctx: WriteCtx, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut Tx<'_>) -> Result<T, ApiError> + Send + 'static,
{
    let callers = ctx.callers.clone();
    let (out, accounts) = db::run(pool, move |conn| {
        db::write_transaction(conn, |conn| audited(conn, &ctx, f))
    })
    .await?;
    forget_callers_when(accounts, callers);
    Ok(out)
}

/// Whether a write changed accounts (users, integration clients), judged by its audit events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AccountsChanged(bool);

/// Once a write that changed accounts has committed, this instance forgets the access-token
/// checks it kept: a deactivation or a password change ends access here at once.
fn forget_callers_when(changed: AccountsChanged, callers: Option<Arc<CallerCache>>) {
    if let (AccountsChanged(true), Some(callers)) = (changed, callers) {
        callers.forget_all();
    }
}

/// `f` as one write: its audit events stored together at its end, in the same transaction.
fn audited<T>(
    conn: &mut DbConnection,
    ctx: &WriteCtx,
    f: impl FnOnce(&mut Tx<'_>) -> Result<T, ApiError>,
) -> Result<(T, AccountsChanged), ApiError> {
    let mut pending = Vec::new();
    let out = f(&mut Tx {
        conn: &mut *conn,
        ctx,
        pending: &mut pending,
    })?;
    audit::insert_all(conn, &mut pending)?;
    let accounts = pending
        .iter()
        .any(|e| matches!(e.entity, AuditEntity::User | AuditEntity::Client));
    Ok((out, AccountsChanged(accounts)))
}

/// What a write with an answer came to.
enum Answered {
    Now(Rendered, AccountsChanged),
    Earlier(Earlier),
}

/// Runs `f` like [`write()`] and turns its result into the response with `respond`, inside the
/// transaction: with an `Idempotency-Key`, the answer is stored with the change (both commit or
/// neither does), and a request whose key an earlier one already answered replays that answer
/// without running `f`. Every `POST` that writes answers through this.
pub async fn write_then<T, F, R>(
    pool: &DbPool,
    ctx: WriteCtx,
    f: F,
    respond: R,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut Tx<'_>) -> Result<T, ApiError> + Send + 'static,
    R: FnOnce(T) -> Result<HttpResponse, ApiError> + Send + 'static,
{
    let callers = ctx.callers.clone();
    let answered = db::run(pool, move |conn| {
        db::write_transaction(conn, |conn| {
            if let Some(key) = &ctx.idempotency {
                if let Some(earlier) = idempotency::earlier_in_transaction(conn, key)? {
                    return Ok(Answered::Earlier(earlier));
                }
            }
            let (out, accounts) = audited(conn, &ctx, f)?;
            let answer = Rendered::of(respond(out)?)?;
            if let Some(key) = &ctx.idempotency {
                idempotency::store_in_transaction(conn, key, &answer)?;
            }
            Ok(Answered::Now(answer, accounts))
        })
    })
    .await?;
    match answered {
        Answered::Now(answer, accounts) => {
            forget_callers_when(accounts, callers);
            Ok(answer.into_response())
        }
        Answered::Earlier(earlier) => earlier.into_response(),
    }
}

/// Runs `f` like [`write()`] (the same transaction, checks and audit calls) and then rolls it all
/// back, returning what `f` answered: a dry run that reports what would happen.
pub async fn rehearse<T, F>(pool: &DbPool, ctx: WriteCtx, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut Tx<'_>) -> Result<T, ApiError> + Send + 'static,
{
    db::run(pool, move |conn| {
        let outcome: Result<(), Rehearsal<T>> = db::write_transaction(conn, |conn| {
            let (answer, _) = audited(conn, &ctx, f).map_err(Rehearsal::Failed)?;
            // Any error rolls back: this one carries the answer out.
            Err(Rehearsal::RolledBack(answer))
        });
        match outcome {
            Err(Rehearsal::RolledBack(answer)) => Ok(answer),
            Err(Rehearsal::Failed(e)) => Err(e),
            Ok(()) => Err(ApiError::internal("a dry run was committed")),
        }
    })
    .await
}

/// How a rehearsed write ends: rolled back with its answer, or failed.
enum Rehearsal<T> {
    RolledBack(T),
    Failed(ApiError),
}

impl<T> From<diesel::result::Error> for Rehearsal<T> {
    fn from(e: diesel::result::Error) -> Self {
        Rehearsal::Failed(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_fields_are_masked_and_secrets_dropped_at_any_depth() {
        let mut v = serde_json::json!({
            "name": "王芳",
            "phone": "13812345678",
            "id_number": "44530219900101123X",
            "password_hash": "$argon2id$...",
            "client": {"client_secret": "s3cret", "secret_hash": "abc", "name": "x"},
            "items": [{"phone": "13900001111"}],
        });
        mask_personal(&mut v);
        assert_eq!(v["phone"], "138****5678");
        assert_eq!(v["id_number"], "4453**********123X");
        assert!(v.get("password_hash").is_none());
        assert_eq!(v["client"], serde_json::json!({"name": "x"}));
        assert_eq!(v["items"][0]["phone"], "139****1111");
        assert_eq!(v["name"], "王芳");
    }
}
