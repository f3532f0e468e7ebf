//! The progress table (进度情况一览表): arranging the counted figures into rows and totals.
//!
//! The counting happens in SQL; this module only places each figure in its cell, picks the
//! worst equipment level, prints labels, and sums the totals row.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::county::{plan_cell, CountyKind, PlanStage};
use crate::domain::funding::{funding_cell, FundingStage};
use crate::domain::site::EquipmentLevel;

/// The version of these rules; stored with every published snapshot.
pub const RULES_VERSION: &str = "2021.1";

/// The plan status cell.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PlanCell {
    pub stage: PlanStage,
    pub note: Option<String>,
    /// What the table prints: the note, or the stage's label (已出台).
    pub label: String,
}

/// Sites of one kind at each equipment level, among those with premises, and the worst level.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct EquipmentCell {
    pub full: i64,
    pub basic: i64,
    pub incomplete: i64,
    /// The worst level among sites with premises; null when none has premises (a blank cell).
    pub worst: Option<EquipmentLevel>,
    /// The Chinese label of `worst` (基本配备, 未配备齐全, …); null when blank.
    pub worst_label: Option<String>,
}

/// A county's figures for stations or for points.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SiteColumns {
    /// 应建: planned by the date and not closed by it.
    pub planned: i64,
    /// 已完成: of those, completed by the date.
    pub completed: i64,
    /// 落实办公场所: of those, with premises secured by the date.
    pub premises_secured: i64,
    pub equipment: EquipmentCell,
    /// 人员配备数量: people in post at the county's sites of this kind on the date.
    pub staff: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct FundingCell {
    pub request_id: i32,
    pub status: FundingStage,
    pub requested_fen: Option<i64>,
    pub approved_fen: Option<i64>,
    pub note: Option<String>,
    /// What the table prints: the latest note, or the stage's label with the amount.
    pub label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ProgressRow {
    pub county_id: i32,
    pub division_code: String,
    pub name: String,
    pub kind: CountyKind,
    pub plan_status: PlanCell,
    /// Null for the city level, which has no sites of its own.
    pub stations: Option<SiteColumns>,
    pub points: Option<SiteColumns>,
    /// 是否建立工作协调机制, by the date.
    pub coordination_mechanism: bool,
    /// 是否建立站点管理机制, by the date.
    pub management_mechanism: bool,
    /// 是 or 否.
    pub coordination_mechanism_label: String,
    pub management_mechanism_label: String,
    /// The county's funding request of the fiscal year as of the date; null when none.
    pub funding: Option<FundingCell>,
    /// Pre-job and professional sessions held on or before the date, all years.
    pub trainings: i64,
}

/// The count columns summed over every row.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TotalColumns {
    pub planned: i64,
    pub completed: i64,
    pub premises_secured: i64,
    pub staff: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Totals {
    pub stations: TotalColumns,
    pub points: TotalColumns,
    pub trainings: i64,
}

/// The table as of a date.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ProgressTable {
    pub as_of: NaiveDate,
    /// The fiscal year whose funding requests are shown.
    pub fiscal_year: i32,
    /// Counties in the seed's order (districts, county-level cities, counties), the city level last.
    pub rows: Vec<ProgressRow>,
    pub totals: Totals,
}

/// What the database counted, per county.
#[derive(Debug, Clone)]
pub struct CountyFacts {
    pub county_id: i32,
    pub division_code: String,
    pub name: String,
    pub kind: CountyKind,
    pub plan: Option<(PlanStage, Option<String>)>,
    pub coordination_on: Option<NaiveDate>,
    pub management_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Default)]
pub struct SiteFigures {
    pub planned: i64,
    pub completed: i64,
    pub premises: i64,
    pub full: i64,
    pub basic: i64,
    pub incomplete: i64,
    pub staff: i64,
}

#[derive(Debug, Clone)]
pub struct FundingFacts {
    pub request_id: i32,
    pub stage: FundingStage,
    pub requested_fen: Option<i64>,
    pub approved_fen: Option<i64>,
    pub note: Option<String>,
}

/// Everything counted for one county.
#[derive(Debug, Clone)]
pub struct Counted {
    pub county: CountyFacts,
    pub stations: SiteFigures,
    pub points: SiteFigures,
    pub funding: Option<FundingFacts>,
    pub trainings: i64,
}

fn yes_no(b: bool) -> String {
    if b { "是" } else { "否" }.to_string()
}

fn columns(f: &SiteFigures) -> SiteColumns {
    let worst = [
        (f.incomplete, EquipmentLevel::Incomplete),
        (f.basic, EquipmentLevel::Basic),
        (f.full, EquipmentLevel::Full),
    ]
    .into_iter()
    .find(|(n, _)| *n > 0)
    .map(|(_, level)| level);
    SiteColumns {
        planned: f.planned,
        completed: f.completed,
        premises_secured: f.premises,
        equipment: EquipmentCell {
            full: f.full,
            basic: f.basic,
            incomplete: f.incomplete,
            worst,
            worst_label: worst.map(|w| w.label().to_string()),
        },
        staff: f.staff,
    }
}

/// Seed order: districts, county-level cities, counties, then the city level; by code within.
pub fn sort_rows(rows: &mut [ProgressRow]) {
    rows.sort_by(|a, b| {
        (a.kind.table_order(), &a.division_code).cmp(&(b.kind.table_order(), &b.division_code))
    });
}

fn add(total: &mut TotalColumns, c: &SiteColumns) {
    total.planned += c.planned;
    total.completed += c.completed;
    total.premises_secured += c.premises_secured;
    total.staff += c.staff;
}

pub fn build(as_of: NaiveDate, fiscal_year: i32, counted: Vec<Counted>) -> ProgressTable {
    let mut rows: Vec<ProgressRow> = counted
        .into_iter()
        .map(|c| {
            let city = c.county.kind.is_level();
            let (stage, note) = c
                .county
                .plan
                .clone()
                .unwrap_or((PlanStage::NotStarted, None));
            let coordination = c.county.coordination_on.is_some_and(|d| d <= as_of);
            let management = c.county.management_on.is_some_and(|d| d <= as_of);
            ProgressRow {
                county_id: c.county.county_id,
                division_code: c.county.division_code,
                name: c.county.name,
                kind: c.county.kind,
                plan_status: PlanCell {
                    label: plan_cell(stage, note.as_deref()),
                    stage,
                    note,
                },
                stations: (!city).then(|| columns(&c.stations)),
                points: (!city).then(|| columns(&c.points)),
                coordination_mechanism: coordination,
                management_mechanism: management,
                coordination_mechanism_label: yes_no(coordination),
                management_mechanism_label: yes_no(management),
                funding: c.funding.map(|f| FundingCell {
                    label: funding_cell(
                        f.stage,
                        f.note.as_deref(),
                        f.requested_fen,
                        f.approved_fen,
                    ),
                    request_id: f.request_id,
                    status: f.stage,
                    requested_fen: f.requested_fen,
                    approved_fen: f.approved_fen,
                    note: f.note,
                }),
                trainings: c.trainings,
            }
        })
        .collect();
    sort_rows(&mut rows);
    let mut totals = Totals::default();
    for row in &rows {
        if let Some(s) = &row.stations {
            add(&mut totals.stations, s);
        }
        if let Some(p) = &row.points {
            add(&mut totals.points, p);
        }
        totals.trainings += row.trainings;
    }
    ProgressTable {
        as_of,
        fiscal_year,
        rows,
        totals,
    }
}

/// One count column at both ends of a comparison.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CountChange {
    /// `stations.planned`, `points.staff`, `trainings`, …
    pub column: String,
    /// Null where the column is blank (the city level's sites) or the county is absent.
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub change: i64,
}

/// A stage (plan or funding) at both ends, as labels.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct StageChange {
    pub from: Option<String>,
    pub to: Option<String>,
    pub changed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CountyChanges {
    pub county_id: i32,
    pub division_code: String,
    pub name: String,
    pub counts: Vec<CountChange>,
    pub plan_status: StageChange,
    pub funding_status: StageChange,
}

fn count_columns(row: Option<&ProgressRow>) -> Vec<(String, Option<i64>)> {
    let mut out = Vec::new();
    for (kind, cols) in [
        ("stations", row.and_then(|r| r.stations.as_ref())),
        ("points", row.and_then(|r| r.points.as_ref())),
    ] {
        out.push((format!("{kind}.planned"), cols.map(|c| c.planned)));
        out.push((format!("{kind}.completed"), cols.map(|c| c.completed)));
        out.push((
            format!("{kind}.premises_secured"),
            cols.map(|c| c.premises_secured),
        ));
        out.push((format!("{kind}.staff"), cols.map(|c| c.staff)));
    }
    out.push(("trainings".into(), row.map(|r| r.trainings)));
    out
}

fn totals_columns(t: &Totals) -> Vec<(String, Option<i64>)> {
    let mut out = Vec::new();
    for (kind, c) in [("stations", &t.stations), ("points", &t.points)] {
        out.push((format!("{kind}.planned"), Some(c.planned)));
        out.push((format!("{kind}.completed"), Some(c.completed)));
        out.push((format!("{kind}.premises_secured"), Some(c.premises_secured)));
        out.push((format!("{kind}.staff"), Some(c.staff)));
    }
    out.push(("trainings".into(), Some(t.trainings)));
    out
}

fn pair(a: Vec<(String, Option<i64>)>, b: Vec<(String, Option<i64>)>) -> Vec<CountChange> {
    a.into_iter()
        .zip(b)
        .map(|((column, from), (_, to))| CountChange {
            change: to.unwrap_or(0) - from.unwrap_or(0),
            column,
            from,
            to,
        })
        .collect()
}

fn stage_change(from: Option<String>, to: Option<String>) -> StageChange {
    StageChange {
        changed: from != to,
        from,
        to,
    }
}

/// Per county, every count column at both ends and the difference, and the plan and funding
/// stages at both ends; then the totals' differences.
pub fn compare(from: &ProgressTable, to: &ProgressTable) -> (Vec<CountyChanges>, Vec<CountChange>) {
    let mut ids: Vec<&ProgressRow> = to.rows.iter().collect();
    for r in &from.rows {
        if !to.rows.iter().any(|t| t.county_id == r.county_id) {
            ids.push(r);
        }
    }
    let rows = ids
        .into_iter()
        .map(|r| {
            let a = from.rows.iter().find(|x| x.county_id == r.county_id);
            let b = to.rows.iter().find(|x| x.county_id == r.county_id);
            CountyChanges {
                county_id: r.county_id,
                division_code: r.division_code.clone(),
                name: r.name.clone(),
                counts: pair(count_columns(a), count_columns(b)),
                plan_status: stage_change(
                    a.map(|x| x.plan_status.stage.to_string()),
                    b.map(|x| x.plan_status.stage.to_string()),
                ),
                funding_status: stage_change(
                    a.and_then(|x| x.funding.as_ref().map(|f| f.status.to_string())),
                    b.and_then(|x| x.funding.as_ref().map(|f| f.status.to_string())),
                ),
            }
        })
        .collect();
    (
        rows,
        pair(totals_columns(&from.totals), totals_columns(&to.totals)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn county(id: i32, code: &str, kind: CountyKind) -> CountyFacts {
        CountyFacts {
            county_id: id,
            division_code: code.into(),
            name: code.into(),
            kind,
            plan: None,
            coordination_on: Some(d("2021-03-01")),
            management_on: Some(d("2021-07-01")),
        }
    }

    fn counted(c: CountyFacts, stations: SiteFigures) -> Counted {
        Counted {
            county: c,
            stations,
            points: SiteFigures::default(),
            funding: None,
            trainings: 1,
        }
    }

    #[test]
    fn rows_follow_the_seed_order_and_totals_sum_the_counts() {
        let t = build(
            d("2021-06-09"),
            2021,
            vec![
                counted(
                    county(6, "445300", CountyKind::CityLevel),
                    SiteFigures::default(),
                ),
                counted(
                    county(4, "445321", CountyKind::County),
                    SiteFigures {
                        planned: 12,
                        premises: 12,
                        basic: 12,
                        staff: 24,
                        ..Default::default()
                    },
                ),
                counted(
                    county(3, "445381", CountyKind::CountyCity),
                    SiteFigures {
                        planned: 21,
                        completed: 5,
                        premises: 14,
                        basic: 13,
                        incomplete: 1,
                        staff: 28,
                        ..Default::default()
                    },
                ),
                counted(
                    county(1, "445302", CountyKind::District),
                    SiteFigures::default(),
                ),
            ],
        );
        let codes: Vec<&str> = t.rows.iter().map(|r| r.division_code.as_str()).collect();
        assert_eq!(codes, vec!["445302", "445381", "445321", "445300"]);
        assert_eq!(t.totals.stations.planned, 33);
        assert_eq!(t.totals.stations.staff, 52);
        assert_eq!(t.totals.trainings, 4);
        assert!(t.rows[3].stations.is_none(), "the city level has no sites");
        let luoding = t.rows[1].stations.as_ref().expect("stations");
        assert_eq!(luoding.equipment.worst, Some(EquipmentLevel::Incomplete));
        assert_eq!(luoding.equipment.worst_label.as_deref(), Some("未配备齐全"));
        let yuncheng = t.rows[0].stations.as_ref().expect("stations");
        assert_eq!(yuncheng.equipment.worst, None, "blank without premises");
        assert!(t.rows[0].coordination_mechanism);
        assert!(
            !t.rows[0].management_mechanism,
            "established after the date"
        );
        assert_eq!(t.rows[0].management_mechanism_label, "否");
        assert_eq!(t.rows[0].plan_status.label, "未启动");
    }
}
