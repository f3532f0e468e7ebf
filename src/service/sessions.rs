//! Sessions and tokens: the password, refresh-token and client-credentials grants, failed-login
//! limits, and revoking a session. The route turns a [`Grant`] into RFC 6749's answers.

use std::net::IpAddr;

use chrono::{Duration, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{hash_secret, verify_password};
use crate::clock::now;
use crate::db::{self, accounts, DbConnection};
use crate::domain::auth::{parse_username, Role, PASSWORD_MAX_CHARS};
use crate::domain::random_token;
use crate::error::ApiError;
use crate::policy::{self, Caller};
use crate::state::AppState;

/// A token request (form-encoded, as RFC 6749 says, or JSON).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenIn {
    /// `password`, `refresh_token` or `client_credentials`.
    pub grant_type: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub refresh_token: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Accepted and ignored: rights come from the role.
    pub scope: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOut {
    /// A JWT (HS256) to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// For the password and refresh grants: an opaque token for the next access token. Each is
    /// good once; presenting a used one revokes its whole family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeIn {
    /// A refresh token of yours; its whole family is revoked.
    pub token: String,
}

/// What a token request comes to: tokens, or an RFC 6749 refusal.
pub enum Grant {
    Ok(TokenOut),
    Refused {
        status: u16,
        error: &'static str,
        description: String,
    },
}

fn refused(status: u16, error: &'static str, description: impl Into<String>) -> Grant {
    Grant::Refused {
        status,
        error,
        description: description.into(),
    }
}

const FAILURE_WINDOW_MINUTES: i64 = 15;

fn issue_pair(
    state: &AppState,
    conn: &mut DbConnection,
    user: &accounts::UserRow,
    session: &accounts::SessionRow,
) -> Result<TokenOut, ApiError> {
    let role = user.role;
    let access = state
        .tokens
        .issue(
            format!("user:{}", user.id),
            role,
            user.county_id,
            user.auth_version,
            Some(session.id.clone()),
        )
        .map_err(ApiError::internal)?;
    let refresh = random_token(43);
    let at = now();
    accounts::insert_refresh(
        conn,
        &accounts::NewRefresh {
            token_hash: hash_secret(&refresh),
            family: session.id.clone(),
            user_id: user.id,
            issued_at: at,
            // Never past the session's absolute end.
            expires_at: (at + Duration::days(state.settings.refresh_ttl_days))
                .min(session.expires_at),
        },
    )?;
    Ok(TokenOut {
        access_token: access,
        token_type: "Bearer".into(),
        expires_in: state.tokens.access_ttl_secs,
        refresh_token: Some(refresh),
    })
}

/// From all client addresses together, a username may fail this many times the per-address
/// bar (`SHUANGBAI_LOGIN_MAX_FAILURES`) within the window before it is refused everywhere.
pub const ACCOUNT_BAR_FACTOR: i64 = 10;

/// `Some(seconds to wait)` when the username is locked for this address: too many failures
/// from it, or from everywhere together (the higher bar).
fn locked_out(state: &AppState, failures: &accounts::Failures, at: NaiveDateTime) -> Option<u64> {
    let per_address = state.settings.login_max_failures;
    let retry = |oldest: Option<NaiveDateTime>| {
        oldest
            .map(|o| {
                (o + Duration::minutes(FAILURE_WINDOW_MINUTES) - at)
                    .num_seconds()
                    .max(1)
            })
            .unwrap_or(60) as u64
    };
    if failures.total >= per_address * ACCOUNT_BAR_FACTOR {
        Some(retry(failures.oldest))
    } else if failures.from_address >= per_address {
        Some(retry(failures.oldest_from_address))
    } else {
        None
    }
}

/// How many more failures the username may have before the lock-out, from this address.
fn failures_left(state: &AppState, failures: &accounts::Failures) -> i64 {
    let per_address = state.settings.login_max_failures;
    (per_address - failures.from_address).min(per_address * ACCOUNT_BAR_FACTOR - failures.total)
}

/// How long an attempt waits for its turn among the username's checks in flight.
const IN_FLIGHT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn too_many(retry_after_secs: u64) -> ApiError {
    ApiError::TooManyRequests { retry_after_secs }
}

/// The password grant in three steps, so that logins neither run one at a time nor hold up
/// writes: a read (the lock-out and the account), the argon2 check holding no connection and no
/// transaction, then a short write transaction for the counters, the session and the tokens.
async fn password_grant(
    state: &AppState,
    peer: Option<IpAddr>,
    input: TokenIn,
) -> Result<Grant, ApiError> {
    let (Some(username), Some(password)) = (input.username, input.password) else {
        return Ok(refused(
            400,
            "invalid_request",
            "username and password are required",
        ));
    };
    // What could never be a username or a password is refused before anything is stored.
    let Ok(username) = parse_username(&username) else {
        return Ok(refused(
            400,
            "invalid_request",
            "username: 3 to 64 of a-z, 0-9, '.', '_' and '-'",
        ));
    };
    if password.chars().count() > PASSWORD_MAX_CHARS {
        return Ok(refused(
            400,
            "invalid_request",
            format!("password: at most {PASSWORD_MAX_CHARS} characters"),
        ));
    }
    // Failures are kept by a hash of the name: 64 characters whatever was sent.
    let name_hash = hash_secret(&username);
    let address = peer.map(|ip| ip.to_string()).unwrap_or_default();

    // Guesses sent in parallel meet the bar as guesses sent one after another do: a username
    // has no more checks in flight than failures it may still have (the others wait their
    // turn), and once the bar is reached every answer is 429, the right password's too.
    let waited = std::time::Instant::now();
    let pool = state.pool.clone();
    let read = || {
        let (h, a, name) = (name_hash.clone(), address.clone(), username.clone());
        let pool = pool.clone();
        async move {
            db::run(&pool, move |conn| {
                let since = now() - Duration::minutes(FAILURE_WINDOW_MINUTES);
                Ok((
                    accounts::failures_since(conn, &h, &a, since)?,
                    accounts::user_by_username(conn, &name)?,
                ))
            })
            .await
        }
    };
    let (user, _in_flight) = loop {
        let (failures, _) = read().await?;
        if let Some(retry) = locked_out(state, &failures, now()) {
            return Err(too_many(retry));
        }
        if let Some(started) = state
            .logins_in_flight
            .start(&name_hash, failures_left(state, &failures))
        {
            // Read again now that this attempt counts. An attempt that ends records its
            // failure before it gives its turn up, so if none ended during the read, every
            // failure is either in the read or still running (and counted here).
            let (_, ended_before) = state.logins_in_flight.running(&name_hash);
            let (failures, user) = read().await?;
            if let Some(retry) = locked_out(state, &failures, now()) {
                return Err(too_many(retry));
            }
            let (running, ended) = state.logins_in_flight.running(&name_hash);
            if ended == ended_before && running <= failures_left(state, &failures) {
                break (user, started.checking());
            }
        }
        if waited.elapsed() > IN_FLIGHT_WAIT {
            return Err(too_many(1));
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    };

    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let Some(_turn) = crate::auth::password_turn(IN_FLIGHT_WAIT).await else {
        return Err(too_many(1));
    };
    let verified =
        tokio::task::spawn_blocking(move || verify_password(&password, stored.as_deref()))
            .await
            .map_err(|e| ApiError::internal(format!("password check failed: {e}")))?;

    let app = state.clone();
    db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let at = now();
            let since = at - Duration::minutes(FAILURE_WINDOW_MINUTES);
            let current = match &user {
                Some(u) if verified && u.active => accounts::user_by_id(conn, u.id)?,
                _ => None,
            };
            // The hash checked must still be the account's: a password changed or an account
            // deactivated meanwhile is not let in.
            let current = current.filter(|c| {
                user.as_ref().is_some_and(|u| {
                    c.active
                        && c.password_hash == u.password_hash
                        && c.auth_version == u.auth_version
                })
            });
            match current {
                Some(user) => {
                    // Failures recorded while the password was being checked count too.
                    let failures = accounts::failures_since(conn, &name_hash, &address, since)?;
                    if let Some(retry) = locked_out(&app, &failures, at) {
                        return Err(too_many(retry));
                    }
                    accounts::clear_failures(conn, &name_hash, &address)?;
                    let session = accounts::SessionRow {
                        id: random_token(22),
                        user_id: user.id,
                        started_at: at,
                        expires_at: at + Duration::days(app.settings.session_max_days),
                        revoked_at: None,
                    };
                    accounts::insert_session(conn, &session)?;
                    Ok(Grant::Ok(issue_pair(&app, conn, &user, &session)?))
                }
                None => {
                    // Rows past the window no longer count: they go as new ones come.
                    accounts::purge_failures_before(conn, since)?;
                    accounts::record_failure(conn, &name_hash, &address, at)?;
                    // The same answer whether the username exists, the password is wrong or
                    // the account is inactive.
                    Ok(refused(
                        400,
                        "invalid_grant",
                        "the username or password is wrong",
                    ))
                }
            }
        })
    })
    .await
}

fn refresh_grant(
    state: &AppState,
    conn: &mut DbConnection,
    input: &TokenIn,
    peer: Option<IpAddr>,
) -> Result<Grant, ApiError> {
    let Some(token) = &input.refresh_token else {
        return Ok(refused(400, "invalid_request", "refresh_token is required"));
    };
    let at = now();
    let invalid = || {
        refused(
            400,
            "invalid_grant",
            "the refresh token is invalid, expired or revoked",
        )
    };
    let Some(row) = accounts::refresh_by_hash(conn, &hash_secret(token))? else {
        return Ok(invalid());
    };
    if row.revoked_at.is_some() || row.expires_at <= at {
        return Ok(invalid());
    }
    // Claimed atomically: a token presented twice (a replay, or a race) revokes the family.
    if row.used_at.is_some() || !accounts::claim_refresh(conn, row.id, at)? {
        accounts::revoke_family(conn, &row.family, at)?;
        // A theft signal: whoever holds a copy of the token, the session is over.
        log::warn!(
            "refresh token reuse: a used refresh token of user {} was presented again from {}; \
             its session is revoked (a stolen copy, or a client that retried)",
            row.user_id,
            peer.map(|ip| ip.to_string())
                .unwrap_or_else(|| "an unknown address".into()),
        );
        return Ok(refused(
            400,
            "invalid_grant",
            "this refresh token was already used; every token of its session is now revoked",
        ));
    }
    // The session's absolute end holds however often its token rotates.
    let session = accounts::session_by_id(conn, &row.family)?.filter(|s| s.is_live(at));
    let user = accounts::user_by_id(conn, row.user_id)?;
    match (session, user) {
        (Some(session), Some(user)) if user.active => {
            Ok(Grant::Ok(issue_pair(state, conn, &user, &session)?))
        }
        _ => {
            accounts::revoke_family(conn, &row.family, at)?;
            Ok(invalid())
        }
    }
}

/// Constant-time comparison of two hex digests.
fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn client_grant(
    state: &AppState,
    conn: &mut DbConnection,
    input: &TokenIn,
) -> Result<Grant, ApiError> {
    let (Some(client_id), Some(secret)) = (&input.client_id, &input.client_secret) else {
        return Ok(refused(
            400,
            "invalid_request",
            "client_id and client_secret are required",
        ));
    };
    let client = accounts::client_by_client_id(conn, client_id.trim())?;
    let digest = hash_secret(secret);
    match client {
        Some(client) if client.active && same_digest(&client.secret_hash, &digest) => {
            accounts::touch_client(conn, client.id, now())?;
            let access = state
                .tokens
                .issue(
                    format!("client:{}", client.id),
                    Role::Integration,
                    Some(client.county_id),
                    client.auth_version,
                    None,
                )
                .map_err(ApiError::internal)?;
            Ok(Grant::Ok(TokenOut {
                access_token: access,
                token_type: "Bearer".into(),
                expires_in: state.tokens.access_ttl_secs,
                refresh_token: None,
            }))
        }
        _ => Ok(refused(
            401,
            "invalid_client",
            "the client id or secret is wrong, or the client is inactive",
        )),
    }
}

/// Answers a token request: `password`, `refresh_token` or `client_credentials`.
pub async fn grant(
    state: &AppState,
    peer: Option<IpAddr>,
    input: TokenIn,
) -> Result<Grant, ApiError> {
    let app = state.clone();
    Ok(match input.grant_type.as_str() {
        "password" => password_grant(&app, peer, input).await?,
        "refresh_token" | "client_credentials" => {
            let refresh = input.grant_type == "refresh_token";
            let grant = db::run(&state.pool, move |conn| {
                db::write_transaction(conn, |conn| match input.grant_type.as_str() {
                    "refresh_token" => refresh_grant(&app, conn, &input, peer),
                    _ => client_grant(&app, conn, &input),
                })
            })
            .await?;
            // A refused refresh may have revoked its session (a reused token): its access
            // tokens end at once here too. (A refused client secret revokes nothing.)
            if refresh && !matches!(grant, Grant::Ok(_)) {
                state.callers.forget_all();
            }
            grant
        }
        other => refused(
            400,
            "unsupported_grant_type",
            format!(
                "{other:?} is not supported; use password, refresh_token or client_credentials"
            ),
        ),
    })
}

/// Revokes the session of refresh token `token` with all its tokens, when the caller owns it
/// or is an administrator of it ([`policy::may_revoke_session_of`]); anything else changes nothing (RFC 7009 answers 200 either way).
/// This instance then forgets the callers it kept, so the session's access tokens end at once
/// here (within a second elsewhere).
pub async fn revoke(state: &AppState, caller: Caller, token: String) -> Result<(), ApiError> {
    db::run(&state.pool, move |conn| {
        let hash = hash_secret(&token);
        if let Some(row) = accounts::refresh_by_hash(conn, &hash)? {
            if policy::may_revoke_session_of(conn, &caller, row.user_id)? {
                accounts::revoke_family(conn, &row.family, now())?;
            }
        }
        Ok(())
    })
    .await?;
    state.callers.forget_all();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_compare_whole() {
        assert!(same_digest("abcd", "abcd"));
        assert!(!same_digest("abcd", "abce"));
        assert!(!same_digest("abcd", "abc"));
    }
}
