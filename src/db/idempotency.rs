//! Queries on `idempotency_keys`: a claim inserted before a POST runs, completed with its
//! response. The unique key (actor, method, path, key) decides races between retries.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::idempotency_keys;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyRow {
    pub id: i32,
    pub actor: String,
    pub method: String,
    pub path: String,
    pub key: String,
    pub request_hash: String,
    pub status: Option<i32>,
    pub response_headers: Option<String>,
    pub response_body: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct NewClaim {
    pub actor: String,
    pub method: String,
    pub path: String,
    pub key: String,
    pub request_hash: String,
    pub created_at: NaiveDateTime,
}

/// Inserts the claim; a unique violation means another request holds the key.
pub fn claim(conn: &mut DbConnection, new: &NewClaim) -> QueryResult<IdempotencyRow> {
    diesel::insert_into(idempotency_keys::table)
        .values(new)
        .get_result(conn)
}

pub fn find(
    conn: &mut DbConnection,
    actor: &str,
    method: &str,
    path: &str,
    key: &str,
) -> QueryResult<Option<IdempotencyRow>> {
    idempotency_keys::table
        .filter(idempotency_keys::actor.eq(actor))
        .filter(idempotency_keys::method.eq(method))
        .filter(idempotency_keys::path.eq(path))
        .filter(idempotency_keys::key.eq(key))
        .first(conn)
        .optional()
}

/// Stores the response of a claimed key.
pub fn complete(
    conn: &mut DbConnection,
    id: i32,
    status: i32,
    headers: String,
    body: String,
) -> QueryResult<()> {
    diesel::update(idempotency_keys::table.find(id))
        .set((
            idempotency_keys::status.eq(Some(status)),
            idempotency_keys::response_headers.eq(Some(headers)),
            idempotency_keys::response_body.eq(Some(body)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Releases a claim (the request failed with a 5xx, so a retry may run again) or an expired key.
pub fn delete(conn: &mut DbConnection, id: i32) -> QueryResult<()> {
    diesel::delete(idempotency_keys::table.find(id)).execute(conn)?;
    Ok(())
}

/// Deletes the keys created before `cutoff`.
pub fn delete_expired(conn: &mut DbConnection, cutoff: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(cutoff)))
        .execute(conn)
}
