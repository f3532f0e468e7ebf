//! Reporting rounds (报送轮次): a bureau asks its members for their figures as of a date by a
//! deadline; each member signs its row off, the owners accept or return it, and the bulletin is
//! published from the accepted rows. This module holds the round's words and its rules: when a
//! submission is late, when it has drifted from the live figures, and the rates DHIS2 reports.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::report::{county_rows, totals, CityEntry, ProgressRow, ProgressTable, RowsBy};

crate::text_enum! {
    /// Whose round it is: a city's (its counties and its city level take part) or a
    /// province's (its cities and its province level).
    RoundLevel {
        City = "city": "市",
        Province = "province": "省",
    }
}

crate::text_enum! {
    /// `open` (submissions taken) → `closed` (no more submissions; review goes on) →
    /// `published` (its bulletin is out; never changes, unless the bulletin is withdrawn, which
    /// returns it to `closed`).
    RoundState {
        Open = "open": "报送中",
        Closed = "closed": "已截止",
        Published = "published": "已发布",
    }
}

crate::text_enum! {
    /// What a participant is: a county of the city (`county`), a city of the province (`city`),
    /// or the owner's own level row (`level`: 市本级 or 省本级), which its owners sign off.
    ParticipantKind {
        County = "county": "县（市、区）",
        City = "city": "地级市",
        Level = "level": "本级",
    }
}

crate::text_enum! {
    /// Where a participant stands: `not_submitted`; `submitted` (awaiting review); `returned`
    /// (sent back with a reason: no current submission); `accepted`; `stale` (submitted or
    /// accepted, but the live figures no longer equal the submitted ones). `stale` is never
    /// stored: it is found by comparing.
    ParticipantState {
        NotSubmitted = "not_submitted": "未报送",
        Submitted = "submitted": "已报送",
        Returned = "returned": "已退回",
        Accepted = "accepted": "已确认",
        Stale = "stale": "数据已变动",
    }
}

impl ParticipantState {
    /// Whether the participant has a current submission (what the submission rate counts).
    pub fn has_current(self) -> bool {
        matches!(
            self,
            ParticipantState::Submitted | ParticipantState::Accepted | ParticipantState::Stale
        )
    }

    /// The state shown: a stored `submitted` or `accepted` whose figures drifted is `stale`.
    pub fn shown(self, drifted: bool) -> ParticipantState {
        if drifted && self.has_current() {
            ParticipantState::Stale
        } else {
            self
        }
    }
}

/// A participant named: in a bulletin's list of those published unconfirmed, or a 409's.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema, PartialEq)]
pub struct ParticipantRef {
    pub participant_id: i32,
    pub name: String,
}

/// A participant whose accepted sign-off a bulletin still waits for, and where it stands.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct Unconfirmed {
    pub participant_id: i32,
    pub name: String,
    pub state: ParticipantState,
}

/// One figure of a row: a count (or an amount in fen), a yes/no, or a word or note.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
#[serde(untagged)]
pub enum Figure {
    Count(i64),
    Flag(bool),
    Text(String),
}

impl Figure {
    fn of(v: &Value) -> Option<Figure> {
        match v {
            Value::Bool(b) => Some(Figure::Flag(*b)),
            Value::Number(n) => n.as_i64().map(Figure::Count),
            Value::String(s) => Some(Figure::Text(s.clone())),
            Value::Null | Value::Array(_) | Value::Object(_) => None,
        }
    }
}

/// A figure that differs between a submission and the live table.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct CellDrift {
    /// The figure's path in the row, dotted: `stations.planned`, `funding.requested_fen`.
    pub field: String,
    /// As submitted (null when the submission had none).
    pub submitted: Option<Figure>,
    /// As the live table has it now (null when it has none).
    pub live: Option<Figure>,
}

/// Keys that name or place a row: never compared, so a rename is not a drift. `rows` are a
/// city's county rows, kept for reference only.
const IDENTITY: [&str; 8] = [
    "county_id",
    "city_id",
    "province_id",
    "division_code",
    "name",
    "kind",
    "rows",
    "cities",
];

/// Keys that print a figure (`label`, `worst_label`, `…_label`) or name a record behind it
/// (a funding cell's `request_id`), at any depth.
fn is_not_a_figure(key: &str) -> bool {
    key == "label" || key.ends_with("_label") || key == "request_id"
}

fn flatten(prefix: &str, value: &Value, into: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if (prefix.is_empty() && IDENTITY.contains(&key.as_str())) || is_not_a_figure(key) {
                    continue;
                }
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, v, into);
            }
        }
        other => {
            into.insert(prefix.to_string(), other.clone());
        }
    }
}

/// The figures of a row (a county's `ProgressRow` or a city's cells), by dotted path.
pub fn figures(row: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    flatten("", row, &mut out);
    out
}

/// Every figure that differs between a submitted row and the live one, by path (a figure one
/// side lacks, as a funding request made after sign-off, counts as null there: a null object
/// and its absent fields are alike).
pub fn drift(submitted: &Value, live: &Value) -> Vec<CellDrift> {
    let (a, b) = (figures(submitted), figures(live));
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|p| {
            let x = a.get(p).cloned().unwrap_or(Value::Null);
            let y = b.get(p).cloned().unwrap_or(Value::Null);
            (x != y).then(|| CellDrift {
                field: p.clone(),
                submitted: Figure::of(&x),
                live: Figure::of(&y),
            })
        })
        .collect()
}

/// Days a first submission on `submitted_on` came after `due_on` (0 when on time).
pub fn days_late(submitted_on: NaiveDate, due_on: NaiveDate) -> i64 {
    (submitted_on - due_on).num_days().max(0)
}

/// `n` of `of` as a percentage with one decimal, as DHIS2 prints its reporting rates (0 of 0
/// is 0).
pub fn rate(n: i64, of: i64) -> f64 {
    if of <= 0 {
        return 0.0;
    }
    ((n as f64) * 1000.0 / (of as f64)).round() / 10.0
}

/// A round's deadline is on or after its table's date, within the years tables are kept for.
pub fn check_due_on(due_on: NaiveDate, as_of: NaiveDate) -> Result<(), String> {
    use chrono::Datelike;
    if !crate::domain::FISCAL_YEARS.contains(&due_on.year()) {
        return Err("must be between 2000 and 2100".into());
    }
    if due_on < as_of {
        return Err(format!(
            "{due_on} is before the round's date {as_of}: the deadline comes after the date the figures are as of"
        ));
    }
    Ok(())
}

/// The round's table: the live table's shape (a city's by county, or a province's by county)
/// showing `rows` (its county-level rows: a city's counties and level, or a province's level)
/// and `cities` (a province's), each a participant's submitted row or its live one, in the
/// participants' order; its totals summed from what it shows, and shown `by`.
pub fn compose(
    mut table: ProgressTable,
    rows: Vec<ProgressRow>,
    cities: Vec<CityEntry>,
    by: RowsBy,
) -> ProgressTable {
    table.rows = rows;
    table.cities = cities;
    table.totals = totals(county_rows(&table));
    table.by = by;
    if by != RowsBy::County {
        for city in &mut table.cities {
            city.rows.clear();
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn a_row_that_changed_only_its_name_or_labels_has_not_drifted() {
        let submitted = json!({"county_id": 1, "name": "云城区", "trainings": 3,
            "plan_status": {"stage": "issued", "note": null, "label": "已出台"}});
        let live = json!({"county_id": 1, "name": "云城", "trainings": 3,
            "plan_status": {"stage": "issued", "note": null, "label": "已印发"}});
        assert!(drift(&submitted, &live).is_empty());
    }

    #[test]
    fn each_differing_figure_is_listed_by_its_path() {
        let submitted =
            json!({"stations": {"planned": 8, "equipment": {"full": 2}}, "trainings": 3});
        let live = json!({"stations": {"planned": 9, "equipment": {"full": 2}}, "trainings": 4});
        let cells = drift(&submitted, &live);
        let fields: Vec<&str> = cells.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["stations.planned", "trainings"]);
        assert_eq!(cells[0].submitted, Some(Figure::Count(8)));
        assert_eq!(cells[0].live, Some(Figure::Count(9)));
    }

    #[test]
    fn a_funding_request_made_after_sign_off_shows_as_its_fields() {
        let submitted = json!({"funding": null});
        let live =
            json!({"funding": {"request_id": 4, "status": "submitted", "requested_fen": 100}});
        let fields: Vec<String> = drift(&submitted, &live)
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert_eq!(fields, ["funding.requested_fen", "funding.status"]);
    }

    #[test]
    fn a_city_s_county_rows_are_kept_for_reference_and_never_compared() {
        let submitted = json!({"city_id": 2, "trainings": 5, "rows": [{"trainings": 1}]});
        let live = json!({"city_id": 2, "trainings": 5, "rows": [{"trainings": 2}]});
        assert!(drift(&submitted, &live).is_empty());
    }

    #[test]
    fn lateness_counts_whole_days_after_the_deadline() {
        assert_eq!(days_late(day("2021-06-15"), day("2021-06-15")), 0);
        assert_eq!(days_late(day("2021-06-14"), day("2021-06-15")), 0);
        assert_eq!(days_late(day("2021-06-18"), day("2021-06-15")), 3);
    }

    #[test]
    fn rates_are_percentages_with_one_decimal() {
        assert_eq!(rate(5, 6), 83.3);
        assert_eq!(rate(6, 6), 100.0);
        assert_eq!(rate(0, 0), 0.0);
    }

    #[test]
    fn a_stored_state_with_a_current_submission_shows_stale_once_drifted() {
        use ParticipantState as S;
        assert_eq!(S::Accepted.shown(true), S::Stale);
        assert_eq!(S::Submitted.shown(true), S::Stale);
        assert_eq!(S::Returned.shown(true), S::Returned);
        assert_eq!(S::Accepted.shown(false), S::Accepted);
    }

    #[test]
    fn a_deadline_comes_on_or_after_the_round_s_date() {
        assert!(check_due_on(day("2021-06-15"), day("2021-06-09")).is_ok());
        assert!(check_due_on(day("2021-06-09"), day("2021-06-09")).is_ok());
        assert!(check_due_on(day("2021-06-01"), day("2021-06-09")).is_err());
        assert!(check_due_on(day("2999-06-01"), day("2021-06-09")).is_err());
    }
}
