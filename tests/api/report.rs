//! The progress table, against the seed's figures and against figures worked out by hand.

use serde_json::{json, Value};
use shuangbai::state::AppState;

use crate::helpers::{settings_for, TestApp};

/// The seed's table, kept as the project's own fixture.
const SEED: &str = include_str!("../fixtures/progress-2021-06-09.csv");

pub async fn load_demo(app: &TestApp) {
    let settings = settings_for(app.database_url.clone());
    let pool = shuangbai::startup::prepare_pool(&settings).expect("pool");
    let state = AppState::new(pool, settings).expect("state");
    let summary = shuangbai::demo::load(state).await.expect("demo loads");
    assert_eq!(summary.towns, 63);
}

async fn table(app: &TestApp, day: &str) -> Value {
    app.get(&format!("/api/v1/reports/progress?as_of={day}"))
        .await
        .expect(200)
        .body
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A row as the seed's 17 columns (name, code, plan, 5 station cells, 5 point cells, 2
/// mechanisms, funding, trainings), read from the JSON.
pub fn as_seed_columns(row: &Value) -> Vec<String> {
    let mut out = vec![
        cell(&row["name"]),
        cell(&row["division_code"]),
        cell(&row["plan_status"]["label"]),
    ];
    for kind in ["stations", "points"] {
        let c = &row[kind];
        for field in ["planned", "completed", "premises_secured"] {
            out.push(cell(&c[field]));
        }
        out.push(cell(&c["equipment"]["worst_label"]));
        out.push(cell(&c["staff"]));
    }
    out.push(cell(&row["coordination_mechanism_label"]));
    out.push(cell(&row["management_mechanism_label"]));
    out.push(cell(&row["funding"]["label"]));
    out.push(cell(&row["trainings"]));
    out
}

fn totals_line(t: &Value) -> Vec<i64> {
    let n = |v: &Value| v.as_i64().expect("count");
    let s = &t["totals"];
    vec![
        n(&s["stations"]["planned"]),
        n(&s["stations"]["completed"]),
        n(&s["stations"]["premises_secured"]),
        n(&s["stations"]["staff"]),
        n(&s["points"]["planned"]),
        n(&s["points"]["completed"]),
        n(&s["points"]["premises_secured"]),
        n(&s["points"]["staff"]),
        n(&s["trainings"]),
    ]
}

/// The seed's line for the row of `code`, as [`as_seed_columns`] reads a row.
pub fn seed_row(code: &str) -> Vec<String> {
    SEED.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>())
        .find(|cells| cells[1] == code)
        .expect("a row of the seed")
}

/// Asserts a city table of 2021-06-09 is the seed's: its six rows cell for cell, and its totals.
pub fn assert_is_the_seeds_table(t: &Value) {
    let mut lines = SEED.lines().skip(1);
    let seed_rows: Vec<&str> = lines.by_ref().take(6).collect();
    expect_rows(t, &seed_rows);
    let totals: Vec<i64> = lines
        .next()
        .expect("totals line")
        .split(',')
        .filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_digit()))
        .map(|c| c.parse().expect("number"))
        .collect();
    assert_eq!(totals, vec![63, 23, 56, 112, 146, 81, 132, 350, 9]);
    assert_eq!(totals_line(t), totals);
}

/// Rows given as the CSV lines the seed would print, name first.
fn expect_rows(t: &Value, expected: &[&str]) {
    let rows = t["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), expected.len());
    for (row, line) in rows.iter().zip(expected) {
        let want: Vec<String> = line.split(',').map(str::to_string).collect();
        assert_eq!(as_seed_columns(row), want, "as of {}", t["as_of"]);
    }
}

on_both_backends! {
    async fn after_the_demo_the_table_of_2021_06_09_is_the_seeds_cell_for_cell(app: TestApp) {
        load_demo(&app).await;
        let t = table(&app, "2021-06-09").await;
        assert_is_the_seeds_table(&t);

        // The CSV in the seed's layout carries the same figures.
        let csv = app.get("/api/v1/reports/progress?as_of=2021-06-09&format=csv").await.expect(200);
        assert_eq!(csv.header("content-type").as_deref(), Some("text/csv; charset=utf-8"));
        assert!(csv.raw.starts_with("\u{feff}".as_bytes()), "a BOM so Excel reads UTF-8");
        let text = String::from_utf8(csv.raw.clone()).expect("utf-8");
        assert!(text.contains("\r\n合计,,63,23,56,,112,146,81,132,,350,,,,9\r\n"));
        assert!(text.contains("时间：2021年6月9日"));
        let req = app
            .request(awc::http::Method::GET, "/api/v1/reports/progress?as_of=2021-06-09")
            .insert_header(("accept", "text/csv"));
        assert_eq!(app.send(req, None).await.expect(200).raw, csv.raw, "Accept: text/csv works too");

        // Worked out by hand from the demo's dates (src/demo.rs): by 2021-03-31 half of each
        // county's stations with premises (rounded down) had premises, none had been checked,
        // nobody was posted, no site completed, every plan was still being drafted but the city
        // level's, no funding request existed and no training had been held.
        let march = table(&app, "2021-03-31").await;
        expect_rows(&march, &[
            "云城区,445302,起草中,8,0,4,未配备齐全,0,19,0,0,,0,是,否,,0",
            "云安区,445303,起草中,7,0,3,未配备齐全,0,17,0,0,,0,是,否,,0",
            "罗定市,445381,起草中,21,0,7,未配备齐全,0,50,0,0,,0,是,否,,0",
            "新兴县,445321,起草中,12,0,6,未配备齐全,0,30,0,0,,0,是,否,,0",
            "郁南县,445322,起草中,15,0,7,未配备齐全,0,30,0,0,,0,否,否,,0",
            "市本级,445300,已出台,,,,,,,,,,,是,否,,0",
        ]);
        assert_eq!(totals_line(&march), vec![63, 0, 27, 0, 146, 0, 0, 0, 0]);

        // By 2021-12-31: one more station completed where one was left (not 云城区), one of
        // 罗定市's point workers left, 云城区's plan was issued, 郁南县's request approved, and each
        // county and the city level held one more training.
        let december = table(&app, "2021-12-31").await;
        expect_rows(&december, &[
            "云城区,445302,已出台,8,8,8,基本配备,16,19,14,19,基本配备,47,是,否,正在测算费用，拟报区政府。,2",
            "云安区,445303,已出台,7,4,7,基本配备,14,17,17,17,基本配备,42,是,否,正在测算费用，拟报区政府。,2",
            "罗定市,445381,已出台,21,6,14,基本配备,28,50,36,36,未配备齐全,130,是,否,正在测算费用，拟报市政府。,3",
            "新兴县,445321,已出台,12,8,12,基本配备,24,30,10,30,基本配备,82,是,否,已测算出本年度费用，正在征求有关部门意见，修改完善后报县政府审批。,2",
            "郁南县,445322,县政府已同意，走流程签发,15,1,15,基本配备,30,30,4,30,未配备齐全,48,否,否,县政府已批复150万元。,3",
            "市本级,445300,已出台,,,,,,,,,,,是,是,已申请，2021年市级预计共需经费355.135万元。,3",
        ]);
        assert_eq!(totals_line(&december), vec![63, 27, 56, 112, 146, 81, 132, 349, 15]);
        let yunan = &december["rows"][4]["funding"];
        assert_eq!(yunan["status"], "approved");
        assert_eq!(yunan["approved_fen"], 150_000_000);
        assert_eq!(yunan["requested_fen"], 179_400_000);
    }

    async fn a_backdated_correction_changes_the_table_only_for_the_dates_it_covers(app: TestApp) {
        load_demo(&app).await;
        let before: Vec<Value> = futures_util::future::join_all(
            ["2021-04-30", "2021-05-01", "2021-06-09"].map(|d| table(&app, d)),
        )
        .await;
        // 云安区's fourth station (not completed by the seed's date) was in fact completed on 2021-05-01.
        let yunan_id = before[2]["rows"][1]["county_id"].as_i64().expect("id");
        let sites = app
            .get(&format!("/api/v1/stations?county_id={yunan_id}&kind=station&sort=id&limit=10"))
            .await
            .body;
        let fourth = &sites["items"][3];
        assert_eq!(fourth["completed_on"], "2021-09-30");
        let path = format!("/api/v1/stations/{}", fourth["id"]);
        let tag = app.get(&path).await.header("etag").expect("etag");
        app.patch(&path, Some(&tag), &json!({"completed_on": "2021-05-01"})).await.expect(200);

        let after_april = table(&app, "2021-04-30").await;
        assert_eq!(after_april, before[0], "a date before the correction is untouched");
        for (i, day) in [(1, "2021-05-01"), (2, "2021-06-09")] {
            let after = table(&app, day).await;
            let was = before[i]["rows"][1]["stations"]["completed"].as_i64().expect("n");
            assert_eq!(after["rows"][1]["stations"]["completed"], was + 1, "{day}");
            assert_eq!(after["totals"]["stations"]["completed"], before[i]["totals"]["stations"]["completed"].as_i64().expect("n") + 1);
            for r in [0usize, 2, 3, 4, 5] {
                assert_eq!(after["rows"][r], before[i]["rows"][r], "other counties unchanged on {day}");
            }
        }
        app.get("/api/v1/reports/progress?as_of=2999-01-01").await.expect_problem(422);
    }

    async fn the_demo_loads_yunfu_as_a_city_of_guangdong_and_titles_its_exports_so(app: TestApp) {
        load_demo(&app).await;
        let cities = app.get("/api/v1/cities").await.expect(200).body;
        assert_eq!(cities["total"], 1);
        assert_eq!(cities["items"][0]["division_code"], "445300");
        assert_eq!(cities["items"][0]["name"], "云浮市");
        let province = app.get(&format!("/api/v1/provinces/{}", cities["items"][0]["province_id"])).await.expect(200).body;
        assert_eq!((province["division_code"].as_str(), province["name"].as_str()), (Some("440000"), Some("广东省")));
        let csv = app.get("/api/v1/reports/progress/export?format=csv&as_of=2021-06-09").await.expect(200);
        let text = String::from_utf8_lossy(&csv.raw).trim_start_matches('\u{feff}').to_string();
        let head: String = text.chars().take(40).collect();
        assert!(text.starts_with("云浮市2021年“双百工程”社工站（点）建设进度情况一览表"), "{head}");
        assert!(text.contains("制表单位：云浮市民政局"));
    }

    async fn the_demo_loads_only_into_an_empty_database(app: TestApp) {
        app.post("/api/v1/counties", &json!({"division_code": "445302", "name": "云城区", "kind": "district"}))
            .await
            .expect(201);
        let settings = settings_for(app.database_url.clone());
        let pool = shuangbai::startup::prepare_pool(&settings).expect("pool");
        let state = AppState::new(pool, settings).expect("state");
        let err = shuangbai::demo::load(state).await.expect_err("refused");
        assert!(err.contains("empty"));
    }
}

// The table's equipment counts and the list's level filter are SQL; the rule is Rust
// (`equipment_level`). One site for each number of items 0..=8 ties them together.
on_both_backends! {
    async fn the_sql_counts_each_number_of_equipment_items_as_the_rule_does(app: TestApp) {
        use diesel::r2d2::ManageConnection;
        use shuangbai::domain::site::{equipment_level, EquipmentItem, EquipmentLevel};

        let county = app.county("445302", "云城区", "district").await;
        let sites: Vec<Value> = (0..=8usize)
            .map(|n| {
                let items: Vec<&str> = EquipmentItem::ALL[..n].iter().map(|i| i.as_str()).collect();
                let mut site = json!({"town_code": "445302100", "name": format!("社工点{n}"), "ref": format!("S-{n}"),
                                      "planned_on": "2021-01-04", "premises_secured_on": "2021-02-01",
                                      "equipment_checks": [{"checked_on": "2021-03-01", "items": items}]});
                if n == 0 {
                    site["kind"] = json!("station");
                } else {
                    site["kind"] = json!("point");
                    site["station_ref"] = json!("S-0");
                    site["village"] = json!(format!("村{n}"));
                }
                site
            })
            .collect();
        let batch = json!({"towns": [{"code": "445302100", "name": "河口街道", "kind": "street"}], "sites": sites});
        app.post(&format!("/api/v1/counties/{county}/updates"), &batch).await.expect(200);

        let expected = |level: EquipmentLevel| {
            (0..=8).filter(|n| equipment_level(true, Some(*n)) == level).count() as i64
        };
        let mut conn = shuangbai::db::Manager::new(app.database_url.clone(), "public")
            .connect()
            .expect("connect");
        let day = chrono::NaiveDate::from_ymd_opt(2021, 6, 9).expect("date");
        let aggregates = shuangbai::db::report::site_aggregates(&mut conn, day, shuangbai::db::counties::Scope::All).expect("aggregates");
        let sum = |f: fn(&shuangbai::db::report::SiteAggregate) -> i64| aggregates.iter().map(f).sum::<i64>();
        assert_eq!(sum(|a| a.premises), 9);
        assert_eq!(sum(|a| a.full), expected(EquipmentLevel::Full));
        assert_eq!(sum(|a| a.basic), expected(EquipmentLevel::Basic));
        assert_eq!(sum(|a| a.incomplete), expected(EquipmentLevel::Incomplete));

        for level in [EquipmentLevel::Full, EquipmentLevel::Basic, EquipmentLevel::Incomplete] {
            let listed = app
                .get(&format!("/api/v1/stations?county_id={county}&equipment_level={level}"))
                .await
                .expect(200);
            assert_eq!(listed.body["total"], expected(level), "the list filtered by {level}");
        }
    }
}
