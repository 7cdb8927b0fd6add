//! Jobs as the API shows them: the job row with its client and the tenant's zone.

use booking_domain::{JobSource, JobStatus};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::catalog::{corrupt, parse_zone};
use crate::schema::{contacts, jobs, tenants};

/// A job with everything a response or an email shows of it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub service_id: Uuid,
    pub status: JobStatus,
    pub source: JobSource,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub title: String,
    pub client_name: String,
    pub client_email: String,
    pub client_phone: Option<String>,
    pub notes: Option<String>,
    pub decline_reason: Option<String>,
    pub changed_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The tenant's zone, in which every time of the job is shown.
    pub zone: Tz,
}

#[derive(Queryable, Selectable, QueryableByName)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub(crate) struct JobRow {
    id: Uuid,
    tenant_id: Uuid,
    service_id: Uuid,
    status: String,
    source: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    title: String,
    notes: Option<String>,
    decline_reason: Option<String>,
    changed_by: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// The client as given for this job (never rewritten by a later booking).
    client_name: String,
    client_phone: Option<String>,
}

/// What a job shows of its contact: the address it is reached at. Name and phone are the job's
/// own copy.
#[derive(Queryable, Selectable)]
#[diesel(table_name = contacts, check_for_backend(diesel::pg::Pg))]
pub(crate) struct ContactRow {
    email: String,
}

impl JobRow {
    pub(crate) fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }
}

pub(crate) fn record(job: JobRow, contact: ContactRow, zone: Tz) -> Result<JobRecord, DieselError> {
    Ok(JobRecord {
        status: JobStatus::parse(&job.status)
            .ok_or_else(|| corrupt(format!("job status `{}`", job.status)))?,
        source: JobSource::parse(&job.source)
            .ok_or_else(|| corrupt(format!("job source `{}`", job.source)))?,
        id: job.id,
        tenant_id: job.tenant_id,
        service_id: job.service_id,
        starts_at: job.starts_at,
        ends_at: job.ends_at,
        title: job.title,
        client_name: job.client_name,
        client_email: contact.email,
        client_phone: job.client_phone,
        notes: job.notes,
        decline_reason: job.decline_reason,
        changed_by: job.changed_by,
        created_at: job.created_at,
        updated_at: job.updated_at,
        zone,
    })
}

/// A job of the given tenant; another tenant's job is `None`, exactly as a missing one.
pub async fn find_for_tenant(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    job_id: Uuid,
) -> QueryResult<Option<JobRecord>> {
    find(conn, job_id, Some(tenant_id)).await
}

/// Any job by id (for replays and mail delivery, where the caller already holds the id).
pub async fn find_by_id(
    conn: &mut AsyncPgConnection,
    job_id: Uuid,
) -> QueryResult<Option<JobRecord>> {
    find(conn, job_id, None).await
}

/// As [`find_for_tenant`], locking the job row until the transaction ends.
pub async fn lock_for_tenant(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    job_id: Uuid,
) -> QueryResult<Option<JobRecord>> {
    let locked: Option<Uuid> = jobs::table
        .filter(jobs::id.eq(job_id))
        .filter(jobs::tenant_id.eq(tenant_id))
        .select(jobs::id)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    match locked {
        Some(_) => find(conn, job_id, Some(tenant_id)).await,
        None => Ok(None),
    }
}

async fn find(
    conn: &mut AsyncPgConnection,
    job_id: Uuid,
    tenant_id: Option<Uuid>,
) -> QueryResult<Option<JobRecord>> {
    let mut query = jobs::table
        .inner_join(contacts::table)
        .inner_join(tenants::table.on(tenants::id.eq(jobs::tenant_id)))
        .filter(jobs::id.eq(job_id))
        .select((
            JobRow::as_select(),
            ContactRow::as_select(),
            tenants::time_zone,
        ))
        .into_boxed();
    if let Some(tenant_id) = tenant_id {
        query = query.filter(jobs::tenant_id.eq(tenant_id));
    }
    let found: Option<(JobRow, ContactRow, String)> = query.first(conn).await.optional()?;
    found
        .map(|(job, contact, zone)| record(job, contact, parse_zone(&zone)?))
        .transpose()
}
