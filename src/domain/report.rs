//! The progress table (进度情况一览表): arranging the counted figures into rows and totals.
//!
//! The counting happens in SQL; this module only places each figure in its cell, picks the
//! worst equipment level, prints labels, and sums the totals row.

use std::collections::{BTreeMap, HashMap};

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

crate::text_enum! {
    /// Whose table it is: `city` 市 (a row per county), `province` 省 (a row per city) or
    /// `nation` 全国 (a row per province).
    TableLevel {
        City = "city": "市",
        Province = "province": "省",
        Nation = "nation": "全国",
    }
}

crate::text_enum! {
    /// What each row of a table stands for (`by`): `county` 县 (each county-level row), `city`
    /// 市 or `province` 省. Finer rows come grouped under their city or province, each group
    /// followed by its sums.
    RowsBy {
        County = "county": "县",
        City = "city": "市",
        Province = "province": "省",
    }
}

/// Snapshots frozen before tables had levels were a city's, by county.
impl Default for TableLevel {
    fn default() -> Self {
        TableLevel::City
    }
}

#[allow(
    clippy::derivable_impls,
    reason = "text_enum! makes the enum and derives no Default"
)]
impl Default for RowsBy {
    fn default() -> Self {
        RowsBy::County
    }
}

impl TableLevel {
    /// The rows a table of this level has when none are asked for: a row per member.
    pub fn default_by(self) -> RowsBy {
        match self {
            TableLevel::City => RowsBy::County,
            TableLevel::Province => RowsBy::City,
            TableLevel::Nation => RowsBy::Province,
        }
    }

    /// `by` as asked for, or this level's default; a unit coarser than the level's members is
    /// refused (a city's table has no city rows, a province's no province rows).
    pub fn rows_by(self, by: Option<RowsBy>) -> Result<RowsBy, String> {
        let by = by.unwrap_or(self.default_by());
        let fits = match self {
            TableLevel::City => by == RowsBy::County,
            TableLevel::Province => by != RowsBy::Province,
            TableLevel::Nation => true,
        };
        if fits {
            Ok(by)
        } else {
            Err(format!(
                "a {} table has rows by {}",
                self.word(),
                match self {
                    TableLevel::City => "county",
                    _ => "county or city",
                }
            ))
        }
    }

    fn word(self) -> &'static str {
        match self {
            TableLevel::City => "city's",
            TableLevel::Province => "province's",
            TableLevel::Nation => "national",
        }
    }
}

/// How many rows are at each stage (`{"issued": 4, "approved": 1}`), and what the table prints
/// (已出台4个，已同意1个), the furthest stage first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct StageCounts {
    /// Per stage word (`issued`, `approved`, …), stages with none left out.
    pub counts: BTreeMap<String, i64>,
    pub label: String,
}

/// A mechanism established in `established` of `of` county-level rows; printed `4/6`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct MechanismCount {
    pub established: i64,
    pub of: i64,
    pub label: String,
}

/// The cells of a city's or a province's row, summed over its county-level rows (its counties
/// and its own level rows): the counts as sums; the equipment cell as counts per level with the
/// worst; the plan and funding stages as counts per stage; the mechanisms as "N of M".
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SummedCells {
    pub plan_status: StageCounts,
    pub stations: SiteColumns,
    pub points: SiteColumns,
    pub coordination_mechanism: MechanismCount,
    pub management_mechanism: MechanismCount,
    /// The requests of the fiscal year as of the date, per stage; rows without one not counted.
    pub funding: StageCounts,
    pub trainings: i64,
}

/// A city's row in a province's or the nation's table.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CityEntry {
    pub city_id: i32,
    pub division_code: String,
    pub name: String,
    #[serde(flatten)]
    pub cells: SummedCells,
    /// With `by=county`: its county-level rows in the seed's order, its level row last (the
    /// city's row is then their subtotal); otherwise empty.
    pub rows: Vec<ProgressRow>,
}

/// A province's row in the nation's table.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ProvinceEntry {
    pub province_id: i32,
    pub division_code: String,
    pub name: String,
    #[serde(flatten)]
    pub cells: SummedCells,
    /// With `by=city` or `by=county`: its cities (the province's row is then their subtotal,
    /// with its own level); otherwise empty.
    pub cities: Vec<CityEntry>,
    /// With `by=city` or `by=county`: the province's own level row (省本级); otherwise empty.
    pub rows: Vec<ProgressRow>,
}

/// The table as of a date. A city's: `rows` holds a row per county, the city level last. A
/// province's: `cities` a row per city, `rows` the province's own level. The nation's:
/// `provinces` a row per province. Printed in that order: each group's finer rows, then its
/// level rows, then its sums; the table's own `rows`; the totals.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ProgressTable {
    #[serde(default)]
    pub level: TableLevel,
    #[serde(default)]
    pub by: RowsBy,
    /// The city whose table it is (a city's table).
    #[serde(default)]
    pub city_id: Option<i32>,
    /// The province whose table it is (a province's table).
    #[serde(default)]
    pub province_id: Option<i32>,
    pub as_of: NaiveDate,
    /// The fiscal year whose funding requests are shown.
    pub fiscal_year: i32,
    /// County-level rows directly under the table's level, in the seed's order (districts,
    /// county-level cities, counties), the level row last.
    pub rows: Vec<ProgressRow>,
    /// A province's table: a row per city, by code.
    #[serde(default)]
    pub cities: Vec<CityEntry>,
    /// The nation's table: a row per province, by code.
    #[serde(default)]
    pub provinces: Vec<ProvinceEntry>,
    /// Summed over every county-level row of the table.
    pub totals: Totals,
}

/// A city or a province a table arranges rows under.
#[derive(Debug, Clone)]
pub struct Division {
    pub id: i32,
    pub division_code: String,
    pub name: String,
    /// A city's province.
    pub province_id: Option<i32>,
}

/// Which table to arrange: its level, its rows, and whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableOf {
    pub level: TableLevel,
    pub by: RowsBy,
    pub city_id: Option<i32>,
    pub province_id: Option<i32>,
}

/// What the database counted, per county.
#[derive(Debug, Clone)]
pub struct CountyFacts {
    pub county_id: i32,
    pub division_code: String,
    pub name: String,
    pub kind: CountyKind,
    /// Its city; none for a province level.
    pub city_id: Option<i32>,
    pub province_id: i32,
    pub plan: Option<(PlanStage, Option<String>)>,
    pub coordination_on: Option<NaiveDate>,
    pub management_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SiteFigures {
    pub planned: i64,
    pub completed: i64,
    pub premises: i64,
    pub full: i64,
    pub basic: i64,
    pub incomplete: i64,
    pub staff: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FundingFacts {
    pub request_id: i32,
    pub stage: FundingStage,
    pub requested_fen: Option<i64>,
    pub approved_fen: Option<i64>,
    pub note: Option<String>,
}

/// What the database counted for one county-level row as of a date and for a fiscal year: what
/// is kept between requests (`kept_figures`); the row's name, place and mechanisms are read
/// afresh with it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RowCounts {
    pub stations: SiteFigures,
    pub points: SiteFigures,
    /// The plan's stage and note as of the date; none before its first change.
    pub plan: Option<(PlanStage, Option<String>)>,
    pub funding: Option<FundingFacts>,
    pub trainings: i64,
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

fn add(total: &mut TotalColumns, c: &SiteColumns) {
    total.planned += c.planned;
    total.completed += c.completed;
    total.premises_secured += c.premises_secured;
    total.staff += c.staff;
}

fn progress_row(c: Counted, as_of: NaiveDate) -> ProgressRow {
    let level = c.county.kind.is_level();
    let (stage, note) = c.county.plan.unwrap_or((PlanStage::NotStarted, None));
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
        stations: (!level).then(|| columns(&c.stations)),
        points: (!level).then(|| columns(&c.points)),
        coordination_mechanism: coordination,
        management_mechanism: management,
        coordination_mechanism_label: yes_no(coordination),
        management_mechanism_label: yes_no(management),
        funding: c.funding.map(|f| FundingCell {
            label: funding_cell(f.stage, f.note.as_deref(), f.requested_fen, f.approved_fen),
            request_id: f.request_id,
            status: f.stage,
            requested_fen: f.requested_fen,
            approved_fen: f.approved_fen,
            note: f.note,
        }),
        trainings: c.trainings,
    }
}

fn add_figures(into: &mut SiteFigures, c: &SiteColumns) {
    into.planned += c.planned;
    into.completed += c.completed;
    into.premises += c.premises_secured;
    into.full += c.equipment.full;
    into.basic += c.equipment.basic;
    into.incomplete += c.equipment.incomplete;
    into.staff += c.staff;
}

/// The furthest stage first, as the bureau reads a summary.
const PLAN_ORDER: [PlanStage; 4] = [
    PlanStage::Issued,
    PlanStage::Approved,
    PlanStage::Drafting,
    PlanStage::NotStarted,
];
const FUNDING_ORDER: [FundingStage; 7] = [
    FundingStage::Approved,
    FundingStage::Submitted,
    FundingStage::Consulting,
    FundingStage::Estimating,
    FundingStage::Returned,
    FundingStage::Rejected,
    FundingStage::Withdrawn,
];

fn stage_counts<S: Copy + Eq + std::hash::Hash + std::fmt::Display>(
    counted: &HashMap<S, i64>,
    order: &[S],
    label: fn(S) -> &'static str,
) -> StageCounts {
    let present: Vec<(S, i64)> = order
        .iter()
        .filter_map(|s| counted.get(s).map(|n| (*s, *n)))
        .collect();
    StageCounts {
        counts: present.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
        label: present
            .iter()
            .map(|(s, n)| format!("{}{n}个", label(*s)))
            .collect::<Vec<_>>()
            .join("，"),
    }
}

fn mechanism(established: i64, of: i64) -> MechanismCount {
    MechanismCount {
        established,
        of,
        label: format!("{established}/{of}"),
    }
}

/// A city's or a province's cells from its county-level rows: always the sum of the rows
/// themselves, so a group's row and its members never disagree.
pub fn sum<'a>(rows: impl IntoIterator<Item = &'a ProgressRow>) -> SummedCells {
    let (mut stations, mut points) = (SiteFigures::default(), SiteFigures::default());
    let mut plans: HashMap<PlanStage, i64> = HashMap::new();
    let mut funding: HashMap<FundingStage, i64> = HashMap::new();
    let (mut members, mut coordination, mut management, mut trainings) = (0, 0, 0, 0);
    for r in rows {
        if let Some(s) = &r.stations {
            add_figures(&mut stations, s);
        }
        if let Some(p) = &r.points {
            add_figures(&mut points, p);
        }
        *plans.entry(r.plan_status.stage).or_default() += 1;
        if let Some(f) = &r.funding {
            *funding.entry(f.status).or_default() += 1;
        }
        members += 1;
        coordination += i64::from(r.coordination_mechanism);
        management += i64::from(r.management_mechanism);
        trainings += r.trainings;
    }
    SummedCells {
        plan_status: stage_counts(&plans, &PLAN_ORDER, PlanStage::label),
        stations: columns(&stations),
        points: columns(&points),
        coordination_mechanism: mechanism(coordination, members),
        management_mechanism: mechanism(management, members),
        funding: stage_counts(&funding, &FUNDING_ORDER, FundingStage::label),
        trainings,
    }
}

fn city_entry(city: &Division, rows: Vec<ProgressRow>, by: RowsBy) -> CityEntry {
    CityEntry {
        city_id: city.id,
        division_code: city.division_code.clone(),
        name: city.name.clone(),
        cells: sum(&rows),
        rows: if by == RowsBy::County {
            rows
        } else {
            Vec::new()
        },
    }
}

fn by_code(divisions: &[Division]) -> Vec<&Division> {
    let mut sorted: Vec<&Division> = divisions.iter().collect();
    sorted.sort_by(|a, b| a.division_code.cmp(&b.division_code));
    sorted
}

/// The totals row: the count columns summed over county-level rows.
pub fn totals<'a>(rows: impl IntoIterator<Item = &'a ProgressRow>) -> Totals {
    let mut totals = Totals::default();
    for row in rows {
        if let Some(s) = &row.stations {
            add(&mut totals.stations, s);
        }
        if let Some(p) = &row.points {
            add(&mut totals.points, p);
        }
        totals.trainings += row.trainings;
    }
    totals
}

/// Arranges the counted county-level rows into the table `of` asks for: a city's rows as they
/// are; a province's under its cities (`cities`, each with its province); the nation's under its
/// provinces. Totals are over every row counted.
pub fn build(
    of: TableOf,
    as_of: NaiveDate,
    fiscal_year: i32,
    provinces: &[Division],
    cities: &[Division],
    counted: Vec<Counted>,
) -> ProgressTable {
    let mut placed: Vec<(Option<i32>, i32, ProgressRow)> = counted
        .into_iter()
        .map(|c| {
            (
                c.county.city_id,
                c.county.province_id,
                progress_row(c, as_of),
            )
        })
        .collect();
    placed.sort_by(|a, b| {
        (a.2.kind.table_order(), &a.2.division_code)
            .cmp(&(b.2.kind.table_order(), &b.2.division_code))
    });
    let totals = totals(placed.iter().map(|(_, _, row)| row));
    let mut table = ProgressTable {
        level: of.level,
        by: of.by,
        city_id: of.city_id,
        province_id: of.province_id,
        as_of,
        fiscal_year,
        rows: Vec::new(),
        cities: Vec::new(),
        provinces: Vec::new(),
        totals,
    };
    if of.level == TableLevel::City {
        table.rows = placed.into_iter().map(|(_, _, row)| row).collect();
        return table;
    }
    // Each county-level row under its city, or, for a province level, under its province.
    let mut groups: HashMap<(Option<i32>, i32), Vec<ProgressRow>> = HashMap::new();
    for (city, province, row) in placed {
        groups
            .entry((city, if city.is_some() { 0 } else { province }))
            .or_default()
            .push(row);
    }
    let mut take = |key| groups.remove(&key).unwrap_or_default();
    if of.level == TableLevel::Province {
        for city in by_code(cities) {
            let rows = take((Some(city.id), 0));
            table.cities.push(city_entry(city, rows, of.by));
        }
        table.rows = take((None, of.province_id.unwrap_or_default()));
        return table;
    }
    let shown = of.by != RowsBy::Province;
    for province in by_code(provinces) {
        let members: Vec<(&Division, Vec<ProgressRow>)> = by_code(cities)
            .into_iter()
            .filter(|c| c.province_id == Some(province.id))
            .map(|c| (c, take((Some(c.id), 0))))
            .collect();
        let own = take((None, province.id));
        let cells = sum(members.iter().flat_map(|(_, rows)| rows).chain(&own));
        table.provinces.push(ProvinceEntry {
            province_id: province.id,
            division_code: province.division_code.clone(),
            name: province.name.clone(),
            cells,
            cities: if shown {
                members
                    .into_iter()
                    .map(|(c, rows)| city_entry(c, rows, of.by))
                    .collect()
            } else {
                Vec::new()
            },
            rows: if shown { own } else { Vec::new() },
        });
    }
    table
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
    site_count_columns(
        row.and_then(|r| r.stations.as_ref()),
        row.and_then(|r| r.points.as_ref()),
        row.map(|r| r.trainings),
    )
}

fn site_count_columns(
    stations: Option<&SiteColumns>,
    points: Option<&SiteColumns>,
    trainings: Option<i64>,
) -> Vec<(String, Option<i64>)> {
    let mut out = Vec::new();
    for (kind, cols) in [("stations", stations), ("points", points)] {
        out.push((format!("{kind}.planned"), cols.map(|c| c.planned)));
        out.push((format!("{kind}.completed"), cols.map(|c| c.completed)));
        out.push((
            format!("{kind}.premises_secured"),
            cols.map(|c| c.premises_secured),
        ));
        out.push((format!("{kind}.staff"), cols.map(|c| c.staff)));
    }
    out.push(("trainings".into(), trainings));
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

/// A city's or a province's row at both ends of a comparison.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DivisionChanges {
    /// `city` or `province`.
    pub level: TableLevel,
    /// The city's or the province's id.
    pub id: i32,
    pub division_code: String,
    pub name: String,
    pub counts: Vec<CountChange>,
    /// The stage counts at both ends, as printed (已出台4个，已同意1个).
    pub plan_status: StageChange,
    pub funding_status: StageChange,
}

/// Every county-level row a table holds, wherever it is placed.
pub fn county_rows(t: &ProgressTable) -> Vec<&ProgressRow> {
    let mut rows: Vec<&ProgressRow> = Vec::new();
    for p in &t.provinces {
        for c in &p.cities {
            rows.extend(&c.rows);
        }
        rows.extend(&p.rows);
    }
    for c in &t.cities {
        rows.extend(&c.rows);
    }
    rows.extend(&t.rows);
    rows
}

type DivisionKey = (TableLevel, i32);

/// Every city and province row a table holds, in its order, with its cells.
fn division_rows(t: &ProgressTable) -> Vec<(DivisionKey, &str, &str, &SummedCells)> {
    fn city(c: &CityEntry) -> (DivisionKey, &str, &str, &SummedCells) {
        let key = (TableLevel::City, c.city_id);
        (key, c.division_code.as_str(), c.name.as_str(), &c.cells)
    }
    let mut out = Vec::new();
    for p in &t.provinces {
        out.extend(p.cities.iter().map(city));
        let key = (TableLevel::Province, p.province_id);
        out.push((key, p.division_code.as_str(), p.name.as_str(), &p.cells));
    }
    out.extend(t.cities.iter().map(city));
    out
}

/// Every change between two tables: per county-level row and per city or province row, each
/// count column at both ends and the difference, and the plan and funding stages at both ends;
/// then the totals' differences.
#[derive(Debug, Clone, PartialEq)]
pub struct TableChanges {
    pub rows: Vec<CountyChanges>,
    pub divisions: Vec<DivisionChanges>,
    pub totals: Vec<CountChange>,
}

pub fn compare(from: &ProgressTable, to: &ProgressTable) -> TableChanges {
    let (a_rows, b_rows) = (county_rows(from), county_rows(to));
    let a_by: HashMap<i32, &ProgressRow> = a_rows.iter().map(|r| (r.county_id, *r)).collect();
    let b_by: HashMap<i32, &ProgressRow> = b_rows.iter().map(|r| (r.county_id, *r)).collect();
    let mut listed: Vec<&ProgressRow> = b_rows.clone();
    listed.extend(a_rows.iter().filter(|r| !b_by.contains_key(&r.county_id)));
    let rows = listed
        .into_iter()
        .map(|r| {
            let a = a_by.get(&r.county_id).copied();
            let b = b_by.get(&r.county_id).copied();
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
    let (a_div, b_div) = (division_rows(from), division_rows(to));
    let a_cells: HashMap<DivisionKey, &SummedCells> = a_div.iter().map(|d| (d.0, d.3)).collect();
    let b_keys: Vec<DivisionKey> = b_div.iter().map(|d| d.0).collect();
    let mut listed = b_div.clone();
    listed.extend(a_div.iter().filter(|d| !b_keys.contains(&d.0)).cloned());
    let b_cells: HashMap<DivisionKey, &SummedCells> = b_div.iter().map(|d| (d.0, d.3)).collect();
    let columns = |c: Option<&SummedCells>| {
        site_count_columns(
            c.map(|c| &c.stations),
            c.map(|c| &c.points),
            c.map(|c| c.trainings),
        )
    };
    let divisions = listed
        .into_iter()
        .map(|(key, code, name, _)| {
            let a = a_cells.get(&key).copied();
            let b = b_cells.get(&key).copied();
            DivisionChanges {
                level: key.0,
                id: key.1,
                division_code: code.to_string(),
                name: name.to_string(),
                counts: pair(columns(a), columns(b)),
                plan_status: stage_change(
                    a.map(|c| c.plan_status.label.clone()),
                    b.map(|c| c.plan_status.label.clone()),
                ),
                funding_status: stage_change(
                    a.map(|c| c.funding.label.clone()),
                    b.map(|c| c.funding.label.clone()),
                ),
            }
        })
        .collect();
    TableChanges {
        rows,
        divisions,
        totals: pair(totals_columns(&from.totals), totals_columns(&to.totals)),
    }
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
            city_id: Some(1),
            province_id: 1,
            plan: None,
            coordination_on: Some(d("2021-03-01")),
            management_on: Some(d("2021-07-01")),
        }
    }

    const CITY: TableOf = TableOf {
        level: TableLevel::City,
        by: RowsBy::County,
        city_id: Some(1),
        province_id: None,
    };

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
            CITY,
            d("2021-06-09"),
            2021,
            &[],
            &[],
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

    fn division(id: i32, code: &str, province_id: Option<i32>) -> Division {
        Division {
            id,
            division_code: code.into(),
            name: code.into(),
            province_id,
        }
    }

    /// Two cities of one province: 云浮 (two counties and its level) and 揭阳 (one county and
    /// its level), and the province's own level.
    fn province_rows() -> Vec<Counted> {
        let placed = |id, code, kind, city: Option<i32>| CountyFacts {
            city_id: city,
            ..county(id, code, kind)
        };
        let mut yuncheng = counted(
            placed(1, "445302", CountyKind::District, Some(10)),
            SiteFigures {
                planned: 8,
                completed: 8,
                premises: 8,
                full: 2,
                basic: 6,
                staff: 16,
                ..Default::default()
            },
        );
        yuncheng.county.plan = Some((PlanStage::Issued, None));
        yuncheng.county.management_on = Some(d("2021-05-01"));
        yuncheng.funding = Some(FundingFacts {
            request_id: 1,
            stage: FundingStage::Approved,
            requested_fen: Some(100),
            approved_fen: Some(100),
            note: None,
        });
        let mut luoding = counted(
            placed(2, "445381", CountyKind::CountyCity, Some(10)),
            SiteFigures {
                planned: 21,
                premises: 14,
                basic: 13,
                incomplete: 1,
                staff: 28,
                ..Default::default()
            },
        );
        luoding.county.plan = Some((PlanStage::Issued, None));
        luoding.county.management_on = None;
        let mut rongcheng = counted(
            placed(4, "445202", CountyKind::District, Some(20)),
            SiteFigures {
                planned: 5,
                completed: 1,
                staff: 3,
                ..Default::default()
            },
        );
        rongcheng.county.plan = Some((PlanStage::Approved, None));
        rongcheng.funding = Some(FundingFacts {
            request_id: 2,
            stage: FundingStage::Submitted,
            requested_fen: Some(50),
            approved_fen: None,
            note: None,
        });
        vec![
            yuncheng,
            luoding,
            counted(
                placed(3, "445300", CountyKind::CityLevel, Some(10)),
                SiteFigures::default(),
            ),
            rongcheng,
            counted(
                placed(5, "445200", CountyKind::CityLevel, Some(20)),
                SiteFigures::default(),
            ),
            counted(
                placed(6, "440000", CountyKind::ProvinceLevel, None),
                SiteFigures::default(),
            ),
        ]
    }

    #[test]
    fn a_citys_row_in_the_provinces_table_sums_its_counties_and_its_level() {
        let of = TableOf {
            level: TableLevel::Province,
            by: RowsBy::County,
            city_id: None,
            province_id: Some(1),
        };
        let cities = [
            division(20, "445200", Some(1)),
            division(10, "445300", Some(1)),
        ];
        let t = build(of, d("2021-06-09"), 2021, &[], &cities, province_rows());
        let codes: Vec<&str> = t.cities.iter().map(|c| c.division_code.as_str()).collect();
        assert_eq!(codes, vec!["445200", "445300"], "cities by code");
        let yunfu = &t.cities[1];
        let own: Vec<&str> = yunfu
            .rows
            .iter()
            .map(|r| r.division_code.as_str())
            .collect();
        assert_eq!(
            own,
            vec!["445302", "445381", "445300"],
            "by county: its rows, level last"
        );
        let s = &yunfu.cells.stations;
        assert_eq!(
            (s.planned, s.completed, s.premises_secured, s.staff),
            (29, 8, 22, 44)
        );
        let e = &s.equipment;
        assert_eq!((e.full, e.basic, e.incomplete), (2, 19, 1));
        assert_eq!(e.worst_label.as_deref(), Some("未配备齐全"));
        assert_eq!(yunfu.cells.plan_status.label, "已出台2个，未启动1个");
        assert_eq!(yunfu.cells.plan_status.counts["issued"], 2);
        assert_eq!(yunfu.cells.coordination_mechanism.label, "3/3");
        assert_eq!(
            yunfu.cells.management_mechanism.label, "1/3",
            "only 云城 by the date"
        );
        assert_eq!(yunfu.cells.funding.label, "已批准1个");
        assert_eq!(t.cities[0].cells.funding.label, "已报审批1个");
        assert_eq!(
            t.cities[0].cells.stations.equipment.worst, None,
            "no premises: blank"
        );
        let level: Vec<&str> = t.rows.iter().map(|r| r.division_code.as_str()).collect();
        assert_eq!(
            level,
            vec!["440000"],
            "the province's own level after its cities"
        );
        assert_eq!(t.totals.stations.planned, 34);
        assert_eq!(t.totals.stations.staff, 47);
        assert_eq!(t.totals.trainings, 6);
        let by_city = build(
            TableOf {
                by: RowsBy::City,
                ..of
            },
            d("2021-06-09"),
            2021,
            &[],
            &cities,
            province_rows(),
        );
        assert!(
            by_city.cities.iter().all(|c| c.rows.is_empty()),
            "by city: no county rows"
        );
        assert_eq!(by_city.cities[1].cells, yunfu.cells);
    }

    #[test]
    fn a_provinces_row_in_the_nations_table_sums_its_cities_and_its_level() {
        let of = TableOf {
            level: TableLevel::Nation,
            by: RowsBy::Province,
            city_id: None,
            province_id: None,
        };
        let cities = [
            division(20, "445200", Some(1)),
            division(10, "445300", Some(1)),
        ];
        let provinces = [division(1, "440000", None), division(2, "450000", None)];
        let t = build(
            of,
            d("2021-06-09"),
            2021,
            &provinces,
            &cities,
            province_rows(),
        );
        assert_eq!(t.provinces.len(), 2);
        let guangdong = &t.provinces[0];
        assert!(guangdong.cities.is_empty() && guangdong.rows.is_empty());
        assert_eq!(guangdong.cells.stations.planned, 34);
        assert_eq!(
            guangdong.cells.plan_status.label,
            "已出台2个，已同意1个，未启动3个"
        );
        assert_eq!(guangdong.cells.coordination_mechanism.label, "6/6");
        assert_eq!(t.provinces[1].cells.coordination_mechanism.label, "0/0");
        let by_county = build(
            TableOf {
                by: RowsBy::County,
                ..of
            },
            d("2021-06-09"),
            2021,
            &provinces,
            &cities,
            province_rows(),
        );
        let g = &by_county.provinces[0];
        assert_eq!(g.cities.len(), 2);
        assert_eq!(g.rows.len(), 1, "its own level");
        assert_eq!(g.cells, guangdong.cells);
        assert_eq!(county_rows(&by_county).len(), 6);
        assert!(TableLevel::City.rows_by(Some(RowsBy::City)).is_err());
        assert_eq!(TableLevel::Province.rows_by(None), Ok(RowsBy::City));
    }
}
