//! Provinces, cities and city administrators: codes that nest, each city's own table, and a
//! city administrator's rights bounded by its city.

use serde_json::{json, Value};

use crate::helpers::{TestApp, PASSWORD};

fn id(v: &Value) -> i64 {
    v["id"].as_i64().expect("id")
}

/// Guangdong with Yunfu (445300) and Jieyang (445200), each with one county; answers the
/// cities' and counties' ids.
async fn two_cities(app: &TestApp) -> (i64, i64, i64, i64) {
    app.province("440000", "广东省").await;
    let yunfu = app.city("445300", "云浮市").await;
    let jieyang = app.city("445200", "揭阳市").await;
    let yuncheng = app.county("445302", "云城区", "district").await;
    let rongcheng = app.county("445202", "榕城区", "district").await;
    (yunfu, jieyang, yuncheng, rongcheng)
}

on_both_backends! {
    async fn a_city_is_made_with_its_city_level_and_its_counties_are_placed_by_their_code(app: TestApp) {
        let (yunfu, _, yuncheng, _) = two_cities(&app).await;
        let county = app.get(&format!("/api/v1/counties/{yuncheng}")).await.expect(200).body;
        assert_eq!(county["city_id"], yunfu);
        let rows = app.get(&format!("/api/v1/counties?city_id={yunfu}")).await.expect(200).body;
        let kinds: Vec<&str> = rows["items"].as_array().expect("items").iter().map(|c| c["kind"].as_str().expect("kind")).collect();
        assert_eq!(kinds, vec!["city_level", "district"], "the city level came with the city");
        let level = app.get(&format!("/api/v1/counties?city_id={yunfu}&kind=city_level")).await.body;
        assert_eq!(level["items"][0]["division_code"], "445300");
        // The province's own level came with the province.
        let province = app.get("/api/v1/counties?kind=province_level").await.body;
        assert_eq!(province["items"][0]["division_code"], "440000");
        assert_eq!(province["items"][0]["city_id"], Value::Null);
        // A city with counties is not deleted; an empty one goes with its level row.
        let jieyang_empty = id(&app.post("/api/v1/cities", &json!({"division_code": "445100", "name": "潮州市"})).await.expect(201).body);
        app.delete(&format!("/api/v1/cities/{yunfu}"), Some("\"1\"")).await.expect_problem(409);
        app.delete(&format!("/api/v1/cities/{jieyang_empty}"), Some("\"1\"")).await.expect(204);
        assert_eq!(app.get("/api/v1/counties?division_code=445100").await.body["total"], 0);
    }

    async fn codes_that_disagree_with_their_parent_are_refused(app: TestApp) {
        let (yunfu, jieyang, _, _) = two_cities(&app).await;
        let field = |r: crate::helpers::Resp| r.error_fields();
        // A city in a province that does not exist, a province code that is a city's, a city
        // code that is a county's.
        assert_eq!(field(app.post("/api/v1/cities", &json!({"division_code": "450100", "name": "南宁市"})).await.expect_problem(422)), vec!["division_code"]);
        assert_eq!(field(app.post("/api/v1/provinces", &json!({"division_code": "445300", "name": "x"})).await.expect_problem(422)), vec!["division_code"]);
        assert_eq!(field(app.post("/api/v1/cities", &json!({"division_code": "445381", "name": "x"})).await.expect_problem(422)), vec!["division_code"]);
        let guangxi = id(&app.post("/api/v1/provinces", &json!({"division_code": "450000", "name": "广西壮族自治区"})).await.expect(201).body);
        assert_eq!(field(app.post("/api/v1/cities", &json!({"division_code": "441300", "name": "惠州市", "province_id": guangxi})).await.expect_problem(422)), vec!["division_code"]);
        // A county whose code names another city than the one given, or a city that does not exist.
        assert_eq!(field(app.post("/api/v1/counties", &json!({"division_code": "445303", "name": "云安区", "kind": "district", "city_id": jieyang})).await.expect_problem(422)), vec!["city_id"]);
        assert_eq!(field(app.post("/api/v1/counties", &json!({"division_code": "441302", "name": "惠城区", "kind": "district"})).await.expect_problem(422)), vec!["division_code"]);
        app.post("/api/v1/counties", &json!({"division_code": "445303", "name": "云安区", "kind": "district", "city_id": yunfu})).await.expect(201);
        // A second city level for a city is a conflict.
        app.post("/api/v1/counties", &json!({"division_code": "445300", "name": "市本级", "kind": "city_level"})).await.expect_problem(409);
    }

    async fn a_second_citys_counties_never_appear_in_the_first_citys_table(app: TestApp) {
        let (yunfu, jieyang, yuncheng, rongcheng) = two_cities(&app).await;
        for (county, code) in [(yuncheng, "445302101"), (rongcheng, "445202101")] {
            let town = id(&app.post("/api/v1/towns", &json!({"county_id": county, "name": "某镇", "code": code, "kind": "town"})).await.expect(201).body);
            let station = id(&app.post("/api/v1/stations", &json!({"kind": "station", "town_id": town, "name": "社工站", "ref": "ST-1", "planned_on": "2021-01-04"})).await.expect(201).body);
            let person = id(&app.post("/api/v1/staff", &json!({"county_id": county, "name": "社工", "gender": "male", "certification": "none", "hired_via": "other", "ref": "P-1"})).await.expect(201).body);
            app.post(&format!("/api/v1/staff/{person}/postings"), &json!({"station_id": station, "role": "social_worker", "from": "2021-02-01"})).await.expect(201);
            app.post("/api/v1/trainings", &json!({"county_id": county, "kind": "pre_job", "title": "岗前培训", "held_on": "2021-03-01"})).await.expect(201);
            app.post("/api/v1/funding-requests", &json!({"county_id": county, "fiscal_year": 2021, "title": "经费", "effective_on": "2021-03-01"})).await.expect(201);
        }
        // Lists filter by city.
        for list in ["towns", "stations", "staff", "trainings", "funding-requests"] {
            assert_eq!(app.get(&format!("/api/v1/{list}?city_id={yunfu}")).await.expect(200).body["total"], 1);
            assert_eq!(app.get(&format!("/api/v1/{list}")).await.expect(200).body["total"], 2);
        }
        let counts = app.get(&format!("/api/v1/staff/counts?as_of=2021-06-09&city_id={yunfu}")).await.expect(200).body;
        assert_eq!(counts["by_county"].as_array().expect("by county").len(), 1);
        assert_eq!(counts["by_county"][0]["county_id"], yuncheng);
        assert_eq!(counts["by_site"].as_array().expect("by site").len(), 1);
        let whole = app.get("/api/v1/reports/progress?as_of=2021-06-09").await.expect(200).body;
        assert_eq!(whole["level"], "province", "several cities: the province's table");
        assert_eq!(whole["cities"].as_array().expect("cities").len(), 2);
        for (city, codes) in [(yunfu, ["445302", "445300"]), (jieyang, ["445202", "445200"])] {
            let t = app.get(&format!("/api/v1/reports/progress?as_of=2021-06-09&city_id={city}")).await.expect(200).body;
            let rows: Vec<&str> = t["rows"].as_array().expect("rows").iter().map(|r| r["division_code"].as_str().expect("code")).collect();
            assert_eq!(rows, codes, "a row per county of the city, its city level last");
            assert_eq!(t["totals"]["stations"]["planned"], 1, "only the city's own stations");
            assert_eq!(t["totals"]["stations"]["staff"], 1, "and staff");
            assert_eq!(t["totals"]["trainings"], 1, "and trainings");
        }
        let csv = app.get(&format!("/api/v1/reports/progress/export?format=csv&as_of=2021-06-09&city_id={yunfu}")).await.expect(200);
        let text = String::from_utf8_lossy(&csv.raw).to_string();
        assert!(text.contains("云浮市2021年“双百工程”社工站（点）建设进度情况一览表"), "titled with the city's name");
        assert!(text.contains("制表单位：云浮市民政局"));
        assert!(!text.contains("榕城区"));
        let snapshot = app
            .post("/api/v1/reports/progress/snapshots", &json!({"city_id": jieyang, "as_of": "2021-06-09", "title": "揭阳简报", "issuing_unit": "揭阳市民政局"}))
            .await
            .expect(201)
            .body;
        assert_eq!(snapshot["city_id"], jieyang);
        assert_eq!(app.get(&format!("/api/v1/reports/progress/snapshots?city_id={yunfu}")).await.body["total"], 0);
        assert_eq!(app.get(&format!("/api/v1/reports/progress/snapshots?city_id={jieyang}")).await.body["total"], 1);
    }

    async fn a_city_admin_works_in_its_city_only_and_never_decides_its_own_city_levels_funding(app: TestApp) {
        let (yunfu, _, yuncheng, rongcheng) = two_cities(&app).await;
        app.post("/api/v1/users", &json!({"username": "yunfu.admin", "display_name": "云浮市民政局", "role": "city_admin", "city_id": yunfu, "password": PASSWORD}))
            .await
            .expect(201);
        let token = app.token_for("yunfu.admin", PASSWORD).await;
        // Personal data: its own city's staff only.
        let person = |county: i64| json!({"county_id": county, "name": "陈小梅", "gender": "female", "phone": "13812345678", "certification": "none", "hired_via": "other", "ref": "P-1"});
        let own = id(&app.post("/api/v1/staff", &person(yuncheng)).await.expect(201).body);
        let other = id(&app.post("/api/v1/staff", &person(rongcheng)).await.expect(201).body);
        assert_eq!(app.get_as(&token, &format!("/api/v1/staff/{own}")).await.expect(200).body["phone"], "13812345678");
        assert_eq!(app.get_as(&token, &format!("/api/v1/staff/{other}")).await.expect(200).body["phone"], "138****5678");
        // Writes in its city, not in another.
        app.post_as(&token, "/api/v1/towns", &json!({"county_id": yuncheng, "name": "新镇", "code": "445302199", "kind": "town"})).await.expect(201);
        app.post_as(&token, "/api/v1/towns", &json!({"county_id": rongcheng, "name": "新镇", "code": "445202199", "kind": "town"})).await.expect_problem(403);
        // Accounts: county officers of its counties, never another role or another city's.
        app.post_as(&token, "/api/v1/users", &json!({"username": "yc.officer", "display_name": "x", "role": "county_officer", "county_id": yuncheng, "password": PASSWORD})).await.expect(201);
        app.post_as(&token, "/api/v1/users", &json!({"username": "rc.officer", "display_name": "x", "role": "county_officer", "county_id": rongcheng, "password": PASSWORD})).await.expect_problem(403);
        app.post_as(&token, "/api/v1/users", &json!({"username": "boss", "display_name": "x", "role": "admin", "password": PASSWORD})).await.expect_problem(403);
        assert_eq!(app.get_as(&token, "/api/v1/me").await.expect(200).body["city_id"], yunfu);
        // It ends the sessions of its counties' officers, not of another city's.
        app.post("/api/v1/users", &json!({"username": "rc.other", "display_name": "x", "role": "county_officer", "county_id": rongcheng, "password": PASSWORD})).await.expect(201);
        for (user, ended) in [("yc.officer", true), ("rc.other", false)] {
            let login = app.login(user, PASSWORD).await.expect(200);
            let refresh = login.body["refresh_token"].as_str().expect("refresh").to_string();
            app.post_as(&token, "/api/v1/auth/revoke", &json!({"token": refresh})).await.expect(200);
            let again = app.post("/api/v1/auth/token", &json!({"grant_type": "refresh_token", "refresh_token": refresh})).await;
            assert_eq!(again.status == 400, ended, "{user}'s session ended: {ended}");
        }
        let users = app.get_as(&token, "/api/v1/users").await.expect(200).body;
        let names: Vec<&str> = users["items"].as_array().expect("items").iter().map(|u| u["username"].as_str().expect("name")).collect();
        assert_eq!(names, vec!["yc.officer"], "only its counties' accounts");
        // Funding: it decides its counties' requests, never its own city level's.
        let level = app.get(&format!("/api/v1/counties?city_id={yunfu}&kind=city_level")).await.body["items"][0]["id"].as_i64().expect("level");
        for (county, allowed) in [(yuncheng, true), (level, false)] {
            let r = id(&app.post_as(&token, "/api/v1/funding-requests", &json!({"county_id": county, "fiscal_year": 2021, "title": "经费", "requested_fen": 100, "effective_on": "2021-03-01"})).await.expect(201).body);
            let path = format!("/api/v1/funding-requests/{r}/transitions");
            app.post_as(&token, &path, &json!({"action": "submit", "effective_on": "2021-05-30"})).await.expect(201);
            let decided = app.post_as(&token, &path, &json!({"action": "approve", "approved_fen": 100, "effective_on": "2021-06-01"})).await;
            if allowed {
                decided.expect(201);
            } else {
                decided.expect_problem(403);
                app.post(&path, &json!({"action": "approve", "approved_fen": 100, "effective_on": "2021-06-01"})).await.expect(201);
            }
        }
        // Bulletins of its city only, and its city's audit events only.
        app.post_as(&token, "/api/v1/reports/progress/snapshots", &json!({"city_id": yunfu, "as_of": "2021-06-09", "title": "简报", "issuing_unit": "云浮市民政局"})).await.expect(201);
        let events = app.get_as(&token, "/api/v1/audit-events?limit=500").await.expect(200).body;
        let rows: Vec<i64> = app.get(&format!("/api/v1/counties?city_id={yunfu}")).await.body["items"].as_array().expect("items").iter().map(id).collect();
        assert!(events["items"].as_array().expect("items").iter().all(|e| e["county_id"].as_i64().is_some_and(|c| rows.contains(&c))));
        assert!(events["total"].as_i64().expect("total") > 0);
    }
}

on_both_backends! {
    async fn a_city_without_counties_has_one_row_and_the_database_holds_it_so(app: TestApp) {
        use diesel::r2d2::ManageConnection;
        use diesel::RunQueryDsl;
        let (yunfu, _, _, _) = two_cities(&app).await;
        let dongguan = app.post("/api/v1/cities", &json!({"division_code": "441900", "name": "东莞市", "has_counties": false})).await.expect(201).body;
        assert_eq!(dongguan["has_counties"], false);
        let rows = app.get(&format!("/api/v1/counties?city_id={}", id(&dongguan))).await.body;
        assert_eq!(rows["total"], 1);
        let own = &rows["items"][0];
        assert_eq!((own["kind"].as_str(), own["name"].as_str(), own["division_code"].as_str()), (Some("city_direct"), Some("东莞市"), Some("441900")));
        // Its one row holds its towns; it has no counties; it is kept while the city is.
        app.post("/api/v1/towns", &json!({"county_id": id(own), "name": "莞城街道", "code": "441900003", "kind": "street"})).await.expect(201);
        app.post("/api/v1/counties", &json!({"division_code": "441901", "name": "某区", "kind": "district"})).await.expect_problem(409);
        app.post("/api/v1/counties", &json!({"division_code": "445300", "name": "云浮", "kind": "city_direct", "city_id": yunfu})).await.expect_problem(409);
        app.delete(&format!("/api/v1/counties/{}", id(own)), Some("\"1\"")).await.expect_problem(409);
        // Its requests are the city's own: its city admin never decides on them.
        app.post("/api/v1/users", &json!({"username": "dg.admin", "display_name": "东莞", "role": "city_admin", "city_id": id(&dongguan), "password": PASSWORD})).await.expect(201);
        let token = app.token_for("dg.admin", PASSWORD).await;
        let r = id(&app.post_as(&token, "/api/v1/funding-requests", &json!({"county_id": id(own), "fiscal_year": 2021, "title": "经费", "requested_fen": 100, "effective_on": "2021-03-01"})).await.expect(201).body);
        let path = format!("/api/v1/funding-requests/{r}/transitions");
        app.post_as(&token, &path, &json!({"action": "submit", "effective_on": "2021-05-30"})).await.expect(201);
        app.post_as(&token, &path, &json!({"action": "approve", "approved_fen": 100, "effective_on": "2021-06-01"})).await.expect_problem(403);
        // Not only the service: the database refuses a county in a city without counties.
        let mut conn = shuangbai::db::Manager::new(app.database_url.clone(), "public").connect().expect("connect");
        let sql = format!(
            "INSERT INTO counties (division_code, name, kind, province_id, city_id, city_has_counties, version, created_at, updated_at) \
             VALUES ('441902', '某区', 'district', {p}, {c}, FALSE, 1, '2021-01-01 00:00:00', '2021-01-01 00:00:00')",
            p = dongguan["province_id"], c = id(&dongguan)
        );
        assert!(diesel::sql_query(&sql).execute(&mut *conn).is_err(), "the constraint refuses it");
        let lying = sql.replace("FALSE", "TRUE");
        assert!(diesel::sql_query(&lying).execute(&mut *conn).is_err(), "and a row that misstates its city's kind");
    }
}

on_both_backends! {
    async fn an_empty_city_or_province_may_take_a_new_code_and_its_own_row_follows(app: TestApp) {
        let (yunfu, _, _, _) = two_cities(&app).await;
        let chaozhou = id(&app.post("/api/v1/cities", &json!({"division_code": "445100", "name": "潮州市"})).await.expect(201).body);
        let path = format!("/api/v1/cities/{chaozhou}");
        app.patch(&path, Some("\"1\""), &json!({"division_code": "445200"})).await.expect_problem(409);
        let r = app.patch(&path, Some("\"1\""), &json!({"division_code": "450100"})).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["division_code"], "a city stays in its province");
        let moved = app.patch(&path, Some("\"1\""), &json!({"division_code": "445400", "name": "某市"})).await.expect(200).body;
        assert_eq!((moved["division_code"].as_str(), moved["name"].as_str()), (Some("445400"), Some("某市")));
        let own = app.get(&format!("/api/v1/counties?city_id={chaozhou}")).await.body;
        assert_eq!(own["items"][0]["division_code"], "445400", "its city level follows");
        // The level row takes its code from its city only.
        let level = format!("/api/v1/counties/{}", own["items"][0]["id"]);
        app.patch(&level, Some(&format!("\"{}\"", own["items"][0]["version"])), &json!({"division_code": "445500"})).await.expect_problem(409);
        // A city with counties, or a province with cities, keeps its code.
        let yunfu_path = format!("/api/v1/cities/{yunfu}");
        app.patch(&yunfu_path, Some("\"1\""), &json!({"division_code": "445500"})).await.expect_problem(409);
        let guangdong = app.get(&yunfu_path).await.body["province_id"].as_i64().expect("province");
        app.patch(&format!("/api/v1/provinces/{guangdong}"), Some("\"1\""), &json!({"division_code": "460000"})).await.expect_problem(409);
        let guangxi = id(&app.post("/api/v1/provinces", &json!({"division_code": "450000", "name": "广西壮族自治区"})).await.expect(201).body);
        let recoded = app.patch(&format!("/api/v1/provinces/{guangxi}"), Some("\"1\""), &json!({"division_code": "460000", "name": "海南省"})).await.expect(200).body;
        assert_eq!(recoded["division_code"], "460000");
        let level = app.get(&format!("/api/v1/counties?province_id={guangxi}")).await.body;
        assert_eq!(level["items"][0]["division_code"], "460000", "its own level follows");
        // A city's admins rename their city but never recode it.
        app.post("/api/v1/users", &json!({"username": "yunfu.admin", "display_name": "云浮", "role": "city_admin", "city_id": yunfu, "password": PASSWORD})).await.expect(201);
        let token = app.token_for("yunfu.admin", PASSWORD).await;
        app.patch_as(&token, &yunfu_path, Some("\"1\""), &json!({"division_code": "445300"})).await.expect(200);
        app.patch_as(&token, &yunfu_path, Some("\"2\""), &json!({"division_code": "445500"})).await.expect_problem(403);
        app.patch_as(&token, &yunfu_path, Some("\"2\""), &json!({"name": "云浮市（新）"})).await.expect(200);
    }
}
