//! The email outbox. A state change records its mails with [`enqueue`] in its own transaction
//! (a new booking records them already leased to its function); after commit (and on the
//! relay's schedule) a sender leases due mails with [`claim_due`], sends them, and records the
//! outcome with [`mark_sent_many`] or [`mark_failed`].
//!
//! A lease is an `attempts + 1` and a `next_attempt_at` pushed [`LEASE`] ahead, committed at
//! once: two senders never take the same mail, and the mail of a sender that dies mid-way is
//! due again when the lease runs out. Delivery is therefore at least once; a sender that dies
//! after SES accepted a mail but before recording it sends that mail twice.

use booking_domain::{MAX_ATTEMPTS, MailContext, MailKind, MailStatus, backoff};
use chrono::{DateTime, Duration, Utc};
use diesel::dsl::min;
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{Array, BigInt, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::catalog::{corrupt, parse_zone};
use crate::jobs::{ContactRow, JobRow, record};
use crate::schema::{contacts, emails, jobs, services, tenants};

/// How long a sender holds a mail it leased. Far longer than one SES call (seconds), so a live
/// sender always finishes first; short enough that a crashed sender's mail goes out soon after.
pub const LEASE: Duration = Duration::minutes(2);

/// Longest error text kept per mail.
const ERROR_CHARS: usize = 1000;

/// A mail a sender leased: send it, then record the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMail {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub job_id: Uuid,
    pub kind: MailKind,
    /// Attempts including this one.
    pub attempts: u32,
}

/// A job's mail as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailStatus {
    pub id: Uuid,
    pub kind: MailKind,
    pub status: MailStatus,
    pub attempts: u32,
    /// For a pending mail: when it is tried next.
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure, kept after a later success to show that it needed a retry.
    pub last_error: Option<String>,
    pub ses_message_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

fn kind(text: &str) -> Result<MailKind, DieselError> {
    MailKind::parse(text).ok_or_else(|| corrupt(format!("mail kind `{text}`")))
}

fn attempts(value: i32) -> Result<u32, DieselError> {
    u32::try_from(value).map_err(|_| corrupt(format!("mail attempts {value}")))
}

/// Records `kinds` for the job, due at `now`. Call it inside the transaction that changes the
/// job, so the mail exists exactly when the change does. A kind the job already has is left as
/// it is (a repeated request never mails twice). Returns how many mails were new.
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    job_id: Uuid,
    kinds: &[MailKind],
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    if kinds.is_empty() {
        return Ok(0);
    }
    let rows: Vec<_> = kinds
        .iter()
        .map(|kind| {
            (
                emails::tenant_id.eq(tenant_id),
                emails::job_id.eq(job_id),
                emails::kind.eq(kind.as_str()),
                emails::next_attempt_at.eq(now),
                emails::created_at.eq(now),
            )
        })
        .collect();
    diesel::insert_into(emails::table)
        .values(&rows)
        .on_conflict((emails::job_id, emails::kind))
        .do_nothing()
        .execute(conn)
        .await
}

/// [`enqueue`] for a new job whose mails the caller sends itself right after commit: the mails
/// are recorded already leased to it (one attempt, due again after [`LEASE`]), so no lease
/// statement is needed after commit. If the caller never sends them, the relay does once the
/// lease runs out — as for any sender that dies mid-way.
#[tracing::instrument(level = "trace", name = "outbox enqueue", skip_all)]
pub(crate) async fn enqueue_leased_on(
    mut conn: &AsyncPgConnection,
    tenant_id: Uuid,
    job_id: Uuid,
    kinds: &[MailKind],
    now: DateTime<Utc>,
) -> QueryResult<Vec<ClaimedMail>> {
    let mails: Vec<ClaimedMail> = kinds
        .iter()
        .map(|&kind| ClaimedMail {
            id: Uuid::new_v4(),
            tenant_id,
            job_id,
            kind,
            attempts: 1,
        })
        .collect();
    let rows: Vec<_> = mails
        .iter()
        .map(|mail| {
            (
                emails::id.eq(mail.id),
                emails::tenant_id.eq(tenant_id),
                emails::job_id.eq(job_id),
                emails::kind.eq(mail.kind.as_str()),
                emails::attempts.eq(1),
                emails::next_attempt_at.eq(now + LEASE),
                emails::created_at.eq(now),
            )
        })
        .collect();
    diesel::insert_into(emails::table)
        .values(&rows)
        .execute(&mut conn)
        .await?;
    Ok(mails)
}

#[derive(QueryableByName)]
#[diesel(table_name = emails, check_for_backend(diesel::pg::Pg))]
struct ClaimedRow {
    id: Uuid,
    tenant_id: Uuid,
    job_id: Uuid,
    kind: String,
    attempts: i32,
}

const CLAIM_ANY: &str = "\
    UPDATE emails SET attempts = emails.attempts + 1, next_attempt_at = $2 \
    WHERE emails.status = 'pending' AND emails.id IN ( \
        SELECT id FROM emails WHERE status = 'pending' AND next_attempt_at <= $1 \
        ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
    RETURNING id, tenant_id, job_id, kind, attempts";

const CLAIM_FOR_JOB: &str = "\
    UPDATE emails SET attempts = emails.attempts + 1, next_attempt_at = $2 \
    WHERE emails.status = 'pending' AND emails.id IN ( \
        SELECT id FROM emails WHERE status = 'pending' AND next_attempt_at <= $1 AND job_id = $4 \
        ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
    RETURNING id, tenant_id, job_id, kind, attempts";

/// Leases up to `limit` pending mails due at `now` (only `job`'s when given), oldest due
/// first. Run it outside any transaction: the lease must commit before the mails are sent.
/// Mails another sender is leasing right now are skipped, never waited for.
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    limit: i64,
    job: Option<Uuid>,
) -> QueryResult<Vec<ClaimedMail>> {
    claim_due_on(conn, now, limit, job).await
}

/// [`claim_due`] on a shared connection, to pipeline it with [`mail_contexts_on`].
#[tracing::instrument(level = "trace", name = "mail lease (claim, commits)", skip_all)]
pub async fn claim_due_on(
    mut conn: &AsyncPgConnection,
    now: DateTime<Utc>,
    limit: i64,
    job: Option<Uuid>,
) -> QueryResult<Vec<ClaimedMail>> {
    let query = diesel::sql_query(if job.is_some() {
        CLAIM_FOR_JOB
    } else {
        CLAIM_ANY
    })
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(now + LEASE)
    .bind::<BigInt, _>(limit.max(0));
    let rows: Vec<ClaimedRow> = match job {
        Some(job_id) => query.bind::<SqlUuid, _>(job_id).load(&mut conn).await?,
        None => query.load(&mut conn).await?,
    };
    rows.into_iter()
        .map(|row| {
            Ok(ClaimedMail {
                id: row.id,
                tenant_id: row.tenant_id,
                job_id: row.job_id,
                kind: kind(&row.kind)?,
                attempts: attempts(row.attempts)?,
            })
        })
        .collect()
}

/// A mail SES accepted, to be recorded as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMail {
    pub email_id: Uuid,
    pub ses_message_id: String,
}

/// Records that SES accepted the mails, in one statement. A mail already recorded as sent
/// keeps its first message id.
#[tracing::instrument(level = "trace", name = "mail marked sent (commits)", skip_all)]
pub async fn mark_sent_many(
    conn: &mut AsyncPgConnection,
    sent: &[SentMail],
    now: DateTime<Utc>,
) -> QueryResult<()> {
    if sent.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = sent.iter().map(|mail| mail.email_id).collect();
    let message_ids: Vec<&str> = sent
        .iter()
        .map(|mail| mail.ses_message_id.as_str())
        .collect();
    diesel::sql_query(
        "UPDATE emails SET status = 'sent', ses_message_id = accepted.message_id, sent_at = $3 \
         FROM unnest($1::uuid[], $2::text[]) AS accepted(id, message_id) \
         WHERE emails.id = accepted.id AND emails.status <> 'sent'",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Text>, _>(message_ids)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a failed attempt. A permanent failure, or the last allowed attempt, gives the mail
/// up (`failed`); otherwise it is due again after [`backoff`]. Only the sender holding the
/// lease records anything: if the lease ran out and another sender took the mail, this is a
/// no-op. Returns the mail's status afterwards.
#[tracing::instrument(level = "trace", name = "mail marked failed (commits)", skip_all)]
pub async fn mark_failed(
    conn: &mut AsyncPgConnection,
    mail: &ClaimedMail,
    error: &str,
    permanent: bool,
    now: DateTime<Utc>,
) -> QueryResult<MailStatus> {
    let gives_up = permanent || mail.attempts >= MAX_ATTEMPTS;
    let (status, next_attempt_at) = if gives_up {
        (MailStatus::Failed, now)
    } else {
        (MailStatus::Pending, now + backoff(mail.attempts))
    };
    let error: String = error.chars().take(ERROR_CHARS).collect();
    let held = i32::try_from(mail.attempts).unwrap_or(i32::MAX);
    let updated = diesel::update(
        emails::table
            .filter(emails::id.eq(mail.id))
            .filter(emails::status.eq(MailStatus::Pending.as_str()))
            .filter(emails::attempts.eq(held)),
    )
    .set((
        emails::status.eq(status.as_str()),
        emails::last_error.eq(error),
        emails::next_attempt_at.eq(next_attempt_at),
    ))
    .execute(conn)
    .await?;
    Ok(if updated == 0 {
        MailStatus::Pending
    } else {
        status
    })
}

/// What the mails of the jobs `job_ids` show, as the jobs are now, each with its tenant's id
/// (for the caller to check against the mail's); a job that is gone is missing.
#[tracing::instrument(
    level = "trace",
    name = "mail context (job, contact, service, tenant)",
    skip_all
)]
pub async fn mail_contexts_on(
    mut conn: &AsyncPgConnection,
    job_ids: &[Uuid],
) -> QueryResult<Vec<(Uuid, MailContext)>> {
    let found: Vec<(JobRow, ContactRow, String, String, String, String)> = jobs::table
        .inner_join(contacts::table)
        .inner_join(services::table.inner_join(tenants::table))
        .filter(jobs::id.eq_any(job_ids))
        .select((
            JobRow::as_select(),
            ContactRow::as_select(),
            services::name,
            tenants::name,
            tenants::time_zone,
            tenants::notification_email,
        ))
        .load(&mut conn)
        .await?;
    found
        .into_iter()
        .map(|row| {
            let tenant_id = row.0.tenant_id();
            Ok((tenant_id, context(row)?))
        })
        .collect()
}

type ContextRow = (JobRow, ContactRow, String, String, String, String);

fn context(
    (job, contact, service_name, tenant_name, zone, notification_email): ContextRow,
) -> QueryResult<MailContext> {
    let job = record(job, contact, parse_zone(&zone)?)?;
    Ok(MailContext {
        job_id: job.id,
        tenant_name,
        zone: job.zone,
        notification_email,
        service_name,
        title: job.title,
        status: job.status,
        starts_at: job.starts_at,
        ends_at: job.ends_at,
        notes: job.notes,
        decline_reason: job.decline_reason,
        client_name: job.client_name,
        client_email: job.client_email,
        client_phone: job.client_phone,
        changed_at: job.updated_at,
    })
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = emails, check_for_backend(diesel::pg::Pg))]
struct EmailRow {
    id: Uuid,
    kind: String,
    status: String,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    last_error: Option<String>,
    ses_message_id: Option<String>,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
}

/// The mails of one of the tenant's jobs, in the order they were queued.
pub async fn for_job(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    job_id: Uuid,
) -> QueryResult<Vec<EmailStatus>> {
    let rows: Vec<EmailRow> = emails::table
        .filter(emails::tenant_id.eq(tenant_id))
        .filter(emails::job_id.eq(job_id))
        .order((emails::created_at, emails::kind))
        .select(EmailRow::as_select())
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(EmailStatus {
                id: row.id,
                kind: kind(&row.kind)?,
                status: MailStatus::parse(&row.status)
                    .ok_or_else(|| corrupt(format!("mail status `{}`", row.status)))?,
                attempts: attempts(row.attempts)?,
                next_attempt_at: row.next_attempt_at,
                last_error: row.last_error,
                ses_message_id: row.ses_message_id,
                created_at: row.created_at,
                sent_at: row.sent_at,
            })
        })
        .collect()
}

/// How long the oldest mail not yet accepted by SES has waited (`None` when none waits): the
/// backlog metric an alarm watches.
pub async fn oldest_pending_age(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
) -> QueryResult<Option<Duration>> {
    let oldest: Option<DateTime<Utc>> = emails::table
        .filter(emails::status.eq(MailStatus::Pending.as_str()))
        .select(min(emails::created_at))
        .first(conn)
        .await?;
    Ok(oldest.map(|created| (now - created).max(Duration::zero())))
}
