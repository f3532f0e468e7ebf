//! Integration clients: the credentials of a county's scripts (administrators; a city's for
//! its counties). A secret
//! is shown once, when it is made.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::hash_secret;
use crate::clock::now;
use crate::db::{accounts, DbConnection};
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::auth::Role;
use crate::domain::{random_token, Name};
use crate::error::ApiError;
use crate::policy::{self, Caller};
use crate::service::accounts::check_account_county;
use crate::service::{utc, Listed};
use crate::write::{Tx, NOTHING};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientIn {
    /// What the script is, e.g. 罗定市民政局数据同步.
    pub name: String,
    /// The county the script writes for (not the city level).
    pub county_id: i32,
}

/// Rename or (de)activate a client. Deactivating ends its access at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    pub name: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientOut {
    pub id: i32,
    /// Sent as `client_id` with the `client_credentials` grant.
    pub client_id: String,
    pub name: String,
    pub county_id: i32,
    pub active: bool,
    pub last_used_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A client with its secret: shown here once, stored only as a hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientSecretOut {
    pub client: ClientOut,
    pub client_secret: String,
}

pub fn client_out(row: accounts::ClientRow) -> ClientOut {
    ClientOut {
        id: row.id,
        client_id: row.client_id,
        name: row.name,
        county_id: row.county_id,
        active: row.active,
        last_used_at: row.last_used_at.map(utc),
        version: row.version,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    }
}

/// A page of clients.
pub fn list(
    conn: &mut DbConnection,
    caller: &Caller,
    limit: i64,
    offset: i64,
) -> Result<Listed<ClientOut>, ApiError> {
    caller.require_some_admin()?;
    let counties = policy::limited_to_counties(conn, caller)?;
    let (rows, total) = accounts::list_clients(conn, counties.as_deref(), limit, offset)?;
    Ok(Listed {
        items: rows.into_iter().map(client_out).collect(),
        total,
    })
}

/// Client `id`.
pub fn get(conn: &mut DbConnection, caller: &Caller, id: i32) -> Result<ClientOut, ApiError> {
    caller.require_some_admin()?;
    let row = accounts::client_by_id(conn, id)?.ok_or_else(|| ApiError::not_found("client", id))?;
    policy::may_manage_account(conn, caller, Role::Integration, Some(row.county_id))?;
    Ok(client_out(row))
}

/// Makes a client for a county, with its secret (shown this once).
pub fn create(tx: &mut Tx<'_>, input: ClientIn) -> Result<ClientSecretOut, ApiError> {
    tx.ctx.caller.require_some_admin()?;
    let name = Name::parse(&input.name, 100).map_err(|m| ApiError::invalid("name", m))?;
    policy::may_manage_account(
        tx.conn,
        &tx.ctx.caller,
        Role::Integration,
        Some(input.county_id),
    )?;
    check_account_county(tx.conn, Some(input.county_id))?;
    let secret = random_token(43);
    let at = now();
    let row = accounts::insert_client(
        tx.conn,
        &accounts::NewClient {
            client_id: format!("sb-{}", random_token(20)),
            name: name.into(),
            county_id: input.county_id,
            secret_hash: hash_secret(&secret),
            active: true,
            auth_version: 1,
            version: 1,
            created_at: at,
            updated_at: at,
        },
    )?;
    let client = client_out(row);
    tx.audit(
        AuditAction::Create,
        AuditEntity::Client,
        client.id,
        Some(client.county_id),
        NOTHING,
        Some(&client),
    )?;
    Ok(ClientSecretOut {
        client,
        client_secret: secret,
    })
}

/// Renames, deactivates or reactivates client `id` at version `expected`; deactivating ends
/// its tokens.
pub fn update(
    tx: &mut Tx<'_>,
    id: i32,
    expected: i32,
    patch: ClientPatch,
) -> Result<ClientOut, ApiError> {
    tx.ctx.caller.require_some_admin()?;
    let name = match &patch.name {
        Some(raw) => Some(Name::parse(raw, 100).map_err(|m| ApiError::invalid("name", m))?),
        None => None,
    };
    let current =
        accounts::client_by_id(tx.conn, id)?.ok_or_else(|| ApiError::not_found("client", id))?;
    policy::may_manage_account(
        tx.conn,
        &tx.ctx.caller,
        Role::Integration,
        Some(current.county_id),
    )?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    let changes = accounts::ClientChanges {
        name: name.map(String::from),
        active: patch.active,
        auth_version: (patch.active == Some(false)).then_some(current.auth_version + 1),
        version: Some(current.version + 1),
        updated_at: Some(now()),
        ..Default::default()
    };
    let row = accounts::update_client(tx.conn, id, expected, &changes)?
        .ok_or(ApiError::PreconditionFailed)?;
    let before = client_out(current);
    let out = client_out(row);
    tx.audit(
        AuditAction::Update,
        AuditEntity::Client,
        id,
        Some(out.county_id),
        Some(&before),
        Some(&out),
    )?;
    Ok(out)
}

/// Gives client `id` a new secret (shown this once); the old one and its tokens stop working.
pub fn rotate_secret(tx: &mut Tx<'_>, id: i32) -> Result<ClientSecretOut, ApiError> {
    tx.ctx.caller.require_some_admin()?;
    let current =
        accounts::client_by_id(tx.conn, id)?.ok_or_else(|| ApiError::not_found("client", id))?;
    policy::may_manage_account(
        tx.conn,
        &tx.ctx.caller,
        Role::Integration,
        Some(current.county_id),
    )?;
    let secret = random_token(43);
    let changes = accounts::ClientChanges {
        secret_hash: Some(hash_secret(&secret)),
        auth_version: Some(current.auth_version + 1),
        version: Some(current.version + 1),
        updated_at: Some(now()),
        ..Default::default()
    };
    let row = accounts::update_client(tx.conn, id, current.version, &changes)?
        .ok_or(ApiError::PreconditionFailed)?;
    let before = client_out(current);
    let client = client_out(row);
    tx.audit(
        AuditAction::RotateSecret,
        AuditEntity::Client,
        id,
        Some(client.county_id),
        Some(&before),
        Some(&client),
    )?;
    Ok(ClientSecretOut {
        client,
        client_secret: secret,
    })
}
