//! Provinces and cities above the counties (province → city → county): creating, renaming and
//! deleting them, with the level rows made with them (省本级, 市本级), and the city a county's
//! code names.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::now;
use crate::db::cities::{self as city_q, CityFilter, CityRow, NewCity};
use crate::db::counties::{self as county_q, CountyRow, NewCounty};
use crate::db::provinces::{self as province_q, NewProvince, ProvinceRow};
use crate::db::DbConnection;
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::county::{CountyKind, DivisionCode};
use crate::domain::{Name, Violations};
use crate::error::ApiError;
use crate::service::{still_in_use, utc, Listed};
use crate::write::{Tx, NOTHING};

const NAME_MAX: usize = 50;

/// A new province.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvinceIn {
    /// GB/T 2260 code ending in `0000`.
    #[schema(example = "440000", pattern = "^[0-9]{6}$")]
    pub division_code: String,
    #[schema(example = "广东省", min_length = 1, max_length = 50)]
    pub name: String,
}

/// A new city.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CityIn {
    /// GB/T 2260 code ending in `00`, its first two digits its province's.
    #[schema(example = "445300", pattern = "^[0-9]{6}$")]
    pub division_code: String,
    #[schema(example = "云浮市", min_length = 1, max_length = 50)]
    pub name: String,
    /// The province it belongs to; by default the one its code names, which must exist.
    pub province_id: Option<i32>,
    /// `false` for a city without counties (东莞, 中山): it gets one `city_direct` row, holding
    /// its towns, instead of a city level. Default `true`.
    pub has_counties: Option<bool>,
}

/// A new name or code for a province or a city; absent fields stay as they are. The code
/// changes only while the province has no cities, or the city no counties (its own row takes
/// the new code with it); a city's new code stays in its province.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DivisionPatch {
    #[schema(min_length = 1, max_length = 50)]
    pub name: Option<String>,
    #[schema(example = "445300", pattern = "^[0-9]{6}$")]
    pub division_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProvinceOut {
    pub id: i32,
    pub division_code: String,
    pub name: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CityOut {
    pub id: i32,
    pub province_id: i32,
    pub division_code: String,
    pub name: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `false` for a city without counties, whose one row is `city_direct`.
    pub has_counties: bool,
}

fn province_out(row: ProvinceRow) -> ProvinceOut {
    ProvinceOut {
        id: row.id,
        division_code: row.division_code,
        name: row.name,
        version: row.version,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    }
}

fn city_out(row: CityRow) -> CityOut {
    CityOut {
        id: row.id,
        province_id: row.province_id,
        division_code: row.division_code,
        name: row.name,
        version: row.version,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
        has_counties: row.has_counties,
    }
}

pub fn list_provinces(
    conn: &mut DbConnection,
    limit: i64,
    offset: i64,
) -> Result<Listed<ProvinceOut>, ApiError> {
    let (rows, total) = province_q::list(conn, limit, offset)?;
    let items = rows.into_iter().map(province_out).collect();
    Ok(Listed { items, total })
}

pub fn list_cities(
    conn: &mut DbConnection,
    filter: &CityFilter,
    limit: i64,
    offset: i64,
) -> Result<Listed<CityOut>, ApiError> {
    let (rows, total) = city_q::list(conn, filter, limit, offset)?;
    let items = rows.into_iter().map(city_out).collect();
    Ok(Listed { items, total })
}

pub fn get_province(conn: &mut DbConnection, id: i32) -> Result<ProvinceOut, ApiError> {
    let row = province_q::find(conn, id)?.ok_or_else(|| ApiError::not_found("province", id))?;
    Ok(province_out(row))
}

pub fn get_city(conn: &mut DbConnection, id: i32) -> Result<CityOut, ApiError> {
    let row = city_q::find(conn, id)?.ok_or_else(|| ApiError::not_found("city", id))?;
    Ok(city_out(row))
}

/// Stores a province, with its own level row (省本级) when `with_level`.
fn insert_province(
    tx: &mut Tx<'_>,
    code: &str,
    name: &str,
    with_level: bool,
) -> Result<ProvinceRow, ApiError> {
    let at = now();
    let row = province_q::insert(
        tx.conn,
        &NewProvince {
            division_code: code.to_string(),
            name: name.to_string(),
            version: 1,
            created_at: at,
            updated_at: at,
        },
    )?;
    if with_level {
        insert_level(tx, code, "省本级", CountyKind::ProvinceLevel, row.id, None)?;
    }
    let out = province_out(row.clone());
    tx.audit(
        AuditAction::Create,
        AuditEntity::Province,
        out.id,
        None,
        NOTHING,
        Some(&out),
    )?;
    Ok(row)
}

/// Stores a city, with its city level (or its one `city_direct` row) when `level` says so.
fn insert_city(
    tx: &mut Tx<'_>,
    province_id: i32,
    code: &str,
    name: &str,
    level: Option<CountyKind>,
    has_counties: bool,
) -> Result<CityRow, ApiError> {
    let at = now();
    let row = city_q::insert(
        tx.conn,
        &NewCity {
            province_id,
            division_code: code.to_string(),
            name: name.to_string(),
            version: 1,
            created_at: at,
            updated_at: at,
            has_counties,
        },
    )?;
    let level_id = match level {
        Some(kind) => {
            let level_name = if kind == CountyKind::CityDirect {
                name
            } else {
                "市本级"
            };
            Some(insert_level(tx, code, level_name, kind, province_id, Some(&row))?.id)
        }
        None => None,
    };
    let out = city_out(row.clone());
    tx.audit(
        AuditAction::Create,
        AuditEntity::City,
        out.id,
        level_id,
        NOTHING,
        Some(&out),
    )?;
    Ok(row)
}

fn insert_level(
    tx: &mut Tx<'_>,
    code: &str,
    name: &str,
    kind: CountyKind,
    province_id: i32,
    city: Option<&CityRow>,
) -> Result<CountyRow, ApiError> {
    let at = now();
    let row = county_q::insert(
        tx.conn,
        &NewCounty {
            division_code: code.to_string(),
            name: name.to_string(),
            kind,
            coordination_established_on: None,
            management_established_on: None,
            version: 1,
            created_at: at,
            updated_at: at,
            province_id,
            city_id: city.map(|c| c.id),
            city_has_counties: city.map(|c| c.has_counties),
        },
    )?;
    let out = level_json(&row);
    tx.audit(
        AuditAction::Create,
        AuditEntity::County,
        row.id,
        Some(row.id),
        NOTHING,
        Some(&out),
    )?;
    Ok(row)
}

/// Creates a province with its level row (administrators only).
pub fn create_province(tx: &mut Tx<'_>, input: ProvinceIn) -> Result<ProvinceOut, ApiError> {
    tx.ctx.caller.require_admin()?;
    let mut v = Violations::new();
    let code = v.check(
        "division_code",
        DivisionCode::parse_province(&input.division_code),
    );
    let name = v.check("name", Name::parse(&input.name, NAME_MAX));
    v.into_result()?;
    let (Some(code), Some(name)) = (code, name) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    let name: String = name.into();
    Ok(province_out(insert_province(
        tx,
        code.as_str(),
        &name,
        true,
    )?))
}

/// Creates a city in its province, with its city level (administrators only).
pub fn create_city(tx: &mut Tx<'_>, input: CityIn) -> Result<CityOut, ApiError> {
    tx.ctx.caller.require_admin()?;
    let mut v = Violations::new();
    let code = v.check(
        "division_code",
        DivisionCode::parse_city(&input.division_code),
    );
    let name = v.check("name", Name::parse(&input.name, NAME_MAX));
    v.into_result()?;
    let (Some(code), Some(name)) = (code, name) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    let province = province_q::by_code(tx.conn, &code.province_code())?.ok_or_else(|| {
        ApiError::invalid(
            "division_code",
            format!(
                "province {} does not exist; create it first",
                code.province_code()
            ),
        )
    })?;
    if input.province_id.is_some_and(|p| p != province.id) {
        return Err(ApiError::invalid(
            "division_code",
            format!(
                "the code lies in province {}, not in province {}",
                province.division_code,
                input.province_id.unwrap_or_default()
            ),
        ));
    }
    let has_counties = input.has_counties.unwrap_or(true);
    let level = if has_counties {
        CountyKind::CityLevel
    } else {
        CountyKind::CityDirect
    };
    let name: String = name.into();
    let row = insert_city(
        tx,
        province.id,
        code.as_str(),
        &name,
        Some(level),
        has_counties,
    )?;
    Ok(city_out(row))
}

/// Renames or recodes province `id` at version `expected` (administrators only).
pub fn update_province(
    tx: &mut Tx<'_>,
    id: i32,
    expected: i32,
    patch: DivisionPatch,
) -> Result<ProvinceOut, ApiError> {
    tx.ctx.caller.require_admin()?;
    let (name, code) = parse_patch(&patch, DivisionCode::parse_province)?;
    let current =
        province_q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("province", id))?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    let name = name.unwrap_or_else(|| current.name.clone());
    let code = code.map_or_else(|| current.division_code.clone(), |c| c.as_str().to_string());
    let row = province_q::change(tx.conn, id, expected, (&name, &code), now())?
        .ok_or(ApiError::PreconditionFailed)?;
    if code != current.division_code {
        // Counted after the change, which a city being made in it waits for (`by_code`).
        if city_q::count_in_province(tx.conn, id)? > 0 {
            return Err(ApiError::Conflict(format!(
                "province {id} has cities: their codes carry its code, so it keeps it"
            )));
        }
        if let Some(level) = county_q::level_of_province(tx.conn, id)? {
            recode_level(tx, &level, &code)?;
        }
    }
    let (before, after) = (province_out(current), province_out(row));
    tx.audit(
        AuditAction::Update,
        AuditEntity::Province,
        id,
        None,
        Some(&before),
        Some(&after),
    )?;
    Ok(after)
}

/// Renames or recodes city `id` at version `expected` (administrators, and the city's own;
/// only administrators recode).
pub fn update_city(
    tx: &mut Tx<'_>,
    id: i32,
    expected: i32,
    patch: DivisionPatch,
) -> Result<CityOut, ApiError> {
    let (name, code) = parse_patch(&patch, DivisionCode::parse_city)?;
    let current = city_q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("city", id))?;
    tx.ctx.caller.require_city_admin_of(id)?;
    let recoded = code.filter(|c| c.as_str() != current.division_code);
    if recoded.is_some() {
        tx.ctx.caller.require_admin()?;
    }
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    if let Some(c) = &recoded {
        let province = province_q::find(tx.conn, current.province_id)?
            .ok_or_else(|| ApiError::internal("a city's province is gone"))?;
        if c.province_code() != province.division_code {
            return Err(ApiError::invalid(
                "division_code",
                format!("the city stays in province {}", province.division_code),
            ));
        }
    }
    let name = name.unwrap_or_else(|| current.name.clone());
    let code = recoded.map_or_else(|| current.division_code.clone(), |c| c.as_str().to_string());
    let row = city_q::change(tx.conn, id, expected, (&name, &code), now())?
        .ok_or(ApiError::PreconditionFailed)?;
    let level = county_q::level_of_city(tx.conn, id)?;
    if code != current.division_code {
        // Counted after the change, which a county being placed in it waits for (`by_code`).
        if county_q::count_in_city_beside_level(tx.conn, id)? > 0 {
            return Err(ApiError::Conflict(format!(
                "city {id} has counties: their codes carry its code, so it keeps it"
            )));
        }
        if let Some(level) = &level {
            recode_level(tx, level, &code)?;
        }
    }
    let (before, after) = (city_out(current), city_out(row));
    tx.audit(
        AuditAction::Update,
        AuditEntity::City,
        id,
        level.map(|l| l.id),
        Some(&before),
        Some(&after),
    )?;
    Ok(after)
}

/// What the audit trail keeps of a level row made, recoded or deleted with its city or
/// province: enough for the feed to place and version it.
fn level_json(row: &CountyRow) -> serde_json::Value {
    serde_json::json!({
        "id": row.id,
        "division_code": row.division_code,
        "name": row.name,
        "kind": row.kind,
        "city_id": row.city_id,
        "province_id": row.province_id,
        "version": row.version,
    })
}

/// A city's or province's own row takes its new code.
fn recode_level(tx: &mut Tx<'_>, level: &CountyRow, code: &str) -> Result<(), ApiError> {
    let changes = county_q::CountyUpdate {
        division_code: Some(code.to_string()),
        version: Some(level.version + 1),
        updated_at: Some(now()),
        ..Default::default()
    };
    county_q::update(tx.conn, level.id, level.version, &changes)?
        .ok_or_else(|| ApiError::Conflict("its own row changed meanwhile".into()))?;
    let id = level.id;
    let mut now = level.clone();
    (now.division_code, now.version) = (code.to_string(), level.version + 1);
    let (was, out) = (level_json(level), level_json(&now));
    tx.audit(
        AuditAction::Update,
        AuditEntity::County,
        id,
        Some(id),
        Some(&was),
        Some(&out),
    )
}

fn parse_patch(
    patch: &DivisionPatch,
    parse_code: fn(&str) -> Result<DivisionCode, String>,
) -> Result<(Option<String>, Option<DivisionCode>), ApiError> {
    let mut v = Violations::new();
    let name = match &patch.name {
        Some(raw) => v
            .check("name", Name::parse(raw, NAME_MAX))
            .map(String::from),
        None => None,
    };
    let code = match &patch.division_code {
        Some(raw) => v.check("division_code", parse_code(raw)),
        None => None,
    };
    v.into_result()?;
    Ok((name, code))
}

/// Deletes an empty province (no cities) with its level row (administrators only).
pub fn delete_province(tx: &mut Tx<'_>, id: i32, expected: i32) -> Result<(), ApiError> {
    tx.ctx.caller.require_admin()?;
    let current =
        province_q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("province", id))?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    if city_q::count_in_province(tx.conn, id)? > 0 {
        return Err(ApiError::Conflict(format!(
            "province {id} still has cities; delete or move them first"
        )));
    }
    if let Some(level) = county_q::level_of_province(tx.conn, id)? {
        delete_level(tx, &level)?;
    }
    let in_use = || format!("province {id} still has records; delete them first");
    if !province_q::delete(tx.conn, id, expected).map_err(|e| still_in_use(e, in_use))? {
        return Err(ApiError::PreconditionFailed);
    }
    let before = province_out(current);
    tx.audit(
        AuditAction::Delete,
        AuditEntity::Province,
        id,
        None,
        Some(&before),
        NOTHING,
    )
}

/// Deletes an empty city (no counties beside its level row) with its level row (administrators
/// only).
pub fn delete_city(tx: &mut Tx<'_>, id: i32, expected: i32) -> Result<(), ApiError> {
    tx.ctx.caller.require_admin()?;
    let current = city_q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("city", id))?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    if county_q::count_in_city_beside_level(tx.conn, id)? > 0 {
        return Err(ApiError::Conflict(format!(
            "city {id} still has counties; delete or move them first"
        )));
    }
    if let Some(level) = county_q::level_of_city(tx.conn, id)? {
        delete_level(tx, &level)?;
    }
    let in_use = || format!("city {id} still has records; delete them first");
    if !city_q::delete(tx.conn, id, expected).map_err(|e| still_in_use(e, in_use))? {
        return Err(ApiError::PreconditionFailed);
    }
    let before = city_out(current);
    tx.audit(
        AuditAction::Delete,
        AuditEntity::City,
        id,
        None,
        Some(&before),
        NOTHING,
    )
}

fn delete_level(tx: &mut Tx<'_>, level: &CountyRow) -> Result<(), ApiError> {
    let id = level.id;
    let in_use = || format!("its level row (county {id}) still has records; delete them first");
    county_q::delete(tx.conn, id, level.version).map_err(|e| still_in_use(e, in_use))?;
    let before =
        serde_json::json!({"id": id, "division_code": level.division_code, "kind": level.kind});
    tx.audit(
        AuditAction::Delete,
        AuditEntity::County,
        id,
        Some(id),
        Some(&before),
        NOTHING,
    )
}

/// Where a new county-level row of `kind` with `code` belongs: its province, and the city its
/// code names (none for a province's own level), which `given` (the body's `city_id`) must
/// agree with. In a deployment with no city yet, the first county makes its province and city
/// from its code, named by their codes until renamed (and without level rows: the first
/// `city_level` or `province_level` row posted for them is theirs), so a fresh database works
/// as a single city did.
pub fn place_of_county(
    tx: &mut Tx<'_>,
    code: &DivisionCode,
    kind: CountyKind,
    given: Option<i32>,
) -> Result<(i32, Option<CityRow>), ApiError> {
    if kind == CountyKind::ProvinceLevel {
        if given.is_some() {
            return Err(ApiError::invalid(
                "city_id",
                "the province level is in no city",
            ));
        }
        let province = province_q::by_code(tx.conn, code.as_str())?.ok_or_else(|| {
            ApiError::invalid(
                "division_code",
                format!("province {} does not exist", code.as_str()),
            )
        })?;
        return Ok((province.id, None));
    }
    let city = city_for_county(tx, code, kind, given)?;
    Ok((city.province_id, Some(city)))
}

fn city_for_county(
    tx: &mut Tx<'_>,
    code: &DivisionCode,
    kind: CountyKind,
    given: Option<i32>,
) -> Result<CityRow, ApiError> {
    let city_code = code.city_code();
    let city = match city_q::by_code(tx.conn, &city_code)? {
        Some(city) => city,
        None if city_q::in_code_order(tx.conn, None, Some(1))?.is_empty() => {
            let province = match province_q::by_code(tx.conn, &code.province_code())? {
                Some(p) => p,
                None => insert_province(tx, &code.province_code(), &code.province_code(), false)?,
            };
            let has_counties = kind != CountyKind::CityDirect;
            insert_city(tx, province.id, &city_code, &city_code, None, has_counties)?
        }
        None => {
            return Err(ApiError::invalid(
                "division_code",
                format!("city {city_code} does not exist; create it first (POST /api/v1/cities)"),
            ))
        }
    };
    if given.is_some_and(|g| g != city.id) {
        return Err(ApiError::invalid(
            "city_id",
            format!(
                "the code {} lies in city {} (id {})",
                code.as_str(),
                city_code,
                city.id
            ),
        ));
    }
    kind_fits_city(&city, kind)?;
    Ok(city)
}

/// A city without counties has only its one `city_direct` row; a city with counties none. The
/// city's `has_counties` is fixed when it is made, so this is exact; the database's constraint
/// on `counties` holds it too.
pub fn kind_fits_city(city: &CityRow, kind: CountyKind) -> Result<(), ApiError> {
    match (city.has_counties, kind == CountyKind::CityDirect) {
        (false, false) => Err(ApiError::Conflict(format!(
            "city {} has no counties: its one row is of kind city_direct",
            city.division_code
        ))),
        (true, true) => Err(ApiError::Conflict(format!(
            "city {} has counties: its own row is of kind city_level",
            city.division_code
        ))),
        _ => Ok(()),
    }
}
