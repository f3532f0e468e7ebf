//! Settings, read from environment variables in this one place and validated at start-up.
//!
//! Every variable is listed with its default in `.env.example` and in the README. An invalid value
//! stops start-up with a message naming the variable.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;

use crate::db::DatabaseUrl;
use crate::domain::webhook::{RetrySchedule, SealingKey};

/// A secret that never prints itself (in `Debug` or in logs).
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `DATABASE_URL`: `postgres://…` for PostgreSQL; `sqlite://path`, or a plain file path, for SQLite.
    /// Default: `sqlite://data/shuangbai.db`.
    pub database_url: DatabaseUrl,
    /// `SHUANGBAI_DB_SCHEMA`: the PostgreSQL schema holding the service's tables, pinned as every
    /// connection's `search_path` (migrations and queries alike). Default `public`. Ignored by SQLite.
    pub db_schema: String,
    /// `SHUANGBAI_BIND`: address and port to listen on. Default `127.0.0.1:8080`.
    pub bind: SocketAddr,
    /// `SHUANGBAI_POOL_SIZE`: most database connections held open. Default 10.
    pub pool_size: u32,
    /// `SHUANGBAI_POOL_TIMEOUT_SECS`: how long a request waits for a free connection before 503. Default 5.
    pub pool_timeout: Duration,
    /// `SHUANGBAI_BODY_LIMIT_BYTES`: largest request body accepted (413 past it). Default 1 MiB.
    pub body_limit: usize,
    /// `SHUANGBAI_TZ`: the bureau's time zone, which decides what "today" is. Default `Asia/Shanghai`.
    pub time_zone: Tz,
    /// `SHUANGBAI_JWT_SECRET`: signs access tokens. Required with PostgreSQL (at least 32 bytes); with
    /// SQLite, generated once and kept in `jwt-secret` beside the database file when unset.
    pub jwt_secret: Secret,
    /// `SHUANGBAI_CORS_ORIGINS`: comma-separated origins allowed to call the API from a browser. Default none.
    pub cors_origins: Vec<String>,
    /// `SHUANGBAI_ACCESS_TOKEN_TTL_SECS`: life of an access token. Default 900 (15 minutes).
    pub access_ttl_secs: i64,
    /// `SHUANGBAI_REFRESH_TOKEN_TTL_DAYS`: life of a refresh token. Default 14.
    pub refresh_ttl_days: i64,
    /// `SHUANGBAI_SESSION_MAX_DAYS`: the absolute life of a session (a password login and the
    /// refresh tokens rotated from it): after it, log in again however recently the session was
    /// refreshed. Default 30, 1 to 365.
    pub session_max_days: i64,
    /// `SHUANGBAI_LOGIN_MAX_FAILURES`: failed logins for a username from one client address within
    /// 15 minutes before that address gets 429 for it. Default 5. From all addresses together the
    /// bar is ten times higher (`ACCOUNT_BAR_FACTOR` in the token route), so one address
    /// cannot lock a known account out of everywhere.
    pub login_max_failures: i64,
    /// `SHUANGBAI_LOGIN_BURST_PER_IP`: token requests one address may make at once; one more is
    /// allowed every 3 seconds. Default 20.
    pub login_burst_per_ip: u32,
    /// `SHUANGBAI_AUTH_CACHE_MS`: how long this instance keeps what an access token's check found
    /// (its account active, its `auth_version` current, its session live) before reading it
    /// again. Default 1000, 0 to 1000: a deactivation, password change or logout made on another
    /// instance ends access within this time (at once on the one that made it).
    pub auth_cache: Duration,
    /// `SHUANGBAI_FEED_RETENTION_DAYS`: how many days of changes the change feed
    /// (`/api/v1/changes`) serves; a cursor older than that is 410. Default 30, at least 30 (the
    /// audit trail itself keeps everything).
    pub feed_retention_days: u32,
    /// `SHUANGBAI_KEPT_DAYS` (default 30, 1 to 3650) and `SHUANGBAI_KEPT_DATES` (default 64, 1
    /// to 10000): the progress table's kept counts of a date no table asked for in that many
    /// days are dropped, and only that many dates (the most recently asked) are kept.
    pub keeping: Keeping,
    /// Webhook delivery: see [`Webhooks`].
    pub webhooks: Webhooks,
}

/// How webhooks are delivered (`service::deliverer`).
#[derive(Debug, Clone)]
pub struct Webhooks {
    /// `SHUANGBAI_WEBHOOK_DELIVERY`: whether this instance sends webhook messages (`on`, the
    /// default, or `off`: an instance that only serves the API; others on the same database send).
    pub deliver: bool,
    /// `SHUANGBAI_WEBHOOK_ALLOW_PRIVATE`: `true` lets a subscription target a loopback, private
    /// or link-local address (tests and local set-ups). Default `false`: such a target is 422 when
    /// subscribing, and refused again at each delivery.
    pub allow_private: bool,
    /// `SHUANGBAI_WEBHOOK_RETRY_SCHEDULE`: the waits after each failed attempt, such as the
    /// default `5s,5m,30m,2h,5h,10h,10h`; after the last the message is given up.
    pub retry: RetrySchedule,
    /// `SHUANGBAI_WEBHOOK_POLL_MS`: how often an instance looks for messages due. Default 1000,
    /// 10 to 60000.
    pub poll: Duration,
    /// `SHUANGBAI_WEBHOOK_DISABLE_AFTER_SECS`: a subscription whose every attempt has failed for
    /// this long is disabled, with the reason shown. Default 432000 (5 days).
    pub disable_after: Duration,
    /// `SHUANGBAI_WEBHOOK_KEEP_DAYS`: delivered and given-up messages, with their attempts, are
    /// kept this many days after they ended, then forgotten. Default 30, 1 to 3650.
    pub keep_days: u32,
    /// `SHUANGBAI_WEBHOOK_KEY` (at least 32 bytes): seals the signing secrets in the database.
    /// Default: derived from `SHUANGBAI_JWT_SECRET` (so changing that secret, without setting
    /// this one to the old value, makes the stored signing secrets unreadable).
    pub sealing_key: SealingKey,
}

impl Webhooks {
    /// For tests: private targets allowed, the given schedule, a quick poll, and no deliverer
    /// until a test turns it on (`deliver`).
    pub fn for_tests(jwt_secret: &Secret, retry: RetrySchedule) -> Webhooks {
        Webhooks {
            deliver: false,
            allow_private: true,
            retry,
            poll: Duration::from_millis(50),
            disable_after: Duration::from_secs(5 * 86_400),
            keep_days: 30,
            sealing_key: SealingKey::derive(jwt_secret.expose().as_bytes()),
        }
    }
}

/// How much of the progress table's counts the database keeps (`db::kept`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keeping {
    pub days: u32,
    pub dates: u32,
}

impl Default for Keeping {
    fn default() -> Self {
        Keeping {
            days: 30,
            dates: 64,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

fn invalid(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        message: message.into(),
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parsed<T: std::str::FromStr>(
    name: &'static str,
    default: T,
    what: &str,
) -> Result<T, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| invalid(name, format!("expected {what}, got {raw:?}"))),
    }
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/shuangbai.db";
const MIN_SECRET_LEN: usize = 32;

impl Settings {
    /// Reads the environment. Nothing is created on disk except, for SQLite without a configured
    /// secret, the generated JWT secret file (see [`Settings::jwt_secret`]).
    pub fn from_env() -> Result<Settings, ConfigError> {
        let database_url = DatabaseUrl::parse(
            &var("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string()),
        )
        .map_err(|m| invalid("DATABASE_URL", m))?;
        let db_schema = var("SHUANGBAI_DB_SCHEMA")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| crate::db::DEFAULT_SCHEMA.to_string());
        if !valid_schema_name(&db_schema) {
            return Err(invalid(
                "SHUANGBAI_DB_SCHEMA",
                "a lower-case identifier: a letter or _, then letters, digits or _, at most 63",
            ));
        }
        let bind = parsed(
            "SHUANGBAI_BIND",
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            "host:port such as 127.0.0.1:8080",
        )?;
        let pool_size: u32 = parsed("SHUANGBAI_POOL_SIZE", 10, "a whole number")?;
        if !(1..=500).contains(&pool_size) {
            return Err(invalid("SHUANGBAI_POOL_SIZE", "must be between 1 and 500"));
        }
        let pool_timeout: u64 = parsed(
            "SHUANGBAI_POOL_TIMEOUT_SECS",
            5,
            "a whole number of seconds",
        )?;
        if !(1..=300).contains(&pool_timeout) {
            return Err(invalid(
                "SHUANGBAI_POOL_TIMEOUT_SECS",
                "must be between 1 and 300",
            ));
        }
        let body_limit: usize = parsed("SHUANGBAI_BODY_LIMIT_BYTES", 1 << 20, "a number of bytes")?;
        if !(1024..=(256 << 20)).contains(&body_limit) {
            return Err(invalid(
                "SHUANGBAI_BODY_LIMIT_BYTES",
                "must be between 1024 and 268435456",
            ));
        }
        let time_zone: Tz = match var("SHUANGBAI_TZ") {
            None => chrono_tz::Asia::Shanghai,
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|_| invalid("SHUANGBAI_TZ", format!("unknown IANA time zone {raw:?}")))?,
        };
        let jwt_secret = match (var("SHUANGBAI_JWT_SECRET"), &database_url) {
            (Some(s), _) if s.len() >= MIN_SECRET_LEN => Secret::new(s),
            (Some(_), _) => {
                return Err(invalid(
                    "SHUANGBAI_JWT_SECRET",
                    format!("must be at least {MIN_SECRET_LEN} bytes"),
                ))
            }
            (None, DatabaseUrl::Sqlite(path)) => dev_secret_beside(path)?,
            (None, DatabaseUrl::Postgres(_)) => {
                return Err(invalid(
                    "SHUANGBAI_JWT_SECRET",
                    "required when DATABASE_URL is PostgreSQL",
                ))
            }
        };
        let cors_origins = var("SHUANGBAI_CORS_ORIGINS")
            .map(|raw| {
                raw.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for origin in &cors_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return Err(invalid(
                    "SHUANGBAI_CORS_ORIGINS",
                    format!("{origin:?} is not an http(s) origin"),
                ));
            }
        }
        let access_ttl_secs: i64 = parsed(
            "SHUANGBAI_ACCESS_TOKEN_TTL_SECS",
            900,
            "a number of seconds",
        )?;
        if !(60..=3600).contains(&access_ttl_secs) {
            return Err(invalid(
                "SHUANGBAI_ACCESS_TOKEN_TTL_SECS",
                "must be between 60 and 3600",
            ));
        }
        let refresh_ttl_days: i64 =
            parsed("SHUANGBAI_REFRESH_TOKEN_TTL_DAYS", 14, "a number of days")?;
        if !(1..=90).contains(&refresh_ttl_days) {
            return Err(invalid(
                "SHUANGBAI_REFRESH_TOKEN_TTL_DAYS",
                "must be between 1 and 90",
            ));
        }
        let session_max_days: i64 = parsed("SHUANGBAI_SESSION_MAX_DAYS", 30, "a number of days")?;
        if !(1..=365).contains(&session_max_days) {
            return Err(invalid(
                "SHUANGBAI_SESSION_MAX_DAYS",
                "must be between 1 and 365",
            ));
        }
        let login_max_failures: i64 = parsed("SHUANGBAI_LOGIN_MAX_FAILURES", 5, "a whole number")?;
        if !(1..=100).contains(&login_max_failures) {
            return Err(invalid(
                "SHUANGBAI_LOGIN_MAX_FAILURES",
                "must be between 1 and 100",
            ));
        }
        let login_burst_per_ip: u32 = parsed("SHUANGBAI_LOGIN_BURST_PER_IP", 20, "a whole number")?;
        if !(1..=10_000).contains(&login_burst_per_ip) {
            return Err(invalid(
                "SHUANGBAI_LOGIN_BURST_PER_IP",
                "must be between 1 and 10000",
            ));
        }
        let auth_cache_ms: u64 =
            parsed("SHUANGBAI_AUTH_CACHE_MS", 1000, "a number of milliseconds")?;
        if auth_cache_ms > 1000 {
            return Err(invalid(
                "SHUANGBAI_AUTH_CACHE_MS",
                "must be between 0 and 1000",
            ));
        }
        let feed_retention_days: u32 =
            parsed("SHUANGBAI_FEED_RETENTION_DAYS", 30, "a number of days")?;
        if !(30..=36_500).contains(&feed_retention_days) {
            return Err(invalid(
                "SHUANGBAI_FEED_RETENTION_DAYS",
                "must be between 30 and 36500",
            ));
        }
        let days: u32 = parsed("SHUANGBAI_KEPT_DAYS", 30, "a number of days")?;
        if !(1..=3650).contains(&days) {
            return Err(invalid("SHUANGBAI_KEPT_DAYS", "must be between 1 and 3650"));
        }
        let dates: u32 = parsed("SHUANGBAI_KEPT_DATES", 64, "a number of dates")?;
        if !(1..=10_000).contains(&dates) {
            return Err(invalid(
                "SHUANGBAI_KEPT_DATES",
                "must be between 1 and 10000",
            ));
        }
        let webhooks = webhooks_from_env(&jwt_secret)?;
        Ok(Settings {
            webhooks,
            keeping: Keeping { days, dates },
            feed_retention_days,
            auth_cache: Duration::from_millis(auth_cache_ms),
            access_ttl_secs,
            refresh_ttl_days,
            session_max_days,
            login_max_failures,
            login_burst_per_ip,
            database_url,
            db_schema,
            bind,
            pool_size,
            pool_timeout: Duration::from_secs(pool_timeout),
            body_limit,
            time_zone,
            jwt_secret,
            cors_origins,
        })
    }
}

fn switch(name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match var(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if matches!(v.as_str(), "true" | "on" | "1" | "yes") => Ok(true),
        Some(v) if matches!(v.as_str(), "false" | "off" | "0" | "no") => Ok(false),
        Some(v) => Err(invalid(name, format!("expected true or false, got {v:?}"))),
    }
}

fn webhooks_from_env(jwt_secret: &Secret) -> Result<Webhooks, ConfigError> {
    let retry = match var("SHUANGBAI_WEBHOOK_RETRY_SCHEDULE") {
        None => RetrySchedule::default(),
        Some(raw) => raw
            .parse()
            .map_err(|m| invalid("SHUANGBAI_WEBHOOK_RETRY_SCHEDULE", m))?,
    };
    let poll_ms: u64 = parsed(
        "SHUANGBAI_WEBHOOK_POLL_MS",
        1000,
        "a number of milliseconds",
    )?;
    if !(10..=60_000).contains(&poll_ms) {
        return Err(invalid(
            "SHUANGBAI_WEBHOOK_POLL_MS",
            "must be between 10 and 60000",
        ));
    }
    let disable_after: u64 = parsed(
        "SHUANGBAI_WEBHOOK_DISABLE_AFTER_SECS",
        5 * 86_400,
        "a number of seconds",
    )?;
    if !(1..=365 * 86_400).contains(&disable_after) {
        return Err(invalid(
            "SHUANGBAI_WEBHOOK_DISABLE_AFTER_SECS",
            "must be between 1 and 31536000",
        ));
    }
    let keep_days: u32 = parsed("SHUANGBAI_WEBHOOK_KEEP_DAYS", 30, "a number of days")?;
    if !(1..=3650).contains(&keep_days) {
        return Err(invalid(
            "SHUANGBAI_WEBHOOK_KEEP_DAYS",
            "must be between 1 and 3650",
        ));
    }
    let sealing_key = match var("SHUANGBAI_WEBHOOK_KEY") {
        Some(k) if k.len() >= MIN_SECRET_LEN => SealingKey::derive(k.as_bytes()),
        Some(_) => {
            return Err(invalid(
                "SHUANGBAI_WEBHOOK_KEY",
                format!("must be at least {MIN_SECRET_LEN} bytes"),
            ))
        }
        None => SealingKey::derive(jwt_secret.expose().as_bytes()),
    };
    Ok(Webhooks {
        deliver: switch("SHUANGBAI_WEBHOOK_DELIVERY", true)?,
        allow_private: switch("SHUANGBAI_WEBHOOK_ALLOW_PRIVATE", false)?,
        retry,
        poll: Duration::from_millis(poll_ms),
        disable_after: Duration::from_secs(disable_after),
        keep_days,
        sealing_key,
    })
}

/// A schema name that needs no quoting rules beyond double quotes: `[a-z_][a-z0-9_]{0,62}`.
pub fn valid_schema_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Development convenience: on SQLite a secret is generated once and kept in `jwt-secret` next
/// to the database, in a folder created 0700, the file created 0600 (an existing one others may
/// read is narrowed to 0600). An existing file that cannot be read, is not UTF-8 or holds fewer
/// than 32 bytes stops start-up, naming the file: it is never overwritten.
pub fn dev_secret_beside(db_path: &Path) -> Result<Secret, ConfigError> {
    let dir = db_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let file = dir.join("jwt-secret");
    let refuse = |why: String| {
        invalid(
            "SHUANGBAI_JWT_SECRET",
            format!(
                "{} {why}; fix or delete it (a new one is then generated), or set SHUANGBAI_JWT_SECRET",
                file.display()
            ),
        )
    };
    match std::fs::read(&file) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| refuse("is not UTF-8".into()))?;
            let existing = text.trim();
            if existing.len() < MIN_SECRET_LEN {
                return Err(refuse(format!(
                    "holds {} bytes, fewer than {MIN_SECRET_LEN}",
                    existing.len()
                )));
            }
            crate::db::narrow_to_owner(&file)
                .map_err(|e| refuse(format!("cannot be narrowed to 0600: {e}")))?;
            Ok(Secret::new(existing.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::db::create_private_dir(&dir).map_err(|e| {
                invalid(
                    "SHUANGBAI_JWT_SECRET",
                    format!("cannot create {}: {e}", dir.display()),
                )
            })?;
            let secret = crate::domain::random_token(48);
            match write_private(&file, &secret) {
                // Another process starting at the same moment wrote it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return dev_secret_beside(db_path)
                }
                other => other,
            }
            .map_err(|e| {
                invalid(
                    "SHUANGBAI_JWT_SECRET",
                    format!("cannot write {}: {e}", file.display()),
                )
            })?;
            Ok(Secret::new(secret))
        }
        Err(e) => Err(refuse(format!("cannot be read ({e})"))),
    }
}

/// Creates `file` (never overwriting one) readable and writable by its owner only, whole or
/// not at all: the contents go to a temporary file first, which is then linked under the name
/// (failing if another process got there first), so no one ever reads it half written.
fn write_private(file: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let temporary = file.with_extension(format!("tmp-{}", crate::domain::random_token(8)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&temporary).and_then(|mut f| {
        f.write_all(contents.as_bytes())?;
        f.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, file));
    let _ = std::fs::remove_file(&temporary);
    linked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sb_secret_{name}_{}_{}",
            std::process::id(),
            crate::domain::random_token(6)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn two_processes_starting_at_once_share_one_generated_secret() {
        let dir = scratch("race");
        let db = dir.join("x.db");
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                std::thread::spawn(move || dev_secret_beside(&db).map(|s| s.expose().to_string()))
            })
            .collect();
        let secrets: Vec<String> = threads
            .into_iter()
            .map(|t| t.join().expect("thread").expect("a secret"))
            .collect();
        assert!(secrets
            .iter()
            .all(|s| s == &secrets[0] && s.len() >= MIN_SECRET_LEN));
        let left: Vec<_> = std::fs::read_dir(&dir).expect("dir").collect();
        assert_eq!(left.len(), 1, "no temporary file left beside it");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    #[cfg(unix)]
    fn a_generated_secret_is_owner_only_in_an_owner_only_folder_and_kept() {
        let root = scratch("new");
        let db = root.join("data").join("x.db");
        let first = dev_secret_beside(&db).expect("generated");
        assert_eq!(mode(&root.join("data")), 0o700);
        assert_eq!(mode(&root.join("data").join("jwt-secret")), 0o600);
        let again = dev_secret_beside(&db).expect("read back");
        assert_eq!(first.expose(), again.expose());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    #[cfg(unix)]
    fn a_bad_secret_file_stops_start_up_naming_it_and_is_left_alone() {
        use std::os::unix::fs::PermissionsExt;
        let root = scratch("bad");
        std::fs::create_dir_all(&root).expect("dir");
        let db = root.join("x.db");
        let file = root.join("jwt-secret");
        for (contents, why) in [
            (b"short".to_vec(), "fewer than 32"),
            (vec![0xff; 40], "not UTF-8"),
        ] {
            std::fs::write(&file, &contents).expect("write");
            let err = dev_secret_beside(&db).expect_err("refused").to_string();
            assert!(
                err.contains(&file.display().to_string()) && err.contains(why),
                "{err}"
            );
            assert_eq!(
                std::fs::read(&file).expect("kept"),
                contents,
                "never overwritten"
            );
        }
        // Unreadable: a folder where the file should be.
        std::fs::remove_file(&file).expect("remove");
        std::fs::create_dir(&file).expect("a folder in its place");
        let err = dev_secret_beside(&db).expect_err("refused").to_string();
        assert!(
            err.contains("cannot be read") && err.contains("jwt-secret"),
            "{err}"
        );
        std::fs::remove_dir(&file).expect("remove");
        // A good one others may read is kept and narrowed.
        std::fs::write(&file, "s".repeat(40)).expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(
            dev_secret_beside(&db).expect("kept").expose(),
            "s".repeat(40)
        );
        assert_eq!(mode(&file), 0o600);
        let _ = std::fs::remove_dir_all(&root);
    }
}
