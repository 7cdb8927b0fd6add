//! After a change commits, the function hands the mails it recorded to SES itself, within a
//! budget; whatever does not go out by then stays in the outbox for the relay. The clock and the
//! mailer are the container's ([`Deps`]), so tests drive this with a fixed clock and moto.

use booking_email::{DeliveryReport, deliver_due, deliver_leased, record_sent};
use booking_repository::changes::Booked;
use booking_repository::diesel::QueryResult;
use booking_repository::outbox::{self, SentMail};
use booking_repository::{PooledConnection, is_unavailable};
use chrono::{DateTime, Utc};

use crate::Deps;

/// How long a function waits, after its commit, to hand its own mails to SES before answering.
/// Whatever is not sent by then stays in the outbox for the relay.
pub const DELIVERY_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

impl Deps {
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
}
