//! Sending what the outbox holds: lease the due mails, render each from the job as it is now,
//! send it, record the outcome. Handlers call [`deliver_due`] for their job right after
//! commit; the relay function calls [`relay`] on a schedule for everything else (retries, and
//! mails whose post-commit send was cut short).

use std::time::Duration as StdDuration;

use booking_domain::MailStatus;
use booking_domain::client::mask_email;
use booking_repository::AsyncPgConnection;
use booking_repository::outbox::{self, ClaimedMail};
use chrono::{DateTime, Utc};
use diesel::QueryResult;
use uuid::Uuid;

use crate::{MailSettings, Mailer, render};

/// What one delivery run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Accepted by SES (or filed locally).
    pub sent: usize,
    /// Failed for now; due again after their backoff.
    pub retried: usize,
    /// Given up: refused for good, unrenderable, or out of attempts.
    pub failed: usize,
}

impl DeliveryReport {
    pub fn attempted(&self) -> usize {
        self.sent + self.retried + self.failed
    }
}

impl std::ops::AddAssign for DeliveryReport {
    fn add_assign(&mut self, other: Self) {
        self.sent += other.sent;
        self.retried += other.retried;
        self.failed += other.failed;
    }
}

/// Sends up to `limit` mails due at `now` — only `job`'s when given — and records each
/// outcome. Call it outside any transaction (each lease commits on its own). Errors are the
/// database's; a mail that cannot be sent is recorded as retried or failed, never returned.
///
/// If the future is dropped mid-way (a caller's timeout), the mails it leased are sent by the
/// relay once their lease runs out ([`outbox::LEASE`]).
pub async fn deliver_due(
    conn: &mut AsyncPgConnection,
    mailer: &Mailer,
    settings: &MailSettings,
    now: DateTime<Utc>,
    job: Option<Uuid>,
    limit: i64,
) -> QueryResult<DeliveryReport> {
    let mut report = DeliveryReport::default();
    for mail in outbox::claim_due(conn, now, limit, job).await? {
        match deliver(conn, mailer, settings, &mail, now).await? {
            MailStatus::Sent => report.sent += 1,
            MailStatus::Pending => report.retried += 1,
            MailStatus::Failed => report.failed += 1,
        }
    }
    Ok(report)
}

async fn deliver(
    conn: &mut AsyncPgConnection,
    mailer: &Mailer,
    settings: &MailSettings,
    mail: &ClaimedMail,
    now: DateTime<Utc>,
) -> QueryResult<MailStatus> {
    let Some(context) = outbox::mail_context(conn, mail.tenant_id, mail.job_id).await? else {
        return give_up(conn, mail, "the job no longer exists", now).await;
    };
    let rendered = match render(mail.kind, &context, settings) {
        Ok(rendered) => rendered,
        Err(error) => return give_up(conn, mail, &error.to_string(), now).await,
    };
    match mailer.send(&rendered).await {
        Ok(message_id) => {
            outbox::mark_sent(conn, mail.id, &message_id, now).await?;
            tracing::info!(
                email_id = %mail.id,
                job_id = %mail.job_id,
                kind = %mail.kind,
                to = %mask_email(&rendered.to),
                attempt = mail.attempts,
                ses_message_id = %message_id,
                "mail sent"
            );
            Ok(MailStatus::Sent)
        }
        Err(error) => {
            let status =
                outbox::mark_failed(conn, mail, &error.message, error.permanent, now).await?;
            if status == MailStatus::Failed {
                tracing::error!(
                    email_id = %mail.id,
                    job_id = %mail.job_id,
                    kind = %mail.kind,
                    attempt = mail.attempts,
                    permanent = error.permanent,
                    error = %error.message,
                    "mail given up"
                );
            } else {
                tracing::warn!(
                    email_id = %mail.id,
                    job_id = %mail.job_id,
                    kind = %mail.kind,
                    attempt = mail.attempts,
                    error = %error.message,
                    "mail not sent; will retry"
                );
            }
            Ok(status)
        }
    }
}

async fn give_up(
    conn: &mut AsyncPgConnection,
    mail: &ClaimedMail,
    reason: &str,
    now: DateTime<Utc>,
) -> QueryResult<MailStatus> {
    tracing::error!(
        email_id = %mail.id,
        job_id = %mail.job_id,
        kind = %mail.kind,
        reason,
        "mail cannot be built; given up"
    );
    outbox::mark_failed(conn, mail, reason, true, now).await
}

/// The relay's run: delivers due mails in batches of `batch` until none is due or `budget` is
/// spent (a batch in progress is finished). `clock` is read before each batch.
pub async fn relay(
    conn: &mut AsyncPgConnection,
    mailer: &Mailer,
    settings: &MailSettings,
    clock: impl Fn() -> DateTime<Utc>,
    batch: i64,
    budget: StdDuration,
) -> QueryResult<DeliveryReport> {
    let started = tokio::time::Instant::now();
    let batch = batch.max(1);
    let mut total = DeliveryReport::default();
    while started.elapsed() < budget {
        let report = deliver_due(conn, mailer, settings, clock(), None, batch).await?;
        total += report;
        if (report.attempted() as i64) < batch {
            break;
        }
    }
    Ok(total)
}
