//! `/api/v1/towns`: towns, townships and streets of a county (镇/乡/街道).

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::counties as county_q;
use crate::db::towns::{self as q, NewTown, TownChanges, TownFilter, TownRow, TownSort};
use crate::db::{self, DbConnection};
use crate::domain::county::{CountyKind, DivisionCode};
use crate::domain::town::{TownCode, TownKind};
use crate::domain::{parse_name, Violations};
use crate::error::{ApiError, Problem};
use crate::policy::Caller;
use crate::routes::common::{
    created_versioned, expected_version, now, ok_versioned, parse_q, parse_sort, utc, Json, Page,
    Paging,
};
use crate::routes::counties::county_scope;
use crate::routes::responses::*;
use crate::state::AppState;
use crate::write::{write, write_then, WriteCtx, NOTHING};

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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TownListQuery {
    pub county_id: Option<i32>,
    pub kind: Option<TownKind>,
    pub code: Option<String>,
    /// Text search on names.
    pub q: Option<String>,
    /// Comma-separated fields, `-` for descending: `id`, `name`, `code`, `county_id`, `created_at`.
    #[param(
        pattern = r"^-?(id|name|code|county_id|created_at)(,-?(id|name|code|county_id|created_at))*$"
    )]
    pub sort: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TownPath {
    /// The town's id.
    pub id: i32,
}

pub fn town_out(row: TownRow) -> Result<TownOut, ApiError> {
    let kind =
        TownKind::parse(&row.kind).map_err(|e| ApiError::internal(format!("stored kind: {e}")))?;
    Ok(TownOut {
        id: row.id,
        county_id: row.county_id,
        name: row.name,
        code: row.code,
        kind,
        kind_label: kind.label().to_string(),
        version: row.version,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    })
}

/// A town's name and code, checked; used by the API and county batches.
pub fn validated_town_fields(name: &str, code: &str) -> Result<(String, TownCode), ApiError> {
    let mut v = Violations::new();
    let name = v.check("name", parse_name(name, NAME_MAX));
    let code = v.check("code", TownCode::parse(code));
    v.into_result()?;
    match (name, code) {
        (Some(name), Some(code)) => Ok((name, code)),
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
    caller.require_county_write(county_scope(&county))?;
    if county.kind == CountyKind::CityLevel.as_str() {
        return Err(ApiError::invalid(
            "county_id",
            "the city level (市本级) has no towns",
        ));
    }
    DivisionCode::parse(&county.division_code).map_err(ApiError::internal)
}

#[utoipa::path(
    tag = "towns",
    params(TownListQuery, Paging),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 200, description = "A page of towns", body = Page<TownOut>),
        (status = 400, response = BadRequest),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/towns")]
pub async fn list_towns(
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<TownListQuery>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let sort = parse_sort(
        query.sort.as_deref(),
        &[
            ("id", TownSort::Id),
            ("name", TownSort::Name),
            ("code", TownSort::Code),
            ("county_id", TownSort::CountyId),
            ("created_at", TownSort::CreatedAt),
        ],
    )?;
    let filter = TownFilter {
        county_id: query.county_id,
        kind: query.kind.map(|k| k.as_str().to_string()),
        code: query.code.clone(),
        q: parse_q(query.q.as_deref())?,
    };
    let page = db::run(&state.pool, move |conn| {
        let (rows, total) = q::list(conn, &filter, &sort, limit, offset)?;
        Ok(Page {
            items: rows.into_iter().map(town_out).collect::<Result<_, _>>()?,
            total,
            limit,
            offset,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "towns",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: the same key (1 to 255 visible ASCII characters, scoped to the caller and the path) with the same body replays the first response with `Idempotent-Replayed: true`; with another body it is 422; a retry racing the first waits for it, then replays its answer. Keys expire after 24 hours.")),
    request_body = TownIn,
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 201, description = "Created", body = TownOut, headers(("Location" = String), ("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 409, description = "The code, or the name within the county, is taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "A rule is broken (unknown county, the city level, a code outside the county)", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/towns")]
pub async fn create_town(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    body: Json<TownIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let (name, code) = validated_town_fields(&input.name, &input.code)?;
    write_then(
        &state.pool,
        ctx,
        move |tx| {
            let county_code = town_county(tx.conn, &tx.ctx.caller, input.county_id)?;
            code.belongs_to(&county_code)
                .map_err(|m| ApiError::invalid("code", m))?;
            let at = now();
            let row = q::insert(
                tx.conn,
                &NewTown {
                    county_id: input.county_id,
                    name,
                    code: code.as_str().to_string(),
                    kind: input.kind.as_str().to_string(),
                    version: 1,
                    created_at: at,
                    updated_at: at,
                },
            )?;
            let out = town_out(row)?;
            tx.audit(
                "create",
                "town",
                out.id,
                Some(out.county_id),
                NOTHING,
                Some(&out),
            )?;
            Ok(out)
        },
        move |out| {
            let location = format!("/api/v1/towns/{}", out.id);
            Ok(created_versioned(&out, location, out.version))
        },
    )
    .await
}

#[utoipa::path(
    tag = "towns",
    params(TownPath),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 200, description = "The town", body = TownOut, headers(("ETag" = String))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such town", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/towns/{id}")]
pub async fn get_town(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<TownPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let out = db::run(&state.pool, move |conn| {
        town_out(q::find(conn, id)?.ok_or_else(|| ApiError::not_found("town", id))?)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "towns",
    params(TownPath, ("If-Match" = String, Header, description = "The ETag last read")),
    request_body = TownPatch,
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 200, description = "Updated", body = TownOut, headers(("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such town", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The code, or the name within the county, is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[patch("/towns/{id}")]
pub async fn update_town(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<TownPath>,
    body: Json<TownPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    let patch = body.0;
    let mut v = Violations::new();
    let name = match &patch.name {
        Some(raw) => v.check("name", parse_name(raw, NAME_MAX)),
        None => None,
    };
    let code = match &patch.code {
        Some(raw) => v.check("code", TownCode::parse(raw)),
        None => None,
    };
    v.into_result()?;
    let out = write(&state.pool, ctx, move |tx| {
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
            name,
            code: code.map(|c| c.as_str().to_string()),
            kind: patch.kind.map(|k| k.as_str().to_string()),
            version: Some(current.version + 1),
            updated_at: Some(now()),
        };
        let row =
            q::update(tx.conn, id, expected, &changes)?.ok_or(ApiError::PreconditionFailed)?;
        let before = town_out(current)?;
        let out = town_out(row)?;
        tx.audit(
            "update",
            "town",
            id,
            Some(out.county_id),
            Some(&before),
            Some(&out),
        )?;
        Ok(out)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "towns",
    params(TownPath, ("If-Match" = String, Header, description = "The ETag last read")),
    security(("bearer" = [])),
    responses(
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such town", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Sites depend on it", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[delete("/towns/{id}")]
pub async fn delete_town(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<TownPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    write(&state.pool, ctx, move |tx| {
        let current = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("town", id))?;
        town_county(tx.conn, &tx.ctx.caller, current.county_id)?;
        if current.version != expected || !q::delete(tx.conn, id, expected)? {
            return Err(ApiError::PreconditionFailed);
        }
        let before = town_out(current)?;
        tx.audit(
            "delete",
            "town",
            id,
            Some(before.county_id),
            Some(&before),
            NOTHING,
        )
    })
    .await
    .map_err(|e| match e {
        ApiError::Conflict(_) => ApiError::Conflict(format!(
            "town {id} still has sites; close or move them first"
        )),
        other => other,
    })?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_towns)
        .service(create_town)
        .service(get_town)
        .service(update_town)
        .service(delete_town);
}
