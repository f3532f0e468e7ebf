//! A county's requests for funding (落实经费情况), moved through their stages only by dated
//! transitions, every one kept. Money is integer fen (分) everywhere.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::now;
use crate::db::counties as county_q;
use crate::db::funding::{
    self as q, FundingFilter, FundingRequestChanges, FundingRequestRow, FundingSort,
    NewFundingRequest, NewTransition, TransitionRow,
};
use crate::db::DbConnection;
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::county::parse_note;
use crate::domain::funding::{apply, Fen, FundingAction, FundingStage};
use crate::domain::Ref;
use crate::domain::{self, business_date, Name, Violations};
use crate::error::ApiError;
use crate::policy::{self, Caller, CountyScope};
use crate::service::{double_option, utc, Listed};
use crate::write::{Tx, NOTHING};

const TITLE_MAX: usize = 100;
const PURPOSE_MAX: usize = 500;

/// A new funding request. It starts `estimating`; that first stage is recorded as its first
/// transition (action `create`), dated `effective_on`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FundingRequestIn {
    /// The county asking (the city level included; only administrators write it).
    pub county_id: i32,
    #[schema(example = 2021, minimum = 2000, maximum = 2100)]
    pub fiscal_year: i32,
    #[schema(example = "2021年社工站建设运营经费")]
    pub title: String,
    /// What the money is for (up to 500 characters).
    pub purpose: Option<String>,
    /// The amount asked for, in integer fen (分), 0 to 100000000000 (10亿元); may be unknown
    /// while estimating.
    #[schema(example = 179400000, minimum = 0, maximum = 100000000000_i64)]
    pub requested_fen: Option<i64>,
    /// The county's own key for the request (1–64 characters, unique within the county);
    /// generated when absent.
    #[serde(rename = "ref")]
    #[schema(example = "FR-2021-01")]
    pub reference: Option<String>,
    /// When estimating began (the request's `created_on`); default today in the bureau's time
    /// zone, never after today.
    pub effective_on: Option<NaiveDate>,
    /// The first note, as the county wrote it, e.g. 正在测算费用，拟报区政府。
    pub note: Option<String>,
}

/// Changes to a request, allowed only while it is `estimating` or `consulting`; absent fields
/// stay as they are, `null` clears. The stage changes only through transitions.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FundingRequestPatch {
    #[schema(minimum = 2000, maximum = 2100)]
    pub fiscal_year: Option<i32>,
    pub title: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub purpose: Option<Option<String>>,
    /// Integer fen (分), 0 to 100000000000 (10亿元).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 100000000000_i64)]
    pub requested_fen: Option<Option<i64>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FundingRequestOut {
    pub id: i32,
    pub county_id: i32,
    pub fiscal_year: i32,
    pub title: String,
    pub purpose: Option<String>,
    /// Integer fen (分).
    pub requested_fen: Option<i64>,
    /// Integer fen (分), set by approval.
    pub approved_fen: Option<i64>,
    pub status: FundingStage,
    /// The Chinese label of `status` (正在测算, 已报审批, …).
    pub status_label: String,
    /// The transitions the current stage allows.
    pub allowed_actions: Vec<FundingAction>,
    #[serde(rename = "ref")]
    pub reference: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A stage change. `consult` (estimating → consulting), `submit` (estimating or consulting →
/// submitted, optionally with `requested_fen`), `approve` with `approved_fen`, `reject`, `return`
/// (submitted → …; administrators only), `revise` (returned → estimating), `withdraw` (any open
/// stage). `create` is recorded when the request is made and cannot be posted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FundingTransitionIn {
    pub action: FundingAction,
    /// When the change took effect: not after today, not before the previous change; default
    /// today in the bureau's time zone.
    pub effective_on: Option<NaiveDate>,
    /// As the county or bureau wrote it, e.g. 测算经费约179.4万元，已报县政府审批。
    pub note: Option<String>,
    /// Required with `approve`, refused otherwise: the amount approved, integer fen (分).
    #[schema(minimum = 0, maximum = 100000000000_i64)]
    pub approved_fen: Option<i64>,
    /// Only with `submit`: the amount submitted, integer fen (分), replacing the estimate.
    #[schema(minimum = 0, maximum = 100000000000_i64)]
    pub requested_fen: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FundingTransitionOut {
    pub id: i32,
    pub request_id: i32,
    pub action: FundingAction,
    /// The Chinese label of `action`.
    pub action_label: String,
    /// `null` for `create`.
    pub from_status: Option<FundingStage>,
    pub to_status: FundingStage,
    /// The Chinese label of `to_status`.
    pub to_status_label: String,
    pub effective_on: NaiveDate,
    pub note: Option<String>,
    /// The request's amounts after this change, integer fen (分).
    pub requested_fen: Option<i64>,
    pub approved_fen: Option<i64>,
    /// Who recorded it (`user:…` or `client:…`).
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

pub fn request_out(row: FundingRequestRow) -> FundingRequestOut {
    let status = row.status;
    FundingRequestOut {
        id: row.id,
        county_id: row.county_id,
        fiscal_year: row.fiscal_year,
        title: row.title,
        purpose: row.purpose,
        requested_fen: row.requested_fen,
        approved_fen: row.approved_fen,
        status,
        status_label: status.label().to_string(),
        allowed_actions: status.allowed_actions().to_vec(),
        reference: row.reference,
        version: row.version,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    }
}

pub fn transition_out(row: TransitionRow) -> FundingTransitionOut {
    let action = row.action;
    let to_status = row.to_status;
    FundingTransitionOut {
        id: row.id,
        request_id: row.request_id,
        action,
        action_label: action.label().to_string(),
        from_status: row.from_status,
        to_status,
        to_status_label: to_status.label().to_string(),
        effective_on: row.effective_on,
        note: row.note,
        requested_fen: row.requested_fen,
        approved_fen: row.approved_fen,
        actor: row.actor,
        created_at: utc(row.created_at),
    }
}

/// The county a request belongs to: it exists and the caller may write it.
fn request_county(
    conn: &mut DbConnection,
    caller: &Caller,
    county_id: i32,
) -> Result<CountyScope, ApiError> {
    let county = county_q::find(conn, county_id)?.ok_or_else(|| {
        ApiError::invalid("county_id", format!("county {county_id} does not exist"))
    })?;
    let scope = CountyScope::of(&county);
    caller.require_county_write(scope)?;
    Ok(scope)
}

fn check_amount(v: &mut Violations, field: &str, fen: Option<i64>) {
    if let Some(fen) = fen {
        v.check(field, Fen::parse(fen));
    }
}

pub fn parse_purpose(raw: Option<&str>) -> Result<Option<String>, String> {
    crate::domain::parse_free_text(raw, PURPOSE_MAX)
}

/// A new request's fields, checked by [`validated_request`].
#[derive(Debug, Clone)]
pub struct ValidRequest {
    pub fiscal_year: i32,
    pub title: String,
    pub purpose: Option<String>,
    pub requested_fen: Option<i64>,
    pub reference: String,
    pub effective_on: NaiveDate,
    pub note: Option<String>,
}

/// Checks a new request's fields (every broken rule, by field); the county is checked by
/// [`create_request`].
pub fn validated_request(
    input: &FundingRequestIn,
    today: NaiveDate,
) -> Result<ValidRequest, ApiError> {
    let mut v = Violations::new();
    domain::fiscal_year(&mut v, input.fiscal_year);
    let title = v.check("title", Name::parse(&input.title, TITLE_MAX));
    let purpose = v.check("purpose", parse_purpose(input.purpose.as_deref()));
    check_amount(&mut v, "requested_fen", input.requested_fen);
    let reference = match &input.reference {
        Some(raw) => v.check("ref", Ref::parse(raw)),
        None => Some(Ref::generated("fr")),
    };
    let effective_on = input.effective_on.unwrap_or(today);
    business_date(&mut v, "effective_on", Some(effective_on), today);
    let note = v.check("note", parse_note(input.note.as_deref()));
    v.into_result()?;
    let (Some(title), Some(purpose), Some(reference), Some(note)) =
        (title, purpose, reference, note)
    else {
        return Err(ApiError::internal("validated fields missing"));
    };
    Ok(ValidRequest {
        fiscal_year: input.fiscal_year,
        title: title.into(),
        purpose,
        requested_fen: input.requested_fen,
        reference: reference.into(),
        effective_on,
        note,
    })
}

/// Creates a request of `county_id` (which the caller must be allowed to write), `estimating`,
/// with its first transition (`create`), and audits it.
pub fn create_request(
    tx: &mut Tx<'_>,
    county_id: i32,
    valid: ValidRequest,
) -> Result<FundingRequestRow, ApiError> {
    let row = insert_request(tx, county_id, valid)?;
    let out = request_out(row.clone());
    tx.audit(
        AuditAction::Create,
        AuditEntity::FundingRequest,
        out.id,
        Some(out.county_id),
        NOTHING,
        Some(&out),
    )?;
    Ok(row)
}

/// [`create_request`] without its audit event (a batch audits its records itself).
pub fn insert_request(
    tx: &mut Tx<'_>,
    county_id: i32,
    valid: ValidRequest,
) -> Result<FundingRequestRow, ApiError> {
    request_county(tx.conn, &tx.ctx.caller, county_id)?;
    let at = now();
    let row = q::insert(
        tx.conn,
        &NewFundingRequest {
            county_id,
            fiscal_year: valid.fiscal_year,
            title: valid.title,
            purpose: valid.purpose,
            requested_fen: valid.requested_fen,
            approved_fen: None,
            status: FundingStage::Estimating,
            reference: valid.reference,
            version: 1,
            created_at: at,
            updated_at: at,
        },
    )?;
    q::insert_transition(
        tx.conn,
        &NewTransition {
            request_id: row.id,
            action: FundingAction::Create,
            from_status: None,
            to_status: FundingStage::Estimating,
            effective_on: valid.effective_on,
            note: valid.note,
            requested_fen: row.requested_fen,
            approved_fen: None,
            actor: tx.ctx.caller.actor(),
            created_at: at,
        },
    )?;
    Ok(row)
}

/// A request's changes, checked by [`validated_patch`]; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ValidPatch {
    pub fiscal_year: Option<i32>,
    pub title: Option<String>,
    pub purpose: Option<Option<String>>,
    pub requested_fen: Option<Option<i64>>,
}

impl ValidRequest {
    /// What changes in `row` (as a `PATCH` would change it) for this request to hold; the
    /// amount requested is left when `fen_by_transitions` (a listed stage change sets it).
    pub fn patch_for(&self, row: &FundingRequestRow, fen_by_transitions: bool) -> ValidPatch {
        ValidPatch {
            fiscal_year: (self.fiscal_year != row.fiscal_year).then_some(self.fiscal_year),
            title: (self.title != row.title).then(|| self.title.clone()),
            purpose: (self.purpose != row.purpose).then(|| self.purpose.clone()),
            requested_fen: (!fen_by_transitions
                && self.requested_fen.is_some()
                && self.requested_fen != row.requested_fen)
                .then_some(self.requested_fen),
        }
    }
}

impl ValidPatch {
    pub fn is_empty(&self) -> bool {
        self.fiscal_year.is_none()
            && self.title.is_none()
            && self.purpose.is_none()
            && self.requested_fen.is_none()
    }
}

/// Checks a request's changes (every broken rule, by field).
pub fn validated_patch(patch: &FundingRequestPatch) -> Result<ValidPatch, ApiError> {
    let mut v = Violations::new();
    if let Some(year) = patch.fiscal_year {
        domain::fiscal_year(&mut v, year);
    }
    let title = match &patch.title {
        Some(raw) => v.check("title", Name::parse(raw, TITLE_MAX)),
        None => None,
    };
    let purpose = match &patch.purpose {
        Some(raw) => v.check("purpose", parse_purpose(raw.as_deref())),
        None => None,
    };
    check_amount(&mut v, "requested_fen", patch.requested_fen.flatten());
    v.into_result()?;
    Ok(ValidPatch {
        fiscal_year: patch.fiscal_year,
        title: title.map(String::from),
        purpose,
        requested_fen: patch.requested_fen,
    })
}

/// Changes `current` (read at version `expected`) while its stage allows it, and audits it.
pub fn update_request(
    tx: &mut Tx<'_>,
    current: FundingRequestRow,
    expected: i32,
    patch: ValidPatch,
) -> Result<FundingRequestRow, ApiError> {
    let row = change_request(tx, &current, expected, patch)?;
    let before = request_out(current);
    let out = request_out(row.clone());
    tx.audit(
        AuditAction::Update,
        AuditEntity::FundingRequest,
        row.id,
        Some(out.county_id),
        Some(&before),
        Some(&out),
    )?;
    Ok(row)
}

/// [`update_request`] without its audit event (a batch audits its records itself).
pub fn change_request(
    tx: &mut Tx<'_>,
    current: &FundingRequestRow,
    expected: i32,
    patch: ValidPatch,
) -> Result<FundingRequestRow, ApiError> {
    let id = current.id;
    request_county(tx.conn, &tx.ctx.caller, current.county_id)?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    let stage = current.status;
    if !stage.is_editable() {
        return Err(ApiError::Conflict(format!(
            "the request is {stage} ({}): its year, title, purpose and amount change only while estimating or consulting",
            stage.label()
        )));
    }
    let changes = FundingRequestChanges {
        fiscal_year: patch.fiscal_year,
        title: patch.title,
        purpose: patch.purpose,
        requested_fen: patch.requested_fen,
        version: Some(current.version + 1),
        updated_at: Some(now()),
        ..Default::default()
    };
    q::update(tx.conn, id, expected, &changes)?.ok_or(ApiError::PreconditionFailed)
}

/// A stage change, checked by [`validated_transition`].
#[derive(Debug, Clone)]
pub struct ValidTransition {
    pub action: FundingAction,
    pub effective_on: NaiveDate,
    pub note: Option<String>,
    pub approved_fen: Option<i64>,
    pub requested_fen: Option<i64>,
}

/// Checks a stage change on its own (every broken rule, by field); the request's stage, the
/// caller's rights and the dates of its history are checked by [`record_transition`].
pub fn validated_transition(
    input: &FundingTransitionIn,
    today: NaiveDate,
) -> Result<ValidTransition, ApiError> {
    let action = input.action;
    let mut v = Violations::new();
    if action == FundingAction::Create {
        v.add(
            "action",
            "create is recorded when the request is made; use consult, submit, approve, reject, return, revise or withdraw",
        );
    }
    let effective_on = input.effective_on.unwrap_or(today);
    business_date(&mut v, "effective_on", Some(effective_on), today);
    let note = v.check("note", parse_note(input.note.as_deref()));
    check_amount(&mut v, "approved_fen", input.approved_fen);
    check_amount(&mut v, "requested_fen", input.requested_fen);
    match (action, input.approved_fen) {
        (FundingAction::Approve, None) => {
            v.add("approved_fen", "approve needs the amount approved")
        }
        (FundingAction::Approve, Some(_)) | (_, None) => {}
        (_, Some(_)) => v.add("approved_fen", "only approve records an approved amount"),
    }
    if action != FundingAction::Submit && input.requested_fen.is_some() {
        v.add(
            "requested_fen",
            "only submit changes the amount requested (or PATCH while estimating or consulting)",
        );
    }
    v.into_result()?;
    let Some(note) = note else {
        return Err(ApiError::internal("validated fields missing"));
    };
    Ok(ValidTransition {
        action,
        effective_on,
        note,
        approved_fen: input.approved_fen,
        requested_fen: input.requested_fen,
    })
}

/// Records a stage change of `current` (when `expected` is given, only at that version): the
/// caller's rights (decisions are for administrators), the stage's allowed actions (a conflict
/// naming the stage and them) and the date (not before the previous change); then moves the
/// request, keeps the transition and audits it. Answers the transition and the request.
pub fn record_transition(
    tx: &mut Tx<'_>,
    current: FundingRequestRow,
    valid: &ValidTransition,
    expected: Option<i32>,
) -> Result<(TransitionRow, FundingRequestRow), ApiError> {
    let id = current.id;
    let action = valid.action;
    let effective_on = valid.effective_on;
    let scope = request_county(tx.conn, &tx.ctx.caller, current.county_id)?;
    policy::may_take_funding_action(&tx.ctx.caller, action, scope)?;
    if expected.is_some_and(|e| e != current.version) {
        return Err(ApiError::PreconditionFailed);
    }
    let from = current.status;
    let to = apply(from, action).map_err(ApiError::Conflict)?;
    if let Some(last) = q::last_transition(tx.conn, id)? {
        if effective_on < last.effective_on {
            return Err(ApiError::invalid(
                "effective_on",
                format!(
                    "{effective_on} is before the previous stage change ({})",
                    last.effective_on
                ),
            ));
        }
    }
    let requested_fen = valid.requested_fen.or(current.requested_fen);
    let approved_fen = match action {
        FundingAction::Approve => valid.approved_fen,
        _ => current.approved_fen,
    };
    let at = now();
    let changes = FundingRequestChanges {
        status: Some(to),
        requested_fen: Some(requested_fen),
        approved_fen: Some(approved_fen),
        version: Some(current.version + 1),
        updated_at: Some(at),
        ..Default::default()
    };
    let row =
        q::update(tx.conn, id, current.version, &changes)?.ok_or(ApiError::PreconditionFailed)?;
    let transition = q::insert_transition(
        tx.conn,
        &NewTransition {
            request_id: id,
            action,
            from_status: Some(from),
            to_status: to,
            effective_on,
            note: valid.note.clone(),
            requested_fen,
            approved_fen,
            actor: tx.ctx.caller.actor(),
            created_at: at,
        },
    )?;
    let county_id = current.county_id;
    let before = request_out(current);
    let after = request_out(row.clone());
    tx.audit(
        AuditAction::Transition,
        AuditEntity::FundingRequest,
        id,
        Some(county_id),
        Some(&before),
        Some(&after),
    )?;
    Ok((transition, row))
}

/// A page of funding requests.
pub fn list(
    conn: &mut DbConnection,
    filter: &FundingFilter,
    sort: &[(FundingSort, bool)],
    limit: i64,
    offset: i64,
) -> Result<Listed<FundingRequestOut>, ApiError> {
    let (rows, total) = q::list(conn, filter, sort, limit, offset)?;
    Ok(Listed {
        items: rows.into_iter().map(request_out).collect(),
        total,
    })
}

/// Funding request `id`.
pub fn get(conn: &mut DbConnection, id: i32) -> Result<FundingRequestOut, ApiError> {
    Ok(request_out(q::find(conn, id)?.ok_or_else(|| {
        ApiError::not_found("funding request", id)
    })?))
}

/// Makes a request for a county the caller may write.
pub fn create(
    tx: &mut Tx<'_>,
    input: FundingRequestIn,
    today: NaiveDate,
) -> Result<FundingRequestOut, ApiError> {
    let valid = validated_request(&input, today)?;
    Ok(request_out(create_request(tx, input.county_id, valid)?))
}

/// Changes request `id` at version `expected` while its stage allows it.
pub fn update(
    tx: &mut Tx<'_>,
    id: i32,
    expected: i32,
    patch: FundingRequestPatch,
) -> Result<FundingRequestOut, ApiError> {
    let patch = validated_patch(&patch)?;
    let current =
        q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("funding request", id))?;
    Ok(request_out(update_request(tx, current, expected, patch)?))
}

/// Deletes request `id` at version `expected`, only while it is still being estimated or
/// consulted on; later it is kept (withdraw it instead).
pub fn delete(tx: &mut Tx<'_>, id: i32, expected: i32) -> Result<(), ApiError> {
    let current =
        q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("funding request", id))?;
    request_county(tx.conn, &tx.ctx.caller, current.county_id)?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    let stage = current.status;
    if !stage.is_editable() {
        return Err(ApiError::Conflict(format!(
            "the request is {stage} ({}): it is kept; withdraw it instead",
            stage.label()
        )));
    }
    if !q::delete(tx.conn, id, expected)? {
        return Err(ApiError::PreconditionFailed);
    }
    let before = request_out(current);
    tx.audit(
        AuditAction::Delete,
        AuditEntity::FundingRequest,
        id,
        Some(before.county_id),
        Some(&before),
        NOTHING,
    )
}

/// Request `id`'s transitions, oldest first.
pub fn transitions(
    conn: &mut DbConnection,
    id: i32,
) -> Result<Vec<FundingTransitionOut>, ApiError> {
    q::find(conn, id)?.ok_or_else(|| ApiError::not_found("funding request", id))?;
    Ok(q::history(conn, id)?
        .into_iter()
        .map(transition_out)
        .collect())
}

/// Moves request `id` by a dated transition (at version `expected` when given); answers the
/// transition and the request's new version.
pub fn create_transition(
    tx: &mut Tx<'_>,
    id: i32,
    input: FundingTransitionIn,
    expected: Option<i32>,
    today: NaiveDate,
) -> Result<(FundingTransitionOut, i32), ApiError> {
    let valid = validated_transition(&input, today)?;
    let current =
        q::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("funding request", id))?;
    let (transition, row) = record_transition(tx, current, &valid, expected)?;
    Ok((transition_out(transition), row.version))
}
