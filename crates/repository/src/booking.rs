//! The booking transaction: lock the tenant, judge the start with the same calendar that lists
//! availability, upsert the contact, insert the job — all or nothing.

use booking_domain::{
    BookingRejected, Calendar, ClientEmail, ClientName, JobSource, JobStatus, JobTitle, MailKind,
    Notes, Phone, Slot,
};
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use diesel::upsert::on_constraint;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::catalog::{self, Service, Tenant};
use crate::jobs::{ContactRow, JobRecord, JobRow, record};
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
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// What landed.
#[derive(Debug, Clone)]
pub struct Booked {
    pub job: JobRecord,
    pub tenant: Tenant,
    pub service: Service,
}

/// Books `request` on service `service_id` as of `now`.
pub async fn book(
    conn: &mut AsyncPgConnection,
    service_id: Uuid,
    request: &NewBooking,
    now: DateTime<Utc>,
    key: Option<KeyRef<'_>>,
) -> Result<Booked, BookingError> {
    let outcome = conn
        .transaction::<_, BookingError, _>(async move |conn| {
            let (tenant, service) = catalog::lock_bookable_service(conn, service_id)
                .await?
                .ok_or(BookingError::ServiceNotFound)?;
            let date = request.start.with_timezone(&tenant.zone).date_naive();
            let (schedule, occupied) = catalog::calendar_inputs(
                conn,
                tenant.id,
                (date, date),
                Calendar::jobs_window(date, date),
            )
            .await?;
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
            let (contact_id, contact) = upsert_contact_returning(conn, tenant.id, request).await?;
            let new_job = InsertJob {
                tenant_id: tenant.id,
                service_id: service.id,
                contact_id,
                title: JobTitle::for_booking(&service.name, &request.name).into_inner(),
                starts_at: request.start,
                ends_at: slot.end.with_timezone(&Utc),
                status: JobStatus::for_new_booking(tenant.settings.require_confirmation).as_str(),
                notes: request
                    .notes
                    .as_ref()
                    .filter(|n| !n.is_empty())
                    .map(|n| n.as_str().to_owned()),
                source: JobSource::Public.as_str(),
                changed_by: "public-booking".to_owned(),
            };
            let job = insert_job_with_contact(conn, &new_job, contact, tenant.zone).await?;
            // The mails are recorded with the booking: committed together, or not at all.
            let pending = job.status == JobStatus::PendingConfirmation;
            outbox::enqueue(
                conn,
                tenant.id,
                job.id,
                &MailKind::for_new_booking(pending),
                now,
            )
            .await?;
            if let Some(key) = key {
                idempotency::attach_job(conn, key.scope, key.key, job.id).await?;
            }
            Ok(Booked {
                job,
                tenant,
                service,
            })
        })
        .await;
    match outcome {
        Err(BookingError::Rejected {
            reason: BookingRejected::SlotUnavailable,
            ..
        }) => Err(BookingError::Rejected {
            reason: BookingRejected::SlotUnavailable,
            alternatives: alternatives(conn, service_id, request.start, now).await?,
        }),
        other => other,
    }
}

/// The next free slots after `after` (read without locks: advice, not a promise).
pub async fn alternatives(
    conn: &mut AsyncPgConnection,
    service_id: Uuid,
    after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Slot>> {
    let Some((tenant, service)) = catalog::bookable_service(conn, service_id).await? else {
        return Ok(Vec::new());
    };
    let from = after.with_timezone(&tenant.zone).date_naive();
    let to = from
        .checked_add_days(chrono::Days::new(ALTERNATIVES_HORIZON_DAYS))
        .unwrap_or(from);
    let (schedule, occupied) =
        catalog::calendar_inputs(conn, tenant.id, (from, to), Calendar::jobs_window(from, to))
            .await?;
    let calendar = Calendar::new(
        tenant.zone,
        tenant.settings,
        &schedule,
        service.duration_minutes,
        &occupied,
    );
    Ok(calendar.next_slots(after, ALTERNATIVES_HORIZON_DAYS, ALTERNATIVES, now))
}

/// Contacts are unique per tenant by case-insensitive email; a booking refreshes the name and,
/// when given, the phone.
pub(crate) async fn upsert_contact(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    request: &NewBooking,
) -> QueryResult<Uuid> {
    Ok(upsert_contact_returning(conn, tenant_id, request).await?.0)
}

/// [`upsert_contact`], also returning the contact as the job record shows it (after the
/// update), so the booking need not read it back.
async fn upsert_contact_returning(
    conn: &mut AsyncPgConnection,
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
        .set((
            contacts::name.eq(sql::<Text>("excluded.name")),
            contacts::phone.eq(sql::<Nullable<Text>>(
                "coalesce(excluded.phone, contacts.phone)",
            )),
        ))
        .returning((contacts::id, ContactRow::as_returning()))
        .get_result(conn)
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
