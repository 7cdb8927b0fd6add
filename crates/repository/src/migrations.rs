use diesel_async::{AsyncMigrationHarness, AsyncPgConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Applies every pending migration; safe to run again. Needs a multi-threaded Tokio runtime
/// (the harness blocks in place). Returns the versions it applied.
pub fn run_migrations(
    connection: AsyncPgConnection,
) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let mut harness = AsyncMigrationHarness::new(connection);
    let applied = harness.run_pending_migrations(MIGRATIONS)?;
    Ok(applied.iter().map(ToString::to_string).collect())
}
