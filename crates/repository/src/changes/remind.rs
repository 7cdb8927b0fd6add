//! The relay reminds clients of their coming bookings: it takes the due reminders (through the
//! `reminders_due` index, never a scan of jobs) and turns each into a `client-reminder` mail in
//! the transaction that marks it taken, so the outbox sends it exactly as it sends every other
//! mail — once, or (if a sender dies after SES accepted it but before recording that) twice,
//! the outbox's documented corner.
//!
//! Locks: the due reminders `FOR UPDATE SKIP LOCKED` (two relays take disjoint ones), then their
//! jobs `FOR SHARE SKIP LOCKED` — so a reminder is judged against the job as it is, and a change
//! of the job (which holds it `FOR UPDATE` under the tenant guard) either commits first, leaving
//! the reminder replaced or gone, or waits until the reminder is taken. The relay waits for no
//! lock (so it can deadlock with nothing); a reminder it skips is taken by a later pass. No
//! tenant guard: a reminder changes no job and no capacity.
//!
//! Several due reminders of one job at once (the relay was down for a while) send one mail, for
//! the nearest: the others are taken unmailed. A job no longer scheduled, or already started,
//! gets none (its reminders are normally gone already; this is the check at send time).

use booking_domain::{JobStatus, MailKind, still_remindable};
use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Integer, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::catalog::corrupt;
use crate::events::NewEvent;
use crate::outbox::QueuedBy;
use crate::schema::job_events;

/// What one batch of reminders came to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reminded {
    /// Reminders that became mails.
    pub mailed: usize,
    /// Reminders taken without a mail: the job was no longer remindable, or a nearer reminder
    /// of the same job was mailed instead.
    pub dropped: usize,
}

impl Reminded {
    /// Reminders this batch took.
    pub fn taken(&self) -> usize {
        self.mailed + self.dropped
    }
}

/// The actor a reminder's history entry names.
const SYSTEM: &str = "system";

/// The due reminders not taken by another relay, with their jobs as they are now (a job another
/// transaction is changing is skipped, its reminder left for a later pass). `$1` is now, `$2`
/// the batch; public for the load tool's plan of it.
pub const CLAIM_DUE: &str = "\
    WITH due AS MATERIALIZED ( \
        SELECT id, job_id, offset_minutes FROM reminders \
        WHERE taken_at IS NULL AND due_at <= $1 \
        ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
    SELECT due.id, due.job_id, due.offset_minutes, jobs.tenant_id, jobs.status, jobs.starts_at, \
           jobs.revision \
    FROM due JOIN jobs ON jobs.id = due.job_id \
    FOR SHARE OF jobs SKIP LOCKED";

#[derive(diesel::QueryableByName)]
struct DueRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    job_id: Uuid,
    #[diesel(sql_type = Integer)]
    offset_minutes: i32,
    #[diesel(sql_type = SqlUuid)]
    tenant_id: Uuid,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Timestamptz)]
    starts_at: DateTime<Utc>,
    #[diesel(sql_type = Integer)]
    revision: i32,
}

/// Takes up to `limit` reminders due at `now` in one transaction: their mails and history
/// entries are written and the reminders marked taken, all or nothing. Run it outside any
/// transaction; call it again while it takes a full batch.
pub async fn remind(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> diesel::QueryResult<Reminded> {
    conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        let due: Vec<DueRow> = diesel::sql_query(CLAIM_DUE)
            .bind::<Timestamptz, _>(now)
            .bind::<BigInt, _>(limit.max(0))
            .load(conn)
            .await?;
        if due.is_empty() {
            return Ok(Reminded::default());
        }
        let mut mailed: Vec<&DueRow> = Vec::new();
        for row in &due {
            let status = JobStatus::parse(&row.status)
                .ok_or_else(|| corrupt(format!("job status `{}`", row.status)))?;
            if !still_remindable(status, row.starts_at, now) {
                continue;
            }
            // One mail per job: the nearest reminder (smallest offset) of those due.
            match mailed.iter_mut().find(|kept| kept.job_id == row.job_id) {
                Some(kept) if kept.offset_minutes > row.offset_minutes => *kept = row,
                Some(_) => {}
                None => mailed.push(row),
            }
        }
        let events: Vec<NewEvent<'_>> = mailed
            .iter()
            .map(|row| NewEvent {
                id: Uuid::new_v4(),
                tenant_id: row.tenant_id,
                job_id: row.job_id,
                at: now,
                actor: SYSTEM,
                action: "reminded",
                from_status: None,
                to_status: None,
                from_start: Some(row.starts_at),
                to_start: Some(row.starts_at),
                from_end: None,
                to_end: None,
                reason: None,
            })
            .collect();
        if !events.is_empty() {
            diesel::insert_into(job_events::table)
                .values(&events)
                .execute(conn)
                .await?;
        }
        // The reminder is the entry as it stands: the SEQUENCE of the job's latest change.
        let mails = events
            .iter()
            .zip(&mailed)
            .map(|(event, row)| {
                let revision = u32::try_from(row.revision)
                    .map_err(|_| corrupt(format!("job revision {}", row.revision)))?;
                let change = QueuedBy {
                    tenant_id: event.tenant_id,
                    job_id: event.job_id,
                    event_id: event.id,
                    revision,
                };
                Ok((change, MailKind::for_reminder()))
            })
            .collect::<diesel::QueryResult<Vec<_>>>()?;
        crate::outbox::enqueue_many(conn, &mails, now).await?;
        // The rows are locked by this transaction; `taken_at IS NULL` is a second guard.
        diesel::sql_query(
            "UPDATE reminders SET taken_at = $2 WHERE id = ANY($1) AND taken_at IS NULL",
        )
        .bind::<Array<SqlUuid>, _>(due.iter().map(|row| row.id).collect::<Vec<_>>())
        .bind::<Timestamptz, _>(now)
        .execute(conn)
        .await?;
        Ok(Reminded {
            mailed: mailed.len(),
            dropped: due.len() - mailed.len(),
        })
    })
    .await
}
