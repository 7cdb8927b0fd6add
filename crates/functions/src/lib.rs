//! The Lambda functions' handlers. Each binary in `src/bin` is a thin `main` that builds its
//! [`Deps`] once per container and serves one handler; tests call the same handlers with real
//! `lambda_http::Request`s.

pub mod availability;
pub mod book_slot;
pub mod owner_routes;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use booking_edge::{ApiError, Config};
use booking_repository::{DbPool, PooledConnection, build_pool};
use chrono::{DateTime, Utc};
use lambda_http::{Body, Request, Response, service_fn};

/// The clock handlers read `now` from: the wall clock in production, a fixed moment in tests.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// What a handler needs, built once per container.
#[derive(Clone)]
pub struct Deps {
    pub config: Config,
    pub pool: DbPool,
    pub clock: Clock,
}

impl Deps {
    /// Builds the pool (without connecting: the first request opens the connection).
    pub fn new(config: Config, clock: Clock) -> Result<Self, booking_repository::PoolSetupError> {
        let pool = build_pool(
            &config.database_url,
            config.database_pool_size,
            config.database_ca_bundle.as_deref(),
        )?;
        Ok(Self {
            config,
            pool,
            clock,
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    pub async fn connection(&self) -> Result<PooledConnection, ApiError> {
        Ok(self.pool.get().await?)
    }
}

/// The `main` of every HTTP function: logs, config, pool, then serve `handler` forever.
pub async fn serve_http<H, F>(handler: H) -> Result<(), lambda_http::Error>
where
    H: Fn(Deps, Request) -> F,
    F: Future<Output = Response<Body>> + Send,
{
    booking_edge::telemetry::init();
    let config = Config::from_env()
        .inspect_err(|error| tracing::error!(%error, "configuration is incomplete"))?;
    let deps = Deps::new(config, Arc::new(Utc::now))
        .inspect_err(|error| tracing::error!(%error, "cannot set up the database pool"))?;
    lambda_http::run(service_fn(|request: Request| {
        let response = handler(deps.clone(), request);
        async move { Ok::<_, Infallible>(response.await) }
    }))
    .await
}
