//! A booking moves to another start: pending-confirmation or scheduled, same job id. The owner
//! may place it anywhere (like a hand-entered job: outside working hours, in the past), never
//! beyond capacity, and it keeps its length. The client, by the manage link, moves it only to a
//! start the booking rules accept — the same engine call as a booking, with the job's own place
//! counted as free — and it takes the service's length. Either way capacity is judged under the
//! guard, the manage link rotates (every earlier link dies), and the client is told (an `.ics`
//! REQUEST of the same UID with a higher SEQUENCE); a client's move also tells the owner.
//!
//! A move to the start the job already has changes nothing (no history, no mail), so a repeat
//! of the same request without an `Idempotency-Key` cannot mail twice either.

use booking_domain::{BookingRejected, JobAction};
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};

use super::book::horizon_calendar;
use super::{
    ALTERNATIVES, ALTERNATIVES_HORIZON_DAYS, CHANGED, OwnerChange, OwnerError, Requester,
    decide_on, staffed, write_change,
};
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
        let end = match change.by {
            Requester::Owner => {
                let end = start + (job.ends_at - job.starts_at);
                staffed::recheck_at(conn, &tenant, &job, (start, end)).await?;
                end
            }
            Requester::Client { .. } => match &job.staff {
                Some(person) => {
                    staffed::client_move_end(conn, &tenant, &job, person.id, start, change.now)
                        .await?
                }
                None => bookable_end(conn, &job, start, change.now).await?,
            },
        };
        let update = JobChange {
            starts_at: start,
            ends_at: end,
            rotate_link: true,
            ..JobChange::status(&job, status)
        };
        write_change(conn, &change, &tenant, &job, JobAction::Reschedule, update).await
    })
    .await
}

/// Judges a client's new `start` for `job` as a booking of its service is judged (read under
/// the guard the caller holds), with the job's own place free: the session's end, or the rule
/// it breaks.
async fn bookable_end(
    conn: &mut AsyncPgConnection,
    job: &JobRecord,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, OwnerError> {
    let Some(mut inputs) = horizon_calendar(conn, job.service_id, start).await? else {
        // The service was retired since the booking: it takes no new starts.
        return Err(OwnerError::ChangeNotAllowed(JobAction::Reschedule));
    };
    // The job's own place is free: one active period equal to its own is its own (equal
    // periods count alike for capacity, whichever of them is removed).
    if let Some(own) = inputs
        .occupied
        .iter()
        .position(|period| period.start == job.starts_at && period.end == job.ends_at)
    {
        inputs.occupied.remove(own);
    }
    let calendar = inputs.calendar();
    match calendar.evaluate(start, now) {
        Ok(_) => Ok(calendar.slot(start, 0).end.with_timezone(&Utc)),
        Err(BookingRejected::SlotUnavailable) => Err(OwnerError::Rejected {
            reason: BookingRejected::SlotUnavailable,
            alternatives: calendar.next_slots(start, ALTERNATIVES_HORIZON_DAYS, ALTERNATIVES, now),
        }),
        Err(reason) => Err(OwnerError::Rejected {
            reason,
            alternatives: Vec::new(),
        }),
    }
}
