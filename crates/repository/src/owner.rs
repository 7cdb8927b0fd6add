//! The owner's changes to jobs: confirm, decline, enter by hand. Each runs in one transaction
//! under the tenant's row lock — the same lock bookings take — so a confirmation or a
//! hand-entered job can never overbook, whatever runs beside it.

use booking_domain::{
    ClientEmail, ClientName, DeclineReason, InvalidTransition, JobSource, JobStatus, JobTitle,
    MailKind, Notes, OccupiedPeriod, Phone, has_room,
};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::booking::{InsertJob, NewBooking, insert_job, upsert_contact_on};
use crate::catalog::{self, Neighbour, Tenant};
use crate::jobs::{self, JobRecord};
use crate::outbox;
use crate::schema::jobs as jobs_table;

#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    #[error("job not found")]
    JobNotFound,
    #[error("service not found")]
    ServiceNotFound,
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// Capacity would be exceeded; the jobs that compete for it.
    #[error("the job would overbook")]
    Conflict {
        conflicts: Vec<Neighbour>,
        zone: chrono_tz::Tz,
    },
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// A job an owner enters by hand.
#[derive(Debug, Clone)]
pub struct NewAdminJob {
    pub service_id: Uuid,
    pub start: DateTime<Utc>,
    pub name: ClientName,
    pub email: ClientEmail,
    pub phone: Option<Phone>,
    pub notes: Option<Notes>,
    pub title: Option<JobTitle>,
}

/// Refuses `[start, end)` when it would push capacity over, naming the competing jobs.
async fn guard_capacity(
    conn: &mut AsyncPgConnection,
    tenant: &Tenant,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    except: Option<Uuid>,
) -> Result<(), OwnerError> {
    let margin = tenant.settings.min_gap();
    let others: Vec<Neighbour> = catalog::neighbours(conn, tenant.id, start - margin, end + margin)
        .await?
        .into_iter()
        .filter(|n| Some(n.id) != except)
        .collect();
    let periods: Vec<OccupiedPeriod> = others.iter().map(|n| n.period).collect();
    if has_room(&tenant.settings, &periods, start, end) {
        return Ok(());
    }
    let conflicts = others
        .into_iter()
        .filter(|n| n.period.collides_with(start, end, &tenant.settings))
        .collect();
    Err(OwnerError::Conflict {
        conflicts,
        zone: tenant.zone,
    })
}

/// pending-confirmation → scheduled, if capacity still allows it.
pub async fn confirm(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    job_id: Uuid,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<JobRecord, OwnerError> {
    conn.transaction::<_, OwnerError, _>(async move |conn| {
        let tenant = catalog::lock_tenant(conn, tenant_id)
            .await?
            .ok_or(OwnerError::JobNotFound)?;
        let job = jobs::lock_for_tenant(conn, tenant_id, job_id)
            .await?
            .ok_or(OwnerError::JobNotFound)?;
        let status = job.status.confirm()?;
        guard_capacity(conn, &tenant, job.starts_at, job.ends_at, Some(job.id)).await?;
        outbox::enqueue(conn, tenant_id, job.id, &[MailKind::for_confirm()], now).await?;
        set_status(conn, &job, status, None, actor).await
    })
    .await
}

/// pending-confirmation → cancelled, keeping the reason.
pub async fn decline(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    job_id: Uuid,
    reason: &DeclineReason,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<JobRecord, OwnerError> {
    conn.transaction::<_, OwnerError, _>(async move |conn| {
        let job = jobs::lock_for_tenant(conn, tenant_id, job_id)
            .await?
            .ok_or(OwnerError::JobNotFound)?;
        let status = job.status.decline()?;
        outbox::enqueue(conn, tenant_id, job.id, &[MailKind::for_decline()], now).await?;
        set_status(conn, &job, status, Some(reason.as_str()), actor).await
    })
    .await
}

async fn set_status(
    conn: &mut AsyncPgConnection,
    job: &JobRecord,
    status: JobStatus,
    decline_reason: Option<&str>,
    actor: &str,
) -> Result<JobRecord, OwnerError> {
    diesel::update(jobs_table::table.find(job.id))
        .set((
            jobs_table::status.eq(status.as_str()),
            jobs_table::decline_reason.eq(decline_reason),
            jobs_table::changed_by.eq(actor),
        ))
        .execute(conn)
        .await?;
    jobs::find_for_tenant(conn, job.tenant_id, job.id)
        .await?
        .ok_or(OwnerError::JobNotFound)
}

/// A hand-entered job: `scheduled` at once, anywhere in time (working hours do not bind the
/// owner), but never beyond capacity.
pub async fn create_job(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    job: &NewAdminJob,
    actor: &str,
) -> Result<JobRecord, OwnerError> {
    conn.transaction::<_, OwnerError, _>(async move |conn| {
        let (tenant, service) = catalog::lock_tenant_service(conn, tenant_id, job.service_id)
            .await?
            .ok_or(OwnerError::ServiceNotFound)?;
        let end = job.start + Duration::minutes(i64::from(service.duration_minutes));
        guard_capacity(conn, &tenant, job.start, end, None).await?;
        let contact = NewBooking {
            start: job.start,
            name: job.name.clone(),
            email: job.email.clone(),
            phone: job.phone.clone(),
            notes: job.notes.clone(),
        };
        let contact = upsert_contact_on(conn, tenant.id, &contact).await?;
        let title = job
            .title
            .clone()
            .unwrap_or_else(|| JobTitle::for_booking(&service.name, &job.name));
        let insert = InsertJob {
            tenant_id: tenant.id,
            service_id: service.id,
            title: title.into_inner(),
            starts_at: job.start,
            ends_at: end,
            status: JobStatus::Scheduled.as_str(),
            notes: job
                .notes
                .as_ref()
                .filter(|n| !n.is_empty())
                .map(|n| n.as_str().to_owned()),
            source: JobSource::Admin.as_str(),
            changed_by: actor.to_owned(),
            client_name: job.name.as_str().to_owned(),
            client_phone: job.phone.as_ref().map(|p| p.as_str().to_owned()),
        };
        Ok(insert_job(conn, &insert, contact, tenant.zone).await?)
    })
    .await
}
