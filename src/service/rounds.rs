//! Reporting rounds: a city or a province asks its members for their figures as of a date by a
//! deadline; each member signs its row off (a submission freezes the row as the round's table
//! computes it), the round's owners accept or return it, completeness shows who is late, and the
//! bulletin is published from the accepted rows.
//!
//! Every read of a round is a fixed number of queries whatever its number of participants: the
//! round, its participants, their current submissions, their names, and the live table (kept
//! figures, see `service::tables`) to find drift.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::clock::now;
use crate::db::accounts::UserRow;
use crate::db::counties::{self as counties_q, Scope};
use crate::db::rounds::{self as q, NewParticipant, NewRound, NewSubmission, ParticipantChanges};
use crate::db::rounds::{ParticipantRow, RoundChanges, RoundFilter, RoundRow, SubmissionRow};
use crate::db::{accounts as accounts_q, cities as city_q, DbConnection};
use crate::domain::audit::{AuditAction, AuditEntity};
use crate::domain::auth::Role;
use crate::domain::county::parse_note;
use crate::domain::export::{chase_list as chase_sheet, issuing_unit, ChaseRow, Sheet};
use crate::domain::report::{county_rows, CityEntry, ProgressRow, ProgressTable, RowsBy};
use crate::domain::report::{TableLevel, RULES_VERSION};
use crate::domain::round::{self as rules, CellDrift, Figure, ParticipantKind, ParticipantRef};
use crate::domain::round::{ParticipantState, RoundLevel, RoundState, Unconfirmed};
use crate::domain::{self, business_date, Name, Violations};
use crate::error::ApiError;
use crate::policy::{self, Caller};
use crate::service::bulletins::{level_id, store_bulletin, Bulletin, FromRound, SnapshotOut};
use crate::service::tables::{place, progress_table, read_table_and, Keeper, Place};
use crate::service::{utc, Listed};
use crate::write::{Tx, NOTHING};

/// A new round. Its participants are fixed as it opens: a city's counties and its city level,
/// or a province's cities and its province level.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoundIn {
    #[schema(example = "云浮市2021年6月“双百工程”进度报送")]
    pub title: String,
    pub level: RoundLevel,
    /// The city whose round it is (`level` `city`).
    pub city_id: Option<i32>,
    /// The province whose round it is (`level` `province`).
    pub province_id: Option<i32>,
    /// The date the table is as of; not in the future.
    pub as_of: NaiveDate,
    /// Whose funding requests; default the year of `as_of`.
    pub fiscal_year: Option<i32>,
    /// The deadline, a date in the bureau's time zone, on or after `as_of`. A first submission
    /// after it is late.
    pub due_on: NaiveDate,
    /// 制表单位 of its bulletin; default the level's department (云浮市民政局).
    pub issuing_unit: Option<String>,
}

/// Changes to a round that is not yet published.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoundPatch {
    pub title: Option<String>,
    /// A new deadline; lateness already recorded stays as it was judged.
    pub due_on: Option<NaiveDate>,
}

/// Why: reopening a round, returning a submission.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonIn {
    pub reason: String,
}

/// A sign-off: the participant's row is frozen as the round's table computes it now.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmissionIn {
    /// A declaration or note kept with the submission.
    pub note: Option<String>,
}

/// Publishing the round's bulletin.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishIn {
    /// Publish although some participants are not accepted (or stale): their live figures are
    /// shown, and the bulletin lists them as unconfirmed. Needs `reason`.
    pub force: Option<bool>,
    pub reason: Option<String>,
    /// Default the round's title.
    pub title: Option<String>,
    /// Default the round's issuing unit.
    pub issuing_unit: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoundOut {
    pub id: i32,
    pub title: String,
    pub level: RoundLevel,
    pub city_id: Option<i32>,
    pub province_id: Option<i32>,
    pub as_of: NaiveDate,
    pub fiscal_year: i32,
    pub due_on: NaiveDate,
    pub issuing_unit: String,
    pub state: RoundState,
    /// The bulletin published from it (while published).
    pub snapshot_id: Option<i32>,
    /// Why it was last reopened.
    pub reopen_reason: Option<String>,
    /// How many participants it asks (fixed when it opened).
    pub participants: i32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

/// A submission: who signed off, when, and the row as it was frozen.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubmissionOut {
    pub id: i32,
    pub round_id: i32,
    pub participant_id: i32,
    pub submitted_by: String,
    pub submitted_at: DateTime<Utc>,
    pub note: Option<String>,
    /// Made after the deadline.
    pub late: bool,
    /// The owners' own row, accepted as it was submitted.
    pub self_certified: bool,
    /// The version of the counting rules that froze it.
    pub rules_version: String,
    /// The row frozen (a county's, or the owners' own level's).
    pub row: Option<ProgressRow>,
    /// A city's row frozen, with its county rows kept for reference.
    pub city: Option<CityEntry>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ParticipantOut {
    pub participant_id: i32,
    pub round_id: i32,
    pub kind: ParticipantKind,
    /// A county participant's or the level row's county-level row.
    pub county_id: Option<i32>,
    /// A city participant's city.
    pub city_id: Option<i32>,
    pub division_code: String,
    pub name: String,
    pub state: ParticipantState,
    /// Its first submission came after the deadline then in force.
    pub late: bool,
    pub first_submitted_at: Option<DateTime<Utc>>,
    pub self_certified: bool,
    /// The current submission (none before the first, or once returned).
    pub submission: Option<SubmissionOut>,
    /// Why it was returned, for the participant to read.
    pub return_reason: Option<String>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    /// What differs between the current submission and the live figures (`stale`).
    pub drift: Vec<CellDrift>,
    pub version: i32,
}

/// Someone answerable for a participant's sign-off.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResponsibleOut {
    pub user_id: i32,
    pub username: String,
    pub display_name: String,
    /// Shown only to the administrators of the person's level; null for anyone else.
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ParticipantStatus {
    pub participant_id: i32,
    pub kind: ParticipantKind,
    pub county_id: Option<i32>,
    pub city_id: Option<i32>,
    pub division_code: String,
    pub name: String,
    pub state: ParticipantState,
    /// Submitted late, or not submitted and past the deadline.
    pub late: bool,
    /// Days after the deadline: of its first submission, or until today while it has none.
    pub days_overdue: i64,
    pub first_submitted_at: Option<DateTime<Utc>>,
    pub return_reason: Option<String>,
    pub drift: Vec<CellDrift>,
    /// The people answerable: a county's officers, a city's administrators, the owners for
    /// their own level row. Shown to the round's owners and to the participant's own people
    /// (empty for anyone else).
    pub responsible: Vec<ResponsibleOut>,
}

/// Who has signed off, who is late, and the rates as DHIS2 reports them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompletenessOut {
    pub round_id: i32,
    /// The round's title, which the chase list is headed with.
    pub title: String,
    pub state: RoundState,
    pub as_of: NaiveDate,
    pub due_on: NaiveDate,
    /// Today in the bureau's time zone, which days overdue count to.
    pub today: NaiveDate,
    /// Participants expected to submit.
    pub expected: i64,
    /// With a current submission (submitted, accepted or stale).
    pub submitted: i64,
    /// Whose first submission came by the deadline.
    pub on_time: i64,
    /// Accepted and not stale.
    pub accepted: i64,
    /// Percentages of `expected`, one decimal.
    pub submitted_rate: f64,
    pub on_time_rate: f64,
    pub accepted_rate: f64,
    pub participants: Vec<ParticipantStatus>,
}

/// The round's table: submitted figures where a participant has a current submission, live
/// figures (listed in `unconfirmed`) otherwise.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoundTableOut {
    pub round_id: i32,
    pub state: RoundState,
    pub table: ProgressTable,
    pub unconfirmed: Vec<ParticipantRef>,
}

/// What a submission stores: one of the two.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Frozen {
    row: Option<ProgressRow>,
    city: Option<CityEntry>,
}

impl Frozen {
    fn figures(&self) -> Result<Value, ApiError> {
        let v = match (&self.row, &self.city) {
            (Some(row), _) => serde_json::to_value(row),
            (None, Some(city)) => serde_json::to_value(city),
            (None, None) => Ok(Value::Null),
        };
        v.map_err(|e| ApiError::internal(e.to_string()))
    }
}

fn round_out(row: RoundRow) -> RoundOut {
    RoundOut {
        id: row.id,
        title: row.title,
        level: row.level,
        city_id: row.city_id,
        province_id: row.province_id,
        as_of: row.as_of,
        fiscal_year: row.fiscal_year,
        due_on: row.due_on,
        issuing_unit: row.issuing_unit,
        state: row.state,
        snapshot_id: row.snapshot_id,
        reopen_reason: row.reopen_reason,
        participants: row.participants,
        created_by: row.created_by,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
        version: row.version,
    }
}

/// A submission's frozen row; none for one whose stored shape the current rules no longer read
/// (it is then stale, to be signed off again).
fn frozen_of(row: &SubmissionRow) -> Option<Frozen> {
    match serde_json::from_str(&row.figures) {
        Ok(frozen) => Some(frozen),
        Err(e) => {
            log::warn!(
                "submission {} (rules {}) is not readable as rules {RULES_VERSION}: {e}",
                row.id,
                row.rules_version
            );
            None
        }
    }
}

fn submission_out(row: &SubmissionRow) -> SubmissionOut {
    let frozen = frozen_of(row).unwrap_or_default();
    SubmissionOut {
        id: row.id,
        round_id: row.round_id,
        participant_id: row.participant_id,
        submitted_by: row.submitted_by.clone(),
        submitted_at: utc(row.submitted_at),
        note: row.note.clone(),
        late: row.late,
        self_certified: row.self_certified,
        rules_version: row.rules_version.clone(),
        row: frozen.row,
        city: frozen.city,
    }
}

fn find_round(conn: &mut DbConnection, id: i32) -> Result<RoundRow, ApiError> {
    q::find(conn, id)?.ok_or_else(|| ApiError::not_found("round", id))
}

/// The table a round computes: its city's, or its province's with each city's county rows
/// (what a city's submission keeps beside its row).
fn round_place(conn: &mut DbConnection, round: &RoundRow) -> Result<Place, ApiError> {
    place(conn, round.city_id, round.province_id, Some(RowsBy::County))
}

/// The rows a round's table shows: a row per county (a city's), a row per city (a province's).
fn shown_by(level: RoundLevel) -> RowsBy {
    match level {
        RoundLevel::City => RowsBy::County,
        RoundLevel::Province => RowsBy::City,
    }
}

/// A round's owners: the administrators of its level (`policy::may_own_round`).
fn require_owner(caller: &Caller, round: &RoundRow) -> Result<(), ApiError> {
    policy::may_own_round(caller, round.level, round.city_id)
}

/// Who signs a participant off: its own people, or the owners for their own level row.
fn require_submitter(
    caller: &Caller,
    round: &RoundRow,
    p: &ParticipantRow,
) -> Result<(), ApiError> {
    match p.kind {
        ParticipantKind::Level => require_owner(caller, round),
        kind => policy::may_sign_off(caller, kind, p.county_id, p.city_id),
    }
}

/// The county-level row a round's audit events name: the participant's own, a city's level
/// row, or the round's level row.
fn audit_county(
    conn: &mut DbConnection,
    round: &RoundRow,
    p: Option<&ParticipantRow>,
) -> Result<Option<i32>, ApiError> {
    if let Some(id) = p.and_then(|p| p.county_id) {
        return Ok(Some(id));
    }
    let city = p.and_then(|p| p.city_id).or(round.city_id);
    level_id(conn, city, round.province_id)
}

/// A name-like text given optionally (a title, an issuing unit): checked as a name when given.
fn optional_name(v: &mut Violations, field: &str, raw: Option<&str>, max: usize) -> Option<String> {
    raw.and_then(|r| v.check(field, Name::parse(r, max)).map(String::from))
}

/// Opens a round with its participants (owners only).
pub fn create(tx: &mut Tx<'_>, input: RoundIn, today: NaiveDate) -> Result<RoundOut, ApiError> {
    tx.ctx.caller.require_some_admin()?;
    let mut v = Violations::new();
    let title = v.check("title", Name::parse(&input.title, 200));
    let unit = optional_name(&mut v, "issuing_unit", input.issuing_unit.as_deref(), 100);
    business_date(&mut v, "as_of", Some(input.as_of), today);
    let fiscal_year = input.fiscal_year.unwrap_or_else(|| input.as_of.year());
    domain::fiscal_year(&mut v, fiscal_year);
    if input.as_of <= today {
        v.check("due_on", rules::check_due_on(input.due_on, input.as_of));
    }
    match (input.level, input.city_id, input.province_id) {
        (RoundLevel::City, None, _) => v.add("city_id", "a city's round names its city"),
        (RoundLevel::City, Some(_), Some(_)) => {
            v.add("province_id", "a city's round names its city only")
        }
        (RoundLevel::Province, _, None) => {
            v.add("province_id", "a province's round names its province")
        }
        (RoundLevel::Province, Some(_), Some(_)) => {
            v.add("city_id", "a province's round names its province only")
        }
        _ => {}
    }
    v.into_result()?;
    let Some(title) = title else {
        return Err(ApiError::internal("validated fields missing"));
    };
    let place = place(
        tx.conn,
        input.city_id,
        input.province_id,
        Some(RowsBy::County),
    )?;
    let at = now();
    let draft = NewRound {
        title: title.into(),
        level: input.level,
        city_id: input.city_id,
        province_id: input.province_id,
        as_of: input.as_of,
        fiscal_year,
        due_on: input.due_on,
        issuing_unit: unit.unwrap_or_else(|| {
            let level = match input.level {
                RoundLevel::City => TableLevel::City,
                RoundLevel::Province => TableLevel::Province,
            };
            issuing_unit(level, place.name.as_deref().unwrap_or_default())
        }),
        state: RoundState::Open,
        created_by: tx.ctx.caller.actor(),
        created_at: at,
        updated_at: at,
        version: 1,
        participants: 0,
    };
    policy::may_own_round(&tx.ctx.caller, draft.level, draft.city_id)?;
    let mut members = members_of(tx.conn, draft.city_id, draft.province_id)?;
    let row = q::insert(
        tx.conn,
        &NewRound {
            participants: members.len() as i32,
            ..draft
        },
    )?;
    for m in &mut members {
        m.round_id = row.id;
    }
    q::insert_participants(tx.conn, &members)?;
    let out = round_out(row.clone());
    let county = audit_county(tx.conn, &row, None)?;
    tx.audit(
        AuditAction::Create,
        AuditEntity::Round,
        out.id,
        county,
        NOTHING,
        Some(&out),
    )?;
    Ok(out)
}

/// A round's participants in its table's order: a city's counties (districts, county-level
/// cities, counties) and its level row last; a province's cities by code, then its level row.
fn members_of(
    conn: &mut DbConnection,
    city_id: Option<i32>,
    province_id: Option<i32>,
) -> Result<Vec<NewParticipant>, ApiError> {
    let mut out = Vec::new();
    let mut push = |kind, county_id, city_id| {
        let position = out.len() as i32;
        out.push(NewParticipant {
            round_id: 0,
            kind,
            county_id,
            city_id,
            position,
            state: ParticipantState::NotSubmitted,
        });
    };
    match (city_id, province_id) {
        (Some(city), _) => {
            let mut rows = counties_q::in_scope(conn, Scope::City(city))?;
            rows.sort_by(|a, b| {
                (a.kind.table_order(), &a.division_code)
                    .cmp(&(b.kind.table_order(), &b.division_code))
            });
            for r in rows {
                let kind = if r.kind.is_level() {
                    ParticipantKind::Level
                } else {
                    ParticipantKind::County
                };
                push(kind, Some(r.id), None);
            }
        }
        (None, Some(province)) => {
            for c in city_q::in_code_order(conn, Some(province), None)? {
                push(ParticipantKind::City, None, Some(c.id));
            }
            if let Some(level) = counties_q::level_of_province(conn, province)? {
                push(ParticipantKind::Level, Some(level.id), None);
            }
        }
        (None, None) => {}
    }
    Ok(out)
}

/// A page of rounds, newest first.
pub fn list(
    conn: &mut DbConnection,
    filter: RoundFilter,
    limit: i64,
    offset: i64,
) -> Result<Listed<RoundOut>, ApiError> {
    let (rows, total) = q::list(conn, filter, limit, offset)?;
    Ok(Listed {
        items: rows.into_iter().map(round_out).collect(),
        total,
    })
}

pub fn get(conn: &mut DbConnection, id: i32) -> Result<RoundOut, ApiError> {
    Ok(round_out(find_round(conn, id)?))
}

/// Retitles a round or moves its deadline (owners; not once published).
pub fn update(
    tx: &mut Tx<'_>,
    id: i32,
    expected: i32,
    patch: RoundPatch,
) -> Result<RoundOut, ApiError> {
    let current = find_round(tx.conn, id)?;
    require_owner(&tx.ctx.caller, &current)?;
    let mut v = Violations::new();
    let title = optional_name(&mut v, "title", patch.title.as_deref(), 200);
    if let Some(due) = patch.due_on {
        v.check("due_on", rules::check_due_on(due, current.as_of));
    }
    v.into_result()?;
    if current.state == RoundState::Published {
        return Err(ApiError::Conflict(format!(
            "round {id} is published and never changes; withdraw its bulletin first"
        )));
    }
    if current.version != expected {
        return Err(ApiError::PreconditionFailed);
    }
    let changes = RoundChanges {
        title,
        due_on: patch.due_on,
        updated_at: Some(now()),
        ..Default::default()
    };
    let open = [RoundState::Open, RoundState::Closed];
    let row = q::change(tx.conn, id, &open, Some(expected), &changes)?
        .ok_or(ApiError::PreconditionFailed)?;
    audit_round(tx, AuditAction::Update, &current, row)
}

fn audit_round(
    tx: &mut Tx<'_>,
    action: AuditAction,
    before: &RoundRow,
    after: RoundRow,
) -> Result<RoundOut, ApiError> {
    let county = audit_county(tx.conn, &after, None)?;
    let out = round_out(after);
    tx.audit(
        action,
        AuditEntity::Round,
        out.id,
        county,
        Some(&round_out(before.clone())),
        Some(&out),
    )?;
    Ok(out)
}

/// Moves round `id` from `from` to `to` (owners), or 409 saying why it cannot.
fn move_round(
    tx: &mut Tx<'_>,
    id: i32,
    from: RoundState,
    changes: RoundChanges,
    action: AuditAction,
) -> Result<RoundOut, ApiError> {
    require_owner(&tx.ctx.caller, &find_round(tx.conn, id)?)?;
    let doing = match action {
        AuditAction::Close => "only an open round is closed",
        _ => "only a closed round is reopened",
    };
    let held = hold(tx, id, &[from], doing)?;
    // Stamped once the lock is held, so it comes after every sign-off made before it.
    let changes = RoundChanges {
        updated_at: Some(now()),
        ..changes
    };
    let row = q::change(tx.conn, id, &[from], None, &changes)?
        .ok_or_else(|| ApiError::internal("held round changed"))?;
    audit_round(tx, action, &held, row)
}

/// Closes an open round: no more submissions; review goes on (owners).
pub fn close(tx: &mut Tx<'_>, id: i32) -> Result<RoundOut, ApiError> {
    let changes = RoundChanges {
        state: Some(RoundState::Closed),
        updated_at: Some(now()),
        ..Default::default()
    };
    move_round(tx, id, RoundState::Open, changes, AuditAction::Close)
}

/// Reopens a closed round with a reason (owners).
pub fn reopen(tx: &mut Tx<'_>, id: i32, input: ReasonIn) -> Result<RoundOut, ApiError> {
    let reason = Name::parse(&input.reason, 500).map_err(|m| ApiError::invalid("reason", m))?;
    let changes = RoundChanges {
        state: Some(RoundState::Open),
        reopen_reason: Some(Some(reason.into())),
        updated_at: Some(now()),
        ..Default::default()
    };
    move_round(tx, id, RoundState::Closed, changes, AuditAction::Reopen)
}

/// A round's bulletin was withdrawn: the round returns to `closed`, to be corrected and
/// published again.
pub fn bulletin_withdrawn(
    tx: &mut Tx<'_>,
    round_id: i32,
    snapshot_id: i32,
    county: Option<i32>,
) -> Result<(), ApiError> {
    let Some(held) = q::hold(tx.conn, round_id, &[RoundState::Published])? else {
        return Ok(());
    };
    if held.snapshot_id != Some(snapshot_id) {
        return Ok(());
    }
    let changes = RoundChanges {
        state: Some(RoundState::Closed),
        snapshot_id: Some(None),
        updated_at: Some(now()),
        ..Default::default()
    };
    let row = q::change(tx.conn, round_id, &[RoundState::Published], None, &changes)?
        .ok_or_else(|| ApiError::internal("held round changed"))?;
    let out = round_out(row);
    tx.audit(
        AuditAction::Withdraw,
        AuditEntity::Round,
        round_id,
        county,
        Some(&round_out(held)),
        Some(&out),
    )?;
    Ok(())
}

/// A round as its reads need it: participants with their names, current submissions, and the
/// live table they are compared with.
struct Loaded {
    round: RoundRow,
    participants: Vec<ParticipantRow>,
    current: HashMap<i32, SubmissionRow>,
    names: Names,
    /// The live table, by county (a province's with its cities' county rows).
    live: ProgressTable,
}

/// A participant's division as it is now.
#[derive(Debug, Clone, Default)]
struct Named {
    division_code: String,
    name: String,
    /// A county's city now (a county moved since the round opened has another).
    city_id: Option<i32>,
}

/// Each participant's division, by kind (a city's, or a county-level row's) and id.
type Names = HashMap<(ParticipantKind, i32), Named>;

/// A round's participants, their current submissions by participant, and their names.
type Members = (Vec<ParticipantRow>, HashMap<i32, SubmissionRow>, Names);

fn load_rest(conn: &mut DbConnection, round: &RoundRow) -> Result<Members, ApiError> {
    let participants = q::participants(conn, round.id)?;
    let current: HashMap<i32, SubmissionRow> = q::current_submissions(conn, round.id)?
        .into_iter()
        .map(|s| (s.participant_id, s))
        .collect();
    let county_ids: Vec<i32> = participants.iter().filter_map(|p| p.county_id).collect();
    let city_ids: Vec<i32> = participants.iter().filter_map(|p| p.city_id).collect();
    let mut names = HashMap::new();
    for c in counties_q::in_scope(conn, Scope::Rows(&county_ids))? {
        let named = Named {
            division_code: c.division_code,
            name: c.name,
            city_id: c.city_id,
        };
        names.insert((ParticipantKind::County, c.id), named);
    }
    for c in city_q::with_ids(conn, &city_ids)? {
        let named = Named {
            division_code: c.division_code,
            name: c.name,
            city_id: Some(c.id),
        };
        names.insert((ParticipantKind::City, c.id), named);
    }
    Ok((participants, current, names))
}

/// For a reader: everything in one snapshot, the table from kept figures.
fn load_for_read(conn: &mut DbConnection, id: i32, keeper: &Keeper) -> Result<Loaded, ApiError> {
    let round = find_round(conn, id)?;
    let place = round_place(conn, &round)?;
    let (live, (participants, current, names)) =
        read_table_and(conn, &place, round.as_of, round.fiscal_year, keeper, |c| {
            load_rest(c, &round)
        })?;
    Ok(Loaded {
        round,
        participants,
        current,
        names,
        live,
    })
}

/// Inside a write's transaction, after the round's row is held.
fn load_in_tx(conn: &mut DbConnection, round: RoundRow) -> Result<Loaded, ApiError> {
    let place = round_place(conn, &round)?;
    let live = progress_table(conn, &place, round.as_of, round.fiscal_year)?;
    let (participants, current, names) = load_rest(conn, &round)?;
    Ok(Loaded {
        round,
        participants,
        current,
        names,
        live,
    })
}

/// What the live table has for a participant: its row, or its city's entry.
fn live_figures(live: &ProgressTable, p: &ParticipantRow) -> Option<Frozen> {
    match (p.kind, p.county_id, p.city_id) {
        (ParticipantKind::City, _, Some(city)) => live
            .cities
            .iter()
            .find(|c| c.city_id == city)
            .map(|c| Frozen {
                row: None,
                city: Some(c.clone()),
            }),
        (_, Some(county), _) => county_rows(live)
            .into_iter()
            .find(|r| r.county_id == county)
            .map(|r| Frozen {
                row: Some(r.clone()),
                city: None,
            }),
        _ => None,
    }
}

impl Frozen {
    /// The submitted figures under the names the division has now (a renamed county is printed
    /// by its new name, as the live table prints it).
    fn named_as(mut self, live: &Frozen) -> Frozen {
        if let (Some(row), Some(now)) = (self.row.as_mut(), live.row.as_ref()) {
            row.county_id = now.county_id;
            row.division_code.clone_from(&now.division_code);
            row.name.clone_from(&now.name);
            row.kind = now.kind;
        }
        if let (Some(city), Some(now)) = (self.city.as_mut(), live.city.as_ref()) {
            city.city_id = now.city_id;
            city.division_code.clone_from(&now.division_code);
            city.name.clone_from(&now.name);
        }
        self
    }
}

/// A participant as its reads show it.
struct Seen {
    state: ParticipantState,
    drift: Vec<CellDrift>,
    named: Named,
}

impl Loaded {
    fn seen(&self, p: &ParticipantRow) -> Result<Seen, ApiError> {
        let drift = match self.current.get(&p.id) {
            Some(sub) if p.state.has_current() => match frozen_of(sub) {
                Some(frozen) => {
                    let live = live_figures(&self.live, p).unwrap_or_default().figures()?;
                    rules::drift(&frozen.figures()?, &live)
                }
                // Submitted under rules that counted otherwise: to be signed off again.
                None => vec![CellDrift {
                    field: "rules_version".into(),
                    submitted: Some(Figure::Text(sub.rules_version.clone())),
                    live: Some(Figure::Text(RULES_VERSION.into())),
                }],
            },
            _ => Vec::new(),
        };
        let key = match p.kind {
            ParticipantKind::City => (ParticipantKind::City, p.city_id.unwrap_or_default()),
            _ => (ParticipantKind::County, p.county_id.unwrap_or_default()),
        };
        Ok(Seen {
            state: p.state.shown(!drift.is_empty()),
            drift,
            named: self.names.get(&key).cloned().unwrap_or_default(),
        })
    }

    fn participant_out(&self, p: &ParticipantRow) -> Result<ParticipantOut, ApiError> {
        let seen = self.seen(p)?;
        let submission = match self.current.get(&p.id) {
            Some(s) if p.state.has_current() => Some(submission_out(s)),
            _ => None,
        };
        Ok(ParticipantOut {
            participant_id: p.id,
            round_id: p.round_id,
            kind: p.kind,
            county_id: p.county_id,
            city_id: p.city_id,
            division_code: seen.named.division_code,
            name: seen.named.name,
            state: seen.state,
            late: p.late,
            first_submitted_at: p.first_submitted_at.map(utc),
            self_certified: p.self_certified,
            submission,
            return_reason: p.return_reason.clone(),
            reviewed_by: p.reviewed_by.clone(),
            reviewed_at: p.reviewed_at.map(utc),
            drift: seen.drift,
            version: p.version,
        })
    }

    /// The round's table: a row for each participant in its order, its submitted figures when
    /// `confirmed` says so for its state, its live ones otherwise (then named in the answer;
    /// one without a row in the live table any more is left out and named too). Divisions that
    /// joined after the round opened are not its participants and not in its table.
    fn table(
        &self,
        confirmed: impl Fn(ParticipantState) -> bool,
    ) -> Result<(ProgressTable, Vec<ParticipantRef>), ApiError> {
        let (mut rows, mut cities, mut unconfirmed) = (Vec::new(), Vec::new(), Vec::new());
        for p in &self.participants {
            let seen = self.seen(p)?;
            let live = live_figures(&self.live, p);
            let frozen = self
                .current
                .get(&p.id)
                .filter(|_| confirmed(seen.state))
                .and_then(frozen_of);
            let shown = match (frozen, live) {
                (Some(f), Some(now)) => Some(f.named_as(&now)),
                (Some(f), None) => Some(f),
                (None, live) => {
                    unconfirmed.push(ParticipantRef {
                        participant_id: p.id,
                        name: seen.named.name,
                    });
                    live
                }
            };
            if let Some(f) = shown {
                rows.extend(f.row);
                cities.extend(f.city);
            }
        }
        let by = shown_by(self.round.level);
        Ok((
            rules::compose(self.live.clone(), rows, cities, by),
            unconfirmed,
        ))
    }
}

/// A page of a round's participants, in the table's order.
pub fn participants(
    conn: &mut DbConnection,
    id: i32,
    keeper: &Keeper,
    limit: i64,
    offset: i64,
) -> Result<Listed<ParticipantOut>, ApiError> {
    let loaded = load_for_read(conn, id, keeper)?;
    // A round has as many participants as its city or province has members: a page of them
    // is cut from the whole, which its drift needs anyway.
    let items = loaded
        .participants
        .iter()
        .skip(offset.max(0) as usize)
        .take(limit.max(0) as usize)
        .map(|p| loaded.participant_out(p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Listed {
        items,
        total: loaded.participants.len() as i64,
    })
}

fn find_participant(
    conn: &mut DbConnection,
    round_id: i32,
    id: i32,
) -> Result<ParticipantRow, ApiError> {
    q::find_participant(conn, round_id, id)?
        .ok_or_else(|| ApiError::NotFound(format!("round {round_id} has no participant {id}")))
}

/// A participant's submissions, newest first (anyone who may read the round).
pub fn history(
    conn: &mut DbConnection,
    round_id: i32,
    participant_id: i32,
    limit: i64,
    offset: i64,
) -> Result<Listed<SubmissionOut>, ApiError> {
    find_round(conn, round_id)?;
    find_participant(conn, round_id, participant_id)?;
    let (rows, total) = q::history(conn, participant_id, limit, offset)?;
    Ok(Listed {
        items: rows.iter().map(submission_out).collect(),
        total,
    })
}

/// Holds the round's row for this write if it is in one of `states` (answering it as it is
/// under the lock), or 409 saying why not.
fn hold(
    tx: &mut Tx<'_>,
    id: i32,
    states: &[RoundState],
    doing: &str,
) -> Result<RoundRow, ApiError> {
    if let Some(held) = q::hold(tx.conn, id, states)? {
        return Ok(held);
    }
    let now_state = find_round(tx.conn, id)?.state;
    Err(ApiError::Conflict(format!(
        "round {id} is {now_state}: {doing}"
    )))
}

fn changed_meanwhile(id: i32) -> ApiError {
    ApiError::Conflict(format!(
        "participant {id} changed while this request ran; send it again"
    ))
}

/// Signs a participant's row off: freezes it as the round's table computes it now, replacing
/// the current submission (the history keeps every one). The owners' own level row is
/// accepted as submitted.
pub fn submit(
    tx: &mut Tx<'_>,
    round_id: i32,
    participant_id: i32,
    input: SubmissionIn,
    today: NaiveDate,
) -> Result<SubmissionOut, ApiError> {
    let round = find_round(tx.conn, round_id)?;
    require_submitter(
        &tx.ctx.caller,
        &round,
        &find_participant(tx.conn, round_id, participant_id)?,
    )?;
    let note = parse_note(input.note.as_deref()).map_err(|m| ApiError::invalid("note", m))?;
    // Under the round's lock: its deadline and the participant as they are now.
    let round = hold(
        tx,
        round_id,
        &[RoundState::Open],
        "only an open round takes submissions",
    )?;
    let p = find_participant(tx.conn, round_id, participant_id)?;
    let mut loaded = load_in_tx(tx.conn, round.clone())?;
    let before = loaded.participant_out(&p)?;
    let frozen = live_figures(&loaded.live, &p).ok_or_else(|| {
        ApiError::Conflict(format!(
            "participant {participant_id} is no longer in the round's table"
        ))
    })?;
    let self_certified = p.kind == ParticipantKind::Level;
    let late_now = today > round.due_on;
    let first = p.first_submitted_at.is_none();
    let at = now();
    let row = q::insert_submission(
        tx.conn,
        &NewSubmission {
            round_id,
            participant_id,
            submitted_by: tx.ctx.caller.actor(),
            submitted_at: at,
            note,
            late: late_now,
            self_certified,
            figures: serde_json::to_string(&frozen)
                .map_err(|e| ApiError::internal(e.to_string()))?,
            rules_version: RULES_VERSION.into(),
        },
    )?;
    let reviewer = self_certified.then(|| tx.ctx.caller.actor());
    let changes = ParticipantChanges {
        state: Some(if self_certified {
            ParticipantState::Accepted
        } else {
            ParticipantState::Submitted
        }),
        submission_id: Some(Some(row.id)),
        first_submitted_at: first.then_some(Some(at)),
        late: first.then_some(late_now),
        days_late: first.then_some(rules::days_late(today, round.due_on) as i32),
        self_certified: Some(self_certified),
        return_reason: Some(None),
        reviewed_by: Some(reviewer.clone()),
        reviewed_at: Some(reviewer.map(|_| at)),
    };
    let after_row = q::change_participant(tx.conn, p.id, p.version, &changes)?
        .ok_or_else(|| changed_meanwhile(p.id))?;
    loaded.current.insert(p.id, row.clone());
    let after = loaded.participant_out(&after_row)?;
    let county = audit_county(tx.conn, &round, Some(&after_row))?;
    tx.audit(
        AuditAction::Submit,
        AuditEntity::RoundParticipant,
        p.id,
        county,
        Some(&before),
        Some(&after),
    )?;
    Ok(submission_out(&row))
}

/// A review: accepting a current submission, or returning it with a reason.
#[derive(Debug, Clone)]
pub enum Review {
    Accept,
    Return(ReasonIn),
}

/// The owners review a participant's current submission (never their own level row, which
/// they certify by submitting it). Accepting needs a submission whose figures are still the
/// live ones; returning needs a current submission.
pub fn review(
    tx: &mut Tx<'_>,
    round_id: i32,
    participant_id: i32,
    review: Review,
) -> Result<ParticipantOut, ApiError> {
    let round = find_round(tx.conn, round_id)?;
    let p = find_participant(tx.conn, round_id, participant_id)?;
    require_owner(&tx.ctx.caller, &round)?;
    let reason = match &review {
        Review::Return(r) => Some(String::from(
            Name::parse(&r.reason, 500).map_err(|m| ApiError::invalid("reason", m))?,
        )),
        Review::Accept => None,
    };
    if p.kind == ParticipantKind::Level {
        return Err(ApiError::Conflict(
            "the owners' own level row is certified by submitting it, not reviewed".into(),
        ));
    }
    let round = hold(
        tx,
        round_id,
        &[RoundState::Open, RoundState::Closed],
        "a published round's submissions are no longer reviewed",
    )?;
    let p = find_participant(tx.conn, round_id, participant_id)?;
    let loaded = load_in_tx(tx.conn, round.clone())?;
    let before = loaded.participant_out(&p)?;
    let (action, changes) = match review {
        Review::Accept => {
            if before.state != ParticipantState::Submitted {
                return Err(ApiError::Conflict(match before.state {
                    ParticipantState::Stale => format!(
                        "{}'s figures changed after it submitted them ({} cells): it must submit again before it is accepted",
                        before.name,
                        before.drift.len()
                    ),
                    state => format!("{} is {state}: only a submitted row is accepted", before.name),
                }));
            }
            (
                AuditAction::Accept,
                ParticipantChanges {
                    state: Some(ParticipantState::Accepted),
                    return_reason: Some(None),
                    ..Default::default()
                },
            )
        }
        Review::Return(_) => {
            if !before.state.has_current() {
                return Err(ApiError::Conflict(format!(
                    "{} is {}: only a current submission is returned",
                    before.name, before.state
                )));
            }
            (
                AuditAction::Return,
                ParticipantChanges {
                    state: Some(ParticipantState::Returned),
                    submission_id: Some(None),
                    return_reason: Some(reason),
                    ..Default::default()
                },
            )
        }
    };
    let at = now();
    let changes = ParticipantChanges {
        reviewed_by: Some(Some(tx.ctx.caller.actor())),
        reviewed_at: Some(Some(at)),
        ..changes
    };
    let after_row = q::change_participant(tx.conn, p.id, p.version, &changes)?
        .ok_or_else(|| changed_meanwhile(p.id))?;
    let mut loaded = loaded;
    if after_row.submission_id.is_none() {
        loaded.current.remove(&p.id);
    }
    let after = loaded.participant_out(&after_row)?;
    let county = audit_county(tx.conn, &round, Some(&after_row))?;
    tx.audit(
        action,
        AuditEntity::RoundParticipant,
        p.id,
        county,
        Some(&before),
        Some(&after),
    )?;
    Ok(after)
}

/// Who answers for each participant, in one query: a county's officers, a city's
/// administrators, and for the owners' level row the owners (a city's administrators, or the
/// deployment's for a province's round).
fn responsible(
    conn: &mut DbConnection,
    loaded: &Loaded,
) -> Result<HashMap<i32, Vec<UserRow>>, ApiError> {
    let round = &loaded.round;
    let counties: Vec<i32> = loaded
        .participants
        .iter()
        .filter(|p| p.kind == ParticipantKind::County)
        .filter_map(|p| p.county_id)
        .collect();
    let mut cities: Vec<i32> = loaded
        .participants
        .iter()
        .filter_map(|p| p.city_id)
        .collect();
    cities.extend(round.city_id);
    let admins = round.level == RoundLevel::Province;
    let users = accounts_q::answerable_for_round(conn, &counties, &cities, admins)?;
    let mut out: HashMap<i32, Vec<UserRow>> = HashMap::new();
    for p in &loaded.participants {
        let answers = |u: &UserRow| match p.kind {
            ParticipantKind::County => u.role == Role::CountyOfficer && u.county_id == p.county_id,
            ParticipantKind::City => u.role == Role::CityAdmin && u.city_id == p.city_id,
            ParticipantKind::Level => match round.level {
                RoundLevel::City => u.role == Role::CityAdmin && u.city_id == round.city_id,
                RoundLevel::Province => u.role == Role::Admin,
            },
        };
        out.insert(p.id, users.iter().filter(|u| answers(u)).cloned().collect());
    }
    Ok(out)
}

/// Who has signed off and who is late, with the people to chase; phones only for the
/// administrators of each person's level.
pub fn completeness(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i32,
    today: NaiveDate,
    keeper: &Keeper,
) -> Result<CompletenessOut, ApiError> {
    let loaded = load_for_read(conn, id, keeper)?;
    let people = responsible(conn, &loaded)?;
    let round = &loaded.round;
    let owner = require_owner(caller, round).is_ok();
    let mut statuses = Vec::with_capacity(loaded.participants.len());
    for p in &loaded.participants {
        let seen = loaded.seen(p)?;
        // The people to chase are the owners' to see, and each participant's own.
        let sees_people = owner
            || (p.kind != ParticipantKind::Level
                && policy::may_sign_off(caller, p.kind, p.county_id, p.city_id).is_ok());
        let (late, days_overdue) = match p.first_submitted_at {
            Some(_) => (p.late, i64::from(p.days_late)),
            None => {
                let days = rules::days_late(today, round.due_on);
                (days > 0, days)
            }
        };
        let responsible = people
            .get(&p.id)
            .filter(|_| sees_people)
            .map(|users| {
                users
                    .iter()
                    .map(|u| ResponsibleOut {
                        user_id: u.id,
                        username: u.username.clone(),
                        display_name: u.display_name.clone(),
                        // A county officer's city is its county's as it is now.
                        phone: u.phone.clone().filter(|_| {
                            let city = u
                                .county_id
                                .and_then(|c| loaded.names.get(&(ParticipantKind::County, c)))
                                .and_then(|n| n.city_id);
                            policy::sees_account_phone(caller, u.role, city)
                        }),
                    })
                    .collect()
            })
            .unwrap_or_default();
        statuses.push(ParticipantStatus {
            participant_id: p.id,
            kind: p.kind,
            county_id: p.county_id,
            city_id: p.city_id,
            division_code: seen.named.division_code,
            name: seen.named.name,
            state: seen.state,
            late,
            days_overdue,
            first_submitted_at: p.first_submitted_at.map(utc),
            return_reason: p.return_reason.clone(),
            drift: seen.drift,
            responsible,
        });
    }
    let expected = statuses.len() as i64;
    let count =
        |f: &dyn Fn(&ParticipantStatus) -> bool| statuses.iter().filter(|s| f(s)).count() as i64;
    let submitted = count(&|s| s.state.has_current());
    let on_time = count(&|s| s.first_submitted_at.is_some() && !s.late);
    let accepted = count(&|s| s.state == ParticipantState::Accepted);
    Ok(CompletenessOut {
        round_id: round.id,
        title: round.title.clone(),
        state: round.state,
        as_of: round.as_of,
        due_on: round.due_on,
        today,
        expected,
        submitted,
        on_time,
        accepted,
        submitted_rate: rules::rate(submitted, expected),
        on_time_rate: rules::rate(on_time, expected),
        accepted_rate: rules::rate(accepted, expected),
        participants: statuses,
    })
}

/// The chase list (催报名单) as a sheet, with the round's title; times in the bureau's time
/// zone (`zone`), as it reads them.
pub fn chase_list(
    conn: &mut DbConnection,
    caller: &Caller,
    id: i32,
    (today, zone): (NaiveDate, chrono_tz::Tz),
    keeper: &Keeper,
) -> Result<(Sheet, String), ApiError> {
    let c = completeness(conn, caller, id, today, keeper)?;
    let rows = c
        .participants
        .iter()
        .map(|p| ChaseRow {
            name: p.name.clone(),
            division_code: p.division_code.clone(),
            state: p.state.label().to_string(),
            late: p.late,
            days_overdue: p.days_overdue,
            first_submitted: p
                .first_submitted_at
                .map(|t| t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string()),
            return_reason: p.return_reason.clone(),
            people: p
                .responsible
                .iter()
                .map(|r| (r.display_name.clone(), r.username.clone(), r.phone.clone()))
                .collect(),
        })
        .collect::<Vec<_>>();
    let title = format!("{}催报名单", c.title);
    Ok((chase_sheet(&title, c.due_on, today, &rows), title))
}

/// The round's table as it stands: submitted figures where there is a current submission.
pub fn table(conn: &mut DbConnection, id: i32, keeper: &Keeper) -> Result<RoundTableOut, ApiError> {
    let loaded = load_for_read(conn, id, keeper)?;
    let (table, unconfirmed) = loaded.table(ParticipantState::has_current)?;
    Ok(RoundTableOut {
        round_id: id,
        state: loaded.round.state,
        table,
        unconfirmed,
    })
}

/// Publishes the round's bulletin from its accepted submissions (owners). Without `force`,
/// every participant must be accepted and current (409 naming those that are not); with it
/// and a reason, the others' live figures are published and listed as unconfirmed.
pub fn publish(tx: &mut Tx<'_>, id: i32, input: PublishIn) -> Result<SnapshotOut, ApiError> {
    let round = find_round(tx.conn, id)?;
    require_owner(&tx.ctx.caller, &round)?;
    let force = input.force.unwrap_or(false);
    let mut v = Violations::new();
    let reason = match input.reason.as_deref() {
        Some(r) => v.check("reason", Name::parse(r, 500)).map(String::from),
        None if force => {
            v.add("reason", "publishing without every sign-off needs a reason");
            None
        }
        None => None,
    };
    let title = optional_name(&mut v, "title", input.title.as_deref(), 200);
    let unit = optional_name(&mut v, "issuing_unit", input.issuing_unit.as_deref(), 100);
    v.into_result()?;
    let round = hold(
        tx,
        id,
        &[RoundState::Open, RoundState::Closed],
        "it is published already; withdraw its bulletin to publish it again",
    )?;
    let loaded = load_in_tx(tx.conn, round.clone())?;
    let mut waiting = Vec::new();
    for p in &loaded.participants {
        let seen = loaded.seen(p)?;
        if seen.state != ParticipantState::Accepted {
            waiting.push(Unconfirmed {
                participant_id: p.id,
                name: seen.named.name,
                state: seen.state,
            });
        }
    }
    if !waiting.is_empty() && !force {
        let named: Vec<String> = waiting
            .iter()
            .map(|w| format!("{} ({})", w.name, w.state))
            .collect();
        return Err(ApiError::NotSignedOff {
            detail: format!(
                "not every participant is accepted: {}; accept them, or publish with force and a reason",
                named.join(", ")
            ),
            participants: waiting,
        });
    }
    let (table, unconfirmed) = loaded.table(|s| s == ParticipantState::Accepted)?;
    let out = store_bulletin(
        tx,
        Bulletin {
            table,
            title: title.unwrap_or_else(|| round.title.clone()),
            issuing_unit: unit.unwrap_or_else(|| round.issuing_unit.clone()),
            round: Some(FromRound {
                round_id: id,
                forced_reason: if unconfirmed.is_empty() { None } else { reason },
                unconfirmed,
            }),
        },
    )?;
    // Publishing closes an open round first, and says so in the trail.
    let mut before = round;
    if before.state == RoundState::Open {
        let closing = RoundChanges {
            state: Some(RoundState::Closed),
            updated_at: Some(now()),
            ..Default::default()
        };
        let closed = q::change(tx.conn, id, &[RoundState::Open], None, &closing)?
            .ok_or_else(|| ApiError::internal("held round changed"))?;
        audit_round(tx, AuditAction::Close, &before, closed.clone())?;
        before = closed;
    }
    let changes = RoundChanges {
        state: Some(RoundState::Published),
        snapshot_id: Some(Some(out.summary.id)),
        updated_at: Some(now()),
        ..Default::default()
    };
    let row = q::change(tx.conn, id, &[RoundState::Closed], None, &changes)?
        .ok_or_else(|| ApiError::internal("held round changed"))?;
    audit_round(tx, AuditAction::Publish, &before, row)?;
    Ok(out)
}
