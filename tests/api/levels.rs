//! The province's table and the nation's: a row per city and per province, summed from the same
//! records as the cities' tables and checked against figures worked out by hand; their exports,
//! bulletins and comparisons.

use serde_json::{json, Value};

use crate::bulletins::{csv_rows, xlsx_rows};
use crate::helpers::{TestApp, PASSWORD};

fn id(v: &Value) -> i64 {
    v["id"].as_i64().expect("id")
}

/// The first `n` equipment items, as their words.
fn items(n: usize) -> Vec<&'static str> {
    shuangbai::domain::site::EquipmentItem::ALL[..n]
        .iter()
        .map(|i| i.as_str())
        .collect()
}

/// A station planned on 2021-01-04, with premises, completion and a check of `items` items
/// when given.
fn station(
    town: &str,
    reference: &str,
    premises: bool,
    completed: bool,
    checked: Option<usize>,
) -> Value {
    let mut s = json!({"kind": "station", "town_code": town, "name": format!("{reference}社工站"), "ref": reference,
                       "planned_on": "2021-01-04",
                       "premises_secured_on": premises.then_some("2021-02-01"),
                       "completed_on": completed.then_some("2021-03-01")});
    if let Some(n) = checked {
        s["equipment_checks"] = json!([{"checked_on": "2021-03-01", "items": items(n)}]);
    }
    s
}

async fn batch(app: &TestApp, county: i64, body: Value) {
    app.post(&format!("/api/v1/counties/{county}/updates"), &body)
        .await
        .expect(200);
}

fn plan(stage: &str) -> Value {
    json!({"plan_status": {"stage": stage, "effective_on": "2021-04-01"}})
}

/// 广东省 with 云浮市 (云城区, 罗定市) and 揭阳市 (榕城区), and figures in each; answers the
/// province's and the two cities' ids.
async fn guangdong(app: &TestApp) -> (i64, i64, i64) {
    let province = id(&app
        .post(
            "/api/v1/provinces",
            &json!({"division_code": "440000", "name": "广东省"}),
        )
        .await
        .expect(201)
        .body);
    let yunfu = id(&app
        .post(
            "/api/v1/cities",
            &json!({"division_code": "445300", "name": "云浮市"}),
        )
        .await
        .expect(201)
        .body);
    let jieyang = id(&app
        .post(
            "/api/v1/cities",
            &json!({"division_code": "445200", "name": "揭阳市"}),
        )
        .await
        .expect(201)
        .body);
    let yuncheng = app.county("445302", "云城区", "district").await;
    let luoding = app.county("445381", "罗定市", "county_city").await;
    let rongcheng = app.county("445202", "榕城区", "district").await;
    // 云城区: a station completed with every item and one only planned, one worker, its plan
    // issued, coordination since March, its request approved.
    let mut county = plan("issued");
    county["coordination_established_on"] = json!("2021-03-01");
    batch(app, yuncheng, json!({
        "county": county,
        "towns": [{"code": "445302100", "name": "河口街道", "kind": "street"}, {"code": "445302101", "name": "腰古镇", "kind": "town"}],
        "sites": [station("445302100", "YC-1", true, true, Some(8)), station("445302101", "YC-2", false, false, None)],
        "staff": [{"name": "社工甲", "gender": "female", "certification": "none", "hired_via": "other", "ref": "P-1",
                   "postings": [{"station_ref": "YC-1", "role": "social_worker", "from": "2021-02-01"}]}],
        "funding_requests": [{"fiscal_year": 2021, "title": "经费", "requested_fen": 1_000_000, "ref": "FR-1", "effective_on": "2021-03-01",
                              "transitions": [{"action": "submit", "effective_on": "2021-04-01"},
                                              {"action": "approve", "effective_on": "2021-05-01", "approved_fen": 1_000_000}]}]
    })).await;
    // 罗定市: a station with premises never checked (incomplete), its plan agreed, its request
    // submitted.
    batch(app, luoding, json!({
        "county": plan("approved"),
        "towns": [{"code": "445381100", "name": "罗城街道", "kind": "street"}],
        "sites": [station("445381100", "LD-1", true, false, None)],
        "funding_requests": [{"fiscal_year": 2021, "title": "经费", "requested_fen": 500_000, "ref": "FR-1", "effective_on": "2021-03-01",
                              "transitions": [{"action": "submit", "effective_on": "2021-04-01"}]}]
    })).await;
    // 榕城区: a station with premises and six items (basic), its plan issued, one training.
    batch(app, rongcheng, json!({
        "county": plan("issued"),
        "towns": [{"code": "445202100", "name": "榕华街道", "kind": "street"}],
        "sites": [station("445202100", "RC-1", true, false, Some(6))],
        "trainings": [{"kind": "pre_job", "title": "岗前培训", "held_on": "2021-03-01", "ref": "T-1"}]
    })).await;
    // The province's own level: its plan being drafted, one training.
    let level = app.get("/api/v1/counties?kind=province_level").await.body["items"][0]["id"]
        .as_i64()
        .expect("level");
    let mut own = plan("drafting");
    own["plan_status"]["effective_on"] = json!("2021-02-01");
    batch(app, level, json!({
        "county": own,
        "trainings": [{"kind": "professional", "title": "专业培训", "held_on": "2021-05-01", "ref": "T-1"}]
    })).await;
    (province, yunfu, jieyang)
}

/// A city's or a province's cells as one line: plan, the station cells, mechanisms, funding,
/// trainings.
fn summed(row: &Value) -> String {
    let s = &row["stations"];
    let e = &s["equipment"];
    format!(
        "{} | {} {} {} {} | {}/{}/{} {} | {} | {} | {} | {}",
        row["plan_status"]["label"].as_str().expect("plan"),
        s["planned"],
        s["completed"],
        s["premises_secured"],
        s["staff"],
        e["full"],
        e["basic"],
        e["incomplete"],
        e["worst"],
        row["coordination_mechanism"]["label"]
            .as_str()
            .expect("mechanism"),
        row["management_mechanism"]["label"]
            .as_str()
            .expect("mechanism"),
        row["funding"]["label"].as_str().expect("funding"),
        row["trainings"],
    )
}

fn codes(rows: &Value) -> Vec<String> {
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| r["division_code"].as_str().expect("code").to_string())
        .collect()
}

/// Each count of a city's table's county-level rows summed in the test itself.
fn summed_by_hand(city_table: &Value) -> (i64, i64, i64, i64, i64) {
    let rows = city_table["rows"].as_array().expect("rows");
    let sum = |f: &dyn Fn(&Value) -> i64| rows.iter().map(f).sum::<i64>();
    (
        sum(&|r| r["stations"]["planned"].as_i64().unwrap_or(0)),
        sum(&|r| r["stations"]["premises_secured"].as_i64().unwrap_or(0)),
        sum(&|r| r["stations"]["equipment"]["basic"].as_i64().unwrap_or(0)),
        sum(&|r| i64::from(r["coordination_mechanism"].as_bool().expect("bool"))),
        sum(&|r| r["trainings"].as_i64().expect("trainings")),
    )
}

on_both_backends! {
    async fn a_provinces_table_has_a_row_per_city_summed_from_its_counties_as_worked_out_by_hand(app: TestApp) {
        let (province, yunfu, jieyang) = guangdong(&app).await;
        // Without a filter, a province with several cities answers the province's table.
        let t = app.get("/api/v1/reports/progress?as_of=2021-06-09").await.expect(200).body;
        assert_eq!((t["level"].as_str(), t["by"].as_str()), (Some("province"), Some("city")));
        assert_eq!(t["province_id"], province);
        assert_eq!(t, app.get(&format!("/api/v1/reports/progress?as_of=2021-06-09&province_id={province}")).await.expect(200).body);
        assert_eq!(codes(&t["cities"]), vec!["445200", "445300"], "a row per city, by code");
        let (jy, yf) = (&t["cities"][0], &t["cities"][1]);
        assert_eq!(yf["city_id"], yunfu);
        // 云浮: 3 stations planned (2 in 云城区, 1 in 罗定市), 1 completed, 2 with premises, one
        // with every item and one never checked; 1 worker; plans issued, agreed, and its city
        // level's not started; coordination in 1 of 3 rows; one request approved, one submitted.
        assert_eq!(summed(yf), "已出台1个，已同意1个，未启动1个 | 3 1 2 1 | 1/0/1 \"incomplete\" | 1/3 | 0/3 | 已批准1个，已报审批1个 | 0");
        assert_eq!(yf["plan_status"]["counts"], json!({"issued": 1, "approved": 1, "not_started": 1}));
        assert_eq!(yf["funding"]["counts"], json!({"approved": 1, "submitted": 1}));
        assert_eq!(yf["stations"]["equipment"]["worst_label"], "未配备齐全");
        // 揭阳: one station with premises and six items, no request, one training.
        assert_eq!(summed(jy), "已出台1个，未启动1个 | 1 0 1 0 | 0/1/0 \"basic\" | 0/2 | 0/2 |  | 1");
        assert!(yf["rows"].as_array().expect("rows").is_empty(), "by city: no county rows");
        // Then the province's own level, like a county's row without sites.
        assert_eq!(codes(&t["rows"]), vec!["440000"]);
        assert_eq!(t["rows"][0]["plan_status"]["label"], "起草中");
        assert_eq!(t["rows"][0]["stations"], Value::Null);
        assert_eq!(t["rows"][0]["trainings"], 1);
        assert_eq!(t["totals"]["stations"], json!({"planned": 4, "completed": 1, "premises_secured": 3, "staff": 1}));
        assert_eq!(t["totals"]["trainings"], 2);
        // Each city's row equals its own table summed.
        for (row, city) in [(yf, yunfu), (jy, jieyang)] {
            let own = app.get(&format!("/api/v1/reports/progress?as_of=2021-06-09&city_id={city}")).await.expect(200).body;
            assert_eq!(own["level"], "city");
            let (planned, premises, basic, coordination, trainings) = summed_by_hand(&own);
            assert_eq!(row["stations"]["planned"], planned);
            assert_eq!(row["stations"]["premises_secured"], premises);
            assert_eq!(row["stations"]["equipment"]["basic"], basic);
            assert_eq!(row["coordination_mechanism"]["established"], coordination);
            assert_eq!(row["coordination_mechanism"]["of"], own["rows"].as_array().expect("rows").len());
            assert_eq!(row["trainings"], trainings);
            assert_eq!(row["stations"]["planned"], own["totals"]["stations"]["planned"]);
        }

        // By county: every county grouped by city, each followed by its city's row (the same
        // figures), then the province level.
        let by_county = app.get(&format!("/api/v1/reports/progress?as_of=2021-06-09&province_id={province}&by=county")).await.expect(200).body;
        assert_eq!(by_county["by"], "county");
        for (i, city) in [(0, jieyang), (1, yunfu)] {
            let entry = &by_county["cities"][i];
            let own = app.get(&format!("/api/v1/reports/progress?as_of=2021-06-09&city_id={city}")).await.expect(200).body;
            assert_eq!(entry["rows"], own["rows"], "a city's rows are its table's rows");
            assert_eq!(summed(entry), summed(&t["cities"][i]), "its subtotal is its row");
        }
        assert_eq!(codes(&by_county["cities"][1]["rows"]), vec!["445302", "445381", "445300"]);
        assert_eq!(by_county["totals"], t["totals"]);
        // A province's table has no province rows; a city's none but county rows.
        let r = app.get(&format!("/api/v1/reports/progress?province_id={province}&by=province")).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["by"]);
        app.get(&format!("/api/v1/reports/progress?city_id={yunfu}&by=city")).await.expect_problem(422);
        let r = app.get(&format!("/api/v1/reports/progress?city_id={yunfu}&province_id={province}")).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["province_id"]);
        app.get("/api/v1/reports/progress?province_id=99999").await.expect_problem(422);
        app.get("/api/v1/reports/progress?by=town").await.expect_problem(400);

        // Compared between two dates, per city and in total.
        let changes = app.get(&format!("/api/v1/reports/progress/changes?province_id={province}&from=2021-01-31&to=2021-06-09")).await.expect(200).body;
        let yunfu_changes = changes["divisions"].as_array().expect("divisions").iter()
            .find(|d| d["level"] == "city" && d["id"] == yunfu).expect("云浮's row").clone();
        let premises = yunfu_changes["counts"].as_array().expect("counts").iter()
            .find(|c| c["column"] == "stations.premises_secured").expect("column").clone();
        assert_eq!((premises["from"].as_i64(), premises["to"].as_i64(), premises["change"].as_i64()), (Some(0), Some(2), Some(2)));
        assert_eq!(yunfu_changes["plan_status"]["from"], "未启动3个");
        assert_eq!(yunfu_changes["plan_status"]["changed"], true);
        assert_eq!(codes(&changes["rows"]), vec!["440000"], "the province level's own row");
    }

    async fn the_nations_table_has_a_row_per_province_and_groups_finer_rows_under_it(app: TestApp) {
        let (guangdong_id, _, _) = guangdong(&app).await;
        let guangxi = app.province("450000", "广西壮族自治区").await;
        app.city("450100", "南宁市").await;
        let xingning = app.county("450102", "兴宁区", "district").await;
        batch(&app, xingning, json!({
            "towns": [{"code": "450102100", "name": "民生街道", "kind": "street"}],
            "sites": [station("450102100", "XN-1", true, true, Some(8))]
        })).await;
        let t = app.get("/api/v1/reports/progress?as_of=2021-06-09").await.expect(200).body;
        assert_eq!((t["level"].as_str(), t["by"].as_str()), (Some("nation"), Some("province")));
        assert_eq!(codes(&t["provinces"]), vec!["440000", "450000"]);
        let (gd, gx) = (&t["provinces"][0], &t["provinces"][1]);
        // 广东: its two cities' five rows and its own level summed; 广西: one county and the levels
        // of its city and itself.
        assert_eq!(summed(gd), "已出台2个，已同意1个，起草中1个，未启动2个 | 4 1 3 1 | 1/1/1 \"incomplete\" | 1/6 | 0/6 | 已批准1个，已报审批1个 | 2");
        assert_eq!(summed(gx), "未启动3个 | 1 1 1 0 | 1/0/0 \"full\" | 0/3 | 0/3 |  | 0");
        assert!(gd["cities"].as_array().expect("cities").is_empty() && gd["rows"].as_array().expect("rows").is_empty());
        assert_eq!(gx["province_id"], guangxi);
        assert!(t["rows"].as_array().expect("rows").is_empty(), "the nation has no level row");
        assert_eq!(t["totals"]["stations"]["planned"], 5);
        // By city: each province's cities, its own level, then its row; the same sums.
        let by_city = app.get("/api/v1/reports/progress?as_of=2021-06-09&by=city").await.expect(200).body;
        let gd_city = &by_city["provinces"][0];
        assert_eq!(codes(&gd_city["cities"]), vec!["445200", "445300"]);
        assert_eq!(codes(&gd_city["rows"]), vec!["440000"]);
        assert_eq!(summed(gd_city), summed(gd));
        let province_table = app.get(&format!("/api/v1/reports/progress?as_of=2021-06-09&province_id={guangdong_id}")).await.expect(200).body;
        assert_eq!(gd_city["cities"], province_table["cities"], "the nation's 广东 is the province's own table");
        // By county: down to each county, under its city.
        let by_county = app.get("/api/v1/reports/progress?as_of=2021-06-09&by=county").await.expect(200).body;
        assert_eq!(codes(&by_county["provinces"][1]["cities"][0]["rows"]), vec!["450102", "450100"]);
        assert_eq!(by_county["totals"], t["totals"]);

        // Exported in the seed's layout: 省份 first, the nation's title and the ministry.
        let csv = app.get("/api/v1/reports/progress/export?format=csv&as_of=2021-06-09").await.expect(200);
        let rows = csv_rows(&csv.raw);
        let xlsx = app.get("/api/v1/reports/progress/export?format=xlsx&as_of=2021-06-09").await.expect(200);
        assert_eq!(xlsx_rows(&xlsx.raw)[..7], rows[..7], "the workbook holds the same grid");
        assert_eq!(rows[0][0], "全国2021年“双百工程”社工站（点）建设进度情况一览表");
        assert_eq!(rows[1][0], "制表单位：民政部");
        assert_eq!(rows[2][0], "省份");
        assert_eq!(rows[4].join(","), "广东省,已出台2个，已同意1个，起草中1个，未启动2个,4,1,3,全部配备1个，基本配备1个，未配备齐全1个,1,0,0,0,,0,1/6,0/6,已批准1个，已报审批1个,2");
        assert_eq!(rows[5][0], "广西壮族自治区");
        assert_eq!(rows[6][..3], ["合计".to_string(), String::new(), "5".to_string()]);
        let grouped = csv_rows(&app.get("/api/v1/reports/progress/export?format=csv&as_of=2021-06-09&by=city").await.expect(200).raw);
        let first: Vec<&str> = grouped[4..].iter().map(|r| r[0].as_str()).take(7).collect();
        assert_eq!(first, vec!["揭阳市", "云浮市", "省本级", "广东省小计", "南宁市", "省本级", "广西壮族自治区小计"]);
        assert_eq!(grouped[2][0], "地级市");
    }

    async fn province_exports_open_in_the_bureaus_layout_and_only_administrators_publish_them(app: TestApp) {
        let (province, yunfu, _) = guangdong(&app).await;
        let export = |format: &str, by: &str| format!("/api/v1/reports/progress/export?format={format}&as_of=2021-06-09&province_id={province}{by}");
        let csv = app.get(&export("csv", "")).await.expect(200);
        let xlsx = app.get(&export("xlsx", "")).await.expect(200);
        for rows in [csv_rows(&csv.raw), xlsx_rows(&xlsx.raw)] {
            assert_eq!(rows[0][0], "广东省2021年“双百工程”社工站（点）建设进度情况一览表");
            assert_eq!(rows[1][0], "制表单位：广东省民政厅");
            assert_eq!(rows[2][0], "地级市");
            assert_eq!(rows[4].join(","), "揭阳市,已出台1个，未启动1个,1,0,1,基本配备1个,0,0,0,0,,0,0/2,0/2,,1");
            assert_eq!(rows[5].join(","), "云浮市,已出台1个，已同意1个，未启动1个,3,1,2,全部配备1个，未配备齐全1个,1,0,0,0,,0,1/3,0/3,已批准1个，已报审批1个,0");
            assert_eq!(rows[6][..3], ["省本级".to_string(), "起草中".to_string(), String::new()]);
            assert_eq!(rows[7][..6].join(","), "合计,,4,1,3,");
        }
        let by_county = csv_rows(&app.get(&export("csv", "&by=county")).await.expect(200).raw);
        let names: Vec<&str> = by_county[4..].iter().map(|r| r[0].as_str()).take(8).collect();
        assert_eq!(names, vec!["榕城区", "市本级", "揭阳市小计", "云城区", "罗定市", "市本级", "云浮市小计", "省本级"]);
        assert_eq!(by_county[2][0], "县（市、区）");

        // Published as a bulletin by administrators only: not a city's administrator, not a
        // viewer, not a county's officer.
        app.post("/api/v1/users", &json!({"username": "yunfu.admin", "display_name": "云浮", "role": "city_admin", "city_id": yunfu, "password": PASSWORD})).await.expect(201);
        let city_admin = app.token_for("yunfu.admin", PASSWORD).await;
        let viewer = app.user_token("province.viewer", "viewer", None).await;
        let yuncheng = app.get("/api/v1/counties?division_code=445302").await.body["items"][0]["id"].as_i64().expect("id");
        let officer = app.user_token("yc.officer", "county_officer", Some(yuncheng)).await;
        let body = json!({"province_id": province, "as_of": "2021-06-09", "title": "广东省进度", "issuing_unit": "广东省民政厅"});
        for token in [&city_admin, &viewer, &officer] {
            app.post_as(token, "/api/v1/reports/progress/snapshots", &body).await.expect_problem(403);
        }
        let snapshot = app.post("/api/v1/reports/progress/snapshots", &body).await.expect(201).body;
        assert_eq!((snapshot["level"].as_str(), snapshot["province_id"].as_i64()), (Some("province"), Some(province)));
        assert_eq!(snapshot["table"]["level"], "province");
        let path = format!("/api/v1/reports/progress/snapshots/{}", snapshot["id"]);
        // Frozen: a later correction changes the live table, never the bulletin.
        batch(&app, yuncheng, json!({"sites": [station("445302101", "YC-2", true, false, None)]})).await;
        let live = app.get(&format!("/api/v1/reports/progress?as_of=2021-06-09&province_id={province}")).await.expect(200).body;
        assert_eq!(live["cities"][1]["stations"]["premises_secured"], 3);
        let read = app.get_as(&viewer, &path).await.expect(200).body;
        assert_eq!(read["table"], snapshot["table"], "a viewer reads it, as published");
        assert_eq!(read["table"]["cities"][1]["stations"]["premises_secured"], 2);
        let frozen = csv_rows(&app.get_as(&viewer, &format!("{path}/export?format=csv")).await.expect(200).raw);
        assert_eq!(frozen[2][0], "地级市");
        assert_eq!(frozen[5][4], "2", "the bulletin's own figures");
        for (query, total) in [(format!("province_id={province}"), 1), ("level=province".to_string(), 1), ("level=city".to_string(), 0), (format!("city_id={yunfu}"), 0)] {
            assert_eq!(app.get(&format!("/api/v1/reports/progress/snapshots?{query}")).await.expect(200).body["total"], total, "{query}");
        }
        // Withdrawn by administrators only, too.
        app.post_as(&city_admin, &format!("{path}/withdraw"), &json!({"reason": "有误"})).await.expect_problem(403);
        app.post(&format!("{path}/withdraw"), &json!({"reason": "有误"})).await.expect(200);
        // The city's own bulletin stays its administrator's.
        app.post_as(&city_admin, "/api/v1/reports/progress/snapshots", &json!({"city_id": yunfu, "as_of": "2021-06-09", "title": "云浮", "issuing_unit": "云浮市民政局"})).await.expect(201);
    }
}

on_both_backends! {
    async fn the_province_demo_adds_guangdongs_other_cities_and_leaves_yunfus_figures_as_the_seeds(app: TestApp) {
        use shuangbai::demo::{load_extent, Extent};
        use shuangbai::state::AppState;
        let settings = crate::helpers::settings_for(app.database_url.clone());
        let pool = shuangbai::startup::prepare_pool(&settings).expect("pool");
        let state = AppState::new(pool, settings).expect("state");
        load_extent(state, Extent::Province).await.expect("the province demo loads");
        let t = app.get("/api/v1/reports/progress?as_of=2021-06-09").await.expect(200).body;
        assert_eq!(t["level"], "province");
        let cities = t["cities"].as_array().expect("cities");
        assert_eq!(cities.len(), 21, "Guangdong's twenty-one cities");
        let yunfu = cities.iter().find(|c| c["division_code"] == "445300").expect("云浮");
        // The seed's totals (63, 23, 56, 112 stations; 146 points; 9 trainings) are 云浮's row.
        assert_eq!(yunfu["stations"], json!({"planned": 63, "completed": 23, "premises_secured": 56, "staff": 112,
            "equipment": yunfu["stations"]["equipment"].clone()}));
        assert_eq!(yunfu["points"]["planned"], 146);
        assert_eq!(yunfu["trainings"], 9);
        assert_eq!(yunfu["coordination_mechanism"]["label"], "5/6");
        let dongguan = cities.iter().find(|c| c["division_code"] == "441900").expect("东莞");
        assert_eq!(dongguan["stations"]["planned"], 3, "its towns on its one row");
        assert_eq!(codes(&t["rows"]), vec!["440000"], "the province's own level");
        let counties = app.get("/api/v1/counties?limit=100").await.expect(200).body;
        let outside: Vec<&Value> = counties["items"].as_array().expect("items").iter()
            .filter(|c| !c["division_code"].as_str().expect("code").starts_with("4453"))
            .filter(|c| c["kind"] == "district" || c["kind"] == "county")
            .collect();
        assert_eq!(outside.len(), 36, "two for each of the eighteen other cities with counties");
        assert!(outside.iter().all(|c| c["name"].as_str().expect("name").contains("示例")), "marked illustrative");
        assert_eq!(t["totals"]["stations"]["planned"].as_i64().expect("n") - 63, (18 * 2 + 2) * 3, "three stations per illustrative row");
    }
}

on_both_backends! {
    async fn a_bulletin_frozen_before_tables_had_levels_reads_as_its_citys_table(app: TestApp) {
        use diesel::r2d2::ManageConnection;
        use diesel::RunQueryDsl;
        let (_, yunfu, _) = guangdong(&app).await;
        let published = app
            .post("/api/v1/reports/progress/snapshots", &json!({"city_id": yunfu, "as_of": "2021-06-09", "title": "云浮简报", "issuing_unit": "云浮市民政局"}))
            .await
            .expect(201)
            .body;
        // The table as a bulletin published before this version froze it: no level, grouping or place.
        let mut old = published["table"].clone();
        for field in ["level", "by", "city_id", "province_id", "cities", "provinces"] {
            old.as_object_mut().expect("a table").remove(field);
        }
        let mut conn = shuangbai::db::Manager::new(app.database_url.clone(), "public").connect().expect("connect");
        let sql = format!(
            "UPDATE progress_snapshots SET table_json = '{}' WHERE id = {}",
            old.to_string().replace('\'', "''"),
            published["id"]
        );
        diesel::sql_query(sql).execute(&mut *conn).expect("the old shape stored");
        let path = format!("/api/v1/reports/progress/snapshots/{}", published["id"]);
        let read = app.get(&path).await.expect(200).body;
        assert_eq!(read["table"], published["table"], "read as its city's table by county");
        let rows = csv_rows(&app.get(&format!("{path}/export?format=csv")).await.expect(200).raw);
        assert_eq!(rows[2][0], "县（市、区）");
        assert_eq!(rows[4][0], "云城区");
    }
}
