//! The owner declines a booking: pending-confirmation → cancelled, keeping the reason; the
//! place is free again.

use booking_domain::{DeclineReason, JobAction, MailKind, ReminderOffsets};
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use super::{OwnerError, Write, write};
use crate::events::NewEvent;
use crate::guard;
use crate::jobs::{self, JobChange, JobRecord};

pub async fn decline(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    job_id: Uuid,
    reason: &DeclineReason,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<JobRecord, OwnerError> {
    conn.transaction::<_, OwnerError, _>(async move |conn| {
        guard::tenant(conn, tenant_id)
            .await?
            .ok_or(OwnerError::JobNotFound)?;
        let job = jobs::lock_for_tenant(conn, tenant_id, job_id)
            .await?
            .ok_or(OwnerError::JobNotFound)?;
        let status = job.status.decline()?;
        let reason = Some(reason.as_str());
        let event = NewEvent::of_status(&job, JobAction::Decline, status, actor, now, reason);
        write(
            conn,
            Write {
                job: &job,
                update: JobChange {
                    decline_reason: reason,
                    ..JobChange::status(&job, status)
                },
                event,
                mails: &[MailKind::for_decline()],
                key: None,
                // A pending booking has none armed; this keeps it so whatever armed one.
                offsets: &ReminderOffsets::none(),
                actor,
                now,
            },
        )
        .await
        .map_err(OwnerError::from)
    })
    .await
}
