//! Queries on `audit_events`: written by [`crate::write::Tx::audit`], read by admins.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{audit_events, counties};
use super::{DbConnection, MultiBackend};
use crate::domain::audit::{AuditAction, AuditEntity, ChangeType};

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
    /// The writing transaction's id on PostgreSQL (0 on SQLite): the feed's order is (txid, id).
    pub txid: i64,
    pub entity_version: Option<i32>,
    pub city_id: Option<i32>,
    pub province_id: Option<i32>,
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
    pub entity_version: Option<i32>,
    /// Filled by [`insert_all`] from the county (or the record itself, for a deleted county).
    pub city_id: Option<i32>,
    pub province_id: Option<i32>,
}

impl NewAuditEvent {
    /// A whole number the event's value holds (after the change, else before it), such as the
    /// record's `version` or `city_id`.
    pub fn number_in_value(&self, name: &str) -> Option<i32> {
        let json = self.after.as_deref().or(self.before.as_deref())?;
        let value: serde_json::Value = serde_json::from_str(json).ok()?;
        value
            .get(name)?
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
    }
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
        // The city's counties and city level as they were when the change was made (stored
        // with the event).
        query = query
            .filter(audit_events::city_id.eq(city))
            .filter(audit_events::county_id.is_not_null());
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
pub fn insert_all(conn: &mut DbConnection, events: &mut [NewAuditEvent]) -> QueryResult<()> {
    place(conn, events)?;
    // Every write that can change a county-level row's figures is audited under that row: its
    // generation moves with the write, so the counts kept for it are counted again.
    let named: Vec<i32> = events
        .iter()
        .filter(|e| e.entity.moves_figures())
        .filter_map(|e| e.county_id)
        .collect();
    super::kept::bump(conn, &named)?;
    let mut stored = Vec::with_capacity(events.len());
    for chunk in events.chunks(200) {
        let ids: Vec<i32> = match conn {
            DbConnection::Pg(c) => diesel::insert_into(audit_events::table)
                .values(chunk)
                .returning(audit_events::id)
                .get_results(c)?,
            DbConnection::Sqlite(c) => diesel::insert_into(audit_events::table)
                .values(chunk)
                .returning(audit_events::id)
                .get_results(c)?,
        };
        // Both backends answer a multi-row insert's ids in the order of its rows.
        for (id, e) in ids.into_iter().zip(chunk) {
            if let Some(change) = ChangeType::of(e.entity, e.action) {
                stored.push(super::webhooks::StoredEvent {
                    id,
                    place: crate::domain::webhook::EventPlace {
                        change,
                        entity: e.entity,
                        county_id: e.county_id,
                        city_id: e.city_id,
                    },
                });
            }
        }
    }
    // The outbox: each webhook's message of each event, in this same transaction.
    let at = events.first().map(|e| e.occurred_at).unwrap_or_default();
    super::webhooks::enqueue_events(conn, &stored, at)
}

/// The city and province of each event, for the feed's filters: its county's, read in one
/// query; a deleted county's from its own values (`before`); a city's or province's from itself.
fn place(conn: &mut DbConnection, events: &mut [NewAuditEvent]) -> QueryResult<()> {
    let mut ids: Vec<i32> = events.iter().filter_map(|e| e.county_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let found: Vec<(i32, Option<i32>, i32)> = if ids.is_empty() {
        Vec::new()
    } else {
        counties::table
            .filter(counties::id.eq_any(ids))
            .select((counties::id, counties::city_id, counties::province_id))
            .load(conn)?
    };
    for e in events.iter_mut() {
        let county = e.county_id.and_then(|c| found.iter().find(|f| f.0 == c));
        let (city, province) = match county {
            Some(&(_, city, province)) => (city, Some(province)),
            None => (
                e.number_in_value("city_id"),
                e.number_in_value("province_id"),
            ),
        };
        (e.city_id, e.province_id) = match e.entity {
            AuditEntity::City => (Some(e.entity_id), province),
            AuditEntity::Province => (None, Some(e.entity_id)),
            _ => (city, province),
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

/// A place in the change feed: the writing transaction's id, then the event's id.
pub type FeedPosition = (i64, i32);

/// Which account events (users, integration clients) a feed reader sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountEvents {
    All,
    OfCity(i32),
    None,
}

#[derive(Debug, Clone)]
pub struct FeedFilter {
    pub entity: Option<AuditEntity>,
    pub action: Option<AuditAction>,
    pub county_id: Option<i32>,
    pub city_id: Option<i32>,
    pub province_id: Option<i32>,
    pub accounts: AccountEvents,
}

/// Events after `after` and up to `upto` (a [`feed_head`] read before: every transaction that
/// could add an event at or before it has finished, so this range never grows), in commit order,
/// those since `kept_since` (the feed's retention). On PostgreSQL only those of transactions older than
/// the oldest still running (the statement's own snapshot): every transaction that could still
/// add an event before the page's end has finished, so a reader that follows the positions
/// never skips one that commits late. SQLite writes one transaction at a time, in id order.
pub fn feed(
    conn: &mut DbConnection,
    (after, upto): (FeedPosition, FeedPosition),
    kept_since: NaiveDateTime,
    filter: &FeedFilter,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    use diesel::dsl::not;
    let mut q = audit_events::table
        .into_boxed()
        .filter(audit_events::occurred_at.ge(kept_since))
        .filter(beyond(after))
        .filter(not(beyond(upto)))
        .order((audit_events::txid.asc(), audit_events::id.asc()))
        .limit(limit);
    if let Some(e) = filter.entity {
        q = q.filter(audit_events::entity.eq(e));
    }
    if let Some(a) = filter.action {
        q = q.filter(audit_events::action.eq(a));
    }
    if let Some(c) = filter.county_id {
        q = q.filter(audit_events::county_id.eq(c));
    }
    if let Some(c) = filter.city_id {
        q = q.filter(audit_events::city_id.eq(c));
    }
    if let Some(p) = filter.province_id {
        q = q.filter(audit_events::province_id.eq(p));
    }
    let accounts = audit_events::entity.eq_any(AuditEntity::ACCOUNTS);
    q = match filter.accounts {
        AccountEvents::All => q,
        AccountEvents::OfCity(city) => q.filter(not(accounts).or(audit_events::city_id.eq(city))),
        AccountEvents::None => q.filter(not(accounts)),
    };
    q.select(AuditRow::as_select()).load(conn)
}

/// Events after `position`: a row comparison, which both backends answer from the `(txid, id)`
/// index (an `OR` of the two columns would not be).
fn beyond(
    position: FeedPosition,
) -> Box<dyn BoxableExpression<audit_events::table, MultiBackend, SqlType = diesel::sql_types::Bool>>
{
    use diesel::sql_types::{BigInt, Bool, Integer};
    Box::new(
        diesel::dsl::sql::<Bool>("(audit_events.txid, audit_events.id) > (")
            .bind::<BigInt, _>(position.0)
            .sql(", ")
            .bind::<Integer, _>(position.1)
            .sql(")"),
    )
}

/// The events whose writing transactions have certainly finished (see [`feed`]).
fn complete(conn: &DbConnection) -> audit_events::BoxedQuery<'static, MultiBackend> {
    let q = audit_events::table.into_boxed();
    match conn {
        DbConnection::Pg(_) => q.filter(audit_events::txid.lt(diesel::dsl::sql::<
            diesel::sql_types::BigInt,
        >(
            "pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
        ))),
        DbConnection::Sqlite(_) => q,
    }
}

/// The position of the newest event the feed serves now, if any.
pub fn feed_head(conn: &mut DbConnection) -> QueryResult<Option<FeedPosition>> {
    complete(conn)
        .order((audit_events::txid.desc(), audit_events::id.desc()))
        .select((audit_events::txid, audit_events::id))
        .first(conn)
        .optional()
}

/// Whether the first event after `after` is older than `cutoff`: the feed no longer serves it,
/// so a reader at `after` would miss it. One step along the `(txid, id)` index, however long
/// the trail.
pub fn feed_expired(
    conn: &mut DbConnection,
    after: FeedPosition,
    cutoff: NaiveDateTime,
) -> QueryResult<bool> {
    let (t, i) = after;
    let first: Option<NaiveDateTime> = audit_events::table
        .filter(beyond((t, i)))
        .order((audit_events::txid.asc(), audit_events::id.asc()))
        .select(audit_events::occurred_at)
        .first(conn)
        .optional()?;
    Ok(first.is_some_and(|at| at < cutoff))
}
