//! Lambda: applies pending database migrations. `scripts/deploy` invokes it after every deploy;
//! running it again is harmless. Answers `{"applied": ["<version>", ...]}`.

use booking_edge::Config;
use booking_repository::{build_pool, run_migrations};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    booking_edge::telemetry::init();
    let config = Config::from_env()
        .inspect_err(|error| tracing::error!(%error, "configuration is incomplete"))?;
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| migrate(&config))).await
}

async fn migrate(config: &Config) -> Result<Value, Error> {
    let pool = build_pool(
        &config.database_url,
        1,
        config.database_ca_bundle.as_deref(),
    )?;
    let applied = run_migrations(pool.get().await?).await.map_err(|error| {
        tracing::error!(%error, "migration failed");
        Error::from(error.to_string())
    })?;
    tracing::info!(applied = ?applied, "migrations applied");
    Ok(json!({ "applied": applied }))
}
