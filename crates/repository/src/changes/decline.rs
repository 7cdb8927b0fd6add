//! The owner declines a booking: pending-confirmation → cancelled, keeping the reason; the
//! place is free again.

use booking_domain::{DeclineReason, JobAction, MailKind, ReminderOffsets};
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use super::OwnerError;
use crate::events::{self, NewEvent};
use crate::jobs::{self, JobRecord};
use crate::reminders::{self, Armed};
use crate::{guard, outbox};

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
        let event = NewEvent::of_status(
            &job,
            JobAction::Decline,
            status,
            actor,
            now,
            Some(reason.as_str()),
        );
        // The job first: the history statement reads it for the webhook payload.
        let changed = jobs::update_status(conn, &job, status, Some(reason.as_str()), actor)
            .await?
            .ok_or(OwnerError::JobNotFound)?;
        events::record(conn, &event).await?;
        outbox::enqueue(
            conn,
            tenant_id,
            job.id,
            event.id,
            &[MailKind::for_decline()],
            now,
        )
        .await?;
        // A pending booking has none armed; this keeps it so whatever armed one.
        reminders::rearm(
            conn,
            Armed {
                tenant_id,
                job_id: job.id,
                status,
                start: job.starts_at,
                offsets: &ReminderOffsets::none(),
                now,
            },
        )
        .await?;
        Ok(changed)
    })
    .await
}
