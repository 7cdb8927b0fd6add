//! A client books a slot: under the tenant guard, the start is judged by the same calendar that
//! lists availability, then the contact, the job, its mails and the idempotency key are written
//! — all or nothing.

use booking_domain::{
    BookingRejected, Calendar, ClientEmail, ClientName, JobSource, JobStatus, JobTitle,
    MailContext, MailKind, Notes, Phone, Slot,
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures_util::future::{try_join, try_join3, try_join5};
use uuid::Uuid;

use crate::catalog::{self, Service, ServiceCalendar, Tenant};
use crate::contacts::{self, GivenClient};
use crate::events::{self, NewEvent};
use crate::jobs::{self, InsertJob, JobRecord, record};
use crate::outbox::ClaimedMail;
use crate::rate_limit::{self, RateLimit};
use crate::{guard, idempotency, outbox};

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

impl NewBooking {
    pub(crate) fn client(&self) -> GivenClient<'_> {
        GivenClient {
            email: &self.email,
            name: &self.name,
            phone: self.phone.as_ref(),
        }
    }
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
        self.job.mail_context(
            &self.tenant.name,
            &self.service.name,
            &self.tenant.notification_email,
        )
    }
}

/// Books `request` on service `service_id` as of `now`, recording it under `key` and counting
/// it against `rate_limit` when given.
///
/// Five round trips: `BEGIN`; the guard pipelined with the rate-limit hit and the calendar
/// reads; the contact, job, history entry, mails and key written in one pipeline; `COMMIT`. A refusal rolls
/// the hit back with everything else, so it is counted again after the rollback (pipelined
/// with the alternatives for a full slot).
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
            land(conn, service_id, request, now, key, rate_limit).await
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

/// The booking's transaction: the guard pipelined with the rate-limit hit and the calendar
/// reads (Postgres runs them in order, so nothing is read before the lock is held), the decision,
/// then [`write`].
async fn land(
    shared: &AsyncPgConnection,
    service_id: Uuid,
    request: &NewBooking,
    now: DateTime<Utc>,
    key: Option<KeyRef<'_>>,
    rate_limit: Option<RateLimit<'_>>,
) -> Result<Booked, BookingError> {
    let dates = catalog::dates_around(request.start);
    let (found, wait, (schedule, occupied)) = try_join3(
        guard::bookable_service(shared, service_id),
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
    let inputs = ServiceCalendar {
        tenant,
        service,
        schedule,
        occupied,
    };
    let calendar = inputs.calendar();
    calendar
        .evaluate(request.start, now)
        .map_err(|reason| BookingError::Rejected {
            reason,
            alternatives: Vec::new(),
        })?;
    let end = calendar.slot(request.start, 0).end.with_timezone(&Utc);
    write(
        shared,
        inputs.tenant,
        inputs.service,
        end,
        request,
        now,
        key,
    )
    .await
}

/// Writes an accepted booking in one pipeline: the contact, the job (its id chosen here so the
/// mails and the key can name it in the same pipeline), its mails and the idempotency key.
async fn write(
    shared: &AsyncPgConnection,
    tenant: Tenant,
    service: Service,
    end: DateTime<Utc>,
    request: &NewBooking,
    now: DateTime<Utc>,
    key: Option<KeyRef<'_>>,
) -> Result<Booked, BookingError> {
    let status = JobStatus::for_new_booking(tenant.settings.require_confirmation);
    let new_job = InsertJob {
        tenant_id: tenant.id,
        service_id: service.id,
        title: JobTitle::for_booking(&service.name, &request.name).into_inner(),
        starts_at: request.start,
        ends_at: end,
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
    let job_id = Uuid::new_v4();
    let kinds = MailKind::for_new_booking(status == JobStatus::PendingConfirmation);
    // The booking's history entry (the job's first event, which takes the job's id).
    let booked = NewEvent::first(
        tenant.id,
        job_id,
        now,
        events::CLIENT,
        "booked",
        status,
        request.start,
        end,
    );
    // The mails are recorded with the booking: committed together, or not at all.
    let (contact, job, (), mails, ()) = try_join5(
        contacts::upsert(shared, tenant.id, request.client()),
        jobs::insert_booked(shared, job_id, &new_job, &request.email),
        events::record(shared, &booked),
        outbox::enqueue_booking_on(shared, tenant.id, job_id, &kinds, &request.email, now),
        async {
            match key {
                Some(key) => idempotency::attach_job(shared, key.scope, key.key, job_id).await,
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

/// The next free slots after `after` (read without locks: advice, not a promise), in one round
/// trip: the service and its calendar are read in one pipeline, over the UTC dates that cover
/// the horizon in any zone.
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
    let Some(inputs) = catalog::service_with_calendar(conn, service_id, (from, to)).await? else {
        return Ok(Vec::new());
    };
    let calendar = inputs.calendar();
    Ok(calendar.next_slots(after, ALTERNATIVES_HORIZON_DAYS, ALTERNATIVES, now))
}
