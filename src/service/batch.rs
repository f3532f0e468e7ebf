//! One county's batch from its integration script (`POST /api/v1/counties/{id}/updates`).
//!
//! Items are keyed by the county's own keys (`code` for towns, `ref` for the rest), so a script
//! never needs our ids. Each item passes exactly the rules of its single-resource workflow, and
//! is created, updated or left unchanged. All or nothing: the batch runs in one transaction, and
//! any broken rule rolls everything back with a 422 listing every failing item by JSON pointer.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix_web::HttpResponse;
use chrono::NaiveDate;
use diesel::Connection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::now;
use crate::db::counties::{self as county_q, CountyChanges, CountyRow};
use crate::db::funding::{self as funding_q, FundingRequestRow};
use crate::db::sites::{self as site_q, SiteRow, SiteValues};
use crate::db::staff::{self as staff_q, StaffRow, StaffValues};
use crate::db::towns::{self as town_q, NewTown, TownChanges, TownRow};
use crate::db::trainings::{self as training_q, NewTraining, TrainingChanges, TrainingRow};
use crate::db::DbPool;
use crate::domain::county::parse_note;
use crate::domain::county::DivisionCode;
use crate::domain::funding::FundingAction;
use crate::domain::site::{items_from_text, normalise_items, EquipmentItem, SiteKind};
use crate::domain::staff::{Certification, Gender, HiredVia, PostingRole};
use crate::domain::town::TownKind;
use crate::domain::training::TrainingKind;
use crate::domain::{business_date, Violation, Violations};
use crate::error::ApiError;
use crate::policy::CountyScope;
use crate::service::counties::{
    check_plan_change, load_out as load_county_out, record_plan_change, PlanChangeIn,
};
use crate::service::funding::{
    create_request, record_transition, update_request, validated_request, validated_transition,
    FundingRequestIn, FundingTransitionIn, ValidPatch,
};
use crate::service::sites::{
    check_out, record_check, site_out, site_out_with, validated_site_with, CheckIn, Lookups, SiteIn,
};
use crate::service::staff::{
    add_posting, posting_out, staff_out, validated_staff, PostingIn, StaffIn,
};
use crate::service::towns::{town_county, town_out, validated_town_fields};
use crate::service::trainings::{training_county, training_out, validated_training_fields};
use crate::write::{rehearse, write_then, Tx, WriteCtx, NOTHING};

/// One county's batch. Every section is optional; items are keyed by the county's own keys.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatesIn {
    /// The county itself: a plan-status change and its mechanisms' dates.
    #[serde(default)]
    pub county: Option<CountyItemIn>,
    /// Towns, keyed by `code`.
    #[serde(default)]
    pub towns: Vec<TownItemIn>,
    /// Stations and points, keyed by `ref`; stations are applied before points.
    #[serde(default)]
    pub sites: Vec<SiteItemIn>,
    /// Social workers, keyed by `ref`, with their postings.
    #[serde(default)]
    pub staff: Vec<StaffItemIn>,
    /// Training sessions, keyed by `ref`.
    #[serde(default)]
    pub trainings: Vec<TrainingItemIn>,
    /// Funding requests, keyed by `ref`, with their stage changes.
    #[serde(default)]
    pub funding_requests: Vec<FundingItemIn>,
}

impl UpdatesIn {
    /// Every item, nested ones included.
    pub fn item_count(&self) -> usize {
        self.towns.len()
            + self
                .sites
                .iter()
                .map(|s| 1 + s.equipment_checks.len())
                .sum::<usize>()
            + self
                .staff
                .iter()
                .map(|s| 1 + s.postings.len())
                .sum::<usize>()
            + self.trainings.len()
            + usize::from(self.county.is_some())
            + self
                .funding_requests
                .iter()
                .map(|f| 1 + f.transitions.len())
                .sum::<usize>()
    }
}

/// A town of the batch's county, keyed by its nine-digit `code`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TownItemIn {
    #[schema(example = "445302104")]
    pub code: String,
    #[schema(example = "腰古镇")]
    pub name: String,
    pub kind: TownKind,
}

/// A station or point, as in `POST /api/v1/stations`, naming its town by `town_code` and a
/// point's station by the station's `ref`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteItemIn {
    pub kind: SiteKind,
    /// The code of a town of the county, stored or in this batch.
    pub town_code: String,
    /// For a point: the `ref` of its station, stored or in this batch.
    pub station_ref: Option<String>,
    pub village: Option<String>,
    pub name: String,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    #[serde(rename = "ref")]
    #[schema(rename = "ref")]
    pub ref_: String,
    pub planned_on: NaiveDate,
    pub premises_secured_on: Option<NaiveDate>,
    pub completed_on: Option<NaiveDate>,
    pub suspended_on: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
    /// Dated checks, keyed by `checked_on`; a stored check is history and is never changed.
    #[serde(default)]
    pub equipment_checks: Vec<CheckIn>,
}

/// A social worker, as in `POST /api/v1/staff` without `county_id` (the batch's county).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffItemIn {
    pub name: String,
    pub gender: Gender,
    pub phone: Option<String>,
    pub id_number: Option<String>,
    pub education: Option<String>,
    pub certification: Certification,
    pub hired_via: HiredVia,
    #[serde(rename = "ref")]
    #[schema(rename = "ref")]
    pub ref_: String,
    /// Postings, keyed by the site and `from`; a stored one is left as it is.
    #[serde(default)]
    pub postings: Vec<PostingItemIn>,
}

/// A posting, as in `POST /api/v1/staff/{id}/postings`, naming its site by the site's `ref`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostingItemIn {
    /// The `ref` of a station or point of the county, stored or in this batch.
    pub station_ref: String,
    pub role: PostingRole,
    #[serde(rename = "from")]
    #[schema(rename = "from")]
    pub from_on: NaiveDate,
    #[serde(rename = "to")]
    #[schema(rename = "to")]
    pub to_on: Option<NaiveDate>,
}

/// A training session, as in `POST /api/v1/trainings`, with its `ref` required.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingItemIn {
    pub kind: TrainingKind,
    pub title: String,
    pub held_on: NaiveDate,
    #[schema(minimum = 0)]
    pub attendees: Option<i32>,
    #[serde(rename = "ref")]
    #[schema(rename = "ref")]
    pub ref_: String,
}

/// The batch's county itself, as `POST /api/v1/counties/{id}/plan-status-changes` and the
/// mechanism dates of `PATCH /api/v1/counties/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountyItemIn {
    /// A plan-status change, appended unless the county's latest change already has the same
    /// stage, `effective_on` and note.
    pub plan_status: Option<PlanChangeIn>,
    /// Set when given and different; absent leaves it as it is.
    pub coordination_established_on: Option<NaiveDate>,
    /// Set when given and different; absent leaves it as it is.
    pub management_established_on: Option<NaiveDate>,
}

/// A funding request, as in `POST /api/v1/funding-requests` without `county_id` (the batch's
/// county) and with its `ref` required. A stored request's year, title, purpose and
/// `requested_fen` (when given, and no listed transition carries one) are changed as by `PATCH`,
/// only while it is estimating or consulting; `effective_on` and `note` are its `create`
/// transition's, used only when it is created.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FundingItemIn {
    #[schema(example = 2021, minimum = 2000, maximum = 2100)]
    pub fiscal_year: i32,
    #[schema(example = "2021年社工站建设运营经费")]
    pub title: String,
    pub purpose: Option<String>,
    /// Integer fen (分).
    #[schema(minimum = 0, maximum = 100000000000_i64)]
    pub requested_fen: Option<i64>,
    #[serde(rename = "ref")]
    #[schema(rename = "ref", example = "FR-2021-01")]
    pub ref_: String,
    pub effective_on: Option<NaiveDate>,
    pub note: Option<String>,
    /// Stage changes, in order, keyed by `action` and `effective_on`: one already in the
    /// request's history is left as it is; the others are applied as by
    /// `POST /api/v1/funding-requests/{id}/transitions`.
    #[serde(default)]
    pub transitions: Vec<FundingTransitionItemIn>,
}

/// A stage change, as in `POST /api/v1/funding-requests/{id}/transitions` with `effective_on`
/// required.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FundingTransitionItemIn {
    pub action: FundingAction,
    pub effective_on: NaiveDate,
    pub note: Option<String>,
    /// Only with `submit`, integer fen (分).
    #[schema(minimum = 0, maximum = 100000000000_i64)]
    pub requested_fen: Option<i64>,
    /// Required with `approve` (administrators only), integer fen (分).
    #[schema(minimum = 0, maximum = 100000000000_i64)]
    pub approved_fen: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemOutcomeOut {
    /// The item's JSON pointer in the batch, e.g. `/sites/17`.
    pub pointer: String,
    /// The county's key of the item (a code, a ref, a date).
    pub key: String,
    pub outcome: Outcome,
    /// Our id; null for an item a dry run would create.
    pub id: Option<i32>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct OutcomeCountsOut {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpdatesOut {
    pub dry_run: bool,
    /// Whether the changes were written (false for a dry run).
    pub applied: bool,
    /// Every item's outcome, in the batch's order.
    pub items: Vec<ItemOutcomeOut>,
    pub counts: OutcomeCountsOut,
}

/// The batch's progress: outcomes so far and every broken rule, by pointer.
struct Batch {
    items: Vec<ItemOutcomeOut>,
    violations: Vec<Violation>,
    /// One savepoint per item (see `savepoint`).
    careful: bool,
}

impl Batch {
    fn done(&mut self, pointer: String, key: &str, outcome: Outcome, id: i32) {
        self.items.push(ItemOutcomeOut {
            pointer,
            key: key.to_string(),
            outcome,
            id: Some(id),
        });
    }

    fn violation(&mut self, field: String, message: impl Into<String>) {
        self.violations.push(Violation {
            field,
            message: message.into(),
        });
    }

    /// Records an item's failure under its pointer; errors that are not about the item (the
    /// database gone, a bug) stop the batch.
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
                    let field = if field.is_empty() {
                        pointer.to_string()
                    } else if field.starts_with('/') {
                        format!("{pointer}{field}")
                    } else {
                        format!("{pointer}/{field}")
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

    /// Whether `key` is new in its section; a repeated key is a violation on the later item.
    fn first_time(&mut self, seen: &mut HashMap<String, String>, key: &str, pointer: &str) -> bool {
        if let Some(first) = seen.get(key) {
            let message =
                format!("the key {key:?} appears more than once in the batch (first at {first})");
            self.violation(pointer.to_string(), message);
            return false;
        }
        seen.insert(key.to_string(), pointer.to_string());
        true
    }
}

/// Runs one item in a savepoint, so a failed item leaves the transaction usable for the rest.
fn savepoint<T>(
    careful: bool,
    tx: &mut Tx<'_>,
    f: impl FnOnce(&mut Tx<'_>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let ctx = tx.ctx;
    let pending = &mut *tx.pending;
    // On PostgreSQL a savepoint costs two round trips per item, so a batch first runs without
    // them; the first failing item abandons that attempt, and the batch runs again in a fresh
    // transaction with one savepoint per item, so every failure is found and reported exactly.
    // (On SQLite savepoints cost no round trip: always use them.)
    if crate::db::is_postgres(tx.conn) && !careful {
        return f(&mut Tx {
            conn: &mut *tx.conn,
            ctx,
            pending,
        })
        .map_err(|e| match is_about_the_item(&e) {
            // The transaction is unusable now: give this attempt up, to run it carefully.
            true => ApiError::Abandoned("an item failed without a savepoint"),
            // The database gone, or a bug: no second attempt would fare better.
            false => e,
        });
    }
    tx.conn
        .transaction(|conn| f(&mut Tx { conn, ctx, pending }))
}

/// Whether an error is the item's own fault (recorded against it, and the batch goes on) rather
/// than the database's or a bug (which stops the batch).
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

fn same_site(v: &SiteValues, r: &SiteRow) -> bool {
    v.county_id == r.county_id
        && v.town_id == r.town_id
        && v.kind == r.kind
        && v.station_id == r.station_id
        && v.village == r.village
        && v.name == r.name
        && v.address == r.address
        && v.latitude == r.latitude
        && v.longitude == r.longitude
        && v.ref_ == r.ref_
        && v.status == r.status
        && v.planned_on == r.planned_on
        && v.premises_secured_on == r.premises_secured_on
        && v.completed_on == r.completed_on
        && v.suspended_on == r.suspended_on
        && v.closed_on == r.closed_on
}

fn same_staff(v: &StaffValues, r: &StaffRow) -> bool {
    v.county_id == r.county_id
        && v.name == r.name
        && v.gender == r.gender
        && v.phone == r.phone
        && v.id_number == r.id_number
        && v.education == r.education
        && v.certification == r.certification
        && v.hired_via == r.hired_via
        && v.ref_ == r.ref_
}

/// The county item: its mechanisms' dates (as `PATCH`), then a plan-status change (as its
/// `POST`), each only when it changes something.
fn apply_county(
    tx: &mut Tx<'_>,
    county_id: i32,
    item: &CountyItemIn,
    today: NaiveDate,
) -> Result<Outcome, ApiError> {
    let mut v = Violations::new();
    business_date(
        &mut v,
        "coordination_established_on",
        item.coordination_established_on,
        today,
    );
    business_date(
        &mut v,
        "management_established_on",
        item.management_established_on,
        today,
    );
    if let Some(change) = &item.plan_status {
        check_plan_change(&mut v, "/plan_status/", change, today);
    }
    v.into_result()?;
    let current = county_q::find(tx.conn, county_id)?
        .ok_or_else(|| ApiError::not_found("county", county_id))?;
    tx.ctx
        .caller
        .require_county_write(CountyScope::of(&current))?;
    let mut outcome = Outcome::Unchanged;
    let coordination = item
        .coordination_established_on
        .filter(|d| Some(*d) != current.coordination_established_on);
    let management = item
        .management_established_on
        .filter(|d| Some(*d) != current.management_established_on);
    if coordination.is_some() || management.is_some() {
        let before = load_county_out(tx.conn, county_id, today)?;
        let changes = CountyChanges {
            coordination_established_on: coordination.map(Some),
            management_established_on: management.map(Some),
            version: Some(current.version + 1),
            updated_at: Some(now()),
            ..Default::default()
        };
        county_q::update(tx.conn, county_id, current.version, &changes)?
            .ok_or_else(|| ApiError::Conflict("the county changed meanwhile".into()))?;
        let out = load_county_out(tx.conn, county_id, today)?;
        tx.audit(
            "update",
            "county",
            county_id,
            Some(county_id),
            Some(&before),
            Some(&out),
        )?;
        outcome = Outcome::Updated;
    }
    if let Some(change) = &item.plan_status {
        let note = parse_note(change.note.as_deref()).unwrap_or_default();
        let latest = county_q::plan_history(tx.conn, county_id)?.pop();
        let recorded = latest.is_some_and(|l| {
            l.stage == change.stage.as_str()
                && l.effective_on == change.effective_on
                && l.note == note
        });
        if !recorded {
            record_plan_change(tx, county_id, change)?;
            outcome = Outcome::Updated;
        }
    }
    Ok(outcome)
}

/// Applies the items in dependency order (the county, towns, sites with stations before points, their
/// checks, staff, their postings, trainings), collecting every failure. Any failure is a 422
/// with all of them, which rolls the transaction back.
fn apply_items(
    tx: &mut Tx<'_>,
    county: &CountyRow,
    input: &UpdatesIn,
    today: NaiveDate,
    careful: bool,
) -> Result<Vec<ItemOutcomeOut>, ApiError> {
    let mut batch = Batch {
        items: Vec::with_capacity(input.item_count()),
        violations: Vec::new(),
        careful,
    };
    let county_id = county.id;
    let mut towns: HashMap<String, TownRow> = town_q::of_county(tx.conn, county_id)?
        .into_iter()
        .map(|t| (t.code.clone(), t))
        .collect();
    let mut sites: HashMap<String, SiteRow> = site_q::of_county(tx.conn, county_id)?
        .into_iter()
        .map(|s| (s.ref_.clone(), s))
        .collect();

    // The county itself.
    if let Some(item) = &input.county {
        let pointer = "/county".to_string();
        match savepoint(batch.careful, tx, |tx| {
            apply_county(tx, county_id, item, today)
        }) {
            Ok(outcome) => batch.done(pointer, &county.division_code, outcome, county_id),
            Err(e) => batch.failed(&pointer, e)?,
        }
    }

    // Towns.
    let mut seen = HashMap::new();
    for (i, item) in input.towns.iter().enumerate() {
        let pointer = format!("/towns/{i}");
        if !batch.first_time(&mut seen, item.code.trim(), &pointer) {
            continue;
        }
        let existing = towns.get(item.code.trim()).cloned();
        let result = savepoint(batch.careful, tx, |tx| {
            let (name, code) = validated_town_fields(&item.name, &item.code)?;
            let county_code: DivisionCode = town_county(tx.conn, &tx.ctx.caller, county_id)?;
            code.belongs_to(&county_code)
                .map_err(|m| ApiError::invalid("code", m))?;
            let kind = item.kind.as_str().to_string();
            match existing {
                Some(current) if current.name == name && current.kind == kind => {
                    Ok((Outcome::Unchanged, current))
                }
                Some(current) => {
                    let changes = TownChanges {
                        name: Some(name),
                        code: None,
                        kind: Some(kind),
                        version: Some(current.version + 1),
                        updated_at: Some(now()),
                    };
                    let row = town_q::update(tx.conn, current.id, current.version, &changes)?
                        .ok_or_else(|| ApiError::Conflict("the town changed meanwhile".into()))?;
                    let before = town_out(current)?;
                    let out = town_out(row.clone())?;
                    tx.audit(
                        "update",
                        "town",
                        row.id,
                        Some(county_id),
                        Some(&before),
                        Some(&out),
                    )?;
                    Ok((Outcome::Updated, row))
                }
                None => {
                    let at = now();
                    let row = town_q::insert(
                        tx.conn,
                        &NewTown {
                            county_id,
                            name,
                            code: code.as_str().to_string(),
                            kind,
                            version: 1,
                            created_at: at,
                            updated_at: at,
                        },
                    )?;
                    let out = town_out(row.clone())?;
                    tx.audit(
                        "create",
                        "town",
                        row.id,
                        Some(county_id),
                        NOTHING,
                        Some(&out),
                    )?;
                    Ok((Outcome::Created, row))
                }
            }
        });
        match result {
            Ok((outcome, row)) => {
                batch.done(pointer, &row.code, outcome, row.id);
                towns.insert(row.code.clone(), row);
            }
            Err(e) => batch.failed(&pointer, e)?,
        }
    }

    // Sites: stations first, so points of this batch find them; then each site's checks.
    let mut seen = HashMap::new();
    let first_site = batch.items.len();
    let order = input
        .sites
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == SiteKind::Station)
        .chain(
            input
                .sites
                .iter()
                .enumerate()
                .filter(|(_, s)| s.kind != SiteKind::Station),
        );
    let mut site_outcomes: Vec<(usize, Vec<ItemOutcomeOut>)> = Vec::new();
    let mut lookups = Lookups::default();
    for (i, item) in order {
        let pointer = format!("/sites/{i}");
        let before = batch.items.len();
        let key = item.ref_.trim().to_string();
        if !batch.first_time(&mut seen, &key, &pointer) {
            continue;
        }
        let mut unresolved = false;
        let town_id = match towns.get(item.town_code.trim()) {
            Some(t) => t.id,
            None => {
                batch.violation(
                    format!("{pointer}/town_code"),
                    format!(
                        "no town with code {:?} in this county, stored or in this batch",
                        item.town_code
                    ),
                );
                unresolved = true;
                0
            }
        };
        let station_id = match &item.station_ref {
            None => None,
            Some(r) => match sites.get(r.trim()) {
                Some(s) => Some(s.id),
                None => {
                    batch.violation(
                        format!("{pointer}/station_ref"),
                        format!("no site with ref {r:?} in this county, stored or in this batch"),
                    );
                    unresolved = true;
                    None
                }
            },
        };
        if unresolved {
            continue;
        }
        let existing = sites.get(&key).cloned();
        if let Some(old) = &existing {
            if old.kind != item.kind.as_str() {
                batch.violation(
                    format!("{pointer}/kind"),
                    format!("site {key:?} is a {}; a site never changes kind", old.kind),
                );
                continue;
            }
        }
        let site_in = SiteIn {
            kind: item.kind,
            town_id,
            station_id,
            village: item.village.clone(),
            name: item.name.clone(),
            address: item.address.clone(),
            latitude: item.latitude,
            longitude: item.longitude,
            ref_: item.ref_.clone(),
            planned_on: item.planned_on,
            premises_secured_on: item.premises_secured_on,
            completed_on: item.completed_on,
            suspended_on: item.suspended_on,
            closed_on: item.closed_on,
        };
        let result = savepoint(batch.careful, tx, |tx| {
            let values = validated_site_with(
                tx.conn,
                &tx.ctx.caller,
                &site_in,
                existing.as_ref(),
                today,
                &mut lookups,
            )?;
            match existing {
                Some(current) if same_site(&values, &current) => Ok((Outcome::Unchanged, current)),
                Some(current) => {
                    let row = site_q::update(tx.conn, current.id, current.version, &values)?
                        .ok_or_else(|| ApiError::Conflict("the site changed meanwhile".into()))?;
                    let before = site_out(tx.conn, current, today)?;
                    let out = site_out(tx.conn, row.clone(), today)?;
                    tx.audit(
                        "update",
                        "station",
                        row.id,
                        Some(county_id),
                        Some(&before),
                        Some(&out),
                    )?;
                    Ok((Outcome::Updated, row))
                }
                None => {
                    let row = site_q::insert(tx.conn, &values, values.updated_at)?;
                    // A new site has no equipment checks yet: no need to look them up.
                    let out = site_out_with(row.clone(), None, today)?;
                    tx.audit(
                        "create",
                        "station",
                        row.id,
                        Some(county_id),
                        NOTHING,
                        Some(&out),
                    )?;
                    Ok((Outcome::Created, row))
                }
            }
        });
        let row = match result {
            Ok((outcome, row)) => {
                batch.done(pointer.clone(), &row.ref_, outcome, row.id);
                sites.insert(row.ref_.clone(), row.clone());
                row
            }
            Err(e) => {
                batch.failed(&pointer, e)?;
                continue;
            }
        };
        // Its equipment checks, keyed by date.
        let stored = if item.equipment_checks.is_empty() {
            Vec::new()
        } else {
            site_q::checks(tx.conn, row.id)?
        };
        let mut dates = HashSet::new();
        for (j, check) in item.equipment_checks.iter().enumerate() {
            let pointer = format!("{pointer}/equipment_checks/{j}");
            let key = check.checked_on.to_string();
            if !dates.insert(check.checked_on) {
                batch.violation(
                    pointer,
                    format!("the date {key} appears more than once for this site"),
                );
                continue;
            }
            if let Some(old) = stored.iter().find(|c| c.checked_on == check.checked_on) {
                let wanted: Vec<EquipmentItem> = normalise_items(&check.items);
                match items_from_text(&old.items) {
                    Ok(had) if had == wanted => batch.done(pointer, &key, Outcome::Unchanged, old.id),
                    _ => batch.violation(
                        format!("{pointer}/items"),
                        format!("the check of {key} is recorded with other items; checks are history and never change"),
                    ),
                }
                continue;
            }
            let site = row.clone();
            let result = savepoint(batch.careful, tx, |tx| {
                let out = check_out(record_check(tx.conn, &site, check, today)?)?;
                tx.audit(
                    "create",
                    "equipment_check",
                    out.id,
                    Some(county_id),
                    NOTHING,
                    Some(&out),
                )?;
                Ok(out.id)
            });
            match result {
                Ok(id) => batch.done(pointer, &key, Outcome::Created, id),
                Err(e) => batch.failed(&pointer, e)?,
            }
        }
        site_outcomes.push((i, batch.items.drain(before..).collect()));
    }
    // Sites in the batch's order, each followed by its checks.
    site_outcomes.sort_by_key(|(i, _)| *i);
    debug_assert_eq!(batch.items.len(), first_site);
    batch
        .items
        .extend(site_outcomes.into_iter().flat_map(|(_, items)| items));

    // Staff and their postings.
    let mut people: HashMap<String, StaffRow> = if input.staff.is_empty() {
        HashMap::new()
    } else {
        staff_q::of_county(tx.conn, county_id)?
            .into_iter()
            .map(|s| (s.ref_.clone(), s))
            .collect()
    };
    let mut seen = HashMap::new();
    for (i, item) in input.staff.iter().enumerate() {
        let pointer = format!("/staff/{i}");
        let key = item.ref_.trim().to_string();
        if !batch.first_time(&mut seen, &key, &pointer) {
            continue;
        }
        let existing = people.get(&key).cloned();
        let staff_in = StaffIn {
            county_id,
            name: item.name.clone(),
            gender: item.gender,
            phone: item.phone.clone(),
            id_number: item.id_number.clone(),
            education: item.education.clone(),
            certification: item.certification,
            hired_via: item.hired_via,
            ref_: item.ref_.clone(),
        };
        let result = savepoint(batch.careful, tx, |tx| {
            let values = validated_staff(tx.conn, &tx.ctx.caller, &staff_in, existing.as_ref())?;
            match existing {
                Some(current) if same_staff(&values, &current) => Ok((Outcome::Unchanged, current)),
                Some(current) => {
                    let row = staff_q::update(tx.conn, current.id, current.version, &values)?
                        .ok_or_else(|| ApiError::Conflict("the person changed meanwhile".into()))?;
                    let before = staff_out(current, &tx.ctx.caller)?;
                    let out = staff_out(row.clone(), &tx.ctx.caller)?;
                    tx.audit(
                        "update",
                        "staff",
                        row.id,
                        Some(county_id),
                        Some(&before),
                        Some(&out),
                    )?;
                    Ok((Outcome::Updated, row))
                }
                None => {
                    let row = staff_q::insert(tx.conn, &values, values.updated_at)?;
                    let out = staff_out(row.clone(), &tx.ctx.caller)?;
                    tx.audit(
                        "create",
                        "staff",
                        row.id,
                        Some(county_id),
                        NOTHING,
                        Some(&out),
                    )?;
                    Ok((Outcome::Created, row))
                }
            }
        });
        let person = match result {
            Ok((outcome, row)) => {
                batch.done(pointer.clone(), &row.ref_, outcome, row.id);
                people.insert(row.ref_.clone(), row.clone());
                row
            }
            Err(e) => {
                batch.failed(&pointer, e)?;
                continue;
            }
        };
        for (j, posting) in item.postings.iter().enumerate() {
            let pointer = format!("{pointer}/postings/{j}");
            let key = format!("{}@{}", posting.station_ref.trim(), posting.from_on);
            let Some(site) = sites.get(posting.station_ref.trim()) else {
                batch.violation(
                    format!("{pointer}/station_ref"),
                    format!(
                        "no site with ref {:?} in this county, stored or in this batch",
                        posting.station_ref
                    ),
                );
                continue;
            };
            let stored = staff_q::postings_of(tx.conn, person.id)?;
            if let Some(old) = stored
                .iter()
                .find(|p| p.station_id == site.id && p.from_on == posting.from_on)
            {
                if old.role == posting.role.as_str() && old.to_on == posting.to_on {
                    batch.done(pointer, &key, Outcome::Unchanged, old.id);
                } else {
                    batch.violation(
                        pointer,
                        format!(
                            "posting {} from {} is recorded with another role or end; end it with PATCH /api/v1/staff/{}/postings/{}",
                            old.id, old.from_on, person.id, old.id
                        ),
                    );
                }
                continue;
            }
            let posting_in = PostingIn {
                station_id: site.id,
                role: posting.role,
                from_on: posting.from_on,
                to_on: posting.to_on,
            };
            let result = savepoint(batch.careful, tx, |tx| {
                let out = posting_out(add_posting(tx.conn, &person, &posting_in, today)?)?;
                tx.audit(
                    "create",
                    "posting",
                    out.id,
                    Some(county_id),
                    NOTHING,
                    Some(&out),
                )?;
                Ok(out.id)
            });
            match result {
                Ok(id) => batch.done(pointer, &key, Outcome::Created, id),
                Err(e) => batch.failed(&pointer, e)?,
            }
        }
    }

    // Trainings.
    let mut sessions: HashMap<String, TrainingRow> = if input.trainings.is_empty() {
        HashMap::new()
    } else {
        training_q::of_county(tx.conn, county_id)?
            .into_iter()
            .map(|t| (t.reference.clone(), t))
            .collect()
    };
    let mut seen = HashMap::new();
    for (i, item) in input.trainings.iter().enumerate() {
        let pointer = format!("/trainings/{i}");
        let key = item.ref_.trim().to_string();
        if !batch.first_time(&mut seen, &key, &pointer) {
            continue;
        }
        let existing = sessions.get(&key).cloned();
        let result = savepoint(batch.careful, tx, |tx| {
            let (title, reference) = validated_training_fields(
                &item.title,
                item.held_on,
                item.attendees,
                Some(&item.ref_),
                today,
            )?;
            training_county(tx.conn, &tx.ctx.caller, county_id)?;
            let kind = item.kind.as_str().to_string();
            match existing {
                Some(current)
                    if current.kind == kind
                        && current.title == title
                        && current.held_on == item.held_on
                        && current.attendees == item.attendees =>
                {
                    Ok((Outcome::Unchanged, current))
                }
                Some(current) => {
                    let changes = TrainingChanges {
                        kind: Some(kind),
                        title: Some(title),
                        held_on: Some(item.held_on),
                        attendees: Some(item.attendees),
                        reference: None,
                        version: Some(current.version + 1),
                        updated_at: Some(now()),
                    };
                    let row = training_q::update(tx.conn, current.id, current.version, &changes)?
                        .ok_or_else(|| {
                        ApiError::Conflict("the session changed meanwhile".into())
                    })?;
                    let before = training_out(current)?;
                    let out = training_out(row.clone())?;
                    tx.audit(
                        "update",
                        "training",
                        row.id,
                        Some(county_id),
                        Some(&before),
                        Some(&out),
                    )?;
                    Ok((Outcome::Updated, row))
                }
                None => {
                    let at = now();
                    let row = training_q::insert(
                        tx.conn,
                        &NewTraining {
                            county_id,
                            kind,
                            title,
                            held_on: item.held_on,
                            attendees: item.attendees,
                            reference,
                            version: 1,
                            created_at: at,
                            updated_at: at,
                        },
                    )?;
                    let out = training_out(row.clone())?;
                    tx.audit(
                        "create",
                        "training",
                        row.id,
                        Some(county_id),
                        NOTHING,
                        Some(&out),
                    )?;
                    Ok((Outcome::Created, row))
                }
            }
        });
        match result {
            Ok((outcome, row)) => {
                batch.done(pointer, &row.reference, outcome, row.id);
                sessions.insert(row.reference.clone(), row);
            }
            Err(e) => batch.failed(&pointer, e)?,
        }
    }

    // Funding requests and their stage changes.
    let mut requests: HashMap<String, FundingRequestRow> = if input.funding_requests.is_empty() {
        HashMap::new()
    } else {
        funding_q::of_county(tx.conn, county_id)?
            .into_iter()
            .map(|r| (r.reference.clone(), r))
            .collect()
    };
    let mut seen = HashMap::new();
    for (i, item) in input.funding_requests.iter().enumerate() {
        let pointer = format!("/funding_requests/{i}");
        let key = item.ref_.trim().to_string();
        if !batch.first_time(&mut seen, &key, &pointer) {
            continue;
        }
        let existing = requests.get(&key).cloned();
        let request_in = FundingRequestIn {
            county_id,
            fiscal_year: item.fiscal_year,
            title: item.title.clone(),
            purpose: item.purpose.clone(),
            requested_fen: item.requested_fen,
            reference: Some(item.ref_.clone()),
            effective_on: item.effective_on,
            note: item.note.clone(),
        };
        // A submit of this item sets the amount requested: the item's estimate is then not compared.
        let fen_by_transitions = item.transitions.iter().any(|t| t.requested_fen.is_some());
        let result = savepoint(batch.careful, tx, |tx| {
            let valid = validated_request(&request_in, today)?;
            match existing {
                None => Ok((Outcome::Created, create_request(tx, county_id, valid)?)),
                Some(current) => {
                    let patch = ValidPatch {
                        fiscal_year: (valid.fiscal_year != current.fiscal_year)
                            .then_some(valid.fiscal_year),
                        title: (valid.title != current.title).then(|| valid.title.clone()),
                        purpose: (valid.purpose != current.purpose).then(|| valid.purpose.clone()),
                        requested_fen: (!fen_by_transitions
                            && valid.requested_fen.is_some()
                            && valid.requested_fen != current.requested_fen)
                            .then_some(valid.requested_fen),
                    };
                    if patch.fiscal_year.is_none()
                        && patch.title.is_none()
                        && patch.purpose.is_none()
                        && patch.requested_fen.is_none()
                    {
                        return Ok((Outcome::Unchanged, current));
                    }
                    let version = current.version;
                    Ok((
                        Outcome::Updated,
                        update_request(tx, current, version, patch)?,
                    ))
                }
            }
        });
        let mut request = match result {
            Ok((outcome, row)) => {
                batch.done(pointer.clone(), &row.reference, outcome, row.id);
                row
            }
            Err(e) => {
                batch.failed(&pointer, e)?;
                continue;
            }
        };
        let history = if item.transitions.is_empty() {
            Vec::new()
        } else {
            funding_q::history(tx.conn, request.id)?
        };
        let mut keys = HashSet::new();
        for (j, t) in item.transitions.iter().enumerate() {
            let pointer = format!("{pointer}/transitions/{j}");
            let key = format!("{}@{}", t.action.as_str(), t.effective_on);
            if !keys.insert(key.clone()) {
                batch.violation(
                    pointer,
                    format!("the transition {key} appears more than once for this request"),
                );
                break;
            }
            if let Some(old) = history
                .iter()
                .find(|h| h.action == t.action.as_str() && h.effective_on == t.effective_on)
            {
                batch.done(pointer, &key, Outcome::Unchanged, old.id);
                continue;
            }
            let transition_in = FundingTransitionIn {
                action: t.action,
                effective_on: Some(t.effective_on),
                note: t.note.clone(),
                approved_fen: t.approved_fen,
                requested_fen: t.requested_fen,
            };
            let current = request.clone();
            let result = savepoint(batch.careful, tx, |tx| {
                let valid = validated_transition(&transition_in, today)?;
                // Refused actions (the stage's, or an administrator's) are about `action`.
                record_transition(tx, current, &valid, None).map_err(|e| match e {
                    ApiError::Forbidden(m) | ApiError::Conflict(m) => {
                        ApiError::invalid("action", m)
                    }
                    other => other,
                })
            });
            match result {
                Ok((transition, row)) => {
                    batch.done(pointer, &key, Outcome::Created, transition.id);
                    request = row;
                }
                Err(e) => {
                    // Later changes of this request would only repeat the failure.
                    batch.failed(&pointer, e)?;
                    break;
                }
            }
        }
        requests.insert(request.reference.clone(), request);
    }

    if batch.violations.is_empty() {
        Ok(batch.items)
    } else {
        Err(ApiError::Validation(batch.violations))
    }
}

/// Applies `input` to `county` (whose rights the caller has been checked for) and answers with
/// `respond(outcomes)`; with `dry_run`, validates everything and rolls it back. On PostgreSQL
/// the batch first runs without savepoints; if an item fails, that attempt is abandoned and the
/// batch runs again with one savepoint per item, so every failure is reported.
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
    let attempt = |careful: bool| {
        let (county, input, ctx) = (county.clone(), input.clone(), ctx.clone());
        let run = move |tx: &mut Tx<'_>| apply_items(tx, &county, &input, today, careful);
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
    match attempt(false).await {
        Err(ApiError::Abandoned(_)) => attempt(true).await,
        other => other,
    }
}

/// The batch's answer: every item's outcome, and the counts.
fn answer(mut items: Vec<ItemOutcomeOut>, dry_run: bool) -> UpdatesOut {
    if dry_run {
        for item in &mut items {
            if item.outcome == Outcome::Created {
                item.id = None;
            }
        }
    }
    let mut counts = OutcomeCountsOut::default();
    for item in &items {
        match item.outcome {
            Outcome::Created => counts.created += 1,
            Outcome::Updated => counts.updated += 1,
            Outcome::Unchanged => counts.unchanged += 1,
        }
    }
    UpdatesOut {
        dry_run,
        applied: !dry_run,
        items,
        counts,
    }
}
