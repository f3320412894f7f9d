//! Throwaway PostgreSQL databases for the tests that run on both stores.
//!
//! `SLUICE_TEST_POSTGRES` names a database to connect to for creating and
//! dropping the per-test database (default
//! `postgres://postgres@127.0.0.1:5432/test`); `off` skips those tests.

use sqlx::Connection;

const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A throwaway PostgreSQL database, dropped when the test ends.
pub struct PgTestDb {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgTestDb {
    pub fn create(test: &str) -> Option<PgTestDb> {
        let admin_url =
            std::env::var("SLUICE_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.into());
        if admin_url == "off" {
            eprintln!("SLUICE_TEST_POSTGRES=off: skipping the PostgreSQL test {test}");
            return None;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("sluice_cli_test_{}_{nanos}", std::process::id());
        pg_admin(&admin_url, &format!("CREATE DATABASE {name}"));
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        Some(PgTestDb {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        pg_admin(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

pub fn pg_admin(admin_url: &str, sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("connecting to {admin_url} (set SLUICE_TEST_POSTGRES): {e}")
            });
        // the name is generated, never input: safe to splice
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
    });
}
