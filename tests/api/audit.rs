//! The audit trail: every change through the API, with before and after, the request id and
//! the reason; personal fields masked; nothing recorded for a refused write.

use awc::http::Method;
use serde_json::{json, Value};

use crate::helpers::{Resp, TestApp};

/// A JSON write as the admin with a reason and our own request id.
async fn write(
    app: &TestApp,
    method: Method,
    path: &str,
    if_match: Option<&str>,
    body: Option<&Value>,
    request_id: &str,
    reason: &str,
) -> Resp {
    let mut req = app
        .request(method, path)
        .insert_header(("x-request-id", request_id))
        .insert_header(("x-change-reason", reason));
    if let Some(tag) = if_match {
        req = req.insert_header(("if-match", tag));
    }
    match body {
        Some(b) => {
            let req = req.insert_header(("content-type", "application/json"));
            app.send(req, Some(b.to_string().into_bytes())).await
        }
        None => app.send(req, None).await,
    }
}

async fn events(app: &TestApp, query: &str) -> Value {
    app.get(&format!("/api/v1/audit-events?{query}"))
        .await
        .expect(200)
        .body
}

on_both_backends! {
    async fn every_change_is_recorded_with_before_after_request_id_and_reason(app: TestApp) {
        let county = write(&app, Method::POST, "/api/v1/counties", None,
            Some(&json!({"division_code": "445302", "name": "云城区", "kind": "district"})),
            "req-county-0001", "  新县区  ").await.expect(201);
        assert_eq!(county.header("x-request-id").as_deref(), Some("req-county-0001"));
        let county_id = county.body["id"].as_i64().expect("id");

        let created = write(&app, Method::POST, "/api/v1/towns", None,
            Some(&json!({"county_id": county_id, "name": "腰古镇", "code": "445302104", "kind": "town"})),
            "req-town-create-1", "建镇").await.expect(201);
        let id = created.body["id"].as_i64().expect("id");
        let path = format!("/api/v1/towns/{id}");
        let updated = write(&app, Method::PATCH, &path, Some("\"1\""), Some(&json!({"name": "河口镇"})),
            "req-town-update-1", "改名").await.expect(200);
        let deleted = write(&app, Method::DELETE, &path, Some("\"2\""), None,
            "req-town-delete-1", "撤销").await.expect(204);

        let page = events(&app, &format!("entity=town&entity_id={id}")).await;
        assert_eq!(page["total"], 3);
        let items = page["items"].as_array().expect("items");
        let actions: Vec<&str> = items.iter().map(|e| e["action"].as_str().expect("action")).collect();
        assert_eq!(actions, vec!["delete", "update", "create"], "newest first");
        for (event, resp) in items.iter().zip([&deleted, &updated, &created]) {
            assert_eq!(event["request_id"].as_str(), resp.header("x-request-id").as_deref());
            assert_eq!(event["actor"], "user:bureau.admin");
            assert_eq!(event["entity"], "town");
            assert_eq!(event["county_id"], county_id);
            assert!(event["occurred_at"].as_str().expect("time").ends_with('Z'));
        }
        let (del, upd, cre) = (&items[0], &items[1], &items[2]);
        assert_eq!(cre["before"], Value::Null);
        assert_eq!(cre["after"], created.body);
        assert_eq!(cre["reason"], "建镇");
        assert_eq!(upd["before"]["name"], "腰古镇");
        assert_eq!(upd["after"], updated.body);
        assert_eq!(upd["reason"], "改名");
        assert_eq!(del["before"]["name"], "河口镇");
        assert_eq!(del["after"], Value::Null);

        let c = events(&app, &format!("entity=county&entity_id={county_id}")).await;
        assert_eq!(c["items"][0]["reason"], "新县区", "the reason is trimmed");
        assert_eq!(c["items"][0]["request_id"], "req-county-0001");

        // Filters: county, actor, time range.
        assert_eq!(events(&app, &format!("county_id={county_id}")).await["total"], 4);
        // The first county also made its province and its city: two events more than the
        // county's own four.
        assert_eq!(events(&app, "actor=user:bureau.admin").await["total"], 6);
        assert_eq!(events(&app, "actor=user:nobody").await["total"], 0);
        assert_eq!(events(&app, "from=2000-01-01&to=2999-12-31").await["total"], 6);
        assert_eq!(events(&app, "to=2000-01-01T00:00:00Z").await["total"], 0);
        app.get("/api/v1/audit-events?from=yesterday").await.expect_problem(422);
        let paged = events(&app, "limit=1&offset=1").await;
        assert_eq!(paged["items"].as_array().expect("items").len(), 1);
        assert_eq!(paged["total"], 6);
        assert_eq!(paged["items"][0]["action"], "update");
    }

    async fn only_admins_read_the_trail(app: TestApp) {
        let county_id = app.post("/api/v1/counties", &json!({"division_code": "445302", "name": "云城区", "kind": "district"}))
            .await.expect(201).body["id"].as_i64().expect("id");
        let viewer = app.user_token("leader", "viewer", None).await;
        let officer = app.user_token("officer", "county_officer", Some(county_id)).await;
        app.get_as(&viewer, "/api/v1/audit-events").await.expect_problem(403);
        app.get_as(&officer, "/api/v1/audit-events").await.expect_problem(403);
        app.call(None, Method::GET, "/api/v1/audit-events", None, None).await.expect_problem(401);
        let users = events(&app, "entity=user").await;
        assert_eq!(users["total"], 2, "users made through the API are recorded");
        assert!(!users.to_string().contains("password"), "no password or hash in the trail");
    }

    async fn a_refused_write_leaves_no_record(app: TestApp) {
        let county_id = app.post("/api/v1/counties", &json!({"division_code": "445302", "name": "云城区", "kind": "district"}))
            .await.expect(201).body["id"].as_i64().expect("id");
        let before = events(&app, "").await["total"].as_i64().expect("total");
        app.post("/api/v1/towns", &json!({"county_id": county_id, "name": "腰古镇", "code": "445399104", "kind": "town"}))
            .await.expect_problem(422);
        app.post("/api/v1/towns", &json!({"county_id": county_id, "name": "", "code": "x", "kind": "town"}))
            .await.expect_problem(422);
        let town = app.post("/api/v1/towns", &json!({"county_id": county_id, "name": "腰古镇", "code": "445302104", "kind": "town"}))
            .await.expect(201);
        // A reason that would print other than it reads (a right-to-left override) is refused.
        let r = write(&app, Method::POST, "/api/v1/towns", None, Some(&json!({"county_id": county_id, "name": "河口镇", "code": "445302105", "kind": "town"})), "reason-check-0001", "调整\u{202E}错误").await;
        let r = r.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["X-Change-Reason"]);
                // A stale If-Match rolls back too.
        app.patch(&format!("/api/v1/towns/{}", town.body["id"]), Some("\"9\""), &json!({"name": "x镇"}))
            .await.expect_problem(412);
        assert_eq!(events(&app, "").await["total"].as_i64().expect("total"), before + 1);
    }

    async fn personal_data_is_masked_in_the_trail(app: TestApp) {
        let county_id = app.post("/api/v1/counties", &json!({"division_code": "445381", "name": "罗定市", "kind": "county_city"}))
            .await.expect(201).body["id"].as_i64().expect("id");
        let person = app.post("/api/v1/staff", &json!({
            "county_id": county_id, "name": "王芳", "gender": "female", "phone": "13812345678",
            "id_number": "445381198506120024", "certification": "social_worker",
            "hired_via": "public_exam", "ref": "P-1"}))
            .await.expect(201);
        assert_eq!(person.body["phone"], "13812345678", "the admin sees the numbers");
        let id = person.body["id"].as_i64().expect("id");
        app.patch(&format!("/api/v1/staff/{id}"), Some("\"1\""), &json!({"phone": "13987654321"}))
            .await.expect(200);
        let page = events(&app, &format!("entity=staff&entity_id={id}")).await;
        let text = page.to_string();
        for secret in ["13812345678", "445381198506120024", "13987654321"] {
            assert!(!text.contains(secret), "{secret} is stored unmasked");
        }
        let update = &page["items"][0];
        assert_eq!(update["before"]["phone"], "138****5678");
        assert_eq!(update["after"]["phone"], "139****4321");
        assert_eq!(update["after"]["id_number"], "4453**********0024");

        let client = app.post("/api/v1/clients", &json!({"name": "脚本", "county_id": county_id})).await.expect(201);
        let secret = client.body["client_secret"].as_str().expect("secret").to_string();
        let clients = events(&app, "entity=client").await;
        assert_eq!(clients["total"], 1);
        assert!(!clients.to_string().contains(&secret));
        assert!(clients["items"][0]["after"].get("secret_hash").is_none());
    }
}
