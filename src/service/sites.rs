//! Sites: stations (社工站) and points (社工点), told apart by `kind`, with their dated
//! equipment checks; the rules a site must keep and the view of it on a date.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::now;
use crate::db::sites::{self as q, NewCheck, SiteFilter, SiteRow, SiteSort, SiteValues};
use crate::db::{counties as county_q, towns as town_q, DbConnection};
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::site::{
    check_coordinates, equipment_level, EquipmentItem, EquipmentItems, EquipmentLevel, SiteDates,
    SiteKind, SiteStatus,
};
use crate::domain::{business_date, Name, Ref, Violations};
use crate::error::ApiError;
use crate::policy::{self, Caller, CountyScope};
use crate::service::{double_option, still_in_use, utc, Listed};
use crate::write::{Tx, NOTHING};

/// A new station or point.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteIn {
    pub kind: SiteKind,
    /// The town it serves; its county is the site's county (never the city level).
    pub town_id: i32,
    /// For a point: the station of the same town it reports to. Absent for a station.
    pub station_id: Option<i32>,
    /// For a point: its village or community (村/居). Required for points.
    pub village: Option<String>,
    pub name: String,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// The county's own key, unique within the county, so scripts can upsert without our ids.
    #[serde(rename = "ref")]
    #[schema(rename = "ref", pattern = "^[A-Za-z0-9._/-]{1,64}$")]
    pub ref_: String,
    /// When the plan took the site on.
    pub planned_on: NaiveDate,
    /// When its office premises were secured (落实办公场所).
    pub premises_secured_on: Option<NaiveDate>,
    /// When it was finished and in service; needs premises on or before.
    pub completed_on: Option<NaiveDate>,
    pub suspended_on: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
}

/// Changes to a site; absent fields stay, `null` clears. A site never changes county or kind.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SitePatch {
    pub town_id: Option<i32>,
    pub station_id: Option<i32>,
    pub village: Option<String>,
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<f64>)]
    pub latitude: Option<Option<f64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<f64>)]
    pub longitude: Option<Option<f64>>,
    #[serde(rename = "ref")]
    #[schema(rename = "ref")]
    pub ref_: Option<String>,
    pub planned_on: Option<NaiveDate>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub premises_secured_on: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub completed_on: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub suspended_on: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub closed_on: Option<Option<NaiveDate>>,
}

/// A site's equipment on a date, derived from its latest check on or before it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EquipmentOut {
    /// The date of the check it comes from; null when there is none yet.
    pub checked_on: Option<NaiveDate>,
    pub items: Vec<EquipmentItem>,
    pub missing: Vec<EquipmentItem>,
    pub level: EquipmentLevel,
    /// The Chinese label of `level` (全部配备, 基本配备, 未配备齐全, 未落实场所).
    pub label: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SiteOut {
    pub id: i32,
    pub kind: SiteKind,
    pub kind_label: &'static str,
    pub county_id: i32,
    pub town_id: i32,
    pub station_id: Option<i32>,
    pub village: Option<String>,
    pub name: String,
    pub address: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    #[serde(rename = "ref")]
    #[schema(rename = "ref")]
    pub ref_: String,
    /// As of the date asked for (today by default), derived from the dates.
    pub status: SiteStatus,
    pub status_label: &'static str,
    pub planned_on: NaiveDate,
    pub premises_secured_on: Option<NaiveDate>,
    pub completed_on: Option<NaiveDate>,
    pub suspended_on: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
    /// Derived: premises secured on or before the date asked for.
    pub premises_secured: bool,
    pub equipment: EquipmentOut,
    /// The date `status`, `premises_secured` and `equipment` are shown as of.
    pub as_of: NaiveDate,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A dated equipment check: the items present on that day.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckIn {
    pub checked_on: NaiveDate,
    pub items: Vec<EquipmentItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckOut {
    pub id: i32,
    pub site_id: i32,
    pub checked_on: NaiveDate,
    pub items: Vec<EquipmentItem>,
    pub missing: Vec<EquipmentItem>,
    /// The level this check gives a site with premises.
    pub level: EquipmentLevel,
    pub created_at: DateTime<Utc>,
}

fn dates_of(row: &SiteRow) -> SiteDates {
    SiteDates {
        planned_on: Some(row.planned_on),
        premises_secured_on: row.premises_secured_on,
        completed_on: row.completed_on,
        suspended_on: row.suspended_on,
        closed_on: row.closed_on,
    }
}

fn missing(items: &[EquipmentItem]) -> Vec<EquipmentItem> {
    EquipmentItem::ALL
        .iter()
        .copied()
        .filter(|i| !items.contains(i))
        .collect()
}

pub fn check_out(row: q::CheckRow) -> CheckOut {
    let items = row.items.as_slice().to_vec();
    CheckOut {
        id: row.id,
        site_id: row.site_id,
        checked_on: row.checked_on,
        missing: missing(&items),
        level: equipment_level(true, Some(items.len())),
        items,
        created_at: utc(row.created_at),
    }
}

/// The site as of `as_of`: status, premises and equipment from the dates and checks up to it.
pub fn site_out(
    conn: &mut DbConnection,
    row: SiteRow,
    as_of: NaiveDate,
) -> Result<SiteOut, ApiError> {
    let check = q::check_as_of(conn, row.id, as_of)?.map(|c| q::LatestCheck {
        checked_on: c.checked_on,
        items: c.items,
    });
    Ok(site_out_with(row, check.as_ref(), as_of))
}

/// The site as of `as_of`, given its latest check on or before that date.
pub fn site_out_with(row: SiteRow, check: Option<&q::LatestCheck>, as_of: NaiveDate) -> SiteOut {
    let dates = dates_of(&row);
    let status = dates.status_on(as_of);
    let premises = dates.premises_on(as_of);
    let items = match &check {
        Some(c) => c.items.as_slice().to_vec(),
        None => Vec::new(),
    };
    let level = equipment_level(premises, check.as_ref().map(|_| items.len()));
    let kind = row.kind;
    SiteOut {
        id: row.id,
        kind,
        kind_label: kind.label(),
        county_id: row.county_id,
        town_id: row.town_id,
        station_id: row.station_id,
        village: row.village,
        name: row.name,
        address: row.address,
        latitude: row.latitude,
        longitude: row.longitude,
        ref_: row.ref_,
        status,
        status_label: status.label(),
        planned_on: row.planned_on,
        premises_secured_on: row.premises_secured_on,
        completed_on: row.completed_on,
        suspended_on: row.suspended_on,
        closed_on: row.closed_on,
        premises_secured: premises,
        equipment: EquipmentOut {
            checked_on: check.as_ref().map(|c| c.checked_on),
            missing: missing(&items),
            items,
            level,
            label: level.label(),
        },
        as_of,
        version: row.version,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    }
}

/// Checks a site against every rule and the caller's rights, giving the row to store.
/// `existing` is the stored site for an update. Used by the API and by county batches.
pub fn validated_site(
    conn: &mut DbConnection,
    caller: &Caller,
    input: &SiteIn,
    existing: Option<&SiteRow>,
    today: NaiveDate,
) -> Result<SiteValues, ApiError> {
    validated_site_with(
        conn,
        caller,
        input,
        existing,
        today,
        &mut Lookups::default(),
    )
}

/// Towns and counties already read, so a batch of thousands of sites reads each once.
#[derive(Debug, Default)]
pub struct Lookups {
    towns: std::collections::HashMap<i32, crate::db::towns::TownRow>,
    counties: std::collections::HashMap<i32, crate::db::counties::CountyRow>,
    /// Stations (never points) by id: a station's kind and town never change.
    stations: std::collections::HashMap<i32, SiteRow>,
}

impl Lookups {
    fn town(
        &mut self,
        conn: &mut DbConnection,
        id: i32,
    ) -> Result<Option<crate::db::towns::TownRow>, ApiError> {
        if let Some(t) = self.towns.get(&id) {
            return Ok(Some(t.clone()));
        }
        let found = town_q::find(conn, id)?;
        if let Some(t) = &found {
            self.towns.insert(id, t.clone());
        }
        Ok(found)
    }

    fn station(&mut self, conn: &mut DbConnection, id: i32) -> Result<Option<SiteRow>, ApiError> {
        if let Some(s) = self.stations.get(&id) {
            return Ok(Some(s.clone()));
        }
        let found = q::find(conn, id)?;
        if let Some(s) = found.as_ref().filter(|s| s.kind == SiteKind::Station) {
            self.stations.insert(id, s.clone());
        }
        Ok(found)
    }

    fn county(
        &mut self,
        conn: &mut DbConnection,
        id: i32,
    ) -> Result<Option<crate::db::counties::CountyRow>, ApiError> {
        if let Some(c) = self.counties.get(&id) {
            return Ok(Some(c.clone()));
        }
        let found = county_q::find(conn, id)?;
        if let Some(c) = &found {
            self.counties.insert(id, c.clone());
        }
        Ok(found)
    }
}

/// [`validated_site`] reading towns and counties through `lookups`.
pub fn validated_site_with(
    conn: &mut DbConnection,
    caller: &Caller,
    input: &SiteIn,
    existing: Option<&SiteRow>,
    today: NaiveDate,
    lookups: &mut Lookups,
) -> Result<SiteValues, ApiError> {
    let mut v = Violations::new();
    let name = v.check("name", Name::parse(&input.name, 100));
    let reference = v.check("ref", Ref::parse(&input.ref_));
    let village = match (&input.kind, &input.village) {
        (SiteKind::Point, None) => {
            v.add("village", "is required for a point");
            None
        }
        (_, Some(raw)) => v.check("village", Name::parse(raw, 100)),
        (SiteKind::Station, None) => None,
    };
    let address = match &input.address {
        Some(raw) if !raw.trim().is_empty() => v.check("address", Name::parse(raw, 200)),
        _ => None,
    };
    check_coordinates(&mut v, input.latitude, input.longitude);
    let dates = SiteDates {
        planned_on: Some(input.planned_on),
        premises_secured_on: input.premises_secured_on,
        completed_on: input.completed_on,
        suspended_on: input.suspended_on,
        closed_on: input.closed_on,
    };
    dates.check(&mut v, today);
    match (input.kind, input.station_id) {
        (SiteKind::Station, Some(_)) => v.add("station_id", "a station reports to no station"),
        (SiteKind::Point, None) => v.add("station_id", "is required for a point"),
        _ => {}
    }
    if v.is_empty() {
        // Rights before the rules that need the database.
        let town = lookups.town(conn, input.town_id)?;
        let Some(town) = town else {
            return Err(ApiError::invalid(
                "town_id",
                format!("town {} does not exist", input.town_id),
            ));
        };
        let county = lookups
            .county(conn, town.county_id)?
            .ok_or_else(|| ApiError::internal("town without county"))?;
        caller.require_county_write(CountyScope::of(&county))?;
        if let Some(old) = existing {
            if old.county_id != county.id {
                let old_county = lookups
                    .county(conn, old.county_id)?
                    .ok_or_else(|| ApiError::internal("site without county"))?;
                caller.require_county_write(CountyScope::of(&old_county))?;
            }
            if old.county_id != town.county_id {
                v.add("town_id", "a site cannot move to another county");
            }
        }
        match input.kind {
            SiteKind::Station if input.closed_on.is_none() => {
                if let Some(other) = q::open_station_in_town(conn, town.id, existing.map(|e| e.id))?
                {
                    v.add(
                        "town_id",
                        format!("the town already has station {other}; a town has one station that is not closed"),
                    );
                }
            }
            SiteKind::Point => {
                if let Some(station_id) = input.station_id {
                    match lookups.station(conn, station_id)? {
                        Some(s) if s.kind == SiteKind::Station && s.town_id == town.id => {}
                        Some(_) => v.add("station_id", "must be a station of the point's own town"),
                        None => v.add("station_id", format!("site {station_id} does not exist")),
                    }
                }
            }
            SiteKind::Station => {}
        }
        v.into_result()?;
        let (Some(name), Some(reference)) = (name, reference) else {
            return Err(ApiError::internal("validated fields missing"));
        };
        return Ok(SiteValues {
            county_id: town.county_id,
            town_id: town.id,
            kind: input.kind,
            station_id: input.station_id,
            village: village.map(String::from),
            name: name.into(),
            address: address.map(String::from),
            latitude: input.latitude,
            longitude: input.longitude,
            ref_: reference.into(),
            status: dates.status_on(today),
            planned_on: input.planned_on,
            premises_secured_on: input.premises_secured_on,
            completed_on: input.completed_on,
            suspended_on: input.suspended_on,
            closed_on: input.closed_on,
            version: existing.map(|e| e.version + 1).unwrap_or(1),
            updated_at: now(),
        });
    }
    Err(v.into())
}

/// The stored site as a complete input, for applying a patch over it.
fn as_input(row: &SiteRow) -> SiteIn {
    SiteIn {
        kind: row.kind,
        town_id: row.town_id,
        station_id: row.station_id,
        village: row.village.clone(),
        name: row.name.clone(),
        address: row.address.clone(),
        latitude: row.latitude,
        longitude: row.longitude,
        ref_: row.ref_.clone(),
        planned_on: row.planned_on,
        premises_secured_on: row.premises_secured_on,
        completed_on: row.completed_on,
        suspended_on: row.suspended_on,
        closed_on: row.closed_on,
    }
}

fn apply(mut base: SiteIn, p: SitePatch) -> SiteIn {
    if let Some(v) = p.town_id {
        base.town_id = v;
    }
    if let Some(v) = p.station_id {
        base.station_id = Some(v);
    }
    if let Some(v) = p.village {
        base.village = Some(v);
    }
    if let Some(v) = p.name {
        base.name = v;
    }
    if let Some(v) = p.address {
        base.address = v;
    }
    if let Some(v) = p.latitude {
        base.latitude = v;
    }
    if let Some(v) = p.longitude {
        base.longitude = v;
    }
    if let Some(v) = p.ref_ {
        base.ref_ = v;
    }
    if let Some(v) = p.planned_on {
        base.planned_on = v;
    }
    if let Some(v) = p.premises_secured_on {
        base.premises_secured_on = v;
    }
    if let Some(v) = p.completed_on {
        base.completed_on = v;
    }
    if let Some(v) = p.suspended_on {
        base.suspended_on = v;
    }
    if let Some(v) = p.closed_on {
        base.closed_on = v;
    }
    base
}

/// Records a check for a site (already loaded and authorised); used by the API and batches.
pub fn record_check(
    conn: &mut DbConnection,
    site: &SiteRow,
    input: &CheckIn,
    today: NaiveDate,
) -> Result<q::CheckRow, ApiError> {
    let mut v = Violations::new();
    business_date(&mut v, "checked_on", Some(input.checked_on), today);
    if input.checked_on < site.planned_on {
        v.add(
            "checked_on",
            format!(
                "{} is before the site was planned ({})",
                input.checked_on, site.planned_on
            ),
        );
    }
    v.into_result()?;
    let items = EquipmentItems::of(&input.items);
    let at = now();
    let row = q::insert_check(
        conn,
        &NewCheck {
            site_id: site.id,
            checked_on: input.checked_on,
            item_count: items.len() as i32,
            items,
            created_at: at,
        },
    )
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict(_) => ApiError::Conflict(format!(
            "site {} already has a check dated {}",
            site.id, input.checked_on
        )),
        other => other,
    })?;
    q::refresh_latest_check(conn, site.id, today, at)?;
    Ok(row)
}

/// A page of sites, each as of `day` (`today` is the bureau's, which no check is dated after).
#[allow(clippy::too_many_arguments)]
pub fn list(
    conn: &mut DbConnection,
    filter: &SiteFilter,
    sort: &[(SiteSort, bool)],
    limit: i64,
    offset: i64,
    day: NaiveDate,
    today: NaiveDate,
) -> Result<Listed<SiteOut>, ApiError> {
    let (rows, total) = q::list(conn, filter, sort, limit, offset, day, today)?;
    let items = rows
        .into_iter()
        .map(|site| site_out_with(site.row, site.check.as_ref(), day))
        .collect();
    Ok(Listed { items, total })
}

/// Site `id` as of `day`.
pub fn get(conn: &mut DbConnection, id: i32, day: NaiveDate) -> Result<SiteOut, ApiError> {
    let row = q::find(conn, id)?.ok_or_else(|| ApiError::not_found("site", id))?;
    site_out(conn, row, day)
}

/// Creates a station or point in a town of a county the caller may write.
pub fn create(tx: &mut Tx<'_>, input: SiteIn, today: NaiveDate) -> Result<SiteOut, ApiError> {
    let values = validated_site(tx.conn, &tx.ctx.caller, &input, None, today)?;
    let row = q::insert(tx.conn, &values, values.updated_at)?;
    let county_id = row.county_id;
    let out = site_out(tx.conn, row, today)?;
    tx.audit(
        AuditAction::Create,
        AuditEntity::Station,
        out.id,
        Some(county_id),
        NOTHING,
        Some(&out),
    )?;
    Ok(out)
}

/// Changes site `id` at version `expected`: the patch over the stored site passes every rule
/// of a new one; a site never changes county or kind.
pub fn update(
    tx: &mut Tx<'_>,
    id: i32,
    expected: i32,
    patch: SitePatch,
    today: NaiveDate,
) -> Result<SiteOut, ApiError> {
    let current = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("site", id))?;
    policy::writable_county(tx.conn, &tx.ctx.caller, current.county_id)?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    let input = apply(as_input(&current), patch);
    let values = validated_site(tx.conn, &tx.ctx.caller, &input, Some(&current), today)?;
    let county_id = current.county_id;
    let before = site_out(tx.conn, current, today)?;
    let row = q::update(tx.conn, id, expected, &values)?.ok_or(ApiError::PreconditionFailed)?;
    let out = site_out(tx.conn, row, today)?;
    tx.audit(
        AuditAction::Update,
        AuditEntity::Station,
        id,
        Some(county_id),
        Some(&before),
        Some(&out),
    )?;
    Ok(out)
}

/// Deletes site `id` at version `expected`; one with checks, postings or points stays (409).
pub fn delete(tx: &mut Tx<'_>, id: i32, expected: i32, today: NaiveDate) -> Result<(), ApiError> {
    let current = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("site", id))?;
    policy::writable_county(tx.conn, &tx.ctx.caller, current.county_id)?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    let county_id = current.county_id;
    let before = site_out(tx.conn, current, today)?;
    let deleted = q::delete(tx.conn, id, expected).map_err(|e| {
        still_in_use(e, || {
            format!(
                "site {id} has equipment checks, postings or points; close it (closed_on) instead"
            )
        })
    })?;
    if !deleted {
        return Err(ApiError::PreconditionFailed);
    }
    tx.audit(
        AuditAction::Delete,
        AuditEntity::Station,
        id,
        Some(county_id),
        Some(&before),
        NOTHING,
    )
}

/// Site `id`'s equipment checks, oldest first.
pub fn checks(conn: &mut DbConnection, id: i32) -> Result<Vec<CheckOut>, ApiError> {
    q::find(conn, id)?.ok_or_else(|| ApiError::not_found("site", id))?;
    Ok(q::checks(conn, id)?.into_iter().map(check_out).collect())
}

/// Records an equipment check of site `id`, by a caller who may write its county.
pub fn create_check(
    tx: &mut Tx<'_>,
    id: i32,
    input: CheckIn,
    today: NaiveDate,
) -> Result<CheckOut, ApiError> {
    let site = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("site", id))?;
    policy::writable_county(tx.conn, &tx.ctx.caller, site.county_id)?;
    let out = check_out(record_check(tx.conn, &site, &input, today)?);
    tx.audit(
        AuditAction::Create,
        AuditEntity::EquipmentCheck,
        out.id,
        Some(site.county_id),
        NOTHING,
        Some(&out),
    )?;
    Ok(out)
}
