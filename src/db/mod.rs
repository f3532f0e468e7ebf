//! The database: one connection type over PostgreSQL and SQLite, its pool, migrations, and the
//! few places that must know which backend they talk to.
//!
//! Everything backend-specific lives in this file; the per-table modules use diesel's DSL, which
//! compiles for both through [`DbConnection`].

pub mod accounts;
pub mod audit;
pub mod cities;
pub mod counties;
pub mod funding;
pub mod idempotency;
pub mod kept;
pub mod provinces;
pub mod report;
pub mod rounds;
pub mod schema;
pub mod sites;
pub mod snapshots;
pub mod staff;
pub mod towns;
pub mod trainings;
pub mod webhooks;

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::ApiError;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    // PostgreSQL first: SQLite accepts almost any string as a file name.
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

pub type PooledConn = PooledConnection<Manager>;

pub const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Which database `DATABASE_URL` names, decided by its scheme. Its `Debug` is the redacted URL.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<DatabaseUrl, String> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            // libpq quotes a malformed %-escape back in its error, and it may be in the
            // password: refuse it here, without repeating the URL.
            let bytes = raw.as_bytes();
            let malformed = bytes.iter().enumerate().any(|(i, b)| {
                *b == b'%'
                    && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                        && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            });
            if malformed {
                return Err(
                    "a % in the URL must start a %XX escape (write a literal % as %25)".into(),
                );
            }
            return Ok(DatabaseUrl::Postgres(raw.to_string()));
        }
        let path = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .unwrap_or(raw);
        if path.is_empty() {
            return Err("empty SQLite path".into());
        }
        if path.contains(":memory:") || path.starts_with("file:") {
            return Err(
                "in-memory SQLite gives every pooled connection its own empty database; use a file path"
                    .into(),
            );
        }
        if let Some((scheme, _)) = raw.split_once("://") {
            if scheme != "sqlite" {
                return Err(format!(
                    "unsupported scheme {scheme:?}: use postgres://… or sqlite://path"
                ));
            }
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }

    /// The URL with every password masked, for logs and messages: see [`redact_postgres_url`].
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            DatabaseUrl::Postgres(url) => redact_postgres_url(url),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

const MASK: &str = "***";

/// `%xx` decoded (as libpq decodes a URI's parameter names), lossily.
fn percent_decoded(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Masks the values of query parameters naming a password (`password`, `sslpassword`, in any
/// case or percent-encoding).
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if percent_decoded(key).to_lowercase().contains("password") => {
                format!("{key}={MASK}")
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A PostgreSQL URL with every password masked: the user information's (`user:…@`, up to the
/// last `@`, so a password holding `/`, `?` or `@` is masked whole; odd user information is
/// masked entirely) and every query parameter naming one (`?password=…`, `sslpassword=…`).
/// Errs on the side of masking too much.
pub fn redact_postgres_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return MASK.into();
    };
    let (userinfo, after) = match rest.rfind('@') {
        Some(at) => {
            let info = &rest[..at];
            let masked = match info.split_once(':') {
                Some((user, _)) if !user.contains(['/', '?', '&', '=']) => format!("{user}:{MASK}"),
                None if !info.contains(['/', '?', '&', '=']) => info.to_string(),
                _ => MASK.to_string(),
            };
            (format!("{masked}@"), &rest[at + 1..])
        }
        None => (String::new(), rest),
    };
    let after = match after.split_once('?') {
        Some((path, query)) => format!("{path}?{}", redact_query(query)),
        None => after.to_string(),
    };
    let mut out = format!("{scheme}://{userinfo}{after}");
    // Whatever the parse made of it, no `password=` value is left in the clear.
    let mut from = 0;
    while let Some(found) = out[from..].to_ascii_lowercase().find("password=") {
        let start = from + found + "password=".len();
        let end = out[start..].find('&').map_or(out.len(), |e| start + e);
        if &out[start..end] != MASK {
            out.replace_range(start..end, MASK);
        }
        from = start + MASK.len().min(out.len() - start);
    }
    out
}

/// What this instance knows of the database's health, shared by the pool's connections: an
/// outage is logged once when it is first seen and once when it ends (not once per request),
/// and while it lasts requests wait only briefly for a connection before answering 503.
#[derive(Debug, Default)]
pub struct Health {
    down: AtomicBool,
}

impl Health {
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    fn mark_down(&self, cause: &str) {
        if !self.down.swap(true, Ordering::Relaxed) {
            log::warn!("database unreachable: {cause}");
        }
    }

    fn mark_up(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            log::info!("database reachable again");
        }
    }
}

/// A pooled connection with what the pool needs to know about it: when it was last returned
/// (one idle longer than `CHECK_IDLE_AFTER` is pinged before use: after a database restart
/// every idle connection is dead) and whether a request found its transport broken.
pub struct Conn {
    db: DbConnection,
    idle_since: Instant,
    broken: bool,
}

impl Deref for Conn {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.db
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.db
    }
}

/// A connection idle longer than this is checked with `SELECT 1` before it is handed out; a
/// busy pool's connections are reused without the extra round trip.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);
/// While the database is known to be down, how long a request waits for a connection.
const OUTAGE_WAIT: Duration = Duration::from_millis(500);
/// The pool's own connection timeout, which also caps the delay between its attempts to
/// reconnect at half of it: the first request after the database returns finds it quickly.
const RECONNECT_EVERY_AT_MOST: Duration = Duration::from_millis(500);

/// An r2d2 manager that picks the backend from the URL and reports connection errors plainly
/// (diesel's derived `establish` tries each backend in turn and hides the real cause).
#[derive(Debug, Clone)]
pub struct Manager {
    url: DatabaseUrl,
    /// The PostgreSQL schema every connection uses (`SHUANGBAI_DB_SCHEMA`).
    schema: String,
    health: Arc<Health>,
}

const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

/// The schema used when `SHUANGBAI_DB_SCHEMA` is not set.
pub const DEFAULT_SCHEMA: &str = "public";

impl Manager {
    pub fn new(url: DatabaseUrl, schema: &str) -> Self {
        Manager {
            url,
            schema: schema.to_string(),
            health: Arc::default(),
        }
    }

    fn establish(&self) -> Result<DbConnection, diesel::r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let mut conn =
                    PgConnection::establish(url).map_err(diesel::r2d2::Error::ConnectionError)?;
                // Pinned, so a schema named like the role (`"$user"` comes first in the default
                // search_path) never receives a second, empty copy of the tables.
                conn.batch_execute(&format!("SET search_path TO \"{}\"", self.schema))
                    .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(DbConnection::Pg(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                // FULL: in WAL mode NORMAL may lose the last acknowledged commits on power loss.
                conn.batch_execute(&format!(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA synchronous = FULL;"
                ))
                .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for Manager {
    type Connection = Conn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Conn, Self::Error> {
        match self.establish() {
            Ok(db) => {
                self.health.mark_up();
                Ok(Conn {
                    db,
                    idle_since: Instant::now(),
                    broken: false,
                })
            }
            Err(e) => {
                self.health.mark_down(&e.to_string());
                Err(e)
            }
        }
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), Self::Error> {
        if conn.idle_since.elapsed() < CHECK_IDLE_AFTER {
            return Ok(());
        }
        conn.db.batch_execute("SELECT 1").map_err(|e| {
            self.health.mark_down(&e.to_string());
            diesel::r2d2::Error::QueryError(e)
        })
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.idle_since = Instant::now();
        conn.broken || conn.db.is_broken()
    }
}

/// The pool, with the database's health and how long a request waits for a connection.
#[derive(Clone)]
pub struct DbPool {
    pool: Pool<Manager>,
    health: Arc<Health>,
    wait: Duration,
    /// One turn per pooled connection: a request waits for a turn without a thread, and takes a
    /// blocking thread only once it has one, so 256 clients on 8 connections hold 8 threads.
    turns: Arc<tokio::sync::Semaphore>,
}

impl DbPool {
    /// How long a request waits for a connection: the configured time, briefly during a known
    /// outage.
    fn wait(&self) -> Duration {
        if self.health.is_down() {
            self.wait.min(OUTAGE_WAIT)
        } else {
            self.wait
        }
    }

    /// A connection, waiting at most `wait()`.
    pub fn get(&self) -> Result<PooledConn, r2d2::Error> {
        self.pool.get_timeout(self.wait())
    }

    pub fn state(&self) -> r2d2::State {
        self.pool.state()
    }

    pub fn max_size(&self) -> u32 {
        self.pool.max_size()
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Runs `f` on a pooled connection from a thread of the service's own (not a request's):
    /// it waits for a turn like a request does (polling, at most `wait()`), so background work
    /// never takes a connection a waiting request was promised.
    pub fn run_blocking<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let deadline = Instant::now() + self.wait();
        let _turn = loop {
            match self.turns.clone().try_acquire_owned() {
                Ok(turn) => break turn,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => {
                    return Err(ApiError::Unavailable(
                        "no database connection was free in time".into(),
                    ))
                }
            }
        };
        self.on_connection(f)
    }

    /// Runs `f` on a pooled connection (its turn already held). When `f` fails with an internal
    /// error the connection is checked: a dead one is discarded and the answer is 503, since the
    /// database, not the work, is at fault.
    fn on_connection<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut conn = self
            .get()
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let outcome = f(&mut conn.db);
        if let Err(ApiError::Internal(_) | ApiError::Unavailable(_)) = &outcome {
            if let Err(e) = conn.db.batch_execute("SELECT 1") {
                conn.broken = true;
                self.health.mark_down(&e.to_string());
                return Err(ApiError::Unavailable(e.to_string()));
            }
        }
        outcome
    }
}

/// Creates a folder (and its missing parents) readable by its owner only (0700). An existing
/// folder is left as it is, with a warning when others may read it.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if let Ok(meta) = std::fs::metadata(dir) {
            if meta.is_dir() && meta.permissions().mode() & 0o077 != 0 {
                log::warn!(
                    "{} may be read by other users (mode {:o}); 0700 is advised",
                    dir.display(),
                    meta.permissions().mode() & 0o777
                );
            }
        }
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Narrows an existing file that others may read or write to 0600 (the owner's only).
pub fn narrow_to_owner(file: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match std::fs::metadata(file) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
            log::warn!(
                "{} was readable by others: narrowed to 0600",
                file.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// The SQLite database holds password hashes, personal data and stored answers: its folder is
/// created 0700 and the file 0600 before SQLite opens it (its `-wal` and `-shm` files take the
/// database file's mode); an existing database, WAL or shared-memory file others may read is
/// narrowed to 0600.
fn private_sqlite_files(path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = PathBuf::from(file);
        narrow_to_owner(&file).map_err(|e| format!("cannot narrow {}: {e}", file.display()))?;
    }
    Ok(())
}

/// Prepares the database for use: makes the SQLite file's folder and file (owner-only) and WAL
/// mode, then applies pending migrations. Errors name the real cause (wrong password, refused
/// connection, …), never a password.
pub fn prepare(url: &DatabaseUrl, schema: &str) -> Result<(), String> {
    if let DatabaseUrl::Sqlite(path) = url {
        private_sqlite_files(path)?;
    }
    let mut conn = Manager::new(url.clone(), schema)
        .establish()
        .map_err(|e| format!("cannot connect to {}: {e}", url.redacted()))?;
    if let DbConnection::Pg(c) = &mut conn {
        c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .map_err(|e| format!("cannot create schema {schema}: {e}"))?;
    }
    if let DbConnection::Sqlite(c) = &mut conn {
        // Once, not per connection: per connection it raced into "database is locked".
        c.batch_execute("PRAGMA journal_mode = WAL;")
            .map_err(|e| format!("cannot enable WAL: {e}"))?;
    }
    run_migrations(&mut conn)
}

pub fn run_migrations(conn: &mut DbConnection) -> Result<(), String> {
    let applied = match conn {
        DbConnection::Pg(c) => c.run_pending_migrations(PG_MIGRATIONS).map(|v| v.len()),
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    }
    .map_err(|e| format!("migrations failed: {e}"))?;
    if applied > 0 {
        log::info!("applied {applied} migration(s)");
    }
    Ok(())
}

/// Reverts every applied migration (used by the revert test and by `shuangbai migrate --revert-all`).
pub fn revert_all_migrations(conn: &mut DbConnection) -> Result<usize, String> {
    match conn {
        DbConnection::Pg(c) => c.revert_all_migrations(PG_MIGRATIONS).map(|v| v.len()),
        DbConnection::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    }
    .map_err(|e| format!("revert failed: {e}"))
}

pub fn build_pool(url: &DatabaseUrl, schema: &str, size: u32, wait: Duration) -> DbPool {
    let manager = Manager::new(url.clone(), schema);
    let health = manager.health.clone();
    let pool = Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        .connection_timeout(RECONNECT_EVERY_AT_MOST)
        .test_on_check_out(true)
        // Connection errors are logged once per outage by `Health`, not once per attempt.
        .error_handler(Box::new(r2d2::NopErrorHandler))
        .build_unchecked(manager);
    let turns = Arc::new(tokio::sync::Semaphore::new(size as usize));
    DbPool {
        pool,
        health,
        wait,
        turns,
    }
}

/// Runs blocking database work off the async workers, with a pooled connection taken inside the
/// blocking thread once the request has a turn (waited for without a thread). No turn or no
/// connection within the wait is 503. When `f` fails with an internal
/// error, the connection is checked: a dead one is discarded and the answer is 503, since the
/// database, not the request, is at fault.
pub async fn run<T, F>(pool: &DbPool, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
{
    let pool = pool.clone();
    let turn = actix_web::rt::time::timeout(pool.wait(), pool.turns.clone().acquire_owned())
        .await
        .map_err(|_| ApiError::Unavailable("no database connection was free in time".into()))?
        .map_err(|e| ApiError::internal(format!("connection turns closed: {e}")))?;
    actix_web::web::block(move || {
        let _turn = turn;
        pool.on_connection(f)
    })
    .await
    .map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))?
}

/// A page whose rows carry the filter's total, selected beside each row as an uncorrelated
/// subquery (`filtered(..).count().single_value()`), which both backends evaluate once per
/// statement: a page and its total cost one round trip, and the page itself still stops at its
/// limit. A page past the end has no row to carry the total: only then is it counted apart.
pub fn page_and_total<R>(
    rows: Vec<(R, Option<i64>)>,
    offset: i64,
    count: impl FnOnce() -> QueryResult<i64>,
) -> QueryResult<(Vec<R>, i64)> {
    let total = match rows.first() {
        Some((_, total)) => total.unwrap_or(0),
        None if offset == 0 => 0,
        None => count()?,
    };
    Ok((rows.into_iter().map(|(row, _)| row).collect(), total))
}

/// Runs `f` in a write transaction. On SQLite it begins with `BEGIN IMMEDIATE`, so two writers
/// queue on the busy timeout instead of one failing when its read snapshot turns into a write.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Pg(c) => AnsiTransactionManager::begin_transaction(c)?,
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
    }
    let outcome = f(conn);
    let end = match (&outcome, conn) {
        (Ok(_), DbConnection::Pg(c)) => AnsiTransactionManager::commit_transaction(c),
        (Ok(_), DbConnection::Sqlite(c)) => AnsiTransactionManager::commit_transaction(c),
        (Err(_), DbConnection::Pg(c)) => AnsiTransactionManager::rollback_transaction(c),
        (Err(_), DbConnection::Sqlite(c)) => AnsiTransactionManager::rollback_transaction(c),
    };
    match (outcome, end) {
        (Ok(v), Ok(())) => Ok(v),
        (Ok(_), Err(e)) => Err(e.into()),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(rollback)) => {
            log::error!("rollback failed: {rollback}");
            Err(e)
        }
    }
}

/// Runs `f` in a read-only transaction that sees one snapshot throughout: `REPEATABLE READ` on
/// PostgreSQL; on SQLite a deferred transaction, whose first read fixes its snapshot.
pub fn snapshot_read<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Pg(c) => AnsiTransactionManager::begin_transaction_sql(
            c,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )?,
        DbConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN")?,
    }
    let outcome = f(conn);
    let end = match conn {
        DbConnection::Pg(c) => AnsiTransactionManager::rollback_transaction(c),
        DbConnection::Sqlite(c) => AnsiTransactionManager::rollback_transaction(c),
    };
    match (outcome, end) {
        (Ok(v), Ok(())) => Ok(v),
        (Ok(_), Err(e)) => Err(e.into()),
        (Err(e), _) => Err(e),
    }
}

/// Which backend a connection is, for the rare query that differs.
pub fn is_postgres(conn: &DbConnection) -> bool {
    matches!(conn, DbConnection::Pg(_))
}

pub fn sqlite_path(url: &DatabaseUrl) -> Option<&Path> {
    match url {
        DatabaseUrl::Sqlite(p) => Some(p),
        DatabaseUrl::Postgres(_) => None,
    }
}

diesel::define_sql_function! {
    /// `lower(text)`, so text search ignores case on both backends (SQLite's LIKE already does,
    /// PostgreSQL's does not).
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// A `LIKE` pattern matching `q` anywhere, with `%`, `_` and `\` escaped (use `.escape('\\')`).
pub fn contains_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for ch in q.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_is_chosen_by_scheme() {
        assert!(matches!(
            DatabaseUrl::parse("postgres://u:p@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.db"),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("data/x.db")))
        );
        assert_eq!(
            DatabaseUrl::parse("x.db"),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("x.db")))
        );
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        let refused = DatabaseUrl::parse("postgres://app:50%off@db/sb").expect_err("malformed");
        assert!(!refused.contains("50%off"), "{refused}");
        assert!(DatabaseUrl::parse("postgres://app:50%25off@db/sb").is_ok());
        assert!(DatabaseUrl::parse("sqlite://:memory:").is_err());
    }

    #[test]
    fn redacted_url_hides_the_password() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db:5432/sb").expect("valid");
        assert_eq!(url.redacted(), "postgres://app:***@db:5432/sb");
        assert!(!format!("{url:?}").contains("s3cret"));
    }

    #[test]
    fn every_password_in_a_url_is_masked() {
        for (raw, masked) in [
            (
                "postgres://app@db/sb?password=hunter2",
                "postgres://app@db/sb?password=***",
            ),
            (
                "postgres://app@db/sb?sslmode=require&PASSWORD=hunter2&sslpassword=k3y",
                "postgres://app@db/sb?sslmode=require&PASSWORD=***&sslpassword=***",
            ),
            (
                "postgres://app@db/sb?pass%77ord=hunter2",
                "postgres://app@db/sb?pass%77ord=***",
            ),
            (
                "postgresql://u:p%40ss@h1:5432,h2:5433/db?target_session_attrs=any",
                "postgresql://u:***@h1:5432,h2:5433/db?target_session_attrs=any",
            ),
            ("postgres://u:pa/ss?x@h/db", "postgres://u:***@h/db"),
            ("postgres://u:p@ss@h/db", "postgres://u:***@h/db"),
            ("postgres://db/sb?password=a@b", "postgres://***@b"),
            ("postgres://app@db/sb", "postgres://app@db/sb"),
            (
                "postgres://db/sb?user=app&password=x&application_name=y",
                "postgres://db/sb?user=app&password=***&application_name=y",
            ),
        ] {
            assert_eq!(redact_postgres_url(raw), masked, "{raw}");
        }
        for secret in ["hunter2", "k3y", "p%40ss", "pa/ss", "p@ss"] {
            let url = format!("postgres://app:{secret}@db/sb?password={secret}");
            assert!(!redact_postgres_url(&url).contains(secret), "{url}");
        }
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("A_b%"), "%a\\_b\\%%");
    }
}
