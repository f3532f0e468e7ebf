//! Queries on `idempotency_keys`: each key with the answer it replays. The unique key
//! (actor, method, path, key) keeps one answer per key.

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

/// A key with the answer it gets from now on, stored whole: in the write's own transaction
/// when the request wrote, so the change and its answer stand or fall together.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct NewStoredKey {
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

/// Stores a key and its answer; a unique violation means another request stored it first.
pub fn insert(conn: &mut DbConnection, new: &NewStoredKey) -> QueryResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values(new)
        .execute(conn)?;
    Ok(())
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

/// Deletes an expired key, or one left without an answer by an earlier version of the service.
pub fn delete(conn: &mut DbConnection, id: i32) -> QueryResult<()> {
    diesel::delete(idempotency_keys::table.find(id)).execute(conn)?;
    Ok(())
}

/// Deletes the keys created before `cutoff`.
pub fn delete_expired(conn: &mut DbConnection, cutoff: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(cutoff)))
        .execute(conn)
}
