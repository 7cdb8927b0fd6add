use std::collections::HashSet;

use diesel::QueryableByName;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::result::QueryResult;
use diesel::sql_types::Text;
use diesel_async::pooled_connection::deadpool::Object;
use diesel_async::{AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::PooledConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

type MigrationError = Box<dyn std::error::Error + Send + Sync>;

/// Applies every pending migration on `connection` (taken out of its pool); safe to run again.
/// The harness blocks in place, so it runs on a blocking thread; the runtime must be
/// multi-threaded. Returns the versions it applied.
pub async fn run_migrations(connection: PooledConnection) -> Result<Vec<String>, MigrationError> {
    let connection = Object::take(connection);
    tokio::task::spawn_blocking(move || migrate_blocking(connection)).await?
}

fn migrate_blocking(mut connection: AsyncPgConnection) -> Result<Vec<String>, MigrationError> {
    // Building an index may take longer than a request's statement bound; waiting for a lock
    // stays bounded, so a migration never queues the app's queries behind it for long.
    tokio::runtime::Handle::current()
        .block_on(connection.batch_execute("SET statement_timeout = 0"))?;
    let mut harness = AsyncMigrationHarness::new(connection);
    let applied = harness.run_pending_migrations(MIGRATIONS)?;
    Ok(applied.iter().map(ToString::to_string).collect())
}

/// Whether the database has applied every migration compiled into this binary, in one query.
/// A database ahead of the binary still counts as current: migrations are additive, so code
/// rolled back runs on a newer schema by design (docs/DEPLOY.md). A database never migrated
/// (no bookkeeping table) fails the query, which callers treat as "not current".
pub async fn migrations_current(conn: &mut AsyncPgConnection) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Applied {
        #[diesel(sql_type = Text)]
        version: String,
    }
    let applied: Vec<Applied> = diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
        .load(conn)
        .await?;
    let applied: HashSet<String> = applied.into_iter().map(|row| row.version).collect();
    Ok(embedded_versions()
        .iter()
        .all(|version| applied.contains(version)))
}

/// The versions of the migrations compiled into this binary, as the bookkeeping table spells
/// them (`20261201000005`).
pub fn embedded_versions() -> Vec<String> {
    MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .map(|all| {
            all.iter()
                .map(|migration| migration.name().version().to_string())
                .collect()
        })
        .unwrap_or_default()
}
