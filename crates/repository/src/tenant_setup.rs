//! Onboarding: create or update a tenant (by slug) with its hours, overrides and services.

use std::collections::BTreeMap;

use booking_domain::{BookingSettings, Schedule, StaffCapacity, WEEK};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::upsert::{excluded, on_constraint};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{
    date_overrides, services, staff, staff_date_overrides, staff_services, staff_working_hours,
    tenants, working_hours,
};

#[derive(Debug, Clone)]
pub struct TenantDefinition {
    pub slug: String,
    pub name: String,
    pub zone: Tz,
    pub notification_email: String,
    pub settings: BookingSettings,
    pub schedule: Schedule,
    pub services: Vec<ServiceDefinition>,
    /// Staff, created or updated by slug; their services name the file's services by slug.
    pub staff: Vec<StaffDefinition>,
}

#[derive(Debug, Clone)]
pub struct StaffDefinition {
    pub slug: String,
    pub name: String,
    pub email: Option<String>,
    pub capacity: StaffCapacity,
    pub active: bool,
    /// `None`: the tenant's hours (their own date overrides still apply).
    pub working_hours: Option<Schedule>,
    /// Their date overrides (only the overrides of this schedule are used).
    pub date_overrides: Schedule,
    /// Slugs of services in the same file.
    pub services: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ServiceDefinition {
    pub slug: String,
    pub name: String,
    pub duration_minutes: u32,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedTenant {
    pub tenant_id: Uuid,
    pub services: BTreeMap<String, Uuid>,
    pub staff: BTreeMap<String, Uuid>,
}

pub(crate) fn int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

pub(crate) fn small(value: u16) -> i16 {
    i16::try_from(value).unwrap_or(i16::MAX)
}

/// A date override's rows as `(start_minute, end_minute)`: one per interval, and a closed date
/// (or a day off) one row without minutes. The tenant's and a person's overrides alike.
pub(crate) fn override_minutes(
    intervals: &[booking_domain::WorkingInterval],
) -> Vec<(Option<i16>, Option<i16>)> {
    if intervals.is_empty() {
        return vec![(None, None)];
    }
    intervals
        .iter()
        .map(|i| (Some(small(i.start_minute())), Some(small(i.end_minute()))))
        .collect()
}

/// Writes the definition in one transaction: the tenant's hours and overrides are replaced,
/// services are created or updated by slug (services missing from the file are left as they are).
/// The tenant's row is written first: the lock order every change of the tenant follows
/// ([`crate::guard`]).
pub async fn load_tenant(
    conn: &mut AsyncPgConnection,
    definition: &TenantDefinition,
) -> QueryResult<LoadedTenant> {
    conn.transaction(async move |conn| {
        // Bookings judge a request by the hours and settings they read under the guard: wholly
        // the old ones or wholly the new. The guard before the tenant row (its order).
        crate::guard::lock_by_slug(conn, &definition.slug).await?;
        let tenant_id = upsert_tenant(conn, definition).await?;
        crate::guard::lock(conn, tenant_id).await?;
        replace_hours(conn, tenant_id, &definition.schedule).await?;
        replace_overrides(conn, tenant_id, &definition.schedule).await?;
        let services = upsert_services(conn, tenant_id, &definition.services).await?;
        let staff = upsert_staff(conn, tenant_id, &definition.staff, &services).await?;
        // The tenant's future jobs are reminded by the offsets just loaded.
        crate::reminders::rearm_tenant(
            conn,
            tenant_id,
            &definition.settings.reminder_minutes_before,
            None,
        )
        .await?;
        Ok(LoadedTenant {
            tenant_id,
            services,
            staff,
        })
    })
    .await
}

/// A tenant's settings as its `tenants` columns, `(column.eq(value), …)`: the one list the
/// onboarding upsert and the owner's `PATCH /tenant` both write, so a new setting cannot be
/// forgotten in one of them.
macro_rules! settings_columns {
    ($settings:expr) => {{
        use $crate::schema::tenants;
        let s: &booking_domain::BookingSettings = $settings;
        let int = $crate::tenant_setup::int;
        (
            tenants::require_confirmation.eq(s.require_confirmation),
            tenants::allow_same_day.eq(s.allow_same_day),
            tenants::min_notice_minutes.eq(int(s.min_notice_minutes)),
            tenants::max_advance_days.eq(int(s.max_advance_days)),
            tenants::max_bookings_per_slot.eq(int(s.max_bookings_per_slot)),
            tenants::slot_interval_minutes.eq(int(s.slot_interval_minutes)),
            tenants::buffer_before_minutes.eq(int(s.buffer_before_minutes)),
            tenants::buffer_after_minutes.eq(int(s.buffer_after_minutes)),
            tenants::change_notice_minutes.eq(int(s.change_notice_minutes)),
            tenants::client_can_cancel.eq(s.client_can_cancel),
            tenants::client_can_reschedule.eq(s.client_can_reschedule),
            tenants::reminder_minutes_before
                .eq($crate::catalog::stored_offsets(&s.reminder_minutes_before)),
        )
    }};
}
pub(crate) use settings_columns;

async fn upsert_tenant(
    conn: &mut AsyncPgConnection,
    definition: &TenantDefinition,
) -> QueryResult<Uuid> {
    let values = (
        tenants::slug.eq(&definition.slug),
        tenants::name.eq(&definition.name),
        tenants::time_zone.eq(definition.zone.name()),
        tenants::notification_email.eq(&definition.notification_email),
        settings_columns!(&definition.settings),
    );
    diesel::insert_into(tenants::table)
        .values(values)
        .on_conflict(tenants::slug)
        .do_update()
        .set((
            tenants::name.eq(excluded(tenants::name)),
            tenants::time_zone.eq(excluded(tenants::time_zone)),
            tenants::notification_email.eq(excluded(tenants::notification_email)),
            tenants::require_confirmation.eq(excluded(tenants::require_confirmation)),
            tenants::allow_same_day.eq(excluded(tenants::allow_same_day)),
            tenants::min_notice_minutes.eq(excluded(tenants::min_notice_minutes)),
            tenants::max_advance_days.eq(excluded(tenants::max_advance_days)),
            tenants::max_bookings_per_slot.eq(excluded(tenants::max_bookings_per_slot)),
            tenants::slot_interval_minutes.eq(excluded(tenants::slot_interval_minutes)),
            tenants::buffer_before_minutes.eq(excluded(tenants::buffer_before_minutes)),
            tenants::buffer_after_minutes.eq(excluded(tenants::buffer_after_minutes)),
            tenants::change_notice_minutes.eq(excluded(tenants::change_notice_minutes)),
            tenants::client_can_cancel.eq(excluded(tenants::client_can_cancel)),
            tenants::client_can_reschedule.eq(excluded(tenants::client_can_reschedule)),
            tenants::reminder_minutes_before.eq(excluded(tenants::reminder_minutes_before)),
        ))
        .returning(tenants::id)
        .get_result(conn)
        .await
}

pub(crate) async fn replace_hours(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    schedule: &Schedule,
) -> QueryResult<()> {
    diesel::delete(working_hours::table.filter(working_hours::tenant_id.eq(tenant_id)))
        .execute(conn)
        .await?;
    let weekly: Vec<_> = WEEK
        .into_iter()
        .flat_map(|day| {
            schedule.weekday(day).iter().map(move |interval| {
                (
                    working_hours::tenant_id.eq(tenant_id),
                    working_hours::weekday.eq(small(day.number_from_monday() as u16)),
                    working_hours::start_minute.eq(small(interval.start_minute())),
                    working_hours::end_minute.eq(small(interval.end_minute())),
                )
            })
        })
        .collect();
    diesel::insert_into(working_hours::table)
        .values(&weekly)
        .execute(conn)
        .await?;
    Ok(())
}

/// A row of `date_overrides` as diesel inserts it.
pub(crate) type OverrideRow = (
    diesel::dsl::Eq<date_overrides::tenant_id, Uuid>,
    diesel::dsl::Eq<date_overrides::on_date, chrono::NaiveDate>,
    diesel::dsl::Eq<date_overrides::start_minute, Option<i16>>,
    diesel::dsl::Eq<date_overrides::end_minute, Option<i16>>,
);

/// One row of the tenant's `date_overrides`.
pub(crate) fn override_row(
    tenant_id: Uuid,
    date: chrono::NaiveDate,
    start: Option<i16>,
    end: Option<i16>,
) -> OverrideRow {
    (
        date_overrides::tenant_id.eq(tenant_id),
        date_overrides::on_date.eq(date),
        date_overrides::start_minute.eq(start),
        date_overrides::end_minute.eq(end),
    )
}

async fn replace_overrides(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    schedule: &Schedule,
) -> QueryResult<()> {
    diesel::delete(date_overrides::table.filter(date_overrides::tenant_id.eq(tenant_id)))
        .execute(conn)
        .await?;
    let overrides: Vec<_> = schedule
        .overrides()
        .flat_map(|(date, intervals)| {
            override_minutes(intervals)
                .into_iter()
                .map(move |(start, end)| override_row(tenant_id, date, start, end))
        })
        .collect();
    diesel::insert_into(date_overrides::table)
        .values(&overrides)
        .execute(conn)
        .await?;
    Ok(())
}

async fn upsert_services(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    definitions: &[ServiceDefinition],
) -> QueryResult<BTreeMap<String, Uuid>> {
    let mut loaded = BTreeMap::new();
    for service in definitions {
        let id: Uuid = diesel::insert_into(services::table)
            .values((
                services::tenant_id.eq(tenant_id),
                services::slug.eq(&service.slug),
                services::name.eq(&service.name),
                services::duration_minutes.eq(int(service.duration_minutes)),
                services::active.eq(service.active),
            ))
            .on_conflict(on_constraint("services_tenant_slug_key"))
            .do_update()
            .set((
                services::name.eq(excluded(services::name)),
                services::duration_minutes.eq(excluded(services::duration_minutes)),
                services::active.eq(excluded(services::active)),
            ))
            .returning(services::id)
            .get_result(conn)
            .await?;
        loaded.insert(service.slug.clone(), id);
    }
    Ok(loaded)
}

/// Staff are created or updated by slug (staff missing from the file are left as they are);
/// each one's hours, overrides and services are replaced by the file's. A service slug that is
/// not in the file is refused before anything is written ([`unknown_service`]).
async fn upsert_staff(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    definitions: &[StaffDefinition],
    services: &BTreeMap<String, Uuid>,
) -> QueryResult<BTreeMap<String, Uuid>> {
    let mut loaded = BTreeMap::new();
    for person in definitions {
        let performs: Vec<Uuid> = person
            .services
            .iter()
            .map(|slug| {
                services
                    .get(slug)
                    .copied()
                    .ok_or_else(|| unknown_service(person, slug))
            })
            .collect::<QueryResult<_>>()?;
        let id: Uuid = diesel::insert_into(staff::table)
            .values((
                staff::tenant_id.eq(tenant_id),
                staff::slug.eq(&person.slug),
                staff::name.eq(&person.name),
                staff::email.eq(person.email.as_deref()),
                staff::capacity.eq(int(person.capacity.get())),
                staff::active.eq(person.active),
                staff::own_hours.eq(person.working_hours.is_some()),
            ))
            .on_conflict(on_constraint("staff_tenant_slug_key"))
            .do_update()
            .set((
                staff::name.eq(excluded(staff::name)),
                staff::email.eq(excluded(staff::email)),
                staff::capacity.eq(excluded(staff::capacity)),
                staff::active.eq(excluded(staff::active)),
                staff::own_hours.eq(excluded(staff::own_hours)),
            ))
            .returning(staff::id)
            .get_result(conn)
            .await?;
        replace_staff_week(conn, tenant_id, id, person.working_hours.as_ref()).await?;
        replace_staff_overrides(conn, tenant_id, id, &person.date_overrides).await?;
        replace_staff_services(conn, tenant_id, id, &performs).await?;
        loaded.insert(person.slug.clone(), id);
    }
    Ok(loaded)
}

/// A staff member naming a service the file does not define (the tenant file's parser refuses
/// it first; this guards a definition built otherwise). Rolls the load back.
fn unknown_service(person: &StaffDefinition, slug: &str) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(
        format!(
            "staff `{}` performs `{slug}`, which is not a service of the file",
            person.slug
        )
        .into(),
    )
}

/// A person's week replaced: `Some` their own (`staff.own_hours` set), `None` the tenant's.
pub(crate) async fn replace_staff_week(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
    week: Option<&Schedule>,
) -> QueryResult<()> {
    diesel::update(staff::table.find(id))
        .set(staff::own_hours.eq(week.is_some()))
        .execute(conn)
        .await?;
    diesel::delete(staff_working_hours::table.filter(staff_working_hours::staff_id.eq(id)))
        .execute(conn)
        .await?;
    let Some(week) = week else {
        return Ok(());
    };
    let weekly: Vec<_> = WEEK
        .into_iter()
        .flat_map(|day| {
            week.weekday(day).iter().map(move |interval| {
                (
                    staff_working_hours::tenant_id.eq(tenant_id),
                    staff_working_hours::staff_id.eq(id),
                    staff_working_hours::weekday.eq(small(day.number_from_monday() as u16)),
                    staff_working_hours::start_minute.eq(small(interval.start_minute())),
                    staff_working_hours::end_minute.eq(small(interval.end_minute())),
                )
            })
        })
        .collect();
    diesel::insert_into(staff_working_hours::table)
        .values(&weekly)
        .execute(conn)
        .await
        .map(drop)
}

/// A person's date overrides replaced by those of `schedule`.
pub(crate) async fn replace_staff_overrides(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
    schedule: &Schedule,
) -> QueryResult<()> {
    diesel::delete(staff_date_overrides::table.filter(staff_date_overrides::staff_id.eq(id)))
        .execute(conn)
        .await?;
    for (date, intervals) in schedule.overrides() {
        set_staff_override(conn, tenant_id, id, date, Some(intervals)).await?;
    }
    Ok(())
}

/// One date of a person: `Some` its intervals (empty: off that day), `None` back to their week.
pub(crate) async fn set_staff_override(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
    date: chrono::NaiveDate,
    intervals: Option<&[booking_domain::WorkingInterval]>,
) -> QueryResult<()> {
    diesel::delete(
        staff_date_overrides::table
            .filter(staff_date_overrides::staff_id.eq(id))
            .filter(staff_date_overrides::on_date.eq(date)),
    )
    .execute(conn)
    .await?;
    let Some(intervals) = intervals else {
        return Ok(());
    };
    let rows: Vec<_> = override_minutes(intervals)
        .into_iter()
        .map(|(start, end)| {
            (
                staff_date_overrides::tenant_id.eq(tenant_id),
                staff_date_overrides::staff_id.eq(id),
                staff_date_overrides::on_date.eq(date),
                staff_date_overrides::start_minute.eq(start),
                staff_date_overrides::end_minute.eq(end),
            )
        })
        .collect();
    diesel::insert_into(staff_date_overrides::table)
        .values(&rows)
        .execute(conn)
        .await
        .map(drop)
}

/// The services a person performs, replaced.
pub(crate) async fn replace_staff_services(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
    services: &[Uuid],
) -> QueryResult<()> {
    diesel::delete(staff_services::table.filter(staff_services::staff_id.eq(id)))
        .execute(conn)
        .await?;
    let rows: Vec<_> = services
        .iter()
        .map(|service| {
            (
                staff_services::tenant_id.eq(tenant_id),
                staff_services::staff_id.eq(id),
                staff_services::service_id.eq(*service),
            )
        })
        .collect();
    diesel::insert_into(staff_services::table)
        .values(&rows)
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(drop)
}
