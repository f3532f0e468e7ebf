//! Bulletins: exports in the bureau's layout, frozen snapshots, and changes between dates.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use serde_json::{json, Value};
use shuangbai::state::AppState;

use crate::helpers::{settings_for, TestApp};

const SEED: &str = include_str!("../fixtures/progress-2021-06-09.csv");

async fn load_demo(app: &TestApp) {
    let settings = settings_for(app.database_url.clone());
    let pool = shuangbai::startup::prepare_pool(&settings).expect("pool");
    let state = AppState::new(pool, settings).expect("state");
    shuangbai::demo::load(state).await.expect("demo loads");
}

/// The seed's rows as the export prints them: without the division code column.
fn seed_export_rows() -> Vec<Vec<String>> {
    SEED.lines()
        .skip(1)
        .map(|l| {
            let mut cells: Vec<String> = l.split(',').map(str::to_string).collect();
            cells.remove(1);
            cells
        })
        .collect()
}

pub fn xlsx_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes.to_vec())).expect("an xlsx file");
    sheet_rows(&book.worksheet_range("进度情况一览表").expect("the sheet"))
}

/// The first sheet of a workbook, whatever its name, as text cells.
pub fn xlsx_first_sheet_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes.to_vec())).expect("an xlsx file");
    sheet_rows(
        &book
            .worksheet_range_at(0)
            .expect("a sheet")
            .expect("the sheet reads"),
    )
}

fn sheet_rows(sheet: &calamine::Range<Data>) -> Vec<Vec<String>> {
    sheet
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::Empty => String::new(),
                    Data::Float(f) if f.fract() == 0.0 => format!("{}", *f as i64),
                    Data::Int(i) => i.to_string(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

pub fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
    text.trim_start_matches('\u{feff}')
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

on_both_backends! {
    async fn csv_and_xlsx_of_the_seed_date_read_cell_for_cell_as_the_seeds_table(app: TestApp) {
        load_demo(&app).await;
        let csv = app.get("/api/v1/reports/progress?as_of=2021-06-09&format=csv&issuing_unit=%E4%BA%91%E6%B5%AE%E5%B8%82%E6%B0%91%E6%94%BF%E5%B1%80").await.expect(200);
        let xlsx = app.get("/api/v1/reports/progress?as_of=2021-06-09&format=xlsx&issuing_unit=%E4%BA%91%E6%B5%AE%E5%B8%82%E6%B0%91%E6%94%BF%E5%B1%80").await.expect(200);
        assert!(xlsx.header("content-type").is_some_and(|c| c.contains("spreadsheetml")));
        let want = seed_export_rows();
        for rows in [csv_rows(&csv.raw), xlsx_rows(&xlsx.raw)] {
            assert_eq!(rows.len(), 4 + 7 + 3, "title, unit, two header rows, 7 rows, 3 notes");
            assert!(rows[0][0].contains("进度情况一览表"));
            assert_eq!(rows[1][0], "制表单位：云浮市民政局");
            assert_eq!(rows[1][12], "时间：2021年6月9日");
            assert_eq!(rows[2][2], "社工站");
            assert_eq!(rows[2][7], "社工点");
            assert_eq!(rows[3][2], "应建社工站数量");
            assert_eq!(rows[3][7], "应建社工点数量");
            for (got, want) in rows[4..11].iter().zip(&want) {
                let got: Vec<String> = got.iter().take(16).cloned().collect();
                assert_eq!(&got, want);
            }
            assert!(rows[11][0].starts_with("备注：1.设备设施情况"));
        }
    }

    async fn a_snapshot_stays_frozen_when_a_correction_changes_the_live_table(app: TestApp) {
        load_demo(&app).await;
        let published = app
            .post("/api/v1/reports/progress/snapshots", &json!({"as_of": "2021-06-09", "title": "云浮市2021年“双百工程”社工站（点）建设进度情况一览表", "issuing_unit": "云浮市民政局"}))
            .await
            .expect(201)
            .body;
        assert_eq!(published["rules_version"], "2021.1");
        assert!(published["published_by"].as_str().expect("by").starts_with("user:"));
        let path = format!("/api/v1/reports/progress/snapshots/{}", published["id"]);
        let frozen = app.get(&path).await.expect(200).body;

        // A correction after publishing: 郁南县 completed a station on 2021-06-01.
        let yunnan = frozen["table"]["rows"][4]["county_id"].as_i64().expect("id");
        let stations = app.get(&format!("/api/v1/stations?county_id={yunnan}&kind=station&sort=id")).await.body;
        let site = format!("/api/v1/stations/{}", stations["items"][5]["id"]);
        let tag = app.get(&site).await.header("etag").expect("etag");
        app.patch(&site, Some(&tag), &json!({"completed_on": "2021-06-01"})).await.expect(200);

        let live = app.get("/api/v1/reports/progress?as_of=2021-06-09").await.body;
        assert_eq!(live["totals"]["stations"]["completed"], 24, "the live table follows the correction");
        let again = app.get(&path).await.expect(200).body;
        assert_eq!(again, frozen, "the snapshot never changes");
        assert_eq!(again["table"]["totals"]["stations"]["completed"], 23);
        let csv = app.get(&format!("{path}?format=csv")).await.expect(200);
        let rows = csv_rows(&csv.raw);
        assert_eq!(rows[0][0], "云浮市2021年“双百工程”社工站（点）建设进度情况一览表");
        assert_eq!(rows[10][2], "63");
        assert_eq!(rows[10][3], "23");
        app.get(&format!("{path}?format=xlsx")).await.expect(200);

        // Withdrawn with a reason, kept, never edited.
        let r = app.post(&format!("{path}/withdraw"), &json!({"reason": "数据更正后重新发布"})).await.expect(200);
        assert_eq!(r.body["withdrawal_reason"], "数据更正后重新发布");
        app.post(&format!("{path}/withdraw"), &json!({"reason": "again"})).await.expect_problem(409);
        assert_eq!(app.get("/api/v1/reports/progress/snapshots").await.body["total"], 0);
        let all = app.get("/api/v1/reports/progress/snapshots?include_withdrawn=true").await.body;
        assert_eq!(all["total"], 1);
        assert!(all["items"][0].get("table").is_none(), "lists leave the table out");
        assert_eq!(app.get(&path).await.expect(200).body["table"], frozen["table"]);
    }

    async fn changes_between_march_and_june_show_each_countys_progress(app: TestApp) {
        load_demo(&app).await;
        let r = app.get("/api/v1/reports/progress/changes?from=2021-03-31&to=2021-06-09").await.expect(200).body;
        assert_eq!(r["from"]["as_of"], "2021-03-31");
        let yuncheng = &r["rows"][0];
        assert_eq!(yuncheng["name"], "云城区");
        let count = |row: &Value, column: &str| -> (Value, Value, Value) {
            let c = row["counts"].as_array().expect("counts").iter().find(|c| c["column"] == column).expect("column").clone();
            (c["from"].clone(), c["to"].clone(), c["change"].clone())
        };
        assert_eq!(count(yuncheng, "stations.completed"), (json!(0), json!(8), json!(8)));
        assert_eq!(count(yuncheng, "stations.premises_secured"), (json!(4), json!(8), json!(4)));
        assert_eq!(count(yuncheng, "points.staff"), (json!(0), json!(47), json!(47)));
        assert_eq!(yuncheng["plan_status"], json!({"from": "drafting", "to": "approved", "changed": true}));
        assert_eq!(yuncheng["funding_status"], json!({"from": null, "to": "estimating", "changed": true}));
        let city = &r["rows"][5];
        assert_eq!(count(city, "stations.planned"), (Value::Null, Value::Null, json!(0)));
        assert_eq!(city["plan_status"]["changed"], false);
        let total = r["totals"].as_array().expect("totals").iter().find(|c| c["column"] == "points.staff").expect("col").clone();
        assert_eq!(total["change"], 350);

        // Between two snapshots, too.
        let publish = |day: &'static str| {
            let app = &app;
            async move {
                app.post("/api/v1/reports/progress/snapshots", &json!({"as_of": day, "title": "简报", "issuing_unit": "市民政局"}))
                    .await
                    .expect(201)
                    .body["id"]
                    .clone()
            }
        };
        let (a, b) = (publish("2021-03-31").await, publish("2021-06-09").await);
        let s = app.get(&format!("/api/v1/reports/progress/changes?from_snapshot={a}&to_snapshot={b}")).await.expect(200).body;
        assert_eq!(s["rows"], r["rows"]);
        assert_eq!(s["to"]["snapshot_id"], b);
        app.get("/api/v1/reports/progress/changes?from=2021-06-09&to=2021-03-31").await.expect_problem(422);
        app.get("/api/v1/reports/progress/changes").await.expect_problem(422);
    }
}

on_both_backends! {
    async fn exports_are_their_own_operations_and_name_their_files(app: TestApp) {
        app.post("/api/v1/counties", &serde_json::json!({"division_code": "445302", "name": "云城区", "kind": "district"})).await.expect(201);
        let csv = app.get("/api/v1/reports/progress/export?format=csv&as_of=2021-06-09&title=%E6%B5%8B%E8%AF%95%E8%A1%A8").await.expect(200);
        assert!(csv.header("content-type").is_some_and(|c| c.starts_with("text/csv")));
        let disposition = csv.header("content-disposition").expect("Content-Disposition");
        assert!(disposition.starts_with("attachment; filename=\"progress-2021-06-09.csv\""), "{disposition}");
        assert!(disposition.contains("filename*=UTF-8''%E6%B5%8B%E8%AF%95%E8%A1%A8-2021-06-09.csv"), "{disposition}");
        // The JSON operation still honours ?format= for older callers, with the same bytes.
        let kept = app.get("/api/v1/reports/progress?format=csv&as_of=2021-06-09&title=%E6%B5%8B%E8%AF%95%E8%A1%A8").await.expect(200);
        assert_eq!(kept.raw, csv.raw);
        let xlsx = app.get("/api/v1/reports/progress/export?format=xlsx&as_of=2021-06-09").await.expect(200);
        assert!(xlsx.raw.starts_with(b"PK"), "an XLSX is a zip");
        app.get("/api/v1/reports/progress/export?as_of=2021-06-09").await.expect_problem(400);

        let snap = app.post("/api/v1/reports/progress/snapshots", &serde_json::json!({"as_of": "2021-06-09", "title": "云浮市一览表", "issuing_unit": "云浮市民政局"})).await.expect(201);
        let id = snap.body["id"].as_i64().expect("id");
        let file = app.get(&format!("/api/v1/reports/progress/snapshots/{id}/export?format=csv")).await.expect(200);
        assert!(file.header("content-disposition").is_some_and(|d| d.contains(&format!("progress-2021-06-09-snapshot-{id}.csv"))));
        let text = String::from_utf8(file.raw).expect("utf-8");
        assert!(text.contains("云浮市一览表") && text.contains("云浮市民政局"));
        app.get("/api/v1/reports/progress/snapshots/999/export?format=csv").await.expect_problem(404);
    }
}
