//! Towns, townships and streets of a county (镇/乡/街道).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::now;
use crate::db::counties as county_q;
use crate::db::towns::{self as q, NewTown, TownChanges, TownFilter, TownRow, TownSort};
use crate::db::DbConnection;
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::county::DivisionCode;
use crate::domain::town::{TownCode, TownKind};
use crate::domain::{Name, Violations};
use crate::error::ApiError;
use crate::policy::{Caller, CountyScope};
use crate::service::{still_in_use, utc, Listed};
use crate::write::{Tx, NOTHING};

const NAME_MAX: usize = 50;

/// A new town.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TownIn {
    /// The county it belongs to (never the city level).
    pub county_id: i32,
    /// Unique within its county (names repeat across counties: 太平镇).
    #[schema(example = "腰古镇", min_length = 1, max_length = 50)]
    pub name: String,
    /// Nine digits, starting with the county's division code; unique.
    #[schema(example = "445302104", pattern = "^[0-9]{9}$")]
    pub code: String,
    pub kind: TownKind,
}

/// Changes to a town; absent fields stay as they are. A town never changes county.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TownPatch {
    pub name: Option<String>,
    pub code: Option<String>,
    pub kind: Option<TownKind>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TownOut {
    pub id: i32,
    pub county_id: i32,
    pub name: String,
    pub code: String,
    pub kind: TownKind,
    /// The Chinese label of `kind`.
    pub kind_label: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn town_out(row: TownRow) -> TownOut {
    let kind = row.kind;
    TownOut {
        id: row.id,
        county_id: row.county_id,
        name: row.name,
        code: row.code,
        kind,
        kind_label: kind.label().to_string(),
        version: row.version,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    }
}

/// A town's name and code, checked; used by the API and county batches.
pub fn validated_town_fields(name: &str, code: &str) -> Result<(String, TownCode), ApiError> {
    let mut v = Violations::new();
    let name = v.check("name", Name::parse(name, NAME_MAX));
    let code = v.check("code", TownCode::parse(code));
    v.into_result()?;
    match (name, code) {
        (Some(name), Some(code)) => Ok((name.into(), code)),
        _ => Err(ApiError::internal("validated fields missing")),
    }
}

/// The county a town may belong to: it exists, is not the city level, and the caller may
/// write it.
pub fn town_county(
    conn: &mut DbConnection,
    caller: &Caller,
    county_id: i32,
) -> Result<DivisionCode, ApiError> {
    let county = county_q::find(conn, county_id)?.ok_or_else(|| {
        ApiError::invalid("county_id", format!("county {county_id} does not exist"))
    })?;
    caller.require_county_write(CountyScope::of(&county))?;
    if county.kind.is_level() {
        return Err(ApiError::invalid(
            "county_id",
            "a city's or province's own level (市本级, 省本级) has no towns",
        ));
    }
    DivisionCode::parse(&county.division_code).map_err(ApiError::internal)
}

/// A page of towns.
pub fn list(
    conn: &mut DbConnection,
    filter: &TownFilter,
    sort: &[(TownSort, bool)],
    limit: i64,
    offset: i64,
) -> Result<Listed<TownOut>, ApiError> {
    let (rows, total) = q::list(conn, filter, sort, limit, offset)?;
    Ok(Listed {
        items: rows.into_iter().map(town_out).collect(),
        total,
    })
}

/// Town `id`.
pub fn get(conn: &mut DbConnection, id: i32) -> Result<TownOut, ApiError> {
    Ok(town_out(
        q::find(conn, id)?.ok_or_else(|| ApiError::not_found("town", id))?,
    ))
}

/// Creates a town in a county the caller may write.
pub fn create(tx: &mut Tx<'_>, input: TownIn) -> Result<TownOut, ApiError> {
    let new = new_town(tx.conn, &tx.ctx.caller, &input)?;
    let row = q::insert(tx.conn, &new)?;
    let out = town_out(row);
    tx.audit(
        AuditAction::Create,
        AuditEntity::Town,
        out.id,
        Some(out.county_id),
        NOTHING,
        Some(&out),
    )?;
    Ok(out)
}

/// A new town checked against every rule and the caller's rights, ready to store; used by
/// [`create`] and county batches.
pub fn new_town(
    conn: &mut DbConnection,
    caller: &Caller,
    input: &TownIn,
) -> Result<NewTown, ApiError> {
    let (name, code) = validated_town_fields(&input.name, &input.code)?;
    let county_code = town_county(conn, caller, input.county_id)?;
    code.belongs_to(&county_code)
        .map_err(|m| ApiError::invalid("code", m))?;
    let at = now();
    Ok(NewTown {
        county_id: input.county_id,
        name,
        code: code.as_str().to_string(),
        kind: input.kind,
        version: 1,
        created_at: at,
        updated_at: at,
    })
}

/// Changes town `id` at version `expected`; a town never changes county.
pub fn update(
    tx: &mut Tx<'_>,
    id: i32,
    expected: i32,
    patch: TownPatch,
) -> Result<TownOut, ApiError> {
    let mut v = Violations::new();
    let name = match &patch.name {
        Some(raw) => v.check("name", Name::parse(raw, NAME_MAX)),
        None => None,
    };
    let code = match &patch.code {
        Some(raw) => v.check("code", TownCode::parse(raw)),
        None => None,
    };
    v.into_result()?;
    let current = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("town", id))?;
    let county_code = town_county(tx.conn, &tx.ctx.caller, current.county_id)?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    if let Some(code) = &code {
        code.belongs_to(&county_code)
            .map_err(|m| ApiError::invalid("code", m))?;
    }
    let changes = TownChanges {
        name: name.map(String::from),
        code: code.map(|c| c.as_str().to_string()),
        kind: patch.kind,
        version: Some(current.version + 1),
        updated_at: Some(now()),
    };
    let row = q::update(tx.conn, id, expected, &changes)?.ok_or(ApiError::PreconditionFailed)?;
    let before = town_out(current);
    let out = town_out(row);
    tx.audit(
        AuditAction::Update,
        AuditEntity::Town,
        id,
        Some(out.county_id),
        Some(&before),
        Some(&out),
    )?;
    Ok(out)
}

/// Deletes town `id` at version `expected`; a town with sites stays (409).
pub fn delete(tx: &mut Tx<'_>, id: i32, expected: i32) -> Result<(), ApiError> {
    let current = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("town", id))?;
    town_county(tx.conn, &tx.ctx.caller, current.county_id)?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    let deleted = q::delete(tx.conn, id, expected).map_err(|e| {
        still_in_use(e, || {
            format!("town {id} still has sites; close or move them first")
        })
    })?;
    if !deleted {
        return Err(ApiError::PreconditionFailed);
    }
    let before = town_out(current);
    tx.audit(
        AuditAction::Delete,
        AuditEntity::Town,
        id,
        Some(before.county_id),
        Some(&before),
        NOTHING,
    )
}
