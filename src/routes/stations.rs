//! `/api/v1/stations`: sites, both stations (社工站) and points (社工点), told apart by `kind`,
//! with their dated equipment checks.

use std::hash::{Hash, Hasher};

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db;
use crate::db::sites::{LevelFilter, SiteFilter, SiteSort};
use crate::domain::site::{EquipmentLevel, SiteKind, SiteStatus};
use crate::error::{ApiError, Problem};
use crate::policy::Caller;
use crate::routes::common::Tagged;
use crate::routes::common::{
    created_versioned, expected_version, ok_versioned, parse_q, parse_sort, Json, Page, Paging,
};
use crate::routes::responses::*;
use crate::service::sites::{self, CheckIn, CheckOut, SiteIn, SiteOut, SitePatch};
use crate::state::AppState;
use crate::write::{write, write_then, WriteCtx};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SiteListQuery {
    pub county_id: Option<i32>,
    /// Only this city's.
    pub city_id: Option<i32>,
    pub town_id: Option<i32>,
    /// Points reporting to this station.
    pub station_id: Option<i32>,
    pub kind: Option<SiteKind>,
    pub status: Option<SiteStatus>,
    /// Today's level.
    pub equipment_level: Option<EquipmentLevel>,
    pub premises_secured: Option<bool>,
    /// Text search on names and refs.
    pub q: Option<String>,
    /// `id`, `name`, `county_id`, `status`, `planned_on`, `premises_secured_on`, `completed_on`; `-` for descending.
    #[param(
        pattern = r"^-?(id|name|county_id|status|planned_on|premises_secured_on|completed_on)(,-?(id|name|county_id|status|planned_on|premises_secured_on|completed_on))*$"
    )]
    pub sort: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SiteAsOfQuery {
    /// Show status, premises and equipment as of this date; default today.
    pub as_of: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SitePath {
    /// The site's id.
    pub id: i32,
}
/// The list's ETag: its status and equipment are as of the date.
impl Tagged for SiteOut {
    fn tag<H: Hasher>(&self, into: &mut H) {
        (
            self.id,
            self.version,
            self.updated_at,
            self.as_of,
            self.equipment.checked_on,
            &self.equipment.items,
        )
            .hash(into);
    }
}

#[utoipa::path(
    tag = "stations",
    params(SiteListQuery, Paging, SiteAsOfQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of sites", body = Page<SiteOut>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/stations")]
pub async fn list_stations(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<SiteListQuery>,
    paging: web::Query<Paging>,
    as_of: web::Query<SiteAsOfQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let sort = parse_sort(
        query.sort.as_deref(),
        &[
            ("id", SiteSort::Id),
            ("name", SiteSort::Name),
            ("county_id", SiteSort::CountyId),
            ("status", SiteSort::Status),
            ("planned_on", SiteSort::PlannedOn),
            ("premises_secured_on", SiteSort::PremisesSecuredOn),
            ("completed_on", SiteSort::CompletedOn),
        ],
    )?;
    let filter = SiteFilter {
        county_id: query.county_id,
        city_id: query.city_id,
        town_id: query.town_id,
        station_id: query.station_id,
        kind: query.kind,
        status: query.status,
        premises_secured: query.premises_secured,
        equipment_level: query.equipment_level.map(|l| match l {
            EquipmentLevel::Full => LevelFilter::Full,
            EquipmentLevel::Basic => LevelFilter::Basic,
            EquipmentLevel::Incomplete => LevelFilter::Incomplete,
            EquipmentLevel::None => LevelFilter::NoPremises,
        }),
        q: parse_q(query.q.as_deref())?,
    };
    let today = state.today();
    let day = as_of.as_of.unwrap_or(today);
    let listed = db::run(&state.pool, move |conn| {
        sites::list(conn, &filter, &sort, limit, offset, day, today)
    })
    .await?;
    Page::of(listed, limit, offset).respond(&req)
}

#[utoipa::path(
    tag = "stations",
    params(IdempotencyKey),
    request_body = SiteIn,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = SiteOut, headers(("Location" = String), ("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 409, description = "The ref is taken in the county", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/stations")]
pub async fn create_station(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    body: Json<SiteIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let today = state.today();
    write_then(
        &state.pool,
        ctx,
        move |tx| sites::create(tx, input, today),
        move |out| {
            let location = format!("/api/v1/stations/{}", out.id);
            Ok(created_versioned(&out, location, out.version))
        },
    )
    .await
}

#[utoipa::path(
    tag = "stations",
    params(SitePath, SiteAsOfQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The site", body = SiteOut, headers(("ETag" = String))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 404, description = "No such site", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/stations/{id}")]
pub async fn get_station(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<SitePath>,
    query: web::Query<SiteAsOfQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let day = query.as_of.unwrap_or_else(|| state.today());
    let out = db::run(&state.pool, move |conn| sites::get(conn, id, day)).await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "stations",
    params(SitePath, IfMatch),
    request_body = SitePatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = SiteOut, headers(("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such site", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The ref is taken in the county", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[patch("/stations/{id}")]
pub async fn update_station(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<SitePath>,
    body: Json<SitePatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    let patch = body.0;
    let today = state.today();
    let out = write(&state.pool, ctx, move |tx| {
        sites::update(tx, id, expected, patch, today)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "stations",
    params(SitePath, IfMatch),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such site", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It has equipment checks, postings or points: close it instead", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[delete("/stations/{id}")]
pub async fn delete_station(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<SitePath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    let today = state.today();
    write(&state.pool, ctx, move |tx| {
        sites::delete(tx, id, expected, today)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    tag = "stations",
    params(SitePath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every check, oldest first", body = Vec<CheckOut>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 404, description = "No such site", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/stations/{id}/equipment-checks")]
pub async fn list_equipment_checks(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<SitePath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let items = db::run(&state.pool, move |conn| sites::checks(conn, id)).await?;
    Ok(HttpResponse::Ok().json(items))
}

#[utoipa::path(
    tag = "stations",
    params(SitePath, IdempotencyKey),
    request_body = CheckIn,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded; the site's level on and after that date follows it", body = CheckOut),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such site", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The site already has a check on that date", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "A rule is broken (unknown item, a date in the future)", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/stations/{id}/equipment-checks")]
pub async fn create_equipment_check(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    path: web::Path<SitePath>,
    body: Json<CheckIn>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let input = body.0;
    let today = state.today();
    write_then(
        &state.pool,
        ctx,
        move |tx| sites::create_check(tx, id, input, today),
        move |out| {
            Ok(HttpResponse::Created()
                .insert_header((
                    actix_web::http::header::LOCATION,
                    format!("/api/v1/stations/{id}/equipment-checks"),
                ))
                .json(out))
        },
    )
    .await
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_stations)
        .service(create_station)
        .service(get_station)
        .service(update_station)
        .service(delete_station)
        .service(list_equipment_checks)
        .service(create_equipment_check);
}
