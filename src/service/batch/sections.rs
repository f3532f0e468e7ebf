//! The batch's sections: how each keys, checks (with its own route's service functions),
//! compares, inserts and updates its records.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde_json::Value;

use super::{json, nested, upsert, Batch, Keyed, Section, UpdatesIn};
use super::{FundingItemIn, SiteItemIn, StaffItemIn, TownItemIn, TrainingItemIn};
use crate::clock::now;
use crate::db::funding::{self as funding_q, FundingRequestRow as RequestRow};
use crate::db::sites::{self as site_q, SiteRow, SiteValues};
use crate::db::staff::{self as staff_q, StaffRow, StaffValues};
use crate::db::towns::{self as town_q, NewTown, TownChanges, TownRow};
use crate::db::trainings::{self as training_q, NewTraining, TrainingChanges, TrainingRow};
use crate::domain::audit::AuditEntity;
use crate::domain::site::SiteKind;
use crate::domain::Violations;
use crate::error::ApiError;
use crate::service::funding::ValidRequest;
use crate::service::funding::{change_request, insert_request, request_out, validated_request};
use crate::service::sites::{site_out, site_out_with, validated_site_with, Lookups};
use crate::service::staff::{staff_out, validated_staff};
use crate::service::towns::{new_town, town_out};
use crate::service::trainings::{new_training, training_out};
use crate::write::Tx;

/// Applies the batch in dependency order: the county, towns, stations then points (then their
/// checks), staff (then their postings), trainings, funding requests (then their stage changes).
pub(super) fn apply_all(
    b: &mut Batch<'_>,
    tx: &mut Tx<'_>,
    input: &UpdatesIn,
) -> Result<(), ApiError> {
    let (county_id, today) = (b.county.id, b.today);
    if let Some(item) = &input.county {
        nested::county(b, tx, item)?;
    }
    // Only the stored records the batch names are read: by its keys and references.
    let codes = input.towns.iter().map(|t| t.code.trim());
    let codes: Vec<&str> = codes
        .chain(input.sites.iter().map(|s| s.town_code.trim()))
        .collect();
    let codes = sorted(codes);
    let rows = town_q::of_county_by_codes(tx.conn, county_id, &codes)?;
    let mut towns = Keyed::new(rows, |t| t.code.clone());
    upsert(
        b,
        tx,
        &mut Towns(county_id),
        1,
        &input.towns,
        |_| true,
        &mut towns,
    )?;

    let refs = input
        .sites
        .iter()
        .flat_map(|s| [Some(&s.ref_), s.station_ref.as_ref()]);
    let postings = input
        .staff
        .iter()
        .flat_map(|p| p.postings.iter().map(|p| &p.station_ref));
    let refs: Vec<&str> = refs.flatten().chain(postings).map(|r| r.trim()).collect();
    let refs = sorted(refs);
    let rows = site_q::of_county_by_refs(tx.conn, county_id, &refs)?;
    let mut sites = Keyed::new(rows, |s| s.ref_.clone());
    let ids = |rows: &HashMap<String, _>| {
        rows.iter()
            .map(|(k, r): (&String, &SiteRow)| (k.clone(), r.id))
            .collect()
    };
    let towns = towns.rows.iter().map(|(k, t)| (k.clone(), t.id)).collect();
    let mut section = Sites {
        towns,
        refs: ids(&sites.rows),
        lookups: Lookups::default(),
        today,
        new_stations: HashMap::new(),
    };
    let is_station = |s: &SiteItemIn| s.kind == SiteKind::Station;
    let mut applied = upsert(b, tx, &mut section, 2, &input.sites, is_station, &mut sites)?;
    section.refs = ids(&sites.rows); // points find the stations just stored
    applied.extend(upsert(
        b,
        tx,
        &mut section,
        2,
        &input.sites,
        |s| !is_station(s),
        &mut sites,
    )?);
    nested::checks(b, tx, &input.sites, applied)?;

    if !input.staff.is_empty() {
        let mut people = Keyed::new(staff_q::of_county(tx.conn, county_id)?, |s| s.ref_.clone());
        let applied = upsert(
            b,
            tx,
            &mut Staff(county_id),
            3,
            &input.staff,
            |_| true,
            &mut people,
        )?;
        nested::postings(b, tx, &input.staff, applied, &sites.rows)?;
    }
    if !input.trainings.is_empty() {
        let rows = training_q::of_county(tx.conn, county_id)?;
        let mut sessions = Keyed::new(rows, |t| t.reference.clone());
        let mut section = Trainings(county_id, today);
        upsert(
            b,
            tx,
            &mut section,
            4,
            &input.trainings,
            |_| true,
            &mut sessions,
        )?;
    }
    if !input.funding_requests.is_empty() {
        let rows = funding_q::of_county(tx.conn, county_id)?;
        let mut requests = Keyed::new(rows, |r| r.reference.clone());
        let items = &input.funding_requests;
        let applied = upsert(
            b,
            tx,
            &mut Funding(county_id, today),
            5,
            items,
            |_| true,
            &mut requests,
        )?;
        nested::transitions(b, tx, items, applied)?;
    }
    Ok(())
}

fn sorted(mut keys: Vec<&str>) -> Vec<&str> {
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn changed_meanwhile(what: &str) -> ApiError {
    ApiError::Conflict(format!("the {what} changed meanwhile"))
}

/// Towns of the batch's county.
struct Towns(i32);

impl Section for Towns {
    type Item = TownItemIn;
    type Row = TownRow;
    type Values = NewTown;
    const NAME: &'static str = "towns";
    const ENTITY: AuditEntity = AuditEntity::Town;

    fn key(item: &TownItemIn) -> &str {
        item.code.trim()
    }
    fn row(row: &TownRow) -> (&str, i32) {
        (&row.code, row.id)
    }
    fn validate(
        &mut self,
        tx: &mut Tx<'_>,
        item: &TownItemIn,
        _: Option<&TownRow>,
    ) -> Result<NewTown, ApiError> {
        new_town(tx.conn, &tx.ctx.caller, &item.as_town_in(self.0))
    }
    fn unchanged(new: &NewTown, row: &TownRow) -> bool {
        new.name == row.name && new.kind == row.kind
    }
    fn insert(&mut self, tx: &mut Tx<'_>, new: &[NewTown]) -> Result<Vec<TownRow>, ApiError> {
        Ok(town_q::insert_all(tx.conn, new)?)
    }
    fn update(
        &mut self,
        tx: &mut Tx<'_>,
        row: &TownRow,
        new: NewTown,
    ) -> Result<TownRow, ApiError> {
        let (version, updated_at) = (Some(row.version + 1), Some(now()));
        let changes = TownChanges {
            name: Some(new.name),
            code: None,
            kind: Some(new.kind),
            version,
            updated_at,
        };
        town_q::update(tx.conn, row.id, row.version, &changes)?
            .ok_or_else(|| changed_meanwhile("town"))
    }
    fn view(&mut self, _: &mut Tx<'_>, row: &TownRow, _: bool) -> Result<Value, ApiError> {
        json(&town_out(row.clone()))
    }
}

/// Stations and points: a site names its town by `town_code` and a point its station by
/// `station_ref`, each stored or earlier in this batch.
struct Sites {
    towns: HashMap<String, i32>,
    refs: HashMap<String, i32>,
    lookups: Lookups,
    today: NaiveDate,
    /// Towns given a new open station by this batch (their new stations are inserted together,
    /// after every station is checked), with that station's ref.
    new_stations: HashMap<i32, String>,
}

impl Section for Sites {
    type Item = SiteItemIn;
    type Row = SiteRow;
    type Values = SiteValues;
    const NAME: &'static str = "sites";
    // Points are audited as `station` too, as their own route does.
    const ENTITY: AuditEntity = AuditEntity::Station;

    fn key(item: &SiteItemIn) -> &str {
        item.ref_.trim()
    }
    fn row(row: &SiteRow) -> (&str, i32) {
        (&row.ref_, row.id)
    }
    fn validate(
        &mut self,
        tx: &mut Tx<'_>,
        item: &SiteItemIn,
        stored: Option<&SiteRow>,
    ) -> Result<SiteValues, ApiError> {
        let mut v = Violations::new();
        let (town, code) = (self.towns.get(item.town_code.trim()), &item.town_code);
        if town.is_none() {
            v.add(
                "town_code",
                format!("no town with code {code:?} in this county, stored or in this batch"),
            );
        }
        let station = item
            .station_ref
            .as_ref()
            .map(|r| (r, self.refs.get(r.trim())));
        if let Some((r, None)) = station {
            v.add(
                "station_ref",
                format!("no site with ref {r:?} in this county, stored or in this batch"),
            );
        }
        v.into_result()?;
        if let Some(old) = stored.filter(|old| old.kind != item.kind) {
            let message = format!(
                "site {:?} is a {}; a site never changes kind",
                item.ref_.trim(),
                old.kind
            );
            return Err(ApiError::invalid("kind", message));
        }
        let input = item.as_site_in(
            town.copied().unwrap_or_default(),
            station.and_then(|s| s.1.copied()),
        );
        let values = validated_site_with(
            tx.conn,
            &tx.ctx.caller,
            &input,
            stored,
            self.today,
            &mut self.lookups,
        )?;
        if stored.is_none() && values.kind == SiteKind::Station && values.closed_on.is_none() {
            if let Some(other) = self.new_stations.get(&values.town_id) {
                let message = format!("the town already has station {other:?} in this batch; a town has one station that is not closed");
                return Err(ApiError::invalid("town_id", message));
            }
            self.new_stations
                .insert(values.town_id, values.ref_.clone());
        }
        Ok(values)
    }
    fn unchanged(values: &SiteValues, row: &SiteRow) -> bool {
        values.same_as(row)
    }
    fn insert(&mut self, tx: &mut Tx<'_>, new: &[SiteValues]) -> Result<Vec<SiteRow>, ApiError> {
        Ok(site_q::insert_all(tx.conn, new)?)
    }
    fn update(
        &mut self,
        tx: &mut Tx<'_>,
        row: &SiteRow,
        new: SiteValues,
    ) -> Result<SiteRow, ApiError> {
        site_q::update(tx.conn, row.id, row.version, &new)?.ok_or_else(|| changed_meanwhile("site"))
    }
    fn view(&mut self, tx: &mut Tx<'_>, row: &SiteRow, created: bool) -> Result<Value, ApiError> {
        // A new site has no equipment checks yet: no need to look them up.
        json(&match created {
            true => site_out_with(row.clone(), None, self.today),
            false => site_out(tx.conn, row.clone(), self.today)?,
        })
    }
}

/// Social workers employed by the batch's county.
struct Staff(i32);

impl Section for Staff {
    type Item = StaffItemIn;
    type Row = StaffRow;
    type Values = StaffValues;
    const NAME: &'static str = "staff";
    const ENTITY: AuditEntity = AuditEntity::Staff;

    fn key(item: &StaffItemIn) -> &str {
        item.ref_.trim()
    }
    fn row(row: &StaffRow) -> (&str, i32) {
        (&row.ref_, row.id)
    }
    fn validate(
        &mut self,
        tx: &mut Tx<'_>,
        item: &StaffItemIn,
        stored: Option<&StaffRow>,
    ) -> Result<StaffValues, ApiError> {
        validated_staff(tx.conn, &tx.ctx.caller, &item.as_staff_in(self.0), stored)
    }
    fn unchanged(values: &StaffValues, row: &StaffRow) -> bool {
        values.same_as(row)
    }
    fn insert(&mut self, tx: &mut Tx<'_>, new: &[StaffValues]) -> Result<Vec<StaffRow>, ApiError> {
        Ok(staff_q::insert_all(tx.conn, new)?)
    }
    fn update(
        &mut self,
        tx: &mut Tx<'_>,
        row: &StaffRow,
        new: StaffValues,
    ) -> Result<StaffRow, ApiError> {
        staff_q::update(tx.conn, row.id, row.version, &new)?
            .ok_or_else(|| changed_meanwhile("person"))
    }
    fn view(&mut self, _: &mut Tx<'_>, row: &StaffRow, _: bool) -> Result<Value, ApiError> {
        json(&staff_out(row.clone(), true))
    }
}

/// Training sessions held by the batch's county.
struct Trainings(i32, NaiveDate);

impl Section for Trainings {
    type Item = TrainingItemIn;
    type Row = TrainingRow;
    type Values = NewTraining;
    const NAME: &'static str = "trainings";
    const ENTITY: AuditEntity = AuditEntity::Training;

    fn key(item: &TrainingItemIn) -> &str {
        item.ref_.trim()
    }
    fn row(row: &TrainingRow) -> (&str, i32) {
        (&row.reference, row.id)
    }
    fn validate(
        &mut self,
        tx: &mut Tx<'_>,
        item: &TrainingItemIn,
        _: Option<&TrainingRow>,
    ) -> Result<NewTraining, ApiError> {
        new_training(
            tx.conn,
            &tx.ctx.caller,
            &item.as_training_in(self.0),
            self.1,
        )
    }
    fn unchanged(new: &NewTraining, row: &TrainingRow) -> bool {
        (&new.kind, &new.title, new.held_on, new.attendees)
            == (&row.kind, &row.title, row.held_on, row.attendees)
    }
    fn insert(
        &mut self,
        tx: &mut Tx<'_>,
        new: &[NewTraining],
    ) -> Result<Vec<TrainingRow>, ApiError> {
        Ok(training_q::insert_all(tx.conn, new)?)
    }
    fn update(
        &mut self,
        tx: &mut Tx<'_>,
        row: &TrainingRow,
        new: NewTraining,
    ) -> Result<TrainingRow, ApiError> {
        let changes = TrainingChanges {
            kind: Some(new.kind),
            title: Some(new.title),
            held_on: Some(new.held_on),
            attendees: Some(new.attendees),
            reference: None,
            version: Some(row.version + 1),
            updated_at: Some(now()),
        };
        training_q::update(tx.conn, row.id, row.version, &changes)?
            .ok_or_else(|| changed_meanwhile("session"))
    }
    fn view(&mut self, _: &mut Tx<'_>, row: &TrainingRow, _: bool) -> Result<Value, ApiError> {
        json(&training_out(row.clone()))
    }
}

/// Funding requests of the batch's county. A stored one is changed as by `PATCH`; when a listed
/// stage change carries `requested_fen`, the item's estimate is not compared.
struct Funding(i32, NaiveDate);

impl Section for Funding {
    type Item = FundingItemIn;
    type Row = RequestRow;
    type Values = (ValidRequest, bool);
    const NAME: &'static str = "funding_requests";
    const ENTITY: AuditEntity = AuditEntity::FundingRequest;

    fn key(item: &FundingItemIn) -> &str {
        item.ref_.trim()
    }
    fn row(row: &RequestRow) -> (&str, i32) {
        (&row.reference, row.id)
    }
    fn validate(
        &mut self,
        _: &mut Tx<'_>,
        item: &FundingItemIn,
        _: Option<&RequestRow>,
    ) -> Result<(ValidRequest, bool), ApiError> {
        let valid = validated_request(&item.as_request_in(self.0), self.1)?;
        Ok((
            valid,
            item.transitions.iter().any(|t| t.requested_fen.is_some()),
        ))
    }
    fn unchanged((valid, fen_later): &(ValidRequest, bool), row: &RequestRow) -> bool {
        valid.patch_for(row, *fen_later).is_empty()
    }
    fn insert(
        &mut self,
        tx: &mut Tx<'_>,
        new: &[(ValidRequest, bool)],
    ) -> Result<Vec<RequestRow>, ApiError> {
        // Each with its first stage change, one at a time (a county makes a few a year).
        new.iter()
            .map(|(valid, _)| insert_request(tx, self.0, valid.clone()))
            .collect()
    }
    fn update(
        &mut self,
        tx: &mut Tx<'_>,
        row: &RequestRow,
        (valid, fen_later): (ValidRequest, bool),
    ) -> Result<RequestRow, ApiError> {
        change_request(tx, row, row.version, valid.patch_for(row, fen_later))
    }
    fn view(&mut self, _: &mut Tx<'_>, row: &RequestRow, _: bool) -> Result<Value, ApiError> {
        json(&request_out(row.clone()))
    }
}
