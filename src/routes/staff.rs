//! `/api/v1/staff`: social workers, their postings over time, and the counts in post.
//! Phone and ID numbers are masked for everyone but admins and the employing county.

use std::hash::{Hash, Hasher};

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db;
use crate::db::staff::{StaffFilter, StaffSort};
use crate::domain::site::SiteKind;
use crate::domain::staff::Certification;
use crate::error::{ApiError, Problem};
use crate::policy::Caller;
use crate::routes::common::Tagged;
use crate::routes::common::{
    created_versioned, expected_version, ok_versioned, parse_q, parse_sort, Json, Page, Paging,
};
use crate::routes::responses::*;
use crate::service::staff::{
    self, PostingIn, PostingOut, PostingPatch, StaffCountsOut, StaffIn, StaffOut, StaffPatch,
};
use crate::state::AppState;
use crate::write::{write, write_then, WriteCtx};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StaffListQuery {
    pub county_id: Option<i32>,
    /// Only this city's.
    pub city_id: Option<i32>,
    /// People posted at this site (on `in_post_on` when given, at any time otherwise).
    pub station_id: Option<i32>,
    /// People posted at sites of this kind.
    pub kind: Option<SiteKind>,
    pub certification: Option<Certification>,
    /// People in post on this date.
    pub in_post_on: Option<NaiveDate>,
    /// Text search on names and refs.
    pub q: Option<String>,
    /// `id`, `name`, `county_id`, `certification`; `-` for descending.
    #[param(
        pattern = r"^-?(id|name|county_id|certification)(,-?(id|name|county_id|certification))*$"
    )]
    pub sort: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CountsQuery {
    /// Default today in the bureau's time zone.
    pub as_of: Option<NaiveDate>,
    /// Limit the per-site counts to one county.
    pub county_id: Option<i32>,
    /// Limit all counts to one city's counties.
    pub city_id: Option<i32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct StaffPath {
    /// The person's id.
    pub id: i32,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PostingPath {
    /// The person's id.
    pub id: i32,
    /// The posting's id.
    pub posting_id: i32,
}
/// The list's ETag: masking depends on the caller.
impl Tagged for StaffOut {
    fn tag<H: Hasher>(&self, into: &mut H) {
        (
            self.id,
            self.version,
            self.updated_at,
            self.personal_data_masked,
        )
            .hash(into);
    }
}

#[utoipa::path(
    tag = "staff",
    params(StaffListQuery, Paging),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of people; personal data masked for those without the right", body = Page<StaffOut>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/staff")]
pub async fn list_staff(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<StaffListQuery>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let sort = parse_sort(
        query.sort.as_deref(),
        &[
            ("id", StaffSort::Id),
            ("name", StaffSort::Name),
            ("county_id", StaffSort::CountyId),
            ("certification", StaffSort::Certification),
        ],
    )?;
    let filter = StaffFilter {
        county_id: query.county_id,
        city_id: query.city_id,
        certification: query.certification,
        in_post_on: query.in_post_on,
        station_id: query.station_id,
        kind: query.kind,
        q: parse_q(query.q.as_deref())?,
    };
    let listed = db::run(&state.pool, move |conn| {
        staff::list(conn, &caller, &filter, &sort, limit, offset)
    })
    .await?;
    Page::of(listed, limit, offset).respond(&req)
}

#[utoipa::path(
    tag = "staff",
    params(CountsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "People in post on the date, per county and site kind, and per site", body = StaffCountsOut),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/staff/counts")]
pub async fn staff_counts(
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<CountsQuery>,
) -> Result<HttpResponse, ApiError> {
    let day = query.as_of.unwrap_or_else(|| state.today());
    let (county_id, city_id) = (query.county_id, query.city_id);
    let out = db::run(&state.pool, move |conn| {
        staff::counts(conn, day, county_id, city_id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(
    tag = "staff",
    params(IdempotencyKey),
    request_body = StaffIn,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = StaffOut, headers(("Location" = String), ("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 409, description = "The ref is taken in the county", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "A rule is broken (e.g. an ID number's check digit)", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/staff")]
pub async fn create_staff(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    body: Json<StaffIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    write_then(
        &state.pool,
        ctx,
        move |tx| staff::create(tx, input),
        move |out| {
            let location = format!("/api/v1/staff/{}", out.id);
            Ok(created_versioned(&out, location, out.version))
        },
    )
    .await
}

#[utoipa::path(
    tag = "staff",
    params(StaffPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The person; personal data masked for those without the right", body = StaffOut, headers(("ETag" = String))),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 404, description = "No such person", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/staff/{id}")]
pub async fn get_staff(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<StaffPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let out = db::run(&state.pool, move |conn| staff::get(conn, &caller, id)).await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "staff",
    params(StaffPath, IfMatch),
    request_body = StaffPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = StaffOut, headers(("ETag" = String))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such person", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The ref is taken in the county", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[patch("/staff/{id}")]
pub async fn update_staff(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<StaffPath>,
    body: Json<StaffPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    let patch = body.0;
    let out = write(&state.pool, ctx, move |tx| {
        staff::update(tx, id, expected, patch)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "staff",
    params(StaffPath, IfMatch),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such person", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The person has postings: end them instead", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = Stale),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[delete("/staff/{id}")]
pub async fn delete_staff(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<StaffPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let expected = expected_version(&req)?;
    write(&state.pool, ctx, move |tx| staff::delete(tx, id, expected)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    tag = "staff",
    params(StaffPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every posting, oldest first", body = Vec<PostingOut>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 404, description = "No such person", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/staff/{id}/postings")]
pub async fn list_postings(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<StaffPath>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let items = db::run(&state.pool, move |conn| staff::postings(conn, id)).await?;
    Ok(HttpResponse::Ok().json(items))
}

#[utoipa::path(
    tag = "staff",
    params(StaffPath, IdempotencyKey),
    request_body = PostingIn,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Posted; an open earlier posting was ended on the same day (a transfer)", body = PostingOut),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such person", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "A rule is broken (overlap, another county's site, a closed site)", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
        (status = 409, description = "A request with the same Idempotency-Key is still in progress", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/staff/{id}/postings")]
pub async fn create_posting(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    path: web::Path<StaffPath>,
    body: Json<PostingIn>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let input = body.0;
    let today = state.today();
    write_then(
        &state.pool,
        ctx,
        move |tx| staff::create_posting(tx, id, input, today),
        move |out| {
            Ok(HttpResponse::Created()
                .insert_header((
                    actix_web::http::header::LOCATION,
                    format!("/api/v1/staff/{id}/postings"),
                ))
                .json(out))
        },
    )
    .await
}

#[utoipa::path(
    tag = "staff",
    params(PostingPath, ("If-Match" = String, Header, description = "The person's ETag last read")),
    request_body = PostingPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The posting, ended (or reopened)", body = PostingOut),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such person or posting", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The person changed since read", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 428, response = IfMatchMissing),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[patch("/staff/{id}/postings/{posting_id}")]
pub async fn update_posting(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    req: HttpRequest,
    path: web::Path<PostingPath>,
    body: Json<PostingPatch>,
) -> Result<HttpResponse, ApiError> {
    let (id, posting_id) = (path.id, path.posting_id);
    let expected = expected_version(&req)?;
    let patch = body.0;
    let today = state.today();
    let out = write(&state.pool, ctx, move |tx| {
        staff::update_posting(tx, id, posting_id, expected, patch, today)
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_staff)
        .service(staff_counts)
        .service(create_staff)
        .service(get_staff)
        .service(update_staff)
        .service(delete_staff)
        .service(list_postings)
        .service(create_posting)
        .service(update_posting);
}
