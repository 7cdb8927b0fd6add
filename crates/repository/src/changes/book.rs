//! A client books a slot: under the tenant guard, the start is judged by the same calendar that
//! lists availability, then the contact, the job, its mails and the idempotency key are written
//! — all or nothing.

use booking_domain::{
    BookingRejected, Calendar, ClientEmail, ClientName, JobSource, JobStatus, JobTitle,
    MailContext, MailKind, Notes, Phone, Slot, StaffId,
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures_util::future::{try_join, try_join3, try_join5};
use uuid::Uuid;

use crate::catalog::{self, Service, ServiceCalendar, Tenant};
use crate::contacts::{self, GivenClient};
use crate::events::{self, NewEvent};
use crate::guard::{Ask, Locked};
use crate::jobs::{self, InsertJob, JobRecord, record};
use crate::outbox::ClaimedMail;
use crate::rate_limit::{self, RateLimit};
use crate::reminders::{self, Armed};
use crate::staff::{self, JobStaff};
use crate::{guard, idempotency, outbox};

use super::staffed;

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
    /// Unknown, inactive or another tenant's staff member.
    #[error("staff member not found")]
    StaffNotFound,
    #[error("the staff member does not perform this service")]
    StaffNotQualified,

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
/// The hit is counted first, on its own (its table is unlogged: no durable commit), so a flood
/// is refused before it reaches the guard. Then the guard is *tried*: free, the booking is
/// judged and written under it — `BEGIN`; the lock pipelined with the calendar reads; the
/// writes; `COMMIT`. Taken, what the pipeline read anyway (a snapshot) is enough to refuse
/// (refusing is always safe; only granting needs the lock); if it would grant, the request
/// waits for the holder without queueing ([`guard::wait_for_holder`]), judges again from what
/// the holder committed, and only then, if still free, queues for the lock. So a storm of
/// requests for one place is refused side by side, not one after another.
pub async fn book(
    conn: &mut AsyncPgConnection,
    service_id: Uuid,
    request: &NewBooking,
    now: DateTime<Utc>,
    key: Option<KeyRef<'_>>,
    rate_limit: Option<RateLimit<'_>>,
) -> Result<Booked, BookingError> {
    book_with_staff(conn, service_id, request, None, now, key, rate_limit).await
}

/// As [`book`], naming the staff member wanted (`None`: any available one). A service
/// performed by staff is booked as [`super::staffed`] says; a named person is always judged
/// there (refused as unknown or unqualified for a service without staff).
pub async fn book_with_staff(
    conn: &mut AsyncPgConnection,
    service_id: Uuid,
    request: &NewBooking,
    wanted: Option<StaffId>,
    now: DateTime<Utc>,
    key: Option<KeyRef<'_>>,
    rate_limit: Option<RateLimit<'_>>,
) -> Result<Booked, BookingError> {
    if let Some(retry_after) = count(conn, rate_limit, now).await? {
        return Err(BookingError::RateLimited { retry_after });
    }
    if wanted.is_some() {
        return staffed::book(conn, service_id, request, wanted, now, key).await;
    }
    let refused = match attempt(conn, service_id, request, now, key, Ask::Try).await {
        Err(Landing::Staffed) => {
            return staffed::book(conn, service_id, request, None, now, key).await;
        }
        Err(Landing::Busy(None)) => {
            // Free in the snapshot: see what the holder commits.
            let shared: &AsyncPgConnection = conn;
            let ((), snapshot) = try_join(
                guard::wait_for_holder(shared, service_id),
                horizon_calendar(shared, service_id, request.start),
            )
            .await?;
            let snapshot = snapshot.ok_or(BookingError::ServiceNotFound)?;
            let calendar = snapshot.calendar();
            match calendar.evaluate(request.start, now) {
                Ok(_) => attempt(conn, service_id, request, now, key, Ask::Wait)
                    .await
                    .map_err(Landing::into_error),
                Err(BookingRejected::SlotUnavailable) => {
                    return Err(full(Some(&snapshot), request.start, now));
                }
                Err(reason) => Err(BookingError::Rejected {
                    reason,
                    alternatives: Vec::new(),
                }),
            }
        }
        Err(landing) => Err(landing.into_error()),
        Ok(booked) => Ok(booked),
    };
    match refused {
        Err(BookingError::Rejected {
            reason: BookingRejected::SlotUnavailable,
            ..
        }) => {
            let snapshot = horizon_calendar(conn, service_id, request.start).await?;
            Err(full(snapshot.as_ref(), request.start, now))
        }
        outcome => outcome,
    }
}

/// The refusal of a full slot at `start`, with the next free slots `snapshot` shows.
fn full(
    snapshot: Option<&ServiceCalendar>,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> BookingError {
    BookingError::Rejected {
        reason: BookingRejected::SlotUnavailable,
        alternatives: snapshot.map_or_else(Vec::new, |inputs| {
            inputs
                .calendar()
                .next_slots(start, ALTERNATIVES_HORIZON_DAYS, ALTERNATIVES, now)
        }),
    }
}

/// Why a booking did not land in one [`attempt`].
enum Landing {
    Error(BookingError),
    /// The guard was only tried and another request holds it; what the snapshot read beside it
    /// refused, if anything.
    Busy(Option<BookingRejected>),
    /// The service is performed by staff: booked by [`staffed::book`] instead (nothing was
    /// locked or written).
    Staffed,
}

impl Landing {
    fn into_error(self) -> BookingError {
        match self {
            Self::Error(error) => error,
            // Only a refusal is ever left busy (a grant goes on to wait).
            Self::Busy(refusal) => BookingError::Rejected {
                reason: refusal.unwrap_or(BookingRejected::SlotUnavailable),
                alternatives: Vec::new(),
            },
            // Staff were given to the service while this booking waited: a retry books them.
            Self::Staffed => BookingError::Rejected {
                reason: BookingRejected::SlotUnavailable,
                alternatives: Vec::new(),
            },
        }
    }
}

impl From<BookingError> for Landing {
    fn from(error: BookingError) -> Self {
        Self::Error(error)
    }
}

impl From<diesel::result::Error> for Landing {
    fn from(error: diesel::result::Error) -> Self {
        Self::Error(error.into())
    }
}

/// One try at landing the booking in a transaction of its own.
async fn attempt(
    conn: &mut AsyncPgConnection,
    service_id: Uuid,
    request: &NewBooking,
    now: DateTime<Utc>,
    key: Option<KeyRef<'_>>,
    ask: Ask,
) -> Result<Booked, Landing> {
    conn.transaction::<_, Landing, _>(async move |conn| {
        land(conn, service_id, request, now, key, ask).await
    })
    .await
}

/// The booking's transaction: the guard pipelined with the calendar reads (Postgres runs them in
/// order, so nothing is read before the lock is held), the decision, then [`write`]. When the
/// guard was only tried and is taken, the reads are a snapshot: [`BookingError::Busy`] carries
/// its refusal, if any, and the transaction ends having written nothing.
async fn land(
    shared: &AsyncPgConnection,
    service_id: Uuid,
    request: &NewBooking,
    now: DateTime<Utc>,
    key: Option<KeyRef<'_>>,
    ask: Ask,
) -> Result<Booked, Landing> {
    let dates = catalog::dates_around(request.start);
    let ((locked, found), (schedule, occupied), staffed) = try_join3(
        guard::bookable_service(shared, service_id, ask),
        catalog::service_calendar_inputs(
            shared,
            service_id,
            dates,
            Calendar::jobs_window(dates.0, dates.1),
        ),
        staff::performed_by_staff(shared, service_id),
    )
    .await?;
    // A missing (or inactive) service first: a try finds no tenant row to lock for it either.
    let (tenant, service) = found.ok_or(BookingError::ServiceNotFound)?;
    if staffed {
        return Err(Landing::Staffed);
    }
    let inputs = ServiceCalendar {
        tenant,
        service,
        schedule,
        occupied,
    };
    let calendar = inputs.calendar();
    let judged = calendar.evaluate(request.start, now);
    match locked {
        Locked::Held => {}
        Locked::Busy => return Err(Landing::Busy(judged.err())),
        Locked::NoService => return Err(BookingError::ServiceNotFound.into()),
    }
    judged.map_err(|reason| BookingError::Rejected {
        reason,
        alternatives: Vec::new(),
    })?;
    let end = calendar.slot(request.start, 0).end.with_timezone(&Utc);
    Ok(write(
        shared,
        inputs.tenant,
        inputs.service,
        end,
        request,
        now,
        key,
        None,
    )
    .await?)
}

/// Writes an accepted booking in one pipeline: the contact, the job (its id chosen here so the
/// mails and the key can name it in the same pipeline), its mails and the idempotency key;
/// `staff` is the person it is assigned to.
#[allow(clippy::too_many_arguments)] // One booking's parts, passed on as they came.
pub(super) async fn write(
    shared: &AsyncPgConnection,
    tenant: Tenant,
    service: Service,
    end: DateTime<Utc>,
    request: &NewBooking,
    now: DateTime<Utc>,
    key: Option<KeyRef<'_>>,
    staff: Option<JobStaff>,
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
        staff_id: staff.as_ref().map(|person| person.id),
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
    let armed = Armed {
        tenant_id: tenant.id,
        job_id,
        status,
        start: request.start,
        offsets: &tenant.settings.reminder_minutes_before,
        now,
    };
    // The mails and reminders are recorded with the booking: committed together, or not at all.
    // The history statement follows the job's insert: it reads the job for a webhook payload.
    let (contact, job, (), mails, ((), ())) = try_join5(
        contacts::upsert(shared, tenant.id, request.client()),
        jobs::insert_booked(shared, job_id, &new_job, &request.email),
        events::record(shared, &booked),
        outbox::enqueue_booking_on(shared, tenant.id, job_id, &kinds, &request.email, now),
        try_join(
            async {
                match key {
                    Some(key) => idempotency::attach_job(shared, key.scope, key.key, job_id).await,
                    None => Ok(()),
                }
            },
            reminders::arm_new(shared, armed),
        ),
    )
    .await?;
    Ok(Booked {
        job: JobRecord {
            staff,
            ..record(job, contact.1, tenant.zone)?
        },
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

/// The service and its calendar from the UTC dates around `after` to
/// [`ALTERNATIVES_HORIZON_DAYS`] later (in any zone), read without locks in one pipeline: enough
/// to judge a start at `after` and to offer the next free slots after it (advice, not a promise).
pub(super) async fn horizon_calendar(
    conn: &AsyncPgConnection,
    service_id: Uuid,
    after: DateTime<Utc>,
) -> QueryResult<Option<ServiceCalendar>> {
    let (from, to) = catalog::dates_around(after);
    let to = to
        .checked_add_days(chrono::Days::new(ALTERNATIVES_HORIZON_DAYS))
        .unwrap_or(to);
    catalog::service_with_calendar(conn, service_id, (from, to)).await
}
