use serde_json::{json, Value};

use crate::helpers::TestApp;

const ALL: [&str; 8] = [
    "desks_chairs",
    "air_conditioner",
    "computer",
    "printer",
    "telephone",
    "file_cabinet",
    "stationery",
    "fire_safety",
];

struct Place {
    county: i64,
    town: i64,
    other_town: i64,
}

async fn place(app: &TestApp) -> Place {
    let county = app
        .post(
            "/api/v1/counties",
            &json!({"division_code": "445381", "name": "罗定市", "kind": "county_city"}),
        )
        .await
        .expect(201)
        .body["id"]
        .as_i64()
        .expect("id");
    let town = |name: &'static str, code: &'static str| async move {
        app.post(
            "/api/v1/towns",
            &json!({"county_id": county, "name": name, "code": code, "kind": "town"}),
        )
        .await
        .expect(201)
        .body["id"]
            .as_i64()
            .expect("id")
    };
    Place {
        county,
        town: town("太平镇", "445381110").await,
        other_town: town("罗镜镇", "445381111").await,
    }
}

fn station(town: i64, reference: &str) -> Value {
    json!({
        "kind": "station",
        "town_id": town,
        "name": "太平镇社工站",
        "ref": reference,
        "planned_on": "2021-01-04",
        "premises_secured_on": "2021-02-01",
    })
}

on_both_backends! {
    async fn a_list_etag_changes_with_what_its_items_show_and_only_then(app: TestApp) {
        let p = place(&app).await;
        let site = app.post("/api/v1/stations", &station(p.town, "LD-ST-01")).await.expect(201).body;
        let path = format!("/api/v1/stations/{}", site["id"]);
        let list = format!("/api/v1/stations?county_id={}", p.county);
        let tag_of = |r: &crate::helpers::Resp| r.header("etag").expect("a list carries an ETag");
        let first = tag_of(&app.get(&list).await.expect(200));
        assert!(first.starts_with("W/\""), "a list's ETag is weak: {first}");
        assert_eq!(tag_of(&app.get(&list).await.expect(200)), first, "the same answer, the same tag");
        let revalidate = |tag: String| {
            let req = app
                .request(awc::http::Method::GET, &list)
                .insert_header(("if-none-match", tag));
            app.send(req, None)
        };
        assert!(revalidate(first.clone()).await.expect(304).raw.is_empty());

        // A check changes what the site shows, whether or not it changes the site's version.
        app.post(&format!("{path}/equipment-checks"), &json!({"checked_on": "2021-03-01", "items": ALL}))
            .await
            .expect(201);
        let checked = app.get(&list).await.expect(200);
        assert_eq!(checked.body["items"][0]["equipment"]["level"], "full");
        let after_check = tag_of(&checked);
        assert_ne!(after_check, first);
        revalidate(first.clone()).await.expect(200);
        // The list as of a date before the check shows it as it was then, under its own tag.
        let earlier = app.get(&format!("{list}&as_of=2021-02-15")).await.expect(200);
        assert_eq!(earlier.body["items"][0]["equipment"]["level"], "incomplete");
        assert_ne!(tag_of(&earlier), after_check);

        // A change to the site itself.
        let version = app.get(&path).await.expect(200).header("etag").expect("version");
        app.patch(&path, Some(&version), &json!({"address": "太平镇政府大院"})).await.expect(200);
        let renamed = tag_of(&app.get(&list).await.expect(200));
        assert_ne!(renamed, after_check);
        revalidate(renamed).await.expect(304);
        // Another page of the same filter is another answer.
        assert_ne!(tag_of(&app.get(&format!("{list}&limit=1&offset=1")).await.expect(200)), after_check);
    }

    async fn equipment_levels_follow_the_checks_and_answer_earlier_dates(app: TestApp) {
        let p = place(&app).await;
        let site = app.post("/api/v1/stations", &station(p.town, "LD-ST-01")).await.expect(201).body;
        assert_eq!(site["county_id"], p.county);
        assert_eq!(site["premises_secured"], true);
        assert_eq!(site["equipment"]["level"], "incomplete", "premises but no check yet");
        let path = format!("/api/v1/stations/{}", site["id"]);
        let checks = format!("{path}/equipment-checks");
        let cases = [
            ("2021-02-08", 8, "full"),
            ("2021-02-15", 7, "basic"),
            ("2021-02-22", 6, "basic"),
            ("2021-03-01", 5, "incomplete"),
            ("2021-03-08", 0, "incomplete"),
        ];
        for (day, present, level) in cases {
            let r = app.post(&checks, &json!({"checked_on": day, "items": &ALL[..present]})).await.expect(201);
            assert_eq!(r.body["level"], level, "{present} items");
            assert_eq!(r.body["missing"].as_array().map(Vec::len), Some(8 - present));
            let now = app.get(&path).await.expect(200).body;
            assert_eq!(now["equipment"]["level"], level, "today follows the latest check");
        }
        for (day, _, level) in cases {
            let then = app.get(&format!("{path}?as_of={day}")).await.expect(200).body;
            assert_eq!(then["equipment"]["level"], level, "as of {day}");
            assert_eq!(then["equipment"]["checked_on"], day);
        }
        let before = app.get(&format!("{path}?as_of=2021-02-07")).await.body;
        assert_eq!(before["equipment"]["level"], "incomplete");
        let no_premises = app.get(&format!("{path}?as_of=2021-01-31")).await.body;
        assert_eq!(no_premises["equipment"]["level"], "none");
        assert_eq!(no_premises["premises_secured"], false);
        let history = app.get(&checks).await.expect(200).body;
        assert_eq!(history.as_array().map(Vec::len), Some(5));
        app.post(&checks, &json!({"checked_on": "2021-03-08", "items": []})).await.expect_problem(409);
        let r = app.post(&checks, &json!({"checked_on": "2021-03-09", "items": ["sofa"]})).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["/items/0"]);
        for (day, _, level) in cases {
            let listed = app.get(&format!("/api/v1/stations?as_of={day}")).await.expect(200).body;
            assert_eq!(listed["items"][0]["equipment"]["level"], level, "the list as of {day}");
            assert_eq!(listed["items"][0]["equipment"]["checked_on"], day);
        }
        // As of today (the default), what the site itself holds of its latest check.
        let listed = app.get("/api/v1/stations").await.expect(200).body;
        assert_eq!(listed["items"][0]["equipment"], app.get(&path).await.body["equipment"]);
        assert_eq!(listed["items"][0]["equipment"]["checked_on"], "2021-03-08");
        let past_the_end = app.get("/api/v1/stations?offset=10").await.expect(200).body;
        assert_eq!(past_the_end["total"], 1, "a page past the end still tells the total");
        assert_eq!(past_the_end["items"], json!([]));
        let full = app.get("/api/v1/stations?equipment_level=incomplete").await.body;
        assert_eq!(full["total"], 1);
        assert_eq!(app.get("/api/v1/stations?equipment_level=full").await.body["total"], 0);
    }

    async fn completing_a_site_without_premises_is_refused_and_changes_nothing(app: TestApp) {
        let p = place(&app).await;
        let mut body = station(p.town, "LD-ST-01");
        body["premises_secured_on"] = Value::Null;
        body["completed_on"] = json!("2021-03-01");
        let r = app.post("/api/v1/stations", &body).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["completed_on"]);
        assert_eq!(app.get("/api/v1/stations").await.body["total"], 0);

        body["completed_on"] = Value::Null;
        let site = app.post("/api/v1/stations", &body).await.expect(201).body;
        assert_eq!(site["status"], "planned");
        let path = format!("/api/v1/stations/{}", site["id"]);
        let r = app.patch(&path, Some("\"1\""), &json!({"completed_on": "2021-03-01"})).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["completed_on"]);
        assert_eq!(app.get(&path).await.body["version"], 1, "nothing changed");
        let done = app
            .patch(&path, Some("\"1\""), &json!({"premises_secured_on": "2021-02-01", "completed_on": "2021-03-01"}))
            .await
            .expect(200)
            .body;
        assert_eq!(done["status"], "completed");
        assert_eq!(done["status_label"], "已建成");
        let earlier = app.get(&format!("{path}?as_of=2021-02-15")).await.body;
        assert_eq!(earlier["status"], "planned");
    }

    async fn dates_are_ordered_and_never_in_the_future(app: TestApp) {
        let p = place(&app).await;
        let mut body = station(p.town, "X1");
        body["premises_secured_on"] = json!("2020-12-01");
        body["closed_on"] = json!("2999-01-01");
        let r = app.post("/api/v1/stations", &body).await.expect_problem(422);
        let mut fields = r.error_fields();
        fields.sort();
        assert_eq!(fields, vec!["closed_on", "premises_secured_on"]);
    }

    async fn a_town_has_one_open_station_and_points_report_to_their_own_towns_station(app: TestApp) {
        let p = place(&app).await;
        let st = app.post("/api/v1/stations", &station(p.town, "ST-1")).await.expect(201).body;
        let r = app.post("/api/v1/stations", &station(p.town, "ST-2")).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["town_id"]);
        let other = app.post("/api/v1/stations", &station(p.other_town, "ST-3")).await.expect(201).body;

        let point = |station_id: &Value, town: i64, reference: &str| json!({
            "kind": "point", "town_id": town, "station_id": station_id, "village": "连州村",
            "name": "连州村社工点", "ref": reference, "planned_on": "2021-02-01",
        });
        let r = app.post("/api/v1/stations", &point(&other["id"], p.town, "PT-1")).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["station_id"]);
        let pt = app.post("/api/v1/stations", &point(&st["id"], p.town, "PT-1")).await.expect(201).body;
        assert_eq!(pt["kind_label"], "社工点");
        app.post("/api/v1/stations", &point(&st["id"], p.town, "PT-1")).await.expect_problem(409);
        let r = app.post("/api/v1/stations", &json!({"kind": "point", "town_id": p.town, "name": "无站点", "ref": "PT-9", "planned_on": "2021-02-01"})).await.expect_problem(422);
        let mut fields = r.error_fields();
        fields.sort();
        assert_eq!(fields, vec!["station_id", "village"]);

        // Closing the station frees the town for a new one.
        let st_path = format!("/api/v1/stations/{}", st["id"]);
        app.patch(&st_path, Some("\"1\""), &json!({"closed_on": "2021-05-01"})).await.expect(200);
        app.post("/api/v1/stations", &station(p.town, "ST-2")).await.expect(201);
        let points = app.get(&format!("/api/v1/stations?kind=point&county_id={}", p.county)).await.body;
        assert_eq!(points["total"], 1);
        let open = app.get("/api/v1/stations?status=closed").await.body;
        assert_eq!(open["total"], 1);
    }

    async fn a_site_cannot_move_to_another_county_and_is_deleted_only_without_history(app: TestApp) {
        let p = place(&app).await;
        let other_county = app
            .post("/api/v1/counties", &json!({"division_code": "445321", "name": "新兴县", "kind": "county"}))
            .await
            .expect(201)
            .body["id"]
            .as_i64()
            .expect("id");
        let far_town = app
            .post("/api/v1/towns", &json!({"county_id": other_county, "name": "太平镇", "code": "445321110", "kind": "town"}))
            .await
            .expect(201)
            .body["id"]
            .clone();
        let st = app.post("/api/v1/stations", &station(p.town, "ST-1")).await.expect(201).body;
        let path = format!("/api/v1/stations/{}", st["id"]);
        let r = app.patch(&path, Some("\"1\""), &json!({"town_id": far_town})).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["town_id"]);
        app.post(&format!("{path}/equipment-checks"), &json!({"checked_on": "2021-03-01", "items": ALL})).await.expect(201);
        app.delete(&path, Some("\"2\"")).await.expect_problem(409);
        let lone = app.post("/api/v1/stations", &station(p.other_town, "ST-2")).await.expect(201).body;
        app.delete(&format!("/api/v1/stations/{}", lone["id"]), Some("\"1\"")).await.expect(204);
    }

    async fn another_countys_officer_may_read_but_not_write_a_site(app: TestApp) {
        let p = place(&app).await;
        let other_county = app
            .post("/api/v1/counties", &json!({"division_code": "445321", "name": "新兴县", "kind": "county"}))
            .await
            .expect(201)
            .body["id"]
            .as_i64();
        let outsider = app.user_token("xinxing.officer", "county_officer", other_county).await;
        let insider = app.user_token("luoding.officer", "county_officer", Some(p.county)).await;
        app.post_as(&outsider, "/api/v1/stations", &station(p.town, "ST-1")).await.expect_problem(403);
        let st = app.post_as(&insider, "/api/v1/stations", &station(p.town, "ST-1")).await.expect(201).body;
        let path = format!("/api/v1/stations/{}", st["id"]);
        app.get_as(&outsider, &path).await.expect(200);
        app.patch_as(&outsider, &path, Some("\"1\""), &json!({"name": "改"})).await.expect_problem(403);
        app.post_as(&outsider, &format!("{path}/equipment-checks"), &json!({"checked_on": "2021-03-01", "items": []}))
            .await
            .expect_problem(403);
        assert_eq!(app.get(&path).await.body["name"], "太平镇社工站");
    }
}
