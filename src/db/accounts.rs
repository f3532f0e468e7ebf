//! Queries on `users`, `clients`, `sessions`, `refresh_tokens` and `login_failures`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{clients, login_failures, refresh_tokens, sessions, users};
use super::{DbConnection, MultiBackend};
use crate::domain::auth::Role;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i32,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub county_id: Option<i32>,
    pub password_hash: String,
    pub active: bool,
    pub auth_version: i32,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// A city administrator's city.
    pub city_id: Option<i32>,
    pub phone: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub county_id: Option<i32>,
    pub password_hash: String,
    pub active: bool,
    pub auth_version: i32,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub city_id: Option<i32>,
    pub phone: Option<String>,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub county_id: Option<Option<i32>>,
    pub city_id: Option<Option<i32>>,
    pub password_hash: Option<String>,
    pub active: Option<bool>,
    pub auth_version: Option<i32>,
    pub version: Option<i32>,
    pub updated_at: Option<NaiveDateTime>,
    pub phone: Option<Option<String>>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = clients)]
pub struct ClientRow {
    pub id: i32,
    pub client_id: String,
    pub name: String,
    pub county_id: i32,
    pub secret_hash: String,
    pub active: bool,
    pub auth_version: i32,
    pub last_used_at: Option<NaiveDateTime>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = clients)]
pub struct NewClient {
    pub client_id: String,
    pub name: String,
    pub county_id: i32,
    pub secret_hash: String,
    pub active: bool,
    pub auth_version: i32,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = clients)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub secret_hash: Option<String>,
    pub active: Option<bool>,
    pub auth_version: Option<i32>,
    pub version: Option<i32>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRow {
    pub id: i32,
    pub token_hash: String,
    pub family: String,
    pub user_id: i32,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct NewRefresh {
    pub token_hash: String,
    pub family: String,
    pub user_id: i32,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// A login's session: the family of its refresh tokens, named by its access tokens.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub user_id: i32,
    pub started_at: NaiveDateTime,
    /// The absolute end, however often its refresh token rotates.
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

impl SessionRow {
    /// Neither revoked nor past its absolute end.
    pub fn is_live(&self, at: NaiveDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > at
    }
}

// --- users

pub fn user_by_id(conn: &mut DbConnection, id: i32) -> QueryResult<Option<UserRow>> {
    users::table.find(id).first(conn).optional()
}

pub fn user_by_username(conn: &mut DbConnection, username: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::username.eq(username))
        .first(conn)
        .optional()
}

/// A page of users, of `counties` only when given.
pub fn list_users(
    conn: &mut DbConnection,
    counties: Option<&[i32]>,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<UserRow>, i64)> {
    let of = || {
        let mut q = users::table.into_boxed::<MultiBackend>();
        if let Some(ids) = counties {
            q = q.filter(users::county_id.eq_any(ids.to_vec()));
        }
        q
    };
    let total = of().count().get_result(conn)?;
    let rows = of()
        .order(users::id.asc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    Ok((rows, total))
}

pub fn insert_user(conn: &mut DbConnection, new: &NewUser) -> QueryResult<UserRow> {
    diesel::insert_into(users::table)
        .values(new)
        .get_result(conn)
}

pub fn update_user(
    conn: &mut DbConnection,
    id: i32,
    expected_version: i32,
    changes: &UserChanges,
) -> QueryResult<Option<UserRow>> {
    diesel::update(
        users::table
            .filter(users::id.eq(id))
            .filter(users::version.eq(expected_version)),
    )
    .set(changes)
    .get_result(conn)
    .optional()
}

// --- clients

pub fn client_by_id(conn: &mut DbConnection, id: i32) -> QueryResult<Option<ClientRow>> {
    clients::table.find(id).first(conn).optional()
}

pub fn client_by_client_id(
    conn: &mut DbConnection,
    client_id: &str,
) -> QueryResult<Option<ClientRow>> {
    clients::table
        .filter(clients::client_id.eq(client_id))
        .first(conn)
        .optional()
}

/// A page of clients, of `counties` only when given.
pub fn list_clients(
    conn: &mut DbConnection,
    counties: Option<&[i32]>,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<ClientRow>, i64)> {
    let of = || {
        let mut q = clients::table.into_boxed::<MultiBackend>();
        if let Some(ids) = counties {
            q = q.filter(clients::county_id.eq_any(ids.to_vec()));
        }
        q
    };
    let total = of().count().get_result(conn)?;
    let rows = of()
        .order(clients::id.asc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    Ok((rows, total))
}

pub fn insert_client(conn: &mut DbConnection, new: &NewClient) -> QueryResult<ClientRow> {
    diesel::insert_into(clients::table)
        .values(new)
        .get_result(conn)
}

pub fn update_client(
    conn: &mut DbConnection,
    id: i32,
    expected_version: i32,
    changes: &ClientChanges,
) -> QueryResult<Option<ClientRow>> {
    diesel::update(
        clients::table
            .filter(clients::id.eq(id))
            .filter(clients::version.eq(expected_version)),
    )
    .set(changes)
    .get_result(conn)
    .optional()
}

pub fn touch_client(conn: &mut DbConnection, id: i32, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(clients::table.find(id))
        .set(clients::last_used_at.eq(Some(at)))
        .execute(conn)
        .map(|_| ())
}

// --- refresh tokens

pub fn insert_refresh(conn: &mut DbConnection, new: &NewRefresh) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values(new)
        .execute(conn)
        .map(|_| ())
}

pub fn refresh_by_hash(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<RefreshRow>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash))
        .first(conn)
        .optional()
}

/// Marks a token used, only if nobody used or revoked it first: of two racing uses, one wins.
pub fn claim_refresh(conn: &mut DbConnection, id: i32, at: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::id.eq(id))
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(Some(at)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Revokes a session: its refresh tokens and, through the session, its access tokens.
pub fn revoke_family(conn: &mut DbConnection, family: &str, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(
        sessions::table
            .filter(sessions::id.eq(family))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(Some(at)))
    .execute(conn)?;
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family.eq(family))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(at)))
    .execute(conn)
    .map(|_| ())
}

/// Revokes every session of a user (deactivation, a new password).
pub fn revoke_user_tokens(
    conn: &mut DbConnection,
    user_id: i32,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(Some(at)))
    .execute(conn)?;
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(at)))
    .execute(conn)
    .map(|_| ())
}

// --- sessions

pub fn insert_session(conn: &mut DbConnection, new: &SessionRow) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values(new)
        .execute(conn)
        .map(|_| ())
}

pub fn session_by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<SessionRow>> {
    sessions::table.find(id).first(conn).optional()
}

/// What an access token's check needs of a user: never the password hash.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct Principal {
    pub id: i32,
    pub username: String,
    pub role: Role,
    pub county_id: Option<i32>,
    pub city_id: Option<i32>,
    pub active: bool,
    pub auth_version: i32,
}

/// A user and one of its sessions, in one round trip: what every request with a user's access
/// token checks. `None` when either is gone or the session is another user's.
pub fn user_with_session(
    conn: &mut DbConnection,
    user_id: i32,
    session_id: &str,
) -> QueryResult<Option<(Principal, SessionRow)>> {
    users::table
        .inner_join(sessions::table)
        .filter(users::id.eq(user_id))
        .filter(sessions::id.eq(session_id))
        .select((Principal::as_select(), SessionRow::as_select()))
        .first(conn)
        .optional()
}

// --- failed logins

/// Recent failed logins for one username (by its hash): from one address, and from all.
#[derive(Debug, Clone, Copy, Default)]
pub struct Failures {
    pub from_address: i64,
    /// The oldest from this address, which decides when one of them expires.
    pub oldest_from_address: Option<NaiveDateTime>,
    pub total: i64,
    pub oldest: Option<NaiveDateTime>,
}

pub fn record_failure(
    conn: &mut DbConnection,
    username_hash: &str,
    address: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::username_hash.eq(username_hash),
            login_failures::address.eq(address),
            login_failures::failed_at.eq(at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Failures for a username since `since`, from `address` and in all.
pub fn failures_since(
    conn: &mut DbConnection,
    username_hash: &str,
    address: &str,
    since: NaiveDateTime,
) -> QueryResult<Failures> {
    let rows: Vec<(String, NaiveDateTime)> = login_failures::table
        .filter(login_failures::username_hash.eq(username_hash))
        .filter(login_failures::failed_at.gt(since))
        .select((login_failures::address, login_failures::failed_at))
        .load(conn)?;
    let mut f = Failures::default();
    for (from, at) in rows {
        f.total += 1;
        f.oldest = Some(f.oldest.map_or(at, |o| o.min(at)));
        if from == address {
            f.from_address += 1;
            f.oldest_from_address = Some(f.oldest_from_address.map_or(at, |o| o.min(at)));
        }
    }
    Ok(f)
}

/// After a successful login: that address's failures for the username are forgiven.
pub fn clear_failures(
    conn: &mut DbConnection,
    username_hash: &str,
    address: &str,
) -> QueryResult<()> {
    diesel::delete(
        login_failures::table
            .filter(login_failures::username_hash.eq(username_hash))
            .filter(login_failures::address.eq(address)),
    )
    .execute(conn)
    .map(|_| ())
}

/// Deletes failures older than the window: they no longer count.
pub fn purge_failures_before(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<()> {
    diesel::delete(login_failures::table.filter(login_failures::failed_at.le(before)))
        .execute(conn)
        .map(|_| ())
}

/// The active users answerable for a round's participants, in one query: the officers of
/// `counties`, the city administrators of `cities`, and the deployment's administrators when
/// `admins`.
pub fn answerable_for_round(
    conn: &mut DbConnection,
    counties: &[i32],
    cities: &[i32],
    admins: bool,
) -> QueryResult<Vec<UserRow>> {
    let admin_roles: Vec<Role> = if admins { vec![Role::Admin] } else { vec![] };
    users::table
        .filter(users::active.eq(true))
        .filter(
            users::role
                .eq(Role::CountyOfficer)
                .and(users::county_id.eq_any(counties.to_vec()))
                .or(users::role
                    .eq(Role::CityAdmin)
                    .and(users::city_id.eq_any(cities.to_vec())))
                .or(users::role.eq_any(admin_roles)),
        )
        .order(users::id.asc())
        .load(conn)
}
