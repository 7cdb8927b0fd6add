//! The booking transaction: lock the tenant, judge the start with the same calendar that lists
//! availability, upsert the contact, insert the job — all or nothing.

use booking_domain::{
    BookingRejected, Calendar, ClientEmail, ClientName, JobSource, JobStatus, JobTitle,
    MailContext, MailKind, Notes, Phone, Slot,
};
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::upsert::on_constraint;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::future::{try_join, try_join3, try_join4};
use uuid::Uuid;

use crate::catalog::{self, Service, Tenant};
use crate::jobs::{ContactRow, JobRecord, JobRow, record};
use crate::outbox::ClaimedMail;
use crate::rate_limit::{self, RateLimit};
use crate::schema::{contacts, jobs};
use crate::{idempotency, outbox};

/// How many alternatives a refused booking offers, and how far ahead they are sought.
pub const ALTERNATIVES: usize = 3;
pub const ALTERNATIVES_HORIZON_DAYS: u64 = 14;

/// A client's booking request, parsed.
#[derive(Debug, Clone)]
pub struct NewBooking {
    pub start: DateTime<Utc>,
    pub name: ClientName,
    pub email: ClientEmail,
    pub phone: Option<Phone>,
    pub notes: Option<Notes>,
}

/// The key a booking is recorded under, when the client sent one.
#[derive(Debug, Clone, Copy)]
pub struct KeyRef<'a> {
    pub scope: &'a str,
    pub key: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error("service not found")]
    ServiceNotFound,
    #[error("{reason}")]
    Rejected {
        reason: BookingRejected,
        /// For a full slot: the next free slots.
        alternatives: Vec<Slot>,
    },
    #[error("too many booking requests; retry after {retry_after} s")]
    RateLimited { retry_after: u32 },
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// What landed.
#[derive(Debug, Clone)]
pub struct Booked {
    pub job: JobRecord,
    pub tenant: Tenant,
    pub service: Service,
    /// The booking's mails, leased to the caller: send them after commit (the relay sends
    /// them once the lease runs out if the caller does not).
    pub mails: Vec<ClaimedMail>,
}

impl Booked {
    /// What the booking's mails show: everything is at hand, nothing needs reading back.
    pub fn mail_context(&self) -> MailContext {
        let job = &self.job;
        MailContext {
            job_id: job.id,
            tenant_name: self.tenant.name.clone(),
            zone: job.zone,
            notification_email: self.tenant.notification_email.clone(),
            service_name: self.service.name.clone(),
            title: job.title.clone(),
            status: job.status,
            starts_at: job.starts_at,
            ends_at: job.ends_at,
            notes: job.notes.clone(),
            decline_reason: job.decline_reason.clone(),
            client_name: job.client_name.clone(),
            client_email: job.client_email.clone(),
            client_phone: job.client_phone.clone(),
            changed_at: job.updated_at,
        }
    }
}

/// Books `request` on service `service_id` as of `now`, recording it under `key` and counting
/// it against `rate_limit` when given.
///
/// Five round trips: `BEGIN`; the tenant lock pipelined with the rate-limit hit and the calendar
/// reads (Postgres runs them in order, so nothing is read before the lock is held); the contact,
/// job, mails and key written in one pipeline; `COMMIT`. A refusal rolls the hit back with
/// everything else, so it is counted again after the rollback (pipelined with the alternatives
/// for a full slot).
pub async fn book(
    conn: &mut AsyncPgConnection,
    service_id: Uuid,
    request: &NewBooking,
    now: DateTime<Utc>,
    key: Option<KeyRef<'_>>,
    rate_limit: Option<RateLimit<'_>>,
) -> Result<Booked, BookingError> {
    let outcome = conn
        .transaction::<_, BookingError, _>(async move |conn| {
            let shared: &AsyncPgConnection = conn;
            let dates = catalog::dates_around(request.start);
            let (found, wait, (schedule, occupied)) = try_join3(
                catalog::lock_bookable_service_on(shared, service_id),
                count(shared, rate_limit, now),
                catalog::service_calendar_inputs(
                    shared,
                    service_id,
                    dates,
                    Calendar::jobs_window(dates.0, dates.1),
                ),
            )
            .await?;
            if let Some(retry_after) = wait {
                return Err(BookingError::RateLimited { retry_after });
            }
            let (tenant, service) = found.ok_or(BookingError::ServiceNotFound)?;
            let calendar = Calendar::new(
                tenant.zone,
                tenant.settings,
                &schedule,
                service.duration_minutes,
                &occupied,
            );
            calendar
                .evaluate(request.start, now)
                .map_err(|reason| BookingError::Rejected {
                    reason,
                    alternatives: Vec::new(),
                })?;
            let slot = calendar.slot(request.start, 0);
            let status = JobStatus::for_new_booking(tenant.settings.require_confirmation);
            let new_job = InsertJob {
                tenant_id: tenant.id,
                service_id: service.id,
                // Replaced by the upserted contact's id inside the insert.
                contact_id: Uuid::nil(),
                title: JobTitle::for_booking(&service.name, &request.name).into_inner(),
                starts_at: request.start,
                ends_at: slot.end.with_timezone(&Utc),
                status: status.as_str(),
                notes: request
                    .notes
                    .as_ref()
                    .filter(|n| !n.is_empty())
                    .map(|n| n.as_str().to_owned()),
                source: JobSource::Public.as_str(),
                changed_by: "public-booking".to_owned(),
                client_name: request.name.as_str().to_owned(),
                client_phone: request.phone.as_ref().map(|p| p.as_str().to_owned()),
            };
            // The id is chosen here so the mails and the key can name the job in the same
            // pipeline as its insert.
            let job_id = Uuid::new_v4();
            let kinds = MailKind::for_new_booking(status == JobStatus::PendingConfirmation);
            // The mails are recorded with the booking: committed together, or not at all.
            let (contact, job, mails, ()) = try_join4(
                upsert_contact_on(shared, tenant.id, request),
                insert_booked_job(shared, job_id, &new_job, &request.email),
                outbox::enqueue_leased_on(shared, tenant.id, job_id, &kinds, now),
                async {
                    match key {
                        Some(key) => {
                            idempotency::attach_job(shared, key.scope, key.key, job_id).await
                        }
                        None => Ok(()),
                    }
                },
            )
            .await?;
            Ok(Booked {
                job: record(job, contact.1, tenant.zone)?,
                tenant,
                service,
                mails,
            })
        })
        .await;
    match outcome {
        Ok(booked) => Ok(booked),
        Err(error @ (BookingError::RateLimited { .. } | BookingError::Database(_))) => Err(error),
        Err(BookingError::Rejected {
            reason: BookingRejected::SlotUnavailable,
            ..
        }) => {
            let shared: &AsyncPgConnection = conn;
            let (alternatives, _) = try_join(
                alternatives_on(shared, service_id, request.start, now),
                count(shared, rate_limit, now),
            )
            .await?;
            Err(BookingError::Rejected {
                reason: BookingRejected::SlotUnavailable,
                alternatives,
            })
        }
        Err(refusal) => {
            count(conn, rate_limit, now).await?;
            Err(refusal)
        }
    }
}

/// One hit against `rate_limit`, if any: how long to wait when the window is full.
async fn count(
    conn: &AsyncPgConnection,
    rate_limit: Option<RateLimit<'_>>,
    now: DateTime<Utc>,
) -> QueryResult<Option<u32>> {
    match rate_limit {
        Some(limit) => rate_limit::hit(conn, limit, now).await,
        None => Ok(None),
    }
}

/// The next free slots after `after` (read without locks: advice, not a promise).
pub async fn alternatives(
    conn: &mut AsyncPgConnection,
    service_id: Uuid,
    after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Slot>> {
    alternatives_on(conn, service_id, after, now).await
}

/// [`alternatives`] in one round trip: the service and its calendar are read in one pipeline,
/// over the UTC dates that cover the horizon in any zone.
async fn alternatives_on(
    conn: &AsyncPgConnection,
    service_id: Uuid,
    after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Slot>> {
    let (from, to) = catalog::dates_around(after);
    let to = to
        .checked_add_days(chrono::Days::new(ALTERNATIVES_HORIZON_DAYS))
        .unwrap_or(to);
    let (found, (schedule, occupied)) = try_join(
        catalog::bookable_service_on(conn, service_id),
        catalog::service_calendar_inputs(
            conn,
            service_id,
            (from, to),
            Calendar::jobs_window(from, to),
        ),
    )
    .await?;
    let Some((tenant, service)) = found else {
        return Ok(Vec::new());
    };
    let calendar = Calendar::new(
        tenant.zone,
        tenant.settings,
        &schedule,
        service.duration_minutes,
        &occupied,
    );
    Ok(calendar.next_slots(after, ALTERNATIVES_HORIZON_DAYS, ALTERNATIVES, now))
}

/// Contacts are unique per tenant by case-insensitive email. Anybody can type an address, so a
/// booking never rewrites what the contact holds: it only fills a phone the contact lacks (the
/// job keeps its own copy of the name and phone it was booked with).
pub(crate) async fn upsert_contact(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    request: &NewBooking,
) -> QueryResult<Uuid> {
    Ok(upsert_contact_on(conn, tenant_id, request).await?.0)
}

/// [`upsert_contact`], also returning the contact as the job record shows it (after the
/// update); on a shared connection, to pipeline it with the job's insert.
#[tracing::instrument(level = "trace", name = "contact upsert", skip_all)]
async fn upsert_contact_on(
    mut conn: &AsyncPgConnection,
    tenant_id: Uuid,
    request: &NewBooking,
) -> QueryResult<(Uuid, ContactRow)> {
    diesel::insert_into(contacts::table)
        .values((
            contacts::tenant_id.eq(tenant_id),
            contacts::email.eq(request.email.as_str()),
            contacts::name.eq(request.name.as_str()),
            contacts::phone.eq(request.phone.as_ref().map(Phone::as_str)),
        ))
        .on_conflict(on_constraint("contacts_tenant_email_key"))
        .do_update()
        .set(contacts::phone.eq(sql::<Nullable<Text>>(
            "coalesce(contacts.phone, excluded.phone)",
        )))
        .returning((contacts::id, ContactRow::as_returning()))
        .get_result(&mut conn)
        .await
}

#[derive(Insertable)]
#[diesel(table_name = jobs)]
pub(crate) struct InsertJob {
    pub tenant_id: Uuid,
    pub service_id: Uuid,
    pub contact_id: Uuid,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: &'static str,
    pub notes: Option<String>,
    pub source: &'static str,
    pub changed_by: String,
    pub client_name: String,
    pub client_phone: Option<String>,
}

pub(crate) async fn insert_job(
    conn: &mut AsyncPgConnection,
    job: &InsertJob,
    zone: chrono_tz::Tz,
) -> QueryResult<JobRecord> {
    let contact: ContactRow = contacts::table
        .find(job.contact_id)
        .select(ContactRow::as_select())
        .first(conn)
        .await?;
    insert_job_with_contact(conn, job, contact, zone).await
}

/// Inserts a public booking's job as `job_id`, its contact found by email in the same
/// statement: the contact's upsert runs just before it, in the same pipeline.
#[tracing::instrument(level = "trace", name = "job insert", skip_all)]
async fn insert_booked_job(
    mut conn: &AsyncPgConnection,
    job_id: Uuid,
    job: &InsertJob,
    email: &ClientEmail,
) -> QueryResult<JobRow> {
    diesel::sql_query(
        "INSERT INTO jobs (id, tenant_id, service_id, contact_id, title, starts_at, ends_at, \
                           status, notes, source, changed_by, client_name, client_phone) \
         SELECT $1, $2, $3, contacts.id, $4, $5, $6, $7, $8, $9, $10, $12, $13 FROM contacts \
         WHERE contacts.tenant_id = $2 AND contacts.email_key = lower($11) \
         RETURNING id, tenant_id, service_id, status, source, starts_at, ends_at, title, notes, \
                   decline_reason, changed_by, created_at, updated_at, client_name, client_phone",
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
    .get_result(&mut conn)
    .await
}

/// [`insert_job`] for a caller that already holds the job's contact.
async fn insert_job_with_contact(
    conn: &mut AsyncPgConnection,
    job: &InsertJob,
    contact: ContactRow,
    zone: chrono_tz::Tz,
) -> QueryResult<JobRecord> {
    let row: JobRow = diesel::insert_into(jobs::table)
        .values(job)
        .returning(JobRow::as_returning())
        .get_result(conn)
        .await?;
    record(row, contact, zone)
}
