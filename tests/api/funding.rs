use chrono::NaiveDate;
use diesel::r2d2::ManageConnection;
use serde_json::{json, Value};
use shuangbai::db::funding::{funding_as_of, FundingAsOf};
use shuangbai::db::Manager;
use shuangbai::domain::funding::{funding_cell, FundingStage};

use crate::helpers::TestApp;

const ESTIMATING_NOTE: &str = "正在测算费用，拟报区政府。";
const CONSULTING_NOTE: &str = "已测算出本年度费用，正在征求有关部门意见，修改完善后报县政府审批。";
const SUBMITTED_NOTE: &str = "测算经费约179.4万元，已报县政府审批。";
/// 179.4万元 = 1,794,000 元 = 179,400,000 fen.
const SEED_FEN: i64 = 179_400_000;

async fn request(app: &TestApp, token: &str, body: Value) -> Value {
    app.post_as(token, "/api/v1/funding-requests", &body)
        .await
        .expect(201)
        .body
}

async fn transition(app: &TestApp, token: &str, id: &Value, body: Value) -> Value {
    app.post_as(
        token,
        &format!("/api/v1/funding-requests/{id}/transitions"),
        &body,
    )
    .await
    .expect(201)
    .body
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn as_of(app: &TestApp, year: i32, on: &str) -> Vec<FundingAsOf> {
    let mut conn = Manager::new(app.database_url.clone(), "public")
        .connect()
        .expect("connect");
    funding_as_of(
        &mut conn,
        year,
        date(on),
        shuangbai::db::counties::Scope::All,
    )
    .expect("funding as of")
}

fn cell(row: &FundingAsOf) -> String {
    let stage = row.stage;
    funding_cell(
        stage,
        row.note.as_deref(),
        row.requested_fen,
        row.approved_fen,
    )
}

on_both_backends! {
    async fn the_seeds_three_kinds_of_funding_cell_are_entered_and_read_back_with_their_stages_and_notes(app: TestApp) {
        let a = app.county("445302", "云城区", "district").await;
        let b = app.county("445303", "云安区", "district").await;
        let c = app.county("445381", "罗定市", "county_city").await;
        let officer = app.user_token("officer.c", "county_officer", Some(c)).await;
        let admin = app.admin_token.clone();

        let ra = request(&app, &admin, json!({"county_id": a, "fiscal_year": 2021, "title": "社工站经费", "effective_on": "2021-05-10", "note": ESTIMATING_NOTE})).await;
        assert_eq!(ra["status"], "estimating");
        assert_eq!(ra["status_label"], "正在测算");
        assert_eq!(ra["allowed_actions"], json!(["consult", "submit", "withdraw"]));

        let rb = request(&app, &admin, json!({"county_id": b, "fiscal_year": 2021, "title": "社工站经费", "ref": "FR-2021", "effective_on": "2021-04-01"})).await;
        assert_eq!(rb["ref"], "FR-2021");
        let t = transition(&app, &admin, &rb["id"], json!({"action": "consult", "effective_on": "2021-05-20", "note": CONSULTING_NOTE})).await;
        assert_eq!(t["from_status"], "estimating");
        assert_eq!(t["to_status"], "consulting");
        assert_eq!(t["to_status_label"], "征求意见");

        let rc = request(&app, &officer, json!({"county_id": c, "fiscal_year": 2021, "title": "社工站经费", "effective_on": "2021-03-01"})).await;
        let t = transition(&app, &officer, &rc["id"], json!({"action": "submit", "effective_on": "2021-05-30", "note": SUBMITTED_NOTE, "requested_fen": SEED_FEN})).await;
        assert_eq!(t["requested_fen"], SEED_FEN);
        assert_eq!(t["actor"], "user:officer.c");

        let got = app.get(&format!("/api/v1/funding-requests/{}", rc["id"])).await.expect(200);
        assert_eq!(got.body["status"], "submitted");
        assert_eq!(got.body["status_label"], "已报审批");
        assert_eq!(got.body["requested_fen"], SEED_FEN);
        assert_eq!(got.header("etag").as_deref(), Some("\"2\""), "a transition changes the ETag");

        let history = app.get(&format!("/api/v1/funding-requests/{}/transitions", rb["id"])).await.expect(200);
        let actions: Vec<&str> = history.body.as_array().expect("list").iter().map(|t| t["action"].as_str().expect("action")).collect();
        assert_eq!(actions, vec!["create", "consult"]);
        assert_eq!(history.body[0]["effective_on"], "2021-04-01");
        assert_eq!(history.body[0]["from_status"], Value::Null);
        assert_eq!(history.body[1]["note"], CONSULTING_NOTE);

        let listed = app.get("/api/v1/funding-requests?status=submitted&fiscal_year=2021").await.expect(200);
        assert_eq!(listed.body["total"], 1);
        assert_eq!(listed.body["items"][0]["county_id"], c);
        let sorted = app.get("/api/v1/funding-requests?sort=-county_id").await.expect(200);
        assert_eq!(sorted.body["items"][0]["county_id"], c);

        let table = as_of(&app, 2021, "2021-06-09");
        let cells: Vec<(i32, String, String)> = table.iter().map(|r| (r.county_id, r.stage.as_str().to_string(), cell(r))).collect();
        assert_eq!(cells, vec![
            (a as i32, "estimating".to_string(), ESTIMATING_NOTE.to_string()),
            (b as i32, "consulting".to_string(), CONSULTING_NOTE.to_string()),
            (c as i32, "submitted".to_string(), SUBMITTED_NOTE.to_string()),
        ]);
        assert_eq!(table[2].requested_fen, Some(SEED_FEN));
    }

    async fn an_officer_cannot_approve_and_approval_records_the_amount_and_effective_date(app: TestApp) {
        let c = app.county("445381", "罗定市", "county_city").await;
        let officer = app.user_token("officer.c", "county_officer", Some(c)).await;
        let r = request(&app, &officer, json!({"county_id": c, "fiscal_year": 2021, "title": "社工站经费", "requested_fen": SEED_FEN, "effective_on": "2021-03-01"})).await;
        let path = format!("/api/v1/funding-requests/{}", r["id"]);
        transition(&app, &officer, &r["id"], json!({"action": "submit", "effective_on": "2021-05-30"})).await;
        let refused = app.post_as(&officer, &format!("{path}/transitions"), &json!({"action": "approve", "approved_fen": SEED_FEN})).await.expect_problem(403);
        assert!(refused.body["detail"].as_str().expect("detail").contains("administrators"));
        app.post_as(&officer, &format!("{path}/transitions"), &json!({"action": "return"})).await.expect_problem(403);
        // Past submission the request no longer changes, and the stage never changes by PATCH.
        app.patch_as(&officer, &path, Some("\"2\""), &json!({"requested_fen": 1})).await.expect_problem(409);
        let r422 = app.patch_as(&officer, &path, Some("\"2\""), &json!({"status": "approved"})).await.expect_problem(422);
        assert_eq!(r422.error_fields(), vec!["status"]);

        let t = transition(&app, &app.admin_token, &r["id"], json!({"action": "approve", "approved_fen": 150_000_000, "effective_on": "2021-06-05", "note": "县政府已批准150万元。"})).await;
        assert_eq!(t["to_status"], "approved");
        assert_eq!(t["approved_fen"], 150_000_000);
        assert_eq!(t["effective_on"], "2021-06-05");
        assert_eq!(t["actor"], "user:bureau.admin");
        let got = app.get(&path).await.expect(200).body;
        assert_eq!(got["status"], "approved");
        assert_eq!(got["approved_fen"], 150_000_000);
        assert_eq!(got["requested_fen"], SEED_FEN);
        assert_eq!(got["allowed_actions"], json!([]));
        let table = as_of(&app, 2021, "2021-06-09");
        assert_eq!(table[0].approved_fen, Some(150_000_000));
        assert_eq!(cell(&table[0]), "县政府已批准150万元。");
        let before = as_of(&app, 2021, "2021-06-04");
        assert_eq!(before[0].stage, FundingStage::Submitted);
        assert_eq!(before[0].approved_fen, None);
        assert_eq!(cell(&before[0]), "已报审批，179.4万元");
    }

    async fn the_stage_as_of_any_date_follows_the_history(app: TestApp) {
        let a = app.county("445302", "云城区", "district").await;
        let b = app.county("445303", "云安区", "district").await;
        let admin = app.admin_token.clone();
        let r1 = request(&app, &admin, json!({"county_id": a, "fiscal_year": 2021, "title": "第一次申请", "effective_on": "2021-01-10", "note": "正在测算"})).await;
        transition(&app, &admin, &r1["id"], json!({"action": "consult", "effective_on": "2021-02-01"})).await;
        transition(&app, &admin, &r1["id"], json!({"action": "submit", "effective_on": "2021-03-01", "requested_fen": 100_000_000, "note": "已报区政府审批"})).await;
        transition(&app, &admin, &r1["id"], json!({"action": "return", "effective_on": "2021-04-01"})).await;
        let r2 = request(&app, &admin, json!({"county_id": a, "fiscal_year": 2021, "title": "重新申请", "effective_on": "2021-04-15", "requested_fen": 50_000_000})).await;
        transition(&app, &admin, &r1["id"], json!({"action": "withdraw", "effective_on": "2021-05-01"})).await;
        // Another year and another county do not interfere.
        request(&app, &admin, json!({"county_id": a, "fiscal_year": 2022, "title": "下一年", "effective_on": "2021-04-20"})).await;
        let b1 = request(&app, &admin, json!({"county_id": b, "fiscal_year": 2021, "title": "云安", "effective_on": "2021-04-15"})).await;
        let b2 = request(&app, &admin, json!({"county_id": b, "fiscal_year": 2021, "title": "云安二", "effective_on": "2021-04-15"})).await;

        let for_a = |on: &str| as_of(&app, 2021, on).into_iter().find(|r| r.county_id == a as i32);
        assert_eq!(for_a("2021-01-09"), None, "nothing before the first transition");
        let r = for_a("2021-01-10").expect("estimating");
        assert_eq!((r.request_id as i64, r.stage.as_str(), r.note.as_deref()), (r1["id"].as_i64().expect("id"), "estimating", Some("正在测算")));
        let r = for_a("2021-02-15").expect("consulting");
        // The change to consulting had no note: the cell says the stage, never the estimating
        // stage's sentence.
        assert_eq!((r.stage.as_str(), r.note.as_deref(), r.requested_fen), ("consulting", None, None), "the note of the change that set the stage");
        assert_eq!(cell(&r), "征求意见");
        let r = for_a("2021-03-15").expect("submitted");
        assert_eq!((r.stage.as_str(), r.note.as_deref(), r.requested_fen), ("submitted", Some("已报区政府审批"), Some(100_000_000)));
        let r = for_a("2021-04-10").expect("returned");
        assert_eq!((r.stage.as_str(), r.effective_on), ("returned", date("2021-04-01")));
        let r = for_a("2021-04-20").expect("the newer request");
        assert_eq!((r.request_id as i64, r.stage.as_str(), r.note.as_deref()), (r2["id"].as_i64().expect("id"), "estimating", None));
        assert_eq!(cell(&r), "正在测算，50万元");
        let r = for_a("2021-06-09").expect("the withdrawn one is ignored");
        assert_eq!(r.request_id as i64, r2["id"].as_i64().expect("id"));
        // Same day: the higher id wins.
        let r = as_of(&app, 2021, "2021-06-09").into_iter().find(|r| r.county_id == b as i32).expect("b");
        assert_eq!(r.request_id as i64, b2["id"].as_i64().expect("id"));
        assert_ne!(b1["id"], b2["id"]);
        // Withdrawing b2 leaves b1 as b's request from then on only.
        transition(&app, &admin, &b2["id"], json!({"action": "withdraw", "effective_on": "2021-05-01"})).await;
        let at = |on: &str| as_of(&app, 2021, on).into_iter().find(|r| r.county_id == b as i32).map(|r| r.request_id as i64);
        assert_eq!(at("2021-04-20"), b2["id"].as_i64());
        assert_eq!(at("2021-05-02"), b1["id"].as_i64());
        assert_eq!(as_of(&app, 2022, "2021-06-09").len(), 1);
    }

    async fn a_disallowed_action_is_a_conflict_naming_the_stage_and_the_allowed_ones(app: TestApp) {
        let a = app.county("445302", "云城区", "district").await;
        let r = request(&app, &app.admin_token, json!({"county_id": a, "fiscal_year": 2021, "title": "经费", "effective_on": "2021-03-01"})).await;
        let path = format!("/api/v1/funding-requests/{}/transitions", r["id"]);
        let conflict = app.post(&path, &json!({"action": "approve", "approved_fen": 1})).await.expect_problem(409);
        let detail = conflict.body["detail"].as_str().expect("detail");
        assert!(detail.contains("estimating") && detail.contains("consult, submit, withdraw"), "{detail}");
        app.post(&path, &json!({"action": "revise"})).await.expect_problem(409);
        let bad = app.post(&path, &json!({"action": "create"})).await.expect_problem(422);
        assert_eq!(bad.error_fields(), vec!["action"]);
        let before = app.post(&path, &json!({"action": "consult", "effective_on": "2021-02-28"})).await.expect_problem(422);
        assert_eq!(before.error_fields(), vec!["effective_on"]);
        let future = app.post(&path, &json!({"action": "consult", "effective_on": "2999-01-01"})).await.expect_problem(422);
        assert_eq!(future.error_fields(), vec!["effective_on"]);
        transition(&app, &app.admin_token, &r["id"], json!({"action": "withdraw", "effective_on": "2021-04-01"})).await;
        let closed = app.post(&path, &json!({"action": "submit"})).await.expect_problem(409);
        assert!(closed.body["detail"].as_str().expect("detail").contains("withdrawn"));
        // A stale If-Match on a transition is refused.
        let r2 = request(&app, &app.admin_token, json!({"county_id": a, "fiscal_year": 2021, "title": "经费二"})).await;
        let p2 = format!("/api/v1/funding-requests/{}/transitions", r2["id"]);
        app.call(Some(&app.admin_token), awc::http::Method::POST, &p2, Some("\"7\""), Some(&json!({"action": "consult"}))).await.expect_problem(412);
        app.call(Some(&app.admin_token), awc::http::Method::POST, &p2, Some("\"1\""), Some(&json!({"action": "consult"}))).await.expect(201);
    }

    async fn negative_or_huge_amounts_are_refused(app: TestApp) {
        let a = app.county("445302", "云城区", "district").await;
        let base = |fen: Value| json!({"county_id": a, "fiscal_year": 2021, "title": "经费", "requested_fen": fen});
        for fen in [json!(-1), json!(100_000_000_001_i64), json!(1e20), json!(1.5)] {
            let r = app.post("/api/v1/funding-requests", &base(fen.clone())).await.expect_problem(422);
            assert_eq!(r.error_fields(), vec!["requested_fen"], "{fen}");
        }
        let r = request(&app, &app.admin_token, base(json!(100_000_000_000_i64))).await;
        assert_eq!(r["requested_fen"], 100_000_000_000_i64, "the ceiling itself, 10亿元, is accepted");
        let path = format!("/api/v1/funding-requests/{}", r["id"]);
        app.patch(&path, Some("\"1\""), &json!({"requested_fen": -5})).await.expect_problem(422);
        transition(&app, &app.admin_token, &r["id"], json!({"action": "submit"})).await;
        let t = format!("{path}/transitions");
        let missing = app.post(&t, &json!({"action": "approve"})).await.expect_problem(422);
        assert_eq!(missing.error_fields(), vec!["approved_fen"]);
        let neg = app.post(&t, &json!({"action": "approve", "approved_fen": -1})).await.expect_problem(422);
        assert_eq!(neg.error_fields(), vec!["approved_fen"]);
        let wrong = app.post(&t, &json!({"action": "reject", "approved_fen": 5})).await.expect_problem(422);
        assert_eq!(wrong.error_fields(), vec!["approved_fen"]);
    }

    async fn amounts_change_by_patch_only_while_estimating_or_consulting(app: TestApp) {
        let a = app.county("445302", "云城区", "district").await;
        let r = request(&app, &app.admin_token, json!({"county_id": a, "fiscal_year": 2021, "title": "经费"})).await;
        let path = format!("/api/v1/funding-requests/{}", r["id"]);
        app.patch(&path, None, &json!({"requested_fen": 5})).await.expect_problem(428);
        let p = app.patch(&path, Some("\"1\""), &json!({"requested_fen": 5, "purpose": "社工站运营"})).await.expect(200);
        assert_eq!(p.body["requested_fen"], 5);
        assert_eq!(p.body["version"], 2);
        app.patch(&path, Some("\"1\""), &json!({"title": "旧"})).await.expect_problem(412);
        transition(&app, &app.admin_token, &r["id"], json!({"action": "consult"})).await;
        app.patch(&path, Some("\"3\""), &json!({"requested_fen": null})).await.expect(200);
        transition(&app, &app.admin_token, &r["id"], json!({"action": "submit"})).await;
        let c = app.patch(&path, Some("\"5\""), &json!({"title": "新"})).await.expect_problem(409);
        assert!(c.body["detail"].as_str().expect("detail").contains("submitted"));
        app.delete(&path, Some("\"5\"")).await.expect_problem(409);
        let r2 = request(&app, &app.admin_token, json!({"county_id": a, "fiscal_year": 2021, "title": "草稿"})).await;
        let p2 = format!("/api/v1/funding-requests/{}", r2["id"]);
        app.delete(&p2, Some("\"1\"")).await.expect(204);
        app.get(&p2).await.expect_problem(404);
        app.get(&format!("{p2}/transitions")).await.expect_problem(404);
    }

    async fn the_city_level_asks_through_administrators_and_viewers_only_read(app: TestApp) {
        let a = app.county("445302", "云城区", "district").await;
        let city = app.county("445300", "云浮市本级", "city_level").await;
        let officer = app.user_token("officer.a", "county_officer", Some(a)).await;
        let viewer = app.user_token("leader", "viewer", None).await;
        let body = |c: i64| json!({"county_id": c, "fiscal_year": 2021, "title": "经费"});
        app.post_as(&officer, "/api/v1/funding-requests", &body(city)).await.expect_problem(403);
        app.post_as(&viewer, "/api/v1/funding-requests", &body(a)).await.expect_problem(403);
        let r = request(&app, &app.admin_token, body(city)).await;
        app.post_as(&officer, &format!("/api/v1/funding-requests/{}/transitions", r["id"]), &json!({"action": "consult"})).await.expect_problem(403);
        app.get_as(&viewer, &format!("/api/v1/funding-requests/{}/transitions", r["id"])).await.expect(200);
        let unknown = app.post("/api/v1/funding-requests", &body(9999)).await.expect_problem(422);
        assert_eq!(unknown.error_fields(), vec!["county_id"]);
        let dup = json!({"county_id": a, "fiscal_year": 2021, "title": "经费", "ref": "X-1"});
        request(&app, &officer, dup.clone()).await;
        let conflict = app.post_as(&officer, "/api/v1/funding-requests", &dup).await.expect_problem(409);
        assert!(conflict.body["detail"].as_str().expect("detail").contains("ref"));
    }
}
