//! `shuangbai demo`: fills an empty database with the seed (Yunfu, 2021) through the API itself,
//! in-process, so every record passes the same validation, rights and write path as a county's.
//!
//! The seed's table (`demo/progress-2021-06-09.csv`, a copy of `shared/seed/`) says how many
//! sites, staff and trainings each county had on 2021-06-09 and what its plan and funding cells
//! said; `demo/towns.csv` names the 63 towns. From those the loader makes individual records with
//! business dates spread over 2021, so the table computed as of 2021-06-09 gives back the seed,
//! and other dates give other, hand-checkable figures:
//!
//! | fact | date |
//! |---|---|
//! | every site planned | 2021-01-15 |
//! | first half of each county's stations with premises (rounded down) get premises | 2021-03-10 |
//! | the other stations with premises, and all points with premises | 2021-04-20 |
//! | equipment checks of sites with premises | 2021-04-25 |
//! | staff posted | 2021-04-26 |
//! | sites completed | 2021-05-20 |
//! | coordination mechanism set up (where 是) / management mechanism (where 是) | 2021-03-20 / 2021-05-01 |
//! | plan: drafting, then issued / approved (with the seed's note) | 2021-01-10, then 2021-04-15 / 2021-05-25; the city level issued 2021-03-01 |
//! | funding request made (estimating), consulting, submitted | 2021-04-01, 2021-05-10, 2021-05-28 |
//! | trainings held | 2021-04-10, then 2021-05-15 |
//! | after the seed's date: one more station completed per county where one is left | 2021-09-30 |
//! | one point worker of 罗定市 leaves | 2021-08-31 |
//! | 云城区's plan issued | 2021-07-01 |
//! | 郁南县's request approved, 150万元 | 2021-11-15 |
//! | one more training per county and the city level | 2021-10-20 |
//!
//! Town codes, village names and people are invented and plainly illustrative (示例村, 示例社工).

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::test::{self, TestRequest};
use actix_web::web;
use serde_json::{json, Value};

use crate::db::{self, accounts};
use crate::domain::auth::Role;
use crate::domain::random_token;
use crate::metrics::Metrics;
use crate::service::accounts::{create_user, NewAccount};
use crate::startup::build_app;
use crate::state::AppState;

const SEED_TABLE: &str = include_str!("../demo/progress-2021-06-09.csv");
const SEED_TOWNS: &str = include_str!("../demo/towns.csv");
/// Guangdong's 21 cities with their codes and province (a copy of `shared/seed/cities.csv`).
const SEED_CITIES: &str = include_str!("../demo/cities.csv");

/// One county's row of the seed table.
#[derive(Debug, Clone)]
struct SeedRow {
    name: String,
    code: String,
    plan: String,
    stations: Option<[i64; 3]>,
    station_equipment: String,
    station_staff: i64,
    points: Option<[i64; 3]>,
    point_equipment: String,
    point_staff: i64,
    coordination: bool,
    management: bool,
    funding: String,
    trainings: i64,
}

fn number(s: &str) -> Result<i64, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("seed: {s:?} is not a number"))
}

fn seed_rows() -> Result<Vec<SeedRow>, String> {
    let mut rows = Vec::new();
    for line in SEED_TABLE.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 17 {
            return Err(format!("seed: expected 17 fields in {line:?}"));
        }
        if f[0] == "合计" {
            continue;
        }
        let triple = |a: &str, b: &str, c: &str| -> Result<Option<[i64; 3]>, String> {
            if a.is_empty() {
                return Ok(None);
            }
            Ok(Some([number(a)?, number(b)?, number(c)?]))
        };
        rows.push(SeedRow {
            name: f[0].into(),
            code: f[1].into(),
            plan: f[2].into(),
            stations: triple(f[3], f[4], f[5])?,
            station_equipment: f[6].into(),
            station_staff: if f[7].is_empty() { 0 } else { number(f[7])? },
            points: triple(f[8], f[9], f[10])?,
            point_equipment: f[11].into(),
            point_staff: if f[12].is_empty() { 0 } else { number(f[12])? },
            coordination: f[13] == "是",
            management: f[14] == "是",
            funding: f[15].into(),
            trainings: number(f[16])?,
        });
    }
    Ok(rows)
}

fn kind_of(row: &SeedRow) -> &'static str {
    if row.code.ends_with("00") {
        "city_level"
    } else if row.name.ends_with('区') {
        "district"
    } else if row.name.ends_with('市') {
        "county_city"
    } else {
        "county"
    }
}

/// The seed's funding sentence → the stage it describes and the amount it names, in fen.
fn funding_stage(cell: &str) -> (&'static str, Option<i64>) {
    let stage = if cell.contains("征求") {
        "consulting"
    } else if cell.contains("已报") || cell.contains("已申请") {
        "submitted"
    } else {
        "estimating"
    };
    (stage, wan_to_fen(cell))
}

/// "179.4万元" → 179,400,000 fen, exactly (万元 = 10,000 元 = 1,000,000 fen).
fn wan_to_fen(text: &str) -> Option<i64> {
    let end = text.find("万元")?;
    let digits: String = text[..end]
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let (whole, frac) = digits.split_once('.').unwrap_or((&digits, ""));
    if frac.len() > 6 {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac_fen: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").parse().ok()?
    };
    Some(whole * 1_000_000 + frac_fen)
}

/// The seed's plan cell → a stage and, unless it is the stage's own label, its note.
fn plan_stage(cell: &str) -> (&'static str, Option<String>) {
    if cell == "已出台" {
        ("issued", None)
    } else if cell.contains("同意") {
        ("approved", Some(cell.to_string()))
    } else {
        ("drafting", Some(cell.to_string()))
    }
}

/// Sends requests to the app in-process, as the demo's administrator.
struct Api<S> {
    app: S,
    token: String,
}

impl<S, B> Api<S>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    async fn call(
        &self,
        method: Method,
        uri: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Result<(Value, Option<String>), String> {
        let mut req = TestRequest::default()
            .method(method.clone())
            .uri(uri)
            .insert_header((header::AUTHORIZATION, format!("Bearer {}", self.token)));
        if let Some(tag) = if_match {
            req = req.insert_header((header::IF_MATCH, tag.to_string()));
        }
        if let Some(b) = &body {
            req = req.set_json(b);
        }
        let res = test::call_service(&self.app, req.to_request()).await;
        let status = res.status();
        let etag = res
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = test::read_body(res).await;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            Ok((value, etag))
        } else {
            Err(format!("{method} {uri} answered {status}: {value}"))
        }
    }

    async fn post(&self, uri: &str, body: Value) -> Result<Value, String> {
        self.call(Method::POST, uri, Some(body), None)
            .await
            .map(|(v, _)| v)
    }

    async fn patch(&self, uri: &str, body: Value) -> Result<Value, String> {
        let (_, etag) = self.call(Method::GET, uri, None, None).await?;
        let tag = etag.ok_or_else(|| format!("{uri} sent no ETag"))?;
        self.call(Method::PATCH, uri, Some(body), Some(&tag))
            .await
            .map(|(v, _)| v)
    }
}

fn id(v: &Value) -> Result<i64, String> {
    v["id"].as_i64().ok_or_else(|| format!("no id in {v}"))
}

/// What the demo made.
#[derive(Debug, Default)]
pub struct Summary {
    pub counties: usize,
    /// Of them, the province demo's illustrative rows.
    pub illustrative: usize,
    pub towns: usize,
    pub sites: usize,
    pub staff: usize,
}

/// How much the demo loads: the seed's city, or after it the rest of its province.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extent {
    City,
    Province,
}

/// Loads the seed into an empty database. Refuses a database that already has counties.
pub async fn load(state: AppState) -> Result<Summary, String> {
    load_extent(state, Extent::City).await
}

/// Loads the seed, and with [`Extent::Province`] then the province's other cities
/// (illustrative figures, marked 示例).
pub async fn load_extent(state: AppState, extent: Extent) -> Result<Summary, String> {
    let existing = db::run(&state.pool, |conn| {
        use diesel::prelude::*;
        Ok(db::schema::counties::table
            .count()
            .get_result::<i64>(conn)?)
    })
    .await
    .map_err(|e| e.to_string())?;
    if existing > 0 {
        return Err(format!(
            "the database already has {existing} counties; the demo loads only into an empty one"
        ));
    }
    // The demo acts as an administrator of its own, deactivated when it is done.
    let username = format!(
        "demo.loader.{}",
        random_token(6).to_lowercase().replace(['-', '_'], "x")
    );
    let user = {
        let name = username.clone();
        db::run(&state.pool, move |conn| {
            db::write_transaction(conn, |c| {
                create_user(
                    c,
                    NewAccount {
                        username: name,
                        display_name: "演示数据导入".into(),
                        role: Role::Admin,
                        county_id: None,
                        city_id: None,
                        password: random_token(32),
                        phone: None,
                    },
                )
            })
        })
        .await
        .map_err(|e| e.to_string())?
    };
    // A session of its own, as a login makes: access tokens name theirs.
    let session = {
        let at = crate::clock::now();
        let session = accounts::SessionRow {
            id: random_token(22),
            user_id: user.id,
            started_at: at,
            expires_at: at + chrono::Duration::days(1),
            revoked_at: None,
        };
        let row = session.clone();
        db::run(&state.pool, move |conn| {
            Ok(accounts::insert_session(conn, &row)?)
        })
        .await
        .map_err(|e| e.to_string())?;
        session
    };
    let token = state.tokens.issue(
        format!("user:{}", user.id),
        Role::Admin,
        None,
        user.auth_version,
        Some(session.id),
    )?;
    let app = test::init_service(build_app(
        state.clone(),
        web::Data::new(Metrics::default()),
        false,
    ))
    .await;
    let api = Api { app, token };
    let mut summary = load_seed(&api).await;
    if extent == Extent::Province {
        if let Ok(s) = summary.as_mut() {
            load_province(&api, s).await?;
        }
    }
    api.patch(
        &format!("/api/v1/users/{}", user.id),
        json!({"active": false}),
    )
    .await?;
    summary
}

async fn load_seed<S, B>(api: &Api<S>) -> Result<Summary, String>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut summary = Summary::default();
    let towns: Vec<(String, String, String)> = SEED_TOWNS
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.len() == 3).then(|| (f[0].to_string(), f[1].to_string(), f[2].to_string()))
        })
        .collect();
    let mut person_no = 0;
    for row in seed_rows()? {
        let kind = kind_of(&row);
        let county = api
            .post(
                "/api/v1/counties",
                json!({
                    "division_code": row.code,
                    "name": row.name,
                    "kind": kind,
                    "plan_status": {"stage": "drafting", "effective_on": "2021-01-10"},
                    "coordination_established_on": row.coordination.then_some("2021-03-20"),
                    "management_established_on": row.management.then_some("2021-05-01"),
                }),
            )
            .await?;
        let county_id = id(&county)?;
        summary.counties += 1;
        let plan_uri = format!("/api/v1/counties/{county_id}/plan-status-changes");
        let (stage, note) = plan_stage(&row.plan);
        let plan_date = match (kind, stage) {
            ("city_level", _) => "2021-03-01",
            (_, "issued") => "2021-04-15",
            _ => "2021-05-25",
        };
        api.post(
            &plan_uri,
            json!({"stage": stage, "effective_on": plan_date, "note": note}),
        )
        .await?;

        // Trainings: the seed's count by its date, then one more in October.
        for n in 0..row.trainings {
            let (held, kind) = if n == 0 {
                ("2021-04-10", "pre_job")
            } else {
                ("2021-05-15", "professional")
            };
            api.post(
                "/api/v1/trainings",
                json!({"county_id": county_id, "kind": kind, "title": format!("社工业务培训（示例）{}", n + 1), "held_on": held, "ref": format!("TR-{}", n + 1)}),
            )
            .await?;
        }
        api.post(
            "/api/v1/trainings",
            json!({"county_id": county_id, "kind": "professional", "title": "社工专业培训（示例）", "held_on": "2021-10-20", "ref": "TR-H2"}),
        )
        .await?;

        // Funding: the request's stages up to what the seed's sentence describes.
        let (target, amount) = funding_stage(&row.funding);
        let request = api
            .post(
                "/api/v1/funding-requests",
                json!({
                    "county_id": county_id,
                    "fiscal_year": 2021,
                    "title": "2021年社工站（点）运营经费",
                    "effective_on": "2021-04-01",
                    "note": (target == "estimating").then_some(row.funding.clone()),
                    "ref": "FR-2021",
                }),
            )
            .await?;
        let transitions = format!("/api/v1/funding-requests/{}/transitions", id(&request)?);
        if target == "consulting" {
            api.post(
                &transitions,
                json!({"action": "consult", "effective_on": "2021-05-10", "note": row.funding}),
            )
            .await?;
        }
        if target == "submitted" {
            api.post(&transitions, json!({"action": "submit", "effective_on": "2021-05-28", "note": row.funding, "requested_fen": amount}))
                .await?;
            if row.code == "445322" {
                api.post(&transitions, json!({"action": "approve", "effective_on": "2021-11-15", "note": "县政府已批复150万元。", "approved_fen": 150_000_000}))
                    .await?;
            }
        }
        if row.code == "445302" {
            api.post(
                &plan_uri,
                json!({"stage": "issued", "effective_on": "2021-07-01"}),
            )
            .await?;
        }

        let (Some(st), Some(pt)) = (row.stations, row.points) else {
            continue; // The city level has no towns or sites.
        };
        let county_towns: Vec<&(String, String, String)> =
            towns.iter().filter(|t| t.0 == row.code).collect();
        if county_towns.len() as i64 != st[0] {
            return Err(format!(
                "seed: {} plans {} stations but has {} towns",
                row.name,
                st[0],
                county_towns.len()
            ));
        }
        let mut town_ids = Vec::new();
        for (n, (_, name, town_kind)) in county_towns.iter().enumerate() {
            let kind = if town_kind == "street" {
                "street"
            } else {
                "town"
            };
            let t = api
                .post(
                    "/api/v1/towns",
                    json!({"county_id": county_id, "name": name, "code": format!("{}{:03}", row.code, 101 + n), "kind": kind}),
                )
                .await?;
            town_ids.push((id(&t)?, name.clone()));
            summary.towns += 1;
        }

        // Stations: one per town; premises for the first st[2], completed for the first st[1].
        let early = st[2] / 2;
        let mut stations = Vec::new();
        for (n, (town_id, town_name)) in town_ids.iter().enumerate() {
            let n = n as i64;
            let premises = (n < st[2]).then_some(if n < early {
                "2021-03-10"
            } else {
                "2021-04-20"
            });
            let s = api
                .post(
                    "/api/v1/stations",
                    json!({
                        "kind": "station", "town_id": town_id, "name": format!("{town_name}社工站"),
                        "ref": format!("ST-{:02}", n + 1), "planned_on": "2021-01-15",
                        "premises_secured_on": premises,
                        "completed_on": (n < st[1]).then_some("2021-05-20"),
                    }),
                )
                .await?;
            stations.push((id(&s)?, *town_id, premises.is_some()));
            summary.sites += 1;
        }
        // Points, spread over the towns, each under its town's station.
        let mut points = Vec::new();
        for n in 0..pt[0] {
            let (station_id, town_id, _) = stations[(n as usize) % stations.len()];
            let village = format!("示例村{}", n + 1);
            let p = api
                .post(
                    "/api/v1/stations",
                    json!({
                        "kind": "point", "town_id": town_id, "station_id": station_id,
                        "village": village, "name": format!("{village}社工点"),
                        "ref": format!("PT-{:03}", n + 1), "planned_on": "2021-01-15",
                        "premises_secured_on": (n < pt[2]).then_some("2021-04-20"),
                        "completed_on": (n < pt[1]).then_some("2021-05-20"),
                    }),
                )
                .await?;
            points.push((id(&p)?, n < pt[2]));
            summary.sites += 1;
        }
        // Equipment: the seed's worst level, reached by one site; the others basic (7 items).
        for (sites, label) in [
            (
                stations.iter().map(|s| (s.0, s.2)).collect::<Vec<_>>(),
                &row.station_equipment,
            ),
            (points.clone(), &row.point_equipment),
        ] {
            let with_premises: Vec<i64> = sites.iter().filter(|s| s.1).map(|s| s.0).collect();
            for (n, site) in with_premises.iter().enumerate() {
                let items = match (label.as_str(), n) {
                    ("全部配备", _) => 8,
                    ("未配备齐全", 0) => 4,
                    ("基本配备", 0) if with_premises.len() > 1 => 8,
                    _ => 7,
                };
                api.post(
                    &format!("/api/v1/stations/{site}/equipment-checks"),
                    json!({"checked_on": "2021-04-25", "items": &crate::domain::site::EquipmentItem::ALL[..items]}),
                )
                .await?;
            }
        }
        // Staff: stations' over the stations with premises, points' over all points.
        let staffed_stations: Vec<i64> = {
            let with: Vec<i64> = stations.iter().filter(|s| s.2).map(|s| s.0).collect();
            if with.is_empty() {
                stations.iter().map(|s| s.0).collect()
            } else {
                with
            }
        };
        let point_ids: Vec<i64> = points.iter().map(|p| p.0).collect();
        let mut first_point_worker = None;
        for (count, sites, at_points) in [
            (row.station_staff, &staffed_stations, false),
            (row.point_staff, &point_ids, true),
        ] {
            for n in 0..count {
                if sites.is_empty() {
                    return Err(format!("seed: {} has staff but no sites", row.name));
                }
                person_no += 1;
                let person = api
                    .post(
                        "/api/v1/staff",
                        json!({
                            "county_id": county_id, "name": format!("示例社工{person_no}"),
                            "gender": if person_no % 3 == 0 { "male" } else { "female" },
                            "certification": if person_no % 4 == 0 { "social_worker" } else if person_no % 2 == 0 { "assistant_social_worker" } else { "none" },
                            "hired_via": "public_exam", "ref": format!("SW-{person_no:04}"),
                        }),
                    )
                    .await?;
                let person_id = id(&person)?;
                let posting = api
                    .post(
                        &format!("/api/v1/staff/{person_id}/postings"),
                        json!({"station_id": sites[(n as usize) % sites.len()], "role": "social_worker", "from": "2021-04-26"}),
                    )
                    .await?;
                if at_points && first_point_worker.is_none() {
                    first_point_worker = Some((person_id, id(&posting)?));
                }
                summary.staff += 1;
            }
        }
        // After the seed's date.
        if let Some(next) = stations.get(st[1] as usize).filter(|s| s.2) {
            api.patch(
                &format!("/api/v1/stations/{}", next.0),
                json!({"completed_on": "2021-09-30"}),
            )
            .await?;
        }
        if row.code == "445381" {
            if let Some((person, posting)) = first_point_worker {
                let (_, etag) = api
                    .call(Method::GET, &format!("/api/v1/staff/{person}"), None, None)
                    .await?;
                api.call(
                    Method::PATCH,
                    &format!("/api/v1/staff/{person}/postings/{posting}"),
                    Some(json!({"to": "2021-08-31"})),
                    etag.as_deref(),
                )
                .await?;
            }
        }
        // Progress, one line per county (the access log is off for these internal requests).
        eprintln!(
            "demo: {} loaded ({} towns, {} sites, {} social workers so far)",
            row.name, summary.towns, summary.sites, summary.staff
        );
    }
    name_the_city(api).await?;
    Ok(summary)
}

/// The first county made its city and province, named by their codes: they get their names
/// from the seed's list of cities, so Yunfu is 云浮市 in 广东省 (440000), and its exports are
/// titled so (云浮市2021年…, 云浮市民政局).
async fn name_the_city<S, B>(api: &Api<S>) -> Result<(), String>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (cities, _) = api.call(Method::GET, "/api/v1/cities", None, None).await?;
    for city in cities["items"].as_array().into_iter().flatten() {
        let code = city["division_code"].as_str().unwrap_or_default();
        let Some(line) = SEED_CITIES
            .lines()
            .find(|l| l.starts_with(&format!("{code},")))
        else {
            continue;
        };
        let f: Vec<&str> = line.split(',').collect();
        let (name, province_name) = (f[1], f[3]);
        api.patch(
            &format!("/api/v1/cities/{}", id(city)?),
            json!({"name": name}),
        )
        .await?;
        let province = city["province_id"]
            .as_i64()
            .ok_or("a city without province")?;
        api.patch(
            &format!("/api/v1/provinces/{province}"),
            json!({"name": province_name}),
        )
        .await?;
    }
    Ok(())
}

/// The province's other cities (`demo/cities.csv`), each with illustrative counties (示例),
/// towns, a station and a point per town, social workers, a funding request and a training,
/// through the county batch: figures for front-ends to show a province, not facts. A city
/// without counties (东莞, 中山) gets its towns on its one row.
async fn load_province<S, B>(api: &Api<S>, summary: &mut Summary) -> Result<(), String>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (existing, _) = api
        .call(Method::GET, "/api/v1/cities?limit=100", None, None)
        .await?;
    let made: Vec<&str> = existing["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["division_code"].as_str())
        .collect();
    let seed_cities: Vec<Vec<&str>> = SEED_CITIES
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<&str>>())
        .filter(|f| f.len() == 5 && !made.contains(&f[0]))
        .collect();
    // The province made from the seed's first county has no level row of its own yet.
    let (levels, _) = api
        .call(
            Method::GET,
            "/api/v1/counties?kind=province_level",
            None,
            None,
        )
        .await?;
    if levels["total"] == 0 {
        api.post(
            "/api/v1/counties",
            json!({"division_code": "440000", "name": "省本级", "kind": "province_level"}),
        )
        .await?;
    }
    for (n, f) in seed_cities.iter().enumerate() {
        let (code, name, has_counties) = (f[0], f[1], f[4] == "yes");
        let city = api
            .post(
                "/api/v1/cities",
                json!({"division_code": code, "name": name, "has_counties": has_counties}),
            )
            .await?;
        let mut rows: Vec<(i64, String)> = Vec::new();
        if has_counties {
            for (k, (suffix, kind)) in [("02", "district"), ("21", "county")].iter().enumerate() {
                let county_code = format!("{}{suffix}", &code[..4]);
                let county = api
                    .post(
                        "/api/v1/counties",
                        json!({"division_code": county_code, "name": format!("{name}示例{}", ["区", "县"][k]), "kind": kind}),
                    )
                    .await?;
                rows.push((id(&county)?, county_code));
            }
        } else {
            let (own, _) = api
                .call(
                    Method::GET,
                    &format!("/api/v1/counties?city_id={}", id(&city)?),
                    None,
                    None,
                )
                .await?;
            rows.push((id(&own["items"][0])?, code.to_string()));
        }
        for (k, (county, county_code)) in rows.iter().enumerate() {
            let i = n * 2 + k;
            let batch = illustrative_county(county_code, i);
            api.post(&format!("/api/v1/counties/{county}/updates"), batch)
                .await?;
            summary.counties += 1;
            summary.illustrative += 1;
            summary.towns += 3;
            summary.sites += 6;
            summary.staff += 4;
        }
        eprintln!("demo: {name} loaded (illustrative)");
    }
    Ok(())
}

/// One illustrative county's batch, varied by its index `i`: three towns, each with a station
/// and a point, some with premises, equipment and completion; four workers; its plan; a
/// funding request; a training.
fn illustrative_county(code: &str, i: usize) -> Value {
    let items: Vec<&str> = crate::domain::site::EquipmentItem::ALL
        .iter()
        .map(|i| i.as_str())
        .collect();
    let towns: Vec<Value> = (1..=3)
        .map(|t| json!({"code": format!("{code}{:03}", 100 + t), "name": format!("示例镇{t}"), "kind": "town"}))
        .collect();
    let mut sites = Vec::new();
    for t in 1..=3usize {
        let town = format!("{code}{:03}", 100 + t);
        let premises = (i + t) % 4 != 0;
        let checked = items.len() - (i + t) % 3;
        let station = json!({
            "kind": "station", "town_code": town, "name": format!("示例镇{t}社工站"), "ref": format!("ST-{t}"),
            "planned_on": "2021-01-15",
            "premises_secured_on": premises.then_some("2021-03-10"),
            "completed_on": (premises && (i + t) % 2 == 0).then_some("2021-05-20"),
            "equipment_checks": if premises { json!([{"checked_on": "2021-04-25", "items": items[..checked]}]) } else { json!([]) },
        });
        sites.push(station);
        sites.push(json!({
            "kind": "point", "town_code": town, "station_ref": format!("ST-{t}"), "village": format!("示例村{t}"),
            "name": format!("示例村{t}社工点"), "ref": format!("PT-{t}"), "planned_on": "2021-01-15",
            "premises_secured_on": (t != 3).then_some("2021-04-20"),
        }));
    }
    let staff: Vec<Value> = (1..=4usize)
        .map(|p| {
            let at = if p <= 3 { format!("ST-{p}") } else { "PT-1".to_string() };
            json!({"name": format!("示例社工{p}"), "gender": if p % 2 == 0 { "male" } else { "female" },
                   "certification": if p == 1 { "social_worker" } else { "none" }, "hired_via": "public_exam",
                   "ref": format!("SW-{p}"),
                   "postings": [{"station_ref": at, "role": "social_worker", "from": "2021-04-26"}]})
        })
        .collect();
    let (stage, stage_on) = match i % 3 {
        0 => ("issued", "2021-04-15"),
        1 => ("approved", "2021-05-25"),
        _ => ("drafting", "2021-01-10"),
    };
    let mut transitions = vec![json!({"action": "consult", "effective_on": "2021-05-10"})];
    if i % 2 == 0 {
        transitions.push(json!({"action": "submit", "effective_on": "2021-05-28"}));
    }
    json!({
        "county": {
            "plan_status": {"stage": stage, "effective_on": stage_on},
            "coordination_established_on": (i % 4 != 3).then_some("2021-03-20"),
            "management_established_on": (i % 3 == 0).then_some("2021-05-01"),
        },
        "towns": towns,
        "sites": sites,
        "staff": staff,
        "trainings": [{"kind": "pre_job", "title": "示例岗前培训", "held_on": "2021-04-10", "ref": "TR-1"}],
        "funding_requests": [{"fiscal_year": 2021, "title": "2021年社工站建设运营经费（示例）",
                              "requested_fen": 100_000_000 + (i as i64) * 1_000_000, "ref": "FR-2021",
                              "effective_on": "2021-04-01", "transitions": transitions}],
    })
}

/// For `shuangbai demo`: prints what it did.
pub fn describe(s: &Summary) -> String {
    let place = if s.illustrative == 0 {
        format!(
            "{} counties and the city level",
            s.counties.saturating_sub(1)
        )
    } else {
        format!(
            "{} counties and the city level, then {} illustrative county-level rows",
            s.counties.saturating_sub(1 + s.illustrative),
            s.illustrative
        )
    };
    format!(
        "demo loaded: {place}, {} towns, {} stations and points, {} social workers",
        s.towns, s.sites, s.staff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_parses_into_six_rows() {
        let rows = seed_rows().expect("seed");
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[0].name, "云城区");
        assert_eq!(kind_of(&rows[0]), "district");
        assert_eq!(kind_of(&rows[2]), "county_city");
        assert_eq!(kind_of(&rows[3]), "county");
        assert_eq!(kind_of(&rows[5]), "city_level");
    }

    #[test]
    fn amounts_in_wan_yuan_become_exact_fen() {
        assert_eq!(
            wan_to_fen("测算经费约179.4万元，已报县政府审批。"),
            Some(179_400_000)
        );
        assert_eq!(
            wan_to_fen("已申请，2021年市级预计共需经费355.135万元。"),
            Some(355_135_000)
        );
        assert_eq!(wan_to_fen("正在测算费用，拟报区政府。"), None);
    }

    #[test]
    fn seed_cells_map_to_stages() {
        assert_eq!(plan_stage("已出台"), ("issued", None));
        assert_eq!(plan_stage("区政府已同意，正在会签").0, "approved");
        assert_eq!(funding_stage("正在测算费用，拟报区政府。").0, "estimating");
        assert_eq!(
            funding_stage("已测算出本年度费用，正在征求有关部门意见，修改完善后报县政府审批。").0,
            "consulting"
        );
        assert_eq!(
            funding_stage("测算经费约179.4万元，已报县政府审批。").0,
            "submitted"
        );
    }
}
