use diesel_async::pooled_connection::deadpool::Object;
use diesel_async::{AsyncMigrationHarness, AsyncPgConnection, SimpleAsyncConnection};

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
