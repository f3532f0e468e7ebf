use diesel::prelude::*;
use diesel::r2d2::ManageConnection;
use diesel::sql_types::BigInt;
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
