use serde_json::{json, Value};

use crate::helpers::TestApp;

async fn town(app: &TestApp, county_id: i64, name: &str, code: &str) -> Value {
    app.post(
        "/api/v1/towns",
        &json!({"county_id": county_id, "name": name, "code": code, "kind": "town"}),
    )
    .await
    .expect(201)
    .body
}

on_both_backends! {
    async fn a_town_belongs_to_its_county_and_reads_back(app: TestApp) {
        let c = app.county("445302", "云城区", "district").await;
        let t = town(&app, c, "腰古镇", "445302104").await;
        assert_eq!(t["kind_label"], "镇");
        let got = app.get(&format!("/api/v1/towns/{}", t["id"])).await.expect(200);
        assert_eq!(got.body, t);
        assert_eq!(got.header("etag").as_deref(), Some("\"1\""));
    }

    async fn town_names_repeat_across_counties_but_not_within_one(app: TestApp) {
        let luoding = app.county("445381", "罗定市", "county_city").await;
        let xinxing = app.county("445321", "新兴县", "county").await;
        town(&app, luoding, "太平镇", "445381110").await;
        town(&app, xinxing, "太平镇", "445321110").await;
        let r = app
            .post("/api/v1/towns", &json!({"county_id": luoding, "name": "太平镇", "code": "445381111", "kind": "town"}))
            .await
            .expect_problem(409);
        assert!(r.body["detail"].as_str().expect("detail").contains("name"));
        app.post("/api/v1/towns", &json!({"county_id": luoding, "name": "别的镇", "code": "445381110", "kind": "town"}))
            .await
            .expect_problem(409);
        let listed = app.get("/api/v1/towns?q=%E5%A4%AA%E5%B9%B3").await.expect(200); // 太平
        assert_eq!(listed.body["total"], 2);
        let one = app.get(&format!("/api/v1/towns?county_id={xinxing}")).await.expect(200);
        assert_eq!(one.body["total"], 1);
    }

    async fn the_city_level_has_no_towns_and_codes_stay_inside_their_county(app: TestApp) {
        let city = app.county("445300", "市本级", "city_level").await;
        let r = app
            .post("/api/v1/towns", &json!({"county_id": city, "name": "某镇", "code": "445300101", "kind": "town"}))
            .await
            .expect_problem(422);
        assert_eq!(r.error_fields(), vec!["county_id"]);
        let c = app.county("445302", "云城区", "district").await;
        let r = app
            .post("/api/v1/towns", &json!({"county_id": c, "name": "某镇", "code": "445303101", "kind": "town"}))
            .await
            .expect_problem(422);
        assert_eq!(r.error_fields(), vec!["code"]);
        let r = app
            .post("/api/v1/towns", &json!({"county_id": 9999, "name": "某镇", "code": "44530", "kind": "village"}))
            .await
            .expect_problem(422);
        assert_eq!(r.error_fields(), vec!["kind"]);
        let r = app
            .post("/api/v1/towns", &json!({"county_id": 9999, "name": "某镇", "code": "445302101", "kind": "town"}))
            .await
            .expect_problem(422);
        assert_eq!(r.error_fields(), vec!["county_id"]);
        assert_eq!(app.get("/api/v1/towns").await.body["total"], 0);
    }

    async fn a_county_with_towns_cannot_be_deleted(app: TestApp) {
        let c = app.county("445302", "云城区", "district").await;
        let t = town(&app, c, "腰古镇", "445302104").await;
        app.delete(&format!("/api/v1/counties/{c}"), Some("\"1\"")).await.expect_problem(409);
        let town_path = format!("/api/v1/towns/{}", t["id"]);
        let patched = app.patch(&town_path, Some("\"1\""), &json!({"name": "腰古"})).await.expect(200);
        assert_eq!(patched.body["name"], "腰古");
        app.delete(&town_path, Some("\"1\"")).await.expect_problem(412);
        app.delete(&town_path, Some("\"2\"")).await.expect(204);
        app.delete(&format!("/api/v1/counties/{c}"), Some("\"1\"")).await.expect(204);
    }
}
