//! Tenants, services and working hours: what a calendar is built from.

use booking_domain::{
    BookingSettings, Calendar, OccupiedPeriod, ReminderOffsets, Schedule, WorkingInterval,
};
use chrono::{DateTime, Duration, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::Bool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tracing::Instrument as _;
use uuid::Uuid;

use crate::schema::{date_overrides, jobs, services, tenants, working_hours};

/// A business, with its zone parsed and its settings typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub zone: Tz,
    pub notification_email: String,
    pub settings: BookingSettings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub slug: String,
    pub name: String,
    pub duration_minutes: u32,
    pub active: bool,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = tenants, check_for_backend(diesel::pg::Pg))]
pub(crate) struct TenantRow {
    id: Uuid,
    slug: String,
    name: String,
    time_zone: String,
    notification_email: String,
    require_confirmation: bool,
    allow_same_day: bool,
    min_notice_minutes: i32,
    max_advance_days: i32,
    max_bookings_per_slot: i32,
    slot_interval_minutes: i32,
    buffer_before_minutes: i32,
    buffer_after_minutes: i32,
    change_notice_minutes: i32,
    client_can_cancel: bool,
    client_can_reschedule: bool,
    reminder_minutes_before: Vec<Option<i32>>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = services, check_for_backend(diesel::pg::Pg))]
pub(crate) struct ServiceRow {
    id: Uuid,
    tenant_id: Uuid,
    slug: String,
    name: String,
    duration_minutes: i32,
    active: bool,
}

/// A stored value that the schema's checks should have made impossible.
pub(crate) fn corrupt(what: String) -> DieselError {
    DieselError::DeserializationError(what.into())
}

fn non_negative(field: &str, value: i32) -> Result<u32, DieselError> {
    u32::try_from(value).map_err(|_| corrupt(format!("{field} is negative ({value})")))
}

/// The stored offsets (the column's checks keep them in range and without nulls).
fn reminder_offsets(stored: &[Option<i32>]) -> Result<ReminderOffsets, DieselError> {
    let minutes = stored
        .iter()
        .map(|value| value.and_then(|minutes| u32::try_from(minutes).ok()))
        .collect::<Option<Vec<u32>>>()
        .ok_or_else(|| corrupt(format!("reminder_minutes_before {stored:?}")))?;
    ReminderOffsets::parse(&minutes).map_err(|e| corrupt(e.to_string()))
}

/// The offsets as the column stores them.
pub(crate) fn stored_offsets(offsets: &ReminderOffsets) -> Vec<i32> {
    offsets.minutes().iter().map(|&m| i32::from(m)).collect()
}

pub(crate) fn parse_zone(name: &str) -> Result<Tz, DieselError> {
    name.parse::<Tz>()
        .map_err(|_| corrupt(format!("unknown time zone `{name}`")))
}

impl TryFrom<TenantRow> for Tenant {
    type Error = DieselError;

    fn try_from(row: TenantRow) -> Result<Self, Self::Error> {
        Ok(Self {
            zone: parse_zone(&row.time_zone)?,
            settings: BookingSettings {
                require_confirmation: row.require_confirmation,
                allow_same_day: row.allow_same_day,
                min_notice_minutes: non_negative("min_notice_minutes", row.min_notice_minutes)?,
                max_advance_days: non_negative("max_advance_days", row.max_advance_days)?,
                max_bookings_per_slot: non_negative(
                    "max_bookings_per_slot",
                    row.max_bookings_per_slot,
                )?,
                slot_interval_minutes: non_negative(
                    "slot_interval_minutes",
                    row.slot_interval_minutes,
                )?,
                buffer_before_minutes: non_negative(
                    "buffer_before_minutes",
                    row.buffer_before_minutes,
                )?,
                buffer_after_minutes: non_negative(
                    "buffer_after_minutes",
                    row.buffer_after_minutes,
                )?,
                change_notice_minutes: non_negative(
                    "change_notice_minutes",
                    row.change_notice_minutes,
                )?,
                client_can_cancel: row.client_can_cancel,
                client_can_reschedule: row.client_can_reschedule,
                reminder_minutes_before: reminder_offsets(&row.reminder_minutes_before)?,
            },
            id: row.id,
            slug: row.slug,
            name: row.name,
            notification_email: row.notification_email,
        })
    }
}

impl TryFrom<ServiceRow> for Service {
    type Error = DieselError;

    fn try_from(row: ServiceRow) -> Result<Self, Self::Error> {
        Ok(Self {
            duration_minutes: non_negative("duration_minutes", row.duration_minutes)?,
            id: row.id,
            tenant_id: row.tenant_id,
            slug: row.slug,
            name: row.name,
            active: row.active,
        })
    }
}

/// The condition of the partial index on active jobs, as a literal so the planner can use it;
/// the same list as [`JobStatus::ACTIVE`] (tested below, and against the index in the database).
pub(crate) const ACTIVE_JOBS: &str =
    "jobs.status IN ('pending-confirmation', 'scheduled', 'in-progress')";

pub(crate) fn active_jobs() -> diesel::expression::SqlLiteral<Bool> {
    sql::<Bool>(ACTIVE_JOBS)
}

pub(crate) fn pair(row: (TenantRow, ServiceRow)) -> Result<(Tenant, Service), DieselError> {
    Ok((Tenant::try_from(row.0)?, Service::try_from(row.1)?))
}

/// An active service and its tenant; `None` for an unknown or inactive service. On a shared
/// connection, to pipeline it with other reads.
#[tracing::instrument(level = "trace", name = "service + tenant", skip_all)]
pub async fn bookable_service_on(
    mut conn: &AsyncPgConnection,
    service_id: Uuid,
) -> QueryResult<Option<(Tenant, Service)>> {
    services::table
        .inner_join(tenants::table)
        .filter(services::id.eq(service_id))
        .filter(services::active.eq(true))
        .select((TenantRow::as_select(), ServiceRow::as_select()))
        .first::<(TenantRow, ServiceRow)>(&mut conn)
        .await
        .optional()?
        .map(pair)
        .transpose()
}

/// A tenant and one of its services, active or not (read only: no lock).
pub async fn tenant_and_service(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    service_id: Uuid,
) -> QueryResult<Option<(Tenant, Service)>> {
    services::table
        .inner_join(tenants::table)
        .filter(services::id.eq(service_id))
        .filter(services::tenant_id.eq(tenant_id))
        .select((TenantRow::as_select(), ServiceRow::as_select()))
        .first::<(TenantRow, ServiceRow)>(conn)
        .await
        .optional()?
        .map(pair)
        .transpose()
}

/// A tenant by id (read only: no lock).
pub async fn tenant_by_id(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> QueryResult<Option<Tenant>> {
    tenants::table
        .find(tenant_id)
        .select(TenantRow::as_select())
        .first::<TenantRow>(conn)
        .await
        .optional()?
        .map(Tenant::try_from)
        .transpose()
}

/// A service of the tenant, active or not.
pub(crate) async fn service_of_tenant(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    service_id: Uuid,
) -> QueryResult<Option<Service>> {
    services::table
        .filter(services::id.eq(service_id))
        .filter(services::tenant_id.eq(tenant_id))
        .select(ServiceRow::as_select())
        .first::<ServiceRow>(conn)
        .await
        .optional()?
        .map(Service::try_from)
        .transpose()
}

pub async fn tenant_by_slug(
    conn: &mut AsyncPgConnection,
    slug: &str,
) -> QueryResult<Option<Tenant>> {
    tenants::table
        .filter(tenants::slug.eq(slug))
        .select(TenantRow::as_select())
        .first::<TenantRow>(conn)
        .await
        .optional()?
        .map(Tenant::try_from)
        .transpose()
}

fn weekday_from_iso(day: i16) -> Result<Weekday, DieselError> {
    u8::try_from(day)
        .ok()
        .and_then(|d| d.checked_sub(1))
        .and_then(|d| Weekday::try_from(d).ok())
        .ok_or_else(|| corrupt(format!("weekday {day} out of range")))
}

fn interval(start: i16, end: i16) -> Result<WorkingInterval, DieselError> {
    let minutes =
        |m: i16| u16::try_from(m).map_err(|_| corrupt(format!("minute {m} out of range")));
    WorkingInterval::from_minutes(minutes(start)?, minutes(end)?)
        .map_err(|e| corrupt(e.to_string()))
}

type WeeklyRow = (i16, i16, i16);
type OverrideRow = (NaiveDate, Option<i16>, Option<i16>);

/// What a calendar is built from, for the tenant of service `service_id`: its weekly hours, its
/// overrides for the dates `from..=to`, and its active jobs without a person overlapping
/// `[window_from, window_to)` (jobs last at most a day, a table constraint, so the scan is
/// bounded on the partial index by start time). The tenant is found by a subquery in each
/// statement rather than by an earlier read, so the three statements can follow the service
/// lookup (or the guard, [`crate::guard`]) in the same pipeline; Postgres runs them
/// in order, each after any lock taken before it. An unknown service reads nothing.
pub(crate) async fn service_calendar_inputs(
    conn: &AsyncPgConnection,
    service_id: Uuid,
    (from, to): (NaiveDate, NaiveDate),
    (window_from, window_to): (DateTime<Utc>, DateTime<Utc>),
) -> QueryResult<(Schedule, Vec<OccupiedPeriod>)> {
    let tenant_of = || {
        services::table
            .filter(services::id.eq(service_id))
            .select(services::tenant_id)
            .single_value()
    };
    let weekly = async {
        let mut conn = conn;
        working_hours::table
            .filter(working_hours::tenant_id.nullable().eq(tenant_of()))
            .select((
                working_hours::weekday,
                working_hours::start_minute,
                working_hours::end_minute,
            ))
            .load::<WeeklyRow>(&mut conn)
            .await
    };
    let overrides = async {
        let mut conn = conn;
        date_overrides::table
            .filter(date_overrides::tenant_id.nullable().eq(tenant_of()))
            .filter(date_overrides::on_date.between(from, to))
            .select((
                date_overrides::on_date,
                date_overrides::start_minute,
                date_overrides::end_minute,
            ))
            .load::<OverrideRow>(&mut conn)
            .await
    };
    let occupied = async {
        let mut conn = conn;
        jobs::table
            .filter(jobs::tenant_id.nullable().eq(tenant_of()))
            .filter(active_jobs())
            // Staffed jobs hold their person, not the tenant's capacity.
            .filter(jobs::staff_id.is_null())
            .filter(jobs::starts_at.ge(window_from - Duration::days(1)))
            .filter(jobs::starts_at.lt(window_to))
            .filter(jobs::ends_at.gt(window_from))
            .select((jobs::starts_at, jobs::ends_at))
            .order(jobs::starts_at)
            .load::<(DateTime<Utc>, DateTime<Utc>)>(&mut conn)
            .await
    };
    let (weekly, overrides, occupied) = futures_util::future::try_join3(
        weekly.instrument(tracing::trace_span!("weekly hours")),
        overrides.instrument(tracing::trace_span!("date overrides")),
        occupied.instrument(tracing::trace_span!("occupied jobs")),
    )
    .await?;
    let occupied = occupied
        .into_iter()
        .map(|(start, end)| OccupiedPeriod { start, end })
        .collect();
    Ok((build_schedule(weekly, overrides)?, occupied))
}

/// Everything one service's calendar is built from: its tenant (zone and settings), the service
/// (duration), the tenant's hours for the dates read and the active jobs around them.
#[derive(Debug, Clone)]
pub struct ServiceCalendar {
    pub tenant: Tenant,
    pub service: Service,
    pub schedule: Schedule,
    pub occupied: Vec<OccupiedPeriod>,
}

impl ServiceCalendar {
    /// The calendar that lists this service's slots and judges its bookings.
    pub fn calendar(&self) -> Calendar<'_> {
        Calendar::new(
            self.tenant.zone,
            self.tenant.settings,
            &self.schedule,
            self.service.duration_minutes,
            &self.occupied,
        )
    }
}

/// An active service, its tenant, and the calendar inputs for the dates `from..=to` — one
/// round trip (the service lookup and the three reads are pipelined). `None` for an unknown or
/// inactive service.
pub async fn service_with_calendar(
    conn: &AsyncPgConnection,
    service_id: Uuid,
    (from, to): (NaiveDate, NaiveDate),
) -> QueryResult<Option<ServiceCalendar>> {
    let (found, (schedule, occupied)) = futures_util::future::try_join(
        bookable_service_on(conn, service_id),
        service_calendar_inputs(
            conn,
            service_id,
            (from, to),
            Calendar::jobs_window(from, to),
        ),
    )
    .await?;
    Ok(found.map(|(tenant, service)| ServiceCalendar {
        tenant,
        service,
        schedule,
        occupied,
    }))
}

/// The local dates an instant can fall on in any zone (UTC−12 to UTC+14): its UTC date ± 1.
pub fn dates_around(instant: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let date = instant.date_naive();
    (
        date.pred_opt().unwrap_or(date),
        date.succ_opt().unwrap_or(date),
    )
}

pub(crate) fn build_schedule(
    weekly: Vec<(i16, i16, i16)>,
    overrides: Vec<(NaiveDate, Option<i16>, Option<i16>)>,
) -> QueryResult<Schedule> {
    let mut by_day: [Vec<WorkingInterval>; 7] = Default::default();
    for (day, start, end) in weekly {
        by_day[weekday_from_iso(day)?.num_days_from_monday() as usize].push(interval(start, end)?);
    }
    let mut schedule = Schedule::new();
    for (index, intervals) in by_day.into_iter().enumerate() {
        let day = Weekday::try_from(index as u8).map_err(|_| corrupt("weekday".to_owned()))?;
        schedule
            .set_weekday(day, intervals)
            .map_err(|e| corrupt(e.to_string()))?;
    }
    let mut by_date: std::collections::BTreeMap<NaiveDate, Vec<WorkingInterval>> =
        Default::default();
    for (date, start, end) in overrides {
        let intervals = by_date.entry(date).or_default();
        if let (Some(start), Some(end)) = (start, end) {
            intervals.push(interval(start, end)?);
        }
    }
    for (date, intervals) in by_date {
        schedule
            .set_override(date, intervals)
            .map_err(|e| corrupt(e.to_string()))?;
    }
    Ok(schedule)
}

/// An active job as a capacity neighbour: its id and title (to name it in a conflict) and span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    pub id: Uuid,
    pub title: String,
    pub period: OccupiedPeriod,
}

/// The tenant's active jobs without a person (those its capacity holds) overlapping `[from, to)`
/// with their ids and titles.
pub async fn neighbours(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> QueryResult<Vec<Neighbour>> {
    let rows: Vec<(Uuid, String, DateTime<Utc>, DateTime<Utc>)> = jobs::table
        .filter(jobs::tenant_id.eq(tenant_id))
        .filter(active_jobs())
        .filter(jobs::staff_id.is_null())
        .filter(jobs::starts_at.ge(from - Duration::days(1)))
        .filter(jobs::starts_at.lt(to))
        .filter(jobs::ends_at.gt(from))
        .select((jobs::id, jobs::title, jobs::starts_at, jobs::ends_at))
        .order(jobs::starts_at)
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, title, start, end)| Neighbour {
            id,
            title,
            period: OccupiedPeriod { start, end },
        })
        .collect())
}

/// A tenant's whole schedule: its week and every date override (read only: no lock; under the
/// guard, what the last holder committed).
pub async fn tenant_schedule(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> QueryResult<Schedule> {
    let weekly: Vec<WeeklyRow> = working_hours::table
        .filter(working_hours::tenant_id.eq(tenant_id))
        .select((
            working_hours::weekday,
            working_hours::start_minute,
            working_hours::end_minute,
        ))
        .load(conn)
        .await?;
    let overrides: Vec<OverrideRow> = date_overrides::table
        .filter(date_overrides::tenant_id.eq(tenant_id))
        .select((
            date_overrides::on_date,
            date_overrides::start_minute,
            date_overrides::end_minute,
        ))
        .load(conn)
        .await?;
    build_schedule(weekly, overrides)
}

/// Every service of a tenant, inactive ones too, by slug.
pub async fn services_of(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> QueryResult<Vec<Service>> {
    let rows: Vec<ServiceRow> = services::table
        .filter(services::tenant_id.eq(tenant_id))
        .select(ServiceRow::as_select())
        .order(services::slug)
        .load(conn)
        .await?;
    rows.into_iter().map(Service::try_from).collect()
}

#[cfg(test)]
mod tests {
    use booking_domain::JobStatus;

    #[test]
    fn the_active_jobs_condition_lists_exactly_the_active_statuses() {
        let listed: Vec<String> = JobStatus::ACTIVE
            .iter()
            .map(|status| format!("'{}'", status.as_str()))
            .collect();
        assert_eq!(
            super::ACTIVE_JOBS,
            format!("jobs.status IN ({})", listed.join(", "))
        );
    }
}
