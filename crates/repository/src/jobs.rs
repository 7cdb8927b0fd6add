//! Jobs: the job row with its client and the tenant's zone as the API shows it, and the
//! statements that write one (the transactions around them are in [`crate::changes`]).

use booking_domain::{ClientEmail, JobSource, JobStatus, MailContext};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::catalog::{corrupt, parse_zone};
use crate::schema::{contacts, jobs, staff, tenants};
pub use crate::staff::JobStaff;

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
    /// The client asked to be forgotten: name, phone and notes are placeholders and the address
    /// is nobody's ([`crate::changes::erase_contact`]); nothing is mailed to it.
    pub client_erased: bool,
    pub notes: Option<String>,
    pub decline_reason: Option<String>,
    /// For a cancelled job: who cancelled it (`client` or `owner`) and why, if they said.
    pub cancelled_by: Option<String>,
    pub cancel_reason: Option<String>,
    pub changed_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// How many times the job has changed since it was booked.
    pub revision: u32,
    /// The version its client's manage link is issued for (a reschedule bumps it).
    pub manage_version: u32,
    /// The tenant's zone, in which every time of the job is shown.
    pub zone: Tz,
    /// The person the job is assigned to, for a service performed by staff.
    pub staff: Option<JobStaff>,
}

/// Also read from a webhook payload (`webhook_events.job`, the row's `to_jsonb`).
#[derive(Queryable, Selectable, QueryableByName, serde::Deserialize)]
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
    cancel_reason: Option<String>,
    cancelled_by: Option<String>,
    revision: i32,
    manage_version: i32,
    staff_id: Option<Uuid>,
}

/// What a job shows of its contact: the address it is reached at. Name and phone are the job's
/// own copy.
#[derive(Queryable, Selectable)]
#[diesel(table_name = contacts, check_for_backend(diesel::pg::Pg))]
pub(crate) struct ContactRow {
    pub(crate) email: String,
    pub(crate) erased_at: Option<DateTime<Utc>>,
}

impl JobRow {
    pub(crate) fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }
}

/// As [`record`], with the job's person named (`name` is the staff row's, when the job has one).
pub(crate) fn record_with_staff(
    job: JobRow,
    contact: ContactRow,
    zone: Tz,
    name: Option<String>,
) -> Result<JobRecord, DieselError> {
    let staff = match (job.staff_id, name) {
        (Some(id), Some(name)) => Some(JobStaff { id, name }),
        (None, _) => None,
        (Some(id), None) => return Err(corrupt(format!("job's staff member {id} unnamed"))),
    };
    Ok(JobRecord {
        staff,
        ..record(job, contact, zone)?
    })
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
        client_erased: contact.erased_at.is_some(),
        client_phone: job.client_phone,
        notes: job.notes,
        decline_reason: job.decline_reason,
        cancelled_by: job.cancelled_by,
        cancel_reason: job.cancel_reason,
        changed_by: job.changed_by,
        created_at: job.created_at,
        updated_at: job.updated_at,
        revision: u32::try_from(job.revision)
            .map_err(|_| corrupt(format!("job revision {}", job.revision)))?,
        manage_version: u32::try_from(job.manage_version)
            .map_err(|_| corrupt(format!("job manage version {}", job.manage_version)))?,
        zone,
        staff: None,
    })
}

impl JobRecord {
    /// What the job's mails show, with the names of its business and service and the address
    /// owner mails go to (the one place a mail's context is put together).
    /// A staffed job's mails name its person with the service ("Haircut with Ana"): in the
    /// subject, the body and the invitation alike.
    pub fn mail_context(
        &self,
        tenant_name: &str,
        service_name: &str,
        notification_email: &str,
    ) -> MailContext {
        let service_name = match &self.staff {
            Some(person) => format!("{service_name} with {}", person.name),
            None => service_name.to_owned(),
        };
        MailContext {
            job_id: self.id,
            tenant_name: tenant_name.to_owned(),
            zone: self.zone,
            notification_email: notification_email.to_owned(),
            service_name,
            title: self.title.clone(),
            status: self.status,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            notes: self.notes.clone(),
            decline_reason: self.decline_reason.clone(),
            cancel_reason: self.cancel_reason.clone(),
            client_name: self.client_name.clone(),
            client_email: self.client_email.clone(),
            client_phone: self.client_phone.clone(),
            changed_at: self.updated_at,
            revision: self.revision,
            manage_version: self.manage_version,
            cancelled_by: self.cancelled_by.clone(),
            previous: None,
        }
    }
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
        .left_join(staff::table.on(staff::id.nullable().eq(jobs::staff_id)))
        .filter(jobs::id.eq(job_id))
        .select((
            JobRow::as_select(),
            ContactRow::as_select(),
            tenants::time_zone,
            staff::name.nullable(),
        ))
        .into_boxed();
    if let Some(tenant_id) = tenant_id {
        query = query.filter(jobs::tenant_id.eq(tenant_id));
    }
    let found: Option<(JobRow, ContactRow, String, Option<String>)> =
        query.first(conn).await.optional()?;
    found
        .map(|(job, contact, zone, staff)| {
            record_with_staff(job, contact, parse_zone(&zone)?, staff)
        })
        .transpose()
}

#[derive(Insertable)]
#[diesel(table_name = jobs)]
pub(crate) struct InsertJob {
    pub tenant_id: Uuid,
    pub service_id: Uuid,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: &'static str,
    pub notes: Option<String>,
    pub source: &'static str,
    pub changed_by: String,
    pub client_name: String,
    pub client_phone: Option<String>,
    pub staff_id: Option<Uuid>,
}

/// Inserts `job` for the contact `contact_id` (which `contact` shows).
pub(crate) async fn insert(
    conn: &mut AsyncPgConnection,
    job: &InsertJob,
    (contact_id, contact): (Uuid, ContactRow),
    zone: chrono_tz::Tz,
) -> QueryResult<JobRecord> {
    let row: JobRow = diesel::insert_into(jobs::table)
        .values((job, jobs::contact_id.eq(contact_id)))
        .returning(JobRow::as_returning())
        .get_result(conn)
        .await?;
    record(row, contact, zone)
}

/// Inserts a public booking's job as `job_id`, its contact found by email in the same
/// statement: the contact's upsert runs just before it, in the same pipeline.
#[tracing::instrument(level = "trace", name = "job insert", skip_all)]
pub(crate) async fn insert_booked(
    mut conn: &AsyncPgConnection,
    job_id: Uuid,
    job: &InsertJob,
    email: &ClientEmail,
) -> QueryResult<JobRow> {
    diesel::sql_query(
        "INSERT INTO jobs (id, tenant_id, service_id, contact_id, title, starts_at, ends_at, \
                           status, notes, source, changed_by, client_name, client_phone, staff_id) \
         SELECT $1, $2, $3, contacts.id, $4, $5, $6, $7, $8, $9, $10, $12, $13, $14 FROM contacts \
         WHERE contacts.tenant_id = $2 AND contacts.email_key = lower($11) \
         RETURNING id, tenant_id, service_id, status, source, starts_at, ends_at, title, notes, \
                   decline_reason, changed_by, created_at, updated_at, client_name, client_phone, \
                   cancel_reason, cancelled_by, revision, manage_version, staff_id",
    )
    .bind::<SqlUuid, _>(job_id)
    .bind::<SqlUuid, _>(job.tenant_id)
    .bind::<SqlUuid, _>(job.service_id)
    .bind::<Text, _>(&job.title)
    .bind::<Timestamptz, _>(job.starts_at)
    .bind::<Timestamptz, _>(job.ends_at)
    .bind::<Text, _>(job.status)
    .bind::<Nullable<Text>, _>(job.notes.as_deref())
    .bind::<Text, _>(job.source)
    .bind::<Text, _>(&job.changed_by)
    .bind::<Text, _>(email.as_str())
    .bind::<Text, _>(&job.client_name)
    .bind::<Nullable<Text>, _>(job.client_phone.as_deref())
    .bind::<Nullable<SqlUuid>, _>(job.staff_id)
    .get_result(&mut conn)
    .await
}

/// What an owner's change sets on a locked job (beyond who made it and its revision).
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobChange<'a> {
    pub status: JobStatus,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// For a cancellation: who cancelled (`owner` or `client`) and why.
    pub cancelled_by: Option<&'static str>,
    pub cancel_reason: Option<&'a str>,
    /// For a decline: why (`None` keeps what the job has).
    pub decline_reason: Option<&'a str>,
    /// Bumps the manage-link version: every earlier link of the job dies (a move).
    pub rotate_link: bool,
}

/// Writes `change` to the locked `job` and returns the job as it now is, in one statement (the
/// update and the read back share a CTE).
#[tracing::instrument(level = "trace", name = "job update", skip_all)]
pub(crate) async fn apply_change(
    mut conn: &AsyncPgConnection,
    job: &JobRecord,
    change: JobChange<'_>,
    actor: &str,
) -> QueryResult<JobRecord> {
    let (row, email, erased_at) = diesel::sql_query(
        "WITH changed AS ( \
             UPDATE jobs SET status = $3, starts_at = $4, ends_at = $5, cancelled_by = $6, \
                 cancel_reason = $7, changed_by = $8, revision = revision + 1, \
                 manage_version = manage_version + $9, \
                 decline_reason = coalesce($10, decline_reason) \
             WHERE id = $1 AND tenant_id = $2 RETURNING *) \
         SELECT changed.id, changed.tenant_id, changed.service_id, changed.status, changed.source, \
                changed.starts_at, changed.ends_at, changed.title, changed.notes, \
                changed.decline_reason, changed.changed_by, changed.created_at, changed.updated_at, \
                changed.client_name, changed.client_phone, changed.cancel_reason, \
                changed.cancelled_by, changed.revision, changed.manage_version, changed.staff_id, \
                contacts.email, contacts.erased_at \
         FROM changed JOIN contacts ON contacts.id = changed.contact_id",
    )
    .bind::<SqlUuid, _>(job.id)
    .bind::<SqlUuid, _>(job.tenant_id)
    .bind::<Text, _>(change.status.as_str())
    .bind::<Timestamptz, _>(change.starts_at)
    .bind::<Timestamptz, _>(change.ends_at)
    .bind::<Nullable<Text>, _>(change.cancelled_by)
    .bind::<Nullable<Text>, _>(change.cancel_reason)
    .bind::<Text, _>(actor)
    .bind::<diesel::sql_types::Integer, _>(i32::from(change.rotate_link))
    .bind::<Nullable<Text>, _>(change.decline_reason)
    .get_result::<WithEmail>(&mut conn)
    .await
    .map(|r| (r.job, r.email, r.erased_at))?;
    // A change never reassigns the job: its person stays as read under the guard.
    Ok(JobRecord {
        staff: job.staff.clone(),
        ..record(row, ContactRow { email, erased_at }, job.zone)?
    })
}

#[derive(QueryableByName)]
struct WithEmail {
    #[diesel(embed)]
    job: JobRow,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    erased_at: Option<DateTime<Utc>>,
}

/// A page of the owner's calendar: which jobs, and where the page starts.
#[derive(Debug, Clone)]
pub struct JobQuery {
    /// Jobs starting in `[from, to)`.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Only these statuses (all when empty).
    pub statuses: Vec<JobStatus>,
    pub service_id: Option<Uuid>,
    /// Only the jobs of this staff member.
    pub staff_id: Option<Uuid>,
    /// Strictly after this (start, id): the last job of the previous page.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: u32,
}

/// The tenant's jobs of `query`, in (start, id) order, at most `limit + 1` of them (the extra
/// one tells the caller there is a next page). Served by `jobs_by_tenant_start`: the keyset
/// condition is a row comparison the index scan starts at.
#[tracing::instrument(level = "trace", name = "job list", skip_all)]
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    zone: Tz,
    query: &JobQuery,
) -> QueryResult<Vec<JobRecord>> {
    let mut select = jobs::table
        .inner_join(contacts::table)
        .left_join(staff::table.on(staff::id.nullable().eq(jobs::staff_id)))
        .filter(jobs::tenant_id.eq(tenant_id))
        .filter(jobs::starts_at.ge(query.from))
        .filter(jobs::starts_at.lt(query.to))
        .select((
            JobRow::as_select(),
            ContactRow::as_select(),
            staff::name.nullable(),
        ))
        .order((jobs::starts_at, jobs::id))
        .limit(i64::from(query.limit) + 1)
        .into_boxed();
    if !query.statuses.is_empty() {
        let names: Vec<&str> = query.statuses.iter().map(|s| s.as_str()).collect();
        select = select.filter(jobs::status.eq_any(names));
    }
    if let Some(service_id) = query.service_id {
        select = select.filter(jobs::service_id.eq(service_id));
    }
    if let Some(staff_id) = query.staff_id {
        select = select.filter(jobs::staff_id.eq(staff_id));
    }
    if let Some((start, id)) = query.after {
        select = select.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("(jobs.starts_at, jobs.id) > (")
                .bind::<Timestamptz, _>(start)
                .sql(", ")
                .bind::<SqlUuid, _>(id)
                .sql(")"),
        );
    }
    let rows: Vec<(JobRow, ContactRow, Option<String>)> = select.load(conn).await?;
    rows.into_iter()
        .map(|(job, contact, person)| record_with_staff(job, contact, zone, person))
        .collect()
}

/// Every job of one of the tenant's contacts, in start order.
pub async fn for_contact(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    contact_id: Uuid,
    zone: Tz,
) -> QueryResult<Vec<JobRecord>> {
    let rows: Vec<(JobRow, ContactRow, Option<String>)> = jobs::table
        .inner_join(contacts::table)
        .left_join(staff::table.on(staff::id.nullable().eq(jobs::staff_id)))
        .filter(jobs::tenant_id.eq(tenant_id))
        .filter(jobs::contact_id.eq(contact_id))
        .select((
            JobRow::as_select(),
            ContactRow::as_select(),
            staff::name.nullable(),
        ))
        .order((jobs::starts_at, jobs::id))
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|(job, contact, person)| record_with_staff(job, contact, zone, person))
        .collect()
}

/// The tenant of job `job_id`, read without a lock (a job never changes tenant).
pub async fn tenant_of(conn: &mut AsyncPgConnection, job_id: Uuid) -> QueryResult<Option<Uuid>> {
    jobs::table
        .find(job_id)
        .select(jobs::tenant_id)
        .first(conn)
        .await
        .optional()
}

/// A booking as its client's manage page shows it: the job, its business and its service.
#[derive(Debug, Clone)]
pub struct ClientBooking {
    pub job: JobRecord,
    pub tenant: crate::catalog::Tenant,
    pub service: crate::catalog::Service,
}

/// The booking of job `job_id` for its client's page, if the job exists (its service is shown
/// even when retired since).
pub async fn client_booking(
    conn: &mut AsyncPgConnection,
    job_id: Uuid,
) -> QueryResult<Option<ClientBooking>> {
    let Some(job) = find_by_id(conn, job_id).await? else {
        return Ok(None);
    };
    let found = crate::catalog::tenant_and_service(conn, job.tenant_id, job.service_id).await?;
    Ok(found.map(|(tenant, service)| ClientBooking {
        job,
        tenant,
        service,
    }))
}

/// The tenant's active jobs starting at or after `now`, in start order: what a change of the
/// tenant's hours or zone is judged against.
pub async fn future_active(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    zone: Tz,
    now: DateTime<Utc>,
) -> QueryResult<Vec<JobRecord>> {
    let rows: Vec<(JobRow, ContactRow, Option<String>)> = jobs::table
        .inner_join(contacts::table)
        .left_join(staff::table.on(staff::id.nullable().eq(jobs::staff_id)))
        .filter(jobs::tenant_id.eq(tenant_id))
        .filter(crate::catalog::active_jobs())
        .filter(jobs::starts_at.ge(now))
        .select((
            JobRow::as_select(),
            ContactRow::as_select(),
            staff::name.nullable(),
        ))
        .order((jobs::starts_at, jobs::id))
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|(job, contact, person)| record_with_staff(job, contact, zone, person))
        .collect()
}
