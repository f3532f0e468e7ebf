//! Who may do what: the one place that decides permissions.
//!
//! Handlers ask for a [`Caller`] (any valid token) and then call one of its checks with the
//! county the request touches. A missing or bad token is 401 with `WWW-Authenticate: Bearer`;
//! a valid token without the right is 403.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use crate::caller_cache::{Subject, TokenKey};
use crate::clock::now;
use crate::db::counties::{self, CountyRow};
use crate::db::{self, accounts, DbConnection};
use crate::domain::auth::Role;
use crate::domain::county::CountyKind;
use crate::domain::funding::FundingAction;
use crate::error::ApiError;
use crate::state::AppState;

/// Who is behind the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User { id: i32, username: String },
    Client { id: i32, client_id: String },
}

/// An authenticated caller: a user or an integration client, with its role and county.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub role: Role,
    pub county_id: Option<i32>,
}

/// The county a write touches, as far as permissions care.
#[derive(Debug, Clone, Copy)]
pub struct CountyScope {
    pub county_id: i32,
    pub is_city_level: bool,
}

impl CountyScope {
    /// The scope of a stored county: whether it is the city level is read from its row, never
    /// asserted by the caller.
    pub fn of(row: &CountyRow) -> Self {
        CountyScope {
            county_id: row.id,
            is_city_level: row.kind == CountyKind::CityLevel,
        }
    }
}

/// Loads county `county_id` and checks that `caller` may write it: 404 for a county that does
/// not exist, 403 outside the caller's rights. Every write to a county's records asks this (or
/// [`Caller::require_county_write`] with a row it has already loaded).
pub fn writable_county(
    conn: &mut DbConnection,
    caller: &Caller,
    county_id: i32,
) -> Result<CountyRow, ApiError> {
    let county =
        counties::find(conn, county_id)?.ok_or_else(|| ApiError::not_found("county", county_id))?;
    caller.require_county_write(CountyScope::of(&county))?;
    Ok(county)
}

/// Only administrators change a county's division code or kind; officers may change its name
/// and mechanisms' dates.
pub fn may_recode_county(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only administrators change a county's division code or kind".into(),
        ))
    }
}

/// Decisions on funding requests (approve, reject, return) are the city bureau's
/// administrators'; the county moves its own requests through the other actions.
pub fn may_take_funding_action(caller: &Caller, action: FundingAction) -> Result<(), ApiError> {
    if action.is_admin_only() && !caller.is_admin() {
        return Err(ApiError::Forbidden(format!(
            "only the city bureau's administrators {action} funding requests"
        )));
    }
    Ok(())
}

/// A session is revoked by the user it belongs to, or by an administrator.
pub fn may_revoke_session_of(caller: &Caller, user_id: i32) -> bool {
    let owner = matches!(caller.principal, Principal::User { id, .. } if id == user_id);
    owner || caller.is_admin()
}

/// A caller who is an administrator: extracting it answers 401 without a valid token and 403
/// for any other role, before the request's query or body is read.
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        Box::pin(async move {
            let caller = caller.await?;
            caller.require_admin()?;
            Ok(Admin(caller))
        })
    }
}

impl Caller {
    /// A short, non-personal name for logs and the audit trail.
    pub fn actor(&self) -> String {
        match &self.principal {
            Principal::User { username, .. } => format!("user:{username}"),
            Principal::Client { client_id, .. } => format!("client:{client_id}"),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "only the city bureau's administrators may do this".into(),
            ))
        }
    }

    /// Writes to a county's data: admins anywhere; county officers and integration clients in
    /// their own county, except the city level, which only admins write.
    pub fn require_county_write(&self, scope: CountyScope) -> Result<(), ApiError> {
        if self.is_admin() {
            return Ok(());
        }
        match self.role {
            Role::Viewer => Err(ApiError::Forbidden("viewers may only read".into())),
            Role::CountyOfficer | Role::Integration => {
                if self.county_id != Some(scope.county_id) {
                    Err(ApiError::Forbidden(format!(
                        "you may write only your own county's data, not county {}'s",
                        scope.county_id
                    )))
                } else if scope.is_city_level {
                    Err(ApiError::Forbidden(
                        "only administrators write the city level".into(),
                    ))
                } else {
                    Ok(())
                }
            }
            Role::Admin => Ok(()),
        }
    }

    /// Personal data (phone and ID numbers) is shown to admins and the employing county.
    pub fn sees_personal_data_of(&self, county_id: i32) -> bool {
        self.is_admin() || (self.role.is_county_bound() && self.county_id == Some(county_id))
    }
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::Unauthorized(detail.to_string())
}

fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("send an access token: Authorization: Bearer <token>"))?
        .to_str()
        .map_err(|_| unauthorized("the Authorization header is not readable"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| unauthorized("use the Bearer scheme"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(unauthorized("use the Bearer scheme"));
    }
    Ok(token.trim().to_string())
}

/// The token's subject, from its `sub` (`user:7`, `client:3`) and a user's `sid`.
fn subject_of(claims: &crate::auth::Claims) -> Result<Subject, ApiError> {
    let (kind, id) = claims
        .sub
        .split_once(':')
        .and_then(|(k, id)| id.parse::<i32>().ok().map(|id| (k, id)))
        .ok_or_else(|| unauthorized("the access token is invalid"))?;
    match kind {
        "user" => Ok(Subject::User {
            id,
            session: claims.sid.clone().ok_or_else(revoked)?,
        }),
        "client" => Ok(Subject::Client { id }),
        _ => Err(unauthorized("the access token is invalid")),
    }
}

fn revoked() -> ApiError {
    unauthorized("this access token has been revoked")
}

/// The caller behind a token's subject as the database has it now, and when its session ends:
/// refused when the account is inactive, its `auth_version` is not the token's, or a user's
/// session is revoked or over.
fn check_subject(
    conn: &mut DbConnection,
    subject: &Subject,
    auth_version: i32,
) -> Result<(Caller, Option<chrono::NaiveDateTime>), ApiError> {
    match subject {
        Subject::User { id, session } => {
            let (user, session) =
                accounts::user_with_session(conn, *id, session)?.ok_or_else(revoked)?;
            if !user.active || user.auth_version != auth_version {
                return Err(revoked());
            }
            if session.user_id != user.id || !session.is_live(now()) {
                return Err(revoked());
            }
            let caller = Caller {
                role: user.role,
                county_id: user.county_id,
                principal: Principal::User {
                    id: user.id,
                    username: user.username,
                },
            };
            Ok((caller, Some(session.expires_at)))
        }
        Subject::Client { id } => {
            let client = accounts::client_by_id(conn, *id)?.ok_or_else(revoked)?;
            if !client.active || client.auth_version != auth_version {
                return Err(revoked());
            }
            let caller = Caller {
                role: Role::Integration,
                county_id: Some(client.county_id),
                principal: Principal::Client {
                    id: client.id,
                    client_id: client.client_id,
                },
            };
            Ok((caller, None))
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = bearer(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token = token?;
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let claims = state
                .tokens
                .verify(&token)
                .map_err(|_| unauthorized("the access token is invalid or expired"))?;
            // The token is checked against the principal as it is now (kept for at most a
            // second, see `caller_cache.rs`), so a deactivation or a password change ends access
            // within a second, not when the token expires; a user's token also against its
            // session, so a logout (`/api/v1/auth/revoke`), a refresh-token reuse or the
            // session's absolute end ends it too.
            let key = TokenKey {
                subject: subject_of(&claims)?,
                auth_version: claims.av,
            };
            if let Some(caller) = state.callers.get(&key, now()) {
                return Ok(caller);
            }
            let epoch = state.callers.epoch();
            let subject = key.subject.clone();
            let (caller, session_ends) = db::run(&state.pool, move |conn| {
                check_subject(conn, &subject, claims.av)
            })
            .await?;
            state.callers.keep(key, caller.clone(), session_ends, epoch);
            Ok(caller)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, county_id: Option<i32>) -> Caller {
        Caller {
            principal: Principal::User {
                id: 1,
                username: "u".into(),
            },
            role,
            county_id,
        }
    }

    const OWN: CountyScope = CountyScope {
        county_id: 3,
        is_city_level: false,
    };
    const OTHER: CountyScope = CountyScope {
        county_id: 4,
        is_city_level: false,
    };
    const CITY: CountyScope = CountyScope {
        county_id: 3,
        is_city_level: true,
    };

    #[test]
    fn county_roles_write_only_their_own_county_and_never_the_city_level() {
        for role in [Role::CountyOfficer, Role::Integration] {
            let c = caller(role, Some(3));
            assert!(c.require_county_write(OWN).is_ok());
            assert!(c.require_county_write(OTHER).is_err());
            assert!(c.require_county_write(CITY).is_err());
        }
    }

    #[test]
    fn admins_write_anywhere_and_viewers_nowhere() {
        assert!(caller(Role::Admin, None).require_county_write(CITY).is_ok());
        assert!(caller(Role::Viewer, None)
            .require_county_write(OWN)
            .is_err());
    }

    #[test]
    fn personal_data_is_for_admins_and_the_employing_county() {
        assert!(caller(Role::Admin, None).sees_personal_data_of(4));
        assert!(caller(Role::CountyOfficer, Some(4)).sees_personal_data_of(4));
        assert!(!caller(Role::CountyOfficer, Some(3)).sees_personal_data_of(4));
        assert!(!caller(Role::Viewer, None).sees_personal_data_of(4));
    }
}
