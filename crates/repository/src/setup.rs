//! The owner's changes of the business setup: the tenant's name, address, zone and settings,
//! its weekly hours, a date's override, its services. Every one has the shape of a job's
//! change ([`crate::changes`]): the tenant guard first, so a booking racing a change of hours
//! is judged wholly by the old or wholly by the new hours (a booking reads the hours after
//! taking the same lock); then the write; then, in the same transaction, the change's entry in
//! the tenant's audit list (`tenant_changes`) and what it means for the jobs already booked —
//! the future active jobs that fitted the hours before and no longer do (`outsideHours`), and
//! after a change of zone the jobs whose local wall time moved (they keep their instants).
//!
//! Availability reads the hours, settings and services from Postgres on every request (no
//! cache anywhere), so the request after a change's commit sees it.

use booking_domain::{
    Hours, Schedule, SettingsPatch, StaffCapacity, StaffHours, WorkingInterval, no_longer_fitting,
    wall_time_moved,
};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::catalog::{self, Service, Tenant};
use crate::guard;
use crate::jobs::{self, JobRecord};
use crate::schema::{
    date_overrides, services, staff, staff_date_overrides, staff_services, staff_working_hours,
    tenant_changes, tenants,
};
use crate::tenant_setup::{self, ServiceDefinition, StaffDefinition, int};

/// Who changes which tenant's setup, when, and what the change says (recorded as its `detail`
/// in the audit list: the new values, as the request wrote them).
#[derive(Debug, Clone, Copy)]
pub struct SetupChange<'a> {
    pub tenant_id: Uuid,
    /// `owner:<sub>` (or `system` for the operator's tools).
    pub actor: &'a str,
    pub now: DateTime<Utc>,
    pub detail: &'a serde_json::Value,
}

/// A tenant as its setup: the tenant, its whole schedule, every service and every staff
/// member (inactive ones too).
#[derive(Debug, Clone)]
pub struct TenantSetup {
    pub tenant: Tenant,
    pub schedule: Schedule,
    pub services: Vec<Service>,
    pub staff: Vec<StaffSetup>,
}

impl TenantSetup {
    /// The staff who perform `service` (by id).
    pub fn staff_of_service(&self, service: Uuid) -> Vec<Uuid> {
        self.staff
            .iter()
            .filter(|person| person.services.contains(&service))
            .map(|person| person.id)
            .collect()
    }

    /// The hours a job of `staff` (or of the tenant, `None`) is judged by. An inactive person
    /// works no hours: making someone inactive answers their future jobs as `outsideHours`.
    fn hours_of(&self, staff: Option<Uuid>) -> std::borrow::Cow<'_, Schedule> {
        match staff.and_then(|id| self.staff.iter().find(|person| person.id == id)) {
            Some(person) if !person.active => std::borrow::Cow::Owned(Schedule::new()),
            Some(person) => std::borrow::Cow::Owned(person.hours.effective(&self.schedule)),
            None => std::borrow::Cow::Borrowed(&self.schedule),
        }
    }
}

/// A staff member as the owner's setup shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSetup {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub email: Option<String>,
    pub capacity: StaffCapacity,
    pub active: bool,
    /// Their own week (or the tenant's) and their date overrides.
    pub hours: StaffHours,
    /// The ids of the services they perform.
    pub services: Vec<Uuid>,
}

/// A change that landed, with what it means for the jobs already booked.
#[derive(Debug, Clone)]
pub struct Changed<T> {
    pub value: T,
    /// Future active jobs that fitted the hours before the change and no longer do.
    pub outside_hours: Vec<JobRecord>,
    /// After a change of zone: future active jobs whose local wall time moved.
    pub wall_time_changed: Vec<JobRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("tenant not found")]
    TenantNotFound,
    #[error("service not found")]
    ServiceNotFound,
    /// Another service of the tenant has this slug.
    #[error("service slug `{0}` is taken")]
    SlugTaken(String),
    /// Unknown, or another tenant's.
    #[error("staff member not found")]
    StaffNotFound,
    /// Another staff member of the tenant has this slug.
    #[error("staff slug `{0}` is taken")]
    StaffSlugTaken(String),
    /// Cannot happen for a patch the edge checked (each bound is on one setting alone).
    #[error(transparent)]
    InvalidSettings(booking_domain::SettingsError),
    #[error(transparent)]
    Database(#[from] DieselError),
}

/// What a `PATCH /tenant` sets (absent: unchanged).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantEdit {
    pub name: Option<String>,
    pub notification_email: Option<String>,
    pub zone: Option<Tz>,
    /// Applied to the settings as they are under the guard.
    pub settings: Option<SettingsPatch>,
}

/// What a `PATCH /services/{id}` sets (absent: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceEdit {
    pub name: Option<String>,
    pub duration_minutes: Option<u32>,
    pub active: Option<bool>,
    /// The staff who perform it, replaced (`None`: unchanged).
    pub staff_ids: Option<Vec<Uuid>>,
}

/// What a `PATCH /staff/{id}` sets (absent: unchanged; `email: Some(None)` clears it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffEdit {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub capacity: Option<StaffCapacity>,
    pub active: Option<bool>,
    /// The services they perform, replaced.
    pub service_ids: Option<Vec<Uuid>>,
}

/// The tenant's setup (read only: no lock).
pub async fn read(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> QueryResult<Option<TenantSetup>> {
    match catalog::tenant_by_id(conn, tenant_id).await? {
        Some(tenant) => setup_of(conn, tenant).await.map(Some),
        None => Ok(None),
    }
}

/// The setup of `tenant`, already read: its schedule, services and staff.
async fn setup_of(conn: &mut AsyncPgConnection, tenant: Tenant) -> QueryResult<TenantSetup> {
    let schedule = catalog::tenant_schedule(conn, tenant.id).await?;
    let services = catalog::services_of(conn, tenant.id).await?;
    let staff = staff_of(conn, tenant.id).await?;
    Ok(TenantSetup {
        tenant,
        schedule,
        services,
        staff,
    })
}

/// A staff row: id, slug, name, email, capacity, active, own hours.
type StaffRow = (Uuid, String, String, Option<String>, i32, bool, bool);

/// Every staff member of a tenant with their hours (every override) and services, by slug.
pub async fn staff_of(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> QueryResult<Vec<StaffSetup>> {
    let members: Vec<StaffRow> = staff::table
        .filter(staff::tenant_id.eq(tenant_id))
        .select((
            staff::id,
            staff::slug,
            staff::name,
            staff::email,
            staff::capacity,
            staff::active,
            staff::own_hours,
        ))
        .order(staff::slug)
        .load(conn)
        .await?;
    let weekly: Vec<(Uuid, i16, i16, i16)> = staff_working_hours::table
        .filter(staff_working_hours::tenant_id.eq(tenant_id))
        .select((
            staff_working_hours::staff_id,
            staff_working_hours::weekday,
            staff_working_hours::start_minute,
            staff_working_hours::end_minute,
        ))
        .load(conn)
        .await?;
    let overrides: Vec<(Uuid, NaiveDate, Option<i16>, Option<i16>)> = staff_date_overrides::table
        .filter(staff_date_overrides::tenant_id.eq(tenant_id))
        .select((
            staff_date_overrides::staff_id,
            staff_date_overrides::on_date,
            staff_date_overrides::start_minute,
            staff_date_overrides::end_minute,
        ))
        .load(conn)
        .await?;
    let performs: Vec<(Uuid, Uuid)> = staff_services::table
        .filter(staff_services::tenant_id.eq(tenant_id))
        .select((staff_services::staff_id, staff_services::service_id))
        .order(staff_services::service_id)
        .load(conn)
        .await?;
    members
        .into_iter()
        .map(|(id, slug, name, email, capacity, active, own_hours)| {
            let week = weekly
                .iter()
                .filter(|row| row.0 == id && own_hours)
                .map(|&(_, day, start, end)| (day, start, end))
                .collect();
            let dates = overrides
                .iter()
                .filter(|row| row.0 == id)
                .map(|&(_, date, start, end)| (date, start, end))
                .collect();
            let hours = crate::staff::hours_from(own_hours, week, dates)?;
            let capacity = u32::try_from(capacity)
                .ok()
                .and_then(|places| StaffCapacity::new(places).ok())
                .ok_or_else(|| catalog::corrupt(format!("staff capacity {capacity}")))?;
            Ok(StaffSetup {
                id,
                slug,
                name,
                email,
                capacity,
                active,
                hours,
                services: performs
                    .iter()
                    .filter(|row| row.0 == id)
                    .map(|row| row.1)
                    .collect(),
            })
        })
        .collect()
}

/// The setup before the change (the tenant's hours and its people's), read under the guard.
pub(crate) struct Before {
    pub tenant: Tenant,
    pub setup: TenantSetup,
}

/// The first half of every setup change: the tenant guard, and the setup as it is.
pub(crate) async fn begin(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> Result<Before, SetupError> {
    let tenant = guard::tenant(conn, tenant_id)
        .await?
        .ok_or(SetupError::TenantNotFound)?;
    // The tenant as the guard read it: the setup's other parts beside it.
    let setup = setup_of(conn, tenant.clone()).await?;
    Ok(Before { tenant, setup })
}

/// The second half: the setup as the change left it, the jobs it affects, and its entry in
/// the audit list — in the change's transaction.
pub(crate) async fn finish(
    conn: &mut AsyncPgConnection,
    change: &SetupChange<'_>,
    before: &Before,
    what: &'static str,
) -> Result<Changed<TenantSetup>, SetupError> {
    let after = read(conn, change.tenant_id)
        .await?
        .ok_or(SetupError::TenantNotFound)?;
    let booked = jobs::future_active(conn, change.tenant_id, after.tenant.zone, change.now).await?;
    let (outside_hours, wall_time_changed) = affected(before, &after, booked);
    record(conn, change, what).await?;
    Ok(Changed {
        value: after,
        outside_hours,
        wall_time_changed,
    })
}

/// The jobs no longer inside the hours, and (after a change of zone) those shown at another
/// wall time. A job of a staff member is judged by that person's hours before and after (their
/// own week, or the tenant's, with their date overrides), any other job by the tenant's.
pub(crate) fn affected(
    before: &Before,
    after: &TenantSetup,
    booked: Vec<JobRecord>,
) -> (Vec<JobRecord>, Vec<JobRecord>) {
    let (old_zone, new_zone) = (before.tenant.zone, after.tenant.zone);
    let moved: Vec<JobRecord> = booked
        .iter()
        .filter(|job| wall_time_moved(old_zone, new_zone, job.starts_at))
        .cloned()
        .collect();
    // Each person's schedules once, however many jobs they have.
    let mut schedules: std::collections::BTreeMap<Option<Uuid>, (Schedule, Schedule)> =
        Default::default();
    let outside = booked
        .into_iter()
        .filter(|job| {
            let staff = job.staff.as_ref().map(|person| person.id);
            let (old, new) = schedules.entry(staff).or_insert_with(|| {
                (
                    before.setup.hours_of(staff).into_owned(),
                    after.hours_of(staff).into_owned(),
                )
            });
            let old = Hours {
                zone: old_zone,
                settings: before.tenant.settings,
                schedule: old,
            };
            let new = Hours {
                zone: new_zone,
                settings: after.tenant.settings,
                schedule: new,
            };
            !no_longer_fitting(&old, &new, &[(job.starts_at, job.ends_at)]).is_empty()
        })
        .collect();
    (outside, moved)
}

/// Records a change in the tenant's audit list.
async fn record(
    conn: &mut AsyncPgConnection,
    change: &SetupChange<'_>,
    what: &'static str,
) -> QueryResult<()> {
    diesel::insert_into(tenant_changes::table)
        .values((
            tenant_changes::tenant_id.eq(change.tenant_id),
            tenant_changes::at.eq(change.now),
            tenant_changes::actor.eq(change.actor),
            tenant_changes::what.eq(what),
            tenant_changes::detail.eq(change.detail),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// `PATCH /tenant`: name, address, zone and settings (merged by the caller). Jobs keep their
/// instants across a change of zone.
pub async fn edit_tenant(
    conn: &mut AsyncPgConnection,
    change: SetupChange<'_>,
    edit: &TenantEdit,
) -> Result<Changed<TenantSetup>, SetupError> {
    conn.transaction::<_, SetupError, _>(async move |conn| {
        let before = begin(conn, change.tenant_id).await?;
        let current = &before.tenant;
        let s = match &edit.settings {
            Some(patch) => patch
                .apply(current.settings)
                .map_err(SetupError::InvalidSettings)?,
            None => current.settings,
        };
        diesel::update(tenants::table.find(change.tenant_id))
            .set((
                tenants::name.eq(edit.name.as_deref().unwrap_or(&current.name)),
                tenants::notification_email.eq(edit
                    .notification_email
                    .as_deref()
                    .unwrap_or(&current.notification_email)),
                tenants::time_zone.eq(edit.zone.unwrap_or(current.zone).name()),
                tenant_setup::settings_columns!(&s),
            ))
            .execute(conn)
            .await?;
        // New offsets re-arm the future jobs' unsent reminders (those already due are not
        // sent: a reminder is never armed for a moment that has passed).
        if s.reminder_minutes_before != current.settings.reminder_minutes_before {
            crate::reminders::rearm_tenant(
                conn,
                change.tenant_id,
                &s.reminder_minutes_before,
                Some(change.now),
            )
            .await?;
        }
        finish(conn, &change, &before, "tenant").await
    })
    .await
}

/// `PUT /tenant/working-hours`: the week replaced (`week`'s weekly part; its overrides are
/// not consulted).
pub async fn replace_working_hours(
    conn: &mut AsyncPgConnection,
    change: SetupChange<'_>,
    week: &Schedule,
) -> Result<Changed<TenantSetup>, SetupError> {
    conn.transaction::<_, SetupError, _>(async move |conn| {
        let before = begin(conn, change.tenant_id).await?;
        crate::tenant_setup::replace_hours(conn, change.tenant_id, week).await?;
        finish(conn, &change, &before, "working-hours").await
    })
    .await
}

/// `PUT /tenant/date-overrides/{date}` (`Some`: the date's intervals, empty closes it) and
/// `DELETE` (`None`: the date follows its weekday again).
pub async fn set_date_override(
    conn: &mut AsyncPgConnection,
    change: SetupChange<'_>,
    date: NaiveDate,
    intervals: Option<&[WorkingInterval]>,
) -> Result<Changed<TenantSetup>, SetupError> {
    conn.transaction::<_, SetupError, _>(async move |conn| {
        let before = begin(conn, change.tenant_id).await?;
        diesel::delete(
            date_overrides::table
                .filter(date_overrides::tenant_id.eq(change.tenant_id))
                .filter(date_overrides::on_date.eq(date)),
        )
        .execute(conn)
        .await?;
        if let Some(intervals) = intervals {
            let values: Vec<_> = tenant_setup::override_minutes(intervals)
                .into_iter()
                .map(|(start, end)| tenant_setup::override_row(change.tenant_id, date, start, end))
                .collect();
            diesel::insert_into(date_overrides::table)
                .values(&values)
                .execute(conn)
                .await?;
        }
        finish(conn, &change, &before, "date-override").await
    })
    .await
}

fn slug_taken(error: DieselError, slug: &str) -> SetupError {
    match &error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some("services_tenant_slug_key") =>
        {
            SetupError::SlugTaken(slug.to_owned())
        }
        _ => SetupError::Database(error),
    }
}

/// `POST /services`: a new service of the tenant.
pub async fn create_service(
    conn: &mut AsyncPgConnection,
    change: SetupChange<'_>,
    service: &ServiceDefinition,
    staff_ids: Option<&[Uuid]>,
) -> Result<Changed<ServiceSetup>, SetupError> {
    conn.transaction::<_, SetupError, _>(async move |conn| {
        let before = begin(conn, change.tenant_id).await?;
        let id: Uuid = diesel::insert_into(services::table)
            .values((
                services::tenant_id.eq(change.tenant_id),
                services::slug.eq(&service.slug),
                services::name.eq(&service.name),
                services::duration_minutes.eq(int(service.duration_minutes)),
                services::active.eq(service.active),
            ))
            .returning(services::id)
            .get_result(conn)
            .await
            .map_err(|e| slug_taken(e, &service.slug))?;
        if let Some(staff_ids) = staff_ids {
            replace_service_staff(conn, change.tenant_id, id, staff_ids).await?;
        }
        let changed = finish(conn, &change, &before, "service-created").await?;
        service_of(changed, id)
    })
    .await
}

/// `PATCH /services/{id}`: another tenant's service is not found, as a missing one. A new
/// length applies to new bookings; booked jobs keep theirs.
pub async fn edit_service(
    conn: &mut AsyncPgConnection,
    change: SetupChange<'_>,
    service_id: Uuid,
    edit: &ServiceEdit,
) -> Result<Changed<ServiceSetup>, SetupError> {
    conn.transaction::<_, SetupError, _>(async move |conn| {
        let before = begin(conn, change.tenant_id).await?;
        let current = catalog::tenant_and_service(conn, change.tenant_id, service_id)
            .await?
            .map(|(_, service)| service)
            .ok_or(SetupError::ServiceNotFound)?;
        diesel::update(
            services::table
                .filter(services::id.eq(service_id))
                .filter(services::tenant_id.eq(change.tenant_id)),
        )
        .set((
            services::name.eq(edit.name.as_deref().unwrap_or(&current.name)),
            services::duration_minutes.eq(int(edit
                .duration_minutes
                .unwrap_or(current.duration_minutes))),
            services::active.eq(edit.active.unwrap_or(current.active)),
        ))
        .execute(conn)
        .await?;
        if let Some(staff_ids) = &edit.staff_ids {
            replace_service_staff(conn, change.tenant_id, service_id, staff_ids).await?;
        }
        let changed = finish(conn, &change, &before, "service").await?;
        service_of(changed, service_id)
    })
    .await
}

fn service_of(
    changed: Changed<TenantSetup>,
    id: Uuid,
) -> Result<Changed<ServiceSetup>, SetupError> {
    let staff_ids = changed.value.staff_of_service(id);
    let service = changed
        .value
        .services
        .into_iter()
        .find(|service| service.id == id)
        .ok_or(SetupError::ServiceNotFound)?;
    Ok(Changed {
        value: ServiceSetup { service, staff_ids },
        outside_hours: changed.outside_hours,
        wall_time_changed: changed.wall_time_changed,
    })
}

/// A service as the owner's setup shows it: the service and who performs it.
#[derive(Debug, Clone)]
pub struct ServiceSetup {
    pub service: Service,
    pub staff_ids: Vec<Uuid>,
}

/// The staff who perform a service, replaced; every id must be the tenant's.
async fn replace_service_staff(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    service_id: Uuid,
    staff_ids: &[Uuid],
) -> Result<(), SetupError> {
    let known: i64 = staff::table
        .filter(staff::tenant_id.eq(tenant_id))
        .filter(staff::id.eq_any(staff_ids))
        .count()
        .get_result(conn)
        .await?;
    if usize::try_from(known).ok() != Some(distinct(staff_ids)) {
        return Err(SetupError::StaffNotFound);
    }
    diesel::delete(staff_services::table.filter(staff_services::service_id.eq(service_id)))
        .execute(conn)
        .await?;
    let rows: Vec<_> = staff_ids
        .iter()
        .map(|id| {
            (
                staff_services::tenant_id.eq(tenant_id),
                staff_services::staff_id.eq(*id),
                staff_services::service_id.eq(service_id),
            )
        })
        .collect();
    diesel::insert_into(staff_services::table)
        .values(&rows)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

fn distinct(ids: &[Uuid]) -> usize {
    ids.iter().collect::<std::collections::BTreeSet<_>>().len()
}

/// Every id in `service_ids` is a service of the tenant (inactive ones too).
async fn check_services(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    service_ids: &[Uuid],
) -> Result<(), SetupError> {
    let known: i64 = services::table
        .filter(services::tenant_id.eq(tenant_id))
        .filter(services::id.eq_any(service_ids))
        .count()
        .get_result(conn)
        .await?;
    if usize::try_from(known).ok() == Some(distinct(service_ids)) {
        Ok(())
    } else {
        Err(SetupError::ServiceNotFound)
    }
}

fn staff_slug_taken(error: DieselError, slug: &str) -> SetupError {
    match &error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some("staff_tenant_slug_key") =>
        {
            SetupError::StaffSlugTaken(slug.to_owned())
        }
        _ => SetupError::Database(error),
    }
}

/// The staff member `id` of the tenant, locked for the change; another tenant's is not found.
async fn lock_staff(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<(), SetupError> {
    staff::table
        .filter(staff::id.eq(id))
        .filter(staff::tenant_id.eq(tenant_id))
        .select(staff::id)
        .for_update()
        .first::<Uuid>(conn)
        .await
        .optional()?
        .map(drop)
        .ok_or(SetupError::StaffNotFound)
}

fn staff_member(
    changed: Changed<TenantSetup>,
    id: Uuid,
) -> Result<Changed<StaffSetup>, SetupError> {
    let person = changed
        .value
        .staff
        .into_iter()
        .find(|person| person.id == id)
        .ok_or(SetupError::StaffNotFound)?;
    Ok(Changed {
        value: person,
        outside_hours: changed.outside_hours,
        wall_time_changed: changed.wall_time_changed,
    })
}

/// `POST /staff`: a new, active staff member with their hours (none: the tenant's), date
/// overrides and the services they perform (ids of the tenant's services).
pub async fn create_staff(
    conn: &mut AsyncPgConnection,
    change: SetupChange<'_>,
    person: &StaffDefinition,
    service_ids: &[Uuid],
) -> Result<Changed<StaffSetup>, SetupError> {
    conn.transaction::<_, SetupError, _>(async move |conn| {
        let before = begin(conn, change.tenant_id).await?;
        check_services(conn, change.tenant_id, service_ids).await?;
        let id: Uuid = diesel::insert_into(staff::table)
            .values((
                staff::tenant_id.eq(change.tenant_id),
                staff::slug.eq(&person.slug),
                staff::name.eq(&person.name),
                staff::email.eq(person.email.as_deref()),
                staff::capacity.eq(int(person.capacity.get())),
                staff::active.eq(person.active),
                staff::own_hours.eq(person.working_hours.is_some()),
            ))
            .returning(staff::id)
            .get_result(conn)
            .await
            .map_err(|e| staff_slug_taken(e, &person.slug))?;
        let tenant_id = change.tenant_id;
        tenant_setup::replace_staff_week(conn, tenant_id, id, person.working_hours.as_ref())
            .await?;
        tenant_setup::replace_staff_overrides(conn, tenant_id, id, &person.date_overrides).await?;
        tenant_setup::replace_staff_services(conn, tenant_id, id, service_ids).await?;
        let changed = finish(conn, &change, &before, "staff-created").await?;
        staff_member(changed, id)
    })
    .await
}

/// `PATCH /staff/{id}`: name, address, capacity, active, the services they perform. Their
/// booked jobs stay theirs (a person made inactive keeps their jobs; the owner moves them).
pub async fn edit_staff(
    conn: &mut AsyncPgConnection,
    change: SetupChange<'_>,
    id: Uuid,
    edit: &StaffEdit,
) -> Result<Changed<StaffSetup>, SetupError> {
    conn.transaction::<_, SetupError, _>(async move |conn| {
        let before = begin(conn, change.tenant_id).await?;
        lock_staff(conn, change.tenant_id, id).await?;
        let current = before
            .setup
            .staff
            .iter()
            .find(|person| person.id == id)
            .ok_or(SetupError::StaffNotFound)?;
        if let Some(service_ids) = &edit.service_ids {
            check_services(conn, change.tenant_id, service_ids).await?;
            tenant_setup::replace_staff_services(conn, change.tenant_id, id, service_ids).await?;
        }
        diesel::update(staff::table.find(id))
            .set((
                staff::name.eq(edit.name.as_deref().unwrap_or(&current.name)),
                staff::email.eq(match &edit.email {
                    Some(email) => email.as_deref(),
                    None => current.email.as_deref(),
                }),
                staff::capacity.eq(int(edit.capacity.unwrap_or(current.capacity).get())),
                staff::active.eq(edit.active.unwrap_or(current.active)),
            ))
            .execute(conn)
            .await?;
        let changed = finish(conn, &change, &before, "staff").await?;
        staff_member(changed, id)
    })
    .await
}

/// `PUT /staff/{id}/working-hours`: their own week (`week`'s weekly part; `None`: the tenant's
/// again) replaces the one they worked; their jobs outside it come back as `outsideHours`.
pub async fn replace_staff_hours(
    conn: &mut AsyncPgConnection,
    change: SetupChange<'_>,
    id: Uuid,
    week: Option<&Schedule>,
) -> Result<Changed<StaffSetup>, SetupError> {
    conn.transaction::<_, SetupError, _>(async move |conn| {
        let before = begin(conn, change.tenant_id).await?;
        lock_staff(conn, change.tenant_id, id).await?;
        tenant_setup::replace_staff_week(conn, change.tenant_id, id, week).await?;
        let changed = finish(conn, &change, &before, "staff-working-hours").await?;
        staff_member(changed, id)
    })
    .await
}

/// `PUT /staff/{id}/date-overrides/{date}` (`Some`: that date's intervals, empty: off) and
/// `DELETE` (`None`: the date follows their week again).
pub async fn set_staff_date_override(
    conn: &mut AsyncPgConnection,
    change: SetupChange<'_>,
    id: Uuid,
    date: NaiveDate,
    intervals: Option<&[WorkingInterval]>,
) -> Result<Changed<StaffSetup>, SetupError> {
    conn.transaction::<_, SetupError, _>(async move |conn| {
        let before = begin(conn, change.tenant_id).await?;
        lock_staff(conn, change.tenant_id, id).await?;
        tenant_setup::set_staff_override(conn, change.tenant_id, id, date, intervals).await?;
        let changed = finish(conn, &change, &before, "staff-date-override").await?;
        staff_member(changed, id)
    })
    .await
}

/// One entry of the tenant's audit list.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = tenant_changes, check_for_backend(diesel::pg::Pg))]
pub struct TenantChange {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub what: String,
    pub detail: serde_json::Value,
}

/// The tenant's latest `limit` setup changes, newest first.
pub async fn changes(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    limit: u32,
) -> QueryResult<Vec<TenantChange>> {
    tenant_changes::table
        .filter(tenant_changes::tenant_id.eq(tenant_id))
        .order(tenant_changes::position.desc())
        .limit(i64::from(limit))
        .select(TenantChange::as_select())
        .load(conn)
        .await
}

/// Records a change of the tenant that is not a setup change (an erasure, an import) in its
/// audit list, on the change's own connection and transaction.
pub(crate) async fn record_other(
    conn: &mut AsyncPgConnection,
    change: &SetupChange<'_>,
    what: &'static str,
) -> QueryResult<()> {
    record(conn, change, what).await
}
