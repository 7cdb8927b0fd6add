//! The owner moves a booking to another start: pending-confirmation or scheduled, same job id,
//! same length. Like a hand-entered job it may leave working hours (and sit in the past), but
//! never overbook: capacity is checked under the guard with the job's own place counted as
//! free. The client is told (an `.ics` REQUEST of the same UID with a higher SEQUENCE).
//!
//! A move to the start the job already has changes nothing (no history, no mail), so a repeat
//! of the same request without an `Idempotency-Key` cannot mail twice either.

use booking_domain::JobAction;
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};

use super::{CHANGED, OwnerChange, OwnerError, decide_on, guard_capacity, write_change};
use crate::idempotency;
use crate::jobs::{JobChange, JobRecord};

pub async fn reschedule(
    conn: &mut AsyncPgConnection,
    change: OwnerChange<'_>,
    start: DateTime<Utc>,
) -> Result<JobRecord, OwnerError> {
    conn.transaction::<_, OwnerError, _>(async move |conn| {
        let (tenant, job, status) = decide_on(conn, &change, JobAction::Reschedule).await?;
        if start == job.starts_at {
            if let Some(key) = change.key {
                idempotency::attach_change(conn, key.scope, key.key, job.id, CHANGED).await?;
            }
            return Ok(job);
        }
        let end = start + (job.ends_at - job.starts_at);
        guard_capacity(conn, &tenant, start, end, Some(job.id)).await?;
        let update = JobChange {
            starts_at: start,
            ends_at: end,
            ..JobChange::status(&job, status)
        };
        write_change(conn, &change, &job, JobAction::Reschedule, update).await
    })
    .await
}
