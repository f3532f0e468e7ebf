//! Accounts: creating a user, and the view of one that the API answers and the audit trail keeps.
//! Called alike by the routes, the command line (`shuangbai user add`) and the demo.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::hash_password;
use crate::clock::now;
use crate::db::{accounts, cities as city_q, counties as county_q, DbConnection};
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::auth::{
    check_password, check_role_city, check_role_county, parse_username, Role,
};
use crate::domain::staff::parse_phone;
use crate::domain::{Name, Violations};
use crate::error::ApiError;
use crate::policy::{self, Caller};
use crate::service::{double_option, Listed};
use crate::write::{Tx, NOTHING};

/// A new user, as the route's body, the command line and the demo give it.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub county_id: Option<i32>,
    pub city_id: Option<i32>,
    pub password: String,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserOut {
    pub id: i32,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub county_id: Option<i32>,
    /// A city administrator's city.
    pub city_id: Option<i32>,
    /// Seen by those who manage the account (the audit trail keeps it masked, as every phone).
    pub phone: Option<String>,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn user_out(row: accounts::UserRow) -> UserOut {
    UserOut {
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        role: row.role,
        county_id: row.county_id,
        city_id: row.city_id,
        phone: row.phone,
        active: row.active,
        version: row.version,
        created_at: row.created_at.and_utc(),
        updated_at: row.updated_at.and_utc(),
    }
}

/// A county-bound account needs a county that exists and is not a city's or province's own
/// level (which administrators run).
pub fn check_account_county(
    conn: &mut DbConnection,
    county_id: Option<i32>,
) -> Result<(), ApiError> {
    if let Some(id) = county_id {
        let county = county_q::find(conn, id)?
            .ok_or_else(|| ApiError::invalid("county_id", format!("county {id} does not exist")))?;
        if county.kind.is_level() {
            return Err(ApiError::invalid(
                "county_id",
                "a city's or province's own level is run by its administrators; give this person the city_admin or admin role",
            ));
        }
    }
    Ok(())
}

/// A city administrator's city must exist.
fn check_account_city(conn: &mut DbConnection, city_id: Option<i32>) -> Result<(), ApiError> {
    if let Some(id) = city_id {
        city_q::find(conn, id)?
            .ok_or_else(|| ApiError::invalid("city_id", format!("city {id} does not exist")))?;
    }
    Ok(())
}

/// Validates and stores a new user: used by the API, `shuangbai user add` and the demo.
pub fn create_user(
    conn: &mut DbConnection,
    input: NewAccount,
) -> Result<accounts::UserRow, ApiError> {
    let mut v = Violations::new();
    let username = v.check("username", parse_username(&input.username));
    let display_name = v.check("display_name", Name::parse(&input.display_name, 100));
    v.check("county_id", check_role_county(input.role, input.county_id));
    v.check("city_id", check_role_city(input.role, input.city_id));
    v.check("password", check_password(&input.password));
    let phone = match input.phone.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(p) => v.check("phone", parse_phone(p)),
    };
    v.into_result()?;
    let (Some(username), Some(display_name)) = (username, display_name) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    check_account_county(conn, input.county_id)?;
    check_account_city(conn, input.city_id)?;
    let at = now();
    let row = accounts::insert_user(
        conn,
        &accounts::NewUser {
            username,
            display_name: display_name.into(),
            role: input.role,
            county_id: input.county_id,
            city_id: input.city_id,
            password_hash: hash_password(&input.password).map_err(ApiError::internal)?,
            active: true,
            auth_version: 1,
            version: 1,
            created_at: at,
            updated_at: at,
            phone,
        },
    )?;
    Ok(row)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    /// 3 to 64 of `a-z 0-9 . _ -`; unique regardless of case.
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// Required for `county_officer` and `integration`, absent otherwise.
    pub county_id: Option<i32>,
    /// Required for `city_admin`, absent otherwise.
    pub city_id: Option<i32>,
    /// At least 12 characters. Stored as an argon2id hash, never returned.
    #[schema(format = Password)]
    pub password: String,
    /// A phone number the round's chase list shows to the administrators of this user's
    /// level; 7 to 20 of digits, `-`, `+` and spaces.
    pub phone: Option<String>,
}

impl From<UserIn> for NewAccount {
    fn from(i: UserIn) -> Self {
        NewAccount {
            username: i.username,
            display_name: i.display_name,
            role: i.role,
            county_id: i.county_id,
            city_id: i.city_id,
            password: i.password,
            phone: i.phone,
        }
    }
}

/// Changes to a user. Deactivating, or changing the password or role, ends the user's sessions.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>)]
    pub county_id: Option<Option<i32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>)]
    pub city_id: Option<Option<i32>>,
    pub active: Option<bool>,
    #[schema(format = Password)]
    pub password: Option<String>,
    /// A phone number; `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
}

/// A page of users (administrators; a city's see its counties' accounts).
pub fn list_users(
    conn: &mut DbConnection,
    caller: &Caller,
    limit: i64,
    offset: i64,
) -> Result<Listed<UserOut>, ApiError> {
    caller.require_some_admin()?;
    let counties = policy::limited_to_counties(conn, caller)?;
    let (rows, total) = accounts::list_users(conn, counties.as_deref(), limit, offset)?;
    Ok(Listed {
        items: rows.into_iter().map(user_out).collect(),
        total,
    })
}

/// User `id` (administrators; a city's, of its counties' accounts).
pub fn get_user(conn: &mut DbConnection, caller: &Caller, id: i32) -> Result<UserOut, ApiError> {
    caller.require_some_admin()?;
    let row = accounts::user_by_id(conn, id)?.ok_or_else(|| ApiError::not_found("user", id))?;
    policy::may_manage_account(conn, caller, row.role, row.county_id)?;
    Ok(user_out(row))
}

/// Creates a user through the API (administrators; a city's, for its counties), audited.
pub fn add_user(tx: &mut Tx<'_>, input: UserIn) -> Result<UserOut, ApiError> {
    tx.ctx.caller.require_some_admin()?;
    policy::may_manage_account(tx.conn, &tx.ctx.caller, input.role, input.county_id)?;
    let out = user_out(create_user(tx.conn, input.into())?);
    tx.audit(
        AuditAction::Create,
        AuditEntity::User,
        out.id,
        out.county_id,
        NOTHING,
        Some(&out),
    )?;
    Ok(out)
}

/// Changes user `id` at version `expected` (administrators only). Deactivating, or changing
/// the password, role or county, ends the user's sessions.
pub fn update_user(
    tx: &mut Tx<'_>,
    id: i32,
    expected: i32,
    patch: UserPatch,
) -> Result<UserOut, ApiError> {
    tx.ctx.caller.require_some_admin()?;
    let mut v = Violations::new();
    let display_name = match &patch.display_name {
        Some(raw) => v.check("display_name", Name::parse(raw, 100)),
        None => None,
    };
    if let Some(pw) = &patch.password {
        v.check("password", check_password(pw));
    }
    let phone = match &patch.phone {
        None => None,
        Some(None) => Some(None),
        Some(Some(p)) if p.trim().is_empty() => Some(None),
        Some(Some(p)) => v.check("phone", parse_phone(p.trim())).map(Some),
    };
    v.into_result()?;
    let current =
        accounts::user_by_id(tx.conn, id)?.ok_or_else(|| ApiError::not_found("user", id))?;
    policy::may_manage_account(tx.conn, &tx.ctx.caller, current.role, current.county_id)?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    let role = match patch.role {
        Some(r) => r,
        None => current.role,
    };
    let county_id = patch.county_id.unwrap_or(current.county_id);
    let city_id = patch.city_id.unwrap_or(current.city_id);
    // A city's administrators manage the account as it is (above) and as it becomes.
    policy::may_manage_account(tx.conn, &tx.ctx.caller, role, county_id)?;
    check_role_county(role, county_id).map_err(|m| ApiError::invalid("county_id", m))?;
    check_role_city(role, city_id).map_err(|m| ApiError::invalid("city_id", m))?;
    if patch.county_id.is_some() {
        check_account_county(tx.conn, county_id)?;
    }
    if patch.city_id.is_some() {
        check_account_city(tx.conn, city_id)?;
    }
    let password_hash = match &patch.password {
        Some(pw) => Some(hash_password(pw).map_err(ApiError::internal)?),
        None => None,
    };
    // Anything that changes what the user may do ends their current sessions.
    let ends_sessions = password_hash.is_some()
        || patch.active == Some(false)
        || role != current.role
        || county_id != current.county_id
        || city_id != current.city_id;
    let changes = accounts::UserChanges {
        display_name: display_name.map(String::from),
        role: patch.role,
        county_id: patch.county_id,
        city_id: patch.city_id,
        password_hash,
        active: patch.active,
        auth_version: ends_sessions.then_some(current.auth_version + 1),
        version: Some(current.version + 1),
        updated_at: Some(now()),
        phone,
    };
    let row = accounts::update_user(tx.conn, id, expected, &changes)?
        .ok_or(ApiError::PreconditionFailed)?;
    if ends_sessions {
        accounts::revoke_user_tokens(tx.conn, id, now())?;
    }
    let password_changed = changes.password_hash.is_some();
    let before = user_out(current);
    let out = user_out(row);
    let action = if password_changed {
        AuditAction::SetPassword
    } else {
        AuditAction::Update
    };
    tx.audit(
        action,
        AuditEntity::User,
        id,
        out.county_id,
        Some(&before),
        Some(&out),
    )?;
    Ok(out)
}
