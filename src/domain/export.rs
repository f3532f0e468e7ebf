//! The progress table in the bureau's own layout (the seed's 进度情况一览表): a title, the issuing
//! unit and date, a two-row header with merged cells, one row per county with the city level
//! last, the totals row (合计), and the notes (备注). One grid, written as CSV or XLSX.

use chrono::{Datelike, NaiveDate};

use crate::domain::report::{EquipmentCell, TableLevel};
use crate::domain::report::{ProgressRow, ProgressTable, RowsBy, SiteColumns, SummedCells};
use crate::domain::site::EquipmentLevel;

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Number(i64),
}

impl Cell {
    fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    /// As written in a CSV file.
    pub fn plain(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.clone(),
            Cell::Number(n) => n.to_string(),
        }
    }
}

/// A merged range: first row, first column, last row, last column (0-based, inclusive).
pub type Merge = (u32, u16, u32, u16);

#[derive(Debug, Clone)]
pub struct Sheet {
    pub rows: Vec<Vec<Cell>>,
    pub merges: Vec<Merge>,
    /// Rows holding the header, for styling.
    pub header_rows: (u32, u32),
    /// Whether it has city or province rows, whose cells (counts per level and stage) are
    /// longer than a county's: their columns are printed wider, their rows taller.
    pub summed: bool,
}

pub const COLUMNS: usize = 16;

/// The notes under the seed's table, defining three of its columns.
pub const NOTES: [&str; 3] = [
    "备注：1.设备设施情况，是指已落实的办公场所中是否已配备必要的办公桌椅、空调、电脑、打印机、电话、档案柜、办公文具、消防设施，全部配备的填全部配备，缺一项或者两项的填基本配备，缺少三项以上的填未配备齐全。",
    "2.落实经费情况，是指是否有申请经费，申请的经费是否有批复，申请的数额。",
    "3.开展社工业务培训情况，是指目前开展的社工岗前培训、专业培训次数。",
];

/// `2021年6月9日`.
pub fn chinese_date(d: NaiveDate) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

fn site_cells(c: Option<&SiteColumns>) -> Vec<Cell> {
    match c {
        None => vec![Cell::Empty; 5],
        Some(c) => vec![
            Cell::Number(c.planned),
            Cell::Number(c.completed),
            Cell::Number(c.premises_secured),
            c.equipment
                .worst_label
                .clone()
                .map(Cell::Text)
                .unwrap_or(Cell::Empty),
            Cell::Number(c.staff),
        ],
    }
}

fn row_cells(r: &ProgressRow) -> Vec<Cell> {
    let mut cells = vec![Cell::text(&r.name), Cell::text(&r.plan_status.label)];
    cells.extend(site_cells(r.stations.as_ref()));
    cells.extend(site_cells(r.points.as_ref()));
    cells.push(Cell::text(&r.coordination_mechanism_label));
    cells.push(Cell::text(&r.management_mechanism_label));
    cells.push(
        r.funding
            .as_ref()
            .map(|f| Cell::text(&f.label))
            .unwrap_or(Cell::Empty),
    );
    cells.push(Cell::Number(r.trainings));
    cells
}

/// The equipment cell of a city or a province: how many sites with premises are at each level
/// (全部配备2个，基本配备19个); blank when none has premises.
fn equipment_counts(e: &EquipmentCell) -> Cell {
    let counted: Vec<String> = [
        (EquipmentLevel::Full, e.full),
        (EquipmentLevel::Basic, e.basic),
        (EquipmentLevel::Incomplete, e.incomplete),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(level, n)| format!("{}{n}个", level.label()))
    .collect();
    if counted.is_empty() {
        Cell::Empty
    } else {
        Cell::text(counted.join("，"))
    }
}

fn summed_cells(name: String, s: &SummedCells) -> Vec<Cell> {
    let mut cells = vec![Cell::Text(name), Cell::text(&s.plan_status.label)];
    for c in [&s.stations, &s.points] {
        cells.extend([
            Cell::Number(c.planned),
            Cell::Number(c.completed),
            Cell::Number(c.premises_secured),
            equipment_counts(&c.equipment),
            Cell::Number(c.staff),
        ]);
    }
    cells.push(Cell::text(&s.coordination_mechanism.label));
    cells.push(Cell::text(&s.management_mechanism.label));
    cells.push(if s.funding.label.is_empty() {
        Cell::Empty
    } else {
        Cell::text(&s.funding.label)
    });
    cells.push(Cell::Number(s.trainings));
    cells
}

/// A group's row: its name where it is a row of the table's unit, 小计 after its own members.
fn group_name(name: &str, members_shown: bool) -> String {
    if members_shown {
        format!("{name}小计")
    } else {
        name.to_string()
    }
}

/// Every printed line in order: each group's members, then its level rows, then its sums; the
/// table's own rows last.
fn body_rows(table: &ProgressTable) -> Vec<Vec<Cell>> {
    let mut out = Vec::new();
    for p in &table.provinces {
        for c in &p.cities {
            out.extend(c.rows.iter().map(row_cells));
            out.push(summed_cells(
                group_name(&c.name, !c.rows.is_empty()),
                &c.cells,
            ));
        }
        out.extend(p.rows.iter().map(row_cells));
        let shown = !p.cities.is_empty() || !p.rows.is_empty();
        out.push(summed_cells(group_name(&p.name, shown), &p.cells));
    }
    for c in &table.cities {
        out.extend(c.rows.iter().map(row_cells));
        out.push(summed_cells(
            group_name(&c.name, !c.rows.is_empty()),
            &c.cells,
        ));
    }
    out.extend(table.rows.iter().map(row_cells));
    out
}

/// The first column's heading: what each row stands for.
fn unit_heading(by: RowsBy) -> &'static str {
    match by {
        RowsBy::County => "县（市、区）",
        RowsBy::City => "地级市",
        RowsBy::Province => "省份",
    }
}

/// The standard title for the year, after the city's or the province's name (全国 for the
/// nation), e.g. 云浮市2021年“双百工程”社工站（点）建设进度情况一览表.
pub fn standard_title(name: &str, as_of: NaiveDate) -> String {
    format!(
        "{name}{}年“双百工程”社工站（点）建设进度情况一览表",
        as_of.year()
    )
}

/// The department that issues a level's table: a city's civil-affairs bureau (云浮市民政局), a
/// province's department (广东省民政厅), the ministry for the nation. A name still missing (a
/// division named by its code) leaves the bare 民政局.
pub fn issuing_unit(level: TableLevel, name: &str) -> String {
    match level {
        TableLevel::City => format!("{name}民政局"),
        TableLevel::Province => format!("{name}民政厅"),
        TableLevel::Nation => "民政部".to_string(),
    }
}

fn padded(mut cells: Vec<Cell>) -> Vec<Cell> {
    cells.resize(COLUMNS, Cell::Empty);
    cells
}

pub fn layout(table: &ProgressTable, title: &str, issuing_unit: &str) -> Sheet {
    let mut rows = Vec::new();
    let mut merges = Vec::new();
    let last = (COLUMNS - 1) as u16;
    rows.push(padded(vec![Cell::text(title)]));
    merges.push((0, 0, 0, last));
    let mut unit_row = vec![Cell::text(format!("制表单位：{issuing_unit}"))];
    unit_row.resize(12, Cell::Empty);
    unit_row.push(Cell::text(format!("时间：{}", chinese_date(table.as_of))));
    rows.push(padded(unit_row));
    merges.push((1, 0, 1, 11));
    merges.push((1, 12, 1, last));

    let top = [
        unit_heading(table.by),
        "方案出台情况",
        "社工站",
        "",
        "",
        "",
        "",
        "社工点",
        "",
        "",
        "",
        "",
        "是否建立工作协调机制",
        "是否建立站点管理机制",
        "落实经费情况",
        "开展社工业务培训情况",
    ];
    rows.push(top.iter().map(|t| Cell::text(*t)).collect());
    let kinds = ["社工站", "社工点"];
    let mut second = vec![Cell::Empty, Cell::Empty];
    for kind in kinds {
        second.extend([
            Cell::text(format!("应建{kind}数量")),
            Cell::text(format!("已完成{kind}数量")),
            Cell::text("落实办公场所数量"),
            Cell::text("设备设施情况"),
            Cell::text("人员配备数量"),
        ]);
    }
    rows.push(padded(second));
    for col in [0u16, 1, 12, 13, 14, 15] {
        merges.push((2, col, 3, col));
    }
    merges.push((2, 2, 2, 6));
    merges.push((2, 7, 2, 11));

    rows.extend(body_rows(table));
    let t = &table.totals;
    let mut totals = vec![Cell::text("合计"), Cell::Empty];
    for c in [&t.stations, &t.points] {
        totals.extend([
            Cell::Number(c.planned),
            Cell::Number(c.completed),
            Cell::Number(c.premises_secured),
            Cell::Empty,
            Cell::Number(c.staff),
        ]);
    }
    totals.extend([
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        Cell::Number(t.trainings),
    ]);
    rows.push(totals);
    for note in NOTES {
        let r = rows.len() as u32;
        rows.push(padded(vec![Cell::text(note)]));
        merges.push((r, 0, r, last));
    }
    Sheet {
        rows,
        merges,
        header_rows: (2, 3),
        summed: table.level != TableLevel::City,
    }
}

/// What a spreadsheet may read as the start of a formula (OWASP's CSV-injection list).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// One CSV field as written: text that a spreadsheet would take for a formula (`=1+2`,
/// `@SUM(…)`, `=HYPERLINK(…)`) gets a leading `'`, so it opens as the text it is; then RFC 4180
/// quoting. Every CSV the service writes goes through this.
pub fn csv_field(cell: &Cell) -> String {
    let s = match cell {
        Cell::Text(t) if t.starts_with(FORMULA_STARTS) => format!("'{t}"),
        other => other.plain(),
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// One participant's line of a round's chase list.
#[derive(Debug, Clone)]
pub struct ChaseRow {
    pub name: String,
    pub division_code: String,
    /// The state's Chinese label (未报送, 已退回, …).
    pub state: String,
    pub late: bool,
    pub days_overdue: i64,
    /// `2021-06-16 09:30` in the bureau's time zone, or none.
    pub first_submitted: Option<String>,
    pub return_reason: Option<String>,
    /// Each person answerable: display name, username, phone (none when not shown).
    pub people: Vec<(String, String, Option<String>)>,
}

/// The chase list's columns.
pub const CHASE_HEADER: [&str; 11] = [
    "序号",
    "单位",
    "区划代码",
    "状态",
    "是否逾期",
    "逾期天数",
    "首次报送时间",
    "退回原因",
    "责任人",
    "用户名",
    "联系电话",
];

/// A round's chase list (催报名单): a title, the deadline and the day it was made, a header
/// row, and a line per participant with the people to call.
pub fn chase_list(title: &str, due_on: NaiveDate, today: NaiveDate, rows: &[ChaseRow]) -> Sheet {
    let width = CHASE_HEADER.len();
    let line = |cells: Vec<Cell>| {
        let mut cells = cells;
        cells.resize(width, Cell::Empty);
        cells
    };
    let mut out = vec![
        line(vec![Cell::text(title)]),
        line(vec![Cell::text(format!(
            "截止日期：{}　制表日期：{}",
            chinese_date(due_on),
            chinese_date(today)
        ))]),
        CHASE_HEADER.iter().map(|h| Cell::text(*h)).collect(),
    ];
    for (i, r) in rows.iter().enumerate() {
        let joined = |f: fn(&(String, String, Option<String>)) -> String| {
            r.people.iter().map(f).collect::<Vec<_>>().join("、")
        };
        out.push(vec![
            Cell::Number(i as i64 + 1),
            Cell::text(r.name.clone()),
            Cell::text(r.division_code.clone()),
            Cell::text(r.state.clone()),
            Cell::text(if r.late { "是" } else { "否" }),
            Cell::Number(r.days_overdue),
            r.first_submitted.clone().map_or(Cell::Empty, Cell::Text),
            r.return_reason.clone().map_or(Cell::Empty, Cell::Text),
            Cell::text(joined(|p| p.0.clone())),
            Cell::text(joined(|p| p.1.clone())),
            Cell::text(joined(|p| p.2.clone().unwrap_or_default())),
        ]);
    }
    let last = (width - 1) as u16;
    Sheet {
        rows: out,
        merges: vec![(0, 0, 0, last), (1, 0, 1, last)],
        header_rows: (2, 2),
        summed: false,
    }
}

/// Writes a sheet's merged ranges and its cells (those a merge covers left out), each in the
/// format `format_of` gives its row; every text a string cell.
fn write_grid<'a>(
    ws: &mut rust_xlsxwriter::Worksheet,
    sheet: &Sheet,
    format_of: impl Fn(u32) -> &'a rust_xlsxwriter::Format,
) -> Result<(), String> {
    let err = |e: rust_xlsxwriter::XlsxError| format!("xlsx: {e}");
    let covered = |r: u32, c: u16| {
        sheet
            .merges
            .iter()
            .any(|m| r >= m.0 && r <= m.2 && c >= m.1 && c <= m.3)
    };
    for m in &sheet.merges {
        let text = sheet
            .rows
            .get(m.0 as usize)
            .and_then(|row| row.get(m.1 as usize))
            .map(Cell::plain)
            .unwrap_or_default();
        ws.merge_range(m.0, m.1, m.2, m.3, &text, format_of(m.0))
            .map_err(err)?;
    }
    for (r, row) in sheet.rows.iter().enumerate() {
        let r = r as u32;
        for (c, value) in row.iter().enumerate() {
            let c = c as u16;
            if covered(r, c) {
                continue;
            }
            let f = format_of(r);
            match value {
                Cell::Empty => ws.write_blank(r, c, f).map(|_| ()),
                Cell::Text(t) => ws.write_string_with_format(r, c, t, f).map(|_| ()),
                Cell::Number(n) => ws.write_number_with_format(r, c, *n as f64, f).map(|_| ()),
            }
            .map_err(err)?;
        }
    }
    Ok(())
}

/// A plain list (the chase list) as a workbook: the title row bold, the header bold, thin
/// borders on the body, every text a string cell.
pub fn to_list_xlsx(sheet: &Sheet, name: &str) -> Result<Vec<u8>, String> {
    use rust_xlsxwriter::{Format, FormatBorder, Workbook};
    let err = |e: rust_xlsxwriter::XlsxError| format!("xlsx: {e}");
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    ws.set_name(name).map_err(err)?;
    let body = Format::new()
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
        .set_font_size(10);
    let header = body.clone().set_bold();
    let title = Format::new().set_bold().set_font_size(14);
    let plain = Format::new().set_font_size(10);
    let format_of = |r: u32| -> &Format {
        if r == 0 {
            &title
        } else if (sheet.header_rows.0..=sheet.header_rows.1).contains(&r) {
            &header
        } else if sheet.merges.iter().any(|m| m.0 == r) {
            &plain
        } else {
            &body
        }
    };
    write_grid(ws, sheet, format_of)?;
    ws.set_column_width(1, 16).map_err(err)?;
    ws.set_column_width(6, 18).map_err(err)?;
    ws.set_column_width(7, 24).map_err(err)?;
    for c in 8..11u16 {
        ws.set_column_width(c, 20).map_err(err)?;
    }
    workbook.save_to_buffer().map_err(err)
}

/// CSV (RFC 4180) with a UTF-8 byte-order mark, so Excel opens the Chinese text correctly.
/// Text cells are neutralised against formula injection ([`csv_field`]); the XLSX export writes
/// every text as a string cell, which no spreadsheet evaluates.
pub fn to_csv(sheet: &Sheet) -> Vec<u8> {
    let mut out = String::from('\u{feff}');
    for row in &sheet.rows {
        let line: Vec<String> = row.iter().map(csv_field).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// The same grid as an Excel workbook, merged cells and all (rust_xlsxwriter).
pub fn to_xlsx(sheet: &Sheet) -> Result<Vec<u8>, String> {
    use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook};
    let err = |e: rust_xlsxwriter::XlsxError| format!("xlsx: {e}");
    let mut workbook = Workbook::new();
    let ws = workbook.add_worksheet();
    ws.set_name("进度情况一览表").map_err(err)?;
    let cell = Format::new()
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
        .set_font_size(10);
    let header = cell.clone().set_bold();
    let title = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter);
    let plain = Format::new().set_text_wrap().set_font_size(10);
    let body_end = sheet.rows.len().saturating_sub(NOTES.len()) as u32;
    let format_of = |r: u32| -> &Format {
        if r == 0 {
            &title
        } else if r == 1 || r >= body_end {
            &plain
        } else if (sheet.header_rows.0..=sheet.header_rows.1).contains(&r) {
            &header
        } else {
            &cell
        }
    };
    write_grid(ws, sheet, format_of)?;
    // One landscape A4 page, as the bureau prints it.
    ws.set_landscape();
    ws.set_paper_size(9);
    ws.set_print_fit_to_pages(1, 1);
    ws.set_row_height(0, 32).map_err(err)?;
    ws.set_row_height(2, 24).map_err(err)?;
    ws.set_row_height(3, 40).map_err(err)?;
    let body_height = if sheet.summed { 44 } else { 32 };
    for r in 4..body_end {
        ws.set_row_height(r, body_height).map_err(err)?;
    }
    ws.set_column_width(0, 10).map_err(err)?;
    ws.set_column_width(1, if sheet.summed { 24.0 } else { 18.0 })
        .map_err(err)?;
    for c in 2..12u16 {
        // The equipment cells (5 and 10) of a city or a province count sites per level.
        let wide = sheet.summed && (c == 5 || c == 10);
        ws.set_column_width(c, if wide { 20 } else { 9 })
            .map_err(err)?;
    }
    ws.set_column_width(12, 10).map_err(err)?;
    ws.set_column_width(13, 10).map_err(err)?;
    ws.set_column_width(14, 36).map_err(err)?;
    ws.set_column_width(15, 10).map_err(err)?;
    for r in body_end..sheet.rows.len() as u32 {
        ws.set_row_height(r, 30).map_err(err)?;
    }
    workbook.save_to_buffer().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_the_chinese_way() {
        let d = NaiveDate::from_ymd_opt(2021, 6, 9).expect("date");
        assert_eq!(chinese_date(d), "2021年6月9日");
    }

    #[test]
    fn csv_cells_with_commas_or_quotes_are_quoted() {
        let sheet = Sheet {
            rows: vec![vec![
                Cell::text("a,b"),
                Cell::text("say \"hi\""),
                Cell::Number(3),
                Cell::Empty,
            ]],
            merges: vec![],
            header_rows: (0, 0),
            summed: false,
        };
        let csv = String::from_utf8(to_csv(&sheet)).expect("utf-8");
        assert_eq!(csv, "\u{feff}\"a,b\",\"say \"\"hi\"\"\",3,\r\n");
    }

    #[test]
    fn csv_cells_that_look_like_formulas_are_written_as_text() {
        let cells = [
            "=1+2",
            "+1",
            "-1",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "a=b",
            "云城区",
        ];
        let sheet = Sheet {
            rows: vec![cells.iter().map(|t| Cell::text(*t)).collect()],
            merges: vec![],
            header_rows: (0, 0),
            summed: false,
        };
        let csv = String::from_utf8(to_csv(&sheet)).expect("utf-8");
        assert_eq!(
            csv,
            "\u{feff}'=1+2,'+1,'-1,'@SUM(A1),'\tx,\"'\rx\",a=b,云城区\r\n"
        );
        // Numbers are numbers, never prefixed.
        assert_eq!(csv_field(&Cell::Number(-3)), "-3");
    }
}
