//! The owner confirms a booking: pending-confirmation → scheduled, if capacity still allows it
//! (the tenant's capacity, or its person's, may have been lowered since the booking).

use booking_domain::{JobAction, MailKind};
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use super::{OwnerError, Write, staffed, write};
use crate::events::NewEvent;
use crate::guard;
use crate::jobs::{self, JobChange, JobRecord};

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
        write(
            conn,
            Write {
                job: &job,
                update: JobChange::status(&job, status),
                event,
                mails: &[MailKind::for_confirm()],
                key: None,
                // Reminders from now on: those whose moment passed while it waited are not sent.
                offsets: &tenant.settings.reminder_minutes_before,
                actor,
                now,
            },
        )
        .await
        .map_err(OwnerError::from)
    })
    .await
}
