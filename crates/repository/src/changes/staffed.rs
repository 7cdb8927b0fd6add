//! The staffed side of booking, entering by hand and confirming: who gets a job of a service
//! performed by staff, decided by [`booking_domain::StaffedCalendar`], and the guard of that
//! person.
//!
//! A client's booking guards only its person ([`StaffGuard::PerStaff`]): the tenant's lock
//! shared, the person's exclusively, so bookings of two people never wait for each other, while
//! every catalog change and every booking of a service without staff (the tenant's lock held
//! exclusively) excludes them all. "Any available" is optimistic: the people free in a snapshot
//! read without locks are tried in the order the engine prefers them, each under their own
//! lock and judged again there; one found taken hands over to the next free in what was read
//! under that lock. Owners' changes (hand-entered jobs, confirmations) hold the tenant's lock
//! exclusively and decide beside everyone's jobs.

use std::sync::atomic::{AtomicBool, Ordering};

use booking_domain::{
    BookingRejected, StaffChoice, StaffId, StaffRefusal, StaffedCalendar, pick_any_available,
};
use chrono::{DateTime, Days, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures_util::future::try_join;
use uuid::Uuid;

use super::OwnerError;
use super::book::{
    ALTERNATIVES, ALTERNATIVES_HORIZON_DAYS, Booked, BookingError, KeyRef, NewBooking,
};
use crate::catalog::{self, Service, Tenant};
use crate::staff::{self, JobStaff, StaffGuard, StaffedInputs};

/// Whether staffed bookings take the tenant's lock exclusively instead ([`StaffGuard`]). Off;
/// only `booking-load` turns it on, to measure both guards in one run.
static TENANT_WIDE: AtomicBool = AtomicBool::new(false);

/// Chooses the guard of staffed bookings for this process (a benchmark's switch).
pub fn guard_staffed_bookings_with(guard: StaffGuard) {
    TENANT_WIDE.store(guard == StaffGuard::TenantWide, Ordering::Relaxed);
}

fn choice(wanted: Option<StaffId>) -> StaffChoice {
    wanted.map_or(StaffChoice::Any, StaffChoice::Named)
}

/// The local dates a refusal's alternatives are sought in (as book.rs's horizon).
fn horizon(after: DateTime<Utc>) -> (chrono::NaiveDate, chrono::NaiveDate) {
    let (from, to) = catalog::dates_around(after);
    let to = to
        .checked_add_days(Days::new(ALTERNATIVES_HORIZON_DAYS))
        .unwrap_or(to);
    (from, to)
}

/// A refusal of the engine as the booking's error, with the alternatives of the people asked
/// for when the slot is taken.
fn refused(
    refusal: StaffRefusal,
    calendar: &StaffedCalendar<'_>,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    wanted: StaffChoice,
) -> BookingError {
    match refusal {
        StaffRefusal::StaffNotFound => BookingError::StaffNotFound,
        StaffRefusal::StaffNotQualified => BookingError::StaffNotQualified,
        StaffRefusal::Rejected(BookingRejected::SlotUnavailable) => BookingError::Rejected {
            reason: BookingRejected::SlotUnavailable,
            alternatives: calendar
                .next_slots(start, ALTERNATIVES_HORIZON_DAYS, ALTERNATIVES, now, wanted)
                .unwrap_or_default()
                .into_iter()
                .map(|slot| slot.slot)
                .collect(),
        },
        StaffRefusal::Rejected(reason) => BookingError::Rejected {
            reason,
            alternatives: Vec::new(),
        },
    }
}

/// Books `request` on a service performed by staff (or names a person for one that is not:
/// refused as the engine says), for `wanted` or any available person.
pub(super) async fn book(
    conn: &mut AsyncPgConnection,
    service_id: Uuid,
    request: &NewBooking,
    wanted: Option<StaffId>,
    now: DateTime<Utc>,
    key: Option<KeyRef<'_>>,
) -> Result<Booked, BookingError> {
    let wanted = choice(wanted);
    let start = request.start;
    let snapshot = staff::staffed_service_with_calendar(conn, service_id, horizon(start))
        .await?
        .ok_or(BookingError::ServiceNotFound)?;
    let free = {
        let calendar = snapshot.calendar();
        calendar
            .evaluate(start, now, wanted)
            .map_err(|refusal| refused(refusal, &calendar, start, now, wanted))?
    };
    let tenant_id = snapshot.tenant.id;
    let mut tried: Vec<StaffId> = Vec::new();
    let mut next = pick_any_available(&free, &snapshot.last_booked).map(|person| person.id);
    while let Some(person) = next {
        tried.push(person);
        match attempt(
            conn, tenant_id, service_id, request, now, key, person, wanted,
        )
        .await
        {
            Ok(booked) => return Ok(booked),
            Err(Attempt::Error(error)) => return Err(error),
            Err(Attempt::Taken(fresh)) => {
                next = match wanted {
                    StaffChoice::Named(_) => None,
                    StaffChoice::Any => {
                        let free = fresh
                            .calendar()
                            .evaluate(start, now, StaffChoice::Any)
                            .unwrap_or_default();
                        let untried: Vec<_> = free
                            .into_iter()
                            .filter(|person| !tried.contains(&person.id))
                            .collect();
                        pick_any_available(&untried, &fresh.last_booked).map(|person| person.id)
                    }
                };
            }
        }
    }
    // Everyone free in the snapshot was taken meanwhile: the alternatives as they are now.
    let latest = staff::staffed_service_with_calendar(conn, service_id, horizon(start))
        .await?
        .ok_or(BookingError::ServiceNotFound)?;
    Err(refused(
        StaffRefusal::Rejected(BookingRejected::SlotUnavailable),
        &latest.calendar(),
        start,
        now,
        wanted,
    ))
}

/// Why one person's attempt did not land.
enum Attempt {
    Error(BookingError),
    /// Not free for it any more, as read under their lock.
    Taken(Box<StaffedInputs>),
}

impl From<BookingError> for Attempt {
    fn from(error: BookingError) -> Self {
        Self::Error(error)
    }
}

impl From<diesel::result::Error> for Attempt {
    fn from(error: diesel::result::Error) -> Self {
        Self::Error(error.into())
    }
}

/// One person's transaction: their guard pipelined with the calendar reads (which so see what
/// the last holder committed), the judgement for them alone, then the booking's writes.
#[allow(clippy::too_many_arguments)] // One booking's parts, passed on as they came.
async fn attempt(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    service_id: Uuid,
    request: &NewBooking,
    now: DateTime<Utc>,
    key: Option<KeyRef<'_>>,
    person: StaffId,
    wanted: StaffChoice,
) -> Result<Booked, Attempt> {
    conn.transaction::<_, Attempt, _>(async move |conn| {
        let shared: &AsyncPgConnection = conn;
        let guard = async {
            if TENANT_WIDE.load(Ordering::Relaxed) {
                crate::guard::lock(shared, tenant_id).await
            } else {
                staff::lock_person(shared, tenant_id, person).await
            }
        };
        let dates = catalog::dates_around(request.start);
        let ((), fresh) = try_join(
            guard,
            staff::staffed_service_with_calendar(shared, service_id, dates),
        )
        .await?;
        let fresh = fresh.ok_or(BookingError::ServiceNotFound)?;
        let end = {
            let calendar = fresh.calendar();
            match calendar.evaluate(request.start, now, StaffChoice::Named(person)) {
                Ok(_) => {}
                Err(refusal) => {
                    // A person asked for by name is refused as the engine says; one of several
                    // hands over to the next.
                    if let (StaffChoice::Named(_), false) = (
                        wanted,
                        refusal == StaffRefusal::Rejected(BookingRejected::SlotUnavailable),
                    ) {
                        return Err(refused(refusal, &calendar, request.start, now, wanted).into());
                    }
                    drop(calendar);
                    return Err(Attempt::Taken(Box::new(fresh)));
                }
            }
            calendar
                .tenant_calendar()
                .slot(request.start, 0)
                .end
                .with_timezone(&Utc)
        };
        let staff = fresh.job_staff(person);
        let StaffedInputs {
            tenant, service, ..
        } = fresh;
        Ok(super::book::write(shared, tenant, service, end, request, now, key, staff).await?)
    })
    .await
}

/// Who gets a job an owner places on `service` over `[start, end)` — `wanted`, or any available
/// — beside everyone's jobs but `except` (the job being confirmed or moved); `None` for a
/// service without staff and no person named. Called under the tenant's guard.
pub(super) async fn assign_by_owner(
    conn: &mut AsyncPgConnection,
    tenant: &Tenant,
    service: &Service,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    wanted: Option<Uuid>,
    except: Option<Uuid>,
) -> Result<Option<JobStaff>, OwnerError> {
    if wanted.is_none() && !staff::performed_by_staff(conn, service.id).await? {
        return Ok(None);
    }
    let dates = catalog::dates_around(start);
    let inputs = staff::inputs_for_owner(conn, tenant, service, dates, except).await?;
    let calendar = inputs.calendar();
    let wanted = choice(wanted.map(StaffId::new));
    match calendar.assign_beside_others(start, end, wanted, &inputs.last_booked) {
        Ok(person) => Ok(inputs.job_staff(person.id)),
        Err(StaffRefusal::StaffNotFound) => Err(OwnerError::StaffNotFound),
        Err(StaffRefusal::StaffNotQualified) => Err(OwnerError::StaffNotQualified),
        Err(StaffRefusal::Rejected(_)) => {
            let people: Vec<Uuid> = match wanted {
                StaffChoice::Named(id) => vec![id.as_uuid()],
                StaffChoice::Any => inputs
                    .roster
                    .iter()
                    .filter(|member| member.active && member.performs(service.id))
                    .map(|member| member.id.as_uuid())
                    .collect(),
            };
            let margin = tenant.settings.min_gap();
            let conflicts = staff::neighbours(
                conn,
                tenant.id,
                &people,
                (start - margin, end + margin),
                except,
            )
            .await?;
            Err(OwnerError::Conflict {
                conflicts,
                zone: tenant.zone,
            })
        }
    }
}

/// Refuses keeping `job` where it is when that would push capacity over: its person's, for a
/// job assigned to one (the same person, never another), else the tenant's. Under the guard.
pub(super) async fn recheck(
    conn: &mut AsyncPgConnection,
    tenant: &Tenant,
    job: &crate::jobs::JobRecord,
) -> Result<(), OwnerError> {
    recheck_at(conn, tenant, job, (job.starts_at, job.ends_at)).await
}

/// As [`recheck`], for `job` placed over `[start, end)` instead (an owner's move): a job
/// assigned to a person moves with that person, beside their other jobs. Under the guard.
pub(super) async fn recheck_at(
    conn: &mut AsyncPgConnection,
    tenant: &Tenant,
    job: &crate::jobs::JobRecord,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
) -> Result<(), OwnerError> {
    let Some(person) = &job.staff else {
        return super::guard_capacity(conn, tenant, start, end, Some(job.id)).await;
    };
    let service = catalog::service_of_tenant(conn, tenant.id, job.service_id)
        .await?
        .ok_or(OwnerError::JobNotFound)?;
    assign_by_owner(
        conn,
        tenant,
        &service,
        (start, end),
        Some(person.id),
        Some(job.id),
    )
    .await
    .map(drop)
}

/// Judges a client's move of `job`, assigned to `person`, to `start` as a booking of that
/// person is judged (working hours, theirs and the business's, notice, capacity), with the
/// job's own place free: the session's end, or the rule it breaks. Under the tenant's guard
/// (held exclusively: no booking of anyone runs beside it).
pub(super) async fn client_move_end(
    conn: &mut AsyncPgConnection,
    tenant: &Tenant,
    job: &crate::jobs::JobRecord,
    person: Uuid,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, OwnerError> {
    let service = catalog::service_of_tenant(conn, tenant.id, job.service_id)
        .await?
        .filter(|service| service.active)
        // The service was retired since the booking: it takes no new starts.
        .ok_or(OwnerError::ChangeNotAllowed(
            booking_domain::JobAction::Reschedule,
        ))?;
    let inputs =
        staff::inputs_for_owner(conn, tenant, &service, horizon(start), Some(job.id)).await?;
    let calendar = inputs.calendar();
    let wanted = StaffChoice::Named(StaffId::new(person));
    match calendar.evaluate(start, now, wanted) {
        Ok(_) => Ok(calendar
            .tenant_calendar()
            .slot(start, 0)
            .end
            .with_timezone(&Utc)),
        Err(refusal) => Err(match refused(refusal, &calendar, start, now, wanted) {
            BookingError::Rejected {
                reason,
                alternatives,
            } => OwnerError::Rejected {
                reason,
                alternatives,
            },
            // The person left or stopped performing the service since the booking.
            _ => OwnerError::ChangeNotAllowed(booking_domain::JobAction::Reschedule),
        }),
    }
}
