//! The owner enters a job by hand (a phone booking, a walk-in recorded afterwards): `scheduled`
//! at once, anywhere in time (working hours do not bind the owner), but never beyond capacity.
//! No client mail: the owner speaks to the client.

use booking_domain::{ClientEmail, ClientName, JobSource, JobStatus, JobTitle, Notes, Phone};
use chrono::{DateTime, Duration, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use uuid::Uuid;

use super::{OwnerError, guard_capacity, staffed};
use crate::contacts::{self, GivenClient};
use crate::events::{self, NewEvent};
use crate::guard;
use crate::jobs::{self, InsertJob, JobRecord};
use crate::reminders::{self, Armed};

/// A job an owner enters by hand.
#[derive(Debug, Clone)]
pub struct HandEnteredJob {
    pub service_id: Uuid,
    pub start: DateTime<Utc>,
    pub name: ClientName,
    pub email: ClientEmail,
    pub phone: Option<Phone>,
    pub notes: Option<Notes>,
    pub title: Option<JobTitle>,
}

pub async fn enter_by_hand(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    job: &HandEnteredJob,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<JobRecord, OwnerError> {
    enter_by_hand_with_staff(conn, tenant_id, job, None, actor, now).await
}

/// As [`enter_by_hand`], naming the staff member (`None`: any available one, for a service
/// performed by staff): never beyond that person's capacity.
pub async fn enter_by_hand_with_staff(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    job: &HandEnteredJob,
    wanted: Option<Uuid>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<JobRecord, OwnerError> {
    conn.transaction::<_, OwnerError, _>(async move |conn| {
        let (tenant, service) = guard::tenant_service(conn, tenant_id, job.service_id)
            .await?
            .ok_or(OwnerError::ServiceNotFound)?;
        let end = job.start + Duration::minutes(i64::from(service.duration_minutes));
        let staff =
            staffed::assign_by_owner(conn, &tenant, &service, (job.start, end), wanted, None)
                .await?;
        if staff.is_none() {
            guard_capacity(conn, &tenant, job.start, end, None).await?;
        }
        let client = GivenClient {
            email: &job.email,
            name: &job.name,
            phone: job.phone.as_ref(),
        };
        let contact = contacts::upsert(conn, tenant.id, client).await?;
        let title = job
            .title
            .clone()
            .unwrap_or_else(|| JobTitle::for_booking(&service.name, &job.name));
        let insert = InsertJob {
            tenant_id: tenant.id,
            service_id: service.id,
            title: title.into_inner(),
            starts_at: job.start,
            ends_at: end,
            status: JobStatus::Scheduled.as_str(),
            notes: job
                .notes
                .as_ref()
                .filter(|n| !n.is_empty())
                .map(|n| n.as_str().to_owned()),
            source: JobSource::HandEntered.as_str(),
            changed_by: actor.to_owned(),
            client_name: job.name.as_str().to_owned(),
            client_phone: job.phone.as_ref().map(|p| p.as_str().to_owned()),
            staff_id: staff.as_ref().map(|person| person.id),
        };
        let entered = jobs::insert(conn, &insert, contact, tenant.zone).await?;
        let event = NewEvent::first(
            tenant.id,
            entered.id,
            now,
            actor,
            "entered",
            entered.status,
            entered.starts_at,
            entered.ends_at,
        );
        events::record(conn, &event).await?;
        // A job entered for the future is reminded like a booking; one in the past gets none.
        reminders::arm_new(
            conn,
            Armed {
                tenant_id: tenant.id,
                job_id: entered.id,
                status: entered.status,
                start: entered.starts_at,
                offsets: &tenant.settings.reminder_minutes_before,
                now,
            },
        )
        .await?;
        Ok(JobRecord { staff, ..entered })
    })
    .await
}
