//! The email outbox. A state change records its mails with [`enqueue`] in its own transaction
//! (a new booking records them already leased to its function); after commit (and on the
//! relay's schedule) a sender leases due mails with [`claim_due`], sends them, and records the
//! outcome with [`mark_sent_many`] or [`mark_failed`].
//!
//! A lease is an `attempts + 1` and a `next_attempt_at` pushed [`LEASE`] ahead, committed at
//! once: two senders never take the same mail, and the mail of a sender that dies mid-way is
//! due again when the lease runs out. Delivery is therefore at least once; a sender that dies
//! after SES accepted a mail but before recording it sends that mail twice.

use booking_domain::{ClientEmail, MailContext, MailKind, MailStatus, backoff};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::try_join;
use uuid::Uuid;

use crate::catalog::{corrupt, parse_zone};
use crate::jobs::{ContactRow, JobRow, record_with_staff};
use crate::schema::{contacts, emails, jobs, services, staff, tenants};

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
    /// The job's revision when the change that queued the mail was made: its invitation's
    /// SEQUENCE, so a mail sent late never outranks a later change's (`None`: a mail queued
    /// before the column, rendered at the job's revision when sent).
    pub revision: Option<u32>,
}

/// One mail of a job as the outbox holds it: kind, delivery state, attempts, SES message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRecord {
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

/// Records `kinds` for the job's change `event_id` (its history entry), due at `now`. Call it
/// inside the transaction that changes the job, so the mail exists exactly when the change
/// does. A kind the change already has is left as it is (a repeated request never mails twice;
/// a later change of the same kind — a second move — mails again). Returns how many mails
/// were new. On a shared connection, to pipeline it with the change's other writes.
#[tracing::instrument(level = "trace", name = "outbox enqueue (change)", skip_all)]
pub async fn enqueue(
    conn: &AsyncPgConnection,
    change: QueuedBy,
    kinds: &[MailKind],
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    let mails: Vec<_> = kinds.iter().map(|&kind| (change, kind)).collect();
    enqueue_many(conn, &mails, now).await
}

/// The change of a job that queues mails: the job, its history entry, and the job's revision
/// after the change (the mails' invitation SEQUENCE, [`ClaimedMail::revision`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedBy {
    pub tenant_id: Uuid,
    pub job_id: Uuid,
    pub event_id: Uuid,
    pub revision: u32,
}

/// [`enqueue`] for several changes at once (a batch the relay makes: reminders): each
/// (change, kind) one mail, due at `now`, in one statement.
#[tracing::instrument(level = "trace", name = "outbox enqueue (batch)", skip_all)]
pub(crate) async fn enqueue_many(
    mut conn: &AsyncPgConnection,
    mails: &[(QueuedBy, MailKind)],
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    if mails.is_empty() {
        return Ok(0);
    }
    let rows: Vec<_> = mails
        .iter()
        .map(|&(change, kind)| {
            (
                emails::tenant_id.eq(change.tenant_id),
                emails::job_id.eq(change.job_id),
                emails::event_id.eq(change.event_id),
                emails::kind.eq(kind.as_str()),
                emails::next_attempt_at.eq(now),
                emails::created_at.eq(now),
                emails::revision.eq(i32::try_from(change.revision).ok()),
            )
        })
        .collect();
    // The unique index is on (coalesce(event_id, job_id), kind): any conflict is that one.
    diesel::insert_into(emails::table)
        .values(&rows)
        .on_conflict_do_nothing()
        .execute(&mut conn)
        .await
}

/// At most this many public-booking mails go to one client address per hour, across tenants:
/// the booking form cannot make a business's verified identity mail anyone more often. Past
/// it the booking still lands; its client mail waits its turn in the outbox.
pub const BOOKING_MAILS_PER_ADDRESS_HOUR: i64 = 5;

/// Serialises the bookings mailing one address (whatever the tenant) until commit, so each
/// sees the others' turns. Taken after the tenant's lock, and nothing is locked after it.
const LOCK_RECIPIENT: &str = "SELECT pg_advisory_xact_lock(hashtextextended(lower($1), 0))";

/// Whether the client mail `emails` (a row of that table) goes to an address on its tenant's
/// suppression list ([`crate::suppressions`]); `$kinds` is the array parameter of the client
/// kinds. The one test of suppression: every lease — [`claim_due`] and a new booking's
/// mails leased at insert — applies it, and nothing is sent without a lease.
macro_rules! suppressed {
    ($kinds:literal) => {
        concat!(
            "(emails.kind = ANY(",
            $kinds,
            ") AND EXISTS (",
            "SELECT 1 FROM jobs JOIN contacts ON contacts.id = jobs.contact_id ",
            "JOIN suppressions ON suppressions.tenant_id = jobs.tenant_id ",
            "AND suppressions.address_hash = sha256(convert_to(lower(contacts.email), 'UTF8')) ",
            "WHERE jobs.id = emails.job_id))"
        )
    };
}

/// Queues the owner's notice for the jobs of the rows of `$rows` whose status is `suppressed`
/// (once per job: the notice has no event, so the unique (coalesce(event_id, job_id), kind)
/// index lets one exist per job); due at `$now`.
macro_rules! tell_owner {
    ($rows:literal, $now:literal) => {
        concat!(
            "told AS (INSERT INTO emails (tenant_id, job_id, kind, next_attempt_at, created_at) ",
            "SELECT DISTINCT tenant_id, job_id, 'owner-client-unreachable', ",
            $now,
            "::timestamptz, ",
            $now,
            "::timestamptz FROM ",
            $rows,
            " WHERE status = 'suppressed' ON CONFLICT DO NOTHING)"
        )
    };
}

/// Takes the client mail's turn — the earliest time at or after `now` leaving fewer than
/// [`BOOKING_MAILS_PER_ADDRESS_HOUR`] turns of the address in the hour before — and records
/// the mails: the client mail leased when its turn is now, else waiting for it; the others
/// leased. The address is kept only as a hash. A client mail to a suppressed address is
/// recorded `suppressed` (never leased), and the owner's notice queued.
const ENQUEUE_BOOKING: &str = concat!(
    "WITH recipient AS (SELECT sha256(convert_to(lower($1), 'UTF8')) AS key), ",
    "barred AS (SELECT EXISTS (SELECT 1 FROM suppressions, recipient ",
    "    WHERE suppressions.tenant_id = $4 AND suppressions.address_hash = recipient.key) AS yes), ",
    "turn AS ( ",
    "    INSERT INTO mail_recipient_turns (recipient, due_at) ",
    "    SELECT key, greatest($2, coalesce(( ",
    "        SELECT due_at + interval '1 hour' FROM mail_recipient_turns ",
    "        WHERE mail_recipient_turns.recipient = recipient.key ",
    "        ORDER BY due_at DESC OFFSET $3 - 1 LIMIT 1), $2)) ",
    "    FROM recipient RETURNING due_at), ",
    "mails AS ( ",
    "    INSERT INTO emails (id, tenant_id, job_id, kind, status, attempts, next_attempt_at, created_at, revision) ",
    "    SELECT mail.id, $4, $5, mail.kind, ",
    "        CASE WHEN mail.capped AND barred.yes THEN 'suppressed' ELSE 'pending' END, ",
    "        CASE WHEN mail.capped AND (barred.yes OR turn.due_at > $2) THEN 0 ELSE 1 END, ",
    "        CASE WHEN mail.capped AND turn.due_at > $2 THEN turn.due_at ELSE $6 END, $2, 0 ",
    "    FROM unnest($7::uuid[], $8::text[], $9::bool[]) AS mail(id, kind, capped) ",
    "    CROSS JOIN turn CROSS JOIN barred ",
    "    RETURNING id, tenant_id, job_id, kind, attempts, status, revision), ",
    tell_owner!("mails", "$2"),
    " SELECT id, tenant_id, job_id, kind, attempts, revision FROM mails"
);

/// [`enqueue`] for a public booking, whose mails the caller sends itself right after commit:
/// the mails are recorded already leased to it (one attempt, due again after [`LEASE`]), so no
/// lease statement is needed after commit, and returned. If the caller never sends them, the
/// relay does once the lease runs out — as for any sender that dies mid-way.
///
/// The client's mail counts against [`BOOKING_MAILS_PER_ADDRESS_HOUR`]: past it, it is
/// recorded unleased and due at its turn (the relay sends it then), and not returned. Two
/// statements, pipelined: the address's lock, then the turn and the mails.
#[tracing::instrument(level = "trace", name = "outbox enqueue", skip_all)]
pub(crate) async fn enqueue_booking_on(
    mut conn: &AsyncPgConnection,
    tenant_id: Uuid,
    job_id: Uuid,
    kinds: &[MailKind],
    client: &ClientEmail,
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
            revision: Some(0),
        })
        .collect();
    let lock = diesel::sql_query(LOCK_RECIPIENT).bind::<Text, _>(client.as_str());
    let insert = diesel::sql_query(ENQUEUE_BOOKING)
        .bind::<Text, _>(client.as_str())
        .bind::<Timestamptz, _>(now)
        .bind::<BigInt, _>(BOOKING_MAILS_PER_ADDRESS_HOUR)
        .bind::<SqlUuid, _>(tenant_id)
        .bind::<SqlUuid, _>(job_id)
        .bind::<Timestamptz, _>(now + LEASE)
        .bind::<Array<SqlUuid>, _>(mails.iter().map(|mail| mail.id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(
            mails
                .iter()
                .map(|mail| mail.kind.as_str())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Bool>, _>(
            mails
                .iter()
                .map(|mail| mail.kind.is_for_client())
                .collect::<Vec<_>>(),
        );
    let mut shared = conn;
    let (_, recorded) = try_join(
        lock.execute(&mut conn),
        insert.load::<ClaimedRow>(&mut shared),
    )
    .await?;
    let leased: Vec<Uuid> = recorded
        .iter()
        .filter(|row| row.attempts == 1)
        .map(|row| row.id)
        .collect();
    Ok(mails
        .into_iter()
        .filter(|mail| leased.contains(&mail.id))
        .collect())
}

/// Drops the turns of client addresses that no longer count (due over an hour before `now`).
pub async fn prune_recipient_turns(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::sql_query("DELETE FROM mail_recipient_turns WHERE due_at < $1")
        .bind::<Timestamptz, _>(now - Duration::hours(1))
        .execute(conn)
        .await
}

#[derive(QueryableByName)]
#[diesel(table_name = emails, check_for_backend(diesel::pg::Pg))]
struct ClaimedRow {
    id: Uuid,
    tenant_id: Uuid,
    job_id: Uuid,
    kind: String,
    attempts: i32,
    revision: Option<i32>,
}

/// Leases the due mails `$due` selects: each gets an attempt and a lease until `$2`, except a
/// client mail to a suppressed address ([`suppressed!`], kinds in `$kinds`), which becomes
/// `suppressed` (and its job's owner is told, [`tell_owner!`]) instead of being returned.
macro_rules! claim {
    ($due:literal, $kinds:literal) => {
        concat!(
            "WITH due AS (", $due, "), ",
            "leased AS (UPDATE emails SET ",
            "status = CASE WHEN ", suppressed!($kinds), " THEN 'suppressed' ELSE 'pending' END, ",
            "attempts = CASE WHEN ", suppressed!($kinds), " THEN emails.attempts ELSE emails.attempts + 1 END, ",
            "next_attempt_at = $2 ",
            "FROM due WHERE emails.id = due.id AND emails.status = 'pending' ",
            "RETURNING emails.id, emails.tenant_id, emails.job_id, emails.kind, emails.attempts, emails.status, emails.revision), ",
            tell_owner!("leased", "$1"),
            " SELECT id, tenant_id, job_id, kind, attempts, revision FROM leased WHERE status = 'pending'"
        )
    };
}

const CLAIM_ANY: &str = claim!(
    "SELECT id FROM emails WHERE status = 'pending' AND next_attempt_at <= $1 \
     ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED",
    "$4"
);

const CLAIM_FOR_JOB: &str = claim!(
    "SELECT id FROM emails WHERE status = 'pending' AND next_attempt_at <= $1 AND job_id = $4 \
     ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED",
    "$5"
);

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
    let kinds = crate::suppressions::client_kinds();
    let rows: Vec<ClaimedRow> = match job {
        Some(job_id) => {
            query
                .bind::<SqlUuid, _>(job_id)
                .bind::<Array<Text>, _>(kinds)
                .load(&mut conn)
                .await?
        }
        None => query.bind::<Array<Text>, _>(kinds).load(&mut conn).await?,
    };
    rows.into_iter()
        .map(|row| {
            Ok(ClaimedMail {
                id: row.id,
                tenant_id: row.tenant_id,
                job_id: row.job_id,
                kind: kind(&row.kind)?,
                attempts: attempts(row.attempts)?,
                revision: row
                    .revision
                    .map(|value| {
                        u32::try_from(value).map_err(|_| corrupt(format!("mail revision {value}")))
                    })
                    .transpose()?,
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

/// Records a failed attempt. Only a permanent failure gives the mail up (`failed`); any other
/// is due again after [`backoff`], however many attempts it took (see [`redrive_failed`] for
/// mails given up by mistake). Only the sender holding the
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
    let (status, next_attempt_at) = if permanent {
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

/// Puts the mails given up (at or after `since`, when given) back in the queue, due at `now`:
/// for mails a passing failure once gave up, or a recipient's refusal that was fixed. Returns
/// how many. (A failed mail's `updated_at` is when it was given up.)
pub async fn redrive_failed(
    conn: &mut AsyncPgConnection,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE emails SET status = 'pending', next_attempt_at = $2 \
         WHERE status = 'failed' AND ($1::timestamptz IS NULL OR updated_at >= $1)",
    )
    .bind::<Nullable<Timestamptz>, _>(since)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await
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
    let found = jobs::table
        .inner_join(contacts::table)
        .inner_join(services::table.inner_join(tenants::table))
        .left_join(staff::table.on(staff::id.nullable().eq(jobs::staff_id)))
        .filter(jobs::id.eq_any(job_ids))
        .select((
            JobRow::as_select(),
            ContactRow::as_select(),
            services::name,
            tenants::name,
            tenants::time_zone,
            tenants::notification_email,
            staff::name.nullable(),
        ))
        .load::<ContextRow>(&mut conn);
    let mut shared = conn;
    let (found, moves) = try_join(found, latest_moves(&mut shared, job_ids)).await?;
    found
        .into_iter()
        .map(|row| {
            let tenant_id = row.0.tenant_id();
            let mut context = context(row)?;
            context.previous = moves
                .iter()
                .find(|moved| moved.job_id == context.job_id)
                .map(|moved| (moved.from_start, moved.from_end));
            Ok((tenant_id, context))
        })
        .collect()
}

#[derive(QueryableByName)]
struct LatestMove {
    #[diesel(sql_type = SqlUuid)]
    job_id: Uuid,
    #[diesel(sql_type = Timestamptz)]
    from_start: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    from_end: DateTime<Utc>,
}

/// Where each of the jobs was before its latest move (jobs never moved are missing): what the
/// owner's notice of a client's move shows as the old time. (A notice sent after a second move
/// shows the second's old time; the job's history keeps every one.)
async fn latest_moves(
    conn: &mut &AsyncPgConnection,
    job_ids: &[Uuid],
) -> QueryResult<Vec<LatestMove>> {
    diesel::sql_query(
        "SELECT DISTINCT ON (job_id) job_id, from_start, from_end FROM job_events \
         WHERE job_id = ANY($1) AND action = 'rescheduled' \
           AND from_start IS NOT NULL AND from_end IS NOT NULL \
         ORDER BY job_id, position DESC",
    )
    .bind::<Array<SqlUuid>, _>(job_ids)
    .load(conn)
    .await
}

type ContextRow = (
    JobRow,
    ContactRow,
    String,
    String,
    String,
    String,
    Option<String>,
);

fn context(
    (job, contact, service_name, tenant_name, zone, notification_email, staff): ContextRow,
) -> QueryResult<MailContext> {
    let job = record_with_staff(job, contact, parse_zone(&zone)?, staff)?;
    Ok(job.mail_context(&tenant_name, &service_name, &notification_email))
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
) -> QueryResult<Vec<MailRecord>> {
    for_job_on(conn, tenant_id, job_id).await
}

/// [`for_job`] on a shared connection, to pipeline it with the job's other reads.
#[tracing::instrument(level = "trace", name = "job mails", skip_all)]
pub async fn for_job_on(
    mut conn: &AsyncPgConnection,
    tenant_id: Uuid,
    job_id: Uuid,
) -> QueryResult<Vec<MailRecord>> {
    let rows: Vec<EmailRow> = emails::table
        .filter(emails::tenant_id.eq(tenant_id))
        .filter(emails::job_id.eq(job_id))
        .order((emails::created_at, emails::kind))
        .select(EmailRow::as_select())
        .load(&mut conn)
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(MailRecord {
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
/// backlog metric an alarm watches. A mail never tried waits from when it became due, so one
/// held back on purpose (a recipient's turn, see [`BOOKING_MAILS_PER_ADDRESS_HOUR`]) is no
/// backlog until its turn comes; a mail that was tried waits from its creation.
pub async fn oldest_pending_age(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
) -> QueryResult<Option<Duration>> {
    #[derive(QueryableByName)]
    struct Oldest {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
        waiting_since: Option<DateTime<Utc>>,
    }
    let oldest: Oldest = diesel::sql_query(
        "SELECT min(CASE WHEN attempts = 0 THEN greatest(created_at, next_attempt_at) \
                         ELSE created_at END) AS waiting_since \
         FROM emails WHERE status = 'pending' AND (attempts > 0 OR next_attempt_at <= $1)",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(now)
    .get_result(conn)
    .await?;
    Ok(oldest
        .waiting_since
        .map(|since| (now - since).max(Duration::zero())))
}
