//! The change feed: every audited change once, in commit order, resumable, with rights on
//! account events; on PostgreSQL, gap-free while writers commit out of the order they began.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};

/// Follows the feed from `after` to its end, `limit` at a time: the events and the last `next`.
async fn follow(
    app: &TestApp,
    token: &str,
    after: Option<&str>,
    query: &str,
    limit: usize,
) -> (Vec<Value>, String) {
    let mut events = Vec::new();
    let mut cursor = after.map(str::to_string);
    loop {
        let mut path = format!("/api/v1/changes?limit={limit}{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&after={c}"));
        }
        let page = app.get_as(token, &path).await.expect(200).body;
        let items = page["items"].as_array().expect("items").clone();
        let next = page["next"].as_str().expect("next").to_string();
        if items.is_empty() {
            return (events, next);
        }
        events.extend(items);
        cursor = Some(next);
    }
}

/// [`follow`] from the start until the feed has caught up with `count` events. On PostgreSQL the
/// feed serves a change once every transaction that began before it has finished, in the whole
/// cluster (other tests' too), so it may lag a moment behind the audit trail.
async fn caught_up(
    app: &TestApp,
    token: &str,
    query: &str,
    limit: usize,
    count: usize,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (events, _) = follow(app, token, None, query, limit).await;
        if events.len() >= count || std::time::Instant::now() > deadline {
            return events;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The audit trail, oldest first, as (entity, id, action, request id).
async fn trail(app: &TestApp) -> Vec<(String, i64, String, String)> {
    let page = app
        .get("/api/v1/audit-events?limit=500")
        .await
        .expect(200)
        .body;
    let mut rows: Vec<(i64, (String, i64, String, String))> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["id"].as_i64().expect("id"),
                (
                    e["entity"].as_str().expect("entity").to_string(),
                    e["entity_id"].as_i64().expect("entity id"),
                    e["action"].as_str().expect("action").to_string(),
                    e["request_id"].as_str().expect("request id").to_string(),
                ),
            )
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    rows.into_iter().map(|r| r.1).collect()
}

fn key(e: &Value) -> (String, i64, String, String) {
    let (entity, action) = e["type"]
        .as_str()
        .expect("type")
        .split_once('.')
        .expect("entity.action");
    assert_eq!(e["entity"].as_str(), Some(entity));
    (
        entity.to_string(),
        e["id"].as_i64().expect("id"),
        action.to_string(),
        e["request_id"].as_str().expect("request id").to_string(),
    )
}

async fn scenario(app: &TestApp) -> i64 {
    let county = app.county("445302", "云城区", "district").await;
    let town = app
        .post(
            "/api/v1/towns",
            &json!({"county_id": county, "name": "腰古镇", "code": "445302104", "kind": "town"}),
        )
        .await
        .expect(201)
        .body;
    let town_id = town["id"].as_i64().expect("town");
    app.patch(
        &format!("/api/v1/towns/{town_id}"),
        Some("\"1\""),
        &json!({"name": "腰古镇（改）"}),
    )
    .await
    .expect(200);
    let station = app.post("/api/v1/stations", &json!({"kind": "station", "town_id": town_id, "name": "社工站", "ref": "ST-1", "planned_on": "2021-01-04"})).await.expect(201).body;
    let person = app.post("/api/v1/staff", &json!({"county_id": county, "name": "社工", "gender": "male", "certification": "none", "hired_via": "other", "ref": "P-1", "phone": "13812345678"})).await.expect(201).body;
    app.post(
        &format!("/api/v1/staff/{}/postings", person["id"]),
        &json!({"station_id": station["id"], "role": "social_worker", "from": "2021-02-01"}),
    )
    .await
    .expect(201);
    app.post("/api/v1/trainings", &json!({"county_id": county, "kind": "pre_job", "title": "岗前培训", "held_on": "2021-03-01"})).await.expect(201);
    let funding = app.post("/api/v1/funding-requests", &json!({"county_id": county, "fiscal_year": 2021, "title": "经费", "effective_on": "2021-03-01"})).await.expect(201).body;
    app.post(
        &format!("/api/v1/funding-requests/{}/transitions", funding["id"]),
        &json!({"action": "submit", "effective_on": "2021-04-01"}),
    )
    .await
    .expect(201);
    let batch = json!({"towns": [{"code": "445302105", "name": "河口镇", "kind": "town"}], "trainings": [{"kind": "professional", "title": "专业培训", "held_on": "2021-04-01", "ref": "TR-2"}]});
    app.post(&format!("/api/v1/counties/{county}/updates"), &batch)
        .await
        .expect(200);
    // A batch with a failing item writes nothing, so the feed shows nothing of it.
    let failing = json!({"towns": [{"code": "445302106", "name": "新镇", "kind": "town"}, {"code": "999", "name": "坏", "kind": "town"}]});
    app.post(&format!("/api/v1/counties/{county}/updates"), &failing)
        .await
        .expect_problem(422);
    let other = app
        .post(
            "/api/v1/towns",
            &json!({"county_id": county, "name": "删除镇", "code": "445302107", "kind": "town"}),
        )
        .await
        .expect(201)
        .body;
    app.delete(&format!("/api/v1/towns/{}", other["id"]), Some("\"1\""))
        .await
        .expect(204);
    app.user_token("li.officer", "county_officer", Some(county))
        .await;
    town_id
}

on_both_backends! {
    async fn every_change_appears_once_in_commit_order_and_any_next_resumes_exactly(app: TestApp) {
        let town_id = scenario(&app).await;
        let admin = app.admin_token.clone();
        let audit = trail(&app).await;
        let events = caught_up(&app, &admin, "", 3, audit.len()).await;
        let keys: Vec<_> = events.iter().map(key).collect();
        assert_eq!(keys, audit, "the feed is the audit trail, once each, in order");
        assert!(keys.iter().any(|k| k.0 == "town" && k.2 == "create" && k.1 != town_id), "the batch's town is there");
        // Versions and places.
        let update = events.iter().find(|e| e["type"] == "town.update").expect("the rename");
        assert_eq!((update["id"].as_i64(), update["version"].as_i64()), (Some(town_id), Some(2)));
        let city = events.iter().find(|e| e["type"] == "county.create").expect("county")["city_id"].clone();
        assert!(city.is_i64());
        assert!(events.iter().filter(|e| e["entity"] == "town").all(|e| e["city_id"] == city && e["province_id"].is_i64()));
        assert!(events.iter().all(|e| e.get("before").is_none() && e.get("after").is_none()), "thin events");
        // Resuming from any page's position gives exactly the rest.
        for (i, e) in events.iter().enumerate() {
            let (rest, _) = follow(&app, &admin, e["cursor"].as_str(), "", 50).await;
            assert_eq!(rest, events[i + 1..].to_vec(), "after event {i}");
        }
        // The head is the newest; following from it gives nothing until something changes.
        let head = app.get("/api/v1/changes/head").await.expect(200).body["cursor"].as_str().expect("head").to_string();
        assert_eq!(Some(head.as_str()), events.last().expect("last")["cursor"].as_str());
        let (none, next) = follow(&app, &admin, Some(&head), "", 10).await;
        assert!(none.is_empty());
        assert_eq!(next, head, "nothing new: the same cursor back");
        app.patch(&format!("/api/v1/towns/{town_id}"), Some("\"2\""), &json!({"name": "腰古镇"})).await.expect(200);
        let mut new = Vec::new();
        for _ in 0..600 {
            new = follow(&app, &admin, Some(&head), "", 10).await.0;
            if !new.is_empty() {
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(new.len(), 1);
        assert_eq!((new[0]["type"].as_str(), new[0]["version"].as_i64()), (Some("town.update"), Some(3)));
    }

    async fn filters_rights_bad_cursors_and_expired_ones(app: TestApp) {
        let town_id = scenario(&app).await;
        let admin = app.admin_token.clone();
        let audit = trail(&app).await;
        caught_up(&app, &admin, "", 100, audit.len()).await;
        let (towns, _) = follow(&app, &admin, None, "&entity=town", 100).await;
        assert!(!towns.is_empty() && towns.iter().all(|e| e["entity"] == "town"));
        let (renames, _) = follow(&app, &admin, None, "&type=town.update", 100).await;
        assert_eq!(renames.len(), 1);
        assert_eq!(renames[0]["id"], town_id);
        let county = towns[0]["county_id"].clone();
        let (of_county, _) = follow(&app, &admin, None, &format!("&county_id={county}"), 100).await;
        assert!(of_county.iter().all(|e| e["county_id"] == county));
        let city = towns[0]["city_id"].clone();
        let (of_city, _) = follow(&app, &admin, None, &format!("&city_id={city}"), 100).await;
        assert!(of_city.len() >= of_county.len());
        app.get("/api/v1/changes?entity=town&type=staff.create").await.expect_problem(422);
        app.get("/api/v1/changes?type=town.publish").await.expect_problem(400);
        app.get("/api/v1/changes?limit=1001").await.expect_problem(422);
        // A reader whose filter matches nothing still moves on to the head, so it never falls
        // behind the kept window while nothing of its own changes.
        let head = app.get("/api/v1/changes/head").await.body["cursor"].clone();
        let quiet = app.get("/api/v1/changes?county_id=999999").await.expect(200).body;
        assert_eq!(quiet["items"].as_array().map(Vec::len), Some(0));
        assert_eq!(quiet["next"], head);
        let bad = app.get("/api/v1/changes?after=not-a-cursor").await.expect_problem(422);
        assert_eq!(bad.error_fields(), vec!["after"]);

        // Account events: the admin sees the officer's account made; a viewer does not.
        let viewer = app.user_token("leader", "viewer", None).await;
        let seen_by_admin = caught_up(&app, &admin, "", 100, audit.len() + 1).await;
        let (seen_by_viewer, _) = follow(&app, &viewer, None, "", 100).await;
        assert!(seen_by_admin.iter().any(|e| e["entity"] == "user"));
        assert!(!seen_by_viewer.iter().any(|e| e["entity"] == "user" || e["entity"] == "client"));
        assert_eq!(seen_by_viewer.len(), seen_by_admin.iter().filter(|e| e["entity"] != "user").count());

        // Changes older than the feed keeps: a cursor before them is 410, and says how to resync.
        let first = seen_by_admin[0]["cursor"].as_str().expect("cursor").to_string();
        {
            use diesel::r2d2::ManageConnection;
            use diesel::RunQueryDsl;
            let mut conn = shuangbai::db::Manager::new(app.database_url.clone(), "public").connect().expect("connect");
            let old = "UPDATE audit_events SET occurred_at = '2020-01-01 00:00:00' WHERE id <= (SELECT MIN(id) + 2 FROM audit_events)";
            diesel::sql_query(old).execute(&mut *conn).expect("age some events");
        }
        let gone = app.get(&format!("/api/v1/changes?after={first}")).await.expect_problem(410);
        assert!(gone.body["detail"].as_str().expect("detail").contains("/api/v1/changes/head"));
        let (kept, _) = follow(&app, &admin, None, "", 100).await;
        assert_eq!(kept.len(), seen_by_admin.len() - 3, "from the start, the kept changes only");
        let last = seen_by_admin.last().expect("last")["cursor"].as_str().expect("cursor").to_string();
        app.get(&format!("/api/v1/changes?after={last}")).await.expect(200);
    }
}

/// The version in a response's ETag (`"3"` or `W/"3"`), for the next If-Match.
async fn etag(app: &TestApp, path: &str) -> String {
    app.get(path)
        .await
        .expect(200)
        .header("etag")
        .expect("etag")
        .trim_start_matches("W/")
        .to_string()
}

/// Writes of every kind the API makes: each entity, each action.
async fn every_kind_of_change(app: &TestApp) {
    let county = app.county("445302", "云城区", "district").await;
    let c = format!("/api/v1/counties/{county}");
    app.patch(
        &c,
        Some(&etag(app, &c).await),
        &json!({"name": "云城区（改）"}),
    )
    .await
    .expect(200);
    app.post(
        &format!("{c}/plan-status-changes"),
        &json!({"stage": "drafting", "effective_on": "2021-01-10"}),
    )
    .await
    .expect(201);
    let gone = app.county("445303", "云安区", "district").await;
    app.delete(&format!("/api/v1/counties/{gone}"), Some("\"1\""))
        .await
        .expect(204);
    let town = app
        .post(
            "/api/v1/towns",
            &json!({"county_id": county, "name": "腰古镇", "code": "445302104", "kind": "town"}),
        )
        .await
        .expect(201)
        .body["id"]
        .clone();
    let station = app.post("/api/v1/stations", &json!({"kind": "station", "town_id": town, "name": "社工站", "ref": "ST-1", "planned_on": "2021-01-04"})).await.expect(201).body["id"].clone();
    let st = format!("/api/v1/stations/{station}");
    app.patch(
        &st,
        Some(&etag(app, &st).await),
        &json!({"name": "社工站（改）"}),
    )
    .await
    .expect(200);
    app.post(
        &format!("{st}/equipment-checks"),
        &json!({"checked_on": "2021-03-01", "items": ["computer"]}),
    )
    .await
    .expect(201);
    let point = app.post("/api/v1/stations", &json!({"kind": "point", "town_id": town, "station_id": station, "village": "某村", "name": "社工点", "ref": "PT-1", "planned_on": "2021-02-01"})).await.expect(201).body["id"].clone();
    app.delete(&format!("/api/v1/stations/{point}"), Some("\"1\""))
        .await
        .expect(204);
    let other_town = app
        .post(
            "/api/v1/towns",
            &json!({"county_id": county, "name": "河口镇", "code": "445302105", "kind": "town"}),
        )
        .await
        .expect(201)
        .body["id"]
        .clone();
    let ot = format!("/api/v1/towns/{other_town}");
    app.patch(&ot, Some("\"1\""), &json!({"name": "河口镇（改）"}))
        .await
        .expect(200);
    app.delete(&ot, Some("\"2\"")).await.expect(204);
    let person = app.post("/api/v1/staff", &json!({"county_id": county, "name": "社工", "gender": "male", "certification": "none", "hired_via": "other", "ref": "P-1"})).await.expect(201).body["id"].clone();
    let p = format!("/api/v1/staff/{person}");
    app.patch(&p, Some("\"1\""), &json!({"name": "社工（改）"}))
        .await
        .expect(200);
    let posting = app
        .post(
            &format!("{p}/postings"),
            &json!({"station_id": station, "role": "social_worker", "from": "2021-02-01"}),
        )
        .await
        .expect(201)
        .body["id"]
        .clone();
    app.patch(
        &format!("{p}/postings/{posting}"),
        Some(&etag(app, &p).await),
        &json!({"to": "2021-05-01"}),
    )
    .await
    .expect(200);
    let leaver = app.post("/api/v1/staff", &json!({"county_id": county, "name": "离职", "gender": "female", "certification": "none", "hired_via": "other", "ref": "P-2"})).await.expect(201).body["id"].clone();
    app.delete(&format!("/api/v1/staff/{leaver}"), Some("\"1\""))
        .await
        .expect(204);
    for (i, keep) in [(1, true), (2, false)] {
        let f = app.post("/api/v1/funding-requests", &json!({"county_id": county, "fiscal_year": 2020 + i, "title": "经费", "effective_on": "2021-03-01"})).await.expect(201).body["id"].clone();
        let fp = format!("/api/v1/funding-requests/{f}");
        if keep {
            app.patch(
                &fp,
                Some(&etag(app, &fp).await),
                &json!({"title": "经费（改）"}),
            )
            .await
            .expect(200);
            app.post(
                &format!("{fp}/transitions"),
                &json!({"action": "submit", "effective_on": "2021-04-01"}),
            )
            .await
            .expect(201);
        } else {
            app.delete(&fp, Some(&etag(app, &fp).await))
                .await
                .expect(204);
        }
        let t = app.post("/api/v1/trainings", &json!({"county_id": county, "kind": "pre_job", "title": "培训", "held_on": "2021-03-01", "ref": format!("T-{i}")})).await.expect(201).body["id"].clone();
        let tp = format!("/api/v1/trainings/{t}");
        if keep {
            app.patch(&tp, Some("\"1\""), &json!({"title": "培训（改）"}))
                .await
                .expect(200);
        } else {
            app.delete(&tp, Some("\"1\"")).await.expect(204);
        }
    }
    let snapshot = app
        .post(
            "/api/v1/reports/progress/snapshots",
            &json!({"as_of": "2021-06-09", "title": "简报", "issuing_unit": "市民政局"}),
        )
        .await
        .expect(201)
        .body["id"]
        .clone();
    app.post(
        &format!("/api/v1/reports/progress/snapshots/{snapshot}/withdraw"),
        &json!({"reason": "更正"}),
    )
    .await
    .expect(200);
    // A round: opened, retitled, a county's sign-off returned, made again and accepted,
    // closed, reopened and published.
    let city = app.get(&c).await.body["city_id"].clone();
    let round = app
        .post(
            "/api/v1/rounds",
            &json!({"title": "六月报送", "level": "city", "city_id": city, "as_of": "2021-06-09", "due_on": "2099-01-01"}),
        )
        .await
        .expect(201)
        .body["id"]
        .clone();
    let r = format!("/api/v1/rounds/{round}");
    app.patch(&r, Some("\"1\""), &json!({"title": "六月报送（改）"}))
        .await
        .expect(200);
    let members = app.get(&format!("{r}/participants")).await.expect(200).body;
    let member = members["items"]
        .as_array()
        .expect("participants")
        .iter()
        .find(|p| p["county_id"] == json!(county))
        .expect("the county takes part")["participant_id"]
        .clone();
    let officer = app
        .user_token("round.officer", "county_officer", Some(county))
        .await;
    let sign_off = format!("{r}/participants/{member}/submissions");
    app.post_as(&officer, &sign_off, &json!({}))
        .await
        .expect(201);
    app.post(
        &format!("{r}/participants/{member}/return"),
        &json!({"reason": "请核对"}),
    )
    .await
    .expect(200);
    app.post_as(&officer, &sign_off, &json!({"note": "已核对"}))
        .await
        .expect(201);
    app.post(&format!("{r}/participants/{member}/accept"), &json!({}))
        .await
        .expect(200);
    app.post(&format!("{r}/close"), &json!({}))
        .await
        .expect(200);
    app.post(&format!("{r}/reopen"), &json!({"reason": "补报"}))
        .await
        .expect(200);
    let bulletin = app
        .post(
            &format!("{r}/publish"),
            &json!({"force": true, "reason": "市本级未报"}),
        )
        .await
        .expect(201)
        .body["id"]
        .clone();
    app.post(
        &format!("/api/v1/reports/progress/snapshots/{bulletin}/withdraw"),
        &json!({"reason": "更正后重发"}),
    )
    .await
    .expect(200);
    app.user_token("li.officer", "county_officer", Some(county))
        .await;
    let user = app.get("/api/v1/users?limit=500").await.body["items"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"] == "li.officer")
        .expect("user")["id"]
        .clone();
    let u = format!("/api/v1/users/{user}");
    app.patch(&u, Some("\"1\""), &json!({"display_name": "李"}))
        .await
        .expect(200);
    app.patch(
        &u,
        Some("\"2\""),
        &json!({"password": "a brand new password"}),
    )
    .await
    .expect(200);
    let client = app
        .post(
            "/api/v1/clients",
            &json!({"name": "脚本", "county_id": county}),
        )
        .await
        .expect(201)
        .body["client"]["id"]
        .clone();
    app.patch(
        &format!("/api/v1/clients/{client}"),
        Some("\"1\""),
        &json!({"name": "脚本（改）"}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/clients/{client}/rotate-secret"),
        &json!({}),
    )
    .await
    .expect(200);
    // A webhook subscription made, changed, its secret rotated, and removed.
    let hook = app
        .post(
            "/api/v1/webhooks",
            &json!({"url": "http://127.0.0.1:9/hook", "county_id": county}),
        )
        .await
        .expect(201)
        .body["webhook"]["id"]
        .clone();
    let h = format!("/api/v1/webhooks/{hook}");
    app.patch(&h, Some("\"1\""), &json!({"description": "县系统"}))
        .await
        .expect(200);
    app.post(&format!("{h}/rotate-secret"), &json!({}))
        .await
        .expect(200);
    app.delete(&h, Some("\"3\"")).await.expect(204);
    // A province and a city, each made, renamed and deleted (with their own rows).
    for (list, code, name) in [
        ("provinces", "450000", "广西"),
        ("cities", "445200", "揭阳"),
    ] {
        let made = app
            .post(
                &format!("/api/v1/{list}"),
                &json!({"division_code": code, "name": name}),
            )
            .await
            .expect(201)
            .body["id"]
            .clone();
        let path = format!("/api/v1/{list}/{made}");
        app.patch(
            &path,
            Some("\"1\""),
            &json!({"name": format!("{name}（改）")}),
        )
        .await
        .expect(200);
        app.delete(&path, Some("\"2\"")).await.expect(204);
    }
}

on_both_backends! {
    async fn every_entity_and_action_the_api_writes_is_in_the_feed_as_in_the_audit_trail(app: TestApp) {
        every_kind_of_change(&app).await;
        let audit = trail(&app).await;
        let events = caught_up(&app, &app.admin_token, "", 1000, audit.len()).await;
        assert_eq!(events.iter().map(key).collect::<Vec<_>>(), audit);
        let mut types: Vec<&str> = events.iter().map(|e| e["type"].as_str().expect("type")).collect();
        types.sort_unstable();
        types.dedup();
        let mut listed: Vec<&str> = shuangbai::domain::audit::ChangeType::ALL.iter().map(|t| t.as_str()).collect();
        // Deactivating a user is the command line's (the API's PATCH records it as an update).
        listed.retain(|t| *t != "user.deactivate");
        listed.sort_unstable();
        assert_eq!(types, listed, "every change type the API makes, seen in the feed");
    }
}

// On PostgreSQL a later transaction can commit before an earlier one: eight writers that began
// in order commit in the reverse order while a reader follows the feed, and the reader still
// gets every event once.
#[actix_web::test]
async fn writers_committing_out_of_order_never_make_the_reader_miss_or_repeat_a_change() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    app.county("445302", "云城区", "district").await;
    let admin = app.admin_token.clone();
    let audit_before = trail(&app).await.len();
    let before = caught_up(&app, &admin, "", 100, audit_before).await;
    assert_eq!(before.len(), audit_before);
    let start = before.last().expect("the county's event")["cursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    let url = app.database_url.clone();
    let writers: Vec<_> = (0..8)
        .map(|k: u64| {
            let url = url.clone();
            std::thread::spawn(move || {
                use diesel::r2d2::ManageConnection;
                use diesel::Connection;
                std::thread::sleep(Duration::from_millis(60 * k));
                let mut conn = shuangbai::db::Manager::new(url, "public")
                    .connect()
                    .expect("connect");
                conn.transaction::<_, diesel::result::Error, _>(|c| {
                    let mut event = [shuangbai::db::audit::NewAuditEvent {
                        occurred_at: chrono::Utc::now().naive_utc(),
                        actor: format!("test:writer-{k}"),
                        action: shuangbai::domain::audit::AuditAction::Update,
                        entity: shuangbai::domain::audit::AuditEntity::County,
                        entity_id: 1,
                        county_id: Some(1),
                        request_id: format!("writer-{k}"),
                        reason: None,
                        before: None,
                        after: None,
                        entity_version: Some(2),
                        city_id: None,
                        province_id: None,
                    }];
                    shuangbai::db::audit::insert_all(c, &mut event)?;
                    // The first to begin is the last to commit.
                    std::thread::sleep(Duration::from_millis(150 * (8 - k)));
                    Ok(())
                })
                .expect("the writer commits");
            })
        })
        .collect();
    let mut seen: Vec<Value> = Vec::new();
    let mut cursor = start;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < 8 && std::time::Instant::now() < deadline {
        let (events, next) = follow(&app, &admin, Some(&cursor), "", 2).await;
        seen.extend(events);
        cursor = next;
        actix_web::rt::time::sleep(Duration::from_millis(40)).await;
    }
    for w in writers {
        w.join().expect("writer");
    }
    // Every writer has committed: the feed serves the rest once no older transaction (in the
    // whole cluster: other tests run beside this one) is still running.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < 8 && std::time::Instant::now() < deadline {
        let (rest, next) = follow(&app, &admin, Some(&cursor), "", 100).await;
        seen.extend(rest);
        cursor = next;
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let mut got: Vec<String> = seen
        .iter()
        .map(|e| e["request_id"].as_str().expect("request id").to_string())
        .collect();
    let expected_order = got.clone();
    got.sort();
    got.dedup();
    assert_eq!(
        got.len(),
        8,
        "each writer's change once: {expected_order:?}"
    );
    assert_eq!(seen.len(), 8, "and nothing twice");
    let mut all: Vec<_> = before.iter().chain(seen.iter()).map(key).collect();
    let mut audit = trail(&app).await;
    all.sort();
    audit.sort();
    assert_eq!(
        all, audit,
        "the reader's events are the audit trail exactly"
    );
}
