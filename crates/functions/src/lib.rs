//! The Lambda functions' handlers. Each binary in `src/bin` is a thin `main` that builds its
//! [`Deps`] once per container and serves one handler; tests call the same handlers with real
//! `lambda_http::Request`s.

pub mod availability;
pub mod book_slot;
pub mod email_relay;
pub mod idempotent;
pub mod owner_routes;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use booking_edge::{ApiError, Config};
use booking_email::{
    DeliveryReport, MailSettings, Mailer, deliver_due, deliver_leased, record_sent,
};
use booking_repository::changes::Booked;
use booking_repository::diesel::QueryResult;
use booking_repository::outbox::{self, SentMail};
use booking_repository::{DbPool, PooledConnection, build_pool, is_unavailable};
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
}

/// How long a function waits, after its commit, to hand its own mails to SES before answering.
/// Whatever is not sent by then stays in the outbox for the relay.
pub const DELIVERY_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

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
        };
        Ok(Self {
            config,
            pool,
            clock,
            mailer,
            mail,
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

    /// Sends the mails a committed change of `job_id` recorded, within [`DELIVERY_BUDGET`].
    /// Never fails the request: a mail that does not go out now is retried by the relay.
    ///
    /// Hands the connection back when it is still good for the response; `None` when it
    /// failed (the caller then takes a fresh one). Mails SES accepted are recorded even when
    /// the budget runs out or the database fails mid-way (through a fresh connection if need
    /// be), so the relay does not send them twice.
    pub async fn deliver_after_commit(
        &self,
        mut conn: PooledConnection,
        job_id: uuid::Uuid,
    ) -> Option<PooledConnection> {
        let now = self.now();
        let mut accepted = Vec::new();
        let delivery = deliver_due(
            &mut conn,
            &self.mailer,
            &self.mail,
            now,
            Some(job_id),
            5,
            &mut accepted,
        );
        let outcome = tokio::time::timeout(DELIVERY_BUDGET, delivery).await;
        self.after_delivery(conn, job_id, now, outcome, &accepted)
            .await
    }

    /// [`Deps::deliver_after_commit`] for a new booking, whose mails its transaction recorded
    /// already leased to this function: nothing is read back before sending.
    pub async fn deliver_booking(
        &self,
        mut conn: PooledConnection,
        booked: &Booked,
    ) -> Option<PooledConnection> {
        let now = self.now();
        let context = booked.mail_context();
        let mut accepted = Vec::new();
        let delivery = deliver_leased(
            &mut conn,
            &self.mailer,
            &self.mail,
            &booked.mails,
            &context,
            now,
            &mut accepted,
        );
        let outcome = tokio::time::timeout(DELIVERY_BUDGET, delivery).await;
        self.after_delivery(conn, booked.job.id, now, outcome, &accepted)
            .await
    }

    async fn after_delivery(
        &self,
        conn: PooledConnection,
        job_id: uuid::Uuid,
        now: DateTime<Utc>,
        outcome: Result<QueryResult<DeliveryReport>, tokio::time::error::Elapsed>,
        accepted: &[SentMail],
    ) -> Option<PooledConnection> {
        let conn = match outcome {
            Ok(Ok(report)) => {
                tracing::info!(%job_id, sent = report.sent, retried = report.retried, failed = report.failed, "mails handed over");
                return Some(conn);
            }
            Ok(Err(error)) => {
                tracing::warn!(%job_id, %error, "mail delivery deferred to the relay");
                (!is_unavailable(&error)).then_some(conn)
            }
            Err(_) => {
                tracing::warn!(%job_id, "mail delivery took too long; the relay takes over");
                Some(conn)
            }
        };
        self.record_accepted(conn, accepted, now).await
    }

    /// Records the mails SES accepted that a cut-short delivery left unrecorded: on `conn` while
    /// it works, else through fresh connections ([`record_sent`]).
    async fn record_accepted(
        &self,
        conn: Option<PooledConnection>,
        accepted: &[SentMail],
        now: DateTime<Utc>,
    ) -> Option<PooledConnection> {
        if accepted.is_empty() {
            return conn;
        }
        if let Some(mut conn) = conn {
            match outbox::mark_sent_many(&mut conn, accepted, now).await {
                Ok(()) => return Some(conn),
                // One connection per container: this one is handed back (dropped) first.
                Err(error) => tracing::warn!(%error, "sent mails not recorded on this connection"),
            }
        }
        record_sent(&self.pool, accepted, now).await;
        None
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
    let deps = Deps::from_config(config, Arc::new(Utc::now))
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot set up the database pool"))?;
    lambda_http::run(service_fn(|request: Request| {
        let response = handler(deps.clone(), request);
        async move { Ok::<_, Infallible>(response.await) }
    }))
    .await
}
