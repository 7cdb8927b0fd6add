use diesel_async::{AsyncMigrationHarness, AsyncPgConnection, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Applies every pending migration; safe to run again. Needs a multi-threaded Tokio runtime
/// (the harness blocks in place). Returns the versions it applied.
pub fn run_migrations(
    mut connection: AsyncPgConnection,
) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    // Building an index may take longer than a request's statement bound; waiting for a lock
    // stays bounded, so a migration never queues the app's queries behind it for long.
    tokio::runtime::Handle::current()
        .block_on(connection.batch_execute("SET statement_timeout = 0"))?;
    let mut harness = AsyncMigrationHarness::new(connection);
    let applied = harness.run_pending_migrations(MIGRATIONS)?;
    Ok(applied.iter().map(ToString::to_string).collect())
}
