//! Social-work training sessions (社工业务培训), pre-job or professional.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::now;
use crate::db::counties as county_q;
use crate::db::trainings::{
    self as q, NewTraining, TrainingChanges, TrainingFilter, TrainingRow, TrainingSort,
};
use crate::db::DbConnection;
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::training::TrainingKind;
use crate::domain::Ref;
use crate::domain::{business_date, Name, Violations};
use crate::error::ApiError;
use crate::policy::{Caller, CountyScope};
use crate::service::{double_option, utc, Listed};
use crate::write::{Tx, NOTHING};

const TITLE_MAX: usize = 100;

/// A training session held.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingIn {
    /// The county that held it (the city level included; only administrators write it).
    pub county_id: i32,
    pub kind: TrainingKind,
    #[schema(example = "2021年社工站岗前培训")]
    pub title: String,
    /// When it was held; not after today.
    pub held_on: NaiveDate,
    /// How many attended, when known; not negative.
    #[schema(minimum = 0)]
    pub attendees: Option<i32>,
    /// The county's own key for it (1–64 characters, unique within the county); generated when
    /// absent.
    #[serde(rename = "ref")]
    #[schema(example = "TR-2021-01")]
    pub reference: Option<String>,
}

/// Changes to a training session; absent fields stay as they are, `null` clears `attendees`.
/// A session never changes county.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingPatch {
    pub kind: Option<TrainingKind>,
    pub title: Option<String>,
    pub held_on: Option<NaiveDate>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>, minimum = 0)]
    pub attendees: Option<Option<i32>>,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrainingOut {
    pub id: i32,
    pub county_id: i32,
    pub kind: TrainingKind,
    /// The Chinese label of `kind` (岗前培训, 专业培训).
    pub kind_label: String,
    pub title: String,
    pub held_on: NaiveDate,
    pub attendees: Option<i32>,
    #[serde(rename = "ref")]
    pub reference: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn training_out(row: TrainingRow) -> TrainingOut {
    let kind = row.kind;
    TrainingOut {
        id: row.id,
        county_id: row.county_id,
        kind,
        kind_label: kind.label().to_string(),
        title: row.title,
        held_on: row.held_on,
        attendees: row.attendees,
        reference: row.reference,
        version: row.version,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    }
}

/// The county a session is written for: it exists and the caller may write it.
pub fn training_county(
    conn: &mut DbConnection,
    caller: &Caller,
    county_id: i32,
) -> Result<(), ApiError> {
    let county = county_q::find(conn, county_id)?.ok_or_else(|| {
        ApiError::invalid("county_id", format!("county {county_id} does not exist"))
    })?;
    caller.require_county_write(CountyScope::of(&county))
}

/// A session's title, date, attendees and ref, checked; a missing ref is generated. Used by the
/// API and county batches.
pub fn validated_training_fields(
    title: &str,
    held_on: NaiveDate,
    attendees: Option<i32>,
    reference: Option<&str>,
    today: NaiveDate,
) -> Result<(String, String), ApiError> {
    let mut v = Violations::new();
    let title = v.check("title", Name::parse(title, TITLE_MAX));
    business_date(&mut v, "held_on", Some(held_on), today);
    check_attendees(&mut v, attendees);
    let reference = match reference {
        Some(raw) => v.check("ref", Ref::parse(raw)),
        None => Some(Ref::generated("tr")),
    };
    v.into_result()?;
    match (title, reference) {
        (Some(title), Some(reference)) => Ok((title.into(), reference.into())),
        _ => Err(ApiError::internal("validated fields missing")),
    }
}

fn check_attendees(v: &mut Violations, attendees: Option<i32>) {
    if attendees.is_some_and(|n| n < 0) {
        v.add("attendees", "must not be negative");
    }
}

/// A page of training sessions.
pub fn list(
    conn: &mut DbConnection,
    filter: &TrainingFilter,
    sort: &[(TrainingSort, bool)],
    limit: i64,
    offset: i64,
) -> Result<Listed<TrainingOut>, ApiError> {
    let (rows, total) = q::list(conn, filter, sort, limit, offset)?;
    Ok(Listed {
        items: rows.into_iter().map(training_out).collect(),
        total,
    })
}

/// Training session `id`.
pub fn get(conn: &mut DbConnection, id: i32) -> Result<TrainingOut, ApiError> {
    Ok(training_out(
        q::find(conn, id)?.ok_or_else(|| ApiError::not_found("training", id))?,
    ))
}

/// Records a session held by a county the caller may write.
pub fn create(
    tx: &mut Tx<'_>,
    input: TrainingIn,
    today: NaiveDate,
) -> Result<TrainingOut, ApiError> {
    let new = new_training(tx.conn, &tx.ctx.caller, &input, today)?;
    let row = q::insert(tx.conn, &new)?;
    let out = training_out(row);
    tx.audit(
        AuditAction::Create,
        AuditEntity::Training,
        out.id,
        Some(out.county_id),
        NOTHING,
        Some(&out),
    )?;
    Ok(out)
}

/// A new session checked against every rule and the caller's rights, ready to store (a missing
/// ref generated); used by [`create`] and county batches.
pub fn new_training(
    conn: &mut DbConnection,
    caller: &Caller,
    input: &TrainingIn,
    today: NaiveDate,
) -> Result<NewTraining, ApiError> {
    let (title, reference) = validated_training_fields(
        &input.title,
        input.held_on,
        input.attendees,
        input.reference.as_deref(),
        today,
    )?;
    training_county(conn, caller, input.county_id)?;
    let at = now();
    Ok(NewTraining {
        county_id: input.county_id,
        kind: input.kind,
        title,
        held_on: input.held_on,
        attendees: input.attendees,
        reference,
        version: 1,
        created_at: at,
        updated_at: at,
    })
}

/// Changes session `id` at version `expected`; a session never changes county.
pub fn update(
    tx: &mut Tx<'_>,
    id: i32,
    expected: i32,
    patch: TrainingPatch,
    today: NaiveDate,
) -> Result<TrainingOut, ApiError> {
    let mut v = Violations::new();
    let title = match &patch.title {
        Some(raw) => v.check("title", Name::parse(raw, TITLE_MAX)),
        None => None,
    };
    let reference = match &patch.reference {
        Some(raw) => v.check("ref", Ref::parse(raw)),
        None => None,
    };
    business_date(&mut v, "held_on", patch.held_on, today);
    check_attendees(&mut v, patch.attendees.flatten());
    v.into_result()?;
    let current = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("training", id))?;
    training_county(tx.conn, &tx.ctx.caller, current.county_id)?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    let changes = TrainingChanges {
        kind: patch.kind,
        title: title.map(String::from),
        held_on: patch.held_on,
        attendees: patch.attendees,
        reference: reference.map(String::from),
        version: Some(current.version + 1),
        updated_at: Some(now()),
    };
    let row = q::update(tx.conn, id, expected, &changes)?.ok_or(ApiError::PreconditionFailed)?;
    let before = training_out(current);
    let out = training_out(row);
    tx.audit(
        AuditAction::Update,
        AuditEntity::Training,
        id,
        Some(out.county_id),
        Some(&before),
        Some(&out),
    )?;
    Ok(out)
}

/// Deletes session `id` at version `expected`.
pub fn delete(tx: &mut Tx<'_>, id: i32, expected: i32) -> Result<(), ApiError> {
    let current = q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("training", id))?;
    training_county(tx.conn, &tx.ctx.caller, current.county_id)?;
    if current.version != expected || !q::delete(tx.conn, id, expected)? {
        return Err(ApiError::PreconditionFailed);
    }
    let before = training_out(current);
    tx.audit(
        AuditAction::Delete,
        AuditEntity::Training,
        id,
        Some(before.county_id),
        Some(&before),
        NOTHING,
    )
}
