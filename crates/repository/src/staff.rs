//! Staff: a tenant's roster as the engine needs it (who performs what, their capacity and hours),
//! their jobs as [`AssignedPeriod`]s and their latest bookings, and the advisory locks of one
//! person. The transactions that use them are in [`crate::changes`].
//!
//! Every read finds the tenant by a subquery from the service, as [`crate::catalog`]'s do, so
//! they pipeline after the service lookup (or a lock) on one connection.

use std::collections::BTreeMap;

use booking_domain::{
    AssignedPeriod, Calendar, OccupiedPeriod, Schedule, StaffCapacity, StaffHours, StaffId,
    StaffMember, StaffedCalendar,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::{try_join, try_join3};
use tracing::Instrument as _;
use uuid::Uuid;

use crate::catalog::{self, Service, Tenant, active_jobs, build_schedule, corrupt};
use crate::schema::{
    jobs, services, staff, staff_date_overrides, staff_services, staff_working_hours,
};

/// The advisory-lock class of staff members' locks (two-key form, beside
/// [`crate::guard::TENANT_LOCK_CLASS`]).
pub const STAFF_LOCK_CLASS: i32 = 0x7374_6166;

/// The person a job is assigned to, as a job shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStaff {
    pub id: Uuid,
    pub name: String,
}

/// Whether any staff member (active or not) performs the service: then it is booked through its
/// staff ([`booking_domain::performed_by_staff`], read without the roster).
#[tracing::instrument(level = "trace", name = "staffed?", skip_all)]
pub async fn performed_by_staff(
    mut conn: &AsyncPgConnection,
    service_id: Uuid,
) -> QueryResult<bool> {
    diesel::select(exists(
        staff_services::table.filter(staff_services::service_id.eq(service_id)),
    ))
    .get_result(&mut conn)
    .await
}

/// Everything a staffed service's calendar is built from: the tenant's calendar inputs, its
/// roster, its people's active jobs around the dates read and when each was last booked.
#[derive(Debug, Clone)]
pub struct StaffedInputs {
    pub tenant: Tenant,
    pub service: Service,
    pub schedule: Schedule,
    pub roster: Vec<StaffMember>,
    pub names: BTreeMap<StaffId, String>,
    pub jobs: Vec<AssignedPeriod>,
    pub last_booked: Vec<(StaffId, DateTime<Utc>)>,
}

impl StaffedInputs {
    /// The calendar that lists this service's slots, judges and assigns its bookings.
    pub fn calendar(&self) -> StaffedCalendar<'_> {
        StaffedCalendar::new(
            self.tenant.zone,
            self.tenant.settings,
            &self.schedule,
            self.service.id,
            self.service.duration_minutes,
            &self.roster,
            &self.jobs,
        )
    }

    /// The person as a job shows them (`None` for an id not on the roster).
    pub fn job_staff(&self, id: StaffId) -> Option<JobStaff> {
        self.names.get(&id).map(|name| JobStaff {
            id: id.as_uuid(),
            name: name.clone(),
        })
    }
}

/// An active service, its tenant, hours, roster and staffed jobs for the dates `from..=to`, in
/// one pipeline. `None` for an unknown or inactive service.
pub async fn staffed_service_with_calendar(
    conn: &AsyncPgConnection,
    service_id: Uuid,
    (from, to): (NaiveDate, NaiveDate),
) -> QueryResult<Option<StaffedInputs>> {
    // The tenant's own occupancy is not read (an empty window): a staffed service counts only
    // its people's jobs.
    let nothing = {
        let at = Calendar::jobs_window(from, to).0;
        (at, at)
    };
    let (found, (schedule, _), roster) = try_join3(
        catalog::bookable_service_on(conn, service_id),
        catalog::service_calendar_inputs(conn, service_id, (from, to), nothing),
        roster_inputs(
            conn,
            service_id,
            (from, to),
            Calendar::jobs_window(from, to),
            None,
            true,
        ),
    )
    .await?;
    let Some((tenant, service)) = found else {
        return Ok(None);
    };
    let (roster, names, jobs, last_booked) = roster;
    Ok(Some(StaffedInputs {
        tenant,
        service,
        schedule,
        roster,
        names,
        jobs,
        last_booked,
    }))
}

/// A staffed service's slots for `from..=to` as a listing needs them: the roster, its hours and
/// its people's jobs, read in one round trip beside the tenant's calendar inputs already read
/// (`inputs`; no second read of them), without the people's latest bookings (those only pick
/// who gets a booking, which the booking decides under the guard).
pub async fn staffed_listing(
    conn: &AsyncPgConnection,
    inputs: &catalog::ServiceCalendar,
    (from, to): (NaiveDate, NaiveDate),
) -> QueryResult<StaffedInputs> {
    let (roster, names, jobs, _) = roster_inputs(
        conn,
        inputs.service.id,
        (from, to),
        Calendar::jobs_window(from, to),
        None,
        false,
    )
    .await?;
    Ok(StaffedInputs {
        tenant: inputs.tenant.clone(),
        service: inputs.service.clone(),
        schedule: inputs.schedule.clone(),
        roster,
        names,
        jobs,
        last_booked: Vec::new(),
    })
}

type Roster = (
    Vec<StaffMember>,
    BTreeMap<StaffId, String>,
    Vec<AssignedPeriod>,
    Vec<(StaffId, DateTime<Utc>)>,
);

/// A date override's row: the date and its minutes (none: off that day).
type OverrideRow = (NaiveDate, Option<i16>, Option<i16>);

#[derive(QueryableByName)]
struct LastBooked {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    at: Option<DateTime<Utc>>,
}

/// The roster of the tenant of `service_id` with their hours (overrides for `from..=to`), their
/// active jobs overlapping `[window_from, window_to)` (but `except`) and each person's latest
/// booking.
async fn roster_inputs(
    conn: &AsyncPgConnection,
    service_id: Uuid,
    (from, to): (NaiveDate, NaiveDate),
    (window_from, window_to): (DateTime<Utc>, DateTime<Utc>),
    except: Option<Uuid>,
    with_last_booked: bool,
) -> QueryResult<Roster> {
    let tenant_of = || {
        services::table
            .filter(services::id.eq(service_id))
            .select(services::tenant_id)
            .single_value()
    };
    let members = async {
        let mut conn = conn;
        staff::table
            .filter(staff::tenant_id.nullable().eq(tenant_of()))
            .select((
                staff::id,
                staff::name,
                staff::capacity,
                staff::active,
                staff::own_hours,
            ))
            .order(staff::id)
            .load::<(Uuid, String, i32, bool, bool)>(&mut conn)
            .await
    };
    let weekly = async {
        let mut conn = conn;
        staff_working_hours::table
            .filter(staff_working_hours::tenant_id.nullable().eq(tenant_of()))
            .select((
                staff_working_hours::staff_id,
                staff_working_hours::weekday,
                staff_working_hours::start_minute,
                staff_working_hours::end_minute,
            ))
            .load::<(Uuid, i16, i16, i16)>(&mut conn)
            .await
    };
    let overrides = async {
        let mut conn = conn;
        staff_date_overrides::table
            .filter(staff_date_overrides::tenant_id.nullable().eq(tenant_of()))
            .filter(staff_date_overrides::on_date.between(from, to))
            .select((
                staff_date_overrides::staff_id,
                staff_date_overrides::on_date,
                staff_date_overrides::start_minute,
                staff_date_overrides::end_minute,
            ))
            .load::<(Uuid, NaiveDate, Option<i16>, Option<i16>)>(&mut conn)
            .await
    };
    let performs = async {
        let mut conn = conn;
        staff_services::table
            .filter(staff_services::tenant_id.nullable().eq(tenant_of()))
            .select((staff_services::staff_id, staff_services::service_id))
            .load::<(Uuid, Uuid)>(&mut conn)
            .await
    };
    let assigned = async {
        let mut conn = conn;
        let mut query = jobs::table
            .filter(jobs::tenant_id.nullable().eq(tenant_of()))
            .filter(active_jobs())
            .filter(jobs::staff_id.is_not_null())
            .filter(jobs::starts_at.ge(window_from - Duration::days(1)))
            .filter(jobs::starts_at.lt(window_to))
            .filter(jobs::ends_at.gt(window_from))
            .select((jobs::staff_id, jobs::starts_at, jobs::ends_at))
            .into_boxed();
        if let Some(except) = except {
            query = query.filter(jobs::id.ne(except));
        }
        query
            .load::<(Option<Uuid>, DateTime<Utc>, DateTime<Utc>)>(&mut conn)
            .await
    };
    let last = async {
        if !with_last_booked {
            return Ok(Vec::new());
        }
        let mut conn = conn;
        // One index probe per person (jobs_by_staff_created), however many jobs they have.
        diesel::sql_query(
            "SELECT staff.id, (SELECT max(jobs.created_at) FROM jobs WHERE jobs.staff_id = staff.id) AS at \
             FROM staff WHERE staff.tenant_id = (SELECT tenant_id FROM services WHERE id = $1)",
        )
        .bind::<SqlUuid, _>(service_id)
        .load::<LastBooked>(&mut conn)
        .await
    };
    let ((members, weekly, overrides), (performs, assigned, last)) = try_join(
        try_join3(
            members.instrument(tracing::trace_span!("staff")),
            weekly.instrument(tracing::trace_span!("staff weekly hours")),
            overrides.instrument(tracing::trace_span!("staff date overrides")),
        ),
        try_join3(
            performs.instrument(tracing::trace_span!("staff services")),
            assigned.instrument(tracing::trace_span!("staff jobs")),
            last.instrument(tracing::trace_span!("staff last booked")),
        ),
    )
    .await?;
    let mut weekly_of: BTreeMap<Uuid, Vec<(i16, i16, i16)>> = BTreeMap::new();
    for (id, day, start, end) in weekly {
        weekly_of.entry(id).or_default().push((day, start, end));
    }
    let mut overrides_of: BTreeMap<Uuid, Vec<OverrideRow>> = BTreeMap::new();
    for (id, date, start, end) in overrides {
        overrides_of.entry(id).or_default().push((date, start, end));
    }
    let mut services_of: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for (id, service) in performs {
        services_of.entry(id).or_default().push(service);
    }
    let mut roster = Vec::with_capacity(members.len());
    let mut names = BTreeMap::new();
    for (id, name, capacity, active, own_hours) in members {
        let capacity = u32::try_from(capacity)
            .ok()
            .and_then(|places| StaffCapacity::new(places).ok())
            .ok_or_else(|| corrupt(format!("staff capacity {capacity}")))?;
        let week = if own_hours {
            weekly_of.remove(&id).unwrap_or_default()
        } else {
            Vec::new()
        };
        let hours = hours_from(
            own_hours,
            week,
            overrides_of.remove(&id).unwrap_or_default(),
        )?;
        roster.push(StaffMember {
            id: StaffId::new(id),
            capacity,
            active,
            hours,
            services: services_of.remove(&id).unwrap_or_default(),
        });
        names.insert(StaffId::new(id), name);
    }
    let jobs = assigned
        .into_iter()
        .map(|(staff, start, end)| AssignedPeriod {
            period: OccupiedPeriod { start, end },
            staff: staff.map(StaffId::new),
        })
        .collect();
    let last_booked = last
        .into_iter()
        .filter_map(|row| Some((StaffId::new(row.id), row.at?)))
        .collect();
    Ok((roster, names, jobs, last_booked))
}

/// A person's hours from their rows: their own week (when `own_hours`; else the tenant's) and
/// their date overrides.
pub(crate) fn hours_from(
    own_hours: bool,
    week: Vec<(i16, i16, i16)>,
    overrides: Vec<OverrideRow>,
) -> QueryResult<StaffHours> {
    let own = build_schedule(week, overrides)?;
    if own_hours {
        return Ok(StaffHours::own(own));
    }
    let mut hours = StaffHours::tenants();
    for (date, intervals) in own.overrides() {
        hours
            .set_override(date, intervals.to_vec())
            .map_err(|e| corrupt(e.to_string()))?;
    }
    Ok(hours)
}

/// How a staffed booking guards its person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffGuard {
    /// The tenant's lock shared (excluding every catalog change and every booking of a service
    /// without staff, which take it exclusively) and the person's lock exclusively: bookings of
    /// two people never wait for each other.
    PerStaff,
    /// The tenant's lock exclusively, as a service without staff (kept for measurement).
    TenantWide,
}

/// Takes the tenant's lock shared, then `person`'s exclusively, until the transaction ends: two
/// statements in one pipeline, so always in that order (no transaction ever holds a person's
/// lock while it waits for a tenant's).
#[tracing::instrument(level = "trace", name = "staff guard", skip_all)]
pub(crate) async fn lock_person(
    conn: &AsyncPgConnection,
    tenant_id: Uuid,
    person: StaffId,
) -> QueryResult<()> {
    let tenant = async {
        let mut conn = conn;
        diesel::sql_query("SELECT pg_advisory_xact_lock_shared($1, hashtext($2::text))")
            .bind::<Integer, _>(crate::guard::TENANT_LOCK_CLASS)
            .bind::<SqlUuid, _>(tenant_id)
            .execute(&mut conn)
            .await
    };
    let person = async {
        let mut conn = conn;
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
            .bind::<Integer, _>(STAFF_LOCK_CLASS)
            .bind::<SqlUuid, _>(person.as_uuid())
            .execute(&mut conn)
            .await
    };
    try_join(tenant, person).await.map(drop)
}

/// A service's staffed calendar inputs beside a job an owner places (or confirms, `except`
/// being that job): the service need not be active. Read under the tenant's guard.
pub(crate) async fn inputs_for_owner(
    conn: &AsyncPgConnection,
    tenant: &Tenant,
    service: &Service,
    (from, to): (NaiveDate, NaiveDate),
    except: Option<Uuid>,
) -> QueryResult<StaffedInputs> {
    let nothing = {
        let at = Calendar::jobs_window(from, to).0;
        (at, at)
    };
    let ((schedule, _), (roster, names, jobs, last_booked)) = try_join(
        catalog::service_calendar_inputs(conn, service.id, (from, to), nothing),
        roster_inputs(
            conn,
            service.id,
            (from, to),
            Calendar::jobs_window(from, to),
            except,
            true,
        ),
    )
    .await?;
    Ok(StaffedInputs {
        tenant: tenant.clone(),
        service: service.clone(),
        schedule,
        roster,
        names,
        jobs,
        last_booked,
    })
}

/// The active jobs of `people` overlapping `[from, to)` (but `except`), to name them in a
/// conflict.
pub(crate) async fn neighbours(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    people: &[Uuid],
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    except: Option<Uuid>,
) -> QueryResult<Vec<catalog::Neighbour>> {
    let rows: Vec<(Uuid, String, DateTime<Utc>, DateTime<Utc>)> = jobs::table
        .filter(jobs::tenant_id.eq(tenant_id))
        .filter(active_jobs())
        .filter(jobs::staff_id.eq_any(people))
        .filter(jobs::starts_at.ge(from - Duration::days(1)))
        .filter(jobs::starts_at.lt(to))
        .filter(jobs::ends_at.gt(from))
        .select((jobs::id, jobs::title, jobs::starts_at, jobs::ends_at))
        .order(jobs::starts_at)
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|(id, ..)| Some(*id) != except)
        .map(|(id, title, start, end)| catalog::Neighbour {
            id,
            title,
            period: OccupiedPeriod { start, end },
        })
        .collect())
}
