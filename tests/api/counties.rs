use serde_json::{json, Value};

use crate::helpers::TestApp;

fn yuncheng() -> Value {
    json!({
        "division_code": "445302",
        "name": "云城区",
        "kind": "district",
        "coordination_established_on": "2021-03-15",
    })
}

async fn create(app: &TestApp, body: Value) -> Value {
    app.post("/api/v1/counties", &body).await.expect(201).body
}

on_both_backends! {
    async fn creating_a_county_returns_it_with_its_location_and_etag(app: TestApp) {
        let r = app.post("/api/v1/counties", &yuncheng()).await.expect(201);
        let id = r.body["id"].as_i64().expect("id");
        assert_eq!(r.header("location"), Some(format!("/api/v1/counties/{id}")));
        assert_eq!(r.header("etag").as_deref(), Some("\"1\""));
        assert_eq!(r.body["name"], "云城区");
        assert_eq!(r.body["kind_label"], "区");
        assert_eq!(r.body["plan_status"]["stage"], "not_started");
        assert_eq!(r.body["management_established_on"], Value::Null);
        assert!(r.body["created_at"].as_str().expect("timestamp").ends_with('Z'));

        let got = app.get(&format!("/api/v1/counties/{id}")).await.expect(200);
        assert_eq!(got.body, r.body, "reading back gives what was created");
    }

    async fn a_duplicate_division_code_is_a_conflict_that_changes_nothing(app: TestApp) {
        create(&app, yuncheng()).await;
        let mut again = yuncheng();
        again["name"] = json!("另一个区");
        let r = app.post("/api/v1/counties", &again).await.expect_problem(409);
        assert!(r.body["detail"].as_str().expect("detail").contains("division_code"));
        let list = app.get("/api/v1/counties").await.expect(200);
        assert_eq!(list.body["total"], 1);
    }

    // Restated for cities: one city level per city (no longer one in the whole deployment),
    // and a county-level row whose city does not exist is refused.
    async fn a_city_has_one_city_level_and_a_row_needs_its_city(app: TestApp) {
        create(&app, json!({"division_code": "445300", "name": "市本级", "kind": "city_level"})).await;
        app.post("/api/v1/counties", &json!({"division_code": "445300", "name": "又一个", "kind": "city_level"}))
            .await
            .expect_problem(409);
        let r = app
            .post("/api/v1/counties", &json!({"division_code": "445200", "name": "又一个", "kind": "city_level"}))
            .await
            .expect_problem(422);
        assert_eq!(r.error_fields(), vec!["division_code"]);
    }

    async fn every_broken_rule_is_a_422_naming_its_field(app: TestApp) {
        let r = app
            .post(
                "/api/v1/counties",
                &json!({
                    "division_code": "44530",
                    "name": "  ",
                    "kind": "county",
                    "management_established_on": "2999-01-01",
                    "plan_status": {"stage": "issued", "effective_on": "2999-01-01"},
                }),
            )
            .await
            .expect_problem(422);
        let mut fields = r.error_fields();
        fields.sort();
        assert_eq!(
            fields,
            vec!["/plan_status/effective_on", "division_code", "management_established_on", "name"]
        );
        let r = app
            .post("/api/v1/counties", &json!({"division_code": "445300", "name": "x", "kind": "county"}))
            .await
            .expect_problem(422);
        assert_eq!(r.error_fields(), vec!["division_code"]);
        let r = app
            .post("/api/v1/counties", &json!({"division_code": "445302", "name": "x", "kind": "borough"}))
            .await
            .expect_problem(422);
        assert_eq!(r.error_fields(), vec!["kind"]);
        let r = app
            .post("/api/v1/counties", &json!({"division_code": "445302", "name": "x", "kind": "county", "colour": 1}))
            .await
            .expect_problem(422);
        assert_eq!(r.body["errors"].as_array().map(Vec::len), Some(1), "unknown fields are refused");
        assert_eq!(app.get("/api/v1/counties").await.body["total"], 0, "nothing was written");
    }

    async fn malformed_bodies_are_400_and_other_content_types_415(app: TestApp) {
        let req = app
            .request(awc::http::Method::POST, "/api/v1/counties")
            .insert_header(("content-type", "application/json"));
        app.send(req, Some(b"{\"name\": ".to_vec())).await.expect_problem(400);
        let req = app
            .request(awc::http::Method::POST, "/api/v1/counties")
            .insert_header(("content-type", "text/plain"));
        app.send(req, Some(yuncheng().to_string().into_bytes())).await.expect_problem(415);
        let huge = json!({"division_code": "445302", "name": "x".repeat(2 << 20), "kind": "county"});
        app.post("/api/v1/counties", &huge).await.expect_problem(413);
        app.get("/api/v1/counties/99999999999").await.expect_problem(400);
        app.get("/api/v1/counties?limit=abc").await.expect_problem(400);
        app.get("/api/v1/counties?limit=501").await.expect_problem(422);
        app.get("/api/v1/counties?sort=password").await.expect_problem(422);
    }

    async fn lists_page_filter_sort_and_search(app: TestApp) {
        for (code, name, kind) in [
            ("445302", "云城区", "district"),
            ("445303", "云安区", "district"),
            ("445381", "罗定市", "county_city"),
            ("445321", "新兴县", "county"),
            ("445322", "郁南县", "county"),
        ] {
            create(&app, json!({"division_code": code, "name": name, "kind": kind})).await;
        }
        let page = app.get("/api/v1/counties?limit=2&offset=1&sort=division_code").await.expect(200);
        assert_eq!(page.body["total"], 5);
        assert_eq!(page.body["limit"], 2);
        assert_eq!(page.body["offset"], 1);
        let codes: Vec<&str> = page.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|c| c["division_code"].as_str())
            .collect();
        assert_eq!(codes, vec!["445303", "445321"]);

        let districts = app.get("/api/v1/counties?kind=district&sort=-division_code").await.expect(200);
        assert_eq!(districts.body["total"], 2);
        assert_eq!(districts.body["items"][0]["division_code"], "445303");

        let q = app.get("/api/v1/counties?q=%E5%8D%97").await.expect(200); // 南
        assert_eq!(q.body["total"], 1);
        assert_eq!(q.body["items"][0]["name"], "郁南县");
        let none = app.get("/api/v1/counties?q=%25").await.expect(200); // a literal %
        assert_eq!(none.body["total"], 0, "wildcards in q are escaped");
    }

    async fn a_patch_needs_a_current_if_match(app: TestApp) {
        let c = create(&app, yuncheng()).await;
        let path = format!("/api/v1/counties/{}", c["id"]);
        app.patch(&path, None, &json!({"name": "云城"})).await.expect_problem(428);
        app.patch(&path, Some("\"7\""), &json!({"name": "云城"})).await.expect_problem(412);
        let r = app
            .patch(&path, Some("\"1\""), &json!({"name": "云城", "coordination_established_on": null, "management_established_on": "2021-05-01"}))
            .await
            .expect(200);
        assert_eq!(r.header("etag").as_deref(), Some("\"2\""));
        assert_eq!(r.body["name"], "云城");
        assert_eq!(r.body["coordination_established_on"], Value::Null);
        assert_eq!(r.body["management_established_on"], "2021-05-01");
        // The first writer's ETag is now stale: a second edit from the same read is refused.
        app.patch(&path, Some("\"1\""), &json!({"name": "云城区"})).await.expect_problem(412);
        let r = app
            .patch(&path, Some("\"2\""), &json!({"kind": "city_level"}))
            .await
            .expect_problem(422);
        assert_eq!(r.error_fields(), vec!["kind"]);
        assert_eq!(app.get(&path).await.body["name"], "云城");
    }

    async fn the_plan_status_history_answers_any_past_date(app: TestApp) {
        let mut body = yuncheng();
        body["plan_status"] = json!({"stage": "drafting", "effective_on": "2021-01-10"});
        let c = create(&app, body).await;
        let id = c["id"].as_i64().expect("id");
        assert_eq!(c["plan_status"]["stage"], "drafting");
        let changes = format!("/api/v1/counties/{id}/plan-status-changes");
        app.post(&changes, &json!({"stage": "issued", "effective_on": "2021-07-01"})).await.expect(201);
        // Backdated: entered after the July change, effective in March.
        let r = app
            .post(&changes, &json!({"stage": "approved", "effective_on": "2021-03-01", "note": "区政府已同意，正在会签"}))
            .await
            .expect(201);
        assert_eq!(r.body["label"], "区政府已同意，正在会签");

        let on = |date: &str| format!("/api/v1/counties/{id}?as_of={date}");
        assert_eq!(app.get(&on("2021-01-09")).await.body["plan_status"]["stage"], "not_started");
        assert_eq!(app.get(&on("2021-01-10")).await.body["plan_status"]["stage"], "drafting");
        let march = app.get(&on("2021-06-09")).await.body;
        assert_eq!(march["plan_status"]["stage"], "approved");
        assert_eq!(march["plan_status"]["label"], "区政府已同意，正在会签");
        let now = app.get(&format!("/api/v1/counties/{id}")).await.body;
        assert_eq!(now["plan_status"]["stage"], "issued");
        assert_eq!(now["plan_status"]["label"], "已出台");
        assert_eq!(now["version"], 3, "each change moves the county's version");

        let history = app.get(&changes).await.expect(200).body;
        let stages: Vec<&str> = history.as_array().expect("list").iter().filter_map(|c| c["stage"].as_str()).collect();
        assert_eq!(stages, vec!["drafting", "approved", "issued"], "oldest first by effective date");

        let listed = app.get("/api/v1/counties?as_of=2021-02-01").await.body;
        assert_eq!(listed["items"][0]["plan_status"]["stage"], "drafting");
        for date in ["2021-01-09", "2021-01-10", "2021-03-01", "2021-06-09", "2021-07-01"] {
            let listed = app.get(&format!("/api/v1/counties?as_of={date}")).await.body;
            let own = app.get(&on(date)).await.body;
            assert_eq!(listed["items"][0]["plan_status"], own["plan_status"], "the list as of {date}");
        }
        // Two changes on one day: the later written is in force, in the list as in the county.
        app.post(&changes, &json!({"stage": "drafting", "effective_on": "2021-07-01", "note": "重新起草"}))
            .await
            .expect(201);
        let listed = app.get("/api/v1/counties").await.body;
        assert_eq!(listed["items"][0]["plan_status"]["note"], "重新起草");
        let own = app.get(&format!("/api/v1/counties/{id}")).await.body;
        assert_eq!(listed["items"][0]["plan_status"], own["plan_status"]);
    }

    async fn a_plan_change_in_the_future_is_refused_and_changes_nothing(app: TestApp) {
        let c = create(&app, yuncheng()).await;
        let changes = format!("/api/v1/counties/{}/plan-status-changes", c["id"]);
        let r = app.post(&changes, &json!({"stage": "issued", "effective_on": "2999-12-31"})).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["effective_on"]);
        assert_eq!(app.get(&changes).await.body, json!([]));
        app.post("/api/v1/counties/424242/plan-status-changes", &json!({"stage": "issued", "effective_on": "2021-01-01"}))
            .await
            .expect_problem(404);
    }

    async fn deleting_needs_if_match_and_takes_the_history_with_it(app: TestApp) {
        let mut body = yuncheng();
        body["plan_status"] = json!({"stage": "drafting", "effective_on": "2021-01-10"});
        let c = create(&app, body).await;
        let path = format!("/api/v1/counties/{}", c["id"]);
        app.delete(&path, None).await.expect_problem(428);
        app.delete(&path, Some("\"9\"")).await.expect_problem(412);
        app.delete(&path, Some("\"1\"")).await.expect(204);
        app.get(&path).await.expect_problem(404);
        app.delete(&path, Some("\"1\"")).await.expect_problem(404);
    }
}
