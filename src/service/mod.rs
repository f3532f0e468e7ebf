//! The workflows: creating a county or a site, recording a transition, applying a batch. Each
//! takes the transaction (or a connection, for reads), the caller and a command, and returns the
//! values the API shows and the audit trail keeps, or the one error type. Routes, the command
//! line, the demo and the tests call them alike.
//!
//! The command and view types (`*In`, `*Patch`, `*Out`) live beside their workflows: the routes
//! expose them as the request and response bodies (their names are the spec's schema names),
//! and the batch and the audit trail use the same shapes.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use crate::error::ApiError;

pub mod accounts;
pub mod audit;
pub mod batch;
pub mod bulletins;
pub mod changes;
pub mod cities;
pub mod clients;
pub mod counties;
pub mod deliverer;
pub mod funding;
pub mod reports;
pub mod rounds;
pub mod sessions;
pub mod sites;
pub mod staff;
pub mod tables;
pub mod towns;
pub mod trainings;
pub mod webhooks;

/// For nullable fields in a `PATCH`: absent stays `None` (leave alone), `null` becomes
/// `Some(None)` (clear), a value `Some(Some(v))`. Use with `#[serde(default)]`.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// A stored UTC timestamp, sent as RFC 3339 with its `Z`.
pub fn utc(ts: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(ts, Utc)
}

/// A page of results: the items and how many match across all pages.
#[derive(Debug)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// A delete the foreign keys refused (a dependent row): the 409 says what to do instead. Other
/// errors pass as they are.
pub fn still_in_use(error: diesel::result::Error, message: impl FnOnce() -> String) -> ApiError {
    match ApiError::from(error) {
        ApiError::Conflict(_) => ApiError::Conflict(message()),
        other => other,
    }
}
