//! Webhooks: the feed's changes pushed as Standard Webhooks 1.0 to receivers these tests run on
//! 127.0.0.1, from the outbox, at least once, in order per subscription.
//!
//! The test app itself delivers nothing; each test starts a second instance on the same
//! database that does (as a deployment's instances share one database), so "the instance that
//! wrote" and "the instance that sends" are really different.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use shuangbai::config::Settings;
use shuangbai::domain::webhook::SigningSecret;

use crate::helpers::{TestApp, PASSWORD};

/// One request a receiver answered with a 2xx.
#[derive(Debug, Clone)]
pub(crate) struct Got {
    pub(crate) id: String,
    timestamp: String,
    signature: String,
    body: String,
}

impl Got {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
pub(crate) struct Inbox {
    got: Mutex<Vec<Got>>,
    pub(crate) hits: AtomicUsize,
    failing: AtomicBool,
}

/// A webhook receiver on 127.0.0.1: answers 204 and keeps what it got, or 503 while failing.
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) inbox: Arc<Inbox>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        let inbox = Arc::new(Inbox::default());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let data = web::Data::from(inbox.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}/hooks"),
            inbox,
        }
    }

    pub(crate) fn got(&self) -> Vec<Got> {
        self.inbox.got.lock().expect("inbox").clone()
    }

    pub(crate) fn fail(&self, failing: bool) {
        self.inbox.failing.store(failing, Ordering::SeqCst);
    }

    /// Waits until it has got `n` messages (at most 20 s), and answers them.
    pub(crate) async fn wait_for(&self, n: usize) -> Vec<Got> {
        let since = Instant::now();
        loop {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            assert!(
                since.elapsed() < Duration::from_secs(20),
                "got {} of {n} messages: {:?}",
                got.len(),
                got.iter()
                    .map(|g| g.json()["type"].clone())
                    .collect::<Vec<_>>()
            );
            actix_web::rt::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, inbox: web::Data<Inbox>) -> HttpResponse {
    inbox.hits.fetch_add(1, Ordering::SeqCst);
    if inbox.failing.load(Ordering::SeqCst) {
        // With a NUL and an escape sequence: the attempt's error keeps it printable.
        return HttpResponse::ServiceUnavailable().body("receiver down\0 for maintenance\x1b[31m");
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    inbox.got.lock().expect("inbox").push(Got {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    HttpResponse::NoContent().finish()
}

/// A delivering instance on the app's database, with a retry schedule of the test's.
async fn deliverer(app: &TestApp, schedule: &str) -> TestApp {
    let schedule = schedule.parse().expect("schedule");
    app.another_instance_with(move |s: &mut Settings| {
        s.webhooks.deliver = true;
        s.webhooks.retry = schedule;
    })
    .await
}

/// Subscribes as `token`; answers the subscription's id and its secret.
pub(crate) async fn subscribe(app: &TestApp, token: &str, body: Value) -> (i64, String) {
    let r = app
        .post_as(token, "/api/v1/webhooks", &body)
        .await
        .expect(201);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let secret = r.body["secret"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("whsec_"));
    (r.body["webhook"]["id"].as_i64().expect("id"), secret)
}

/// Checks each message's signature with each secret (this crate's HMAC), and with the
/// `standardwebhooks` libraries, independent implementations, when they are at hand (CI sets
/// both): `SHUANGBAI_WEBHOOK_VERIFIER` names a Python that has the package,
/// `SHUANGBAI_WEBHOOK_NODE_MODULES` a folder holding the npm package.
fn verify(got: &[Got], secrets: &[&str]) {
    for g in got {
        let sent: Vec<&str> = g.signature.split(' ').collect();
        for secret in secrets {
            let s = SigningSecret::parse(secret).expect("secret");
            let ts: i64 = g.timestamp.parse().expect("timestamp");
            let expected = s.sign(&g.id, ts, g.body.as_bytes());
            assert!(
                sent.contains(&expected.as_str()),
                "a signature by {secret:.12}…"
            );
        }
    }
    let captured: Vec<Value> = secrets
        .iter()
        .flat_map(|secret| {
            got.iter().map(move |g| {
                json!({"secret": secret, "body": g.body, "headers": {
                    "webhook-id": g.id, "webhook-timestamp": g.timestamp, "webhook-signature": g.signature,
                }})
            })
        })
        .collect();
    let dir = env!("CARGO_MANIFEST_DIR");
    match std::env::var("SHUANGBAI_WEBHOOK_VERIFIER") {
        Ok(python) => {
            let mut cmd = std::process::Command::new(python);
            cmd.arg(format!("{dir}/tests/verify_webhooks.py"));
            run_verifier(cmd, &captured);
        }
        Err(_) => {
            eprintln!("SHUANGBAI_WEBHOOK_VERIFIER is not set: standardwebhooks (Python) not run")
        }
    }
    match std::env::var("SHUANGBAI_WEBHOOK_NODE_MODULES") {
        Ok(modules) => {
            let mut cmd = std::process::Command::new("node");
            cmd.arg(format!("{dir}/tests/verify_webhooks.cjs"))
                .env("NODE_PATH", modules);
            run_verifier(cmd, &captured);
        }
        Err(_) => {
            eprintln!("SHUANGBAI_WEBHOOK_NODE_MODULES is not set: standardwebhooks (npm) not run")
        }
    }
}

/// Runs an independent verifier on the captures; it must verify every one.
fn run_verifier(mut cmd: std::process::Command, captured: &[Value]) {
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the verifier starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(Value::Array(captured.to_vec()).to_string().as_bytes())
            .expect("captures written");
    }
    let out = child.wait_with_output().expect("the verifier ends");
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "standardwebhooks refused: {said}");
    assert!(
        said.contains(&format!("verified {}", captured.len())),
        "{said}"
    );
    println!("{}", said.trim());
}

#[derive(diesel::QueryableByName)]
struct Stored {
    #[diesel(sql_type = diesel::sql_types::Text)]
    t: String,
}

/// Every signing secret as the database holds it.
fn stored_secrets(app: &TestApp) -> String {
    use diesel::{Connection, RunQueryDsl};
    let q = "SELECT secret || ' ' || COALESCE(previous_secret, '') AS t FROM webhooks";
    let rows: Vec<Stored> = match &app.database_url {
        shuangbai::db::DatabaseUrl::Postgres(url) => {
            let mut c = diesel::PgConnection::establish(url).expect("connect");
            diesel::sql_query(q).load(&mut c).expect("read")
        }
        shuangbai::db::DatabaseUrl::Sqlite(path) => {
            let mut c =
                diesel::SqliteConnection::establish(&path.display().to_string()).expect("open");
            diesel::sql_query(q).load(&mut c).expect("read")
        }
    };
    rows.into_iter().map(|r| r.t).collect::<Vec<_>>().join("\n")
}

/// The feed's items from the start, as the admin sees them.
async fn feed(app: &TestApp) -> Vec<Value> {
    app.get("/api/v1/changes?limit=1000").await.expect(200).body["items"]
        .as_array()
        .expect("items")
        .clone()
}

on_both_backends! {
    async fn every_change_arrives_once_signed_with_the_feeds_event_within_each_owners_rights(app: TestApp) {
        let county = app.county("445302", "云城区", "district").await;
        let city = app.get(&format!("/api/v1/counties/{county}")).await.body["city_id"].as_i64().expect("city");
        app.post("/api/v1/cities", &json!({"division_code": "445200", "name": "揭阳市"})).await.expect(201);
        let elsewhere = app.county("445202", "揭东区", "district").await;
        app.post("/api/v1/users", &json!({"username": "yunfu.admin", "display_name": "云浮市", "role": "city_admin", "city_id": city, "password": PASSWORD})).await.expect(201);
        let city_admin = app.token_for("yunfu.admin", PASSWORD).await;
        let made = app.post("/api/v1/clients", &json!({"name": "县系统", "county_id": county})).await.expect(201).body;
        let client = app.post("/api/v1/auth/token", &json!({"grant_type": "client_credentials", "client_id": made["client"]["client_id"], "client_secret": made["client_secret"]}))
            .await.expect(200).body["access_token"].as_str().expect("token").to_string();

        let (all_rx, city_rx, county_rx) = (Receiver::start().await, Receiver::start().await, Receiver::start().await);
        // The administrator's subscription hears of everything from its own making on, the
        // other subscriptions' making included.
        let (_, all_secret) = subscribe(&app, &app.admin_token, json!({"url": all_rx.url})).await;
        let (_, city_secret) = subscribe(&app, &city_admin, json!({"url": city_rx.url})).await;
        let (county_hook, county_secret) = subscribe(&app, &client, json!({"url": county_rx.url, "event_types": ["town.create", "station.create", "station.update", "user.create"]})).await;
        let _sender = deliverer(&app, "100ms,200ms").await;

        // Changes in the county, in the other city's county, and an account of the county.
        let town = app.post("/api/v1/towns", &json!({"county_id": county, "name": "河口街道", "code": "445302001", "kind": "street"})).await.expect(201).body["id"].clone();
        let site = app.post("/api/v1/stations", &json!({"kind": "station", "town_id": town, "name": "河口社工站", "ref": "ST-1", "planned_on": "2021-01-04"})).await.expect(201).body;
        app.patch(&format!("/api/v1/stations/{}", site["id"]), Some("\"1\""), &json!({"name": "河口街道社工站"})).await.expect(200);
        app.post("/api/v1/towns", &json!({"county_id": elsewhere, "name": "曲溪街道", "code": "445202001", "kind": "street"})).await.expect(201);
        app.user_token("officer.yuncheng", "county_officer", Some(county)).await;

        // Everything since the administrator subscribed, in the feed's order; each body is
        // {type, timestamp, data}, data the feed's own event (read once the feed serves them all:
        // on PostgreSQL it waits for every older transaction of the cluster to finish).
        let all = all_rx.wait_for(8).await;
        let bodies: Vec<Value> = all.iter().map(Got::json).collect();
        let types: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().expect("type")).collect();
        assert_eq!(types, ["webhook.create", "webhook.create", "webhook.create", "town.create", "station.create", "station.update", "town.create", "user.create"]);
        let since = Instant::now();
        let changes: Vec<Value> = loop {
            let changes: Vec<Value> = feed(&app).await.into_iter().skip_while(|c| c["entity"] != "webhook").collect();
            if changes.len() >= 8 || since.elapsed() > Duration::from_secs(20) {
                break changes;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        };
        let expected: Vec<Value> = changes.iter().map(|c| json!({"type": c["type"], "timestamp": c["occurred_at"], "data": c})).collect();
        assert_eq!(bodies, expected);
        let ids: HashSet<&str> = all.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids.len(), all.len(), "each webhook-id once");
        assert!(all.iter().all(|g| g.id.starts_with("msg_")));
        verify(&all, &[&all_secret]);

        // The city's administrator hears of its city's changes and accounts; the county's client,
        // of its types in its own county, never of accounts.
        let types = |got: &[Got]| got.iter().map(|g| g.json()["type"].as_str().expect("type").to_string()).collect::<Vec<_>>();
        let city_got = city_rx.wait_for(4).await;
        assert_eq!(types(&city_got), ["town.create", "station.create", "station.update", "user.create"]);
        verify(&city_got, &[&city_secret]);
        let county_got = county_rx.wait_for(3).await;
        assert_eq!(types(&county_got), ["town.create", "station.create", "station.update"]);
        verify(&county_got, &[&county_secret]);
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        assert_eq!((all_rx.got().len(), city_rx.got().len(), county_rx.got().len()), (8, 4, 3), "nothing more, nothing twice");

        // Each attempt is listed: its status, duration, no error, no next try.
        let attempts = app.get_as(&client, &format!("/api/v1/webhooks/{county_hook}/deliveries")).await.expect(200).body;
        assert_eq!(attempts["total"], 3);
        for a in attempts["items"].as_array().expect("items") {
            assert_eq!((a["status_code"].clone(), a["message_state"].clone(), a["next_attempt_at"].clone(), a["error"].clone()), (json!(204), json!("delivered"), Value::Null, Value::Null));
        }
        // Others' subscriptions are not theirs to see.
        app.get_as(&city_admin, &format!("/api/v1/webhooks/{county_hook}")).await.expect_problem(403);
        assert_eq!(app.get_as(&client, "/api/v1/webhooks").await.expect(200).body["total"], 1);
        assert_eq!(app.get_as(&city_admin, "/api/v1/webhooks").await.expect(200).body["total"], 1);
        assert_eq!(app.get("/api/v1/webhooks").await.expect(200).body["total"], 3);
        // An integration account (a user) lists and manages what it made itself.
        let script = app.user_token("script.yuncheng", "integration", Some(county)).await;
        let (own, _) = subscribe(&app, &script, json!({"url": county_rx.url, "county_id": county})).await;
        let listed = app.get_as(&script, "/api/v1/webhooks").await.expect(200).body;
        assert_eq!((listed["total"].clone(), listed["items"][0]["id"].clone()), (json!(1), json!(own)));
        app.post_as(&script, "/api/v1/webhooks", &json!({"url": county_rx.url, "county_id": elsewhere})).await.expect_problem(403);
        let officer = app.token_for("officer.yuncheng", PASSWORD).await;
        app.post_as(&officer, "/api/v1/webhooks", &json!({"url": county_rx.url})).await.expect_problem(403);
    }

    async fn a_receiver_down_for_a_while_gets_the_backlog_in_order_once_it_returns(app: TestApp) {
        let county = app.county("445302", "云城区", "district").await;
        let rx = Receiver::start().await;
        rx.fail(true);
        let (hook, secret) = subscribe(&app, &app.admin_token, json!({"url": rx.url, "event_types": ["town.create"]})).await;
        let _sender = deliverer(&app, "100ms,200ms,300ms,400ms,500ms,1s,1s,1s,1s,1s").await;
        for n in 1..=6 {
            app.post("/api/v1/towns", &json!({"county_id": county, "name": format!("第{n}镇"), "code": format!("44530210{n}"), "kind": "town"})).await.expect(201);
        }
        // Down: the first message is tried and retried; the ones behind it wait their turn.
        let since = Instant::now();
        while rx.inbox.hits.load(Ordering::SeqCst) < 3 {
            assert!(since.elapsed() < Duration::from_secs(10), "the deliverer retries");
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        let attempts = app.get(&format!("/api/v1/webhooks/{hook}/deliveries")).await.expect(200).body;
        let first = &attempts["items"][0];
        assert_eq!(first["status_code"], 503);
        assert_eq!(first["message_state"], "pending");
        assert!(first["next_attempt_at"].is_string());
        assert!(first["error"].as_str().expect("error").contains("receiver down"), "{first}");
        let tried: HashSet<i64> = attempts["items"].as_array().expect("items").iter().map(|a| a["message_id"].as_i64().expect("id")).collect();
        assert_eq!(tried.len(), 1, "only the head of the line is tried while it fails");
        assert!(app.get(&format!("/api/v1/webhooks/{hook}")).await.body["failing_since"].is_string());
        rx.fail(false);
        let got = rx.wait_for(6).await;
        let names: Vec<String> = got.iter().map(|g| g.json()["data"]["id"].to_string()).collect();
        let mut sorted = names.clone();
        sorted.sort_by_key(|id| id.parse::<i64>().expect("id"));
        assert_eq!(names, sorted, "in the feed's order");
        assert_eq!(got.iter().map(|g| g.id.as_str()).collect::<HashSet<_>>().len(), 6, "each once");
        verify(&got, &[&secret]);
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(rx.got().len(), 6);
        assert!(app.get(&format!("/api/v1/webhooks/{hook}")).await.body["failing_since"].is_null(), "answering again");
    }

    async fn a_message_past_its_last_retry_is_given_up_and_a_retry_sends_it_with_the_same_id(app: TestApp) {
        let rx = Receiver::start().await;
        rx.fail(true);
        let (hook, _) = subscribe(&app, &app.admin_token, json!({"url": rx.url, "event_types": ["town.create"]})).await;
        let _sender = deliverer(&app, "50ms,50ms").await;
        let queued = app.post(&format!("/api/v1/webhooks/{hook}/test"), &json!({})).await.expect(202).body;
        assert_eq!(queued["event_type"], "webhook.test");
        let since = Instant::now();
        let attempts = loop {
            let a = app.get(&format!("/api/v1/webhooks/{hook}/deliveries")).await.expect(200).body;
            if a["items"][0]["message_state"] == "failed" {
                break a;
            }
            assert!(since.elapsed() < Duration::from_secs(10), "given up after its schedule: {a}");
            actix_web::rt::time::sleep(Duration::from_millis(30)).await;
        };
        assert_eq!(attempts["total"], 3, "the first attempt and two retries");
        assert!(attempts["items"][0]["next_attempt_at"].is_null());
        rx.fail(false);
        let delivery = attempts["items"][0]["id"].clone();
        let again = app.post(&format!("/api/v1/webhooks/{hook}/deliveries/{delivery}/retry"), &json!({})).await.expect(202).body;
        assert_eq!(again["state"], "pending");
        let got = rx.wait_for(1).await;
        assert_eq!(got[0].id, queued["webhook_message_id"], "the same webhook-id");
        assert_eq!(got[0].json()["type"], "webhook.test");
        assert_eq!(got[0].json()["data"]["webhook_id"], hook);
        app.post(&format!("/api/v1/webhooks/{hook}/deliveries/999999/retry"), &json!({})).await.expect_problem(404);
        // Ended messages are forgotten with their attempts once past the days kept; pending ones stay.
        rx.fail(true);
        app.post(&format!("/api/v1/webhooks/{hook}/test"), &json!({})).await.expect(202);
        let pool = shuangbai::startup::prepare_pool(&crate::helpers::settings_for(app.database_url.clone())).expect("pool");
        let mut conn = pool.get().expect("connection");
        let later = shuangbai::clock::now() + chrono::Duration::seconds(5);
        assert!(shuangbai::db::webhooks::prune(&mut conn, later).expect("pruned") >= 1);
        let left = app.get(&format!("/api/v1/webhooks/{hook}/deliveries")).await.expect(200).body;
        assert!(left["items"].as_array().expect("items").iter().all(|a| a["message_state"] == "pending"), "{left}");
    }

    async fn an_endpoint_failing_for_too_long_is_disabled_with_its_reason_until_reactivated(app: TestApp) {
        let rx = Receiver::start().await;
        rx.fail(true);
        let (hook, _) = subscribe(&app, &app.admin_token, json!({"url": rx.url, "event_types": ["town.create"]})).await;
        let _sender = app.another_instance_with(|s: &mut Settings| {
            s.webhooks.deliver = true;
            s.webhooks.retry = "100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms".parse().expect("schedule");
            s.webhooks.disable_after = Duration::from_millis(500);
        }).await;
        app.post(&format!("/api/v1/webhooks/{hook}/test"), &json!({})).await.expect(202);
        let since = Instant::now();
        let disabled = loop {
            let w = app.get(&format!("/api/v1/webhooks/{hook}")).await.expect(200).body;
            if w["active"] == false {
                break w;
            }
            assert!(since.elapsed() < Duration::from_secs(10), "disabled: {w}");
            actix_web::rt::time::sleep(Duration::from_millis(30)).await;
        };
        let reason = disabled["disabled_reason"].as_str().expect("a reason");
        assert!(reason.contains("every attempt has failed") && reason.contains("503"), "{reason}");
        let hits = rx.inbox.hits.load(Ordering::SeqCst);
        actix_web::rt::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(rx.inbox.hits.load(Ordering::SeqCst), hits, "nothing is sent to a disabled subscription");
        app.post(&format!("/api/v1/webhooks/{hook}/test"), &json!({})).await.expect_problem(409);
        let audit = app.get(&format!("/api/v1/audit-events?entity=webhook&entity_id={hook}")).await.expect(200).body;
        assert_eq!(audit["items"][0]["actor"], "system:webhook-deliverer");
        rx.fail(false);
        let version = disabled["version"].to_string();
        let back = app.patch(&format!("/api/v1/webhooks/{hook}"), Some(&format!("\"{version}\"")), &json!({"active": true})).await.expect(200).body;
        assert!(back["disabled_reason"].is_null() && back["failing_since"].is_null());
        assert_eq!(rx.wait_for(1).await[0].json()["type"], "webhook.test", "its pending message goes once it is active again");
    }

    async fn a_rotated_secret_signs_beside_the_new_one_and_neither_is_shown_again(app: TestApp) {
        let rx = Receiver::start().await;
        let (hook, old) = subscribe(&app, &app.admin_token, json!({"url": rx.url, "description": "省平台"})).await;
        let rotated = app.post(&format!("/api/v1/webhooks/{hook}/rotate-secret"), &json!({})).await.expect(200);
        assert_eq!(rotated.header("cache-control").as_deref(), Some("no-store"));
        let new = rotated.body["secret"].as_str().expect("secret").to_string();
        assert_ne!(new, old);
        assert!(rotated.body["webhook"]["previous_secret_until"].is_string());
        let _sender = deliverer(&app, "100ms").await;
        app.post(&format!("/api/v1/webhooks/{hook}/test"), &json!({})).await.expect(202);
        let got = rx.wait_for(1).await;
        assert_eq!(got[0].signature.split(' ').count(), 2, "both secrets sign");
        verify(&got, &[&old, &new]);
        // Never shown again, never in the audit trail, and sealed in the database.
        let shown = app.get(&format!("/api/v1/webhooks/{hook}")).await.expect(200);
        let audit = app.get(&format!("/api/v1/audit-events?entity=webhook&entity_id={hook}")).await.expect(200);
        for secret in [&old, &new] {
            let b64 = &secret["whsec_".len()..];
            assert!(!String::from_utf8_lossy(&shown.raw).contains(b64));
            assert!(!String::from_utf8_lossy(&audit.raw).contains(b64));
        }
        let stored = stored_secrets(&app);
        assert!(stored.starts_with("sealed:v1:"), "{stored:.20}");
        assert!(!stored.contains(&new["whsec_".len()..]) && !stored.contains(&old["whsec_".len()..]), "the secrets are sealed at rest");
    }

    async fn private_targets_are_refused_at_subscription_and_at_delivery_without_the_setting(app: TestApp) {
        let strict = app.another_instance_with(|s: &mut Settings| s.webhooks.allow_private = false).await;
        for url in ["http://127.0.0.1:9/h", "http://localhost:9/h", "http://169.254.169.254/latest/meta-data", "http://10.0.0.8/h", "http://[::1]/h", "http://[::ffff:192.168.0.1]/h"] {
            let r = strict.post("/api/v1/webhooks", &json!({"url": url})).await.expect_problem(422);
            assert_eq!(r.error_fields(), ["url"], "{url}");
        }
        for (body, field) in [
            (json!({"url": "ftp://example.com/h"}), "url"),
            (json!({"url": "https://u:p@example.com/h"}), "url"),
            (json!({"url": "http://127.0.0.1:9/h", "event_types": []}), "event_types"),
            (json!({"url": "http://127.0.0.1:9/h", "event_types": ["station.explode"]}), "/event_types/0"),
            (json!({"url": "http://127.0.0.1:9/h", "county_id": 99999}), "county_id"),
        ] {
            let r = app.post("/api/v1/webhooks", &body).await.expect_problem(422);
            assert!(r.error_fields().iter().any(|f| f.starts_with(field)), "{body}: {:?}", r.error_fields());
        }
        assert_eq!(app.get("/api/v1/webhooks").await.body["total"], 0, "nothing was made");
        // Made where private targets are allowed, sent by an instance where they are not.
        let rx = Receiver::start().await;
        let (hook, _) = subscribe(&app, &app.admin_token, json!({"url": rx.url})).await;
        let _sender = app.another_instance_with(|s: &mut Settings| {
            s.webhooks.deliver = true;
            s.webhooks.allow_private = false;
        }).await;
        app.post(&format!("/api/v1/webhooks/{hook}/test"), &json!({})).await.expect(202);
        let since = Instant::now();
        let attempt = loop {
            let a = app.get(&format!("/api/v1/webhooks/{hook}/deliveries")).await.expect(200).body;
            if a["total"].as_i64() > Some(0) {
                break a["items"][0].clone();
            }
            assert!(since.elapsed() < Duration::from_secs(10), "an attempt is recorded");
            actix_web::rt::time::sleep(Duration::from_millis(30)).await;
        };
        assert!(attempt["status_code"].is_null());
        assert!(attempt["error"].as_str().expect("error").contains("not an address a webhook may reach"), "{attempt}");
        assert_eq!(rx.inbox.hits.load(Ordering::SeqCst), 0, "the receiver was never reached");
    }

    async fn what_was_committed_before_the_writing_instance_died_is_delivered_by_the_next(app: TestApp) {
        // The app delivers nothing: its changes are committed with their messages, then it is
        // gone as far as delivery goes; an instance started afterwards sends them all.
        let county = app.county("445302", "云城区", "district").await;
        let rx = Receiver::start().await;
        let (_, secret) = subscribe(&app, &app.admin_token, json!({"url": rx.url, "event_types": ["town.create", "town.update"]})).await;
        let town = app.post("/api/v1/towns", &json!({"county_id": county, "name": "河口街道", "code": "445302001", "kind": "street"})).await.expect(201).body["id"].clone();
        app.patch(&format!("/api/v1/towns/{town}"), Some("\"1\""), &json!({"name": "河口"})).await.expect(200);
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        assert!(rx.got().is_empty(), "nothing sent yet");
        let _restarted = deliverer(&app, "100ms").await;
        let got = rx.wait_for(2).await;
        let types: Vec<Value> = got.iter().map(|g| g.json()["type"].clone()).collect();
        assert_eq!(types, [json!("town.create"), json!("town.update")]);
        verify(&got, &[&secret]);
    }
}

/// The service as a process of its own (`shuangbai serve`) on the app's database, delivering.
struct Process {
    child: std::process::Child,
    address: String,
}

impl Process {
    async fn serve(app: &TestApp) -> Process {
        let url = match &app.database_url {
            shuangbai::db::DatabaseUrl::Postgres(url) => url.clone(),
            shuangbai::db::DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("address")
            .port();
        let settings = crate::helpers::settings_for(app.database_url.clone());
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_shuangbai"))
            .arg("serve")
            .env("DATABASE_URL", url)
            .env("SHUANGBAI_JWT_SECRET", settings.jwt_secret.expose())
            .env("SHUANGBAI_BIND", format!("127.0.0.1:{port}"))
            .env("SHUANGBAI_WEBHOOK_ALLOW_PRIVATE", "true")
            .env("SHUANGBAI_WEBHOOK_POLL_MS", "50")
            .env(
                "SHUANGBAI_WEBHOOK_RETRY_SCHEDULE",
                "100ms,2s,2s,2s,2s,2s,2s,2s",
            )
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the service starts");
        let address = format!("http://127.0.0.1:{port}");
        let since = Instant::now();
        while app
            .client
            .get(format!("{address}/readyz"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .ok()
            != Some(200)
        {
            assert!(
                since.elapsed() < Duration::from_secs(20),
                "the service answers"
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        Process { child, address }
    }

    /// SIGKILL: no shutdown of any kind.
    fn kill(mut self) {
        self.child.kill().expect("killed");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

on_both_backends! {
    async fn a_service_killed_with_messages_pending_delivers_each_once_after_a_restart(app: TestApp) {
        let county = app.county("445302", "云城区", "district").await;
        let rx = Receiver::start().await;
        rx.fail(true);
        let (hook, secret) = subscribe(&app, &app.admin_token, json!({"url": rx.url, "event_types": ["town.create"]})).await;
        let first = Process::serve(&app).await;
        // Written through the process that will be killed, while the receiver refuses.
        for n in 1..=3 {
            let r = app.client.post(format!("{}/api/v1/towns", first.address))
                .insert_header(("authorization", format!("Bearer {}", app.admin_token)))
                .send_json(&json!({"county_id": county, "name": format!("第{n}镇"), "code": format!("44530210{n}"), "kind": "town"}))
                .await
                .expect("sent");
            assert_eq!(r.status().as_u16(), 201);
        }
        let since = Instant::now();
        while rx.inbox.hits.load(Ordering::SeqCst) < 2 {
            assert!(since.elapsed() < Duration::from_secs(10), "the process tries to deliver");
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        // Killed while the first message waits out its 2 s retry, the others behind it.
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        first.kill();
        rx.fail(false);
        let _second = Process::serve(&app).await;
        let since = Instant::now();
        while rx.got().len() < 3 {
            assert!(since.elapsed() < Duration::from_secs(20), "delivered after the restart: {}", rx.got().len());
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        actix_web::rt::time::sleep(Duration::from_millis(500)).await;
        let got = rx.got();
        assert_eq!(got.len(), 3, "each once");
        assert_eq!(got.iter().map(|g| g.id.as_str()).collect::<HashSet<_>>().len(), 3);
        let towns: Vec<String> = got.iter().map(|g| g.json()["data"]["id"].to_string()).collect();
        assert_eq!(towns, ["1", "2", "3"], "in order");
        verify(&got, &[&secret]);
        let attempts = app.get(&format!("/api/v1/webhooks/{hook}/deliveries?limit=100")).await.expect(200).body;
        assert!(attempts["items"].as_array().expect("items").iter().any(|a| a["status_code"] == 503), "failed before the kill");
    }
}

/// Two instances on one PostgreSQL deliver each message once, sharing the subscriptions.
#[actix_web::test]
async fn two_instances_on_postgres_send_each_message_once() {
    let Some(app) = TestApp::spawn(crate::helpers::Backend::Postgres).await else {
        return;
    };
    let county = app.county("445302", "云城区", "district").await;
    let mut receivers = Vec::new();
    for _ in 0..4 {
        let rx = Receiver::start().await;
        subscribe(
            &app,
            &app.admin_token,
            json!({"url": rx.url, "event_types": ["town.create"]}),
        )
        .await;
        receivers.push(rx);
    }
    let _a = deliverer(&app, "100ms").await;
    let _b = deliverer(&app, "100ms").await;
    for n in 0..20 {
        app.post(
            "/api/v1/towns",
            &json!({"county_id": county, "name": format!("第{n}镇"), "code": format!("4453021{n:02}"), "kind": "town"}),
        )
        .await
        .expect(201);
    }
    for rx in &receivers {
        rx.wait_for(20).await;
    }
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    for rx in &receivers {
        let got = rx.got();
        assert_eq!(got.len(), 20, "each message once");
        let ids: HashSet<String> = got.iter().map(|g| g.id.clone()).collect();
        assert_eq!(ids.len(), 20);
        let towns: Vec<i64> = got
            .iter()
            .map(|g| g.json()["data"]["id"].as_i64().expect("id"))
            .collect();
        let mut sorted = towns.clone();
        sorted.sort_unstable();
        assert_eq!(towns, sorted, "in order per subscription");
    }
}
