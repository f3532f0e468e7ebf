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
use crate::domain::round::{ParticipantKind, RoundLevel};
use crate::domain::webhook::Owner;
use crate::error::ApiError;
use crate::state::AppState;

/// Who is behind the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User { id: i32, username: String },
    Client { id: i32, client_id: String },
}

/// An authenticated caller: a user or an integration client, with its role, and its county (a
/// county officer's or a client's) or city (a city administrator's).
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub role: Role,
    pub county_id: Option<i32>,
    pub city_id: Option<i32>,
}

/// The county a write touches, as far as permissions care.
#[derive(Debug, Clone, Copy)]
pub struct CountyScope {
    pub county_id: i32,
    /// Its city; none for a province's own level.
    pub city_id: Option<i32>,
    /// A city's or a province's own level (市本级, 省本级), which county roles never write.
    pub is_level: bool,
    /// A city's own row (its level, or the one row of a city without counties): its city's
    /// administrators never decide on its funding requests, which are their own.
    pub is_citys_own: bool,
}

impl CountyScope {
    /// The scope of a stored county: its city and whether it is a level row are read from its
    /// row, never asserted by the caller.
    pub fn of(row: &CountyRow) -> Self {
        CountyScope {
            county_id: row.id,
            city_id: row.city_id,
            is_level: row.kind.is_level(),
            is_citys_own: matches!(row.kind, CountyKind::CityLevel | CountyKind::CityDirect),
        }
    }
}

/// Whose staff's personal data (phone and ID numbers) a caller sees unmasked.
#[derive(Debug, Clone)]
pub enum PersonalData {
    /// Administrators: everyone's.
    All,
    /// A city administrator: its city's counties'; a county role: its own county's.
    Of(Vec<i32>),
    /// Viewers: nobody's.
    Nobody,
}

impl PersonalData {
    /// What `caller` sees; a city administrator's counties are read as they are now.
    pub fn of(conn: &mut DbConnection, caller: &Caller) -> Result<Self, ApiError> {
        Ok(match (caller.role, caller.county_id, caller.city_id) {
            (Role::Admin, _, _) => PersonalData::All,
            (Role::CityAdmin, _, Some(city)) => {
                PersonalData::Of(counties::ids_of_city(conn, city)?)
            }
            (Role::CountyOfficer | Role::Integration, Some(county), _) => {
                PersonalData::Of(vec![county])
            }
            _ => PersonalData::Nobody,
        })
    }

    pub fn covers(&self, county_id: i32) -> bool {
        match self {
            PersonalData::All => true,
            PersonalData::Of(ids) => ids.contains(&county_id),
            PersonalData::Nobody => false,
        }
    }
}

/// The administrators of a level: of city `city` (its own administrators and the
/// deployment's), or, for a province or the nation (`None`), the deployment's only. They
/// publish and withdraw its bulletins and own its reporting rounds.
pub fn administers_level(caller: &Caller, city: Option<i32>) -> Result<(), ApiError> {
    match city {
        Some(city) => caller.require_city_admin_of(city),
        None => caller.require_admin(),
    }
}

/// A reporting round's owners: the administrators of its level ([`administers_level`]).
pub fn may_own_round(
    caller: &Caller,
    level: RoundLevel,
    city_id: Option<i32>,
) -> Result<(), ApiError> {
    administers_level(caller, city_id.filter(|_| level == RoundLevel::City))
}

/// Who signs a round participant's row off: a county's own officers and integration accounts,
/// a city's own administrators; nobody, not even an administrator, for another. (The owners'
/// own level row is theirs: [`may_own_round`].)
pub fn may_sign_off(
    caller: &Caller,
    kind: ParticipantKind,
    county_id: Option<i32>,
    city_id: Option<i32>,
) -> Result<(), ApiError> {
    let (own, who) = match kind {
        ParticipantKind::City => (
            caller.role == Role::CityAdmin && caller.city_id.is_some() && caller.city_id == city_id,
            "its city administrators",
        ),
        _ => (
            caller.role.is_county_bound()
                && caller.county_id.is_some()
                && caller.county_id == county_id,
            "its own officers and integration clients",
        ),
    };
    if own {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "a participant signs off its own figures: only {who} submit them"
        )))
    }
}

/// Whether `caller` sees the phone number of an account of `role` whose county lies in city
/// `city_of_account`: the administrators of the account's level do (the deployment's any; a
/// city's, its counties' officers and integration accounts), nobody else.
pub fn sees_account_phone(caller: &Caller, role: Role, city_of_account: Option<i32>) -> bool {
    match caller.role {
        Role::Admin => true,
        Role::CityAdmin => {
            role.is_county_bound() && city_of_account.is_some() && city_of_account == caller.city_id
        }
        _ => false,
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

/// Only administrators (and a city's, within it) change a county's division code or kind;
/// officers may change its name and mechanisms' dates.
pub fn may_recode_county(caller: &Caller) -> Result<(), ApiError> {
    if matches!(caller.role, Role::Admin | Role::CityAdmin) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only administrators change a county's division code or kind".into(),
        ))
    }
}

/// Decisions on funding requests (approve, reject, return) are the administrators': a city's
/// on its counties' requests, the deployment's on any, and on a city level's own (so nobody
/// decides on their own request); the county moves its own requests through the other actions.
pub fn may_take_funding_action(
    caller: &Caller,
    action: FundingAction,
    scope: CountyScope,
) -> Result<(), ApiError> {
    if !action.is_admin_only() || caller.is_admin() {
        return Ok(());
    }
    if caller.role == Role::CityAdmin && caller.city_id.is_some() && caller.city_id == scope.city_id
    {
        if scope.is_level || scope.is_citys_own {
            return Err(ApiError::Forbidden(format!(
                "the city level's own requests are decided by the province's administrators, \
                 who {action} them"
            )));
        }
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "only the city bureau's administrators {action} funding requests"
    )))
}

/// Who manages an account of `role` bound to county `county_id`: the deployment's
/// administrators any; a city's administrators only county officers and integration accounts
/// of their city's counties (never `admin`, `city_admin` or `viewer`).
pub fn may_manage_account(
    conn: &mut DbConnection,
    caller: &Caller,
    role: Role,
    county_id: Option<i32>,
) -> Result<(), ApiError> {
    match caller.role {
        Role::Admin => Ok(()),
        Role::CityAdmin => {
            let refused = || {
                ApiError::Forbidden(
                    "a city's administrators manage only county officers and integration \
                     accounts of its own counties"
                        .into(),
                )
            };
            let county = county_id
                .filter(|_| role.is_county_bound())
                .ok_or_else(refused)?;
            let row = counties::find(conn, county)?.ok_or_else(|| {
                ApiError::invalid("county_id", format!("county {county} does not exist"))
            })?;
            if row.city_id.is_some() && row.city_id == caller.city_id {
                Ok(())
            } else {
                Err(refused())
            }
        }
        _ => Err(ApiError::Forbidden(
            "only administrators manage accounts".into(),
        )),
    }
}

/// The counties whose accounts, audit events and such a caller is limited to: a city
/// administrator's city's; `None` (no limit) for the deployment's administrators.
pub fn limited_to_counties(
    conn: &mut DbConnection,
    caller: &Caller,
) -> Result<Option<Vec<i32>>, ApiError> {
    match caller.city_limit() {
        Some(city) => Ok(Some(counties::ids_of_city(conn, city)?)),
        None => Ok(None),
    }
}

/// A session is revoked by the user it belongs to, by an administrator, or by the
/// administrators of the city whose county the user works for (who manage that account).
pub fn may_revoke_session_of(
    conn: &mut DbConnection,
    caller: &Caller,
    user_id: i32,
) -> Result<bool, ApiError> {
    let owner = matches!(caller.principal, Principal::User { id, .. } if id == user_id);
    if owner || caller.is_admin() {
        return Ok(true);
    }
    if caller.role != Role::CityAdmin {
        return Ok(false);
    }
    let Some(user) = accounts::user_by_id(conn, user_id)? else {
        return Ok(false);
    };
    Ok(may_manage_account(conn, caller, user.role, user.county_id).is_ok())
}

/// Who may subscribe to webhooks: administrators (any changes), a city's administrators (their
/// city's) and integration clients (their county's); the subscription's owner is the caller.
/// Answers the owner's rights, which decide what the subscription receives.
pub fn may_subscribe(caller: &Caller) -> Result<Owner, ApiError> {
    let owner = Owner {
        role: caller.role,
        city_id: caller.city_id,
        county_id: caller.county_id,
    };
    if owner.may_subscribe() {
        Ok(owner)
    } else {
        Err(ApiError::Forbidden(
            "only administrators and integration clients subscribe to webhooks".into(),
        ))
    }
}

/// A subscription's filters stay within what its owner may hear of: a city's administrators
/// filter within their city (`county_city` is the filtered county's city), a client within its
/// county.
pub fn webhook_filter_within(
    caller: &Caller,
    city_id: Option<i32>,
    county_id: Option<i32>,
    county_city: Option<i32>,
) -> Result<(), ApiError> {
    let outside = |what: String| Err(ApiError::Forbidden(what));
    match caller.role {
        Role::Admin => Ok(()),
        Role::CityAdmin => match (city_id, county_id) {
            (Some(c), _) if Some(c) != caller.city_id => outside(format!(
                "you may subscribe to your own city's changes, not city {c}'s"
            )),
            (_, Some(c)) if county_city != caller.city_id => outside(format!(
                "you may subscribe to your own city's changes, not county {c}'s"
            )),
            _ => Ok(()),
        },
        _ => match (city_id, county_id) {
            (Some(_), _) => Err(ApiError::invalid(
                "city_id",
                "a county's client hears of its own county's changes only: leave city_id out",
            )),
            (_, Some(c)) if Some(c) != caller.county_id => outside(format!(
                "you may subscribe to your own county's changes, not county {c}'s"
            )),
            _ => Ok(()),
        },
    }
}

/// A subscription is managed by the deployment's administrators, by its owner, and by the
/// administrators of the city whose administrator owns it (`owner_city`).
pub fn may_manage_webhook(
    caller: &Caller,
    owner_user_id: Option<i32>,
    owner_client_id: Option<i32>,
    owner_city: Option<i32>,
) -> Result<(), ApiError> {
    let own = match caller.principal {
        Principal::User { id, .. } => owner_user_id == Some(id),
        Principal::Client { id, .. } => owner_client_id == Some(id),
    };
    let citys = caller.role == Role::CityAdmin
        && caller.city_id.is_some()
        && owner_user_id.is_some()
        && owner_city == caller.city_id;
    if caller.is_admin() || own || citys {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this subscription is not yours to manage".into(),
        ))
    }
}

/// A caller who is an administrator, of the deployment or of a city: extracting it answers 401
/// without a valid token and 403 for any other role, before the request's query or body is
/// read. The service then checks the city's bounds.
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        Box::pin(async move {
            let caller = caller.await?;
            caller.require_some_admin()?;
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
                "only the deployment's administrators may do this".into(),
            ))
        }
    }

    /// Administrators of the deployment or of some city: 403 for anyone else.
    pub fn require_some_admin(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin | Role::CityAdmin => Ok(()),
            _ => Err(ApiError::Forbidden(
                "only administrators may do this".into(),
            )),
        }
    }

    /// Administrators of the deployment, or of city `city_id`.
    pub fn require_city_admin_of(&self, city_id: i32) -> Result<(), ApiError> {
        if self.is_admin() || (self.role == Role::CityAdmin && self.city_id == Some(city_id)) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "only the administrators of city {city_id} may do this"
            )))
        }
    }

    /// The city whose records a city administrator is limited to; none for anyone else.
    pub fn city_limit(&self) -> Option<i32> {
        match self.role {
            Role::CityAdmin => Some(self.city_id.unwrap_or(0)),
            _ => None,
        }
    }

    /// Writes to a county's data: admins anywhere; a city's admins in their city (its counties
    /// and its city level); county officers and integration clients in their own county, except
    /// a city's or province's own level.
    pub fn require_county_write(&self, scope: CountyScope) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Viewer => Err(ApiError::Forbidden("viewers may only read".into())),
            Role::CityAdmin => {
                if self.city_id.is_some() && self.city_id == scope.city_id {
                    Ok(())
                } else {
                    Err(ApiError::Forbidden(format!(
                        "you may write only your own city's data, not county {}'s",
                        scope.county_id
                    )))
                }
            }
            Role::CountyOfficer | Role::Integration => {
                if self.county_id != Some(scope.county_id) {
                    Err(ApiError::Forbidden(format!(
                        "you may write only your own county's data, not county {}'s",
                        scope.county_id
                    )))
                } else if scope.is_level {
                    Err(ApiError::Forbidden(
                        "only administrators write a city's or province's own level".into(),
                    ))
                } else {
                    Ok(())
                }
            }
        }
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
                city_id: user.city_id,
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
                city_id: None,
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
            city_id: (role == Role::CityAdmin).then_some(1),
        }
    }

    const OWN: CountyScope = CountyScope {
        county_id: 3,
        city_id: Some(1),
        is_level: false,
        is_citys_own: false,
    };
    const OTHER: CountyScope = CountyScope {
        county_id: 4,
        city_id: Some(2),
        is_level: false,
        is_citys_own: false,
    };
    const CITY: CountyScope = CountyScope {
        county_id: 3,
        city_id: Some(1),
        is_level: true,
        is_citys_own: true,
    };
    /// The one row of a city without counties (东莞): written by its officers like a county,
    /// but its requests are the city's own.
    const DIRECT: CountyScope = CountyScope {
        county_id: 5,
        city_id: Some(1),
        is_level: false,
        is_citys_own: true,
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
    fn city_admins_write_their_own_city_and_its_level_and_nothing_else() {
        let c = caller(Role::CityAdmin, None);
        assert!(c.require_county_write(OWN).is_ok());
        assert!(c.require_county_write(CITY).is_ok());
        assert!(c.require_county_write(OTHER).is_err());
    }

    #[test]
    fn a_city_admin_decides_its_counties_funding_but_never_its_own_city_levels() {
        let c = caller(Role::CityAdmin, None);
        let approve = FundingAction::Approve;
        assert!(may_take_funding_action(&c, approve, OWN).is_ok());
        assert!(may_take_funding_action(&c, approve, CITY).is_err());
        assert!(may_take_funding_action(&c, approve, OTHER).is_err());
        assert!(may_take_funding_action(&c, approve, DIRECT).is_err());
        assert!(c.require_county_write(DIRECT).is_ok());
        assert!(may_take_funding_action(&caller(Role::Admin, None), approve, CITY).is_ok());
    }
}
