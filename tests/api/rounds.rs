//! Reporting rounds: a bureau asks its counties (a province its cities) for their figures as of
//! a date, each signs its row off, the owners accept or return it, and the round's bulletin is
//! published from the accepted rows. Walked on the seed's round and on a province with two
//! cities; who may do what; the chase list and its exports.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::bulletins::xlsx_first_sheet_rows;
use crate::helpers::{TestApp, PASSWORD};
use crate::idempotency::keyed_post;
use crate::report::{as_seed_columns, assert_is_the_seeds_table, load_demo, seed_row};

/// The chase list's header row, as rounds-api.md gives it.
const CHASE_HEADER: &str =
    "序号,单位,区划代码,状态,是否逾期,逾期天数,首次报送时间,退回原因,责任人,用户名,联系电话";

fn id(v: &Value) -> i64 {
    v["id"].as_i64().expect("id")
}

/// An account made by the administrator, bound to `(field, id)` (`county_id` or `city_id`),
/// with `phone` when given; answers its access token.
async fn account(
    app: &TestApp,
    username: &str,
    role: &str,
    bound_to: (&str, i64),
    phone: Option<&str>,
) -> String {
    let mut body = json!({"username": username, "display_name": username, "role": role,
                          "password": PASSWORD, "phone": phone});
    body[bound_to.0] = json!(bound_to.1);
    let made = app.post("/api/v1/users", &body).await.expect(201);
    assert_eq!(
        made.body["phone"],
        json!(phone),
        "an administrator sees the phone it set"
    );
    app.token_for(username, PASSWORD).await
}

/// A city's counties (its level row too), by division code.
async fn counties_of(app: &TestApp, city: i64) -> HashMap<String, i64> {
    let page = app
        .get(&format!("/api/v1/counties?city_id={city}&limit=100"))
        .await
        .expect(200)
        .body;
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| {
            (
                c["division_code"].as_str().expect("code").to_string(),
                id(c),
            )
        })
        .collect()
}

/// 广东省 with 云浮市 (云城区, 云安区) and 揭阳市 (榕城区), each county with a station that has
/// premises and a training; answers the province's and the cities' ids, and the counties' by code.
async fn two_cities(app: &TestApp) -> (i64, i64, i64, HashMap<String, i64>) {
    let province = app.province("440000", "广东省").await;
    let yunfu = app.city("445300", "云浮市").await;
    let jieyang = app.city("445200", "揭阳市").await;
    let mut counties = HashMap::new();
    for (code, name) in [
        ("445302", "云城区"),
        ("445303", "云安区"),
        ("445202", "榕城区"),
    ] {
        let county = app.county(code, name, "district").await;
        let town = format!("{code}100");
        app.post(&format!("/api/v1/counties/{county}/updates"), &json!({
            "towns": [{"code": town, "name": "某镇", "kind": "town"}],
            "sites": [{"kind": "station", "town_code": town, "name": "社工站", "ref": "S-1",
                       "planned_on": "2021-01-04", "premises_secured_on": "2021-02-01"}],
            "trainings": [{"kind": "pre_job", "title": "岗前培训", "held_on": "2021-03-01", "ref": "T-1"}]
        }))
        .await
        .expect(200);
        counties.insert(code.to_string(), county);
    }
    (province, yunfu, jieyang, counties)
}

/// A round opened by `token`, checked for its Location and ETag.
async fn open_round(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app
        .post_as(token, "/api/v1/rounds", &body)
        .await
        .expect(201);
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/rounds/{}", r.body["id"]))
    );
    assert!(r.header("etag").is_some(), "a round carries its version");
    assert_eq!(r.body["state"], "open");
    r.body
}

fn city_round(city: i64, due_on: &str) -> Value {
    json!({"title": "2021年6月“双百工程”进度报送", "level": "city", "city_id": city,
           "as_of": "2021-06-09", "due_on": due_on})
}

/// The round's participants, in their order.
async fn participants(app: &TestApp, token: &str, round: i64) -> Vec<Value> {
    app.get_as(
        token,
        &format!("/api/v1/rounds/{round}/participants?limit=100"),
    )
    .await
    .expect(200)
    .body["items"]
        .as_array()
        .expect("items")
        .clone()
}

/// The entry of division `code` in a list of participants (or a completeness's).
fn of<'a>(list: &'a [Value], code: &str) -> &'a Value {
    list.iter()
        .find(|p| p["division_code"] == code)
        .unwrap_or_else(|| panic!("no participant {code}"))
}

fn pid(list: &[Value], code: &str) -> i64 {
    of(list, code)["participant_id"]
        .as_i64()
        .expect("participant_id")
}

fn codes(list: &[Value]) -> Vec<&str> {
    list.iter()
        .map(|p| p["division_code"].as_str().expect("code"))
        .collect()
}

fn submissions(round: i64, participant: i64) -> String {
    format!("/api/v1/rounds/{round}/participants/{participant}/submissions")
}

async fn submit(app: &TestApp, token: &str, round: i64, participant: i64) -> crate::helpers::Resp {
    app.post_as(
        token,
        &submissions(round, participant),
        &json!({"note": "已核对"}),
    )
    .await
}

/// `accept` or `return` on a participant.
fn review(round: i64, participant: i64, action: &str) -> String {
    format!("/api/v1/rounds/{round}/participants/{participant}/{action}")
}

async fn completeness(app: &TestApp, token: &str, round: i64) -> Value {
    app.get_as(token, &format!("/api/v1/rounds/{round}/completeness"))
        .await
        .expect(200)
        .body
}

fn chased(c: &Value) -> &[Value] {
    c["participants"].as_array().expect("participants")
}

/// The counts and the rates as one line: expected, submitted, on time, accepted | the rates.
fn tally(c: &Value) -> String {
    let n = |k: &str| c[k].as_i64().unwrap_or_else(|| panic!("{k}: {c}"));
    let rate = |k: &str| format!("{:.1}", c[k].as_f64().unwrap_or_else(|| panic!("{k}: {c}")));
    format!(
        "{} {} {} {} | {} {} {}",
        n("expected"),
        n("submitted"),
        n("on_time"),
        n("accepted"),
        rate("submitted_rate"),
        rate("on_time_rate"),
        rate("accepted_rate")
    )
}

/// Each participant's name and state, in order.
fn states(c: &Value) -> Vec<String> {
    chased(c)
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().expect("name"),
                p["state"].as_str().expect("state")
            )
        })
        .collect()
}

/// The phones shown for a participant's responsible people.
fn phones(c: &Value, code: &str) -> Vec<Value> {
    of(chased(c), code)["responsible"]
        .as_array()
        .expect("responsible")
        .iter()
        .map(|r| r["phone"].clone())
        .collect()
}

/// A CSV's lines as cells (the BOM dropped, quotes around a cell removed).
fn csv_grid(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
    text.trim_start_matches('\u{feff}')
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split(',')
                .map(|c| c.trim_matches('"').to_string())
                .collect()
        })
        .collect()
}

/// A chase list's participant rows: after its title (in the first row) and the header row,
/// every other line (empty lines left out).
fn chase_rows<'a>(grid: &'a [Vec<String>], title: &str) -> Vec<&'a Vec<String>> {
    assert!(grid[0][0].contains(title), "titled: {:?}", grid[0]);
    let header = grid
        .iter()
        .position(|r| r.join(",") == CHASE_HEADER)
        .unwrap_or_else(|| panic!("no header row: {grid:?}"));
    assert!(header >= 1, "a title row first");
    grid[header + 1..]
        .iter()
        .filter(|r| r.iter().any(|c| !c.is_empty()))
        .collect()
}

on_both_backends! {
    async fn the_seeds_round_is_signed_off_returned_made_stale_and_current_again_and_published_as_the_seeds_table(app: TestApp) {
        load_demo(&app).await;
        let yunfu = id(&app.get("/api/v1/cities").await.expect(200).body["items"][0]);
        let county = counties_of(&app, yunfu).await;
        let five = ["445302", "445303", "445381", "445321", "445322"];
        let mut officer = HashMap::new();
        for code in five {
            officer.insert(code, app.user_token(&format!("officer.{code}"), "county_officer", Some(county[code])).await);
        }
        let city_admin = account(&app, "yunfu.admin", "city_admin", ("city_id", yunfu), None).await;

        // The city's administrator opens the round as of the seed's date, its deadline far off
        // for now; the city's five counties and its own level are asked, in the table's order.
        let round = open_round(&app, &city_admin, city_round(yunfu, "2099-01-01")).await;
        assert_eq!((round["level"].as_str(), round["city_id"].as_i64()), (Some("city"), Some(yunfu)));
        assert_eq!(round["fiscal_year"], 2021, "the year of as_of");
        assert_eq!(round["issuing_unit"], "云浮市民政局");
        assert_eq!(round["participants"], 6);
        assert_eq!(round["snapshot_id"], Value::Null);
        let rid = id(&round);
        let parts = participants(&app, &city_admin, rid).await;
        assert_eq!(codes(&parts), vec!["445302", "445303", "445381", "445321", "445322", "445300"]);
        let kinds: Vec<&str> = parts.iter().map(|p| p["kind"].as_str().expect("kind")).collect();
        assert_eq!(kinds, vec!["county", "county", "county", "county", "county", "level"]);
        let c = completeness(&app, &city_admin, rid).await;
        assert_eq!((c["as_of"].as_str(), c["due_on"].as_str()), (Some("2021-06-09"), Some("2099-01-01")));
        assert_eq!(tally(&c), "6 0 0 0 | 0.0 0.0 0.0");
        assert!(states(&c).iter().all(|s| s.ends_with(" not_submitted")), "{:?}", states(&c));

        // Four counties sign off in time, each freezing its seed row; the city signs off its own
        // level, which needs nobody's review.
        for code in &five[..4] {
            let s = submit(&app, &officer[code], rid, pid(&parts, code)).await.expect(201).body;
            assert_eq!(s["late"], false);
            assert_eq!(s["participant_id"], pid(&parts, code));
            assert!(s["submitted_by"].as_str().expect("by").starts_with("user:"));
            assert_eq!(as_seed_columns(&s["row"]), seed_row(code));
        }
        let own = submit(&app, &city_admin, rid, pid(&parts, "445300")).await.expect(201).body;
        assert_eq!(own["self_certified"], true);
        assert_eq!(as_seed_columns(&own["row"]), seed_row("445300"));
        let c = completeness(&app, &city_admin, rid).await;
        assert_eq!(tally(&c), "6 5 5 1 | 83.3 83.3 16.7");
        assert_eq!(states(&c), vec!["云城区 submitted", "云安区 submitted", "罗定市 submitted", "新兴县 submitted", "郁南县 not_submitted", "市本级 accepted"]);

        // The deadline moves to a day long past: 郁南县's first submission is late, judged when it
        // is made; the earlier ones stay on time.
        let path = format!("/api/v1/rounds/{rid}");
        let tag = app.get(&path).await.expect(200).header("etag").expect("etag");
        let moved = app.patch_as(&city_admin, &path, Some(&tag), &json!({"due_on": "2021-06-15"})).await.expect(200).body;
        assert_eq!(moved["due_on"], "2021-06-15");
        let late = submit(&app, &officer["445322"], rid, pid(&parts, "445322")).await.expect(201).body;
        assert_eq!(late["late"], true);
        let c = completeness(&app, &city_admin, rid).await;
        assert_eq!(tally(&c), "6 6 5 1 | 100.0 83.3 16.7");
        let yunnan = of(chased(&c), "445322");
        assert_eq!(yunnan["late"], true);
        assert!(yunnan["days_overdue"].as_i64().expect("days") > 0, "{yunnan}");
        for code in &five[..4] {
            assert_eq!(of(chased(&c), code)["late"], false, "{code}");
            assert_eq!(of(chased(&c), code)["days_overdue"], 0, "{code}");
        }

        // A county reviews nothing, not even its own row.
        let yunan = pid(&parts, "445303");
        app.post_as(&officer["445303"], &review(rid, yunan, "accept"), &json!({})).await.expect_problem(403);
        app.post_as(&officer["445303"], &review(rid, yunan, "return"), &json!({"reason": "自己退回"})).await.expect_problem(403);
        // The city returns 云安区 with a reason the county reads; it submits again, history kept.
        let r = app.post_as(&city_admin, &review(rid, yunan, "return"), &json!({})).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["reason"]);
        let returned = app.post_as(&city_admin, &review(rid, yunan, "return"), &json!({"reason": "请核实社工站人员数"})).await.expect(200).body;
        assert_eq!(returned["state"], "returned");
        let seen = participants(&app, &officer["445303"], rid).await;
        assert_eq!(of(&seen, "445303")["return_reason"], "请核实社工站人员数");
        let c = completeness(&app, &city_admin, rid).await;
        assert_eq!(of(chased(&c), "445303")["state"], "returned");
        assert_eq!(of(chased(&c), "445303")["return_reason"], "请核实社工站人员数");
        assert_eq!((c["submitted"].as_i64(), c["accepted"].as_i64()), (Some(5), Some(1)), "a returned row is not submitted");
        assert_eq!(format!("{:.1}", c["submitted_rate"].as_f64().expect("rate")), "83.3");
        let again = submit(&app, &officer["445303"], rid, yunan).await.expect(201).body;
        let history = app.get(&submissions(rid, yunan)).await.expect(200).body;
        assert_eq!(history["total"], 2);
        assert_eq!(history["items"][0]["id"], again["id"], "newest first");
        let c = completeness(&app, &city_admin, rid).await;
        assert_eq!(tally(&c), "6 6 5 1 | 100.0 83.3 16.7");
        assert_eq!(of(chased(&c), "445303")["late"], false, "lateness is the first submission's");

        // The city accepts the five.
        for code in five {
            let p = app.post_as(&city_admin, &review(rid, pid(&parts, code), "accept"), &json!({})).await.expect(200).body;
            assert_eq!(p["state"], "accepted", "{code}");
            assert!(p["reviewed_by"].is_string());
        }
        let c = completeness(&app, &city_admin, rid).await;
        assert_eq!(tally(&c), "6 6 5 6 | 100.0 83.3 100.0");

        // A training 新兴县 held on 2021-06-01, entered only now: its accepted row is stale.
        let xinxing = pid(&parts, "445321");
        let training = app
            .post("/api/v1/trainings", &json!({"county_id": county["445321"], "kind": "professional", "title": "补录的专业培训", "held_on": "2021-06-01"}))
            .await
            .expect(201)
            .body;
        let c = completeness(&app, &city_admin, rid).await;
        assert_eq!(tally(&c), "6 6 5 5 | 100.0 83.3 83.3");
        let stale = of(chased(&c), "445321");
        assert_eq!(stale["state"], "stale");
        assert_eq!(stale["drift"], json!([{"field": "trainings", "submitted": 1, "live": 2}]));
        assert_eq!(of(&participants(&app, &city_admin, rid).await, "445321")["state"], "stale");
        app.post_as(&city_admin, &review(rid, xinxing, "accept"), &json!({})).await.expect_problem(409);
        let refused = app.post_as(&city_admin, &format!("{path}/publish"), &json!({})).await.expect_problem(409);
        assert!(refused.body["detail"].as_str().expect("detail").contains("新兴县"), "{}", refused.body);
        let named = refused.body["participants"].as_array().expect("participants");
        assert_eq!(named.len(), 1);
        assert_eq!((named[0]["participant_id"].as_i64(), named[0]["name"].as_str(), named[0]["state"].as_str()), (Some(xinxing), Some("新兴县"), Some("stale")));
        // The round's table keeps what was signed off; the live table follows the correction.
        let kept = app.get(&format!("{path}/table")).await.expect(200).body;
        assert_is_the_seeds_table(&kept["table"]);
        assert_eq!(kept["unconfirmed"], json!([]));
        let live = app.get(&format!("/api/v1/reports/progress?as_of=2021-06-09&city_id={yunfu}")).await.expect(200).body;
        assert_eq!(live["rows"][3]["trainings"], 2);

        // Undone, the submission is current (and accepted) again.
        app.delete(&format!("/api/v1/trainings/{}", training["id"]), Some("\"1\"")).await.expect(204);
        let c = completeness(&app, &city_admin, rid).await;
        assert_eq!(tally(&c), "6 6 5 6 | 100.0 83.3 100.0");
        assert_eq!(of(chased(&c), "445321")["state"], "accepted");
        assert_eq!(of(chased(&c), "445321")["drift"], json!([]));

        // Everyone accepted: the bulletin is the seed's table, cell for cell.
        let r = app.post_as(&city_admin, &format!("{path}/publish"), &json!({})).await.expect(201);
        let bulletin = r.body.clone();
        let at = format!("/api/v1/reports/progress/snapshots/{}", bulletin["id"]);
        assert_eq!(r.header("location"), Some(at.clone()));
        assert_eq!(bulletin["round_id"], rid);
        assert_eq!(bulletin["forced_reason"], Value::Null);
        assert!(bulletin["unconfirmed"].as_array().is_none_or(Vec::is_empty), "{}", bulletin["unconfirmed"]);
        assert_is_the_seeds_table(&app.get(&at).await.expect(200).body["table"]);
        let published = app.get(&path).await.expect(200);
        assert_eq!(published.body["state"], "published");
        assert_eq!(published.body["snapshot_id"], bulletin["id"]);
        app.post_as(&city_admin, &format!("{path}/publish"), &json!({})).await.expect_problem(409);
        let tag = published.header("etag").expect("etag");
        app.patch_as(&city_admin, &path, Some(&tag), &json!({"title": "改名"})).await.expect_problem(409);
    }

    async fn a_county_neither_reviews_nor_submits_for_another_nor_sees_phones_and_another_citys_admin_touches_nothing(app: TestApp) {
        let (province, yunfu, jieyang, county) = two_cities(&app).await;
        let officer = account(&app, "yc.officer", "county_officer", ("county_id", county["445302"]), Some("13800000001")).await;
        let neighbour = account(&app, "ya.officer", "county_officer", ("county_id", county["445303"]), Some("13800000002")).await;
        let city_admin = account(&app, "yunfu.admin", "city_admin", ("city_id", yunfu), Some("0766-8881234")).await;
        let stranger = account(&app, "jieyang.admin", "city_admin", ("city_id", jieyang), None).await;
        let viewer = app.user_token("leader", "viewer", None).await;

        // Rounds are opened by their owners only, and checked.
        let body = city_round(yunfu, "2021-06-30");
        for token in [&officer, &viewer, &stranger] {
            app.post_as(token, "/api/v1/rounds", &body).await.expect_problem(403);
        }
        let province_round = json!({"title": "省", "level": "province", "province_id": province, "as_of": "2021-06-09", "due_on": "2021-06-30"});
        app.post_as(&city_admin, "/api/v1/rounds", &province_round).await.expect_problem(403);
        for (field, change) in [("as_of", json!({"as_of": "2999-01-01", "due_on": "2999-01-02", "fiscal_year": 2021})), ("due_on", json!({"due_on": "2021-06-01"})), ("city_id", json!({"city_id": 99999}))] {
            let mut bad = body.clone();
            for (k, v) in change.as_object().expect("change") {
                bad[k] = v.clone();
            }
            let r = app.post("/api/v1/rounds", &bad).await.expect_problem(422);
            assert_eq!(r.error_fields(), vec![field]);
        }
        let rid = id(&open_round(&app, &app.admin_token, body).await);
        let path = format!("/api/v1/rounds/{rid}");
        // Anyone signed in reads it.
        let parts = participants(&app, &viewer, rid).await;
        assert_eq!(codes(&parts), vec!["445302", "445303", "445300"]);
        app.get_as(&viewer, &path).await.expect(200);
        app.get_as(&viewer, &format!("{path}/table")).await.expect(200);
        let listed = app.get_as(&officer, &format!("/api/v1/rounds?city_id={yunfu}")).await.expect(200).body;
        assert_eq!(listed["total"], 1);
        let (own, next, level) = (pid(&parts, "445302"), pid(&parts, "445303"), pid(&parts, "445300"));

        // A county submits its own row only; a county's row is its own, not even an
        // administrator's; the city's level is its owners'.
        submit(&app, &officer, rid, next).await.expect_problem(403);
        submit(&app, &officer, rid, level).await.expect_problem(403);
        submit(&app, &app.admin_token, rid, own).await.expect_problem(403);
        submit(&app, &city_admin, rid, own).await.expect_problem(403);
        submit(&app, &stranger, rid, level).await.expect_problem(403);
        submit(&app, &viewer, rid, own).await.expect_problem(403);
        let bad = app.post_as(&officer, &submissions(rid, own), &json!(["note"])).await;
        let status = bad.status;
        assert!(matches!(status, 400 | 422), "an array for a submission: {status}");
        bad.expect_problem(status);
        // A retry with the same key is one submission.
        let first = keyed_post(&app, &officer, &submissions(rid, own), "submit-1", &json!({"note": "首报"})).await.expect(201);
        let retried = keyed_post(&app, &officer, &submissions(rid, own), "submit-1", &json!({"note": "首报"})).await.expect(201);
        assert_eq!(retried.header("idempotent-replayed").as_deref(), Some("true"));
        assert_eq!(retried.body["id"], first.body["id"]);
        assert_eq!(app.get(&submissions(rid, own)).await.expect(200).body["total"], 1);

        // Reviews are the owners': no county, viewer or other city's administrator.
        for token in [&officer, &neighbour, &viewer, &stranger] {
            app.post_as(token, &review(rid, own, "accept"), &json!({})).await.expect_problem(403);
            app.post_as(token, &review(rid, own, "return"), &json!({"reason": "不对"})).await.expect_problem(403);
        }
        // Another city's administrator changes, closes and publishes nothing.
        let tag = app.get(&path).await.header("etag").expect("etag");
        app.patch_as(&stranger, &path, Some(&tag), &json!({"title": "改名"})).await.expect_problem(403);
        app.post_as(&stranger, &format!("{path}/close"), &json!({})).await.expect_problem(403);
        app.post_as(&stranger, &format!("{path}/publish"), &json!({"force": true, "reason": "试试"})).await.expect_problem(403);
        app.post_as(&officer, &format!("{path}/close"), &json!({})).await.expect_problem(403);
        assert_eq!(app.get(&path).await.body["state"], "open", "nothing changed");
        let r = app.post_as(&city_admin, &review(rid, own, "return"), &json!({})).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["reason"]);
        let r = app.post_as(&city_admin, &review(rid, next, "return"), &json!({"reason": "未报"})).await.expect_problem(409);
        assert!(r.body["detail"].is_string(), "no submission to return");
        app.post_as(&city_admin, &review(rid, own, "accept"), &json!({})).await.expect(200);

        // Phones: administrators see everyone's, the city's its counties' officers'; a county
        // officer and a viewer nobody's. Who is responsible is the owners' to see, and each
        // participant's own: 云城区's officer sees its own people only, a viewer nobody.
        let c = completeness(&app, &app.admin_token, rid).await;
        assert_eq!(phones(&c, "445302"), vec![json!("13800000001")]);
        assert_eq!(phones(&c, "445303"), vec![json!("13800000002")]);
        assert_eq!(phones(&c, "445300"), vec![json!("0766-8881234")], "the city level's: its administrators");
        let c = completeness(&app, &city_admin, rid).await;
        assert_eq!(phones(&c, "445302"), vec![json!("13800000001")]);
        assert_eq!(phones(&c, "445303"), vec![json!("13800000002")]);
        let c = completeness(&app, &officer, rid).await;
        assert_eq!(of(chased(&c), "445302")["responsible"][0]["username"], "yc.officer");
        assert_eq!(of(chased(&c), "445303")["responsible"], json!([]), "not another county's people");
        assert_eq!(of(chased(&c), "445300")["responsible"], json!([]));
        let c = completeness(&app, &viewer, rid).await;
        for code in ["445302", "445303", "445300"] {
            assert_eq!(of(chased(&c), code)["responsible"], json!([]), "{code}");
        }
        for token in [&officer, &viewer] {
            let c = completeness(&app, token, rid).await;
            for code in ["445302", "445303", "445300"] {
                assert!(phones(&c, code).iter().all(Value::is_null), "{code}: {:?}", phones(&c, code));
            }
            assert!(!String::from_utf8_lossy(&app.get_as(token, &format!("{path}/completeness")).await.raw).contains("1380000"));
        }
    }

    async fn a_round_a_county_has_not_signed_off_is_published_only_by_force_and_withdrawing_it_returns_the_round_to_closed(app: TestApp) {
        let (_, yunfu, _, county) = two_cities(&app).await;
        let officer = account(&app, "yc.officer", "county_officer", ("county_id", county["445302"]), Some("13800000001")).await;
        let neighbour = app.user_token("ya.officer", "county_officer", Some(county["445303"])).await;
        let rid = id(&open_round(&app, &app.admin_token, city_round(yunfu, "2099-01-01")).await);
        let path = format!("/api/v1/rounds/{rid}");
        let parts = participants(&app, &app.admin_token, rid).await;
        let (own, next, level) = (pid(&parts, "445302"), pid(&parts, "445303"), pid(&parts, "445300"));
        submit(&app, &officer, rid, own).await.expect(201);
        app.post(&review(rid, own, "accept"), &json!({})).await.expect(200);
        submit(&app, &app.admin_token, rid, level).await.expect(201);

        // 云安区 has not signed off: the round's table shows its live figures and says so.
        let shown = |t: &Value| t["table"]["rows"][1]["trainings"].clone();
        let table = app.get(&format!("{path}/table")).await.expect(200).body;
        assert_eq!((table["round_id"].as_i64(), table["state"].as_str()), (Some(rid), Some("open")));
        assert_eq!(table["unconfirmed"], json!([{"participant_id": next, "name": "云安区"}]));
        assert_eq!(shown(&table), 1);
        app.post("/api/v1/trainings", &json!({"county_id": county["445303"], "kind": "professional", "title": "专业培训", "held_on": "2021-05-01"})).await.expect(201);
        let table = app.get(&format!("{path}/table")).await.expect(200).body;
        assert_eq!(shown(&table), 2, "live figures follow the records");
        assert_eq!(table["table"]["totals"]["trainings"], 3);

        // The chase list, as a file: its title, the header, a row per participant.
        let csv = app.get(&format!("{path}/completeness/export?format=csv")).await.expect(200);
        assert!(csv.header("content-disposition").is_some_and(|d| d.starts_with("attachment")));
        assert!(csv.raw.starts_with("\u{feff}".as_bytes()), "a BOM so Excel reads UTF-8");
        let grid = csv_grid(&csv.raw);
        let rows = chase_rows(&grid, "2021年6月“双百工程”进度报送");
        let listed: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r[1].as_str(), r[2].as_str(), r[3].as_str())).collect();
        assert_eq!(listed, vec![("云城区", "445302", "已确认"), ("云安区", "445303", "未报送"), ("市本级", "445300", "已确认")]);
        assert_eq!((rows[0][0].as_str(), rows[0][9].as_str(), rows[0][10].as_str()), ("1", "yc.officer", "13800000001"));
        assert_eq!((rows[1][0].as_str(), rows[1][9].as_str()), ("2", "ya.officer"));
        let xlsx = app.get(&format!("{path}/completeness/export?format=xlsx")).await.expect(200);
        assert!(xlsx.raw.starts_with(b"PK"), "an XLSX is a zip");
        let sheet = xlsx_first_sheet_rows(&xlsx.raw);
        let sheet_rows = chase_rows(&sheet, "2021年6月“双百工程”进度报送");
        let in_sheet: Vec<(&str, &str)> = sheet_rows.iter().map(|r| (r[1].as_str(), r[3].as_str())).collect();
        assert_eq!(in_sheet, vec![("云城区", "已确认"), ("云安区", "未报送"), ("市本级", "已确认")]);

        // Publishing names who has not signed off; force needs a reason, and keeps it.
        let refused = app.post(&format!("{path}/publish"), &json!({})).await.expect_problem(409);
        assert!(refused.body["detail"].as_str().expect("detail").contains("云安区"));
        assert!(refused.body["detail"].as_str().expect("detail").contains("not_submitted"));
        let r = app.post(&format!("{path}/publish"), &json!({"force": true})).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["reason"]);
        let reason = "云安区逾期未报，先行发布";
        let forced = app.post(&format!("{path}/publish"), &json!({"force": true, "reason": reason})).await.expect(201).body;
        assert_eq!(forced["forced_reason"], reason);
        assert_eq!(forced["unconfirmed"], json!([{"participant_id": next, "name": "云安区"}]));
        assert_eq!(forced["round_id"], rid);
        let bulletin = format!("/api/v1/reports/progress/snapshots/{}", forced["id"]);
        let read = app.get(&bulletin).await.expect(200).body;
        assert_eq!(read["table"]["rows"], table["table"]["rows"], "the round's table, published");
        assert_eq!(read["forced_reason"], reason);
        let listed = app.get("/api/v1/reports/progress/snapshots").await.expect(200).body;
        assert_eq!((listed["items"][0]["round_id"].as_i64(), listed["items"][0]["forced_reason"].as_str()), (Some(rid), Some(reason)));
        let round = app.get(&path).await.expect(200).body;
        assert_eq!((round["state"].as_str(), round["snapshot_id"].as_i64()), (Some("published"), forced["id"].as_i64()));
        assert_eq!(app.get("/api/v1/rounds?state=published").await.expect(200).body["total"], 1);
        app.post(&format!("{path}/close"), &json!({})).await.expect_problem(409);

        // Withdrawn, the bulletin hands the round back closed: reopened, completed, published.
        app.post(&format!("{bulletin}/withdraw"), &json!({"reason": "云安区补报后重新发布"})).await.expect(200);
        let round = app.get(&path).await.expect(200).body;
        assert_eq!((round["state"].as_str(), round["snapshot_id"].clone()), (Some("closed"), Value::Null));
        submit(&app, &neighbour, rid, next).await.expect_problem(409);
        let r = app.post(&format!("{path}/reopen"), &json!({})).await.expect_problem(422);
        assert_eq!(r.error_fields(), vec!["reason"]);
        app.post(&format!("{path}/reopen"), &json!({"reason": "云安区补报"})).await.expect(200);
        app.post(&format!("{path}/reopen"), &json!({"reason": "again"})).await.expect_problem(409);
        assert_eq!(app.post(&format!("{path}/close"), &json!({})).await.expect(200).body["state"], "closed");
        assert_eq!(app.post(&format!("{path}/reopen"), &json!({"reason": "云安区补报"})).await.expect(200).body["state"], "open");
        submit(&app, &neighbour, rid, next).await.expect(201);
        app.post(&review(rid, next, "accept"), &json!({})).await.expect(200);
        let again = app.post(&format!("{path}/publish"), &json!({})).await.expect(201).body;
        assert_eq!(again["forced_reason"], Value::Null);
        assert!(again["unconfirmed"].as_array().is_none_or(Vec::is_empty));
        assert_eq!(again["table"]["rows"][1]["trainings"], 2);
        assert_eq!(app.get("/api/v1/reports/progress/snapshots").await.body["total"], 1, "the withdrawn one is not listed");
    }

    async fn a_province_round_asks_its_two_cities_and_its_own_level_and_publishes_the_provinces_table(app: TestApp) {
        let (province, yunfu, jieyang, _) = two_cities(&app).await;
        let yunfu_admin = account(&app, "yunfu.admin", "city_admin", ("city_id", yunfu), None).await;
        let jieyang_admin = account(&app, "jieyang.admin", "city_admin", ("city_id", jieyang), None).await;
        let body = json!({"title": "广东省2021年6月“双百工程”进度报送", "level": "province", "province_id": province,
                          "as_of": "2021-06-09", "due_on": "2099-01-01"});
        app.post_as(&yunfu_admin, "/api/v1/rounds", &body).await.expect_problem(403);
        let round = open_round(&app, &app.admin_token, body).await;
        assert_eq!((round["level"].as_str(), round["province_id"].as_i64(), round["city_id"].as_i64()), (Some("province"), Some(province), None));
        assert_eq!(round["issuing_unit"], "广东省民政厅");
        assert_eq!(round["participants"], 3);
        let rid = id(&round);
        let parts = participants(&app, &app.admin_token, rid).await;
        assert_eq!(codes(&parts), vec!["445200", "445300", "440000"], "cities by code, then the province's level");
        let kinds: Vec<&str> = parts.iter().map(|p| p["kind"].as_str().expect("kind")).collect();
        assert_eq!(kinds, vec!["city", "city", "level"]);
        assert_eq!(of(&parts, "445300")["city_id"], yunfu);

        // Each city's administrator signs off its own city, freezing its row with its counties'.
        submit(&app, &yunfu_admin, rid, pid(&parts, "445200")).await.expect_problem(403);
        submit(&app, &yunfu_admin, rid, pid(&parts, "440000")).await.expect_problem(403);
        let live = app.get(&format!("/api/v1/reports/progress?as_of=2021-06-09&province_id={province}")).await.expect(200).body;
        for (token, code, i) in [(&jieyang_admin, "445200", 0), (&yunfu_admin, "445300", 1)] {
            let s = submit(&app, token, rid, pid(&parts, code)).await.expect(201).body;
            assert_eq!(s["city"]["division_code"], code);
            assert_eq!(s["city"]["stations"], live["cities"][i]["stations"], "{code}");
            assert_eq!(s["city"]["trainings"], live["cities"][i]["trainings"], "{code}");
            assert_eq!(s["row"], Value::Null);
        }
        let frozen = app.get(&submissions(rid, pid(&parts, "445300"))).await.expect(200).body;
        assert_eq!(codes(frozen["items"][0]["city"]["rows"].as_array().expect("its counties' rows")), vec!["445302", "445303", "445300"]);
        let own = submit(&app, &app.admin_token, rid, pid(&parts, "440000")).await.expect(201).body;
        assert_eq!(own["self_certified"], true);
        let c = completeness(&app, &app.admin_token, rid).await;
        assert_eq!(tally(&c), "3 3 3 1 | 100.0 100.0 33.3");
        assert_eq!(states(&c), vec!["揭阳市 submitted", "云浮市 submitted", "省本级 accepted"]);
        assert_eq!(of(chased(&c), "445300")["responsible"][0]["username"], "yunfu.admin");
        let level_people: Vec<&str> = of(chased(&c), "440000")["responsible"].as_array().expect("responsible").iter().map(|r| r["username"].as_str().expect("username")).collect();
        assert!(level_people.contains(&crate::helpers::ADMIN), "{level_people:?}");

        // The province's administrators review; a city's do not, even its own row.
        app.post_as(&yunfu_admin, &review(rid, pid(&parts, "445300"), "accept"), &json!({})).await.expect_problem(403);
        app.post_as(&yunfu_admin, &format!("/api/v1/rounds/{rid}/publish"), &json!({})).await.expect_problem(403);
        for code in ["445200", "445300"] {
            app.post(&review(rid, pid(&parts, code), "accept"), &json!({})).await.expect(200);
        }
        assert_eq!(tally(&completeness(&app, &app.admin_token, rid).await), "3 3 3 3 | 100.0 100.0 100.0");
        let table = app.get(&format!("/api/v1/rounds/{rid}/table")).await.expect(200).body;
        assert_eq!(table["table"]["level"], "province");
        assert_eq!(table["unconfirmed"], json!([]));

        // A city renamed after it signed off has not drifted: names are not figures, and the
        // bulletin prints the name it has now.
        let city_path = format!("/api/v1/cities/{jieyang}");
        let tag = app.get(&city_path).await.expect(200).header("etag").expect("etag");
        app.patch(&city_path, Some(&tag), &json!({"name": "揭阳"})).await.expect(200);
        assert_eq!(tally(&completeness(&app, &app.admin_token, rid).await), "3 3 3 3 | 100.0 100.0 100.0");
        let live = app.get(&format!("/api/v1/reports/progress?as_of=2021-06-09&province_id={province}")).await.expect(200).body;

        // Published: the province's table by city, as the live one.
        let bulletin = app.post(&format!("/api/v1/rounds/{rid}/publish"), &json!({})).await.expect(201).body;
        assert_eq!((bulletin["level"].as_str(), bulletin["province_id"].as_i64()), (Some("province"), Some(province)));
        let t = &bulletin["table"];
        assert_eq!(codes(t["cities"].as_array().expect("cities")), vec!["445200", "445300"]);
        for i in 0..2 {
            assert_eq!(t["cities"][i]["stations"], live["cities"][i]["stations"]);
            assert_eq!(t["cities"][i]["trainings"], live["cities"][i]["trainings"]);
        }
        assert_eq!(codes(t["rows"].as_array().expect("rows")), vec!["440000"]);
        assert_eq!(t["totals"], live["totals"]);
        assert_eq!(t, &live, "everyone accepted and nothing changed: the bulletin is the live table, cell for cell");
        for (query, total) in [("level=province".to_string(), 1), (format!("province_id={province}"), 1), (format!("city_id={yunfu}"), 0), ("state=published".to_string(), 1)] {
            assert_eq!(app.get(&format!("/api/v1/rounds?{query}")).await.expect(200).body["total"], total, "{query}");
        }
    }
}

// Sign-offs racing each other and the round's closing, on PostgreSQL: every one answered 201 is
// kept once in the history and was made before the round closed; the rest are refused with 409;
// the participant's current submission is the last one kept.
#[actix_web::test]
async fn sign_offs_racing_each_other_and_the_close_are_each_kept_once_or_refused() {
    let Some(app) = TestApp::spawn(crate::helpers::Backend::Postgres).await else {
        return;
    };
    let (_, yunfu, _, county) = two_cities(&app).await;
    let officer = app
        .user_token("yc.officer", "county_officer", Some(county["445302"]))
        .await;
    let rid = id(&open_round(&app, &app.admin_token, city_round(yunfu, "2099-01-01")).await);
    let me = pid(&participants(&app, &app.admin_token, rid).await, "445302");
    let path = submissions(rid, me);
    let sign_offs = (0..8).map(|i| {
        let (app, officer, path) = (&app, &officer, &path);
        async move {
            app.post_as(officer, path, &json!({"note": format!("第{i}次")}))
                .await
                .status
        }
    });
    let close = async {
        app.post(&format!("/api/v1/rounds/{rid}/close"), &json!({}))
            .await
            .status
    };
    let (statuses, closed) =
        futures_util::future::join(futures_util::future::join_all(sign_offs), close).await;
    assert_eq!(closed, 200);
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    let taken = statuses.iter().filter(|s| **s == 201).count();
    let history = app.get(&format!("{path}?limit=100")).await.expect(200).body;
    assert_eq!(history["total"], taken as i64, "{statuses:?}");
    let at = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().expect("time")).expect("RFC 3339")
    };
    let round = app
        .get(&format!("/api/v1/rounds/{rid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(round["state"], "closed");
    for item in history["items"].as_array().expect("items") {
        assert!(
            at(&item["submitted_at"]) <= at(&round["updated_at"]),
            "made before the round closed"
        );
    }
    let now = participants(&app, &app.admin_token, rid).await;
    let mine = of(&now, "445302");
    if taken > 0 {
        assert_eq!(mine["state"], "submitted");
        assert_eq!(mine["submission"]["id"], history["items"][0]["id"]);
    } else {
        assert_eq!(mine["state"], "not_submitted");
    }
}
