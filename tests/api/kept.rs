//! The kept progress table: whatever was written (backdated, corrected, deleted, ended, a county
//! moved to another city), and whichever table was asked for before, the kept answer equals the one counted from
//! scratch. Writes and tables are drawn from a seeded sequence, so a failure replays.

use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};

/// A small deterministic generator (PCG-style LCG): the sequence is the test's, not the machine's.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    /// A day of 2021.
    fn day(&mut self, from: NaiveDate) -> NaiveDate {
        from + Duration::days(self.below(120) as i64)
    }
}

/// The first `n` equipment items, as their words.
fn items(n: usize) -> Vec<&'static str> {
    shuangbai::domain::site::EquipmentItem::ALL[..n]
        .iter()
        .map(|i| i.as_str())
        .collect()
}
const TOWNS: usize = 3;

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2021, 1, 4).expect("date")
}

/// Guangdong with 云浮 (云城区, 罗定市) and 揭阳 (榕城区), each county with three towns and a
/// station in each; answers the counties' ids and codes, and the cities' ids.
async fn province(app: &TestApp) -> (Vec<(i64, String)>, Vec<i64>) {
    app.post(
        "/api/v1/provinces",
        &json!({"division_code": "440000", "name": "广东省"}),
    )
    .await
    .expect(201);
    let mut cities = Vec::new();
    for (code, name) in [("445300", "云浮市"), ("445200", "揭阳市")] {
        cities.push(
            app.post(
                "/api/v1/cities",
                &json!({"division_code": code, "name": name}),
            )
            .await
            .expect(201)
            .body["id"]
                .as_i64()
                .expect("id"),
        );
    }
    let mut counties = Vec::new();
    for (code, name, kind) in [
        ("445302", "云城区", "district"),
        ("445381", "罗定市", "county_city"),
        ("445202", "榕城区", "district"),
    ] {
        let id = app.county(code, name, kind).await;
        let towns: Vec<Value> = (0..TOWNS).map(|t| json!({"code": format!("{code}{:03}", 100 + t), "name": format!("镇{t}"), "kind": "town"})).collect();
        let sites: Vec<Value> = (0..TOWNS).map(|t| json!({"kind": "station", "town_code": format!("{code}{:03}", 100 + t), "name": format!("站{t}"), "ref": format!("S-{t}"), "planned_on": "2021-01-04"})).collect();
        app.post(
            &format!("/api/v1/counties/{id}/updates"),
            &json!({"towns": towns, "sites": sites}),
        )
        .await
        .expect(200);
        counties.push((id, code.to_string()));
    }
    (counties, cities)
}

/// What the writes made that later ones delete: trainings, and points without history.
#[derive(Default)]
struct Made {
    trainings: Vec<i64>,
    points: Vec<(i64, String)>,
}

/// Write `kind` (0 to 10: every kind the table counts), its details drawn; answers whether it
/// was taken.
async fn write(
    app: &TestApp,
    draw: &mut Draw,
    kind: usize,
    counties: &[(i64, String)],
    made: &mut Made,
) -> bool {
    let (county, code) = counties[draw.below(counties.len())].clone();
    let batch = |body: Value| {
        let path = format!("/api/v1/counties/{county}/updates");
        async move { app.post(&path, &body).await.status == 200 }
    };
    let town = draw.below(TOWNS);
    let town_code = format!("{code}{:03}", 100 + town);
    match kind {
        // A station or a point planned, given premises, completed and checked, or corrected so
        // (dates drawn anywhere in the year: backdated ones included).
        0 | 1 => {
            let planned = draw.day(start());
            let premises = draw
                .chance(70)
                .then(|| planned + Duration::days(draw.below(60) as i64));
            let completed = premises
                .filter(|_| draw.chance(50))
                .map(|p| p + Duration::days(draw.below(60) as i64));
            let mut site = json!({"town_code": town_code, "planned_on": planned, "premises_secured_on": premises, "completed_on": completed});
            if let Some(p) = premises {
                site["equipment_checks"] = json!([{"checked_on": p + Duration::days(draw.below(40) as i64), "items": items(draw.below(9))}]);
            }
            if draw.chance(50) {
                site["kind"] = json!("station");
                site["name"] = json!(format!("站{town}"));
                site["ref"] = json!(format!("S-{town}"));
            } else {
                let n = draw.below(4);
                site["kind"] = json!("point");
                site["name"] = json!(format!("点{n}"));
                site["ref"] = json!(format!("P-{town}-{n}"));
                site["station_ref"] = json!(format!("S-{town}"));
                site["village"] = json!(format!("村{n}"));
            }
            batch(json!({"sites": [site]})).await
        }
        // A social worker posted, or their posting ended.
        2 => {
            let from = draw.day(start());
            let to = draw
                .chance(40)
                .then(|| from + Duration::days(1 + draw.below(90) as i64));
            let n = draw.below(5);
            batch(json!({"staff": [{"name": format!("社工{n}"), "gender": "female", "certification": "none", "hired_via": "other",
                                     "ref": format!("W-{n}"),
                                     "postings": [{"station_ref": format!("S-{town}"), "role": "social_worker", "from": from, "to": to}]}]})).await
        }
        // A training held, or one deleted.
        3 => {
            if draw.chance(30) && !made.trainings.is_empty() {
                let id = made.trainings.remove(draw.below(made.trainings.len()));
                let path = format!("/api/v1/trainings/{id}");
                let tag = app.get(&path).await.header("etag");
                return app.delete(&path, tag.as_deref()).await.status == 204;
            }
            let r = app.post("/api/v1/trainings", &json!({"county_id": county, "kind": "pre_job", "title": "培训", "held_on": draw.day(start())})).await;
            if r.status == 201 {
                made.trainings.push(r.body["id"].as_i64().expect("id"));
            }
            r.status == 201
        }
        // The plan's stage moves on a date.
        4 => {
            let stage = ["drafting", "approved", "issued"][draw.below(3)];
            app.post(
                &format!("/api/v1/counties/{county}/plan-status-changes"),
                &json!({"stage": stage, "effective_on": draw.day(start())}),
            )
            .await
            .status
                == 201
        }
        // A funding request of 2021 or 2022, submitted, and sometimes approved.
        5 => {
            let on = draw.day(start());
            let mut transitions =
                vec![json!({"action": "submit", "effective_on": on + Duration::days(5)})];
            if draw.chance(50) {
                transitions.push(json!({"action": "approve", "effective_on": on + Duration::days(20), "approved_fen": 100_000}));
            }
            let year = 2021 + draw.below(2) as i32;
            batch(json!({"funding_requests": [{"fiscal_year": year, "title": "经费", "requested_fen": 200_000, "ref": format!("FR-{}", draw.below(3)),
                                               "effective_on": on, "transitions": transitions}]})).await
        }
        // A mechanism set up on a date, or its date cleared.
        6 => {
            let path = format!("/api/v1/counties/{county}");
            let tag = app.get(&path).await.header("etag");
            let on = draw.chance(70).then(|| draw.day(start()));
            app.patch(
                &path,
                tag.as_deref(),
                &json!({"coordination_established_on": on}),
            )
            .await
            .status
                == 200
        }
        // A point made without checks or postings, and the next time deleted.
        7 => {
            if let Some((owner, reference)) = made.points.pop() {
                let listed = app
                    .get(&format!(
                        "/api/v1/stations?county_id={owner}&kind=point&limit=200"
                    ))
                    .await
                    .body;
                let Some(point) = listed["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|p| p["ref"] == reference.as_str())
                    .cloned()
                else {
                    return false;
                };
                let path = format!("/api/v1/stations/{}", point["id"]);
                let tag = app.get(&path).await.header("etag");
                return app.delete(&path, tag.as_deref()).await.status == 204;
            }
            let reference = format!("D-{}", draw.next());
            let taken = batch(json!({"sites": [{"kind": "point", "town_code": town_code, "station_ref": format!("S-{town}"), "village": "临时村",
                                                "name": "临时点", "ref": reference, "planned_on": draw.day(start())}]})).await;
            if taken {
                made.points.push((county, reference));
            }
            taken
        }
        // A site closed.
        8 => {
            let closed = draw.day(start() + Duration::days(100));
            batch(json!({"sites": [{"kind": "station", "town_code": town_code, "name": format!("站{town}"), "ref": format!("S-{town}"),
                                    "planned_on": "2021-01-04", "closed_on": closed}]})).await
        }
        // 罗定市 moves to the other city (a new code under 揭阳, 445281) and back.
        9 => {
            let (luoding, _) = &counties[1];
            let path = format!("/api/v1/counties/{luoding}");
            let now = app.get(&path).await;
            let code = if now.body["division_code"] == "445381" {
                "445281"
            } else {
                "445381"
            };
            let tag = now.header("etag");
            app.patch(&path, tag.as_deref(), &json!({"division_code": code}))
                .await
                .status
                == 200
        }
        // The city level's own facts: a training of the city's level row.
        _ => {
            let level = app
                .get(&format!("/api/v1/counties?division_code={}00", &code[..4]))
                .await
                .body["items"][0]["id"]
                .clone();
            app.post("/api/v1/trainings", &json!({"county_id": level, "kind": "professional", "title": "市级培训", "held_on": draw.day(start())})).await.status == 201
        }
    }
}

/// A table drawn from every level, grouping, date and fiscal year: its query string and the
/// place it means.
fn table_query(
    draw: &mut Draw,
    cities: &[i64],
    province: i64,
) -> (String, Option<i64>, Option<i64>, Option<&'static str>) {
    let day = [
        "2021-02-01",
        "2021-03-31",
        "2021-06-09",
        "2021-09-30",
        "2021-12-31",
    ][draw.below(5)];
    let year = ["", "&fiscal_year=2021", "&fiscal_year=2022"][draw.below(3)];
    let (city, prov, by) = match draw.below(4) {
        0 => (Some(cities[draw.below(cities.len())]), None, None),
        1 => (None, Some(province), Some("county")),
        2 => (None, Some(province), Some("city")),
        _ => (None, None, None),
    };
    let mut q = format!("as_of={day}{year}");
    if let Some(c) = city {
        q.push_str(&format!("&city_id={c}"));
    }
    if let Some(p) = prov {
        q.push_str(&format!("&province_id={p}"));
    }
    if let Some(b) = by {
        q.push_str(&format!("&by={b}"));
    }
    (q, city, prov, by)
}

/// The same table counted from scratch, straight from the database.
fn recounted(
    app: &TestApp,
    query: &str,
    city: Option<i64>,
    province: Option<i64>,
    by: Option<&str>,
) -> Value {
    use diesel::r2d2::ManageConnection;
    use shuangbai::domain::report::RowsBy;
    let mut conn = shuangbai::db::Manager::new(app.database_url.clone(), "public")
        .connect()
        .expect("connect");
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(str::to_string)
    };
    let as_of: NaiveDate = param("as_of").expect("as_of").parse().expect("date");
    let year: i32 = param("fiscal_year").map_or(2021, |y| y.parse().expect("year"));
    let by = by.map(|b| RowsBy::parse(b).expect("by"));
    let place = shuangbai::service::tables::place(
        &mut conn,
        city.map(|c| c as i32),
        province.map(|p| p as i32),
        by,
    )
    .expect("place");
    let table = shuangbai::service::tables::recounted_table(&mut conn, &place, as_of, year)
        .expect("recounted");
    serde_json::to_value(table).expect("json")
}

async fn province_id(app: &TestApp) -> i64 {
    app.get("/api/v1/provinces").await.body["items"][0]["id"]
        .as_i64()
        .expect("province")
}

on_both_backends! {
    async fn the_kept_table_always_equals_the_table_counted_from_scratch(app: TestApp) {
        let (counties, cities) = province(&app).await;
        let guangdong = province_id(&app).await;
        let mut draw = Draw(if app.backend == Backend::Sqlite { 21 } else { 22 });
        let mut made = Made::default();
        let mut taken = [0; 11];
        for step in 0..66 {
            // Every kind at least a few times: the draw picks the rest.
            let kind = if step % 6 == 5 { (step / 6) % 11 } else { draw.below(11) };
            if write(&app, &mut draw, kind, &counties, &mut made).await {
                taken[kind] += 1;
            }
            // Each table asked twice: counted (or partly kept) the first time, kept the second.
            for _ in 0..2 {
                let (query, city, prov, by) = table_query(&mut draw, &cities, guangdong);
                for ask in ["first", "again"] {
                    let kept = app.get(&format!("/api/v1/reports/progress?{query}")).await.expect(200).body;
                    assert_eq!(kept, recounted(&app, &query, city, prov, by), "step {step}, {query}, asked {ask}");
                }
            }
        }
        assert!(taken.iter().all(|n| *n > 0), "every kind of write was taken at least once: {taken:?}");
    }
}

// Writers and readers at once on PostgreSQL: every table read while counties changed, and
// every table afterwards, equals its count from scratch once the writes are done.
#[actix_web::test]
async fn tables_read_while_counties_are_written_stay_true_to_the_records() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let (counties, cities) = province(&app).await;
    let guangdong = province_id(&app).await;
    let writers = (0..3u64).map(|w| {
        let (app, counties) = (&app, &counties);
        async move {
            let mut draw = Draw(100 + w);
            let mut made = Made::default();
            for _ in 0..15 {
                let kind = draw.below(11);
                write(app, &mut draw, kind, counties, &mut made).await;
            }
        }
    });
    let readers = (0..2u64).map(|r| {
        let (app, cities) = (&app, &cities);
        async move {
            let mut draw = Draw(200 + r);
            for _ in 0..20 {
                let (query, ..) = table_query(&mut draw, cities, guangdong);
                app.get(&format!("/api/v1/reports/progress?{query}"))
                    .await
                    .expect(200);
            }
        }
    });
    futures_util::future::join(
        futures_util::future::join_all(writers),
        futures_util::future::join_all(readers),
    )
    .await;
    let mut draw = Draw(300);
    for _ in 0..20 {
        let (query, city, prov, by) = table_query(&mut draw, &cities, guangdong);
        let kept = app
            .get(&format!("/api/v1/reports/progress?{query}"))
            .await
            .expect(200)
            .body;
        assert_eq!(kept, recounted(&app, &query, city, prov, by), "{query}");
    }
}
