//! Sending what the outbox holds: lease the due mails, render each from the job as it is now
//! (its invitation under the SEQUENCE of the change that queued it), send it, record the
//! outcome. Handlers call [`deliver_due`] for their job right after commit; the relay function
//! calls [`relay`] on a schedule for everything else (retries, and mails whose post-commit send
//! was cut short).

use std::time::Duration as StdDuration;

use std::collections::HashMap;

use booking_domain::client::mask_email;
use booking_domain::{MailContext, MailStatus};
use booking_repository::outbox::{self, ClaimedMail, SentMail};
use booking_repository::{
    AsyncPgConnection, DbPool, FRESH_CONNECTION_PAUSES_MS, on_fresh_connection,
};
use chrono::{DateTime, Utc};
use diesel::QueryResult;
use futures_util::StreamExt;
use futures_util::future::try_join;
use futures_util::stream::FuturesUnordered;
use uuid::Uuid;

use crate::{MailSettings, Mailer, SendError, render};

/// What one delivery run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Accepted by SES (or filed locally).
    pub sent: usize,
    /// Failed for now; due again after their backoff.
    pub retried: usize,
    /// Given up: the recipient refused for good, or the mail cannot be built.
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
/// outcome. Call it outside any transaction (each lease commits on its own). A mail that
/// cannot be sent is recorded as retried or failed, never returned as an error.
///
/// The mails are sent job by job: one read of the job for all its mails (for `job`, pipelined
/// with the lease), and one statement recording those SES accepted. A post-commit delivery is
/// therefore two round trips.
///
/// `accepted` (empty at the start) holds the mails SES accepted and not yet recorded: it is
/// empty again when this returns `Ok`. After an error, or when the caller drops the future (a
/// timeout), whatever it holds must still be recorded ([`record_sent`], or
/// [`outbox::mark_sent_many`]), or the relay sends those mails again. Leased mails not sent
/// yet are sent by the relay once their lease runs out ([`outbox::LEASE`]).
pub async fn deliver_due(
    conn: &mut AsyncPgConnection,
    mailer: &Mailer,
    settings: &MailSettings,
    now: DateTime<Utc>,
    job: Option<Uuid>,
    limit: i64,
    accepted: &mut Vec<SentMail>,
) -> QueryResult<DeliveryReport> {
    let (claimed, contexts) = match job {
        Some(job_id) => {
            let shared: &AsyncPgConnection = conn;
            try_join(
                outbox::claim_due_on(shared, now, limit, job),
                outbox::mail_contexts_on(shared, &[job_id]),
            )
            .await?
        }
        None => {
            let claimed = outbox::claim_due(conn, now, limit, None).await?;
            let mut job_ids: Vec<Uuid> = claimed.iter().map(|mail| mail.job_id).collect();
            job_ids.sort_unstable();
            job_ids.dedup();
            let contexts = if job_ids.is_empty() {
                Vec::new()
            } else {
                outbox::mail_contexts_on(conn, &job_ids).await?
            };
            (claimed, contexts)
        }
    };
    let contexts: HashMap<Uuid, (Uuid, MailContext)> = contexts
        .into_iter()
        .map(|(tenant_id, context)| (context.job_id, (tenant_id, context)))
        .collect();
    let mut report = DeliveryReport::default();
    // Job by job, in the order the lease returned them.
    let mut jobs: Vec<(Uuid, Vec<ClaimedMail>)> = Vec::new();
    for mail in claimed {
        match jobs.iter_mut().find(|(job_id, _)| *job_id == mail.job_id) {
            Some((_, mails)) => mails.push(mail),
            None => jobs.push((mail.job_id, vec![mail])),
        }
    }
    for (job_id, mails) in jobs {
        // A mail is only ever rendered from its own tenant's job.
        let context = contexts
            .get(&job_id)
            .filter(|(tenant_id, _)| mails.iter().all(|mail| mail.tenant_id == *tenant_id))
            .map(|(_, context)| context);
        deliver_job(
            conn,
            mailer,
            settings,
            &mails,
            context,
            now,
            &mut report,
            accepted,
        )
        .await?;
    }
    Ok(report)
}

/// Sends mails the caller already holds the lease of — a new booking's, recorded leased in its
/// transaction — rendered from `context`, without touching the database: record the outcome
/// afterwards with [`record_delivery`]. `accepted` as for [`deliver_due`].
pub async fn send_leased(
    mailer: &Mailer,
    settings: &MailSettings,
    mails: &[ClaimedMail],
    context: &MailContext,
    accepted: &mut Vec<SentMail>,
) -> Unsent {
    let own = mails.iter().all(|mail| mail.job_id == context.job_id);
    send_all(mailer, settings, mails, own.then_some(context), accepted).await
}

/// The mails of a send that did not go out, to be recorded.
#[derive(Debug, Default)]
pub struct Unsent {
    /// Mails that cannot be built (their job is gone, or rendering failed): given up.
    unbuildable: Vec<(ClaimedMail, String)>,
    /// Mails SES refused: retried after their backoff, or given up when the refusal is final.
    refused: Vec<(ClaimedMail, SendError)>,
}

/// Sends one job's leased mails and records them ([`send_all`], then [`record_delivery`]).
#[allow(clippy::too_many_arguments)] // The delivery's context, passed down one level.
async fn deliver_job(
    conn: &mut AsyncPgConnection,
    mailer: &Mailer,
    settings: &MailSettings,
    mails: &[ClaimedMail],
    context: Option<&MailContext>,
    now: DateTime<Utc>,
    report: &mut DeliveryReport,
    accepted: &mut Vec<SentMail>,
) -> QueryResult<()> {
    let unsent = send_all(mailer, settings, mails, context, accepted).await;
    *report += record_delivery(conn, unsent, accepted, now).await?;
    Ok(())
}

/// Sends one job's mails all at once (SES answers in tens of milliseconds, so a job's two mails
/// cost one wait, not two). Each accepted mail is in `accepted` from the moment SES takes it
/// until it is recorded, so neither an error nor a dropped future loses it.
async fn send_all(
    mailer: &Mailer,
    settings: &MailSettings,
    mails: &[ClaimedMail],
    context: Option<&MailContext>,
    accepted: &mut Vec<SentMail>,
) -> Unsent {
    let mut unsent = Unsent::default();
    let mut sends = FuturesUnordered::new();
    for mail in mails {
        let Some(context) = context else {
            unsent
                .unbuildable
                .push((mail.clone(), "the job no longer exists".to_owned()));
            continue;
        };
        // The job as it is now, under the SEQUENCE of the change that queued the mail.
        let as_queued;
        let context = match mail.revision {
            Some(revision) if revision != context.revision => {
                as_queued = MailContext {
                    revision,
                    ..context.clone()
                };
                &as_queued
            }
            _ => context,
        };
        match render(mail.kind, context, settings) {
            Ok(rendered) => sends.push(async move {
                let outcome = mailer.send(&rendered).await;
                (mail, rendered, outcome)
            }),
            Err(error) => unsent.unbuildable.push((mail.clone(), error.to_string())),
        }
    }
    while let Some((mail, rendered, outcome)) = sends.next().await {
        match outcome {
            Ok(message_id) => {
                tracing::info!(
                    email_id = %mail.id,
                    job_id = %mail.job_id,
                    kind = %mail.kind,
                    to = %mask_email(&rendered.to),
                    attempt = mail.attempts,
                    ses_message_id = %message_id,
                    "mail sent"
                );
                accepted.push(SentMail {
                    email_id: mail.id,
                    ses_message_id: message_id,
                });
            }
            Err(error) => unsent.refused.push((mail.clone(), error)),
        }
    }
    unsent
}

/// Records a send's outcome: the mails that did not go out one by one (rare), then those SES
/// accepted in one statement; `accepted` is empty again when this returns `Ok`.
pub async fn record_delivery(
    conn: &mut AsyncPgConnection,
    unsent: Unsent,
    accepted: &mut Vec<SentMail>,
    now: DateTime<Utc>,
) -> QueryResult<DeliveryReport> {
    let mut report = DeliveryReport::default();
    let mut count = |attempt| match attempt {
        Attempt::Failed => report.failed += 1,
        Attempt::Retried => report.retried += 1,
    };
    for (mail, reason) in &unsent.unbuildable {
        count(give_up(conn, mail, reason, now).await?);
    }
    for (mail, error) in &unsent.refused {
        count(record_refusal(conn, mail, error, now).await?);
    }
    outbox::mark_sent_many(conn, accepted, now).await?;
    report.sent += accepted.len();
    accepted.clear();
    Ok(report)
}

/// Records the mails SES accepted, through a fresh connection from `pool` each try: for the
/// `accepted` mails a delivery left unrecorded (its connection died, or it was cut short).
/// Tries five times over about 2.6 s (a database that lost its connections is usually back well
/// within that); if all fail, the relay sends those mails again after their lease.
pub async fn record_sent(pool: &DbPool, sent: &[SentMail], now: DateTime<Utc>) -> bool {
    if sent.is_empty() {
        return true;
    }
    let recorded = on_fresh_connection(
        pool,
        "record sent mails",
        &FRESH_CONNECTION_PAUSES_MS,
        |mut conn| async move { outbox::mark_sent_many(&mut conn, sent, now).await },
    )
    .await;
    match recorded {
        Some(()) => tracing::info!(
            mails = sent.len(),
            "sent mails recorded on a fresh connection"
        ),
        None => tracing::error!(
            mails = sent.len(),
            "sent mails could not be recorded; the relay will send them again"
        ),
    }
    recorded.is_some()
}

/// What became of a mail that did not go out.
enum Attempt {
    Retried,
    Failed,
}

/// Records SES's refusal of `mail`: retried after its backoff, or given up for good.
async fn record_refusal(
    conn: &mut AsyncPgConnection,
    mail: &ClaimedMail,
    error: &SendError,
    now: DateTime<Utc>,
) -> QueryResult<Attempt> {
    let status = outbox::mark_failed(conn, mail, &error.message, error.permanent, now).await?;
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
        Ok(Attempt::Failed)
    } else {
        tracing::warn!(
            email_id = %mail.id,
            job_id = %mail.job_id,
            kind = %mail.kind,
            attempt = mail.attempts,
            error = %error.message,
            "mail not sent; will retry"
        );
        Ok(Attempt::Retried)
    }
}

async fn give_up(
    conn: &mut AsyncPgConnection,
    mail: &ClaimedMail,
    reason: &str,
    now: DateTime<Utc>,
) -> QueryResult<Attempt> {
    tracing::error!(
        email_id = %mail.id,
        job_id = %mail.job_id,
        kind = %mail.kind,
        reason,
        "mail cannot be built; given up"
    );
    Ok(
        match outbox::mark_failed(conn, mail, reason, true, now).await? {
            MailStatus::Failed => Attempt::Failed,
            // Another sender holds the mail now: it is theirs to record.
            _ => Attempt::Retried,
        },
    )
}

/// The relay's run: delivers due mails in batches of `batch` until none is due or `budget` is
/// spent (a batch in progress is finished). `clock` is read before each batch; `accepted` as
/// for [`deliver_due`].
pub async fn relay(
    conn: &mut AsyncPgConnection,
    mailer: &Mailer,
    settings: &MailSettings,
    clock: impl Fn() -> DateTime<Utc>,
    batch: i64,
    budget: StdDuration,
    accepted: &mut Vec<SentMail>,
) -> QueryResult<DeliveryReport> {
    let started = tokio::time::Instant::now();
    let batch = batch.max(1);
    let mut total = DeliveryReport::default();
    while started.elapsed() < budget {
        let report = deliver_due(conn, mailer, settings, clock(), None, batch, accepted).await?;
        total += report;
        if (report.attempted() as i64) < batch {
            break;
        }
    }
    Ok(total)
}
