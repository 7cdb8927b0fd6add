//! After a change commits, the function hands the mails it recorded to SES itself, within a
//! budget; whatever does not go out by then stays in the outbox for the relay. The clock and the
//! mailer are the container's ([`Deps`]), so tests drive this with a fixed clock and moto.

use std::sync::{Arc, Mutex, PoisonError};

use booking_domain::MailContext;
use booking_email::{DeliveryReport, deliver_due, record_delivery, record_sent, send_leased};
use booking_repository::changes::Booked;
use booking_repository::diesel::QueryResult;
use booking_repository::outbox::ClaimedMail;
use booking_repository::outbox::{self, SentMail};
use booking_repository::{PooledConnection, is_unavailable};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Deps;

/// What an invocation owes after its response: held by the container ([`Deps`]) until
/// [`Deps::settle`].
#[derive(Clone, Default)]
pub struct Owed(Arc<Mutex<Vec<OwedWork>>>);

enum OwedWork {
    BookingMails {
        job_id: Uuid,
        mails: Vec<ClaimedMail>,
        // Boxed: the other variant is one id.
        context: Box<MailContext>,
    },
    /// The mails a committed change of the job recorded in its transaction (unleased): leased
    /// and sent as [`Deps::deliver_after_commit`] does, after the response.
    JobMails { job_id: Uuid },
}

impl Owed {
    fn push(&self, work: OwedWork) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(work);
    }

    fn take(&self) -> Vec<OwedWork> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

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

    /// Leaves a new booking's mails, recorded leased to this function in its transaction, to
    /// be sent once the response is on its way ([`Deps::settle`]): the client never waits for
    /// SES. If the container dies first, the relay sends them when their lease runs out.
    pub fn owe_booking_mails(&self, booked: &Booked) {
        if booked.mails.is_empty() {
            return;
        }
        self.owed.push(OwedWork::BookingMails {
            job_id: booked.job.id,
            mails: booked.mails.clone(),
            context: Box::new(booked.mail_context()),
        });
    }

    /// Leaves the mails a committed change of `job_id` recorded to be sent once the response is
    /// on its way ([`Deps::settle`]), as a booking's are: the owner or client who made the
    /// change never waits for SES. If the container dies first, the relay sends them.
    pub fn owe_job_mails(&self, job_id: Uuid) {
        self.owed.push(OwedWork::JobMails { job_id });
    }

    /// Does what the last invocation left for after its response, within [`DELIVERY_BUDGET`]
    /// for each: a booking's mails go out all at once, without a database connection, and are
    /// then recorded in one statement; a change's are leased, sent and recorded on the
    /// container's connection. Never fails: what is not done stays in the outbox for the
    /// relay. Run by [`crate::serve_http`] once the response is handed to the runtime (and held
    /// open by the post-response extension in AWS); tests and the load tool call it after each
    /// response, as a container does.
    pub async fn settle(&self) {
        for owed in self.owed.take() {
            match owed {
                OwedWork::BookingMails {
                    job_id,
                    mails,
                    context,
                } => self.send_booking_mails(job_id, &mails, &context).await,
                // The response is out: the container's connection is free again.
                OwedWork::JobMails { job_id } => match self.pool.get().await {
                    Ok(conn) => {
                        self.deliver_after_commit(conn, job_id).await;
                    }
                    Err(error) => {
                        tracing::warn!(%job_id, %error, "no connection to send the mails on; the relay takes over")
                    }
                },
            }
        }
    }

    async fn send_booking_mails(&self, job_id: Uuid, mails: &[ClaimedMail], context: &MailContext) {
        let now = self.now();
        let mut accepted = Vec::new();
        let delivery = async {
            let unsent = send_leased(&self.mailer, &self.mail, mails, context, &mut accepted).await;
            // The connection is taken only to record: none is held while SES answers.
            match self.pool.get().await {
                Ok(mut conn) => Some(
                    record_delivery(&mut conn, unsent, &mut accepted, now)
                        .await
                        .map(|report| (report, conn)),
                ),
                Err(error) => {
                    tracing::warn!(%job_id, %error, "no connection to record the sent mails on");
                    None
                }
            }
        };
        match tokio::time::timeout(DELIVERY_BUDGET, delivery).await {
            Ok(Some(Ok((report, _)))) => {
                tracing::info!(%job_id, sent = report.sent, retried = report.retried, failed = report.failed, "mails handed over");
                return;
            }
            Ok(Some(Err(error))) => {
                tracing::warn!(%job_id, %error, "mail outcomes not recorded; the relay takes over")
            }
            Ok(None) => {}
            Err(_) => tracing::warn!(%job_id, "mail delivery took too long; the relay takes over"),
        }
        record_sent(&self.pool, &accepted, now).await;
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
