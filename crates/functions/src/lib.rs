//! The Lambda functions' handlers. Each binary in `src/bin` is a thin `main` that builds its
//! [`Deps`] once per container and serves one handler; tests call the same handlers with real
//! `lambda_http::Request`s.

pub mod availability;
pub mod book_slot;
pub mod business_setup;
pub mod calendar_feed;
pub mod contact_data;
mod delivery;
pub use delivery::DELIVERY_BUDGET;
pub mod email_relay;
pub mod health;
pub mod idempotent;
pub mod integrations;
pub mod job_transitions;
pub mod manage_booking;
pub mod owner_calendar;
pub mod owner_insights;
pub mod owner_routes;
mod post_response;
pub mod ses_feedback;
pub mod webhook_delivery;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use booking_edge::input::client_key;
use booking_edge::{ApiError, Config};
use booking_email::{MailSettings, Mailer};
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
    pub mailer: Mailer,
    pub mail: MailSettings,
    /// What the current invocation leaves for after its response ([`Deps::settle`]).
    owed: delivery::Owed,
}

impl Deps {
    /// Builds the pool (without connecting: the first request opens the connection).
    pub fn new(
        config: Config,
        clock: Clock,
        mailer: Mailer,
    ) -> Result<Self, booking_repository::PoolSetupError> {
        let pool = build_pool(
            &config.database_url,
            config.database_pool_size,
            config.database_ca_bundle.as_deref(),
        )?;
        let mail = MailSettings {
            from_address: config.ses.from_address.clone(),
            public_app_url: config.public_app_url.clone(),
            public_booking_url: config.public_booking_url.clone(),
            manage_key: config.manage_key.clone(),
        };
        Ok(Self {
            config,
            pool,
            clock,
            mailer,
            mail,
            owed: delivery::Owed::default(),
        })
    }

    /// Builds the mailer the configuration asks for (SES, or `.eml` files) and the rest.
    pub async fn from_config(
        config: Config,
        clock: Clock,
    ) -> Result<Self, booking_repository::PoolSetupError> {
        let mailer = Mailer::from_settings(
            config.ses.enabled,
            config.ses.configuration_set.clone(),
            config.ses.outbox_dir.clone(),
        )
        .await;
        Self::new(config, clock, mailer)
    }

    /// The rate-limit bucket of `request`'s client on `route`: its IPv4 address or IPv6 /64
    /// (behind CloudFront, the viewer's, when the origin secret matches).
    pub fn client_bucket(&self, route: &str, request: &Request) -> String {
        let client = client_key(request, self.config.edge_origin_secret.as_deref());
        format!("{route}:{client}")
    }

    /// The manage token of `job`'s current link version (never stored, never logged).
    pub fn manage_token(&self, job: &booking_repository::jobs::JobRecord) -> String {
        self.config.manage_key.issue(booking_domain::ManageLink {
            job_id: job.id,
            version: job.manage_version,
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
    H: Fn(&'static Deps, Request) -> F,
    F: Future<Output = Response<Body>> + Send,
{
    booking_edge::telemetry::init();
    let config = Config::from_env()
        .inspect_err(|error| tracing::error!(%error, "configuration is incomplete"))?;
    let deps = Deps::from_config(config, Arc::new(Utc::now))
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot set up the database pool"))?;
    // Built once per container and alive as long as it: handlers borrow it, nothing is cloned
    // per request.
    let deps: &'static Deps = Box::leak(Box::new(deps));
    let (settled, settlements) = tokio::sync::mpsc::unbounded_channel();
    let extension = post_response::register(settlements).await;
    let runtime = lambda_http::run(service_fn(|request: Request| {
        let response = handler(deps, request);
        let settled = settled.clone();
        async move {
            let response = response.await;
            // The runtime posts the response as soon as this returns; what the invocation owes
            // runs beside that, and the extension holds the environment until it is done.
            tokio::spawn(async move {
                deps.settle().await;
                let _ = settled.send(());
            });
            Ok::<_, Infallible>(response)
        }
    }));
    match extension {
        Some(extension) => tokio::try_join!(runtime, extension).map(|_| ()),
        None => runtime.await,
    }
}
