use diesel::prelude::*;
use diesel::r2d2::ManageConnection;
use diesel::sql_types::{BigInt, Text};
use diesel_migrations::MigrationHarness;
use shuangbai::db::{self, DbConnection, Manager};

use crate::helpers::Backend;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn tables_left(conn: &mut DbConnection, backend: Backend) -> i64 {
    let sql = match backend {
        Backend::Postgres => {
            "SELECT count(*) AS n FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'"
        }
        Backend::Sqlite => {
            "SELECT count(*) AS n FROM sqlite_master WHERE type IN ('table', 'index') \
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__diesel_schema_migrations%'"
        }
    };
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .expect("count tables")
        .n
}

on_both_backends! {
    async fn every_migration_reverts_cleanly_and_applies_again(app: TestApp) {
        let folder = match app.backend {
            Backend::Postgres => "migrations/postgres",
            Backend::Sqlite => "migrations/sqlite",
        };
        let expected = std::fs::read_dir(folder).expect("migrations folder").count();
        let backend = app.backend;
        let mut conn = Manager::new(app.database_url.clone(), "public").connect().expect("connect");
        assert!(tables_left(&mut conn, backend) > 0, "the app applied its migrations");
        let reverted = db::revert_all_migrations(&mut conn).expect("revert");
        assert_eq!(reverted, expected, "every migration has a down");
        assert_eq!(tables_left(&mut conn, backend), 0, "down leaves nothing behind");
        db::run_migrations(&mut conn).expect("migrations apply again");
        assert!(tables_left(&mut conn, backend) > 0);
    }
}

/// The version names (directory names) of one backend's migrations folder, sorted. Every entry
/// must be a directory with a non-empty `up.sql` and `down.sql`: diesel would silently ignore a
/// stray file, and a migration without its `down.sql` could not be reverted.
fn migration_versions(folder: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut versions = Vec::new();
    for entry in std::fs::read_dir(&path).expect("migrations folder") {
        let entry = entry.expect("folder entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue; // diesel skips hidden entries too
        }
        assert!(
            entry.file_type().expect("file type").is_dir(),
            "{folder}/{name} is not a migration directory"
        );
        for file in ["up.sql", "down.sql"] {
            let sql = std::fs::read_to_string(entry.path().join(file))
                .unwrap_or_else(|e| panic!("{folder}/{name}/{file}: {e}"));
            assert!(!sql.trim().is_empty(), "{folder}/{name}/{file} is empty");
        }
        versions.push(name);
    }
    versions.sort();
    versions
}

#[test]
fn both_migration_folders_hold_the_same_versions_each_with_an_up_and_a_down() {
    let postgres = migration_versions("migrations/postgres");
    let sqlite = migration_versions("migrations/sqlite");
    assert!(!postgres.is_empty(), "there are migrations");
    assert_eq!(
        postgres, sqlite,
        "migrations/postgres and migrations/sqlite hold the same version names"
    );
}

#[derive(QueryableByName)]
struct SchemaRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    def: String,
}

/// PostgreSQL's schema as the catalogue describes it, for the schema the connection is pinned to
/// (`current_schema()`): relations, columns in order (type, nullability, default, identity,
/// collation), constraints, indexes, sequences, triggers, functions, views, types; and the
/// database's extensions. No data, so `__diesel_schema_migrations` is there by its structure only
/// (not its `run_on` times). Comments, owners and privileges are left out, as `pg_dump
/// --no-comments --no-owner --no-privileges` would.
const PG_SCHEMA: &str = r#"
SELECT 'relation' AS kind, c.relname::text AS name,
       c.relkind::text || ' ' || c.relpersistence::text
       || COALESCE(' ' || array_to_string(c.reloptions, ','), '') AS def
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
UNION ALL
SELECT 'column', c.relname || '.' || a.attname,
       (row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum))::text
       || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
       || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
       || CASE WHEN a.attidentity <> '' THEN ' IDENTITY ' || a.attidentity::text ELSE '' END
       || CASE WHEN a.attgenerated <> '' THEN ' GENERATED ' || a.attgenerated::text ELSE '' END
       || COALESCE(' COLLATE ' || co.collname, '')
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> t.typcollation
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
  AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint', COALESCE(c.relname, t.typname) || '.' || k.conname,
       k.contype::text || ' ' || pg_get_constraintdef(k.oid)
FROM pg_constraint k
JOIN pg_namespace n ON n.oid = k.connamespace
LEFT JOIN pg_class c ON c.oid = k.conrelid
LEFT JOIN pg_type t ON t.oid = k.contypid
WHERE n.nspname = current_schema()
UNION ALL
SELECT 'index', tablename || '.' || indexname, indexdef
FROM pg_indexes WHERE schemaname = current_schema()
UNION ALL
SELECT 'sequence', c.relname,
       format_type(s.seqtypid, NULL) || ' start ' || s.seqstart || ' increment ' || s.seqincrement
       || ' min ' || s.seqmin || ' max ' || s.seqmax || ' cache ' || s.seqcache
       || CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END
       || COALESCE(' owned by ' || oc.relname || '.' || oa.attname, '')
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_depend dep ON dep.classid = 'pg_class'::regclass AND dep.objid = c.oid
  AND dep.refclassid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i')
LEFT JOIN pg_class oc ON oc.oid = dep.refobjid
LEFT JOIN pg_attribute oa ON oa.attrelid = dep.refobjid AND oa.attnum = dep.refobjsubid
WHERE n.nspname = current_schema()
UNION ALL
SELECT 'trigger', c.relname || '.' || tg.tgname, pg_get_triggerdef(tg.oid)
FROM pg_trigger tg
JOIN pg_class c ON c.oid = tg.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND NOT tg.tgisinternal
UNION ALL
SELECT 'function', p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) ELSE p.prokind::text END
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = current_schema()
UNION ALL
SELECT 'view', viewname, definition FROM pg_views WHERE schemaname = current_schema()
UNION ALL
SELECT 'materialized view', matviewname, definition
FROM pg_matviews WHERE schemaname = current_schema()
UNION ALL
SELECT 'type', t.typname,
       t.typtype::text
       || COALESCE(' ' || (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                           FROM pg_enum e WHERE e.enumtypid = t.oid), '')
       || CASE WHEN t.typbasetype <> 0 THEN ' ' || format_type(t.typbasetype, t.typtypmod) ELSE '' END
       || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
       || COALESCE(' DEFAULT ' || t.typdefault, '')
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_class c ON c.oid = t.typrelid
WHERE n.nspname = current_schema()
  AND (t.typtype IN ('e', 'd', 'r', 'm') OR (t.typtype = 'c' AND c.relkind = 'c'))
UNION ALL
SELECT 'extension', extname, extversion FROM pg_extension
ORDER BY 1, 2, 3
"#;

/// SQLite's schema: every object's defining SQL, without SQLite's own (`sqlite_*`: automatic
/// indexes, `sqlite_sequence`, statistics).
const SQLITE_SCHEMA: &str = "
SELECT type AS kind, name, tbl_name || ': ' || COALESCE(sql, '') AS def
FROM sqlite_master WHERE name NOT GLOB 'sqlite_*'
ORDER BY 1, 2, 3";

/// The schema as sorted lines, computed in SQL (no `pg_dump` binary).
fn schema_dump(conn: &mut DbConnection) -> Vec<String> {
    let sql = match conn {
        DbConnection::Pg(_) => PG_SCHEMA,
        DbConnection::Sqlite(_) => SQLITE_SCHEMA,
    };
    diesel::sql_query(sql)
        .load::<SchemaRow>(conn)
        .expect("schema dump")
        .into_iter()
        .map(|r| format!("{} {}: {}", r.kind, r.name, r.def))
        .collect()
}

/// What differs between two dumps, line by line, for a failure message.
fn dump_difference(expected: &[String], actual: &[String]) -> String {
    let missing = expected.iter().filter(|l| !actual.contains(l));
    let extra = actual.iter().filter(|l| !expected.contains(l));
    missing
        .map(|l| format!("- {l}"))
        .chain(extra.map(|l| format!("+ {l}")))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_same_schema(expected: &[String], actual: &[String], when: &str) {
    assert!(
        expected == actual,
        "{when}, the schema differs (- expected, + found):\n{}",
        dump_difference(expected, actual)
    );
}

/// The versions diesel records as applied, oldest first.
fn applied_versions(conn: &mut DbConnection) -> Vec<String> {
    let mut versions = match conn {
        DbConnection::Pg(c) => c.applied_migrations(),
        DbConnection::Sqlite(c) => c.applied_migrations(),
    }
    .expect("applied migrations")
    .iter()
    .map(ToString::to_string)
    .collect::<Vec<_>>();
    versions.sort();
    versions
}

fn run_next_migration(conn: &mut DbConnection) {
    match conn {
        DbConnection::Pg(c) => c.run_next_migration(db::PG_MIGRATIONS),
        DbConnection::Sqlite(c) => c.run_next_migration(db::SQLITE_MIGRATIONS),
    }
    .expect("the next migration applies");
}

/// Reverts the newest applied migration and answers its version.
fn revert_last_migration(conn: &mut DbConnection) -> String {
    match conn {
        DbConnection::Pg(c) => c.revert_last_migration(db::PG_MIGRATIONS),
        DbConnection::Sqlite(c) => c.revert_last_migration(db::SQLITE_MIGRATIONS),
    }
    .unwrap_or_else(|e| panic!("the last migration reverts: {e}"))
    .to_string()
}

/// The version diesel records for a migration directory: its name up to the first `_`, without
/// dashes (`2026-11-28-000001_counties` is `20261128000001`).
fn diesel_version(directory: &str) -> String {
    directory
        .split('_')
        .next()
        .unwrap_or(directory)
        .replace('-', "")
}

on_both_backends! {
    // As Lemmy's migration check: reverting the last N migrations leaves exactly the schema that
    // the first ones alone made, and applying them again gives exactly the full schema, for
    // every N up to all of them.
    async fn reverting_the_last_n_migrations_and_applying_them_again_gives_the_same_schema(app: TestApp) {
        let folder = match app.backend {
            Backend::Postgres => "migrations/postgres",
            Backend::Sqlite => "migrations/sqlite",
        };
        let versions: Vec<String> =
            migration_versions(folder).iter().map(|d| diesel_version(d)).collect();
        let count = versions.len();
        let mut conn = Manager::new(app.database_url.clone(), "public").connect().expect("connect");
        let conn = &mut *conn;

        // The schema after each prefix of the migrations: `after[k]` is the first k applied.
        assert_eq!(db::revert_all_migrations(conn).expect("revert all"), count);
        let mut after = vec![schema_dump(conn)];
        for _ in 0..count {
            run_next_migration(conn);
            after.push(schema_dump(conn));
        }
        assert_eq!(applied_versions(conn), versions, "all applied");
        let full = &after[count];
        assert!(
            full.iter().any(|l| l.contains("counties")),
            "the dump sees the app's tables: {full:#?}"
        );

        for n in 1..=count {
            for i in 0..n {
                let reverted = revert_last_migration(conn);
                assert_eq!(reverted, versions[count - 1 - i], "reverted newest first");
            }
            assert_same_schema(
                &after[count - n],
                &schema_dump(conn),
                &format!("after reverting the last {n} migration(s)"),
            );
            assert_eq!(applied_versions(conn), versions[..count - n]);
            db::run_migrations(conn).expect("migrations apply again");
            assert_same_schema(
                full,
                &schema_dump(conn),
                &format!("after reverting the last {n} migration(s) and applying them again"),
            );
            assert_eq!(applied_versions(conn), versions, "all applied again");
        }
    }
}

fn count(conn: &mut DbConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .expect("count")
        .n
}

/// PostgreSQL's default `search_path` is `"$user", public`: a schema named like the role would
/// receive the tables unless the service pins its own.
#[actix_web::test]
async fn the_postgres_schema_is_pinned_whatever_schemas_the_database_has() {
    use crate::helpers::{fresh_database, settings_for, TestApp};
    for schema in ["public", "shuangbai_own"] {
        let Some((url, guard)) = fresh_database(Backend::Postgres) else {
            eprintln!("skipped: TEST_DATABASE_URL is not set");
            return;
        };
        let mut admin = Manager::new(url.clone(), "public")
            .connect()
            .expect("connect");
        // A schema named like the role the tests connect as (`postgres`, or whoever it is).
        let role_name: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
            "current_user::text",
        ))
        .get_result(&mut *admin)
        .expect("current user");
        diesel::sql_query(format!("CREATE SCHEMA \"{role_name}\""))
            .execute(&mut *admin)
            .expect("schema named like the role");
        let app = TestApp::spawn_on(Backend::Postgres, url.clone(), guard, |url| {
            let mut settings = settings_for(url);
            settings.db_schema = schema.into();
            settings
        })
        .await;
        app.get("/api/v1/me").await.expect(200);
        let in_role_schema = count(
            &mut admin,
            &format!("SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = '{role_name}'"),
        );
        assert_eq!(in_role_schema, 0, "nothing lands in the role's schema");
        let in_schema = count(
            &mut admin,
            &format!("SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = '{schema}' AND table_name = 'counties'"),
        );
        assert_eq!(in_schema, 1, "the tables are in {schema}");
        drop(admin);
    }
}

#[actix_web::test]
async fn sqlite_commits_are_durable_on_power_loss() {
    #[derive(QueryableByName)]
    struct Synchronous {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        synchronous: i32,
    }
    let (url, _guard) = crate::helpers::fresh_database(Backend::Sqlite).expect("sqlite");
    let settings = crate::helpers::settings_for(url);
    let pool = shuangbai::startup::prepare_pool(&settings).expect("pool");
    let mut conn = pool.get().expect("connection");
    let mode = diesel::sql_query("PRAGMA synchronous")
        .get_result::<Synchronous>(&mut **conn)
        .expect("pragma");
    assert_eq!(
        mode.synchronous, 2,
        "synchronous = FULL on every pooled connection"
    );
}

/// Statements that fill the schema as it was before cities (migration 11): the seed's five
/// counties and city level, their 63 towns with a station each, a person posted, a funding
/// request, a training, a county officer and a published bulletin.
fn fill_before_cities() -> Vec<String> {
    const AT: &str = "'2021-06-01 08:00:00'";
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let seed = std::fs::read_to_string(root.join("demo/progress-2021-06-09.csv")).expect("seed");
    let mut sql = Vec::new();
    let mut ids = std::collections::HashMap::new();
    for (i, line) in seed
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .enumerate()
    {
        let f: Vec<&str> = line.split(',').collect();
        let (name, code) = (f[0], f[1]);
        if name == "合计" {
            continue;
        }
        let kind = if code.ends_with("00") {
            "city_level"
        } else if name.ends_with('区') {
            "district"
        } else if name.ends_with('市') {
            "county_city"
        } else {
            "county"
        };
        let id = i + 1;
        ids.insert(code.to_string(), id);
        sql.push(format!(
            "INSERT INTO counties (id, division_code, name, kind, coordination_established_on, version, created_at, updated_at) \
             VALUES ({id}, '{code}', '{name}', '{kind}', '2021-03-01', 1, {AT}, {AT})"
        ));
    }
    let towns = std::fs::read_to_string(root.join("demo/towns.csv")).expect("towns");
    for (i, line) in towns
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .enumerate()
    {
        let f: Vec<&str> = line.split(',').collect();
        let (county, name, kind) = (ids[f[0]], f[1], f[2]);
        let id = i + 1;
        // Illustrative town codes: the county's code and a number.
        let code = format!("{}{:03}", f[0], 100 + id);
        sql.push(format!(
            "INSERT INTO towns (id, county_id, name, code, kind, version, created_at, updated_at) \
             VALUES ({id}, {county}, '{name}', '{code}', '{kind}', 1, {AT}, {AT})"
        ));
        sql.push(format!(
            "INSERT INTO sites (id, county_id, town_id, kind, name, ref, status, planned_on, version, created_at, updated_at) \
             VALUES ({id}, {county}, {id}, 'station', '{name}社工站', 'ST-{id}', 'planned', '2021-01-04', 1, {AT}, {AT})"
        ));
    }
    sql.extend([
        format!("INSERT INTO staff (id, county_id, name, gender, certification, hired_via, ref, version, created_at, updated_at) VALUES (1, 1, '社工', 'female', 'social_worker', 'public_exam', 'P-1', 1, {AT}, {AT})"),
        format!("INSERT INTO postings (staff_id, station_id, county_id, site_kind, role, from_on, created_at) VALUES (1, 1, 1, 'station', 'social_worker', '2021-02-01', {AT})"),
        format!("INSERT INTO funding_requests (id, county_id, fiscal_year, title, status, ref, version, created_at, updated_at) VALUES (1, 1, 2021, '社工站经费', 'estimating', 'F-1', 1, {AT}, {AT})"),
        format!("INSERT INTO trainings (county_id, kind, title, held_on, ref, version, created_at, updated_at) VALUES (1, 'pre_job', '岗前培训', '2021-03-01', 'T-1', 1, {AT}, {AT})"),
        format!("INSERT INTO users (username, display_name, role, county_id, password_hash, active, auth_version, version, created_at, updated_at) VALUES ('old.officer', '经办人', 'county_officer', 1, 'x', TRUE, 1, 1, {AT}, {AT})"),
        format!("INSERT INTO progress_snapshots (as_of, fiscal_year, title, issuing_unit, rules_version, table_json, published_by, published_at) VALUES ('2021-06-09', 2021, '简报', '市民政局', '1', '{{}}', 'user:admin', {AT})"),
    ]);
    sql
}

#[derive(QueryableByName)]
struct Placed {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    id: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
    city_id: Option<i32>,
}

on_both_backends! {
    // An existing database becomes one province and one city per code prefix, nothing lost:
    // filled as it was before cities, migrated, then read back row by row and as the table.
    async fn a_database_from_before_cities_migrates_without_loss(app: TestApp) {
        let mut conn = Manager::new(app.database_url.clone(), "public").connect().expect("connect");
        let conn = &mut *conn;
        db::revert_all_migrations(conn).expect("revert all");
        let before_cities = diesel_version("2026-12-01-000011_site_equipment_items");
        while applied_versions(conn).last() != Some(&before_cities) {
            run_next_migration(conn);
        }
        for statement in fill_before_cities() {
            diesel::sql_query(&statement).execute(conn).unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        if app.backend == Backend::Postgres {
            for table in ["counties", "towns", "sites", "staff", "funding_requests"] {
                diesel::sql_query(format!("SELECT setval('{table}_id_seq', (SELECT MAX(id) FROM {table}))"))
                    .execute(conn)
                    .expect("sequence");
            }
        }
        db::run_migrations(conn).expect("the remaining migrations apply");

        let count = |conn: &mut DbConnection, sql: &str| {
            diesel::sql_query(sql).get_result::<Count>(conn).expect(sql).n
        };
        assert_eq!(count(conn, "SELECT count(*) AS n FROM provinces WHERE division_code = '440000' AND name = '440000'"), 1);
        assert_eq!(count(conn, "SELECT count(*) AS n FROM provinces"), 1);
        assert_eq!(count(conn, "SELECT count(*) AS n FROM cities WHERE division_code = '445300' AND name = '445300'"), 1);
        assert_eq!(count(conn, "SELECT count(*) AS n FROM cities"), 1);
        let placed: Vec<Placed> = diesel::sql_query("SELECT id, city_id FROM counties ORDER BY id").load(conn).expect("counties");
        assert_eq!(placed.len(), 6, "every county is kept, and no row is added");
        let city: i32 = placed[0].city_id.expect("the county has its city");
        assert!(placed.iter().all(|p| p.city_id == Some(city)), "all in the one city");
        assert_eq!(placed.iter().map(|p| p.id).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(count(conn, "SELECT count(*) AS n FROM counties c JOIN provinces p ON p.id = c.province_id"), 6);
        assert_eq!(count(conn, "SELECT count(*) AS n FROM towns"), 63);
        assert_eq!(count(conn, "SELECT count(*) AS n FROM sites"), 63);
        assert_eq!(count(conn, "SELECT count(*) AS n FROM staff"), 1);
        assert_eq!(count(conn, "SELECT count(*) AS n FROM postings"), 1);
        assert_eq!(count(conn, "SELECT count(*) AS n FROM funding_requests"), 1);
        assert_eq!(count(conn, "SELECT count(*) AS n FROM trainings"), 1);
        assert_eq!(count(conn, "SELECT count(*) AS n FROM users WHERE username = 'old.officer' AND county_id = 1 AND city_id IS NULL"), 1);
        assert_eq!(count(conn, &format!("SELECT count(*) AS n FROM progress_snapshots WHERE city_id = {city}")), 1, "the bulletin is the city's");
        assert_eq!(count(conn, &format!("SELECT count(*) AS n FROM counties WHERE kind = 'city_level' AND city_id = {city}")), 1, "its city level is the city's");

        // The app reads the migrated data: the city's table has the seed's rows and planned stations.
        shuangbai::service::accounts::create_user(
            conn,
            shuangbai::service::accounts::NewAccount {
                username: "after.admin".into(),
                display_name: "管理员".into(),
                role: shuangbai::domain::auth::Role::Admin,
                county_id: None,
                city_id: None,
                password: crate::helpers::PASSWORD.into(),
                phone: None,
            },
        )
        .expect("an admin");
        let token = app.token_for("after.admin", crate::helpers::PASSWORD).await;
        let table = app.get_as(&token, "/api/v1/reports/progress?as_of=2021-06-09").await.expect(200).body;
        let rows = table["rows"].as_array().expect("rows");
        let planned: Vec<(String, i64)> = rows
            .iter()
            .map(|r| (r["division_code"].as_str().unwrap_or("").to_string(), r["stations"]["planned"].as_i64().unwrap_or(-1)))
            .collect();
        assert_eq!(
            planned,
            vec![
                ("445302".into(), 8),
                ("445303".into(), 7),
                ("445381".into(), 21),
                ("445321".into(), 12),
                ("445322".into(), 15),
                ("445300".into(), -1)
            ],
            "the seed's stations planned, one per town, the city level last and blank"
        );
        let county = app.get_as(&token, "/api/v1/counties/1").await.expect(200).body;
        assert_eq!(county["city_id"], city);
        let cities = app.get_as(&token, "/api/v1/cities").await.expect(200).body;
        assert_eq!(cities["total"], 1);
        // A new county of the city is placed by its code; one of an unknown city is refused.
        app.post_as(&token, "/api/v1/counties", &serde_json::json!({"division_code": "445323", "name": "新县", "kind": "county"}))
            .await
            .expect(201);
        app.post_as(&token, "/api/v1/counties", &serde_json::json!({"division_code": "445202", "name": "外市", "kind": "district"}))
            .await
            .expect_problem(422);
    }
}
