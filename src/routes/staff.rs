//! `/api/v1/staff`: social workers, their postings over time, and the counts in post.
//! Phone and ID numbers are masked for everyone but admins and the employing county.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::staff::{
    self as q, NewPosting, PostingRow, StaffFilter, StaffRow, StaffSort, StaffValues,
};
use crate::db::{self, counties as county_q, sites as site_q, DbConnection};
use crate::domain::parse_ref;
use crate::domain::site::SiteKind;
use crate::domain::staff::{
    mask_id_number, mask_phone, parse_phone, plan_posting, Certification, Gender, HiredVia,
    IdNumber, PostingPlan, PostingRole, Span,
};
use crate::domain::{business_date, parse_name, Violations};
use crate::error::{ApiError, Problem};
use crate::policy::{Caller, CountyScope};
use crate::routes::common::{
    created_versioned, double_option, expected_version, now, ok_versioned, parse_q, parse_sort,
    stored, utc, Json, Page, Paging,
};
use crate::routes::counties::county_scope;
use crate::routes::responses::*;
use crate::state::AppState;
use crate::write::{write, write_then, WriteCtx, NOTHING};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffIn {
    /// The employing county; postings stay inside it.
    pub county_id: i32,
    pub name: String,
    pub gender: Gender,
    /// Personal data.
    pub phone: Option<String>,
    /// Personal data: an 18-character resident ID number, checked with the GB 11643 check digit.
    #[schema(pattern = "^[0-9]{17}[0-9Xx]$")]
    pub id_number: Option<String>,
    /// Free text, e.g. 本科.
    pub education: Option<String>,
    pub certification: Certification,
    pub hired_via: HiredVia,
    /// The county's own key, unique within the county.
    #[serde(rename = "ref")]
    #[schema(rename = "ref", pattern = "^[A-Za-z0-9._/-]{1,64}$")]
    pub ref_: String,
}

/// Changes to a person; absent fields stay, `null` clears. The employing county never changes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffPatch {
    pub name: Option<String>,
    pub gender: Option<Gender>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub id_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub education: Option<Option<String>>,
    pub certification: Option<Certification>,
    pub hired_via: Option<HiredVia>,
    #[serde(rename = "ref")]
    #[schema(rename = "ref")]
    pub ref_: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffOut {
    pub id: i32,
    pub county_id: i32,
    pub name: String,
    pub gender: Gender,
    /// Masked (`138****5678`) unless the caller is an admin or of the employing county.
    pub phone: Option<String>,
    /// Masked (`4453**********123X`) unless the caller is an admin or of the employing county.
    pub id_number: Option<String>,
    /// Whether `phone` and `id_number` are masked for this caller.
    pub personal_data_masked: bool,
    pub education: Option<String>,
    pub certification: Certification,
    pub certification_label: String,
    pub hired_via: HiredVia,
    #[serde(rename = "ref")]
    #[schema(rename = "ref")]
    pub ref_: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A posting to a site, covering `[from, to)`. A new posting that starts after the person's
/// open one ends that one on the same day: a transfer.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostingIn {
    /// A station or point of the person's county, not closed.
    pub station_id: i32,
    pub role: PostingRole,
    #[serde(rename = "from")]
    #[schema(rename = "from")]
    pub from_on: NaiveDate,
    /// The first day no longer in post; absent while in post.
    #[serde(rename = "to")]
    #[schema(rename = "to")]
    pub to_on: Option<NaiveDate>,
}

/// End a posting (the person leaves) or correct its end; `null` reopens it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostingPatch {
    #[serde(rename = "to", default, deserialize_with = "double_option")]
    #[schema(rename = "to", value_type = Option<NaiveDate>)]
    pub to_on: Option<Option<NaiveDate>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostingOut {
    pub id: i32,
    pub staff_id: i32,
    pub station_id: i32,
    pub site_kind: SiteKind,
    pub role: PostingRole,
    #[serde(rename = "from")]
    #[schema(rename = "from")]
    pub from_on: NaiveDate,
    #[serde(rename = "to")]
    #[schema(rename = "to")]
    pub to_on: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffCountOut {
    pub county_id: i32,
    pub site_kind: SiteKind,
    /// People in post at the county's sites of this kind on the date.
    pub in_post: i64,
    /// Of them, those with a social-work certificate.
    pub certified: i64,
    /// `certified / in_post`, 0 when nobody is in post.
    pub certified_share: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SiteCountOut {
    pub station_id: i32,
    pub in_post: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffCountsOut {
    pub as_of: NaiveDate,
    pub by_county: Vec<StaffCountOut>,
    /// Per site, for the county asked for (all when none).
    pub by_site: Vec<SiteCountOut>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StaffListQuery {
    pub county_id: Option<i32>,
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

pub fn staff_out(row: StaffRow, caller: &Caller) -> Result<StaffOut, ApiError> {
    let sees = caller.sees_personal_data_of(row.county_id);
    let certification = stored(Certification::parse(&row.certification))?;
    Ok(StaffOut {
        id: row.id,
        county_id: row.county_id,
        name: row.name,
        gender: stored(Gender::parse(&row.gender))?,
        phone: row.phone.map(|p| if sees { p } else { mask_phone(&p) }),
        id_number: row
            .id_number
            .map(|n| if sees { n } else { mask_id_number(&n) }),
        personal_data_masked: !sees,
        education: row.education,
        certification,
        certification_label: certification.label().into(),
        hired_via: stored(HiredVia::parse(&row.hired_via))?,
        ref_: row.ref_,
        version: row.version,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    })
}

pub fn posting_out(row: PostingRow) -> Result<PostingOut, ApiError> {
    Ok(PostingOut {
        id: row.id,
        staff_id: row.staff_id,
        station_id: row.station_id,
        site_kind: stored(SiteKind::parse(&row.site_kind))?,
        role: stored(PostingRole::parse(&row.role))?,
        from_on: row.from_on,
        to_on: row.to_on,
        created_at: utc(row.created_at),
    })
}

/// Checks a person against the rules and the caller's rights; used by the API and batches.
pub fn validated_staff(
    conn: &mut DbConnection,
    caller: &Caller,
    input: &StaffIn,
    existing: Option<&StaffRow>,
) -> Result<StaffValues, ApiError> {
    let mut v = Violations::new();
    let name = v.check("name", parse_name(&input.name, 50));
    let reference = v.check("ref", parse_ref(&input.ref_));
    let phone = match &input.phone {
        Some(p) if !p.trim().is_empty() => v.check("phone", parse_phone(p)),
        _ => None,
    };
    let id_number = match &input.id_number {
        Some(n) if !n.trim().is_empty() => v.check("id_number", IdNumber::parse(n)),
        _ => None,
    };
    let education = match &input.education {
        Some(e) if !e.trim().is_empty() => v.check("education", parse_name(e, 50)),
        _ => None,
    };
    v.into_result()?;
    let county = county_q::find(conn, input.county_id)?.ok_or_else(|| {
        ApiError::invalid(
            "county_id",
            format!("county {} does not exist", input.county_id),
        )
    })?;
    caller.require_county_write(county_scope(&county))?;
    if existing.is_some_and(|e| e.county_id != input.county_id) {
        return Err(ApiError::invalid(
            "county_id",
            "the employing county never changes",
        ));
    }
    let (Some(name), Some(reference)) = (name, reference) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    Ok(StaffValues {
        county_id: input.county_id,
        name,
        gender: input.gender.as_str().into(),
        phone,
        id_number: id_number.map(|n| n.as_str().to_string()),
        education,
        certification: input.certification.as_str().into(),
        hired_via: input.hired_via.as_str().into(),
        ref_: reference,
        version: existing.map(|e| e.version + 1).unwrap_or(1),
        updated_at: now(),
    })
}

/// Adds a posting to a person (already loaded and authorised), ending an earlier open one on
/// the same day when this is a transfer. Used by the API and batches.
pub fn add_posting(
    conn: &mut DbConnection,
    person: &StaffRow,
    input: &PostingIn,
    today: NaiveDate,
) -> Result<PostingRow, ApiError> {
    let mut v = Violations::new();
    business_date(&mut v, "from", Some(input.from_on), today);
    business_date(&mut v, "to", input.to_on, today);
    if input.to_on.is_some_and(|t| t <= input.from_on) {
        v.add("to", "must be after from: a posting covers [from, to)");
    }
    v.into_result()?;
    let site = site_q::find(conn, input.station_id)?.ok_or_else(|| {
        ApiError::invalid(
            "station_id",
            format!("site {} does not exist", input.station_id),
        )
    })?;
    if site.county_id != person.county_id {
        return Err(ApiError::invalid(
            "station_id",
            "postings stay inside the employing county",
        ));
    }
    if site.closed_on.is_some_and(|c| c <= input.from_on) {
        return Err(ApiError::invalid(
            "station_id",
            "the site is closed on that date",
        ));
    }
    if input.from_on < site.planned_on {
        return Err(ApiError::invalid(
            "from",
            format!("the site was planned only on {}", site.planned_on),
        ));
    }
    let at = now();
    q::bump_version(conn, person.id, at)?;
    let existing: Vec<(i32, Span)> = q::postings_of(conn, person.id)?
        .iter()
        .map(|p| {
            (
                p.id,
                Span {
                    from: p.from_on,
                    to: p.to_on,
                },
            )
        })
        .collect();
    let new = Span {
        from: input.from_on,
        to: input.to_on,
    };
    match plan_posting(&existing, new) {
        PostingPlan::Overlaps(other) => Err(ApiError::invalid(
            "from",
            format!("overlaps posting {other}: one person's postings never overlap"),
        )),
        PostingPlan::Start { end_open } => {
            if let Some(open) = end_open {
                q::set_posting_end(conn, open, Some(input.from_on))?;
            }
            Ok(q::insert_posting(
                conn,
                &NewPosting {
                    staff_id: person.id,
                    station_id: site.id,
                    county_id: site.county_id,
                    site_kind: site.kind,
                    role: input.role.as_str().into(),
                    from_on: input.from_on,
                    to_on: input.to_on,
                    created_at: at,
                },
            )?)
        }
    }
}

fn scope_of(person: &StaffRow) -> CountyScope {
    CountyScope::county(person.county_id)
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
        certification: query.certification.map(|c| c.as_str().to_string()),
        in_post_on: query.in_post_on,
        station_id: query.station_id,
        kind: query.kind.map(|k| k.as_str().to_string()),
        q: parse_q(query.q.as_deref())?,
    };
    let page = db::run(&state.pool, move |conn| {
        let (rows, total) = q::list(conn, &filter, &sort, limit, offset)?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(|r| staff_out(r, &caller))
                .collect::<Result<_, _>>()?,
            total,
            limit,
            offset,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
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
    let county_id = query.county_id;
    let out = db::run(&state.pool, move |conn| {
        let in_post = q::in_post_by_county_and_kind(conn, day)?;
        let certified = q::certified_in_post(conn, day)?;
        let by_county = in_post
            .into_iter()
            .map(|(county_id, kind, n)| {
                let c = certified
                    .iter()
                    .find(|(cc, ck, _)| *cc == county_id && *ck == kind)
                    .map(|x| x.2)
                    .unwrap_or(0);
                Ok(StaffCountOut {
                    county_id,
                    site_kind: stored(SiteKind::parse(&kind))?,
                    in_post: n,
                    certified: c,
                    certified_share: if n > 0 { c as f64 / n as f64 } else { 0.0 },
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let by_site = q::in_post_by_site(conn, day, county_id)?
            .into_iter()
            .map(|(station_id, in_post)| SiteCountOut {
                station_id,
                in_post,
            })
            .collect();
        Ok(StaffCountsOut {
            as_of: day,
            by_county,
            by_site,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(
    tag = "staff",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: the same key (1 to 255 visible ASCII characters, scoped to the caller and the path) with the same body replays the first response with `Idempotent-Replayed: true`; with another body it is 422; a retry racing the first waits for it, then replays its answer. Keys expire after 24 hours.")),
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
        move |tx| {
            let values = validated_staff(tx.conn, &tx.ctx.caller, &input, None)?;
            let row = q::insert(tx.conn, &values, values.updated_at)?;
            let out = staff_out(row, &tx.ctx.caller)?;
            tx.audit(
                "create",
                "staff",
                out.id,
                Some(out.county_id),
                NOTHING,
                Some(&out),
            )?;
            Ok(out)
        },
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
    let out = db::run(&state.pool, move |conn| {
        let row = q::find(conn, id)?.ok_or_else(|| ApiError::not_found("person", id))?;
        staff_out(row, &caller)
    })
    .await?;
    Ok(ok_versioned(&out, out.version))
}

#[utoipa::path(
    tag = "staff",
    params(StaffPath, ("If-Match" = String, Header, description = "The ETag last read")),
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
    let p = body.0;
    let out = write(&state.pool, ctx, move |tx| {
        let current = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("person", id))?;
        tx.ctx.caller.require_county_write(scope_of(&current))?;
        if current.version != expected {
            return Err(ApiError::PreconditionFailed);
        }
        let input = StaffIn {
            county_id: current.county_id,
            name: p.name.unwrap_or_else(|| current.name.clone()),
            gender: match p.gender {
                Some(g) => g,
                None => stored(Gender::parse(&current.gender))?,
            },
            phone: p.phone.unwrap_or_else(|| current.phone.clone()),
            id_number: p.id_number.unwrap_or_else(|| current.id_number.clone()),
            education: p.education.unwrap_or_else(|| current.education.clone()),
            certification: match p.certification {
                Some(c) => c,
                None => stored(Certification::parse(&current.certification))?,
            },
            hired_via: match p.hired_via {
                Some(h) => h,
                None => stored(HiredVia::parse(&current.hired_via))?,
            },
            ref_: p.ref_.unwrap_or_else(|| current.ref_.clone()),
        };
        let values = validated_staff(tx.conn, &tx.ctx.caller, &input, Some(&current))?;
        let row = q::update(tx.conn, id, expected, &values)?.ok_or(ApiError::PreconditionFailed)?;
        let before = staff_out(current, &tx.ctx.caller)?;
        let out = staff_out(row, &tx.ctx.caller)?;
        tx.audit(
            "update",
            "staff",
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
    tag = "staff",
    params(StaffPath, ("If-Match" = String, Header, description = "The ETag last read")),
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
    write(&state.pool, ctx, move |tx| {
        let current = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("person", id))?;
        tx.ctx.caller.require_county_write(scope_of(&current))?;
        if current.version != expected || !q::delete(tx.conn, id, expected)? {
            return Err(ApiError::PreconditionFailed);
        }
        let before = staff_out(current, &tx.ctx.caller)?;
        tx.audit(
            "delete",
            "staff",
            id,
            Some(before.county_id),
            Some(&before),
            NOTHING,
        )
    })
    .await
    .map_err(|e| match e {
        ApiError::Conflict(_) => ApiError::Conflict(format!(
            "person {id} has postings, which are history; end the current one instead"
        )),
        other => other,
    })?;
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
    let items = db::run(&state.pool, move |conn| {
        q::find(conn, id)?.ok_or_else(|| ApiError::not_found("person", id))?;
        q::postings_of(conn, id)?
            .into_iter()
            .map(posting_out)
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    Ok(HttpResponse::Ok().json(items))
}

#[utoipa::path(
    tag = "staff",
    params(StaffPath, ("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: the same key (1 to 255 visible ASCII characters, scoped to the caller and the path) with the same body replays the first response with `Idempotent-Replayed: true`; with another body it is 422; a retry racing the first waits for it, then replays its answer. Keys expire after 24 hours.")),
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
        move |tx| {
            let person = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("person", id))?;
            tx.ctx.caller.require_county_write(scope_of(&person))?;
            let out = posting_out(add_posting(tx.conn, &person, &input, today)?)?;
            tx.audit(
                "create",
                "posting",
                out.id,
                Some(person.county_id),
                NOTHING,
                Some(&out),
            )?;
            Ok(out)
        },
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
        let person = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("person", id))?;
        tx.ctx.caller.require_county_write(scope_of(&person))?;
        if person.version != expected {
            return Err(ApiError::PreconditionFailed);
        }
        let all = q::postings_of(tx.conn, id)?;
        let posting = all
            .iter()
            .find(|p| p.id == posting_id)
            .ok_or_else(|| ApiError::not_found("posting", posting_id))?;
        let Some(to) = patch.to_on else {
            return posting_out(posting.clone());
        };
        let mut v = Violations::new();
        business_date(&mut v, "to", to, today);
        if to.is_some_and(|t| t <= posting.from_on) {
            v.add("to", "must be after from: a posting covers [from, to)");
        }
        let span = Span {
            from: posting.from_on,
            to,
        };
        if let Some(other) = all.iter().find(|p| {
            p.id != posting_id
                && span.overlaps(&Span {
                    from: p.from_on,
                    to: p.to_on,
                })
        }) {
            v.add("to", format!("would overlap posting {}", other.id));
        }
        v.into_result()?;
        let before = posting_out(posting.clone())?;
        q::bump_version(tx.conn, id, now())?;
        let out = posting_out(q::set_posting_end(tx.conn, posting_id, to)?)?;
        tx.audit(
            "update",
            "posting",
            posting_id,
            Some(person.county_id),
            Some(&before),
            Some(&out),
        )?;
        Ok(out)
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
