//! The change feed: every change the audit trail records, in commit order, from a cursor.
//!
//! Events are thin (ids and versions, never values): a client fetches what it needs with its
//! own rights. Events about accounts (users, integration clients) are shown to the
//! administrators who manage them only.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::now;
use crate::db::audit::{self as q, AccountEvents, AuditRow, FeedFilter, FeedPosition};
use crate::db::DbConnection;
use crate::domain::audit::{AuditEntity, ChangeType};
use crate::domain::auth::Role;
use crate::error::ApiError;
use crate::policy::Caller;
use crate::service::utc;

/// One change.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeOut {
    /// Where this change sits in the feed: resume after it with `after=`.
    pub cursor: String,
    #[serde(rename = "type")]
    pub type_: ChangeType,
    /// The audit trail's word for the record (sites are `station`, bulletins `progress_snapshot`).
    pub entity: AuditEntity,
    /// The record's id.
    pub id: i32,
    /// The record's version after the change (before it, for a delete); none for records
    /// without one.
    pub version: Option<i32>,
    pub county_id: Option<i32>,
    pub city_id: Option<i32>,
    pub province_id: Option<i32>,
    pub occurred_at: DateTime<Utc>,
    pub request_id: String,
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangePageOut {
    pub items: Vec<ChangeOut>,
    /// The cursor to ask with next (`after=`): the last item's, or the one given when there is
    /// nothing new yet.
    pub next: String,
}

/// Where a client starts following: the feed's newest position now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeHeadOut {
    pub cursor: String,
}

/// A cursor: the position as 24 hexadecimal digits. Opaque to clients.
pub fn encode(position: FeedPosition) -> String {
    let (t, i) = position;
    format!("{:016x}{:08x}", t as u64, i as u32)
}

/// The position a cursor names; 422 naming `after` for anything else.
pub fn decode(cursor: &str) -> Result<FeedPosition, ApiError> {
    let bad = || ApiError::invalid("after", "is not a cursor this feed gave");
    if cursor.len() != 24 || !cursor.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let t = u64::from_str_radix(&cursor[..16], 16).map_err(|_| bad())?;
    let i = u32::from_str_radix(&cursor[16..], 16).map_err(|_| bad())?;
    Ok((
        i64::try_from(t).map_err(|_| bad())?,
        i32::try_from(i).map_err(|_| bad())?,
    ))
}

/// The feed's start: before every event.
const START: FeedPosition = (0, 0);

/// Which account events `caller` may see: administrators all, a city's its city's, others none.
fn account_events(caller: &Caller) -> AccountEvents {
    match (caller.role, caller.city_id) {
        (Role::Admin, _) => AccountEvents::All,
        (Role::CityAdmin, Some(city)) => AccountEvents::OfCity(city),
        _ => AccountEvents::None,
    }
}

pub fn change_out(row: AuditRow) -> Result<ChangeOut, ApiError> {
    let type_ = ChangeType::of(row.entity, row.action)
        .ok_or_else(|| ApiError::internal(format!("audit event {} has no change type", row.id)))?;
    Ok(ChangeOut {
        cursor: encode((row.txid, row.id)),
        type_,
        entity: row.entity,
        id: row.entity_id,
        version: row.entity_version,
        county_id: row.county_id,
        city_id: row.city_id,
        province_id: row.province_id,
        occurred_at: utc(row.occurred_at),
        request_id: row.request_id,
    })
}

/// Changes after cursor `after` (from the oldest kept when none), at most `limit`. A cursor
/// older than the oldest change kept (`retention_days`) is 410: the client re-reads the lists,
/// then follows from [`head`].
pub fn list(
    conn: &mut DbConnection,
    caller: &Caller,
    after: Option<&str>,
    mut filter: FeedFilter,
    limit: i64,
    retention_days: u32,
) -> Result<ChangePageOut, ApiError> {
    let kept_since = now() - Duration::days(i64::from(retention_days));
    let position = match after {
        Some(cursor) => {
            let position = decode(cursor)?;
            if q::feed_expired(conn, position, kept_since)? {
                return Err(ApiError::Gone(format!(
                    "changes after this cursor are older than the {retention_days} days the feed \
                     keeps: re-read the lists you mirror, then follow from the cursor \
                     GET /api/v1/changes/head gives"
                )));
            }
            position
        }
        None => START,
    };
    filter.accounts = account_events(caller);
    // Read up to the head as it is now: everything up to it is final. A page that is not full
    // has seen all of it, filtered or not, so the reader's next cursor is the head itself (a
    // reader whose filter matched nothing for a while moves on, and is never sent back).
    let head = q::feed_head(conn)?.unwrap_or(START).max(position);
    let rows = q::feed(conn, (position, head), kept_since, &filter, limit)?;
    let next = match rows.last() {
        Some(r) if rows.len() as i64 == limit => (r.txid, r.id),
        _ => head,
    };
    let items = rows.into_iter().map(change_out).collect::<Result<_, _>>()?;
    Ok(ChangePageOut {
        items,
        next: encode(next),
    })
}

/// The cursor of the newest change the feed serves now (the start when there is none).
pub fn head(conn: &mut DbConnection) -> Result<ChangeHeadOut, ApiError> {
    let position = q::feed_head(conn)?.unwrap_or(START);
    Ok(ChangeHeadOut {
        cursor: encode(position),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_its_position_and_nothing_else_is_one() {
        for p in [(0, 0), (1, 1), (987_654_321, 42), (i64::MAX, i32::MAX)] {
            assert_eq!(decode(&encode(p)).ok(), Some(p));
        }
        for bad in [
            "",
            "zz",
            "00000000000000000000000g",
            "0000000000000000000000001",
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
