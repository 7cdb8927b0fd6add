//! Test support shared by the crates' tests: every test gets its own database, cloned from a
//! migrated template and dropped with the test (after crates.io's `crates_io_test_db`), the
//! reference salon to load into it, New York test times, owner tokens, and SES clients for moto.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test scaffolding: failing loudly is the point.

use std::time::Duration;

use booking_repository::diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use booking_repository::tenant_setup::{LoadedTenant, TenantDefinition, load_tenant};
use booking_repository::{DbPool, build_pool, run_migrations};
use diesel::QueryableByName;
use uuid::Uuid;

pub mod salon;
pub mod ses;
pub mod time;
pub mod token;

pub use salon::{interval, salon, weekday_hours};
pub use time::{NEW_YORK, friday_morning, ny, ny_text};

const TEMPLATE: &str = "booking_template";
/// Serialises template creation across test processes.
const TEMPLATE_LOCK: i64 = 0x626f6f6b;

/// A database of one's own, migrated, for one test. Dropping it drops the database (unless the
/// thread is panicking: a failed test leaves its database to look at, and `scripts/test` drops
/// leftover `test_*` databases).
pub struct TestDb {
    pub url: String,
    pub name: String,
    /// Where the database was created from, and is dropped from.
    server: String,
}

/// The server URL tests run against (`DATABASE_URL`, as `scripts/test` sets it).
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must point at a Postgres server (scripts/test sets it)")
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let base = match head[scheme_end..].find('/') {
        Some(slash) => &head[..scheme_end + slash],
        None => head,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

impl TestDb {
    /// Creates a fresh database from the migrated template (building the template first if
    /// this server has none yet). Needs a multi-threaded runtime.
    pub async fn new() -> Self {
        let server = server_url();
        let mut admin = AsyncPgConnection::establish(&server)
            .await
            .expect("connect to the test server");
        ensure_template(&mut admin, &server).await;
        let name = format!("test_{}", Uuid::new_v4().simple());
        let create = format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}");
        let mut attempts = 0;
        loop {
            match diesel::sql_query(&create).execute(&mut admin).await {
                Ok(_) => break,
                // The template is briefly "being accessed" while another process copies it.
                Err(error) if attempts < 50 => {
                    attempts += 1;
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("cannot create {name}: {error}"),
            }
        }
        Self {
            url: with_database(&server, &name),
            name,
            server,
        }
    }

    pub fn pool(&self, size: usize) -> DbPool {
        build_pool(&self.url, size, None).expect("build a pool")
    }

    pub async fn connection(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url)
            .await
            .expect("connect to the test database")
    }
}

impl Drop for TestDb {
    /// `DROP DATABASE … WITH (FORCE)` (closing what is still connected) on a thread of its own
    /// with a runtime of its own, so it works inside and outside a Tokio runtime. Never panics:
    /// a database left behind is a warning.
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Connections of the failed test may still be at work; dropping the database under
            // them would bury the failure in their errors.
            eprintln!("test database {} kept: the test failed", self.name);
            return;
        }
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::Builder::new()
            .name(format!("drop {name}"))
            .spawn(move || drop_database(&server, &name))
            .map_err(|e| e.to_string())
            .and_then(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|_| Err("the drop panicked".to_owned()))
            });
        if let Err(error) = dropped {
            eprintln!("warning: test database {} not dropped: {error}", self.name);
        }
    }
}

fn drop_database(server: &str, name: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let drop = async {
            let mut admin = AsyncPgConnection::establish(server)
                .await
                .map_err(|e| e.to_string())?;
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .map_err(|e| e.to_string())
        };
        match tokio::time::timeout(Duration::from_secs(30), drop).await {
            Ok(result) => result.map(|_| ()),
            Err(_) => Err("timed out".to_owned()),
        }
    })
}

async fn ensure_template(admin: &mut AsyncPgConnection, server: &str) {
    diesel::sql_query(format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})"))
        .execute(admin)
        .await
        .expect("take the template lock");
    let exists: Exists = diesel::sql_query(format!(
        "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{TEMPLATE}') AS exists"
    ))
    .get_result(admin)
    .await
    .expect("look for the template");
    if !exists.exists {
        diesel::sql_query(format!("CREATE DATABASE {TEMPLATE}"))
            .execute(admin)
            .await
            .expect("create the template");
        let pool = build_pool(&with_database(server, TEMPLATE), 1, None).expect("template pool");
        let connection = pool.get().await.expect("connect to the template");
        run_migrations(connection)
            .await
            .expect("migrate the template");
        // Nobody may stay connected to a template that is copied.
        drop(pool);
        diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{TEMPLATE}'"
        ))
        .execute(admin)
        .await
        .expect("close template connections");
    }
    diesel::sql_query(format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})"))
        .execute(admin)
        .await
        .expect("release the template lock");
}

/// Loads a tenant definition and returns its ids by service slug.
pub async fn load(db: &TestDb, definition: &TenantDefinition) -> LoadedTenant {
    let mut conn = db.connection().await;
    load_tenant(&mut conn, definition)
        .await
        .expect("load the tenant")
}

/// The id of a loaded service.
pub fn service(loaded: &LoadedTenant, slug: &str) -> Uuid {
    *loaded.services.get(slug).unwrap_or_else(|| {
        panic!(
            "no service {slug} in {:?}",
            loaded.services.keys().collect::<Vec<_>>()
        )
    })
}
