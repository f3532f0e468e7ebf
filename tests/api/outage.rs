//! A database outage, for real: a throwaway PostgreSQL cluster that this test starts, stops and
//! starts again itself (never the shared server, which other tests are using). Under concurrent
//! reads and idempotent writes, answers during the outage are 503 with `Retry-After` (never
//! another 5xx), the service serves again by itself soon after the database returns, and every
//! write acknowledged before, during or after is stored exactly once, retries with their key
//! included.
//!
//! Runs whenever `TEST_DATABASE_URL` is set (as CI sets it), and fails rather than skips when a
//! cluster cannot be started then. `SHUANGBAI_OUTAGE_ROUNDS` (default 2) sets how many times the
//! database is stopped; `bench/outage.sh` runs more rounds and prints each recovery time.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use awc::http::Method;
use serde_json::json;
use shuangbai::db::DatabaseUrl;

use crate::helpers::{settings_for, Backend, DbGuard, TestApp};

/// A PostgreSQL cluster in a temporary folder, on a free port, run as the `postgres` user when
/// the tests run as root (PostgreSQL refuses to run as root).
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

fn pg_bin_dir() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .filter(|bin| bin.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().expect(
        "TEST_DATABASE_URL is set, so this test must run: no initdb found (install PostgreSQL)",
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Cluster {
    fn start() -> Cluster {
        let bin = pg_bin_dir();
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let dir = std::env::temp_dir().join(format!(
            "sb_outage_{}",
            shuangbai::domain::random_token(10)
                .to_lowercase()
                .replace(['-', '_'], "x")
        ));
        std::fs::create_dir_all(&dir).expect("cluster folder");
        if as_postgres {
            let ok = Command::new("chown")
                .args(["postgres:postgres", &dir.to_string_lossy()])
                .status()
                .expect("chown")
                .success();
            assert!(ok, "chown of the cluster folder to postgres failed");
        }
        let cluster = Cluster {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        cluster.pg_ctl_start();
        cluster
    }

    fn data(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = command.args(args).output().expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").to_string_lossy().into_owned();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .output()
        } else {
            Command::new(&program).args(args).output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every status seen, by phase, and the writes acknowledged.
#[derive(Default)]
struct Seen {
    statuses: BTreeMap<(&'static str, u16), usize>,
    acknowledged: Vec<String>,
    problems: Vec<String>,
}

type Phase = Arc<Mutex<&'static str>>;

async fn status_of(
    app: &TestApp,
    req: awc::ClientRequest,
    body: Option<String>,
) -> Option<(u16, Option<String>, Option<String>)> {
    let sent = match body {
        Some(b) => req.send_body(b).await,
        None => req.send().await,
    };
    let mut res = sent.ok()?;
    let _ = res.body().limit(1 << 20).await;
    let header = |n: &str| {
        res.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let _ = app;
    Some((
        res.status().as_u16(),
        header("retry-after"),
        header("content-type"),
    ))
}

fn record(
    seen: &Mutex<Seen>,
    phase: &Phase,
    status: u16,
    retry_after: Option<String>,
    content_type: Option<String>,
) {
    let phase = *phase.lock().expect("phase");
    let mut seen = seen.lock().expect("seen");
    *seen.statuses.entry((phase, status)).or_default() += 1;
    if status == 503
        && (retry_after.is_none() || content_type.as_deref() != Some("application/problem+json"))
    {
        seen.problems.push(format!(
            "a 503 without Retry-After or problem+json ({phase})"
        ));
    }
    if status >= 500 && status != 503 {
        seen.problems.push(format!("{status} during {phase}"));
    }
}

/// A writer: creates towns one after another, each with its own key, retrying a town with the
/// same key until it is acknowledged.
async fn writer(
    app: Rc<TestApp>,
    id: usize,
    county_id: i64,
    stop: Arc<AtomicBool>,
    phase: Phase,
    seen: Arc<Mutex<Seen>>,
) {
    // Town codes are the county's six digits and three more: 240 towns per writer at most.
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) && n < 240 {
        let code = format!("445302{:03}", id * 240 + n + 1);
        let body = json!({"county_id": county_id, "name": format!("测试镇{code}"), "code": code, "kind": "town"}).to_string();
        let key = format!("writer-{id}-town-{n}");
        loop {
            let req = app
                .request(Method::POST, "/api/v1/towns")
                .insert_header(("idempotency-key", key.as_str()))
                .insert_header(("content-type", "application/json"));
            match status_of(&app, req, Some(body.clone())).await {
                Some((201, _, _)) => {
                    record(&seen, &phase, 201, None, None);
                    seen.lock().expect("seen").acknowledged.push(code.clone());
                    break;
                }
                Some((status, retry_after, content_type)) => {
                    record(&seen, &phase, status, retry_after, content_type);
                    if status != 503 {
                        seen.lock()
                            .expect("seen")
                            .problems
                            .push(format!("town {code}: {status}"));
                        return;
                    }
                }
                None => {}
            }
            if stop.load(Ordering::Relaxed) && *phase.lock().expect("phase") == "done" {
                // The load is over; this town was never acknowledged, so it need not exist.
                return;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        n += 1;
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn reader(
    app: Rc<TestApp>,
    round: i64,
    stop: Arc<AtomicBool>,
    phase: Phase,
    seen: Arc<Mutex<Seen>>,
) {
    let paths = [
        "/api/v1/towns?limit=5".to_string(),
        "/api/v1/counties".to_string(),
        "/api/v1/cities".to_string(),
        "/api/v1/changes?limit=5".to_string(),
        "/api/v1/reports/progress".to_string(),
        format!("/api/v1/rounds/{round}/completeness"),
        format!("/api/v1/rounds/{round}/table"),
        "/readyz".to_string(),
    ];
    while !stop.load(Ordering::Relaxed) {
        for path in &paths {
            if let Some((status, retry_after, content_type)) =
                status_of(&app, app.request(Method::GET, path), None).await
            {
                record(&seen, &phase, status, retry_after, content_type);
            }
        }
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `path` answers 200; the time it took.
async fn until_ok(app: &TestApp, path: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if let Some((200, _, _)) = status_of(app, app.request(Method::GET, path), None).await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{path} did not answer 200 within {within:?} of the database's return"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn a_postgres_outage_answers_503_and_the_service_recovers_by_itself_losing_nothing() {
    if std::env::var("TEST_DATABASE_URL").is_err() {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    }
    let rounds: usize = std::env::var("SHUANGBAI_OUTAGE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2);
    let cluster = Cluster::start();
    let url = DatabaseUrl::Postgres(cluster.url());
    // The cluster is thrown away whole: no database to drop inside it.
    let app = TestApp::spawn_on(Backend::Postgres, url, DbGuard::Nothing, |url| {
        let mut settings = settings_for(url);
        settings.pool_size = 8;
        settings.pool_timeout = Duration::from_secs(5);
        settings
    })
    .await;
    let county = app
        .post(
            "/api/v1/counties",
            &json!({"division_code": "445302", "name": "云城区", "kind": "district"}),
        )
        .await
        .expect(201)
        .body;
    let county_id = county["id"].as_i64().expect("county id");
    // A reporting round of its city, read across the outages and signed off after them.
    let round = app
        .post(
            "/api/v1/rounds",
            &json!({"title": "报送", "level": "city", "city_id": county["city_id"], "as_of": "2021-06-09", "due_on": "2099-01-01"}),
        )
        .await
        .expect(201)
        .body["id"]
        .as_i64()
        .expect("round id");

    let app = Rc::new(app);
    let stop = Arc::new(AtomicBool::new(false));
    let phase: Phase = Arc::new(Mutex::new("before"));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut tasks = Vec::new();
    for id in 0..4 {
        tasks.push(actix_web::rt::spawn(writer(
            app.clone(),
            id,
            county_id,
            stop.clone(),
            phase.clone(),
            seen.clone(),
        )));
    }
    for _ in 0..4 {
        tasks.push(actix_web::rt::spawn(reader(
            app.clone(),
            round,
            stop.clone(),
            phase.clone(),
            seen.clone(),
        )));
    }

    let mut recoveries = Vec::new();
    for round in 0..rounds {
        *phase.lock().expect("phase") = "before";
        actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
        cluster.stop();
        *phase.lock().expect("phase") = "outage";
        actix_web::rt::time::sleep(Duration::from_millis(2000)).await;
        let ready = status_of(&app, app.request(Method::GET, "/readyz"), None)
            .await
            .expect("readyz answers");
        assert_eq!(ready.0, 503, "/readyz is 503 while the database is down");
        let health = status_of(&app, app.request(Method::GET, "/healthz"), None)
            .await
            .expect("healthz answers");
        assert_eq!(health.0, 200, "/healthz stays 200");
        cluster.pg_ctl_start();
        *phase.lock().expect("phase") = "after";
        let took = until_ok(&app, "/api/v1/towns?limit=1", Duration::from_secs(10)).await;
        eprintln!(
            "outage round {round}: first 200 {} ms after the database accepted connections",
            took.as_millis()
        );
        recoveries.push(took);
    }
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    *phase.lock().expect("phase") = "done";
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("load task");
    }

    let seen = std::mem::take(&mut *seen.lock().expect("seen"));
    eprintln!("statuses by phase: {:?}", seen.statuses);
    assert!(seen.problems.is_empty(), "{:?}", seen.problems);
    assert!(
        seen.statuses.get(&("outage", 503)).is_some_and(|n| *n > 0),
        "the outage was seen as 503"
    );
    assert!(
        seen.statuses.get(&("after", 201)).is_some_and(|n| *n > 0)
            || seen.statuses.get(&("before", 201)).is_some_and(|n| *n > 1),
        "writes went through"
    );

    // Every acknowledged town exactly once, and nothing else.
    let mut stored: Vec<String> = Vec::new();
    let total = loop {
        let page = app
            .get(&format!("/api/v1/towns?limit=500&offset={}", stored.len()))
            .await
            .expect(200);
        let items = page.body["items"].as_array().expect("items");
        stored.extend(
            items
                .iter()
                .map(|t| t["code"].as_str().expect("code").to_string()),
        );
        if items.is_empty() || stored.len() as u64 >= page.body["total"].as_u64().expect("total") {
            break page.body["total"].as_u64().expect("total");
        }
    };
    stored.sort();
    let mut acknowledged = seen.acknowledged.clone();
    acknowledged.sort();
    let before_dedup = acknowledged.len();
    acknowledged.dedup();
    assert_eq!(
        before_dedup,
        acknowledged.len(),
        "each town acknowledged once"
    );
    let unacknowledged: Vec<&String> = stored
        .iter()
        .filter(|c| !acknowledged.contains(c))
        .collect();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|c| !stored.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}"
    );
    // A town whose last attempt got no answer may have been stored; at most one per writer.
    assert!(
        unacknowledged.len() <= 4,
        "stored but never acknowledged: {unacknowledged:?}"
    );
    assert_eq!(total, stored.len() as u64);
    let audit = app
        .get("/api/v1/audit-events?entity=town&limit=1")
        .await
        .expect(200);
    assert_eq!(
        audit.body["total"].as_u64(),
        Some(stored.len() as u64),
        "one audit event per town: none applied twice"
    );
    // The change feed, read across the outage, holds each stored town's creation once.
    let mut created = 0;
    let mut after = String::new();
    loop {
        let page = app
            .get(&format!(
                "/api/v1/changes?type=town.create&limit=1000{after}"
            ))
            .await
            .expect(200);
        let n = page.body["items"].as_array().expect("items").len();
        if n == 0 {
            break;
        }
        created += n;
        after = format!("&after={}", page.body["next"].as_str().expect("next"));
    }
    assert_eq!(created, stored.len(), "the feed has each stored town once");
    // The progress table, read across the outage while its keeper thread kept (or failed to
    // keep) its counts, equals the table counted from scratch once the database is back.
    let table = app.get("/api/v1/reports/progress").await.expect(200).body;
    let recounted = {
        use diesel::r2d2::ManageConnection;
        let mut conn = shuangbai::db::Manager::new(app.database_url.clone(), "public")
            .connect()
            .expect("connect");
        let as_of = table["as_of"]
            .as_str()
            .expect("as_of")
            .parse()
            .expect("date");
        let year = table["fiscal_year"].as_i64().expect("year") as i32;
        let place = shuangbai::service::tables::place(&mut conn, None, None, None).expect("place");
        shuangbai::service::tables::recounted_table(&mut conn, &place, as_of, year)
            .expect("recounted")
    };
    assert_eq!(
        table,
        serde_json::to_value(recounted).expect("json"),
        "kept across the outage"
    );
    // The round answers as before: its county signs off, and the sign-off is the county's
    // row as the table has it.
    let officer = app
        .user_token("outage.officer", "county_officer", Some(county_id))
        .await;
    let members = app
        .get(&format!("/api/v1/rounds/{round}/participants"))
        .await
        .expect(200)
        .body;
    let member = members["items"]
        .as_array()
        .expect("participants")
        .iter()
        .find(|p| p["county_id"] == json!(county_id))
        .expect("the county takes part")["participant_id"]
        .clone();
    let signed = app
        .post_as(
            &officer,
            &format!("/api/v1/rounds/{round}/participants/{member}/submissions"),
            &json!({}),
        )
        .await
        .expect(201)
        .body;
    let live = app
        .get(&format!(
            "/api/v1/reports/progress?as_of=2021-06-09&city_id={}",
            county["city_id"]
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(signed["row"], live["rows"][0], "frozen as the table has it");
    eprintln!(
        "{} towns acknowledged over {rounds} outages; recoveries (ms): {:?}",
        acknowledged.len(),
        recoveries.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
    );
}

/// A request finding every pooled connection busy waits for a turn (without a thread) at most
/// the pool's wait, then answers 503; once the connection is free the pool serves again.
#[actix_web::test]
async fn a_request_waits_for_a_busy_pool_only_as_long_as_the_pool_timeout() {
    use shuangbai::error::ApiError;
    use std::sync::mpsc;

    let (url, _guard) = crate::helpers::fresh_database(Backend::Sqlite).expect("sqlite");
    let pool = shuangbai::db::build_pool(&url, "public", 1, Duration::from_millis(300));
    let (release, held) = mpsc::channel::<()>();
    let (started, running) = mpsc::channel::<()>();
    let holder = actix_web::rt::spawn({
        let pool = pool.clone();
        async move {
            shuangbai::db::run(&pool, move |_| {
                started.send(()).ok();
                held.recv().ok();
                Ok(())
            })
            .await
        }
    });
    while running.try_recv().is_err() {
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }

    let asked = Instant::now();
    let second = shuangbai::db::run(&pool, |_| Ok(())).await;
    let waited = asked.elapsed();
    assert!(
        matches!(second, Err(ApiError::Unavailable(_))),
        "503 while the only connection is busy: {second:?}"
    );
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(2),
        "waited {waited:?}"
    );

    release.send(()).expect("release the connection");
    holder
        .await
        .expect("the holder ran")
        .expect("the first request succeeded");
    shuangbai::db::run(&pool, |_| Ok(()))
        .await
        .expect("the pool serves again once free");
}

/// Webhook messages committed before an outage wait it out: the deliverer, finding no database,
/// sends nothing and says so; once PostgreSQL is back it sends each of them once, in order.
#[actix_web::test]
async fn webhook_messages_waiting_through_a_postgres_outage_are_sent_once_it_is_back() {
    if std::env::var("TEST_DATABASE_URL").is_err() {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    }
    let cluster = Cluster::start();
    let url = DatabaseUrl::Postgres(cluster.url());
    let app = TestApp::spawn_on(Backend::Postgres, url, DbGuard::Nothing, |url| {
        let mut settings = settings_for(url);
        settings.webhooks.deliver = true;
        settings.webhooks.retry = "100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms"
            .parse()
            .expect("schedule");
        settings
    })
    .await;
    let rx = crate::webhooks::Receiver::start().await;
    rx.fail(true);
    crate::webhooks::subscribe(
        &app,
        &app.admin_token,
        json!({"url": rx.url, "event_types": ["town.create"]}),
    )
    .await;
    let county = app
        .post(
            "/api/v1/counties",
            &json!({"division_code": "445302", "name": "云城区", "kind": "district"}),
        )
        .await
        .expect(201)
        .body["id"]
        .clone();
    for n in 1..=3 {
        app.post(
            "/api/v1/towns",
            &json!({"county_id": county, "name": format!("第{n}镇"), "code": format!("44530210{n}"), "kind": "town"}),
        )
        .await
        .expect(201);
    }
    let since = Instant::now();
    while rx.inbox.hits.load(std::sync::atomic::Ordering::SeqCst) < 1 {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "an attempt is made"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.stop();
    // The receiver answers again while the database is down: nothing can be sent meanwhile.
    rx.fail(false);
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    assert!(rx.got().is_empty(), "nothing is sent without the database");
    cluster.pg_ctl_start();
    let got = rx.wait_for(3).await;
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let got_now = rx.got();
    assert_eq!(got_now.len(), 3, "each once");
    let towns: Vec<String> = got
        .iter()
        .map(|g| g.json()["data"]["id"].to_string())
        .collect();
    assert_eq!(towns, ["1", "2", "3"], "in order");
    let ids: std::collections::HashSet<&str> = got_now.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids.len(), 3);
}
