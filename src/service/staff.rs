//! Social workers, their postings over time, and the counts in post. Phone and ID numbers
//! are masked for everyone but admins and the employing county (`policy`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::now;
use crate::db::counties::Scope;
use crate::db::staff::{
    self as q, NewPosting, PostingRow, StaffFilter, StaffRow, StaffSort, StaffValues,
};
use crate::db::{counties as county_q, sites as site_q, DbConnection};
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::site::SiteKind;
use crate::domain::staff::{
    mask_id_number, mask_phone, parse_phone, plan_posting, Certification, Gender, HiredVia,
    IdNumber, PostingPlan, PostingRole, Span,
};
use crate::domain::Ref;
use crate::domain::{business_date, Name, Violations};
use crate::error::ApiError;
use crate::policy::{self, Caller, CountyScope, PersonalData};
use crate::service::{double_option, still_in_use, utc, Listed};
use crate::write::{Tx, NOTHING};

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

/// A person as shown: phone and ID numbers masked unless `sees` (a right the caller has over
/// the employing county: [`PersonalData`]; anyone who may write the county has it).
pub fn staff_out(row: StaffRow, sees: bool) -> StaffOut {
    let certification = row.certification;
    StaffOut {
        id: row.id,
        county_id: row.county_id,
        name: row.name,
        gender: row.gender,
        phone: row.phone.map(|p| if sees { p } else { mask_phone(&p) }),
        id_number: row
            .id_number
            .map(|n| if sees { n } else { mask_id_number(&n) }),
        personal_data_masked: !sees,
        education: row.education,
        certification,
        certification_label: certification.label().into(),
        hired_via: row.hired_via,
        ref_: row.ref_,
        version: row.version,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    }
}

pub fn posting_out(row: PostingRow) -> PostingOut {
    PostingOut {
        id: row.id,
        staff_id: row.staff_id,
        station_id: row.station_id,
        site_kind: row.site_kind,
        role: row.role,
        from_on: row.from_on,
        to_on: row.to_on,
        created_at: utc(row.created_at),
    }
}

/// Checks a person against the rules and the caller's rights; used by the API and batches.
pub fn validated_staff(
    conn: &mut DbConnection,
    caller: &Caller,
    input: &StaffIn,
    existing: Option<&StaffRow>,
) -> Result<StaffValues, ApiError> {
    let mut v = Violations::new();
    let name = v.check("name", Name::parse(&input.name, 50));
    let reference = v.check("ref", Ref::parse(&input.ref_));
    let phone = match &input.phone {
        Some(p) if !p.trim().is_empty() => v.check("phone", parse_phone(p)),
        _ => None,
    };
    let id_number = match &input.id_number {
        Some(n) if !n.trim().is_empty() => v.check("id_number", IdNumber::parse(n)),
        _ => None,
    };
    let education = match &input.education {
        Some(e) if !e.trim().is_empty() => v.check("education", Name::parse(e, 50)),
        _ => None,
    };
    v.into_result()?;
    let county = county_q::find(conn, input.county_id)?.ok_or_else(|| {
        ApiError::invalid(
            "county_id",
            format!("county {} does not exist", input.county_id),
        )
    })?;
    caller.require_county_write(CountyScope::of(&county))?;
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
        name: name.into(),
        gender: input.gender,
        phone,
        id_number: id_number.map(|n| n.as_str().to_string()),
        education: education.map(String::from),
        certification: input.certification,
        hired_via: input.hired_via,
        ref_: reference.into(),
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
                    role: input.role,
                    from_on: input.from_on,
                    to_on: input.to_on,
                    created_at: at,
                },
            )?)
        }
    }
}

/// A page of people, personal data masked for a caller without the right.
pub fn list(
    conn: &mut DbConnection,
    caller: &Caller,
    filter: &StaffFilter,
    sort: &[(StaffSort, bool)],
    limit: i64,
    offset: i64,
) -> Result<Listed<StaffOut>, ApiError> {
    let (rows, total) = q::list(conn, filter, sort, limit, offset)?;
    let sight = PersonalData::of(conn, caller)?;
    Ok(Listed {
        items: rows
            .into_iter()
            .map(|r| {
                let sees = sight.covers(r.county_id);
                staff_out(r, sees)
            })
            .collect(),
        total,
    })
}

/// People in post on `day`, by county and site kind, and by site (of one county, or one
/// city's, when given).
pub fn counts(
    conn: &mut DbConnection,
    day: NaiveDate,
    county_id: Option<i32>,
    city_id: Option<i32>,
) -> Result<StaffCountsOut, ApiError> {
    let in_post = q::in_post_by_county_and_kind(conn, day, Scope::of_city(city_id))?;
    let certified = q::certified_in_post(conn, day, city_id)?;
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
                site_kind: kind,
                in_post: n,
                certified: c,
                certified_share: if n > 0 { c as f64 / n as f64 } else { 0.0 },
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let by_site = q::in_post_by_site(conn, day, county_id, city_id)?
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
}

/// Person `id`, personal data masked for a caller without the right.
pub fn get(conn: &mut DbConnection, caller: &Caller, id: i32) -> Result<StaffOut, ApiError> {
    let row = q::find(conn, id)?.ok_or_else(|| ApiError::not_found("person", id))?;
    let sees = PersonalData::of(conn, caller)?.covers(row.county_id);
    Ok(staff_out(row, sees))
}

/// Adds a person employed by a county the caller may write.
pub fn create(tx: &mut Tx<'_>, input: StaffIn) -> Result<StaffOut, ApiError> {
    let values = validated_staff(tx.conn, &tx.ctx.caller, &input, None)?;
    let row = q::insert(tx.conn, &values, values.updated_at)?;
    let out = staff_out(row, true);
    tx.audit(
        AuditAction::Create,
        AuditEntity::Staff,
        out.id,
        Some(out.county_id),
        NOTHING,
        Some(&out),
    )?;
    Ok(out)
}

/// Changes person `id` at version `expected`; the employing county never changes.
pub fn update(
    tx: &mut Tx<'_>,
    id: i32,
    expected: i32,
    p: StaffPatch,
) -> Result<StaffOut, ApiError> {
    let current = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("person", id))?;
    policy::writable_county(tx.conn, &tx.ctx.caller, current.county_id)?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    let input = StaffIn {
        county_id: current.county_id,
        name: p.name.unwrap_or_else(|| current.name.clone()),
        gender: match p.gender {
            Some(g) => g,
            None => current.gender,
        },
        phone: p.phone.unwrap_or_else(|| current.phone.clone()),
        id_number: p.id_number.unwrap_or_else(|| current.id_number.clone()),
        education: p.education.unwrap_or_else(|| current.education.clone()),
        certification: match p.certification {
            Some(c) => c,
            None => current.certification,
        },
        hired_via: match p.hired_via {
            Some(h) => h,
            None => current.hired_via,
        },
        ref_: p.ref_.unwrap_or_else(|| current.ref_.clone()),
    };
    let values = validated_staff(tx.conn, &tx.ctx.caller, &input, Some(&current))?;
    let row = q::update(tx.conn, id, expected, &values)?.ok_or(ApiError::PreconditionFailed)?;
    let before = staff_out(current, true);
    let out = staff_out(row, true);
    tx.audit(
        AuditAction::Update,
        AuditEntity::Staff,
        id,
        Some(out.county_id),
        Some(&before),
        Some(&out),
    )?;
    Ok(out)
}

/// Deletes person `id` at version `expected`; one with postings stays (409).
pub fn delete(tx: &mut Tx<'_>, id: i32, expected: i32) -> Result<(), ApiError> {
    let current = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("person", id))?;
    policy::writable_county(tx.conn, &tx.ctx.caller, current.county_id)?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    let deleted = q::delete(tx.conn, id, expected).map_err(|e| {
        still_in_use(e, || {
            format!("person {id} has postings, which are history; end the current one instead")
        })
    })?;
    if !deleted {
        return Err(ApiError::PreconditionFailed);
    }
    let before = staff_out(current, true);
    tx.audit(
        AuditAction::Delete,
        AuditEntity::Staff,
        id,
        Some(before.county_id),
        Some(&before),
        NOTHING,
    )
}

/// Person `id`'s postings, oldest first.
pub fn postings(conn: &mut DbConnection, id: i32) -> Result<Vec<PostingOut>, ApiError> {
    q::find(conn, id)?.ok_or_else(|| ApiError::not_found("person", id))?;
    Ok(q::postings_of(conn, id)?
        .into_iter()
        .map(posting_out)
        .collect())
}

/// Posts person `id` to a site of their county, ending an open posting on a transfer.
pub fn create_posting(
    tx: &mut Tx<'_>,
    id: i32,
    input: PostingIn,
    today: NaiveDate,
) -> Result<PostingOut, ApiError> {
    let person = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("person", id))?;
    policy::writable_county(tx.conn, &tx.ctx.caller, person.county_id)?;
    let out = posting_out(add_posting(tx.conn, &person, &input, today)?);
    tx.audit(
        AuditAction::Create,
        AuditEntity::Posting,
        out.id,
        Some(person.county_id),
        NOTHING,
        Some(&out),
    )?;
    Ok(out)
}

/// Sets or clears the end of posting `posting_id` of person `id` (at the person's version
/// `expected`); it may not come to overlap another.
pub fn update_posting(
    tx: &mut Tx<'_>,
    id: i32,
    posting_id: i32,
    expected: i32,
    patch: PostingPatch,
    today: NaiveDate,
) -> Result<PostingOut, ApiError> {
    let person = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("person", id))?;
    policy::writable_county(tx.conn, &tx.ctx.caller, person.county_id)?;
    if person.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    let all = q::postings_of(tx.conn, id)?;
    let posting = all
        .iter()
        .find(|p| p.id == posting_id)
        .ok_or_else(|| ApiError::not_found("posting", posting_id))?;
    let Some(to) = patch.to_on else {
        return Ok(posting_out(posting.clone()));
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
    let before = posting_out(posting.clone());
    q::bump_version(tx.conn, id, now())?;
    let out = posting_out(q::set_posting_end(tx.conn, posting_id, to)?);
    tx.audit(
        AuditAction::Update,
        AuditEntity::Posting,
        posting_id,
        Some(person.county_id),
        Some(&before),
        Some(&out),
    )?;
    Ok(out)
}
