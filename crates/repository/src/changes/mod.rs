//! Every transaction that changes a job, one file each, all of one shape: take the tenant
//! guard ([`crate::guard`]), read, decide in the domain, then write the job and its outbox rows
//! — in one transaction, so a change and its mails commit together or not at all.
//!
//! A new change (a client cancelling, say) is a new file here, beside these.

mod book;
mod confirm;
mod decline;
mod enter_by_hand;
mod staffed;

pub use book::{
    ALTERNATIVES, ALTERNATIVES_HORIZON_DAYS, Booked, BookingError, KeyRef, NewBooking, book,
    book_with_staff,
};
pub use confirm::confirm;
pub use decline::decline;
pub use enter_by_hand::{HandEnteredJob, enter_by_hand, enter_by_hand_with_staff};
pub use staffed::guard_staffed_bookings_with;

use booking_domain::{InvalidTransition, OccupiedPeriod, has_room};
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use crate::catalog::{self, Neighbour, Tenant};

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
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
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
