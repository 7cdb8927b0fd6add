//! Every transaction that changes a job, one file each, all of one shape: take the tenant
//! guard ([`crate::guard`]), read, decide in the domain, then write the job, its history entry
//! and its outbox rows — in one transaction, so a change, its history and its mails commit
//! together or not at all.
//!
//! A new change is a new file here, beside these. A client's cancel or move by the manage link
//! is the owner's change ([`cancel`], [`reschedule`]) asked by [`Requester::Client`]: the same
//! transaction, judged by the client's limits and (for a move) by the booking rules.

mod book;
mod cancel;
mod complete;
mod confirm;
mod decline;
mod enter_by_hand;
mod erase;
mod import;
mod no_show;
mod remind;
mod reschedule;
mod staffed;
mod start;

pub use book::{
    ALTERNATIVES, ALTERNATIVES_HORIZON_DAYS, Booked, BookingError, KeyRef, NewBooking, book,
    book_with_staff,
};
pub use cancel::cancel;
pub use complete::complete;
pub use confirm::confirm;
pub use decline::decline;
pub use enter_by_hand::{HandEnteredJob, enter_by_hand, enter_by_hand_with_staff};
pub use erase::{ERASED_NAME, EraseError, Erased, erase_contact};
pub use import::{ImportError, ImportReport, ImportRow, import};
pub use no_show::no_show;
pub use remind::{CLAIM_DUE as REMINDERS_DUE, Reminded, remind};
pub use reschedule::reschedule;
pub use staffed::guard_staffed_bookings_with;
pub use start::start;

use booking_domain::{
    BookingRejected, ClientChangeRefused, InvalidTransition, JobAction, JobStatus, MailKind,
    OccupiedPeriod, ReminderOffsets, Slot, decide, decide_for_client, has_room,
};
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use futures_util::future::try_join5;
use uuid::Uuid;

use crate::catalog::{self, Neighbour, Tenant};
use crate::events::{self, NewEvent};
use crate::jobs::{self, JobChange, JobRecord};
use crate::reminders::{self, Armed};
use crate::{guard, idempotency, outbox};

/// Why an owner's change of a job did not happen.
#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    #[error("job not found")]
    JobNotFound,
    #[error("service not found")]
    ServiceNotFound,
    /// Unknown, inactive or another tenant's staff member.
    #[error("staff member not found")]
    StaffNotFound,
    #[error("the staff member does not perform this service")]
    StaffNotQualified,
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// Capacity would be exceeded; the jobs that compete for it.
    #[error("the job would overbook")]
    Conflict {
        conflicts: Vec<Neighbour>,
        zone: chrono_tz::Tz,
    },
    /// The client may not do this: the tenant's settings forbid it.
    #[error("the tenant does not let clients do this")]
    ChangeNotAllowed(JobAction),
    /// The client asked inside the notice window; changes were possible until `until`.
    #[error("too late to change the booking")]
    TooLateToChange {
        until: DateTime<Utc>,
        zone: chrono_tz::Tz,
    },
    /// A client's new start breaks a booking rule (for a full slot: the next free slots).
    #[error("{reason}")]
    Rejected {
        reason: BookingRejected,
        alternatives: Vec<Slot>,
    },
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// Who asks for a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester {
    /// An owner of the job's tenant: anything the state machine allows.
    Owner,
    /// The booking's client, by the manage link of `version`: within the tenant's limits, and a
    /// link of another version finds no job.
    Client { version: u32 },
}

/// An owner's change of one job: the tenant's, which job, who asks, as of when, and the
/// idempotency key it is recorded under (when the request came with one).
#[derive(Debug, Clone, Copy)]
pub struct OwnerChange<'a> {
    pub tenant_id: Uuid,
    pub job_id: Uuid,
    /// `owner:<sub>`, as the history and `changed_by` show it.
    pub actor: &'a str,
    pub now: DateTime<Utc>,
    pub key: Option<KeyRef<'a>>,
    pub by: Requester,
}

impl<'a> OwnerChange<'a> {
    /// A client's change of the job their manage link (`job_id`, `version`) names; `None` when
    /// no such job exists. The job's tenant is read without a lock (it never changes); the
    /// version is checked under the guard, with the job locked.
    pub async fn by_client(
        conn: &mut AsyncPgConnection,
        job_id: Uuid,
        version: u32,
        now: DateTime<Utc>,
        key: Option<KeyRef<'a>>,
    ) -> diesel::QueryResult<Option<Self>> {
        Ok(jobs::tenant_of(conn, job_id).await?.map(|tenant_id| Self {
            tenant_id,
            job_id,
            actor: events::CLIENT,
            now,
            key,
            by: Requester::Client { version },
        }))
    }

    fn mails(&self, action: JobAction) -> &'static [MailKind] {
        match self.by {
            Requester::Owner => MailKind::for_owner_change(action),
            Requester::Client { .. } => MailKind::for_client_change(action),
        }
    }

    /// What a cancellation records as its author.
    fn cancelled_by(&self) -> &'static str {
        match self.by {
            Requester::Owner => "owner",
            Requester::Client { .. } => events::CLIENT,
        }
    }
}

impl From<ClientChangeRefused> for OwnerError {
    fn from(refused: ClientChangeRefused) -> Self {
        match refused {
            ClientChangeRefused::InvalidTransition(error) => Self::InvalidTransition(error),
            ClientChangeRefused::NotAllowed(action) => Self::ChangeNotAllowed(action),
            // The zone is filled in where the tenant is known (see `decide_on`).
            ClientChangeRefused::TooLate { until } => Self::TooLateToChange {
                until,
                zone: chrono_tz::UTC,
            },
        }
    }
}

/// The status code a landed change answers (and a replay of it repeats).
const CHANGED: u16 = 200;

/// The first half of every owner transition: the tenant guard, the job locked, and the domain's
/// decision on `action` as of `change.now`. Another tenant's job is not found, as a missing one.
async fn decide_on(
    conn: &mut AsyncPgConnection,
    change: &OwnerChange<'_>,
    action: JobAction,
) -> Result<(Tenant, JobRecord, JobStatus), OwnerError> {
    let tenant = guard::tenant(conn, change.tenant_id)
        .await?
        .ok_or(OwnerError::JobNotFound)?;
    let job = jobs::lock_for_tenant(conn, change.tenant_id, change.job_id)
        .await?
        .ok_or(OwnerError::JobNotFound)?;
    let status = match change.by {
        Requester::Owner => decide(job.status, action, job.starts_at, change.now)?,
        Requester::Client { version } if version != job.manage_version => {
            return Err(OwnerError::JobNotFound);
        }
        Requester::Client { .. } => decide_for_client(
            job.status,
            action,
            &tenant.settings,
            job.starts_at,
            change.now,
        )
        .map_err(|refused| match OwnerError::from(refused) {
            OwnerError::TooLateToChange { until, .. } => OwnerError::TooLateToChange {
                until,
                zone: tenant.zone,
            },
            other => other,
        })?,
    };
    Ok((tenant, job, status))
}

/// The second half: the job as `update` leaves it, its history entry, its mails (as the domain
/// says `action` mails), its reminders (replaced by those of `tenant`'s offsets: none unless it
/// stays scheduled) and its idempotency key, in one pipeline ([`write`]).
async fn write_change(
    conn: &AsyncPgConnection,
    change: &OwnerChange<'_>,
    tenant: &Tenant,
    job: &JobRecord,
    action: JobAction,
    update: JobChange<'_>,
) -> Result<JobRecord, OwnerError> {
    let event = NewEvent {
        id: Uuid::new_v4(),
        tenant_id: job.tenant_id,
        job_id: job.id,
        at: change.now,
        actor: change.actor,
        action: action.past(),
        from_status: Some(job.status.as_str()),
        to_status: Some(update.status.as_str()),
        from_start: Some(job.starts_at),
        to_start: Some(update.starts_at),
        from_end: Some(job.ends_at),
        to_end: Some(update.ends_at),
        reason: update.cancel_reason,
    };
    write(
        conn,
        Write {
            job,
            update,
            event,
            mails: change.mails(action),
            key: change.key,
            offsets: &tenant.settings.reminder_minutes_before,
            actor: change.actor,
            now: change.now,
        },
    )
    .await
    .map_err(OwnerError::from)
}

/// Everything one change of a locked job writes, decided.
pub(crate) struct Write<'a> {
    pub job: &'a JobRecord,
    pub update: JobChange<'a>,
    pub event: NewEvent<'a>,
    /// The mails it sends (recorded in the outbox, keyed by the event).
    pub mails: &'a [MailKind],
    /// The request's idempotency key, pointed at the job with the answer's status.
    pub key: Option<KeyRef<'a>>,
    /// The reminders the job has afterwards (none unless it is scheduled).
    pub offsets: &'a ReminderOffsets,
    pub actor: &'a str,
    pub now: DateTime<Utc>,
}

/// Writes a change of a job: the job, its history entry (and webhook deliveries), its mails,
/// its idempotency key and its reminders, in one pipeline (one round trip) — the one shape of
/// every job change after the decision (transitions, client changes, confirm, decline, an
/// erasure's cancellations).
pub(crate) async fn write(
    conn: &AsyncPgConnection,
    w: Write<'_>,
) -> diesel::QueryResult<JobRecord> {
    let armed = Armed {
        tenant_id: w.job.tenant_id,
        job_id: w.job.id,
        status: w.update.status,
        start: w.update.starts_at,
        offsets: w.offsets,
        now: w.now,
    };
    // The job's revision after this change (`jobs::apply_change` counts it up by one).
    let queued_by = outbox::QueuedBy {
        tenant_id: w.job.tenant_id,
        job_id: w.job.id,
        event_id: w.event.id,
        revision: w.job.revision + 1,
    };
    // Pipelined in this order: the history statement reads the changed job (webhook payload).
    let (changed, (), _, (), ()) = try_join5(
        jobs::apply_change(conn, w.job, w.update, w.actor),
        events::record(conn, &w.event),
        outbox::enqueue(conn, queued_by, w.mails, w.now),
        async {
            match w.key {
                Some(key) => {
                    idempotency::attach_change(conn, key.scope, key.key, w.job.id, CHANGED).await
                }
                None => Ok(()),
            }
        },
        reminders::rearm(conn, armed),
    )
    .await?;
    Ok(changed)
}

/// A change of status alone (start, complete, no-show): decided, then written, nothing else.
async fn change_status(
    conn: &mut AsyncPgConnection,
    change: OwnerChange<'_>,
    action: JobAction,
) -> Result<JobRecord, OwnerError> {
    use diesel_async::AsyncConnection;
    conn.transaction::<_, OwnerError, _>(async move |conn| {
        let (tenant, job, status) = decide_on(conn, &change, action).await?;
        let update = JobChange::status(&job, status);
        write_change(conn, &change, &tenant, &job, action, update).await
    })
    .await
}

impl JobChange<'static> {
    /// The job as it is, in `status`.
    pub(crate) fn status(job: &JobRecord, status: JobStatus) -> Self {
        Self {
            status,
            starts_at: job.starts_at,
            ends_at: job.ends_at,
            cancelled_by: None,
            cancel_reason: None,
            decline_reason: None,
            rotate_link: false,
        }
    }
}

/// Refuses `[start, end)` when it would push capacity over, naming the competing jobs (`except`
/// is the job being changed, which does not compete with itself). Working hours are not
/// consulted: owners may place jobs anywhere, never beyond capacity.
async fn guard_capacity(
    conn: &mut AsyncPgConnection,
    tenant: &Tenant,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    except: Option<Uuid>,
) -> Result<(), OwnerError> {
    let margin = tenant.settings.min_gap();
    let others: Vec<Neighbour> = catalog::neighbours(conn, tenant.id, start - margin, end + margin)
        .await?
        .into_iter()
        .filter(|n| Some(n.id) != except)
        .collect();
    let periods: Vec<OccupiedPeriod> = others.iter().map(|n| n.period).collect();
    if has_room(&tenant.settings, &periods, start, end) {
        return Ok(());
    }
    let conflicts = others
        .into_iter()
        .filter(|n| n.period.collides_with(start, end, &tenant.settings))
        .collect();
    Err(OwnerError::Conflict {
        conflicts,
        zone: tenant.zone,
    })
}
