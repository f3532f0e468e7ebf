//! Queries on `webhooks` (subscriptions), `webhook_messages` (the outbox) and
//! `webhook_deliveries` (each attempt).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::audit::AuditRow;
use super::schema::{audit_events, clients, users, webhook_deliveries, webhook_messages, webhooks};
use super::{DbConnection, MultiBackend};
use crate::domain::audit::ChangeType;
use crate::domain::auth::Role;
use crate::domain::webhook::{EventPlace, Interest, MessageState, Owner};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    pub id: i32,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Option<String>,
    pub city_id: Option<i32>,
    pub county_id: Option<i32>,
    pub owner_user_id: Option<i32>,
    pub owner_client_id: Option<i32>,
    pub active: bool,
    pub disabled_reason: Option<String>,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<NaiveDateTime>,
    pub failing_since: Option<NaiveDateTime>,
    pub lease_until: Option<NaiveDateTime>,
    pub leased_by: Option<String>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

impl WebhookRow {
    /// The change types it receives; none for every type.
    pub fn types(&self) -> Option<Vec<ChangeType>> {
        read_types(self.event_types.as_deref())
    }
}

/// The stored types as read (none for every type). A stored word this version does not know is
/// left out (it was written by a newer one).
fn read_types(raw: Option<&str>) -> Option<Vec<ChangeType>> {
    let words: Vec<String> = serde_json::from_str(raw?).unwrap_or_default();
    Some(
        words
            .iter()
            .filter_map(|w| ChangeType::parse(w).ok())
            .collect(),
    )
}

/// The stored form of a subscription's types (none for every type).
pub fn stored_types(types: Option<&[ChangeType]>) -> Option<String> {
    types.map(|t| {
        serde_json::to_string(&t.iter().map(|t| t.as_str()).collect::<Vec<_>>())
            .unwrap_or_else(|_| "[]".into())
    })
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webhooks)]
pub struct NewWebhook {
    pub url: String,
    pub description: Option<String>,
    pub event_types: Option<String>,
    pub city_id: Option<i32>,
    pub county_id: Option<i32>,
    pub owner_user_id: Option<i32>,
    pub owner_client_id: Option<i32>,
    pub active: bool,
    pub secret: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

/// A change to a subscription; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = webhooks)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Option<String>>,
    pub city_id: Option<Option<i32>>,
    pub county_id: Option<Option<i32>>,
    pub active: Option<bool>,
    pub disabled_reason: Option<Option<String>>,
    pub secret: Option<String>,
    pub previous_secret: Option<Option<String>>,
    pub previous_secret_until: Option<Option<NaiveDateTime>>,
    pub failing_since: Option<Option<NaiveDateTime>>,
    pub version: Option<i32>,
    pub updated_at: Option<NaiveDateTime>,
}

/// Whose subscriptions a list shows.
#[derive(Debug, Clone, Copy)]
pub enum Owned {
    All,
    /// Those of the city's administrators.
    ByCityAdmins(i32),
    ByClient(i32),
    /// Those a user (an integration account) made itself.
    ByUser(i32),
}

fn owned(by: Owned) -> webhooks::BoxedQuery<'static, MultiBackend> {
    let q = webhooks::table.into_boxed();
    match by {
        Owned::All => q,
        Owned::ByCityAdmins(city) => q.filter(
            webhooks::owner_user_id.eq_any(
                users::table
                    .filter(users::role.eq(Role::CityAdmin))
                    .filter(users::city_id.eq(city))
                    .select(users::id.nullable()),
            ),
        ),
        Owned::ByClient(client) => q.filter(webhooks::owner_client_id.eq(client)),
        Owned::ByUser(user) => q.filter(webhooks::owner_user_id.eq(user)),
    }
}

pub fn list(
    conn: &mut DbConnection,
    by: Owned,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<WebhookRow>, i64)> {
    let total = owned(by).count().single_value();
    let rows = owned(by)
        .select((WebhookRow::as_select(), total))
        .order(webhooks::id.asc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    super::page_and_total(rows, offset, || owned(by).count().get_result(conn))
}

pub fn find(conn: &mut DbConnection, id: i32) -> QueryResult<Option<WebhookRow>> {
    webhooks::table
        .find(id)
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()
}

/// The city of the user who owns a subscription (a city administrator's), if a user does.
pub fn owner_city(conn: &mut DbConnection, row: &WebhookRow) -> QueryResult<Option<i32>> {
    let Some(user) = row.owner_user_id else {
        return Ok(None);
    };
    Ok(users::table
        .find(user)
        .select(users::city_id)
        .first::<Option<i32>>(conn)
        .optional()?
        .flatten())
}

pub fn insert(conn: &mut DbConnection, new: &NewWebhook) -> QueryResult<WebhookRow> {
    diesel::insert_into(webhooks::table)
        .values(new)
        .get_result(conn)
}

/// Changes subscription `id` if it is still at version `expected`.
pub fn change(
    conn: &mut DbConnection,
    id: i32,
    expected: i32,
    changes: &WebhookChanges,
) -> QueryResult<Option<WebhookRow>> {
    diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(id))
            .filter(webhooks::version.eq(expected)),
    )
    .set(changes)
    .get_result(conn)
    .optional()
}

/// Removes a subscription at version `expected`; its messages and their attempts go with it
/// (`ON DELETE CASCADE`, on in SQLite too).
pub fn delete(conn: &mut DbConnection, id: i32, expected: i32) -> QueryResult<bool> {
    let gone = diesel::delete(
        webhooks::table
            .filter(webhooks::id.eq(id))
            .filter(webhooks::version.eq(expected)),
    )
    .execute(conn)?;
    Ok(gone == 1)
}

// --- The outbox -------------------------------------------------------------------------------

#[derive(Debug, Insertable)]
#[diesel(table_name = webhook_messages)]
pub struct NewMessage {
    pub webhook_id: i32,
    pub msg_id: String,
    pub event_id: Option<i32>,
    pub event_type: String,
    pub payload: Option<String>,
    pub state: MessageState,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_messages)]
pub struct MessageRow {
    pub id: i32,
    pub webhook_id: i32,
    pub msg_id: String,
    pub event_id: Option<i32>,
    pub event_type: String,
    pub payload: Option<String>,
    pub state: MessageState,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
    pub txid: i64,
}

/// The active subscriptions whose owners are active, with the owner's rights as they are now.
fn subscribers(conn: &mut DbConnection) -> QueryResult<Vec<(i32, Interest, Owner)>> {
    type Found = (
        (i32, Option<String>, Option<i32>, Option<i32>),
        (Option<Role>, Option<i32>, Option<i32>, Option<bool>),
        (Option<i32>, Option<bool>),
    );
    let rows: Vec<Found> = webhooks::table
        .left_join(users::table.on(users::id.nullable().eq(webhooks::owner_user_id)))
        .left_join(clients::table.on(clients::id.nullable().eq(webhooks::owner_client_id)))
        .filter(webhooks::active.eq(true))
        .select((
            (
                webhooks::id,
                webhooks::event_types,
                webhooks::city_id,
                webhooks::county_id,
            ),
            (
                users::role.nullable(),
                users::city_id.nullable(),
                users::county_id.nullable(),
                users::active.nullable(),
            ),
            (clients::county_id.nullable(), clients::active.nullable()),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|((id, types, city_id, county_id), user, client)| {
            let owner = match (user, client) {
                ((Some(role), city, county, Some(true)), _) => Owner {
                    role,
                    city_id: city,
                    county_id: county,
                },
                ((None, ..), (Some(county), Some(true))) => Owner {
                    role: Role::Integration,
                    city_id: None,
                    county_id: Some(county),
                },
                _ => return None,
            };
            let interest = Interest {
                types: read_types(types.as_deref()),
                city_id,
                county_id,
            };
            Some((id, interest, owner))
        })
        .collect())
}

/// An audit event just stored: its id, and what subscriptions match on.
#[derive(Debug, Clone, Copy)]
pub struct StoredEvent {
    pub id: i32,
    pub place: EventPlace,
}

/// Writes each stored event's message for every subscription that receives it, in the
/// event's own transaction (so a crash after the commit loses no message). `events` are the
/// audit rows just inserted, with their ids.
pub fn enqueue_events(
    conn: &mut DbConnection,
    events: &[StoredEvent],
    at: NaiveDateTime,
) -> QueryResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let subscribers = subscribers(conn)?;
    if subscribers.is_empty() {
        return Ok(());
    }
    let mut messages = Vec::new();
    for event in events {
        for (webhook_id, interest, owner) in &subscribers {
            if interest.receives(owner, &event.place) {
                let type_ = event.place.change.as_str();
                messages.push(new_message(*webhook_id, Some(event.id), type_, None, at));
            }
        }
    }
    insert_messages(conn, &messages)
}

/// A message to send as soon as its turn comes.
pub fn new_message(
    webhook_id: i32,
    event_id: Option<i32>,
    event_type: &str,
    payload: Option<String>,
    at: NaiveDateTime,
) -> NewMessage {
    NewMessage {
        webhook_id,
        msg_id: format!("msg_{}", crate::domain::random_token(24)),
        event_id,
        event_type: event_type.to_string(),
        payload,
        state: MessageState::Pending,
        attempts: 0,
        next_attempt_at: at,
        created_at: at,
    }
}

/// Multi-row inserts of a few hundred (each backend on its own connection, as MultiConnection
/// cannot compile a multi-row insert).
pub fn insert_messages(conn: &mut DbConnection, messages: &[NewMessage]) -> QueryResult<()> {
    for chunk in messages.chunks(300) {
        match conn {
            DbConnection::Pg(c) => diesel::insert_into(webhook_messages::table)
                .values(chunk)
                .execute(c)?,
            DbConnection::Sqlite(c) => diesel::insert_into(webhook_messages::table)
                .values(chunk)
                .execute(c)?,
        };
    }
    Ok(())
}

pub fn insert_message(conn: &mut DbConnection, message: &NewMessage) -> QueryResult<MessageRow> {
    diesel::insert_into(webhook_messages::table)
        .values(message)
        .get_result(conn)
}

pub fn find_message(conn: &mut DbConnection, id: i32) -> QueryResult<Option<MessageRow>> {
    webhook_messages::table
        .find(id)
        .select(MessageRow::as_select())
        .first(conn)
        .optional()
}

/// Sends a message again at once, with a fresh schedule.
pub fn requeue(conn: &mut DbConnection, id: i32, at: NaiveDateTime) -> QueryResult<MessageRow> {
    diesel::update(webhook_messages::table.find(id))
        .set((
            webhook_messages::state.eq(MessageState::Pending),
            webhook_messages::attempts.eq(0),
            webhook_messages::next_attempt_at.eq(at),
            webhook_messages::ended_at.eq(None::<NaiveDateTime>),
        ))
        .get_result(conn)
}

// --- Delivering -------------------------------------------------------------------------------

/// Leases up to `limit` active subscriptions whose next message (in the feed's order) is due,
/// and that no live lease of another instance holds, to `me` until `until`: on PostgreSQL the rows are locked with
/// `SKIP LOCKED`, so instances claiming at once take different subscriptions; SQLite writes one
/// transaction at a time. A subscription whose head waits out a retry is not taken, however many
/// messages wait behind it.
pub fn claim(
    conn: &mut DbConnection,
    me: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<i32>> {
    let candidates = || {
        let head_due = webhook_messages::table
            .filter(webhook_messages::webhook_id.eq(webhooks::id))
            .filter(webhook_messages::state.eq(MessageState::Pending))
            .order((webhook_messages::txid.asc(), webhook_messages::id.asc()))
            .select(webhook_messages::next_attempt_at)
            .limit(1)
            .single_value()
            .le(Some(now));
        // A lease of `me`'s own is free too: this instance claims only between passes, so one it
        // still holds was left by a pass the database failed under (its release failed too).
        let free = webhooks::lease_until
            .is_null()
            .or(webhooks::lease_until.lt(now))
            .or(webhooks::leased_by.eq(me));
        webhooks::table
            .filter(webhooks::active.eq(true))
            .filter(free)
            .filter(head_due)
            .order(webhooks::id.asc())
            .limit(limit)
            .select(webhooks::id)
    };
    // Most polls find nothing: a plain read answers them, with no write transaction (on SQLite
    // that would take the write lock every poll).
    let seen: Vec<i32> = candidates().load(conn)?;
    if seen.is_empty() {
        return Ok(seen);
    }
    super::write_transaction(conn, |conn| {
        let ids: Vec<i32> = match conn {
            DbConnection::Pg(c) => candidates().for_update().skip_locked().load(c)?,
            DbConnection::Sqlite(c) => candidates().load(c)?,
        };
        if !ids.is_empty() {
            diesel::update(webhooks::table.filter(webhooks::id.eq_any(&ids)))
                .set((
                    webhooks::lease_until.eq(Some(until)),
                    webhooks::leased_by.eq(Some(me)),
                ))
                .execute(conn)?;
        }
        Ok(ids)
    })
}

/// Extends `me`'s lease on a subscription; false when it is no longer `me`'s (it expired and
/// another instance took it, or the subscription is gone or inactive).
pub fn renew(
    conn: &mut DbConnection,
    webhook_id: i32,
    me: &str,
    until: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(webhook_id))
            .filter(webhooks::leased_by.eq(me))
            .filter(webhooks::active.eq(true)),
    )
    .set(webhooks::lease_until.eq(Some(until)))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn release(conn: &mut DbConnection, webhook_id: i32, me: &str) -> QueryResult<()> {
    diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(webhook_id))
            .filter(webhooks::leased_by.eq(me)),
    )
    .set((
        webhooks::lease_until.eq(None::<NaiveDateTime>),
        webhooks::leased_by.eq(None::<String>),
    ))
    .execute(conn)?;
    Ok(())
}

/// A subscription's next message in the feed's order (`txid`, then id), with its event; on
/// PostgreSQL only among those of transactions older than every one still running, so one
/// that commits late is never overtaken by a later one.
pub fn next_pending(
    conn: &mut DbConnection,
    webhook_id: i32,
) -> QueryResult<Option<(MessageRow, Option<AuditRow>)>> {
    let mut q = webhook_messages::table
        .left_join(audit_events::table)
        .filter(webhook_messages::webhook_id.eq(webhook_id))
        .filter(webhook_messages::state.eq(MessageState::Pending))
        .order((webhook_messages::txid.asc(), webhook_messages::id.asc()))
        .select((MessageRow::as_select(), Option::<AuditRow>::as_select()))
        .into_boxed::<MultiBackend>();
    if let DbConnection::Pg(_) = conn {
        q = q.filter(
            webhook_messages::txid.lt(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
            )),
        );
    }
    q.first(conn).optional()
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct NewDelivery {
    pub webhook_id: i32,
    pub message_id: i32,
    pub attempt: i32,
    pub attempted_at: NaiveDateTime,
    pub status_code: Option<i32>,
    pub duration_ms: i32,
    pub error: Option<String>,
    pub next_attempt_at: Option<NaiveDateTime>,
}

/// Records an attempt and where its message stands after it: delivered, due again at
/// `next_attempt_at`, or given up.
pub fn record_attempt(
    conn: &mut DbConnection,
    attempt: &NewDelivery,
    state: MessageState,
) -> QueryResult<()> {
    diesel::insert_into(webhook_deliveries::table)
        .values(attempt)
        .execute(conn)?;
    let ended = (state != MessageState::Pending).then_some(attempt.attempted_at);
    diesel::update(webhook_messages::table.find(attempt.message_id))
        .set((
            webhook_messages::state.eq(state),
            webhook_messages::attempts.eq(attempt.attempt),
            webhook_messages::next_attempt_at
                .eq(attempt.next_attempt_at.unwrap_or(attempt.attempted_at)),
            webhook_messages::ended_at.eq(ended),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks a subscription's endpoint as answering (`failing_since` cleared) or failing since
/// `since` (kept if already failing).
pub fn mark_endpoint(
    conn: &mut DbConnection,
    webhook_id: i32,
    failing_since: Option<NaiveDateTime>,
) -> QueryResult<()> {
    let q = webhooks::table.filter(webhooks::id.eq(webhook_id));
    match failing_since {
        None => diesel::update(q.filter(webhooks::failing_since.is_not_null()))
            .set(webhooks::failing_since.eq(None::<NaiveDateTime>))
            .execute(conn)?,
        Some(at) => diesel::update(q.filter(webhooks::failing_since.is_null()))
            .set(webhooks::failing_since.eq(Some(at)))
            .execute(conn)?,
    };
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    pub id: i32,
    pub webhook_id: i32,
    pub message_id: i32,
    pub attempt: i32,
    pub attempted_at: NaiveDateTime,
    pub status_code: Option<i32>,
    pub duration_ms: i32,
    pub error: Option<String>,
    pub next_attempt_at: Option<NaiveDateTime>,
}

fn deliveries_of(webhook_id: i32) -> webhook_deliveries::BoxedQuery<'static, MultiBackend> {
    webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .into_boxed()
}

/// A subscription's attempts, newest first, each with its message.
pub fn deliveries(
    conn: &mut DbConnection,
    webhook_id: i32,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<(DeliveryRow, MessageRow)>, i64)> {
    let total = deliveries_of(webhook_id).count().single_value();
    let rows: Vec<(DeliveryRow, MessageRow, Option<i64>)> = webhook_deliveries::table
        .inner_join(webhook_messages::table)
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .offset(offset)
        .select((DeliveryRow::as_select(), MessageRow::as_select(), total))
        .load(conn)?;
    let rows = rows.into_iter().map(|(d, m, t)| ((d, m), t)).collect();
    super::page_and_total(rows, offset, || {
        deliveries_of(webhook_id).count().get_result(conn)
    })
}

pub fn find_delivery(
    conn: &mut DbConnection,
    webhook_id: i32,
    id: i32,
) -> QueryResult<Option<DeliveryRow>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::id.eq(id))
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .select(DeliveryRow::as_select())
        .first(conn)
        .optional()
}

/// Forgets the messages that ended (delivered or given up) before `cutoff`, with their attempts.
pub fn prune(conn: &mut DbConnection, cutoff: NaiveDateTime) -> QueryResult<usize> {
    super::write_transaction(conn, |conn| {
        let ended = || {
            webhook_messages::table
                .filter(webhook_messages::state.ne(MessageState::Pending))
                .filter(webhook_messages::ended_at.lt(cutoff))
        };
        diesel::delete(
            webhook_deliveries::table.filter(
                webhook_deliveries::message_id.eq_any(ended().select(webhook_messages::id)),
            ),
        )
        .execute(conn)?;
        diesel::delete(ended()).execute(conn)
    })
}
