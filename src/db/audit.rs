//! Queries on `audit_events`: written by [`crate::write::Tx::audit`], read by admins.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{audit_events, counties};
use super::{DbConnection, MultiBackend};
use crate::domain::audit::{AuditAction, AuditEntity};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub id: i32,
    pub occurred_at: NaiveDateTime,
    pub actor: String,
    pub action: AuditAction,
    pub entity: AuditEntity,
    pub entity_id: i32,
    pub county_id: Option<i32>,
    pub request_id: String,
    pub reason: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent {
    pub occurred_at: NaiveDateTime,
    pub actor: String,
    pub action: AuditAction,
    pub entity: AuditEntity,
    pub entity_id: i32,
    pub county_id: Option<i32>,
    pub request_id: String,
    pub reason: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub entity: Option<String>,
    pub entity_id: Option<i32>,
    pub county_id: Option<i32>,
    /// Events of this city's rows.
    pub city_id: Option<i32>,
    pub actor: Option<String>,
    /// Inclusive.
    pub from: Option<NaiveDateTime>,
    /// Exclusive.
    pub to: Option<NaiveDateTime>,
}

fn filtered(filter: &AuditFilter) -> audit_events::BoxedQuery<'static, MultiBackend> {
    let mut query = audit_events::table.into_boxed();
    if let Some(entity) = &filter.entity {
        query = query.filter(audit_events::entity.eq(entity.clone()));
    }
    if let Some(entity_id) = filter.entity_id {
        query = query.filter(audit_events::entity_id.eq(entity_id));
    }
    if let Some(county_id) = filter.county_id {
        query = query.filter(audit_events::county_id.eq(county_id));
    }
    if let Some(city) = filter.city_id {
        let rows = counties::table
            .filter(counties::city_id.eq(city))
            .select(counties::id.nullable());
        query = query.filter(audit_events::county_id.eq_any(rows));
    }
    if let Some(actor) = &filter.actor {
        query = query.filter(audit_events::actor.eq(actor.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::occurred_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_events::occurred_at.lt(to));
    }
    query
}

/// Stores events with multi-row inserts, a few hundred at a time. MultiConnection cannot
/// compile a multi-row insert, so each backend runs the same statement on its own connection.
pub fn insert_all(conn: &mut DbConnection, events: &[NewAuditEvent]) -> QueryResult<()> {
    for chunk in events.chunks(200) {
        match conn {
            DbConnection::Pg(c) => diesel::insert_into(audit_events::table)
                .values(chunk)
                .execute(c)?,
            DbConnection::Sqlite(c) => diesel::insert_into(audit_events::table)
                .values(chunk)
                .execute(c)?,
        };
    }
    Ok(())
}

/// Newest first.
pub fn list(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<AuditRow>, i64)> {
    let total = filtered(filter).count().get_result(conn)?;
    let rows = filtered(filter)
        .order_by(audit_events::occurred_at.desc())
        .then_order_by(audit_events::id.desc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    Ok((rows, total))
}
