use serde_json::{json, Value};

use crate::helpers::TestApp;

struct Place {
    county: i64,
    station: i64,
    point: i64,
    other_station: i64,
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
    let town = app
        .post(
            "/api/v1/towns",
            &json!({"county_id": county, "name": "太平镇", "code": "445381110", "kind": "town"}),
        )
        .await
        .expect(201)
        .body["id"]
        .clone();
    let town2 = app
        .post(
            "/api/v1/towns",
            &json!({"county_id": county, "name": "罗镜镇", "code": "445381111", "kind": "town"}),
        )
        .await
        .expect(201)
        .body["id"]
        .clone();
    let site = |body: Value| async move {
        app.post("/api/v1/stations", &body).await.expect(201).body["id"]
            .as_i64()
            .expect("id")
    };
    let station = site(json!({"kind": "station", "town_id": town, "name": "太平镇社工站", "ref": "ST-1", "planned_on": "2021-01-04"})).await;
    let point = site(json!({"kind": "point", "town_id": town, "station_id": station, "village": "连州村", "name": "连州村社工点", "ref": "PT-1", "planned_on": "2021-01-04"})).await;
    let other_station = site(json!({"kind": "station", "town_id": town2, "name": "罗镜镇社工站", "ref": "ST-2", "planned_on": "2021-01-04"})).await;
    Place {
        county,
        station,
        point,
        other_station,
    }
}

fn person(county: i64, reference: &str) -> Value {
    json!({
        "county_id": county,
        "name": "陈小梅",
        "gender": "female",
        "phone": "13812345678",
        "id_number": "445381198506120024",
        "education": "本科",
        "certification": "assistant_social_worker",
        "hired_via": "public_exam",
        "ref": reference,
    })
}

/// (stations, points) in post in the county on `day`.
async fn counts(app: &TestApp, county: i64, day: &str) -> (i64, i64) {
    let r = app
        .get(&format!("/api/v1/staff/counts?as_of={day}"))
        .await
        .expect(200)
        .body;
    let find = |kind: &str| {
        r["by_county"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|c| c["county_id"] == county && c["site_kind"] == kind)
            .and_then(|c| c["in_post"].as_i64())
            .unwrap_or(0)
    };
    (find("station"), find("point"))
}

on_both_backends! {
    async fn a_posting_a_transfer_and_a_leaving_change_the_counts_on_exactly_their_dates(app: TestApp) {
        let p = place(&app).await;
        let s = app.post("/api/v1/staff", &person(p.county, "LD-001")).await.expect(201).body;
        let postings = format!("/api/v1/staff/{}/postings", s["id"]);
        app.post(&postings, &json!({"station_id": p.station, "role": "social_worker", "from": "2021-03-01"})).await.expect(201);
        assert_eq!(counts(&app, p.county, "2021-02-28").await, (0, 0));
        assert_eq!(counts(&app, p.county, "2021-03-01").await, (1, 0));
        assert_eq!(counts(&app, p.county, "2021-03-02").await, (1, 0));

        // A transfer to the point on 2021-04-01 ends the station posting that same day.
        let moved = app.post(&postings, &json!({"station_id": p.point, "role": "station_lead", "from": "2021-04-01"})).await.expect(201);
        assert_eq!(moved.body["site_kind"], "point");
        assert_eq!(counts(&app, p.county, "2021-03-31").await, (1, 0));
        assert_eq!(counts(&app, p.county, "2021-04-01").await, (0, 1));
        assert_eq!(counts(&app, p.county, "2021-04-02").await, (0, 1));
        let history = app.get(&postings).await.expect(200).body;
        assert_eq!(history[0]["to"], "2021-04-01");
        assert_eq!(history[1]["to"], Value::Null);

        // Leaving on 2021-05-10.
        let etag = app.get(&format!("/api/v1/staff/{}", s["id"])).await.header("etag").expect("etag");
        let left = app
            .patch(&format!("{postings}/{}", history[1]["id"]), Some(&etag), &json!({"to": "2021-05-10"}))
            .await
            .expect(200);
        assert_eq!(left.body["to"], "2021-05-10");
        assert_eq!(counts(&app, p.county, "2021-05-09").await, (0, 1));
        assert_eq!(counts(&app, p.county, "2021-05-10").await, (0, 0));
        assert_eq!(counts(&app, p.county, "2021-05-11").await, (0, 0));

        let in_post = app.get(&format!("/api/v1/staff?in_post_on=2021-04-15&kind=point&county_id={}", p.county)).await.body;
        assert_eq!(in_post["total"], 1);
        let none = app.get("/api/v1/staff?in_post_on=2021-06-01").await.body;
        assert_eq!(none["total"], 0);
        let at_station = app.get(&format!("/api/v1/staff?station_id={}", p.station)).await.body;
        assert_eq!(at_station["total"], 1, "posted there at some time");
    }

    async fn postings_of_one_person_never_overlap_and_stay_in_the_county(app: TestApp) {
        let p = place(&app).await;
        let s = app.post("/api/v1/staff", &person(p.county, "LD-001")).await.expect(201).body;
        let postings = format!("/api/v1/staff/{}/postings", s["id"]);
        app.post(&postings, &json!({"station_id": p.station, "role": "social_worker", "from": "2021-03-01", "to": "2021-05-01"})).await.expect(201);
        let r = app.post(&postings, &json!({"station_id": p.other_station, "role": "social_worker", "from": "2021-04-01"})).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["from"]);
        app.post(&postings, &json!({"station_id": p.other_station, "role": "social_worker", "from": "2021-05-01"})).await.expect(201);
        let r = app.post(&postings, &json!({"station_id": p.station, "role": "social_worker", "from": "2999-01-01"})).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["from"]);
        assert_eq!(app.get(&postings).await.body.as_array().map(Vec::len), Some(2), "refused postings left nothing");

        let elsewhere = app.post("/api/v1/counties", &json!({"division_code": "445321", "name": "新兴县", "kind": "county"})).await.expect(201).body["id"].clone();
        let stranger = app.post("/api/v1/staff", &person(elsewhere.as_i64().expect("id"), "XX-1")).await.expect(201).body;
        let r = app
            .post(&format!("/api/v1/staff/{}/postings", stranger["id"]), &json!({"station_id": p.station, "role": "assistant", "from": "2021-03-01"}))
            .await
            .expect_problem(422);
        assert_eq!(r.error_fields(), vec!["station_id"]);
        let etag = app.get(&format!("/api/v1/staff/{}", s["id"])).await.header("etag").expect("etag");
        app.delete(&format!("/api/v1/staff/{}", s["id"]), Some(&etag)).await.expect_problem(409);
    }

    async fn personal_numbers_are_masked_for_viewers_and_other_counties(app: TestApp) {
        let p = place(&app).await;
        let s = app.post("/api/v1/staff", &person(p.county, "LD-001")).await.expect(201).body;
        assert_eq!(s["phone"], "13812345678", "the admin sees the numbers");
        assert_eq!(s["personal_data_masked"], false);
        let path = format!("/api/v1/staff/{}", s["id"]);
        let viewer = app.user_token("leader", "viewer", None).await;
        let other = app.post("/api/v1/counties", &json!({"division_code": "445321", "name": "新兴县", "kind": "county"})).await.expect(201).body["id"].as_i64();
        let outsider = app.user_token("xinxing.officer", "county_officer", other).await;
        let insider = app.user_token("luoding.officer", "county_officer", Some(p.county)).await;
        for token in [&viewer, &outsider] {
            let seen = app.get_as(token, &path).await.expect(200);
            assert_eq!(seen.body["phone"], "138****5678");
            assert_eq!(seen.body["id_number"], "4453**********0024");
            assert_eq!(seen.body["personal_data_masked"], true);
            let text = String::from_utf8_lossy(&seen.raw).to_string();
            assert!(!text.contains("13812345678") && !text.contains("198506"));
            let listed = app.get_as(token, "/api/v1/staff").await.body;
            assert_eq!(listed["items"][0]["phone"], "138****5678");
        }
        assert_eq!(app.get_as(&insider, &path).await.body["id_number"], "445381198506120024");
        // The same list shown masked and unmasked has two ETags: one never revalidates the other.
        let masked = app.get_as(&viewer, "/api/v1/staff").await.expect(200).header("etag");
        let plain = app.get_as(&insider, "/api/v1/staff").await.expect(200).header("etag");
        assert!(masked.is_some() && plain.is_some());
        assert_ne!(masked, plain);
        app.patch_as(&outsider, &path, Some("\"1\""), &json!({"name": "改"})).await.expect_problem(403);
    }

    async fn a_bad_id_check_digit_is_refused_without_repeating_the_number(app: TestApp) {
        let p = place(&app).await;
        let mut body = person(p.county, "LD-001");
        body["id_number"] = json!("445381198506120025");
        let r = app.post("/api/v1/staff", &body).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["id_number"]);
        assert!(!String::from_utf8_lossy(&r.raw).contains("4453811985"));
        body["id_number"] = Value::Null;
        body["phone"] = json!("call me maybe");
        let r = app.post("/api/v1/staff", &body).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["phone"]);
        assert_eq!(app.get("/api/v1/staff").await.body["total"], 0);
    }

    async fn counts_give_the_certified_share(app: TestApp) {
        let p = place(&app).await;
        let a = app.post("/api/v1/staff", &person(p.county, "A")).await.expect(201).body;
        let mut uncertified = person(p.county, "B");
        uncertified["certification"] = json!("none");
        uncertified["id_number"] = Value::Null;
        let b = app.post("/api/v1/staff", &uncertified).await.expect(201).body;
        for (s, site) in [(&a, p.station), (&b, p.station)] {
            app.post(&format!("/api/v1/staff/{}/postings", s["id"]), &json!({"station_id": site, "role": "social_worker", "from": "2021-03-01"}))
                .await
                .expect(201);
        }
        let r = app.get(&format!("/api/v1/staff/counts?as_of=2021-03-01&county_id={}", p.county)).await.expect(200).body;
        let row = &r["by_county"][0];
        assert_eq!(row["in_post"], 2);
        assert_eq!(row["certified"], 1);
        assert_eq!(row["certified_share"], 0.5);
        assert_eq!(r["by_site"][0]["station_id"], p.station);
        assert_eq!(r["by_site"][0]["in_post"], 2);
    }
}
