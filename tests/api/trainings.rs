use chrono::NaiveDate;
use diesel::r2d2::ManageConnection;
use serde_json::{json, Value};
use shuangbai::db::trainings::trainings_held_by;
use shuangbai::db::Manager;

use crate::helpers::TestApp;

async fn training(app: &TestApp, county_id: i64, kind: &str, held_on: &str) -> Value {
    app.post(
        "/api/v1/trainings",
        &json!({"county_id": county_id, "kind": kind, "title": "社工业务培训", "held_on": held_on, "attendees": 40}),
    )
    .await
    .expect(201)
    .body
}

on_both_backends! {
    async fn a_training_is_created_read_changed_and_deleted(app: TestApp) {
        let a = app.county("445302", "云城区", "district").await;
        let t = training(&app, a, "pre_job", "2021-03-01").await;
        assert_eq!(t["kind_label"], "岗前培训");
        assert_eq!(t["attendees"], 40);
        assert!(t["ref"].as_str().is_some_and(|r| !r.is_empty()), "a ref is generated");
        let path = format!("/api/v1/trainings/{}", t["id"]);
        let got = app.get(&path).await.expect(200);
        assert_eq!(got.body, t);
        assert_eq!(got.header("etag").as_deref(), Some("\"1\""));
        app.patch(&path, None, &json!({"title": "新"})).await.expect_problem(428);
        let changed = app.patch(&path, Some("\"1\""), &json!({"kind": "professional", "attendees": null, "ref": "TR-1"})).await.expect(200);
        assert_eq!(changed.body["kind_label"], "专业培训");
        assert_eq!(changed.body["attendees"], Value::Null);
        assert_eq!(changed.body["ref"], "TR-1");
        app.patch(&path, Some("\"1\""), &json!({"title": "旧"})).await.expect_problem(412);
        let dup = app.post("/api/v1/trainings", &json!({"county_id": a, "kind": "pre_job", "title": "又一次", "held_on": "2021-03-02", "ref": "TR-1"})).await.expect_problem(409);
        assert!(dup.body["detail"].as_str().expect("detail").contains("ref"));
        app.delete(&path, Some("\"2\"")).await.expect(204);
        app.get(&path).await.expect_problem(404);
    }

    async fn trainings_are_listed_with_filters_and_sorting(app: TestApp) {
        let a = app.county("445302", "云城区", "district").await;
        let b = app.county("445303", "云安区", "district").await;
        training(&app, a, "pre_job", "2021-03-01").await;
        training(&app, a, "professional", "2021-05-01").await;
        training(&app, b, "pre_job", "2020-12-01").await;
        let r = app.get(&format!("/api/v1/trainings?county_id={a}")).await.expect(200);
        assert_eq!(r.body["total"], 2);
        let r = app.get("/api/v1/trainings?kind=pre_job&sort=-held_on").await.expect(200);
        assert_eq!(r.body["total"], 2);
        assert_eq!(r.body["items"][0]["held_on"], "2021-03-01");
        let r = app.get("/api/v1/trainings?held_from=2021-01-01&held_to=2021-04-30").await.expect(200);
        assert_eq!(r.body["total"], 1);
        app.get("/api/v1/trainings?sort=title").await.expect_problem(422);
    }

    async fn trainings_are_validated(app: TestApp) {
        let a = app.county("445302", "云城区", "district").await;
        let r = app.post("/api/v1/trainings", &json!({"county_id": a, "kind": "pre_job", "title": " ", "held_on": "2999-01-01", "attendees": -1})).await.expect_problem(422);
        let mut fields = r.error_fields();
        fields.sort();
        assert_eq!(fields, vec!["attendees", "held_on", "title"]);
        let r = app.post("/api/v1/trainings", &json!({"county_id": a, "kind": "onboarding", "title": "x", "held_on": "2021-01-01"})).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["kind"]);
        let r = app.post("/api/v1/trainings", &json!({"county_id": 999, "kind": "pre_job", "title": "x", "held_on": "2021-01-01"})).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["county_id"]);
    }

    async fn counties_write_their_own_trainings_and_admins_the_city_levels(app: TestApp) {
        let a = app.county("445302", "云城区", "district").await;
        let b = app.county("445303", "云安区", "district").await;
        let city = app.county("445300", "云浮市本级", "city_level").await;
        let officer = app.user_token("officer.a", "county_officer", Some(a)).await;
        let viewer = app.user_token("leader", "viewer", None).await;
        let body = |c: i64| json!({"county_id": c, "kind": "pre_job", "title": "培训", "held_on": "2021-01-01"});
        app.post_as(&officer, "/api/v1/trainings", &body(a)).await.expect(201);
        app.post_as(&officer, "/api/v1/trainings", &body(b)).await.expect_problem(403);
        app.post_as(&officer, "/api/v1/trainings", &body(city)).await.expect_problem(403);
        app.post_as(&viewer, "/api/v1/trainings", &body(a)).await.expect_problem(403);
        let t = app.post("/api/v1/trainings", &body(city)).await.expect(201);
        app.patch_as(&officer, &format!("/api/v1/trainings/{}", t.body["id"]), Some("\"1\""), &json!({"title": "x"})).await.expect_problem(403);
        assert_eq!(app.get_as(&viewer, "/api/v1/trainings").await.expect(200).body["total"], 2);
    }

    async fn trainings_held_by_a_date_are_counted_per_county(app: TestApp) {
        let a = app.county("445302", "云城区", "district").await;
        let b = app.county("445303", "云安区", "district").await;
        app.county("445381", "罗定市", "county_city").await;
        training(&app, a, "pre_job", "2020-11-01").await;
        training(&app, a, "professional", "2021-06-09").await;
        training(&app, a, "professional", "2021-06-10").await;
        training(&app, b, "pre_job", "2021-01-05").await;
        let mut conn = Manager::new(app.database_url.clone(), "public").connect().expect("connect");
        let on = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        assert_eq!(
            trainings_held_by(&mut conn, on("2021-06-09"), shuangbai::db::counties::Scope::All).expect("counts"),
            vec![(a as i32, 2), (b as i32, 1)]
        );
        assert_eq!(trainings_held_by(&mut conn, on("2020-12-31"), shuangbai::db::counties::Scope::All).expect("counts"), vec![(a as i32, 1)]);
        assert!(trainings_held_by(&mut conn, on("2020-01-01"), shuangbai::db::counties::Scope::All).expect("counts").is_empty());
    }
}
