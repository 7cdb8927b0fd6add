//! The owner confirms a booking: pending-confirmation → scheduled, if capacity still allows it
//! (the tenant's capacity, or its person's, may have been lowered since the booking).

use booking_domain::{JobAction, MailKind};
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use super::{OwnerError, staffed};
use crate::events::{self, NewEvent};
use crate::jobs::{self, JobRecord};
use crate::reminders::{self, Armed};
use crate::{guard, outbox};

pub async fn confirm(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    job_id: Uuid,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<JobRecord, OwnerError> {
    conn.transaction::<_, OwnerError, _>(async move |conn| {
        let tenant = guard::tenant(conn, tenant_id)
            .await?
            .ok_or(OwnerError::JobNotFound)?;
        let job = jobs::lock_for_tenant(conn, tenant_id, job_id)
            .await?
            .ok_or(OwnerError::JobNotFound)?;
        let status = job.status.confirm()?;
        staffed::recheck(conn, &tenant, &job).await?;
        let event = NewEvent::of_status(&job, JobAction::Confirm, status, actor, now, None);
        // The job first: the history statement reads it for the webhook payload.
        let changed = jobs::update_status(conn, &job, status, None, actor)
            .await?
            .ok_or(OwnerError::JobNotFound)?;
        events::record(conn, &event).await?;
        outbox::enqueue(
            conn,
            tenant_id,
            job.id,
            event.id,
            &[MailKind::for_confirm()],
            now,
        )
        .await?;
        // Reminders from now on: those whose moment passed while it waited are not sent.
        reminders::rearm(
            conn,
            Armed {
                tenant_id,
                job_id: job.id,
                status,
                start: job.starts_at,
                offsets: &tenant.settings.reminder_minutes_before,
                now,
            },
        )
        .await?;
        Ok(changed)
    })
    .await
}
