//! The owner confirms a booking: pending-confirmation → scheduled, if capacity still allows it
//! (the tenant's capacity may have been lowered since the booking).

use booking_domain::{JobAction, MailKind};
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use super::{OwnerError, guard_capacity};
use crate::events::{self, NewEvent};
use crate::jobs::{self, JobRecord};
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
        guard_capacity(conn, &tenant, job.starts_at, job.ends_at, Some(job.id)).await?;
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
        Ok(changed)
    })
    .await
}
