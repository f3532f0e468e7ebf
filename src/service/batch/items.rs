//! The batch's request and answer: one county's items, keyed by the county's own keys, and every
//! item's outcome.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::funding::FundingAction;
use crate::domain::site::SiteKind;
use crate::domain::staff::{Certification, Gender, HiredVia, PostingRole};
use crate::domain::town::TownKind;
use crate::domain::training::TrainingKind;
use crate::service::counties::PlanChangeIn;
use crate::service::funding::{FundingRequestIn, FundingTransitionIn};
use crate::service::sites::{CheckIn, SiteIn};
use crate::service::staff::{PostingIn, StaffIn};
use crate::service::towns::TownIn;
use crate::service::trainings::TrainingIn;

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

/// The batch's answer: every item's outcome, and the counts.
pub(super) fn answer(mut items: Vec<ItemOutcomeOut>, dry_run: bool) -> UpdatesOut {
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

// Each item as its own route takes it, given what the batch resolved.

impl TownItemIn {
    pub(super) fn as_town_in(&self, county_id: i32) -> TownIn {
        TownIn {
            county_id,
            name: self.name.clone(),
            code: self.code.clone(),
            kind: self.kind,
        }
    }
}

impl SiteItemIn {
    pub(super) fn as_site_in(&self, town_id: i32, station_id: Option<i32>) -> SiteIn {
        SiteIn {
            kind: self.kind,
            town_id,
            station_id,
            village: self.village.clone(),
            name: self.name.clone(),
            address: self.address.clone(),
            latitude: self.latitude,
            longitude: self.longitude,
            ref_: self.ref_.clone(),
            planned_on: self.planned_on,
            premises_secured_on: self.premises_secured_on,
            completed_on: self.completed_on,
            suspended_on: self.suspended_on,
            closed_on: self.closed_on,
        }
    }
}

impl StaffItemIn {
    pub(super) fn as_staff_in(&self, county_id: i32) -> StaffIn {
        StaffIn {
            county_id,
            name: self.name.clone(),
            gender: self.gender,
            phone: self.phone.clone(),
            id_number: self.id_number.clone(),
            education: self.education.clone(),
            certification: self.certification,
            hired_via: self.hired_via,
            ref_: self.ref_.clone(),
        }
    }
}

impl PostingItemIn {
    pub(super) fn as_posting_in(&self, station_id: i32) -> PostingIn {
        PostingIn {
            station_id,
            role: self.role,
            from_on: self.from_on,
            to_on: self.to_on,
        }
    }
}

impl TrainingItemIn {
    pub(super) fn as_training_in(&self, county_id: i32) -> TrainingIn {
        TrainingIn {
            county_id,
            kind: self.kind,
            title: self.title.clone(),
            held_on: self.held_on,
            attendees: self.attendees,
            reference: Some(self.ref_.clone()),
        }
    }
}

impl FundingItemIn {
    pub(super) fn as_request_in(&self, county_id: i32) -> FundingRequestIn {
        FundingRequestIn {
            county_id,
            fiscal_year: self.fiscal_year,
            title: self.title.clone(),
            purpose: self.purpose.clone(),
            requested_fen: self.requested_fen,
            reference: Some(self.ref_.clone()),
            effective_on: self.effective_on,
            note: self.note.clone(),
        }
    }
}

impl FundingTransitionItemIn {
    pub(super) fn as_transition_in(&self) -> FundingTransitionIn {
        FundingTransitionIn {
            action: self.action,
            effective_on: Some(self.effective_on),
            note: self.note.clone(),
            approved_fen: self.approved_fen,
            requested_fen: self.requested_fen,
        }
    }
}
