//! The owner (or the client, by the manage link) cancels a booking: pending-confirmation or
//! scheduled → cancelled, with an optional reason; the place is free again, and the client is
//! told (with the reason and an `.ics` that cancels the invitation) — and, when the client did
//! it, the owner too.

use booking_domain::{DeclineReason, JobAction};
use diesel_async::{AsyncConnection, AsyncPgConnection};

use super::{OwnerChange, OwnerError, decide_on, write_change};
use crate::jobs::{JobChange, JobRecord};

pub async fn cancel(
    conn: &mut AsyncPgConnection,
    change: OwnerChange<'_>,
    reason: Option<&DeclineReason>,
) -> Result<JobRecord, OwnerError> {
    conn.transaction::<_, OwnerError, _>(async move |conn| {
        let (tenant, job, status) = decide_on(conn, &change, JobAction::Cancel).await?;
        let update = JobChange {
            cancelled_by: Some(change.cancelled_by()),
            cancel_reason: reason.map(DeclineReason::as_str),
            ..JobChange::status(&job, status)
        };
        write_change(conn, &change, &tenant, &job, JobAction::Cancel, update).await
    })
    .await
}
