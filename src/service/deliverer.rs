//! The webhook deliverer: sends the outbox's messages, at least once, in order per subscription.
//!
//! Every instance runs one (unless `SHUANGBAI_WEBHOOK_DELIVERY=off`). Each poll it leases the
//! subscriptions with a message due (`db::webhooks::claim`: on PostgreSQL `FOR UPDATE SKIP
//! LOCKED`, so instances take different ones and no message is sent by two at once), sends each
//! one's messages oldest first until one fails, records every attempt, and lets the lease go.
//! A failed message waits out the retry schedule, and the ones behind it wait with it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::future::join_all;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::clock::now;
use crate::config::Webhooks;
use crate::db::webhooks::{self as q, MessageRow, NewDelivery, WebhookRow};
use crate::db::{self, DbConnection, DbPool};
use crate::domain::webhook::{
    is_public, signature_header, Endpoint, MessageState, SealingKey, SigningSecret,
};
use crate::error::ApiError;
use crate::service::webhooks::{disable, message_body};

/// How long a lease holds without being renewed (renewed after every attempt, each of which
/// takes at most [`TOTAL_TIMEOUT`]).
const LEASE: Duration = Duration::from_secs(60);
/// Subscriptions one instance sends to at once.
const CLAIM: i64 = 16;
/// Messages sent to one subscription per lease, so others get their turn.
const PER_LEASE: usize = 100;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(15);
/// The most of a receiver's answer read.
const MAX_RESPONSE: usize = 64 << 10;

/// Starts this instance's deliverer on the current runtime (it stops with it).
pub fn start(pool: DbPool, settings: Webhooks) {
    if !settings.deliver {
        return;
    }
    let client = match http_client(settings.allow_private) {
        Ok(client) => client,
        Err(e) => {
            log::error!("webhooks will not be delivered by this instance: {e}");
            return;
        }
    };
    let me = format!("{}-{}", std::process::id(), crate::domain::random_token(10));
    actix_web::rt::spawn(run(pool, Arc::new(settings), client, me));
}

/// The client deliveries use: its own timeouts, no redirects followed, no proxy (which would
/// resolve the target itself), and names resolved by [`Guarded`].
fn http_client(allow_private: bool) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TOTAL_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("Shuangbai-Webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(Guarded { allow_private }))
        .build()
}

/// Resolves a target's name and keeps only the public addresses, which are the ones the client
/// then connects to: a name that resolves to a private address (DNS rebinding included) is never
/// reached, however it resolved when the subscription was made.
struct Guarded {
    allow_private: bool,
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "{host} resolves to no address a webhook may reach (loopback, private, \
                     link-local, multicast and metadata addresses are refused)"
                )
                .into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// How often an instance forgets the messages past `SHUANGBAI_WEBHOOK_KEEP_DAYS`.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

async fn run(pool: DbPool, settings: Arc<Webhooks>, client: reqwest::Client, me: String) {
    let mut quiet_until = Instant::now();
    let mut pruned = Instant::now();
    loop {
        actix_web::rt::time::sleep(settings.poll).await;
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = Instant::now();
            let cutoff = now() - chrono::Duration::days(i64::from(settings.keep_days));
            if let Err(e) = db::run(&pool, move |conn| Ok(q::prune(conn, cutoff)?)).await {
                log::warn!("webhook deliverer: old messages not forgotten yet: {e}");
            }
        }
        let who = me.clone();
        let claimed = db::run(&pool, move |conn| {
            let at = now();
            Ok(q::claim(conn, &who, at, at + LEASE, CLAIM)?)
        })
        .await;
        match claimed {
            Ok(ids) => {
                join_all(
                    ids.into_iter()
                        .map(|id| deliver_to(&pool, &settings, &client, &me, id)),
                )
                .await;
            }
            // An outage: say so once a minute, not every poll.
            Err(e) if Instant::now() >= quiet_until => {
                log::warn!("webhook deliverer: {e}");
                quiet_until = Instant::now() + Duration::from_secs(60);
            }
            Err(_) => {}
        }
    }
}

/// What one attempt needs, read in one go.
struct Attempt {
    webhook: WebhookRow,
    message: MessageRow,
    body: String,
    secrets: Result<Vec<SigningSecret>, String>,
}

/// Sends subscription `id`'s due messages in order while they succeed, then lets it go.
async fn deliver_to(
    pool: &DbPool,
    settings: &Arc<Webhooks>,
    client: &reqwest::Client,
    me: &str,
    id: i32,
) {
    for _ in 0..PER_LEASE {
        let key = settings.sealing_key.clone();
        let next = db::run(pool, move |conn| next_attempt(conn, id, &key)).await;
        let attempt = match next {
            Ok(Some(attempt)) => attempt,
            Ok(None) => break,
            Err(e) => {
                log::warn!("webhook {id}: its next message could not be read: {e}");
                break;
            }
        };
        let outcome = send(client, &attempt, settings.allow_private).await;
        let delivered = outcome.delivered;
        let (settings, who) = (settings.clone(), me.to_string());
        let kept = db::run(pool, move |conn| {
            db::write_transaction(conn, |conn| {
                record(conn, &attempt, outcome, &settings, &who)
            })
        })
        .await;
        match kept {
            Ok(true) if delivered => continue,
            Ok(_) => break,
            Err(e) => {
                log::warn!("webhook {id}: an attempt could not be recorded: {e}");
                break;
            }
        }
    }
    let who = me.to_string();
    if let Err(e) = db::run(pool, move |conn| Ok(q::release(conn, id, &who)?)).await {
        log::debug!("webhook {id}: lease left to expire: {e}");
    }
}

/// The subscription's next message if it is due, with its body and the secrets that sign now.
fn next_attempt(
    conn: &mut DbConnection,
    id: i32,
    key: &SealingKey,
) -> Result<Option<Attempt>, ApiError> {
    let Some(webhook) = q::find(conn, id)?.filter(|w| w.active) else {
        return Ok(None);
    };
    let Some((message, event)) = q::next_pending(conn, id)? else {
        return Ok(None);
    };
    if message.next_attempt_at > now() {
        return Ok(None);
    }
    let body = message_body(&message, event)?;
    let secrets = signing_secrets(&webhook, key);
    Ok(Some(Attempt {
        webhook,
        message,
        body,
        secrets,
    }))
}

/// The current secret, and the one it replaced while that still signs.
fn signing_secrets(webhook: &WebhookRow, key: &SealingKey) -> Result<Vec<SigningSecret>, String> {
    let mut secrets = vec![key.open(&webhook.secret)?];
    if let (Some(old), Some(until)) = (&webhook.previous_secret, webhook.previous_secret_until) {
        if until > now() {
            secrets.push(key.open(old)?);
        }
    }
    Ok(secrets)
}

/// How an attempt went.
struct Outcome {
    delivered: bool,
    status: Option<u16>,
    error: Option<String>,
    took: Duration,
}

async fn send(client: &reqwest::Client, attempt: &Attempt, allow_private: bool) -> Outcome {
    let started = Instant::now();
    let failed = |error: String| Outcome {
        delivered: false,
        status: None,
        error: Some(error),
        took: started.elapsed(),
    };
    let secrets = match &attempt.secrets {
        Ok(secrets) => secrets,
        Err(e) => return failed(e.clone()),
    };
    // A literal address is checked here; a name, by the resolver on the address it connects to.
    match Endpoint::parse(&attempt.webhook.url) {
        Ok(endpoint) => {
            if let Some(ip) = endpoint.literal_address() {
                if !allow_private && !is_public(ip) {
                    return failed(format!("{ip} is not an address a webhook may reach"));
                }
            }
        }
        Err(e) => return failed(format!("the URL {e}")),
    }
    let msg_id = &attempt.message.msg_id;
    let timestamp = Utc::now().timestamp();
    let signature = signature_header(secrets, msg_id, timestamp, attempt.body.as_bytes());
    let sent = client
        .post(&attempt.webhook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(attempt.body.clone())
        .send()
        .await;
    let mut response = match sent {
        Ok(response) => response,
        Err(e) => return failed(describe(&e)),
    };
    let status = response.status();
    let excerpt = read_bounded(&mut response).await;
    let delivered = status.is_success();
    Outcome {
        delivered,
        status: Some(status.as_u16()),
        error: (!delivered).then(|| {
            let text: String = excerpt.chars().take(200).collect();
            format!("HTTP {status}: {text}")
        }),
        took: started.elapsed(),
    }
}

/// At most [`MAX_RESPONSE`] bytes of the answer, as text.
async fn read_bounded(response: &mut reqwest::Response) -> String {
    let mut read = Vec::new();
    while read.len() < MAX_RESPONSE {
        match response.chunk().await {
            Ok(Some(chunk)) => read.extend_from_slice(&chunk),
            _ => break,
        }
    }
    read.truncate(MAX_RESPONSE);
    String::from_utf8_lossy(&read).into_owned()
}

/// An error with its causes (reqwest's own message alone says little: "error sending request").
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "could not connect".to_string()
    } else {
        "failed".to_string()
    };
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Records the attempt and what follows from it: the message delivered, due again after the
/// schedule's next wait, or given up; the endpoint answering again, or failing for so long that
/// the subscription is disabled. False when the lease was lost meanwhile.
fn record(
    conn: &mut DbConnection,
    attempt: &Attempt,
    outcome: Outcome,
    settings: &Webhooks,
    me: &str,
) -> Result<bool, ApiError> {
    let at = now();
    let number = attempt.message.attempts + 1;
    // The receiver wrote part of this text: kept printable (PostgreSQL refuses a NUL in text).
    let error = outcome.error.as_deref().map(printable);
    let (state, next) = if outcome.delivered {
        (MessageState::Delivered, None)
    } else {
        match settings.retry.after(number.unsigned_abs()) {
            Some(wait) => (MessageState::Pending, Some(at + wait)),
            None => (MessageState::Failed, None),
        }
    };
    q::record_attempt(
        conn,
        &NewDelivery {
            webhook_id: attempt.webhook.id,
            message_id: attempt.message.id,
            attempt: number,
            attempted_at: at,
            status_code: outcome.status.map(i32::from),
            duration_ms: i32::try_from(outcome.took.as_millis()).unwrap_or(i32::MAX),
            error: error.clone(),
            next_attempt_at: next,
        },
        state,
    )?;
    if outcome.delivered {
        q::mark_endpoint(conn, attempt.webhook.id, None)?;
    } else {
        q::mark_endpoint(conn, attempt.webhook.id, Some(at))?;
        let since = attempt.webhook.failing_since.unwrap_or(at);
        if (at - since).to_std().unwrap_or_default() >= settings.disable_after {
            let reason = format!(
                "disabled at {at} UTC: every attempt has failed since {since} UTC; the last: {}",
                error.as_deref().unwrap_or("no answer")
            );
            disable(conn, attempt.webhook.id, reason)?;
            return Ok(false);
        }
    }
    Ok(q::renew(conn, attempt.webhook.id, me, at + LEASE)?)
}

/// A one-line, printable form of `text`: control characters (NUL included) become spaces, runs
/// of spaces one, at most 300 characters.
fn printable(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().map(|c| if c.is_control() { ' ' } else { c }) {
        if !(c == ' ' && out.ends_with(' ')) {
            out.push(c);
        }
    }
    out.trim().chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn a_receivers_answer_is_kept_printable_on_one_line() {
        assert_eq!(
            printable("HTTP 500: \0bad\r\n\tthing  "),
            "HTTP 500: bad thing"
        );
        assert_eq!(printable(&"x".repeat(500)).len(), 300);
    }
}
