//! County batches: upserts by the county's own keys, all or nothing, every failing item named by
//! its JSON pointer, dry runs, idempotency keys, limits, the audit trail, and a large batch's time.

use std::time::{Duration, Instant};

use awc::http::Method;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use serde_json::{json, Value};

use crate::helpers::{Backend, Resp, TestApp};

/// `towns` towns of county 445302, one station in each, and points to make `sites` sites.
fn batch(towns: usize, sites: usize) -> Value {
    let town_items: Vec<Value> = (0..towns)
        .map(|t| json!({"code": format!("445302{:03}", t + 100), "name": format!("镇{t}"), "kind": "town"}))
        .collect();
    let site_items: Vec<Value> = (0..sites)
        .map(|i| {
            let town = format!("445302{:03}", i % towns + 100);
            if i < towns {
                json!({"kind": "station", "town_code": town, "name": format!("社工站{i}"), "ref": format!("ST-{i}"),
                       "planned_on": "2021-01-04", "premises_secured_on": "2021-02-01",
                       "equipment_checks": [{"checked_on": "2021-03-01", "items": ["computer", "printer"]}]})
            } else {
                json!({"kind": "point", "town_code": town, "station_ref": format!("ST-{}", i % towns), "village": format!("村{i}"),
                       "name": format!("社工点{i}"), "ref": format!("PT-{i}"), "planned_on": "2021-02-01"})
            }
        })
        .collect();
    json!({
        "towns": town_items,
        "sites": site_items,
        "staff": [{"name": "王芳", "gender": "female", "certification": "social_worker", "hired_via": "public_exam", "ref": "P-1",
                   "postings": [{"station_ref": "ST-0", "role": "social_worker", "from": "2021-03-01"}]}],
        "trainings": [{"kind": "pre_job", "title": "岗前培训", "held_on": "2021-03-01", "attendees": 30, "ref": "TR-1"}],
    })
}

async fn send(
    app: &TestApp,
    token: &str,
    county_id: i64,
    query: &str,
    key: Option<&str>,
    body: &Value,
) -> Resp {
    let mut req = app
        .request_as(
            Some(token),
            Method::POST,
            &format!("/api/v1/counties/{county_id}/updates{query}"),
        )
        .insert_header(("content-type", "application/json"));
    if let Some(key) = key {
        req = req.insert_header(("idempotency-key", key));
    }
    app.send(req, Some(body.to_string().into_bytes())).await
}

async fn total(app: &TestApp, path: &str) -> i64 {
    app.get(path).await.expect(200).body["total"]
        .as_i64()
        .expect("total")
}

on_both_backends! {
    async fn a_batch_applies_every_item_and_reports_each_outcome_with_our_id(app: TestApp) {
        let county_id = app.county("445302", "县445302", "district").await;
        let token = app.admin_token.clone();
        let r = send(&app, &token, county_id, "", None, &batch(10, 100)).await.expect(200);
        assert_eq!(r.body["applied"], true);
        assert_eq!(r.body["dry_run"], false);
        // 10 towns, 100 sites, 10 checks, 1 person, 1 posting, 1 training.
        assert_eq!(r.body["counts"], json!({"created": 123, "updated": 0, "unchanged": 0}));
        let items = r.body["items"].as_array().expect("items");
        assert_eq!(items[0]["pointer"], "/towns/0");
        assert_eq!(items[10]["pointer"], "/sites/0");
        assert_eq!(items[11]["pointer"], "/sites/0/equipment_checks/0");
        let site = items.iter().find(|i| i["pointer"] == "/sites/17").expect("site 17");
        assert_eq!(site["key"], "PT-17");
        let got = app.get(&format!("/api/v1/stations/{}", site["id"])).await.expect(200);
        assert_eq!(got.body["ref"], "PT-17");
        assert_eq!(total(&app, &format!("/api/v1/stations?county_id={county_id}")).await, 100);
        assert_eq!(total(&app, &format!("/api/v1/towns?county_id={county_id}")).await, 10);
    }

    async fn a_batch_with_one_bad_item_applies_nothing_and_names_it_by_its_pointer(app: TestApp) {
        let county_id = app.county("445302", "县445302", "district").await;
        let token = app.admin_token.clone();
        let mut body = batch(10, 100);
        body["sites"][17]["completed_on"] = json!("2999-01-01");
        let r = send(&app, &token, county_id, "", None, &body).await.expect_problem(422);
        let mut fields = r.error_fields();
        fields.dedup();
        assert_eq!(fields, vec!["/sites/17/completed_on".to_string()], "{}", r.body);
        assert_eq!(total(&app, "/api/v1/stations").await, 0, "nothing applied");
        assert_eq!(total(&app, "/api/v1/towns").await, 0, "nothing applied");

        // Several bad items: every one is listed, not only the first.
        body["sites"][42]["town_code"] = json!("445302999");
        body["sites"][60]["station_ref"] = json!("ST-NONE");
        body["towns"][3]["name"] = json!("");
        body["trainings"][0]["attendees"] = json!(-1);
        body["staff"][0]["postings"][0]["from"] = json!("2020-01-01");
        let r = send(&app, &token, county_id, "", None, &body).await.expect_problem(422);
        let fields = r.error_fields();
        for expected in [
            "/towns/3/name",
            "/sites/17/completed_on",
            "/sites/42/town_code",
            "/sites/60/station_ref",
            "/staff/0/postings/0/from",
            "/trainings/0/attendees",
        ] {
            assert!(fields.iter().any(|f| f == expected), "{expected} missing from {fields:?}");
        }
        assert_eq!(total(&app, "/api/v1/stations").await, 0);
        assert_eq!(total(&app, "/api/v1/staff").await, 0);
        assert_eq!(total(&app, "/api/v1/trainings").await, 0);
    }

    async fn the_same_batch_sent_twice_with_one_key_creates_nothing_the_second_time(app: TestApp) {
        let county_id = app.county("445302", "县445302", "district").await;
        let token = app.admin_token.clone();
        let body = batch(5, 50);
        let first = send(&app, &token, county_id, "", Some("sync-1"), &body).await.expect(200);
        let second = send(&app, &token, county_id, "", Some("sync-1"), &body).await.expect(200);
        assert_eq!(second.header("idempotent-replayed").as_deref(), Some("true"));
        assert_eq!(second.raw, first.raw);
        assert_eq!(total(&app, "/api/v1/stations").await, 50);

        // Concurrently, with another key: applied once.
        let mut other = batch(5, 50);
        other["sites"][7]["name"] = json!("改名的社工点");
        let (a, b) = futures_util::future::join(
            send(&app, &token, county_id, "", Some("sync-2"), &other),
            send(&app, &token, county_id, "", Some("sync-2"), &other),
        )
        .await;
        let (a, b) = (a.expect(200), b.expect(200));
        assert_eq!(a.body, b.body);
        assert_eq!(a.body["counts"]["updated"], 1);
        assert_eq!(total(&app, "/api/v1/stations").await, 50);
        assert_eq!(total(&app, "/api/v1/audit-events?entity=station").await, 51, "50 created, 1 updated");
    }

    async fn an_identical_batch_without_a_key_reports_every_item_unchanged(app: TestApp) {
        let county_id = app.county("445302", "县445302", "district").await;
        let token = app.admin_token.clone();
        let body = batch(5, 40);
        send(&app, &token, county_id, "", None, &body).await.expect(200);
        let version = app.get("/api/v1/stations?limit=1&sort=id").await.body["items"][0]["version"].clone();
        let again = send(&app, &token, county_id, "", None, &body).await.expect(200);
        assert_eq!(again.body["counts"], json!({"created": 0, "updated": 0, "unchanged": 53}));
        let now = app.get("/api/v1/stations?limit=1&sort=id").await.body["items"][0]["version"].clone();
        assert_eq!(version, now, "unchanged rows keep their version");

        let mut changed = body.clone();
        changed["sites"][3]["name"] = json!("新名字");
        changed["trainings"][0]["attendees"] = json!(31);
        let r = send(&app, &token, county_id, "", None, &changed).await.expect(200);
        assert_eq!(r.body["counts"], json!({"created": 0, "updated": 2, "unchanged": 51}));
        let item = r.body["items"].as_array().expect("items").iter().find(|i| i["pointer"] == "/sites/3").cloned().expect("item");
        assert_eq!(item["outcome"], "updated");
    }

    async fn a_dry_run_reports_the_outcomes_and_changes_nothing(app: TestApp) {
        let county_id = app.county("445302", "县445302", "district").await;
        let token = app.admin_token.clone();
        let audited = total(&app, &format!("/api/v1/audit-events?county_id={county_id}")).await;
        let r = send(&app, &token, county_id, "?dry_run=true", None, &batch(5, 40)).await.expect(200);
        assert_eq!(r.body["dry_run"], true);
        assert_eq!(r.body["applied"], false);
        assert_eq!(r.body["counts"]["created"], 53);
        assert!(r.body["items"][0]["id"].is_null(), "nothing was created, so no id");
        assert_eq!(total(&app, "/api/v1/towns").await, 0);
        assert_eq!(total(&app, "/api/v1/stations").await, 0);
        assert_eq!(total(&app, &format!("/api/v1/audit-events?county_id={county_id}")).await, audited);
        // A dry run still reports every broken rule.
        let mut bad = batch(5, 40);
        bad["sites"][2]["planned_on"] = json!("2999-01-01");
        let r = send(&app, &token, county_id, "?dry_run=true", None, &bad).await.expect_problem(422);
        assert!(r.error_fields().iter().any(|f| f.starts_with("/sites/2/")), "{}", r.body);
    }

    async fn another_countys_officer_is_refused_before_anything(app: TestApp) {
        let county_id = app.county("445302", "县445302", "district").await;
        let other = app.county("445303", "县445303", "district").await;
        let officer = app.user_token("officer.other", "county_officer", Some(other)).await;
        send(&app, &officer, county_id, "", None, &batch(2, 4)).await.expect_problem(403);
        // Even a malformed body: rights come first.
        let req = app
            .request_as(Some(&officer), Method::POST, &format!("/api/v1/counties/{county_id}/updates"))
            .insert_header(("content-type", "application/json"));
        app.send(req, Some(b"{".to_vec())).await.expect_problem(403);
        let viewer = app.user_token("viewer", "viewer", None).await;
        send(&app, &viewer, county_id, "", None, &batch(2, 4)).await.expect_problem(403);
        assert_eq!(total(&app, "/api/v1/towns").await, 0);
        // Their own officer may.
        let own = app.user_token("officer.own", "county_officer", Some(county_id)).await;
        send(&app, &own, county_id, "", None, &batch(2, 4)).await.expect(200);
        send(&app, &own, 9999, "", None, &batch(2, 4)).await.expect_problem(404);
    }

    async fn a_batch_over_the_limits_is_refused_as_too_large(app: TestApp) {
        let county_id = app.county("445302", "县445302", "district").await;
        let token = app.admin_token.clone();
        let trainings: Vec<Value> = (0..10_001)
            .map(|i| json!({"kind": "pre_job", "title": "培训", "held_on": "2021-03-01", "ref": format!("T{i}")}))
            .collect();
        send(&app, &token, county_id, "", None, &json!({"trainings": trainings})).await.expect_problem(413);
        let filler = "x".repeat(17 << 20);
        let huge = json!({"towns": [{"code": "445302100", "name": filler, "kind": "town"}]});
        send(&app, &token, county_id, "", None, &huge).await.expect_problem(413);
        send(&app, &token, county_id, "", Some("big-1"), &huge).await.expect_problem(413);
        assert_eq!(total(&app, "/api/v1/trainings").await, 0);
    }

    async fn every_change_of_a_batch_is_in_the_audit_trail(app: TestApp) {
        let county_id = app.county("445302", "县445302", "district").await;
        let token = app.admin_token.clone();
        let before = total(&app, &format!("/api/v1/audit-events?county_id={county_id}")).await;
        let r = send(&app, &token, county_id, "", None, &batch(3, 9)).await.expect(200);
        let created = r.body["counts"]["created"].as_i64().expect("created");
        let after = total(&app, &format!("/api/v1/audit-events?county_id={county_id}")).await;
        assert_eq!(after - before, created);
        let towns = app.get(&format!("/api/v1/audit-events?county_id={county_id}&entity=town")).await.expect(200);
        assert_eq!(towns.body["total"], 3);
        assert_eq!(towns.body["items"][0]["action"], "create");
        // Unchanged items write nothing.
        send(&app, &token, county_id, "", None, &batch(3, 9)).await.expect(200);
        assert_eq!(total(&app, &format!("/api/v1/audit-events?county_id={county_id}")).await, after);
    }

    async fn a_batch_records_the_countys_plan_mechanisms_and_funding_requests(app: TestApp) {
        let county_id = app.county("445302", "县445302", "district").await;
        let officer = app.user_token("officer.own", "county_officer", Some(county_id)).await;
        let body = json!({
            "county": {
                "plan_status": {"stage": "approved", "effective_on": "2021-03-01", "note": "区政府已同意，正在会签"},
                "coordination_established_on": "2021-02-01",
                "management_established_on": "2021-04-01",
            },
            "funding_requests": [{
                "ref": "FR-2021-01", "fiscal_year": 2021, "title": "2021年社工站建设运营经费",
                "requested_fen": 150000000, "effective_on": "2021-01-10", "note": "正在测算费用",
                "transitions": [
                    {"action": "consult", "effective_on": "2021-02-01"},
                    {"action": "submit", "effective_on": "2021-03-01", "requested_fen": 179400000, "note": "已报区政府审批"},
                ],
            }],
        });
        let r = send(&app, &officer, county_id, "", None, &body).await.expect(200);
        assert_eq!(r.body["counts"], json!({"created": 3, "updated": 1, "unchanged": 0}), "{}", r.body);
        let items = r.body["items"].as_array().expect("items");
        assert_eq!(items[0]["pointer"], "/county");
        assert_eq!(items[0]["key"], "445302");
        assert_eq!(items[0]["outcome"], "updated");
        assert_eq!(items[0]["id"], county_id);
        assert_eq!(items[1]["pointer"], "/funding_requests/0");
        assert_eq!(items[1]["key"], "FR-2021-01");
        assert_eq!(items[3]["pointer"], "/funding_requests/0/transitions/1");
        assert_eq!(items[3]["key"], "submit@2021-03-01");

        let got = app.get(&format!("/api/v1/counties/{county_id}")).await.expect(200);
        assert_eq!(got.body["plan_status"]["stage"], "approved");
        assert_eq!(got.body["plan_status"]["effective_on"], "2021-03-01");
        assert_eq!(got.body["coordination_established_on"], "2021-02-01");
        assert_eq!(got.body["management_established_on"], "2021-04-01");
        let version = got.body["version"].clone();
        let request_id = items[1]["id"].as_i64().expect("id");
        let request = app.get(&format!("/api/v1/funding-requests/{request_id}")).await.expect(200);
        assert_eq!(request.body["status"], "submitted");
        assert_eq!(request.body["requested_fen"], 179400000);
        assert_eq!(request.body["county_id"], county_id);
        let history = app.get(&format!("/api/v1/funding-requests/{request_id}/transitions")).await.expect(200);
        let actions: Vec<_> = history.body.as_array().expect("history").iter().map(|t| (t["action"].clone(), t["effective_on"].clone())).collect();
        assert_eq!(actions, vec![
            (json!("create"), json!("2021-01-10")),
            (json!("consult"), json!("2021-02-01")),
            (json!("submit"), json!("2021-03-01")),
        ]);

        // Re-sent: every item unchanged, nothing written.
        let audited = total(&app, &format!("/api/v1/audit-events?county_id={county_id}")).await;
        let again = send(&app, &officer, county_id, "", None, &body).await.expect(200);
        assert_eq!(again.body["counts"], json!({"created": 0, "updated": 0, "unchanged": 4}), "{}", again.body);
        assert_eq!(total(&app, &format!("/api/v1/audit-events?county_id={county_id}")).await, audited);
        let got = app.get(&format!("/api/v1/counties/{county_id}")).await.expect(200);
        assert_eq!(got.body["version"], version, "unchanged county keeps its version");
        let history = app.get(&format!("/api/v1/funding-requests/{request_id}/transitions")).await.expect(200);
        assert_eq!(history.body.as_array().expect("history").len(), 3);

        // A submitted request no longer changes its title: named by its pointer.
        let mut changed = body.clone();
        changed["funding_requests"][0]["title"] = json!("新标题");
        let r = send(&app, &officer, county_id, "", None, &changed).await.expect_problem(422);
        assert!(r.error_fields().iter().any(|f| f == "/funding_requests/0"), "{}", r.body);
    }

    async fn an_officers_approval_in_a_batch_is_refused_and_nothing_is_applied(app: TestApp) {
        let county_id = app.county("445302", "县445302", "district").await;
        let officer = app.user_token("officer.own", "county_officer", Some(county_id)).await;
        let body = json!({
            "county": {"plan_status": {"stage": "drafting", "effective_on": "2021-01-04"}},
            "funding_requests": [{
                "ref": "FR-1", "fiscal_year": 2021, "title": "经费", "effective_on": "2021-01-10",
                "transitions": [
                    {"action": "approve", "effective_on": "2021-02-01", "approved_fen": 100},
                ],
            }, {
                "ref": "FR-2", "fiscal_year": 2021, "title": "经费二", "effective_on": "2021-01-10",
                "transitions": [
                    {"action": "submit", "effective_on": "2021-02-01"},
                    {"action": "revise", "effective_on": "2021-02-02"},
                ],
            }],
        });
        let r = send(&app, &officer, county_id, "", None, &body).await.expect_problem(422);
        let fields = r.error_fields();
        assert!(fields.iter().any(|f| f == "/funding_requests/0/transitions/0/action"), "{}", r.body);
        assert!(fields.iter().any(|f| f == "/funding_requests/1/transitions/1/action"), "{}", r.body);
        assert!(r.body.to_string().contains("allowed: approve, reject, return, withdraw"), "{}", r.body);
        assert_eq!(total(&app, "/api/v1/funding-requests").await, 0, "nothing applied");
        let got = app.get(&format!("/api/v1/counties/{county_id}")).await.expect(200);
        assert_eq!(got.body["plan_status"]["stage"], "not_started");
        // The same batch from an administrator: the approval is refused only as a stage rule.
        let mut body = body;
        body["funding_requests"][0]["transitions"] = json!([
            {"action": "submit", "effective_on": "2021-02-01"},
            {"action": "approve", "effective_on": "2021-01-01", "approved_fen": 100},
        ]);
        body["funding_requests"][1]["transitions"] = json!([]);
        let admin = app.admin_token.clone();
        let r = send(&app, &admin, county_id, "", None, &body).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["/funding_requests/0/transitions/1/effective_on".to_string()], "{}", r.body);
    }

    async fn a_batch_of_5000_sites_finishes_well_inside_the_pool_timeout(app: TestApp) {
        let county_id = app.county("445302", "县445302", "district").await;
        let token = app.admin_token.clone();
        let body = batch(100, 5000);
        let bytes = body.to_string().len();
        let started = Instant::now();
        let r = send(&app, &token, county_id, "", None, &body).await.expect(200);
        let created = started.elapsed();
        assert_eq!(r.body["counts"]["created"], 100 + 5000 + 100 + 2 + 1);
        let started = Instant::now();
        let r = send(&app, &token, county_id, "", None, &body).await.expect(200);
        let unchanged = started.elapsed();
        assert_eq!(r.body["counts"]["created"], 0);
        eprintln!(
            "5000-site batch on {:?} ({} bytes, {} build): created in {:.2} s, unchanged re-send in {:.2} s",
            app.backend,
            bytes,
            if cfg!(debug_assertions) { "debug" } else { "release" },
            created.as_secs_f64(),
            unchanged.as_secs_f64()
        );
        let bound = if cfg!(debug_assertions) { 60.0 } else { 5.0 };
        assert!(created.as_secs_f64() < bound, "took {created:?}");
    }

    async fn two_new_stations_for_one_town_are_refused_at_the_second(app: TestApp) {
        let county_id = app.county("445302", "县445302", "district").await;
        let mut body = batch(1, 1);
        let second = json!({"kind": "station", "town_code": "445302100", "name": "又一社工站", "ref": "ST-X",
                            "planned_on": "2021-01-04"});
        body["sites"].as_array_mut().expect("sites").push(second);
        let token = app.admin_token.clone();
        let r = send(&app, &token, county_id, "", None, &body).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["/sites/1/town_code".to_string()], "{}", r.body);
        assert_eq!(total(&app, "/api/v1/stations").await, 0);
    }

    async fn one_failing_item_among_5000_is_named_by_its_pointer_and_nothing_is_applied(app: TestApp) {
        let county_id = app.county("445302", "县445302", "district").await;
        let mut body = batch(10, 5000);
        body["sites"][4321]["planned_on"] = json!("2999-01-01");
        let token = app.admin_token.clone();
        let r = send(&app, &token, county_id, "", None, &body).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["/sites/4321/planned_on".to_string()], "{}", r.body);
        assert_eq!(total(&app, "/api/v1/towns").await, 0);
        assert_eq!(total(&app, "/api/v1/stations").await, 0);
    }
}

#[derive(QueryableByName)]
struct Terminated {
    #[diesel(sql_type = Bool)]
    terminated: bool,
}

/// PostgreSQL only (a connection can be cut from outside there): the batch's own connection is
/// terminated while it inserts sites, after its towns and earlier sites were written in its
/// transaction. The answer is 503 with `Retry-After`, and nothing of the batch is stored.
#[actix_web::test]
async fn a_connection_lost_mid_batch_is_a_503_and_writes_nothing() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let county_id = app.county("445302", "县445302", "district").await;
    let shuangbai::db::DatabaseUrl::Postgres(url) = app.database_url.clone() else {
        panic!("a PostgreSQL app has a PostgreSQL URL");
    };
    let cutter = std::thread::spawn(move || {
        let mut conn = PgConnection::establish(&url).expect("a connection of the test's own");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let cut: Vec<Terminated> = diesel::sql_query(
                "SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND state = 'active' AND query ILIKE 'insert into \"sites\"%'",
            )
            .load(&mut conn)
            .expect("look for the batch's connection");
            if cut.iter().any(|c| c.terminated) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    });
    let token = app.admin_token.clone();
    let r = send(&app, &token, county_id, "", None, &batch(10, 5000)).await;
    assert!(
        cutter.join().expect("cutter"),
        "the batch's connection was cut while it inserted sites"
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    // The service serves again by itself, and the batch left nothing behind.
    let mut towns = None;
    for _ in 0..100 {
        let r = app.get("/api/v1/towns").await;
        if r.status == 200 {
            towns = r.body["total"].as_i64();
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(towns, Some(0));
    assert_eq!(total(&app, "/api/v1/stations").await, 0);
    assert_eq!(total(&app, "/api/v1/staff").await, 0);
}
