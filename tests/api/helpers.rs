//! Spawns the real application on port 0 against a fresh database, and talks to it over HTTP.
//!
//! Every test written with [`on_both_backends!`] runs against SQLite, and against PostgreSQL when
//! `TEST_DATABASE_URL` names a server (each test gets its own database, dropped afterwards).

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use serde_json::Value;
use shuangbai::config::{Secret, Settings};
use shuangbai::db::DatabaseUrl;

pub const ADMIN: &str = "bureau.admin";
/// Every test user's password.
pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Removes the test's database when the test ends, whatever its outcome.
pub enum DbGuard {
    Sqlite(PathBuf),
    Postgres {
        admin_url: String,
        name: String,
    },
    /// The caller removes the database itself (a throwaway cluster).
    Nothing,
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        match self {
            DbGuard::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
                if let Some(dir) = path.parent() {
                    let _ = std::fs::remove_file(dir.join("jwt-secret"));
                    let _ = std::fs::remove_dir(dir);
                }
            }
            DbGuard::Nothing => {}
            DbGuard::Postgres { admin_url, name } => {
                if let Ok(mut conn) = PgConnection::establish(admin_url) {
                    let _ =
                        conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            }
        }
    }
}

pub struct TestApp {
    pub address: String,
    /// An access token of the administrator every test app starts with.
    pub admin_token: String,
    pub backend: Backend,
    pub database_url: DatabaseUrl,
    pub client: awc::Client,
    pub _guard: Arc<DbGuard>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: awc::http::header::HeaderMap,
    pub body: Value,
    #[allow(dead_code)]
    pub raw: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The fields named in a 422's `errors` list.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }

    #[track_caller]
    pub fn expect_problem(self, status: u16) -> Self {
        let r = self.expect(status);
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/problem+json"),
            "errors are problem+json"
        );
        assert_eq!(r.body["status"], status, "problem carries its status");
        r
    }
}

fn unique_name() -> String {
    format!(
        "sb_test_{}",
        shuangbai::domain::random_token(12)
            .to_lowercase()
            .replace('-', "_")
    )
}

/// `postgres://u@h:5432/db?x=y` with its database replaced by `name`.
/// Test connections go without TLS (unless the URL asks for it). The test process exits while
/// the last tests' servers are still closing their connections, and OpenSSL's exit-time cleanup
/// on the main thread racing a TLS connection's shutdown on another crashed the test binary
/// (SIGSEGV) after every test had passed.
fn without_tls(url: &str) -> String {
    if url.contains("sslmode=") {
        return url.to_string();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}sslmode=disable")
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

pub fn settings_for(database_url: DatabaseUrl) -> Settings {
    Settings {
        database_url,
        db_schema: "public".into(),
        bind: "127.0.0.1:0".parse().expect("address"),
        pool_size: 4,
        pool_timeout: Duration::from_secs(10),
        body_limit: 1 << 20,
        time_zone: chrono_tz::Asia::Shanghai,
        jwt_secret: Secret::new("test-secret-that-is-long-enough-for-hs256-signing".into()),
        cors_origins: vec!["https://front.example.gov.cn".into()],
        access_ttl_secs: 900,
        refresh_ttl_days: 14,
        session_max_days: 30,
        login_max_failures: 5,
        login_burst_per_ip: 10_000,
        // As deployed: the cache is on in every test, so each proves access ends when it should.
        auth_cache: Duration::from_secs(1),
        feed_retention_days: 30,
        keeping: shuangbai::config::Keeping::default(),
        webhooks: shuangbai::config::Webhooks::for_tests(
            &Secret::new("test-secret-that-is-long-enough-for-hs256-signing".into()),
            "200ms,400ms,800ms".parse().expect("schedule"),
        ),
    }
}

/// A fresh, empty database of the given backend; `None` for PostgreSQL without `TEST_DATABASE_URL`.
pub fn fresh_database(backend: Backend) -> Option<(DatabaseUrl, DbGuard)> {
    let name = unique_name();
    match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(&name);
            std::fs::create_dir_all(&dir).expect("temp dir");
            let path = dir.join("test.db");
            Some((DatabaseUrl::Sqlite(path.clone()), DbGuard::Sqlite(path)))
        }
        Backend::Postgres => {
            let admin_url = without_tls(&std::env::var("TEST_DATABASE_URL").ok()?);
            let mut admin = PgConnection::establish(&admin_url).unwrap_or_else(|e| {
                panic!("TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {e}")
            });
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create test database");
            let url = with_database(&admin_url, &name);
            Some((
                DatabaseUrl::Postgres(url),
                DbGuard::Postgres { admin_url, name },
            ))
        }
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        let (database_url, guard) = fresh_database(backend)?;
        Some(Self::spawn_on(backend, database_url, guard, settings_for).await)
    }

    /// The app on a database of the caller's, with settings the caller may adjust.
    pub async fn spawn_on(
        backend: Backend,
        database_url: DatabaseUrl,
        guard: DbGuard,
        settings: impl FnOnce(DatabaseUrl) -> Settings,
    ) -> TestApp {
        let settings = settings(database_url.clone());
        let pool = shuangbai::startup::prepare_pool(&settings).expect("database prepared");
        {
            let mut conn = pool.get().expect("connection");
            shuangbai::service::accounts::create_user(
                &mut conn,
                shuangbai::service::accounts::NewAccount {
                    username: ADMIN.into(),
                    display_name: "市民政局管理员".into(),
                    role: shuangbai::domain::auth::Role::Admin,
                    county_id: None,
                    city_id: None,
                    password: PASSWORD.into(),
                    phone: None,
                },
            )
            .expect("first admin");
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let port = listener.local_addr().expect("local address").port();
        let server = shuangbai::startup::run(listener, pool, settings).expect("server starts");
        actix_web::rt::spawn(server);
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(60))
            .finish();
        let mut app = TestApp {
            address: format!("http://127.0.0.1:{port}"),
            admin_token: String::new(),
            backend,
            database_url,
            client,
            _guard: Arc::new(guard),
        };
        app.admin_token = app.token_for(ADMIN, PASSWORD).await;
        app
    }

    /// A second instance of the app on this one's database, as behind a load balancer: its own
    /// pool and its own kept access-token checks; the same signing secret.
    pub async fn another_instance(&self) -> TestApp {
        self.another_instance_with(|_| {}).await
    }

    /// Another instance whose settings the caller adjusts (a webhook deliverer, say).
    pub async fn another_instance_with(&self, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = settings_for(self.database_url.clone());
        adjust(&mut settings);
        let pool = shuangbai::startup::prepare_pool(&settings).expect("database prepared");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let port = listener.local_addr().expect("local address").port();
        let server = shuangbai::startup::run(listener, pool, settings).expect("server starts");
        actix_web::rt::spawn(server);
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            admin_token: self.admin_token.clone(),
            backend: self.backend,
            database_url: self.database_url.clone(),
            client: awc::Client::builder()
                .timeout(Duration::from_secs(60))
                .finish(),
            _guard: self._guard.clone(),
        }
    }

    /// Asks for tokens with the password grant (form-encoded, as OAuth2 clients do).
    /// Creates a county (as the administrator) and answers its id.
    /// A province made through the API (with its own level row); answers its id.
    pub async fn province(&self, code: &str, name: &str) -> i64 {
        self.made(
            "/api/v1/provinces",
            serde_json::json!({"division_code": code, "name": name}),
        )
        .await
    }

    /// A city made through the API, in the province its code names; answers its id.
    pub async fn city(&self, code: &str, name: &str) -> i64 {
        self.made(
            "/api/v1/cities",
            serde_json::json!({"division_code": code, "name": name}),
        )
        .await
    }

    async fn made(&self, path: &str, body: serde_json::Value) -> i64 {
        self.post(path, &body).await.expect(201).body["id"]
            .as_i64()
            .expect("id")
    }

    pub async fn county(&self, code: &str, name: &str, kind: &str) -> i64 {
        self.post(
            "/api/v1/counties",
            &serde_json::json!({"division_code": code, "name": name, "kind": kind}),
        )
        .await
        .expect(201)
        .body["id"]
            .as_i64()
            .expect("id")
    }

    pub async fn login(&self, username: &str, password: &str) -> Resp {
        let form = format!(
            "grant_type=password&username={}&password={}",
            username,
            password.replace(' ', "+")
        );
        let req = self
            .request_anonymous(awc::http::Method::POST, "/api/v1/auth/token")
            .insert_header(("content-type", "application/x-www-form-urlencoded"));
        self.send(req, Some(form.into_bytes())).await
    }

    pub async fn token_for(&self, username: &str, password: &str) -> String {
        let r = self.login(username, password).await.expect(200);
        r.body["access_token"]
            .as_str()
            .expect("access token")
            .to_string()
    }

    /// Creates a user of `role` (bound to `county_id` when given) and returns its access token.
    pub async fn user_token(&self, username: &str, role: &str, county_id: Option<i64>) -> String {
        self.post(
            "/api/v1/users",
            &serde_json::json!({
                "username": username,
                "display_name": username,
                "role": role,
                "county_id": county_id,
                "password": PASSWORD,
            }),
        )
        .await
        .expect(201);
        self.token_for(username, PASSWORD).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn send(&self, req: awc::ClientRequest, body: Option<Vec<u8>>) -> Resp {
        // A keep-alive connection the server closed while the client held it idle (the demo's
        // load takes longer than the keep-alive) fails before the request is sent: connect again.
        let req = req.freeze().expect("request built");
        let mut attempts = 0;
        let sent = loop {
            let sent = match &body {
                Some(b) => req.send_body(b.clone()).await,
                None => req.send().await,
            };
            match sent {
                Err(awc::error::SendRequestError::Connect(_)) if attempts < 3 => attempts += 1,
                other => break other,
            }
        };
        let mut res = sent.expect("request sent");
        let raw = res
            .body()
            .limit(64 << 20)
            .await
            .expect("body read")
            .to_vec();
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw).unwrap_or(Value::Null)
        };
        Resp {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body,
            raw,
        }
    }

    /// A request as the administrator.
    pub fn request(&self, method: awc::http::Method, path: &str) -> awc::ClientRequest {
        self.request_as(Some(&self.admin_token), method, path)
    }

    pub fn request_anonymous(&self, method: awc::http::Method, path: &str) -> awc::ClientRequest {
        self.request_as(None, method, path)
    }

    pub fn request_as(
        &self,
        token: Option<&str>,
        method: awc::http::Method,
        path: &str,
    ) -> awc::ClientRequest {
        let req = self.client.request(method, self.url(path));
        match token {
            Some(t) => req.insert_header(("authorization", format!("Bearer {t}"))),
            None => req,
        }
    }

    /// Any call: `token` None is anonymous; `body` is sent as JSON.
    pub async fn call(
        &self,
        token: Option<&str>,
        method: awc::http::Method,
        path: &str,
        if_match: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let mut req = self.request_as(token, method, path);
        if let Some(tag) = if_match {
            req = req.insert_header(("if-match", tag));
        }
        match body {
            Some(b) => {
                let req = req.insert_header(("content-type", "application/json"));
                self.send(req, Some(b.to_string().into_bytes())).await
            }
            None => self.send(req, None).await,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.get_as(&self.admin_token, path).await
    }

    pub async fn get_as(&self, token: &str, path: &str) -> Resp {
        self.call(Some(token), awc::http::Method::GET, path, None, None)
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.post_as(&self.admin_token, path, body).await
    }

    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> Resp {
        self.call(Some(token), awc::http::Method::POST, path, None, Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, etag: Option<&str>, body: &Value) -> Resp {
        self.patch_as(&self.admin_token, path, etag, body).await
    }

    pub async fn patch_as(
        &self,
        token: &str,
        path: &str,
        etag: Option<&str>,
        body: &Value,
    ) -> Resp {
        self.call(
            Some(token),
            awc::http::Method::PATCH,
            path,
            etag,
            Some(body),
        )
        .await
    }

    pub async fn delete(&self, path: &str, etag: Option<&str>) -> Resp {
        self.call(
            Some(&self.admin_token),
            awc::http::Method::DELETE,
            path,
            etag,
            None,
        )
        .await
    }
}

/// Runs each test on SQLite, and on PostgreSQL when `TEST_DATABASE_URL` is set; the test names end
/// in `::sqlite` and `::postgres`, so the output says which backends ran.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::helpers::{Backend, TestApp};

            async fn body($app: TestApp) $body

            #[actix_web::test]
            async fn sqlite() {
                let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
                body(app).await
            }

            #[actix_web::test]
            async fn postgres() {
                match TestApp::spawn(Backend::Postgres).await {
                    Some(app) => body(app).await,
                    None => eprintln!("skipped: TEST_DATABASE_URL is not set"),
                }
            }
        }
    )*};
}

#[test]
fn with_database_swaps_only_the_database_name() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}

/// Warnings and errors the service logs (target `shuangbai…`), kept for tests to read. The
/// capture is installed by the first call; log lines before it are not kept.
pub fn captured_logs() -> Vec<String> {
    use std::sync::{Mutex, OnceLock};
    struct Capture(Mutex<Vec<String>>);
    impl log::Log for Capture {
        fn enabled(&self, metadata: &log::Metadata) -> bool {
            metadata.level() <= log::Level::Warn && metadata.target().starts_with("shuangbai")
        }
        fn log(&self, record: &log::Record) {
            if self.enabled(record.metadata()) {
                if let Ok(mut lines) = self.0.lock() {
                    lines.push(format!("{} {}", record.level(), record.args()));
                }
            }
        }
        fn flush(&self) {}
    }
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    let capture = CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        if log::set_logger(capture).is_ok() {
            log::set_max_level(log::LevelFilter::Warn);
        }
        capture
    });
    capture.0.lock().map(|l| l.clone()).unwrap_or_default()
}

/// A client whose connections come from `ip` (any of 127.0.0.0/8 reaches the test server), to
/// stand for another client address.
pub fn client_from(ip: [u8; 4]) -> awc::Client {
    awc::Client::builder()
        .connector(awc::Connector::new().local_address(std::net::IpAddr::from(ip)))
        .timeout(Duration::from_secs(60))
        .finish()
}
