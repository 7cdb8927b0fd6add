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
    Hours, Schedule, SettingsPatch, WorkingInterval, no_longer_fitting, wall_time_moved,
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
use crate::schema::{date_overrides, services, tenant_changes, tenants};
use crate::tenant_setup::ServiceDefinition;

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

/// A tenant as its setup: the tenant, its whole schedule and every service (inactive too).
#[derive(Debug, Clone)]
pub struct TenantSetup {
    pub tenant: Tenant,
    pub schedule: Schedule,
    pub services: Vec<Service>,
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
}

fn int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn small(value: u16) -> i16 {
    i16::try_from(value).unwrap_or(i16::MAX)
}

/// The tenant's setup (read only: no lock).
pub async fn read(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> QueryResult<Option<TenantSetup>> {
    let Some(tenant) = catalog::tenant_by_id(conn, tenant_id).await? else {
        return Ok(None);
    };
    let schedule = catalog::tenant_schedule(conn, tenant_id).await?;
    let services = catalog::services_of(conn, tenant_id).await?;
    Ok(Some(TenantSetup {
        tenant,
        schedule,
        services,
    }))
}

/// The hours before the change, read under the guard.
pub(crate) struct Before {
    pub tenant: Tenant,
    pub schedule: Schedule,
}

/// The first half of every setup change: the tenant guard, and the hours as they are.
pub(crate) async fn begin(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> Result<Before, SetupError> {
    let tenant = guard::tenant(conn, tenant_id)
        .await?
        .ok_or(SetupError::TenantNotFound)?;
    let schedule = catalog::tenant_schedule(conn, tenant_id).await?;
    Ok(Before { tenant, schedule })
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
/// wall time.
pub(crate) fn affected(
    before: &Before,
    after: &TenantSetup,
    booked: Vec<JobRecord>,
) -> (Vec<JobRecord>, Vec<JobRecord>) {
    let periods: Vec<_> = booked
        .iter()
        .map(|job| (job.starts_at, job.ends_at))
        .collect();
    let old = Hours {
        zone: before.tenant.zone,
        settings: before.tenant.settings,
        schedule: &before.schedule,
    };
    let new = Hours {
        zone: after.tenant.zone,
        settings: after.tenant.settings,
        schedule: &after.schedule,
    };
    let outside = no_longer_fitting(&old, &new, &periods);
    let moved: Vec<JobRecord> = booked
        .iter()
        .filter(|job| wall_time_moved(old.zone, new.zone, job.starts_at))
        .cloned()
        .collect();
    let outside = booked
        .into_iter()
        .enumerate()
        .filter(|(index, _)| outside.contains(index))
        .map(|(_, job)| job)
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
            ))
            .execute(conn)
            .await?;
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
            let rows: Vec<_> = if intervals.is_empty() {
                // A closed date is one row without minutes.
                vec![(None, None)]
            } else {
                intervals
                    .iter()
                    .map(|i| (Some(small(i.start_minute())), Some(small(i.end_minute()))))
                    .collect()
            };
            let values: Vec<_> = rows
                .into_iter()
                .map(|(start, end)| {
                    (
                        date_overrides::tenant_id.eq(change.tenant_id),
                        date_overrides::on_date.eq(date),
                        date_overrides::start_minute.eq(start),
                        date_overrides::end_minute.eq(end),
                    )
                })
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
) -> Result<Changed<Service>, SetupError> {
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
) -> Result<Changed<Service>, SetupError> {
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
        let changed = finish(conn, &change, &before, "service").await?;
        service_of(changed, service_id)
    })
    .await
}

fn service_of(changed: Changed<TenantSetup>, id: Uuid) -> Result<Changed<Service>, SetupError> {
    let service = changed
        .value
        .services
        .into_iter()
        .find(|service| service.id == id)
        .ok_or(SetupError::ServiceNotFound)?;
    Ok(Changed {
        value: service,
        outside_hours: changed.outside_hours,
        wall_time_changed: changed.wall_time_changed,
    })
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
