//! One county's batch from its integration script (`POST /api/v1/counties/{id}/updates`).
//!
//! Items are keyed by the county's own keys (`code` for towns, `ref` for the rest), so a script
//! never needs our ids. Each item passes exactly the rules of its single-resource workflow, and
//! is created, updated or left unchanged. All or nothing: the batch runs in one transaction, and
//! any broken rule rolls everything back with a 422 listing every failing item by JSON pointer.
//!
//! Each section (towns, sites, staff, trainings, funding requests) is a `Section`: its key,
//! how it validates an item against the stored row, compares, inserts and updates. `upsert`
//! is the one loop over them; `sections.rs` declares them; `nested.rs` holds what hangs off an
//! item (equipment checks, postings, stage changes) and the county item.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::HttpResponse;
use chrono::NaiveDate;
use diesel::Connection;
use serde::Serialize;

use crate::db::counties::CountyRow;
use crate::db::DbPool;
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::Violation;
use crate::error::ApiError;
use crate::write::{rehearse, write_then, Tx, WriteCtx, NOTHING};

mod items;
mod nested;
mod sections;

pub use items::*;

/// Rows per multi-row `INSERT`: well inside both backends' limits on bound parameters.
const CHUNK: usize = 500;

/// How an attempt runs. `Fast` (PostgreSQL's first attempt): no savepoints and multi-row
/// inserts; the first item that fails abandons the attempt, since the transaction cannot go on.
/// `Careful`: one savepoint per item (SQLite always: its savepoints cost no round trip), so every
/// failing item is found and named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Fast,
    Careful,
}

/// Applies `input` to `county` (whose rights the caller has been checked for) and answers with
/// `respond(outcomes)`; with `dry_run`, validates everything and rolls it back.
pub async fn apply(
    pool: &DbPool,
    ctx: WriteCtx,
    county: CountyRow,
    input: UpdatesIn,
    dry_run: bool,
    today: NaiveDate,
    respond: fn(UpdatesOut) -> HttpResponse,
) -> Result<HttpResponse, ApiError> {
    let (county, input) = (Arc::new(county), Arc::new(input));
    let attempt = |attempt: Attempt| {
        let (county, input, ctx) = (county.clone(), input.clone(), ctx.clone());
        let run = move |tx: &mut Tx<'_>| {
            let attempt = match crate::db::is_postgres(tx.conn) {
                true => attempt,
                false => Attempt::Careful,
            };
            let mut batch = Batch::new(&county, today, attempt);
            sections::apply_all(&mut batch, tx, &input)?;
            batch.finish()
        };
        async move {
            if dry_run {
                let items = rehearse(pool, ctx, run).await?;
                Ok(respond(answer(items, true)))
            } else {
                write_then(pool, ctx, run, move |items| {
                    Ok(respond(answer(items, false)))
                })
                .await
            }
        }
    };
    match attempt(Attempt::Fast).await {
        Err(ApiError::Abandoned(_)) => attempt(Attempt::Careful).await,
        other => other,
    }
}

/// Whether an error is the item's own fault (a rule it breaks, or a unique, foreign-key or
/// check violation it causes) rather than the database's or a bug, which fail the batch as such
/// (a lost connection is then a 503).
fn is_about_the_item(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::Validation(_)
            | ApiError::Conflict(_)
            | ApiError::NotFound(_)
            | ApiError::Forbidden(_)
            | ApiError::BadRequest(_)
    )
}

/// The batch's progress: outcomes so far (each with the batch index that orders it) and every
/// broken rule, by pointer.
pub(super) struct Batch<'a> {
    county: &'a CountyRow,
    today: NaiveDate,
    attempt: Attempt,
    done: Vec<((usize, usize), ItemOutcomeOut)>,
    violations: Vec<Violation>,
}

impl<'a> Batch<'a> {
    fn new(county: &'a CountyRow, today: NaiveDate, attempt: Attempt) -> Self {
        Batch {
            county,
            today,
            attempt,
            done: Vec::new(),
            violations: Vec::new(),
        }
    }

    /// Records an outcome; `order` is (the section's position, the item's index), so outcomes
    /// come back in the batch's order whatever order they were applied in.
    fn done(
        &mut self,
        order: (usize, usize),
        pointer: String,
        key: &str,
        outcome: Outcome,
        id: i32,
    ) {
        let out = ItemOutcomeOut {
            pointer,
            key: key.to_string(),
            outcome,
            id: Some(id),
        };
        self.done.push((order, out));
    }

    fn violation(&mut self, field: String, message: impl Into<String>) {
        self.violations.push(Violation {
            field,
            message: message.into(),
        });
    }

    /// Every outcome in the batch's order, or every broken rule.
    fn finish(self) -> Result<Vec<ItemOutcomeOut>, ApiError> {
        if !self.violations.is_empty() {
            return Err(ApiError::Validation(self.violations));
        }
        let mut done = self.done;
        // Stable: an item's nested outcomes keep their order after it.
        done.sort_by_key(|(order, _)| *order);
        Ok(done.into_iter().map(|(_, out)| out).collect())
    }

    /// Runs one item: in `Fast`, straight on the transaction (an item failure abandons the
    /// attempt); in `Careful`, in a savepoint, its failure recorded under `pointer` (`None`).
    fn item<T>(
        &mut self,
        tx: &mut Tx<'_>,
        pointer: &str,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, ApiError>,
    ) -> Result<Option<T>, ApiError> {
        if self.attempt == Attempt::Fast {
            return f(tx).map(Some).map_err(|e| match is_about_the_item(&e) {
                true => ApiError::Abandoned("an item failed without a savepoint"),
                false => e,
            });
        }
        match in_savepoint(tx, f) {
            Ok(v) => Ok(Some(v)),
            Err(e) => self.failed(pointer, e).map(|()| None),
        }
    }

    /// Records an item's failure under its pointer; an error that is not about the item stops
    /// the batch.
    fn failed(&mut self, pointer: &str, error: ApiError) -> Result<(), ApiError> {
        match error {
            ApiError::Validation(found) => {
                for v in found {
                    let field = match v.field.as_str() {
                        "town_id" => "town_code",
                        "station_id" => "station_ref",
                        "county_id" | "" | "/" => "",
                        other => other,
                    };
                    let field = match field {
                        "" => pointer.to_string(),
                        f if f.starts_with('/') => format!("{pointer}{f}"),
                        f => format!("{pointer}/{f}"),
                    };
                    self.violation(field, v.message);
                }
                Ok(())
            }
            ApiError::Conflict(m)
            | ApiError::NotFound(m)
            | ApiError::Forbidden(m)
            | ApiError::BadRequest(m) => {
                self.violation(pointer.to_string(), m);
                Ok(())
            }
            other => Err(other),
        }
    }
}

/// A section of the batch: a kind of record keyed by the county's own key.
pub(super) trait Section {
    type Item;
    type Row: Clone;
    /// A validated item, as stored.
    type Values;
    /// The section's name in pointers (`towns`) and its records' in the audit trail (`town`).
    const NAME: &'static str;
    const ENTITY: AuditEntity;

    fn key(item: &Self::Item) -> &str;
    /// A stored record's key and id.
    fn row(row: &Self::Row) -> (&str, i32);
    /// Checks an item as its own route would (references resolved), given the stored record.
    fn validate(
        &mut self,
        tx: &mut Tx<'_>,
        item: &Self::Item,
        stored: Option<&Self::Row>,
    ) -> Result<Self::Values, ApiError>;
    fn unchanged(values: &Self::Values, row: &Self::Row) -> bool;
    /// Inserts new items, in one statement where it can.
    fn insert(&mut self, tx: &mut Tx<'_>, new: &[Self::Values])
        -> Result<Vec<Self::Row>, ApiError>;
    fn update(
        &mut self,
        tx: &mut Tx<'_>,
        row: &Self::Row,
        new: Self::Values,
    ) -> Result<Self::Row, ApiError>;
    /// The record as the API shows it and the audit trail keeps it.
    fn view(
        &mut self,
        tx: &mut Tx<'_>,
        row: &Self::Row,
        created: bool,
    ) -> Result<serde_json::Value, ApiError>;
}

/// A section's stored records by key, and the keys the batch has used so far.
pub(super) struct Keyed<R> {
    pub rows: HashMap<String, R>,
    seen: HashMap<String, String>,
}

impl<R> Keyed<R> {
    pub fn new(rows: Vec<R>, key: impl Fn(&R) -> String) -> Self {
        let rows = rows.into_iter().map(|r| (key(&r), r)).collect();
        Keyed {
            rows,
            seen: HashMap::new(),
        }
    }
}

/// An item applied: its index in its section and its stored row.
pub(super) struct Applied<R> {
    pub index: usize,
    pub pointer: String,
    pub row: R,
}

enum Step<R, V> {
    Kept(R),
    Changed(R),
    New(V),
}

/// The one upsert: each item of `items` that `wanted` picks checked for a repeated key,
/// validated, then left unchanged, updated, or inserted with the section's other new items;
/// every change audited; outcomes recorded at `position` in the batch's order.
pub(super) fn upsert<S: Section>(
    batch: &mut Batch<'_>,
    tx: &mut Tx<'_>,
    section: &mut S,
    position: usize,
    items: &[S::Item],
    wanted: impl Fn(&S::Item) -> bool,
    keyed: &mut Keyed<S::Row>,
) -> Result<Vec<Applied<S::Row>>, ApiError> {
    let county_id = batch.county.id;
    let mut applied = Vec::new();
    let mut new = Vec::new();
    for (index, item) in items.iter().enumerate().filter(|(_, i)| wanted(i)) {
        let pointer = format!("/{}/{index}", S::NAME);
        let key = S::key(item).to_string();
        if let Some(first) = keyed.seen.get(&key) {
            let message =
                format!("the key {key:?} appears more than once in the batch (first at {first})");
            batch.violation(pointer, message);
            continue;
        }
        keyed.seen.insert(key.clone(), pointer.clone());
        let stored = keyed.rows.get(&key).cloned();
        let step = batch.item(tx, &pointer, |tx| {
            let values = section.validate(tx, item, stored.as_ref())?;
            Ok(match stored {
                Some(row) if S::unchanged(&values, &row) => Step::Kept(row),
                Some(row) => Step::Changed(changed(section, tx, county_id, &row, values)?),
                None => Step::New(values),
            })
        })?;
        let (outcome, row) = match step {
            None => continue,
            Some(Step::New(values)) => {
                new.push(((index, pointer), values));
                continue;
            }
            Some(Step::Kept(row)) => (Outcome::Unchanged, row),
            Some(Step::Changed(row)) => (Outcome::Updated, row),
        };
        applied.push((
            outcome,
            Applied {
                index,
                pointer,
                row,
            },
        ));
    }
    applied.extend(
        insert_new(batch, tx, section, new)?
            .into_iter()
            .map(|a| (Outcome::Created, a)),
    );
    let mut out = Vec::with_capacity(applied.len());
    for (outcome, a) in applied {
        let (key, id) = S::row(&a.row);
        batch.done((position, a.index), a.pointer.clone(), key, outcome, id);
        keyed.rows.insert(key.to_string(), a.row.clone());
        out.push(a);
    }
    out.sort_by_key(|a| a.index);
    Ok(out)
}

/// Updates a stored record and audits the change.
fn changed<S: Section>(
    section: &mut S,
    tx: &mut Tx<'_>,
    county_id: i32,
    row: &S::Row,
    values: S::Values,
) -> Result<S::Row, ApiError> {
    let before = section.view(tx, row, false)?;
    let updated = section.update(tx, row, values)?;
    let after = section.view(tx, &updated, false)?;
    let id = S::row(&updated).1;
    tx.audit(
        AuditAction::Update,
        S::ENTITY,
        id,
        Some(county_id),
        Some(&before),
        Some(&after),
    )?;
    Ok(updated)
}

/// Runs `f` in a savepoint: its failure leaves the transaction usable.
fn in_savepoint<T>(
    tx: &mut Tx<'_>,
    f: impl FnOnce(&mut Tx<'_>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let (ctx, pending) = (tx.ctx, &mut *tx.pending);
    tx.conn
        .transaction(|conn| f(&mut Tx { conn, ctx, pending }))
}

/// A place in the batch: the item's index in its section and its pointer.
type Place = (usize, String);

/// Inserts a section's new items in multi-row statements of [`CHUNK`] and audits each record.
fn insert_new<S: Section>(
    batch: &mut Batch<'_>,
    tx: &mut Tx<'_>,
    section: &mut S,
    new: Vec<(Place, S::Values)>,
) -> Result<Vec<Applied<S::Row>>, ApiError> {
    let mut out = Vec::with_capacity(new.len());
    let mut rest = new.into_iter().peekable();
    while rest.peek().is_some() {
        let (places, values): (Vec<Place>, Vec<S::Values>) = rest.by_ref().take(CHUNK).unzip();
        let rows = insert_chunk(batch, tx, section, &places, values)?;
        out.extend(rows);
    }
    for a in &out {
        let view = section.view(tx, &a.row, true)?;
        let (id, county_id) = (S::row(&a.row).1, batch.county.id);
        tx.audit(
            AuditAction::Create,
            S::ENTITY,
            id,
            Some(county_id),
            NOTHING,
            Some(&view),
        )?;
    }
    Ok(out)
}

/// One multi-row insert. In `Careful` it runs in a savepoint, and a chunk refused for one of its
/// items is inserted again item by item, so the failing ones are named.
fn insert_chunk<S: Section>(
    batch: &mut Batch<'_>,
    tx: &mut Tx<'_>,
    section: &mut S,
    places: &[Place],
    values: Vec<S::Values>,
) -> Result<Vec<Applied<S::Row>>, ApiError> {
    let inserted = match batch.attempt {
        Attempt::Fast => batch.item(tx, "", |tx| section.insert(tx, &values))?,
        Attempt::Careful => match in_savepoint(tx, |tx| section.insert(tx, &values)) {
            Ok(rows) => Some(rows),
            Err(e) if !is_about_the_item(&e) => return Err(e),
            Err(_) => None,
        },
    };
    let Some(mut rows) = inserted else {
        let mut out = Vec::new();
        for (place, v) in places.iter().zip(values) {
            let one = std::slice::from_ref(&v);
            if let Some(mut rows) = batch.item(tx, &place.1, |tx| section.insert(tx, one))? {
                let row = rows
                    .pop()
                    .ok_or_else(|| ApiError::internal("insert returned no row"))?;
                out.push(applied(place, row));
            }
        }
        return Ok(out);
    };
    // Ids are given in the order of the rows inserted, on both backends.
    rows.sort_by_key(|r| S::row(r).1);
    if rows.len() != places.len() {
        return Err(ApiError::internal(
            "a multi-row insert returned another number of rows",
        ));
    }
    Ok(places
        .iter()
        .zip(rows)
        .map(|(p, row)| applied(p, row))
        .collect())
}

fn applied<R>(place: &Place, row: R) -> Applied<R> {
    Applied {
        index: place.0,
        pointer: place.1.clone(),
        row,
    }
}

/// A view as JSON, for the audit trail.
pub(super) fn json<T: Serialize>(value: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::internal(format!("audit value: {e}")))
}
