//! Counties and the city level, with their plan-status history: creating, changing and
//! deleting them, and the view the API shows and the audit trail keeps.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::now;
use crate::db::cities as city_q;
use crate::db::counties::{
    self as q, CountyFilter, CountyRow, CountySort, CountyUpdate, NewCounty, NewPlanChange,
    PlanChangeRow, PlanInForce,
};
use crate::db::DbConnection;
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::county::{parse_note, plan_cell, CountyKind, DivisionCode, PlanStage};
use crate::domain::{business_date, Name, Violations};
use crate::error::ApiError;
use crate::policy;
use crate::service::{cities, double_option, still_in_use, utc, Listed};
use crate::write::{Tx, NOTHING};

const NAME_MAX: usize = 50;

/// A new county or the city level.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountyIn {
    /// GB/T 2260 six-digit code; the city level's ends in `00`.
    #[schema(example = "445302", pattern = "^[0-9]{6}$")]
    pub division_code: String,
    #[schema(example = "云城区", min_length = 1, max_length = 50)]
    pub name: String,
    pub kind: CountyKind,
    /// The city it belongs to: by default the one its code names (its first four digits +
    /// `00`), which must exist (in a deployment with no city yet, the first county makes its
    /// province and city from its code). A given `city_id` must agree with the code.
    pub city_id: Option<i32>,
    /// The first plan status, if there is one yet.
    pub plan_status: Option<PlanChangeIn>,
    /// When the work-coordination mechanism (工作协调机制) was set up.
    pub coordination_established_on: Option<NaiveDate>,
    /// When the site-management mechanism (站点管理机制) was set up.
    pub management_established_on: Option<NaiveDate>,
}

/// Changes to a county; absent fields stay as they are, `null` clears a date.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountyPatch {
    pub division_code: Option<String>,
    pub name: Option<String>,
    pub kind: Option<CountyKind>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub coordination_established_on: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub management_established_on: Option<Option<NaiveDate>>,
}

/// A county as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountyOut {
    pub id: i32,
    pub division_code: String,
    pub name: String,
    pub kind: CountyKind,
    /// The Chinese label of `kind`.
    pub kind_label: String,
    /// The city it belongs to; `null` only for a province's own level (省本级).
    pub city_id: Option<i32>,
    pub province_id: i32,
    /// The plan status in force on the date asked for (today by default).
    pub plan_status: PlanStatusOut,
    pub coordination_established_on: Option<NaiveDate>,
    pub management_established_on: Option<NaiveDate>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The plan status on a date: `not_started` with no `effective_on` until a change is recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanStatusOut {
    pub stage: PlanStage,
    pub effective_on: Option<NaiveDate>,
    pub note: Option<String>,
    /// What the table prints: the note, or else the stage's Chinese label (e.g. 已出台).
    pub label: String,
}

/// A dated change of the plan status.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanChangeIn {
    pub stage: PlanStage,
    /// The business date the change took effect; not after today.
    pub effective_on: NaiveDate,
    /// As the county wrote it, e.g. 区政府已同意，正在会签.
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanChangeOut {
    pub id: i32,
    pub county_id: i32,
    pub stage: PlanStage,
    pub effective_on: NaiveDate,
    pub note: Option<String>,
    pub label: String,
    pub created_at: DateTime<Utc>,
}

fn plan_status_out(change: Option<&PlanInForce>) -> PlanStatusOut {
    match change {
        None => PlanStatusOut {
            stage: PlanStage::NotStarted,
            effective_on: None,
            note: None,
            label: PlanStage::NotStarted.label().to_string(),
        },
        Some(c) => {
            let stage = c.stage;
            PlanStatusOut {
                stage,
                effective_on: Some(c.effective_on),
                note: c.note.clone(),
                label: plan_cell(stage, c.note.as_deref()),
            }
        }
    }
}

fn county_out(row: CountyRow, plan: Option<&PlanInForce>) -> CountyOut {
    let kind = row.kind;
    CountyOut {
        id: row.id,
        division_code: row.division_code,
        name: row.name,
        kind,
        kind_label: kind.label().to_string(),
        city_id: row.city_id,
        province_id: row.province_id,
        plan_status: plan_status_out(plan),
        coordination_established_on: row.coordination_established_on,
        management_established_on: row.management_established_on,
        version: row.version,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    }
}

fn plan_change_out(row: PlanChangeRow) -> PlanChangeOut {
    let stage = row.stage;
    PlanChangeOut {
        label: plan_cell(stage, row.note.as_deref()),
        id: row.id,
        county_id: row.county_id,
        stage,
        effective_on: row.effective_on,
        note: row.note,
        created_at: utc(row.created_at),
    }
}

/// Loads a county with its plan status as of `as_of`.
pub fn load_out(conn: &mut DbConnection, id: i32, as_of: NaiveDate) -> Result<CountyOut, ApiError> {
    let row = q::find(conn, id)?.ok_or_else(|| ApiError::not_found("county", id))?;
    let plan = q::plan_status_as_of(conn, Some(&[id]), as_of)?;
    Ok(county_out(
        row,
        plan.first().map(PlanInForce::from).as_ref(),
    ))
}

pub fn check_plan_change(
    v: &mut Violations,
    prefix: &str,
    change: &PlanChangeIn,
    today: NaiveDate,
) {
    business_date(
        v,
        &format!("{prefix}effective_on"),
        Some(change.effective_on),
        today,
    );
    v.check(&format!("{prefix}note"), parse_note(change.note.as_deref()));
}

/// Appends a checked plan-status change to county `id`, bumps the county's version (its shown
/// status may change: its ETag must too) and audits it.
pub fn record_plan_change(
    tx: &mut Tx<'_>,
    id: i32,
    change: &PlanChangeIn,
) -> Result<PlanChangeOut, ApiError> {
    let at = now();
    let row = q::insert_plan_change(
        tx.conn,
        &NewPlanChange {
            county_id: id,
            stage: change.stage,
            effective_on: change.effective_on,
            note: parse_note(change.note.as_deref()).unwrap_or_default(),
            created_at: at,
        },
    )?;
    q::bump_version(tx.conn, id, at)?;
    let out = plan_change_out(row);
    tx.audit(
        AuditAction::Create,
        AuditEntity::PlanStatusChange,
        out.id,
        Some(id),
        NOTHING,
        Some(&out),
    )?;
    Ok(out)
}

/// A page of counties, each with its plan status as of `as_of`.
pub fn list(
    conn: &mut DbConnection,
    filter: &CountyFilter,
    sort: &[(CountySort, bool)],
    limit: i64,
    offset: i64,
    as_of: NaiveDate,
) -> Result<Listed<CountyOut>, ApiError> {
    let (rows, total) = q::list(conn, filter, sort, limit, offset, as_of)?;
    let items = rows
        .into_iter()
        .map(|(row, plan)| county_out(row, plan.as_ref()))
        .collect::<Vec<_>>();
    Ok(Listed { items, total })
}

/// Creates a county (administrators; a city's, in its city), with its first plan status when
/// given.
pub fn create(tx: &mut Tx<'_>, input: CountyIn, today: NaiveDate) -> Result<CountyOut, ApiError> {
    tx.ctx.caller.require_some_admin()?;
    let mut v = Violations::new();
    let code = v.check("division_code", DivisionCode::parse(&input.division_code));
    if let Some(code) = &code {
        v.check("division_code", code.fits(input.kind));
    }
    let name = v.check("name", Name::parse(&input.name, NAME_MAX));
    business_date(
        &mut v,
        "coordination_established_on",
        input.coordination_established_on,
        today,
    );
    business_date(
        &mut v,
        "management_established_on",
        input.management_established_on,
        today,
    );
    if let Some(change) = &input.plan_status {
        check_plan_change(&mut v, "/plan_status/", change, today);
    }
    v.into_result()?;
    let (Some(code), Some(name)) = (code, name) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    let (province_id, city) = cities::place_of_county(tx, &code, input.kind, input.city_id)?;
    match &city {
        Some(city) => tx.ctx.caller.require_city_admin_of(city.id)?,
        None => tx.ctx.caller.require_admin()?,
    }
    let at = now();
    let row = q::insert(
        tx.conn,
        &NewCounty {
            division_code: code.as_str().to_string(),
            name: name.into(),
            kind: input.kind,
            coordination_established_on: input.coordination_established_on,
            management_established_on: input.management_established_on,
            version: 1,
            created_at: at,
            updated_at: at,
            province_id,
            city_id: city.as_ref().map(|c| c.id),
            city_has_counties: city.as_ref().map(|c| c.has_counties),
        },
    )?;
    let plan = match &input.plan_status {
        Some(change) => Some(q::insert_plan_change(
            tx.conn,
            &NewPlanChange {
                county_id: row.id,
                stage: change.stage,
                effective_on: change.effective_on,
                note: parse_note(change.note.as_deref()).unwrap_or_default(),
                created_at: at,
            },
        )?),
        None => None,
    };
    let out = county_out(row, plan.as_ref().map(PlanInForce::from).as_ref());
    tx.audit(
        AuditAction::Create,
        AuditEntity::County,
        out.id,
        Some(out.id),
        NOTHING,
        Some(&out),
    )?;
    Ok(out)
}

/// Changes county `id` at version `expected`: its own county's officers may rename it and date
/// its mechanisms; only administrators change its code or kind.
pub fn update(
    tx: &mut Tx<'_>,
    id: i32,
    expected: i32,
    patch: CountyPatch,
    today: NaiveDate,
) -> Result<CountyOut, ApiError> {
    let mut v = Violations::new();
    let code = match &patch.division_code {
        Some(raw) => v.check("division_code", DivisionCode::parse(raw)),
        None => None,
    };
    let name = match &patch.name {
        Some(raw) => v.check("name", Name::parse(raw, NAME_MAX)),
        None => None,
    };
    business_date(
        &mut v,
        "coordination_established_on",
        patch.coordination_established_on.flatten(),
        today,
    );
    business_date(
        &mut v,
        "management_established_on",
        patch.management_established_on.flatten(),
        today,
    );
    v.into_result()?;
    let current = policy::writable_county(tx.conn, &tx.ctx.caller, id)?;
    if patch.kind.is_some() || code.is_some() {
        policy::may_recode_county(&tx.ctx.caller)?;
    }
    let own_row = current.kind.is_level() || current.kind == CountyKind::CityDirect;
    if own_row
        && code
            .as_ref()
            .is_some_and(|c| c.as_str() != current.division_code)
    {
        return Err(ApiError::Conflict(
            "a city's or province's own row takes its code from it: recode the city or province \
             (PATCH /api/v1/cities/{id} or /api/v1/provinces/{id})"
                .into(),
        ));
    }
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    let kind = match patch.kind {
        Some(k) => k,
        None => current.kind,
    };
    let final_code = match &code {
        Some(c) => c.clone(),
        None => DivisionCode::parse(&current.division_code).map_err(ApiError::internal)?,
    };
    let field = if code.is_some() {
        "division_code"
    } else {
        "kind"
    };
    final_code
        .fits(kind)
        .map_err(|m| ApiError::invalid(field, m))?;
    if (kind == CountyKind::ProvinceLevel) != (current.kind == CountyKind::ProvinceLevel) {
        return Err(ApiError::invalid(
            "kind",
            "the province level is made with its province and stays one",
        ));
    }
    // A new code may move the county to the city it names (which must exist).
    let city = match (&code, current.city_id) {
        (Some(c), Some(_)) => cities::place_of_county(tx, c, kind, None)?.1,
        _ => None,
    };
    if let Some(city) = &city {
        tx.ctx.caller.require_city_admin_of(city.id)?;
    } else if let (Some(_), Some(city_id)) = (patch.kind, current.city_id) {
        // A new kind in the same city must fit it (city_level or city_direct).
        let stays = city_q::find(tx.conn, city_id)?
            .ok_or_else(|| ApiError::internal("a county's city is gone"))?;
        cities::kind_fits_city(&stays, kind)?;
    }
    if kind.is_level() && q::has_towns(tx.conn, id)? {
        return Err(ApiError::Conflict(
            "the city level has no towns; move or delete this county's towns first".into(),
        ));
    }
    let before = load_out(tx.conn, id, today)?;
    let changes = CountyUpdate {
        division_code: code.map(|c| c.as_str().to_string()),
        name: name.map(String::from),
        kind: patch.kind,
        coordination_established_on: patch.coordination_established_on,
        management_established_on: patch.management_established_on,
        version: Some(current.version + 1),
        updated_at: Some(now()),
        province_id: city.as_ref().map(|c| c.province_id),
        city_id: city.as_ref().map(|c| Some(c.id)),
        city_has_counties: city.as_ref().map(|c| Some(c.has_counties)),
    };
    q::update(tx.conn, id, expected, &changes)?.ok_or(ApiError::PreconditionFailed)?;
    let out = load_out(tx.conn, id, today)?;
    tx.audit(
        AuditAction::Update,
        AuditEntity::County,
        id,
        Some(id),
        Some(&before),
        Some(&out),
    )?;
    Ok(out)
}

/// Deletes county `id` at version `expected` (administrators; a city's, in its city), with its
/// plan history.
pub fn delete(tx: &mut Tx<'_>, id: i32, expected: i32, today: NaiveDate) -> Result<(), ApiError> {
    tx.ctx.caller.require_some_admin()?;
    let current = policy::writable_county(tx.conn, &tx.ctx.caller, id)?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    // A city's or province's own row is kept while it exists.
    if current.kind.is_level() || current.kind == CountyKind::CityDirect {
        return Err(ApiError::Conflict(format!(
            "county {id} is the own row of its {}: it is deleted with it",
            if current.kind == CountyKind::ProvinceLevel {
                "province"
            } else {
                "city"
            }
        )));
    }
    let before = load_out(tx.conn, id, today)?;
    // The foreign keys decide (no check-then-delete race): a dependent row makes this a 409.
    let deleted = q::delete(tx.conn, id, expected).map_err(|e| {
        still_in_use(e, || {
            format!("county {id} still has towns or other records; delete or move them first")
        })
    })?;
    if !deleted {
        return Err(ApiError::PreconditionFailed);
    }
    tx.audit(
        AuditAction::Delete,
        AuditEntity::County,
        id,
        Some(id),
        Some(&before),
        NOTHING,
    )
}

/// County `id`'s plan-status history, oldest first.
pub fn plan_changes(conn: &mut DbConnection, id: i32) -> Result<Vec<PlanChangeOut>, ApiError> {
    q::find(conn, id)?.ok_or_else(|| ApiError::not_found("county", id))?;
    Ok(q::plan_history(conn, id)?
        .into_iter()
        .map(plan_change_out)
        .collect())
}

/// Records a plan-status change for county `id`, by a caller who may write it.
pub fn create_plan_change(
    tx: &mut Tx<'_>,
    id: i32,
    change: PlanChangeIn,
    today: NaiveDate,
) -> Result<PlanChangeOut, ApiError> {
    let mut v = Violations::new();
    check_plan_change(&mut v, "", &change, today);
    v.into_result()?;
    policy::writable_county(tx.conn, &tx.ctx.caller, id)?;
    record_plan_change(tx, id, &change)
}

/// A county batch's facts about the county itself: its mechanisms' dates (as `PATCH` sets
/// them) and a plan-status change (as its `POST` records it), each only when it changes
/// something. Answers whether anything changed.
pub fn record_facts(
    tx: &mut Tx<'_>,
    county_id: i32,
    coordination: Option<NaiveDate>,
    management: Option<NaiveDate>,
    plan_status: Option<&PlanChangeIn>,
    today: NaiveDate,
) -> Result<bool, ApiError> {
    let mut v = Violations::new();
    business_date(&mut v, "coordination_established_on", coordination, today);
    business_date(&mut v, "management_established_on", management, today);
    if let Some(change) = plan_status {
        check_plan_change(&mut v, "/plan_status/", change, today);
    }
    v.into_result()?;
    let current = policy::writable_county(tx.conn, &tx.ctx.caller, county_id)?;
    let coordination = coordination.filter(|d| Some(*d) != current.coordination_established_on);
    let management = management.filter(|d| Some(*d) != current.management_established_on);
    let mut changed = false;
    if coordination.is_some() || management.is_some() {
        let before = load_out(tx.conn, county_id, today)?;
        let changes = CountyUpdate {
            coordination_established_on: coordination.map(Some),
            management_established_on: management.map(Some),
            version: Some(current.version + 1),
            updated_at: Some(now()),
            ..Default::default()
        };
        q::update(tx.conn, county_id, current.version, &changes)?
            .ok_or_else(|| ApiError::Conflict("the county changed meanwhile".into()))?;
        let after = load_out(tx.conn, county_id, today)?;
        let id = Some(county_id);
        tx.audit(
            AuditAction::Update,
            AuditEntity::County,
            county_id,
            id,
            Some(&before),
            Some(&after),
        )?;
        changed = true;
    }
    if let Some(change) = plan_status {
        let note = parse_note(change.note.as_deref()).unwrap_or_default();
        let latest = q::plan_history(tx.conn, county_id)?.pop();
        let recorded = latest.is_some_and(|l| {
            l.stage == change.stage && l.effective_on == change.effective_on && l.note == note
        });
        if !recorded {
            record_plan_change(tx, county_id, change)?;
            changed = true;
        }
    }
    Ok(changed)
}
