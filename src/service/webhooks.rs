//! Webhook subscriptions: the feed's changes pushed to a county's or a province's own system,
//! signed as Standard Webhooks 1.0. What a subscription receives is decided as the feed decides,
//! by its owner's rights; its messages are written to the outbox with each change (in
//! `db::audit::insert_all`) and sent by `service::deliverer`.

use std::net::ToSocketAddrs;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::now;
use crate::config::Webhooks;
use crate::db::audit::AuditRow;
use crate::db::webhooks::{self as q, DeliveryRow, MessageRow, Owned, WebhookChanges, WebhookRow};
use crate::db::{counties, DbConnection};
use crate::domain::audit::{AuditAction, AuditEntity, ChangeType};
use crate::domain::auth::Role;
use crate::domain::webhook::{is_public, Endpoint, MessageState, SigningSecret, TEST_EVENT};
use crate::domain::Name;
use crate::error::ApiError;
use crate::policy::{self, Caller, Principal};
use crate::service::changes::{change_out, ChangeOut};
use crate::service::{double_option, utc, Listed};
use crate::write::Tx;

/// How long a replaced signing secret keeps signing beside the new one.
pub const ROTATION_OVERLAP_HOURS: i64 = 24;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookIn {
    /// Where messages are POSTed: an `http` or `https` URL, at most 2000 characters. A host that
    /// is or resolves to a loopback, private, link-local, multicast or metadata address is refused
    /// (unless the deployment allows private targets).
    pub url: String,
    /// The change types to receive; every type when absent. At least one when given.
    pub event_types: Option<Vec<ChangeType>>,
    /// Only the changes of this city.
    pub city_id: Option<i32>,
    /// Only the changes of this county.
    pub county_id: Option<i32>,
    pub description: Option<String>,
    /// Default true.
    pub active: Option<bool>,
}

/// Absent fields stay as they are; `null` clears (`event_types: null` is every type again).
/// Reactivating clears the reason it was disabled.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    pub url: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<ChangeType>>)]
    pub event_types: Option<Option<Vec<ChangeType>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>)]
    pub city_id: Option<Option<i32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>)]
    pub county_id: Option<Option<i32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub active: Option<bool>,
}

/// A subscription (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookOut {
    pub id: i32,
    pub url: String,
    pub description: Option<String>,
    /// The change types it receives; none for every type.
    pub event_types: Option<Vec<ChangeType>>,
    pub city_id: Option<i32>,
    pub county_id: Option<i32>,
    /// Who subscribed (`user:…` or `client:…`): their rights decide what it receives.
    pub owner: String,
    pub active: bool,
    /// Why it was disabled (an endpoint failing for days), until it is reactivated.
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed; none while the endpoint answers.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret it replaced still signs beside the current one.
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

/// A subscription with its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSecretOut {
    pub webhook: WebhookOut,
    /// `whsec_` and the base64 of 32 random bytes: verify `webhook-signature` with it.
    pub secret: String,
}

/// A message of the outbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookMessageOut {
    pub id: i32,
    /// Sent as `webhook-id`, the same on every attempt: receivers drop a repeat by it.
    pub webhook_message_id: String,
    pub event_type: String,
    pub state: MessageState,
    /// Attempts since it was (re)queued.
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// One attempt to deliver a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryOut {
    pub id: i32,
    pub message_id: i32,
    pub webhook_message_id: String,
    pub event_type: String,
    /// The try's number since the message was (re)queued.
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    /// The receiver's status; none when no answer came (refused, timed out, not allowed).
    pub status_code: Option<i32>,
    pub duration_ms: i32,
    pub error: Option<String>,
    /// When it is tried again; none when it ended with this attempt.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Where the message stands now.
    pub message_state: MessageState,
}

/// The body of every message but the test: `data` is the change as the feed shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEvent {
    #[serde(rename = "type")]
    pub type_: ChangeType,
    /// When the change was made.
    pub timestamp: DateTime<Utc>,
    pub data: ChangeOut,
}

/// The body of the message `POST /webhooks/{id}/test` sends (`type` is `webhook.test`).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookTestEvent {
    #[serde(rename = "type")]
    pub type_: String,
    pub timestamp: DateTime<Utc>,
    pub data: WebhookTestData,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookTestData {
    pub webhook_id: i32,
    pub message: String,
}

fn webhook_out(row: &WebhookRow) -> WebhookOut {
    WebhookOut {
        id: row.id,
        url: row.url.clone(),
        description: row.description.clone(),
        event_types: row.types(),
        city_id: row.city_id,
        county_id: row.county_id,
        owner: row.created_by.clone(),
        active: row.active,
        disabled_reason: row.disabled_reason.clone(),
        failing_since: row.failing_since.map(utc),
        previous_secret_until: row
            .previous_secret_until
            .filter(|&until| until > now())
            .map(utc),
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
        version: row.version,
    }
}

fn message_out(row: MessageRow) -> WebhookMessageOut {
    WebhookMessageOut {
        id: row.id,
        webhook_message_id: row.msg_id,
        event_type: row.event_type,
        state: row.state,
        attempts: row.attempts,
        next_attempt_at: utc(row.next_attempt_at),
        created_at: utc(row.created_at),
    }
}

fn delivery_out((d, m): (DeliveryRow, MessageRow)) -> WebhookDeliveryOut {
    WebhookDeliveryOut {
        id: d.id,
        message_id: m.id,
        webhook_message_id: m.msg_id,
        event_type: m.event_type,
        attempt: d.attempt,
        attempted_at: utc(d.attempted_at),
        status_code: d.status_code,
        duration_ms: d.duration_ms,
        error: d.error,
        next_attempt_at: d.next_attempt_at.map(utc),
        message_state: m.state,
    }
}

/// The body a message sends: the same bytes on every attempt (its event is never changed).
pub fn message_body(message: &MessageRow, event: Option<AuditRow>) -> Result<String, ApiError> {
    let json = match (&message.payload, event) {
        (Some(payload), _) => return Ok(payload.clone()),
        (None, Some(row)) => {
            let data = change_out(row)?;
            serde_json::to_string(&WebhookEvent {
                type_: data.type_,
                timestamp: data.occurred_at,
                data,
            })
        }
        (None, None) => {
            return Err(ApiError::internal(format!(
                "webhook message {} has neither payload nor event",
                message.id
            )))
        }
    };
    json.map_err(|e| ApiError::internal(format!("webhook body: {e}")))
}

/// Subscriptions `caller` manages: an administrator's, all; a city's administrators', theirs;
/// a client's, its own.
pub fn list(
    conn: &mut DbConnection,
    caller: &Caller,
    limit: i64,
    offset: i64,
) -> Result<Listed<WebhookOut>, ApiError> {
    policy::may_subscribe(caller)?;
    let by = match (&caller.principal, caller.role) {
        (_, Role::Admin) => Owned::All,
        (_, Role::CityAdmin) => Owned::ByCityAdmins(caller.city_id.unwrap_or(0)),
        (Principal::Client { id, .. }, _) => Owned::ByClient(*id),
        (Principal::User { id, .. }, _) => Owned::ByUser(*id),
    };
    let (rows, total) = q::list(conn, by, limit, offset)?;
    Ok(Listed {
        items: rows.iter().map(webhook_out).collect(),
        total,
    })
}

/// Subscription `id`, if `caller` manages it.
fn managed(conn: &mut DbConnection, caller: &Caller, id: i32) -> Result<WebhookRow, ApiError> {
    let row = q::find(conn, id)?.ok_or_else(|| ApiError::not_found("webhook", id))?;
    let owner_city = q::owner_city(conn, &row)?;
    policy::may_manage_webhook(caller, row.owner_user_id, row.owner_client_id, owner_city)?;
    Ok(row)
}

pub fn get(conn: &mut DbConnection, caller: &Caller, id: i32) -> Result<WebhookOut, ApiError> {
    Ok(webhook_out(&managed(conn, caller, id)?))
}

/// A target URL that passed [`check_target`].
#[derive(Debug, Clone)]
pub struct CheckedUrl(String);

/// A target the deliverer may reach: its host (and every address it resolves to) public, unless
/// the deployment allows private targets; checked again at every delivery, on the address used.
/// It may resolve a name, so the route calls it on a blocking thread before the write begins:
/// no transaction (nor SQLite's write lock) waits for DNS.
pub fn check_target(raw: &str, settings: &Webhooks) -> Result<CheckedUrl, ApiError> {
    endpoint_for(raw, settings).map(|e| CheckedUrl(e.url.to_string()))
}

fn endpoint_for(raw: &str, settings: &Webhooks) -> Result<Endpoint, ApiError> {
    let endpoint = Endpoint::parse(raw).map_err(|m| ApiError::invalid("url", m))?;
    if settings.allow_private {
        return Ok(endpoint);
    }
    let refused = || {
        ApiError::invalid(
            "url",
            "is or resolves to a loopback, private, link-local, multicast or metadata address",
        )
    };
    if let Some(ip) = endpoint.literal_address() {
        return if is_public(ip) {
            Ok(endpoint)
        } else {
            Err(refused())
        };
    }
    let host = endpoint.url.host_str().unwrap_or_default();
    let port = endpoint.url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|_| ApiError::invalid("url", format!("its host {host} does not resolve")))?
        .collect();
    if addrs.is_empty() || addrs.iter().any(|a| !is_public(a.ip())) {
        return Err(refused());
    }
    Ok(endpoint)
}

fn parse_description(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    raw.map(|d| {
        Name::parse(d, 500)
            .map(String::from)
            .map_err(|m| ApiError::invalid("description", m))
    })
    .transpose()
}

fn check_types(types: Option<&[ChangeType]>) -> Result<(), ApiError> {
    match types {
        Some([]) => Err(ApiError::invalid(
            "event_types",
            "name at least one change type, or leave it out for every type",
        )),
        _ => Ok(()),
    }
}

/// The filters, each existing and within what the caller may hear of.
fn check_filters(
    conn: &mut DbConnection,
    caller: &Caller,
    city_id: Option<i32>,
    county_id: Option<i32>,
) -> Result<(), ApiError> {
    let county_city = match county_id {
        Some(c) => {
            let row = counties::find(conn, c)?
                .ok_or_else(|| ApiError::invalid("county_id", format!("no county {c}")))?;
            row.city_id
        }
        None => None,
    };
    if let Some(c) = city_id {
        if crate::db::cities::find(conn, c)?.is_none() {
            return Err(ApiError::invalid("city_id", format!("no city {c}")));
        }
    }
    policy::webhook_filter_within(caller, city_id, county_id, county_city)
}

fn audit(
    tx: &mut Tx<'_>,
    action: AuditAction,
    before: Option<&WebhookOut>,
    after: Option<&WebhookOut>,
) -> Result<(), ApiError> {
    let (id, county) = match after.or(before) {
        Some(w) => (w.id, w.county_id),
        None => return Ok(()),
    };
    tx.audit(action, AuditEntity::Webhook, id, county, before, after)
}

/// Subscribes the caller to `url` (the input's, checked); the signing secret is shown this once.
pub fn create(
    tx: &mut Tx<'_>,
    input: WebhookIn,
    url: CheckedUrl,
    settings: &Webhooks,
) -> Result<WebhookSecretOut, ApiError> {
    let caller = tx.ctx.caller.clone();
    policy::may_subscribe(&caller)?;
    check_types(input.event_types.as_deref())?;
    let description = parse_description(input.description.as_deref())?;
    check_filters(tx.conn, &caller, input.city_id, input.county_id)?;
    let (owner_user_id, owner_client_id) = match caller.principal {
        Principal::User { id, .. } => (Some(id), None),
        Principal::Client { id, .. } => (None, Some(id)),
    };
    let secret = SigningSecret::generate();
    let at = now();
    let row = q::insert(
        tx.conn,
        &q::NewWebhook {
            url: url.0,
            description,
            event_types: q::stored_types(input.event_types.as_deref()),
            city_id: input.city_id,
            county_id: input.county_id,
            owner_user_id,
            owner_client_id,
            active: input.active.unwrap_or(true),
            secret: settings.sealing_key.seal(&secret),
            created_by: caller.actor(),
            created_at: at,
            updated_at: at,
            version: 1,
        },
    )?;
    let webhook = webhook_out(&row);
    audit(tx, AuditAction::Create, None, Some(&webhook))?;
    Ok(WebhookSecretOut {
        webhook,
        secret: secret.expose(),
    })
}

/// Changes subscription `id` at version `expected` (to `url`, the patch's checked, if it has one).
pub fn update(
    tx: &mut Tx<'_>,
    id: i32,
    expected: i32,
    patch: WebhookPatch,
    url: Option<CheckedUrl>,
) -> Result<WebhookOut, ApiError> {
    let caller = tx.ctx.caller.clone();
    let current = managed(tx.conn, &caller, id)?;
    let url = url.map(|u| u.0);
    if let Some(types) = &patch.event_types {
        check_types(types.as_deref())?;
    }
    let description = match &patch.description {
        Some(d) => Some(parse_description(d.as_deref())?),
        None => None,
    };
    let city_id = patch.city_id.unwrap_or(current.city_id);
    let county_id = patch.county_id.unwrap_or(current.county_id);
    check_filters(tx.conn, &caller, city_id, county_id)?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    let reactivated = patch.active == Some(true) && !current.active;
    let changes = WebhookChanges {
        url,
        description,
        event_types: patch
            .event_types
            .as_ref()
            .map(|t| q::stored_types(t.as_deref())),
        city_id: patch.city_id,
        county_id: patch.county_id,
        active: patch.active,
        disabled_reason: reactivated.then_some(None),
        failing_since: reactivated.then_some(None),
        version: Some(current.version + 1),
        updated_at: Some(now()),
        ..Default::default()
    };
    let row = q::change(tx.conn, id, expected, &changes)?.ok_or(ApiError::PreconditionFailed)?;
    let (before, after) = (webhook_out(&current), webhook_out(&row));
    audit(tx, AuditAction::Update, Some(&before), Some(&after))?;
    Ok(after)
}

/// Removes subscription `id` (at version `expected`) with its messages and attempts.
pub fn delete(tx: &mut Tx<'_>, id: i32, expected: i32) -> Result<(), ApiError> {
    let caller = tx.ctx.caller.clone();
    let current = managed(tx.conn, &caller, id)?;
    if current.version != expected || !q::delete(tx.conn, id, expected)? {
        return Err(ApiError::PreconditionFailed);
    }
    audit(tx, AuditAction::Delete, Some(&webhook_out(&current)), None)
}

/// A new signing secret, shown this once; the one it replaces signs beside it for 24 hours.
pub fn rotate_secret(
    tx: &mut Tx<'_>,
    id: i32,
    settings: &Webhooks,
) -> Result<WebhookSecretOut, ApiError> {
    let caller = tx.ctx.caller.clone();
    let current = managed(tx.conn, &caller, id)?;
    let secret = SigningSecret::generate();
    let at = now();
    let changes = WebhookChanges {
        secret: Some(settings.sealing_key.seal(&secret)),
        previous_secret: Some(Some(current.secret.clone())),
        previous_secret_until: Some(Some(at + Duration::hours(ROTATION_OVERLAP_HOURS))),
        version: Some(current.version + 1),
        updated_at: Some(at),
        ..Default::default()
    };
    let row =
        q::change(tx.conn, id, current.version, &changes)?.ok_or(ApiError::PreconditionFailed)?;
    let (before, webhook) = (webhook_out(&current), webhook_out(&row));
    audit(tx, AuditAction::RotateSecret, Some(&before), Some(&webhook))?;
    Ok(WebhookSecretOut {
        webhook,
        secret: secret.expose(),
    })
}

fn require_active(row: &WebhookRow) -> Result<(), ApiError> {
    if row.active {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "webhook {} is not active: reactivate it (PATCH active: true) first",
            row.id
        )))
    }
}

/// Queues a `webhook.test` message for subscription `id`, sent like any other.
pub fn send_test(tx: &mut Tx<'_>, id: i32) -> Result<WebhookMessageOut, ApiError> {
    let caller = tx.ctx.caller.clone();
    let row = managed(tx.conn, &caller, id)?;
    require_active(&row)?;
    let at = now();
    let body = WebhookTestEvent {
        type_: TEST_EVENT.into(),
        timestamp: utc(at),
        data: WebhookTestData {
            webhook_id: id,
            message: format!("a test message, asked for by {}", caller.actor()),
        },
    };
    let payload = serde_json::to_string(&body)
        .map_err(|e| ApiError::internal(format!("webhook body: {e}")))?;
    let message = q::insert_message(
        tx.conn,
        &q::new_message(id, None, TEST_EVENT, Some(payload), at),
    )?;
    Ok(message_out(message))
}

/// Subscription `id`'s attempts, newest first.
pub fn deliveries(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i32,
    limit: i64,
    offset: i64,
) -> Result<Listed<WebhookDeliveryOut>, ApiError> {
    managed(conn, caller, id)?;
    let (rows, total) = q::deliveries(conn, id, limit, offset)?;
    Ok(Listed {
        items: rows.into_iter().map(delivery_out).collect(),
        total,
    })
}

/// Sends the message of attempt `delivery_id` again at once (same `webhook-id`), with a fresh
/// schedule.
pub fn retry(tx: &mut Tx<'_>, id: i32, delivery_id: i32) -> Result<WebhookMessageOut, ApiError> {
    let caller = tx.ctx.caller.clone();
    let row = managed(tx.conn, &caller, id)?;
    require_active(&row)?;
    let delivery = q::find_delivery(tx.conn, id, delivery_id)?
        .ok_or_else(|| ApiError::not_found("delivery", delivery_id))?;
    let message = q::requeue(tx.conn, delivery.message_id, now())?;
    Ok(message_out(message))
}

/// Disables subscription `id`, whose endpoint has failed for too long: recorded in the audit
/// trail as a change made by the deliverer, with the reason shown on the subscription.
pub fn disable(conn: &mut DbConnection, id: i32, reason: String) -> Result<(), ApiError> {
    let Some(current) = q::find(conn, id)? else {
        return Ok(());
    };
    let changes = WebhookChanges {
        active: Some(false),
        disabled_reason: Some(Some(reason)),
        version: Some(current.version + 1),
        updated_at: Some(now()),
        ..Default::default()
    };
    let Some(row) = q::change(conn, id, current.version, &changes)? else {
        return Ok(());
    };
    log::warn!(
        "webhook {id} disabled: {}",
        row.disabled_reason.as_deref().unwrap_or("")
    );
    crate::write::audit_outside_api(
        conn,
        "system:webhook-deliverer",
        AuditAction::Update,
        AuditEntity::Webhook,
        id,
        row.county_id,
        Some(&webhook_out(&current)),
        Some(&webhook_out(&row)),
    )
}
