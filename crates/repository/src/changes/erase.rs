//! A client asks to be forgotten (GDPR art. 17): the owner erases the contact. Under the tenant
//! guard, in one transaction: the contact's future active jobs are cancelled first (by the
//! owner, recorded in their history, no mail: the person asked not to be contacted), then
//! everything personal is replaced in the contact, its jobs and its mails — name, address,
//! phone, notes, titles (a booking's title names its client), reasons written in the jobs and
//! their history, mail errors (SES may quote the address) — while counts, times and statuses
//! stay, so the business's figures still add up. Every manage link of the jobs dies (their
//! version is bumped), mails still waiting are not sent, the idempotency keys that could
//! replay a booking's answer are dropped, and the address's mail turns (a hash of it) go. The
//! webhook payloads of its jobs are scrubbed like the jobs, the receivers' answers dropped, and
//! a suppression of the address keeps only its hash (the address stays unmailed).
//!
//! The contact's address becomes `<contact id>@erased.invalid` (`.invalid` can never be
//! delivered, RFC 2606), unique per contact: the same person booking again is a new contact.

use booking_domain::{JobAction, JobStatus, ReminderOffsets, decide};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::Write;
use crate::changes;
use crate::events::NewEvent;
use crate::jobs::{self, JobChange};
use crate::schema::{contacts, jobs as jobs_table};
use crate::setup::SetupChange;
use crate::{catalog, guard};

/// What an erased client's name reads afterwards, everywhere it was.
pub const ERASED_NAME: &str = "Erased";

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erased {
    pub contact_id: Uuid,
    /// The contact's jobs (of any status), all kept.
    pub jobs: u32,
    /// The future jobs cancelled first.
    pub cancelled: Vec<Uuid>,
    /// Already erased before: nothing was done.
    pub already: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error("contact not found")]
    NotFound,
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// Every statement below reads its jobs through this list: the contact's, in its tenant.
const CONTACT_JOBS: &str = "SELECT id FROM jobs WHERE tenant_id = $1 AND contact_id = $2";

/// Erases contact `contact_id` of tenant `tenant_id`; another tenant's contact is not found.
pub async fn erase_contact(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    contact_id: Uuid,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Erased, EraseError> {
    conn.transaction::<_, EraseError, _>(async move |conn| {
        guard::tenant(conn, tenant_id)
            .await?
            .ok_or(EraseError::NotFound)?;
        let (email, erased_at): (String, Option<DateTime<Utc>>) = contacts::table
            .filter(contacts::id.eq(contact_id))
            .filter(contacts::tenant_id.eq(tenant_id))
            .select((contacts::email, contacts::erased_at))
            .for_update()
            .first(conn)
            .await
            .optional()?
            .ok_or(EraseError::NotFound)?;
        if erased_at.is_some() {
            return Ok(Erased {
                contact_id,
                jobs: 0,
                cancelled: Vec::new(),
                already: true,
            });
        }
        let cancelled = cancel_future_jobs(conn, tenant_id, contact_id, actor, now).await?;
        let jobs = scrub(conn, tenant_id, contact_id, &email, now).await?;
        let detail = serde_json::json!({
            "contactId": contact_id,
            "jobs": jobs,
            "cancelledJobIds": cancelled,
        });
        let change = SetupChange {
            tenant_id,
            actor,
            now,
            detail: &detail,
        };
        crate::setup::record_other(conn, &change, "contact-erased").await?;
        Ok(Erased {
            contact_id,
            jobs,
            cancelled,
            already: false,
        })
    })
    .await
}

/// Cancels the contact's active jobs that start at or after `now` and that the state machine
/// lets an owner cancel (a job already started is left as it is): history, no mail.
async fn cancel_future_jobs(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    contact_id: Uuid,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, EraseError> {
    let ids: Vec<Uuid> = jobs_table::table
        .filter(jobs_table::tenant_id.eq(tenant_id))
        .filter(jobs_table::contact_id.eq(contact_id))
        .filter(catalog::active_jobs())
        .filter(jobs_table::starts_at.ge(now))
        .select(jobs_table::id)
        .order(jobs_table::starts_at)
        .load(conn)
        .await?;
    let mut cancelled = Vec::new();
    for id in ids {
        let Some(job) = jobs::lock_for_tenant(conn, tenant_id, id).await? else {
            continue;
        };
        let Ok(status) = decide(job.status, JobAction::Cancel, job.starts_at, now) else {
            continue;
        };
        debug_assert_eq!(status, JobStatus::Cancelled);
        let event = NewEvent::of_status(&job, JobAction::Cancel, status, actor, now, None);
        let update = JobChange {
            cancelled_by: Some("owner"),
            ..JobChange::status(&job, status)
        };
        // No mail (the person asked not to be contacted); its reminders go with `scheduled`.
        let written = Write {
            job: &job,
            update,
            event,
            mails: &[],
            key: None,
            offsets: &ReminderOffsets::none(),
            actor,
            now,
        };
        changes::write(conn, written).await?;
        cancelled.push(job.id);
    }
    Ok(cancelled)
}

/// Replaces what is personal in the contact, its jobs, their history and their mails; returns
/// how many jobs the contact has.
async fn scrub(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    contact_id: Uuid,
    email: &str,
    now: DateTime<Utc>,
) -> Result<u32, EraseError> {
    // A booking's title is "<service> – <client>": it becomes the service's name.
    let jobs = diesel::sql_query(
        "UPDATE jobs SET client_name = $3, client_phone = NULL, notes = NULL, \
             title = left(services.name, 200), \
             decline_reason = CASE WHEN decline_reason IS NULL THEN NULL ELSE $3 END, \
             cancel_reason = CASE WHEN cancel_reason IS NULL THEN NULL ELSE $3 END, \
             manage_version = manage_version + 1 \
         FROM services \
         WHERE services.id = jobs.service_id AND jobs.tenant_id = $1 AND jobs.contact_id = $2",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<SqlUuid, _>(contact_id)
    .bind::<Text, _>(ERASED_NAME)
    .execute(conn)
    .await?;
    diesel::sql_query(format!(
        "UPDATE job_events SET reason = $3 \
         WHERE reason IS NOT NULL AND tenant_id = $1 AND job_id IN ({CONTACT_JOBS})"
    ))
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<SqlUuid, _>(contact_id)
    .bind::<Text, _>(ERASED_NAME)
    .execute(conn)
    .await?;
    // A mail still waiting would go to an address that is nobody's: it is failed instead.
    diesel::sql_query(format!(
        "UPDATE emails SET \
             last_error = CASE WHEN status = 'pending' THEN 'not sent: the client was erased' \
                               WHEN last_error IS NULL THEN NULL ELSE 'erased' END, \
             status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END \
         WHERE tenant_id = $1 AND job_id IN ({CONTACT_JOBS})"
    ))
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<SqlUuid, _>(contact_id)
    .execute(conn)
    .await?;
    diesel::sql_query(format!(
        "DELETE FROM idempotency_keys WHERE job_id IN ({CONTACT_JOBS})"
    ))
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<SqlUuid, _>(contact_id)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "DELETE FROM mail_recipient_turns \
         WHERE recipient = sha256(convert_to(lower($1), 'UTF8'))",
    )
    .bind::<Text, _>(email)
    .execute(conn)
    .await?;
    // The webhook payloads keep the job as each change left it: its personal fields go as in
    // the job, and the receiver's answers (which may quote them) are dropped.
    diesel::sql_query(format!(
        "UPDATE webhook_events SET job = job || jsonb_build_object( \
             'client_name', $3::text, 'client_phone', NULL, 'notes', NULL, \
             'title', jobs.title, 'client_email', jobs.contact_id::text || '@erased.invalid', \
             'client_erased', true, \
             'decline_reason', CASE WHEN job->>'decline_reason' IS NULL THEN NULL ELSE $3 END, \
             'cancel_reason', CASE WHEN job->>'cancel_reason' IS NULL THEN NULL ELSE $3 END) \
         FROM jobs WHERE jobs.id = webhook_events.job_id \
           AND webhook_events.tenant_id = $1 AND webhook_events.job_id IN ({CONTACT_JOBS})"
    ))
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<SqlUuid, _>(contact_id)
    .bind::<Text, _>(ERASED_NAME)
    .execute(conn)
    .await?;
    diesel::sql_query(format!(
        "UPDATE webhook_deliveries SET last_response = NULL \
         WHERE last_response IS NOT NULL AND event_id IN \
             (SELECT id FROM webhook_events WHERE tenant_id = $1 AND job_id IN ({CONTACT_JOBS}))"
    ))
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<SqlUuid, _>(contact_id)
    .execute(conn)
    .await?;
    // A suppressed address stays suppressed by its hash; the address itself goes.
    diesel::sql_query(
        "UPDATE suppressions SET email = NULL \
         WHERE tenant_id = $1 AND address_hash = sha256(convert_to(lower($2), 'UTF8'))",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<Text, _>(email)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "UPDATE contacts SET name = $3, email = id::text || '@erased.invalid', phone = NULL, \
             erased_at = $4 \
         WHERE id = $2 AND tenant_id = $1",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<SqlUuid, _>(contact_id)
    .bind::<Text, _>(ERASED_NAME)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    Ok(u32::try_from(jobs).unwrap_or(u32::MAX))
}
