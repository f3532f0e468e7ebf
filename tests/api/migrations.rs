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
        let mut conn = Manager::new(app.database_url.clone()).connect().expect("connect");
        assert!(tables_left(&mut conn, backend) > 0, "the app applied its migrations");
        let reverted = db::revert_all_migrations(&mut conn).expect("revert");
        assert_eq!(reverted, expected, "every migration has a down");
        assert_eq!(tables_left(&mut conn, backend), 0, "down leaves nothing behind");
        db::run_migrations(&mut conn).expect("migrations apply again");
        assert!(tables_left(&mut conn, backend) > 0);
    }
}
