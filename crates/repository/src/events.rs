//! A job's history: one row per change (its booking, a confirmation, each move …), written by
//! the change's own transaction, so the history holds exactly the changes that happened.

use booking_domain::{JobStatus, WebhookEvent};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::catalog::corrupt;
use crate::schema::job_events;

/// A client's change, as the history names its actor (owners are `owner:<sub>`).
pub const CLIENT: &str = "client";

/// One change of a job, to be recorded. A job's first event (its booking or entry) takes the
/// job's own id: the booking's mails belong to it without naming it (see the `emails` table).
/// Insertable too, for entries that are no webhook event (the relay's `reminded`, written in
/// bulk); every other change goes through [`record`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = job_events)]
pub(crate) struct NewEvent<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub job_id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    /// `booked`, `entered`, or the action's past (`JobAction::past`).
    pub action: &'static str,
    pub from_status: Option<&'static str>,
    pub to_status: Option<&'static str>,
    pub from_start: Option<DateTime<Utc>>,
    pub to_start: Option<DateTime<Utc>>,
    pub from_end: Option<DateTime<Utc>>,
    pub to_end: Option<DateTime<Utc>>,
    pub reason: Option<&'a str>,
}

impl<'a> NewEvent<'a> {
    /// A job's first event: booked by a client (`booked`) or entered by an owner (`entered`),
    /// landing in `status` at `[start, end)`. It takes the job's id.
    #[allow(clippy::too_many_arguments)]
    pub fn first(
        tenant_id: Uuid,
        job_id: Uuid,
        at: DateTime<Utc>,
        actor: &'a str,
        action: &'static str,
        status: JobStatus,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Self {
        Self {
            id: job_id,
            tenant_id,
            job_id,
            at,
            actor,
            action,
            from_status: None,
            to_status: Some(status.as_str()),
            from_start: None,
            to_start: Some(start),
            from_end: None,
            to_end: Some(end),
            reason: None,
        }
    }
}

impl<'a> NewEvent<'a> {
    /// A change of `job`'s status alone (a confirmation, a decline) to `status`.
    pub fn of_status(
        job: &crate::jobs::JobRecord,
        action: booking_domain::JobAction,
        status: JobStatus,
        actor: &'a str,
        at: DateTime<Utc>,
        reason: Option<&'a str>,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            tenant_id: job.tenant_id,
            job_id: job.id,
            at,
            actor,
            action: action.past(),
            from_status: Some(job.status.as_str()),
            to_status: Some(status.as_str()),
            from_start: Some(job.starts_at),
            to_start: Some(job.starts_at),
            from_end: Some(job.ends_at),
            to_end: Some(job.ends_at),
            reason,
        }
    }
}

/// Records `event` and, when it is a webhook event some endpoint of the tenant wants, the
/// event's payload (the job as it is now, in this transaction: after the change's own write)
/// and one delivery per such endpoint — all in one statement, so a tenant's webhooks cost a
/// change no round trip. On a shared connection so a change can pipeline it with its other
/// writes; it must be issued after the job's write.
#[tracing::instrument(
    level = "trace",
    name = "job event insert (and webhook deliveries)",
    skip_all
)]
pub(crate) async fn record(mut conn: &AsyncPgConnection, event: &NewEvent<'_>) -> QueryResult<()> {
    let webhook = WebhookEvent::for_history(event.action).map(WebhookEvent::as_str);
    diesel::sql_query(RECORD)
        .bind::<SqlUuid, _>(event.id)
        .bind::<SqlUuid, _>(event.tenant_id)
        .bind::<SqlUuid, _>(event.job_id)
        .bind::<Timestamptz, _>(event.at)
        .bind::<Text, _>(event.actor)
        .bind::<Text, _>(event.action)
        .bind::<Nullable<Text>, _>(event.from_status)
        .bind::<Nullable<Text>, _>(event.to_status)
        .bind::<Nullable<Timestamptz>, _>(event.from_start)
        .bind::<Nullable<Timestamptz>, _>(event.to_start)
        .bind::<Nullable<Timestamptz>, _>(event.from_end)
        .bind::<Nullable<Timestamptz>, _>(event.to_end)
        .bind::<Nullable<Text>, _>(event.reason)
        .bind::<Nullable<Text>, _>(webhook)
        .execute(&mut conn)
        .await
        .map(drop)
}

/// The history entry; the endpoints that want its webhook event (none when it is not one);
/// the payload, once, if any endpoint does (see `webhook_events.job`); a delivery for each.
const RECORD: &str = "\
    WITH event AS ( \
        INSERT INTO job_events (id, tenant_id, job_id, at, actor, action, from_status, to_status, \
                                from_start, to_start, from_end, to_end, reason) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
        RETURNING id, tenant_id, job_id, at), \
    endpoints AS ( \
        SELECT webhooks.id FROM webhooks \
        WHERE webhooks.tenant_id = $2 AND $14::text = ANY (webhooks.events)), \
    payload AS ( \
        INSERT INTO webhook_events (id, tenant_id, job_id, type, at, job) \
        SELECT event.id, event.tenant_id, event.job_id, $14, event.at, \
               to_jsonb(jobs) || jsonb_build_object('client_email', contacts.email, \
                                                    'time_zone', tenants.time_zone) \
        FROM event JOIN jobs ON jobs.id = event.job_id \
             JOIN contacts ON contacts.id = jobs.contact_id \
             JOIN tenants ON tenants.id = jobs.tenant_id \
        WHERE EXISTS (SELECT 1 FROM endpoints) \
        RETURNING id, at) \
    INSERT INTO webhook_deliveries (webhook_id, event_id, next_attempt_at, created_at) \
    SELECT endpoints.id, payload.id, payload.at, payload.at FROM endpoints CROSS JOIN payload";

/// One entry of a job's history, as `GET /jobs/{jobId}` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub from_status: Option<JobStatus>,
    pub to_status: Option<JobStatus>,
    pub from_start: Option<DateTime<Utc>>,
    pub to_start: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = job_events, check_for_backend(diesel::pg::Pg))]
struct EventRow {
    id: Uuid,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    from_status: Option<String>,
    to_status: Option<String>,
    from_start: Option<DateTime<Utc>>,
    to_start: Option<DateTime<Utc>>,
    reason: Option<String>,
}

fn status(text: Option<String>) -> QueryResult<Option<JobStatus>> {
    text.map(|t| JobStatus::parse(&t).ok_or_else(|| corrupt(format!("event status `{t}`"))))
        .transpose()
}

/// The history of one of the tenant's jobs, oldest first (another tenant's job has none).
#[tracing::instrument(level = "trace", name = "job history", skip_all)]
pub async fn for_job(
    mut conn: &AsyncPgConnection,
    tenant_id: Uuid,
    job_id: Uuid,
) -> QueryResult<Vec<JobEvent>> {
    let rows: Vec<EventRow> = job_events::table
        .filter(job_events::job_id.eq(job_id))
        .filter(job_events::tenant_id.eq(tenant_id))
        .order(job_events::position)
        .select(EventRow::as_select())
        .load(&mut conn)
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(JobEvent {
                from_status: status(row.from_status)?,
                to_status: status(row.to_status)?,
                id: row.id,
                at: row.at,
                actor: row.actor,
                action: row.action,
                from_start: row.from_start,
                to_start: row.to_start,
                reason: row.reason,
            })
        })
        .collect()
}
