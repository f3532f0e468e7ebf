//! What hangs off a batch's items: a site's equipment checks, a person's postings, a funding
//! request's stage changes (each history: added, never changed), and the county item itself.

use std::collections::{HashMap, HashSet};

use super::{Applied, Batch, CountyItemIn, FundingItemIn, Outcome, SiteItemIn, StaffItemIn};
use crate::db::funding::{self as funding_q, FundingRequestRow};
use crate::db::sites::{self as site_q, SiteRow};
use crate::db::staff::{self as staff_q, StaffRow};
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::site::EquipmentItems;
use crate::error::ApiError;
use crate::service::counties::record_facts;
use crate::service::funding::{record_transition, validated_transition};
use crate::service::sites::{check_out, record_check};
use crate::service::staff::{add_posting, posting_out};
use crate::write::{Tx, NOTHING};

/// The county item: its mechanisms' dates and plan status, each only when it changes.
pub(super) fn county(
    b: &mut Batch<'_>,
    tx: &mut Tx<'_>,
    item: &CountyItemIn,
) -> Result<(), ApiError> {
    let (county_id, today) = (b.county.id, b.today);
    let (coordination, management) = (
        item.coordination_established_on,
        item.management_established_on,
    );
    let plan = item.plan_status.as_ref();
    let changed = b.item(tx, "/county", |tx| {
        record_facts(tx, county_id, coordination, management, plan, today)
    })?;
    if let Some(changed) = changed {
        let outcome = if changed {
            Outcome::Updated
        } else {
            Outcome::Unchanged
        };
        let code = b.county.division_code.clone();
        b.done((0, 0), "/county".into(), &code, outcome, county_id);
    }
    Ok(())
}

/// Each applied site's equipment checks, keyed by date: a stored one must match, a new one is
/// recorded.
pub(super) fn checks(
    batch: &mut Batch<'_>,
    tx: &mut Tx<'_>,
    items: &[SiteItemIn],
    applied: Vec<Applied<SiteRow>>,
) -> Result<(), ApiError> {
    let (county_id, today) = (batch.county.id, batch.today);
    for site in applied {
        let wanted = &items[site.index].equipment_checks;
        if wanted.is_empty() {
            continue;
        }
        let stored = site_q::checks(tx.conn, site.row.id)?;
        let mut dates = HashSet::new();
        for (j, check) in wanted.iter().enumerate() {
            let pointer = format!("{}/equipment_checks/{j}", site.pointer);
            let key = check.checked_on.to_string();
            let order = (2, site.index);
            if !dates.insert(check.checked_on) {
                let message = format!("the date {key} appears more than once for this site");
                batch.violation(pointer, message);
                continue;
            }
            if let Some(old) = stored.iter().find(|c| c.checked_on == check.checked_on) {
                match &old.items {
                    had if *had == EquipmentItems::of(&check.items) => {
                        batch.done(order, pointer, &key, Outcome::Unchanged, old.id)
                    }
                    _ => batch.violation(
                        format!("{pointer}/items"),
                        format!("the check of {key} is recorded with other items; checks are history and never change"),
                    ),
                }
                continue;
            }
            let recorded = batch.item(tx, &pointer, |tx| {
                let out = check_out(record_check(tx.conn, &site.row, check, today)?);
                let id = Some(county_id);
                tx.audit(
                    AuditAction::Create,
                    AuditEntity::EquipmentCheck,
                    out.id,
                    id,
                    NOTHING,
                    Some(&out),
                )?;
                Ok(out.id)
            })?;
            if let Some(id) = recorded {
                batch.done(order, pointer, &key, Outcome::Created, id);
            }
        }
    }
    Ok(())
}

/// Each applied person's postings, naming their site by `ref`: a stored one must match, a new
/// one is added (ending an open one on a transfer).
pub(super) fn postings(
    batch: &mut Batch<'_>,
    tx: &mut Tx<'_>,
    items: &[StaffItemIn],
    applied: Vec<Applied<StaffRow>>,
    sites: &HashMap<String, SiteRow>,
) -> Result<(), ApiError> {
    let (county_id, today) = (batch.county.id, batch.today);
    for person in applied {
        for (j, posting) in items[person.index].postings.iter().enumerate() {
            let pointer = format!("{}/postings/{j}", person.pointer);
            let key = format!("{}@{}", posting.station_ref.trim(), posting.from_on);
            let order = (3, person.index);
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
            let stored = staff_q::postings_of(tx.conn, person.row.id)?;
            let same_start =
                |p: &&staff_q::PostingRow| p.station_id == site.id && p.from_on == posting.from_on;
            if let Some(old) = stored.iter().find(same_start) {
                if old.role == posting.role && old.to_on == posting.to_on {
                    batch.done(order, pointer, &key, Outcome::Unchanged, old.id);
                } else {
                    let message = format!(
                        "posting {} from {} is recorded with another role or end; end it with PATCH /api/v1/staff/{}/postings/{}",
                        old.id, old.from_on, person.row.id, old.id
                    );
                    batch.violation(pointer, message);
                }
                continue;
            }
            let input = posting.as_posting_in(site.id);
            let added = batch.item(tx, &pointer, |tx| {
                let out = posting_out(add_posting(tx.conn, &person.row, &input, today)?);
                tx.audit(
                    AuditAction::Create,
                    AuditEntity::Posting,
                    out.id,
                    Some(county_id),
                    NOTHING,
                    Some(&out),
                )?;
                Ok(out.id)
            })?;
            if let Some(id) = added {
                batch.done(order, pointer, &key, Outcome::Created, id);
            }
        }
    }
    Ok(())
}

/// Each applied request's stage changes, keyed by action and date: a recorded one is left, a
/// new one is made as by its own route. After a failing one, the request's later changes are
/// not tried (they would only repeat the failure).
pub(super) fn transitions(
    batch: &mut Batch<'_>,
    tx: &mut Tx<'_>,
    items: &[FundingItemIn],
    applied: Vec<Applied<FundingRequestRow>>,
) -> Result<(), ApiError> {
    let today = batch.today;
    for request in applied {
        let wanted = &items[request.index].transitions;
        if wanted.is_empty() {
            continue;
        }
        let history = funding_q::history(tx.conn, request.row.id)?;
        let mut current = request.row;
        let mut keys = HashSet::new();
        for (j, t) in wanted.iter().enumerate() {
            let pointer = format!("{}/transitions/{j}", request.pointer);
            let key = format!("{}@{}", t.action.as_str(), t.effective_on);
            let order = (5, request.index);
            if !keys.insert(key.clone()) {
                let message =
                    format!("the transition {key} appears more than once for this request");
                batch.violation(pointer, message);
                break;
            }
            let same = |h: &&funding_q::TransitionRow| {
                h.action == t.action && h.effective_on == t.effective_on
            };
            if let Some(old) = history.iter().find(same) {
                batch.done(order, pointer, &key, Outcome::Unchanged, old.id);
                continue;
            }
            let input = t.as_transition_in();
            let before = current.clone();
            let made = batch.item(tx, &pointer, |tx| {
                let valid = validated_transition(&input, today)?;
                // Refused actions (the stage's, or an administrator's) are about `action`.
                record_transition(tx, before, &valid, None).map_err(|e| match e {
                    ApiError::Forbidden(m) | ApiError::Conflict(m) => {
                        ApiError::invalid("action", m)
                    }
                    other => other,
                })
            })?;
            let Some((transition, row)) = made else { break };
            batch.done(order, pointer, &key, Outcome::Created, transition.id);
            current = row;
        }
    }
    Ok(())
}
