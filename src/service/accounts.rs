//! Accounts: creating a user, and the view of one that the API answers and the audit trail keeps.
//! Called alike by the route, the command line (`shuangbai user add`) and the demo.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::hash_password;
use crate::clock::now;
use crate::db::{accounts, counties as county_q, DbConnection};
use crate::domain::auth::{check_password, check_role_county, parse_username, Role};
use crate::domain::county::CountyKind;
use crate::domain::{parse_name, Violations};
use crate::error::ApiError;

/// A new user, as the route's body, the command line and the demo give it.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub county_id: Option<i32>,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    pub id: i32,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub county_id: Option<i32>,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn user_out(row: accounts::UserRow) -> Result<UserOut, ApiError> {
    Ok(UserOut {
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        role: Role::parse(&row.role).map_err(ApiError::internal)?,
        county_id: row.county_id,
        active: row.active,
        version: row.version,
        created_at: row.created_at.and_utc(),
        updated_at: row.updated_at.and_utc(),
    })
}

/// A county-bound account needs a county that exists and is not the city level (which only
/// administrators run).
pub fn check_account_county(
    conn: &mut DbConnection,
    county_id: Option<i32>,
) -> Result<(), ApiError> {
    if let Some(id) = county_id {
        let county = county_q::find(conn, id)?
            .ok_or_else(|| ApiError::invalid("county_id", format!("county {id} does not exist")))?;
        if county.kind == CountyKind::CityLevel.as_str() {
            return Err(ApiError::invalid(
                "county_id",
                "the city level is run by administrators; give this person the admin role",
            ));
        }
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
    let display_name = v.check("display_name", parse_name(&input.display_name, 100));
    v.check("county_id", check_role_county(input.role, input.county_id));
    v.check("password", check_password(&input.password));
    v.into_result()?;
    let (Some(username), Some(display_name)) = (username, display_name) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    check_account_county(conn, input.county_id)?;
    let at = now();
    let row = accounts::insert_user(
        conn,
        &accounts::NewUser {
            username,
            display_name,
            role: input.role.as_str().into(),
            county_id: input.county_id,
            password_hash: hash_password(&input.password).map_err(ApiError::internal)?,
            active: true,
            auth_version: 1,
            version: 1,
            created_at: at,
            updated_at: at,
        },
    )?;
    Ok(row)
}
