//! The mails a job's state changes send, what they say, and how often a failed one is retried.
//! Which mails a change produces is decided here, once, so the transactions that change jobs
//! can never disagree about it.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use crate::{JobAction, JobStatus};

/// One of the mails. Each change of a job (its booking, a confirmation, each reschedule …) gets
/// each kind at most once (a table constraint), so a retried request can never mail twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// To the client: the booking landed as `scheduled` (instant confirmation).
    ClientBooked,
    /// To the client: the booking landed as `pending-confirmation`.
    ClientPending,
    /// To the client: the owner confirmed the booking.
    ClientConfirmed,
    /// To the client: the owner declined the booking, with a reason.
    ClientDeclined,
    /// To the owner: a client booked, perhaps waiting for confirmation.
    OwnerNewBooking,
    /// To the client: the business cancelled the booking (with its reason, if given).
    ClientCancelled,
    /// To the client: the booking moved to another time (by the business, or by the client).
    ClientRescheduled,
    /// To the owner: the client cancelled their booking by its manage link.
    OwnerBookingCancelled,
    /// To the owner: the client moved their booking (old and new time).
    OwnerBookingRescheduled,
    /// To the client: a scheduled booking is coming up (sent by the relay, once per reminder).
    ClientReminder,
    /// To the owner, once per job: mail to the job's client is suppressed (their address
    /// bounced for good or complained), so the business should reach them another way.
    OwnerClientUnreachable,
}

impl MailKind {
    pub const ALL: [MailKind; 11] = [
        Self::ClientBooked,
        Self::ClientPending,
        Self::ClientConfirmed,
        Self::ClientDeclined,
        Self::OwnerNewBooking,
        Self::ClientCancelled,
        Self::ClientRescheduled,
        Self::OwnerBookingCancelled,
        Self::OwnerBookingRescheduled,
        Self::ClientReminder,
        Self::OwnerClientUnreachable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientBooked => "client-booked",
            Self::ClientPending => "client-pending",
            Self::ClientConfirmed => "client-confirmed",
            Self::ClientDeclined => "client-declined",
            Self::OwnerNewBooking => "owner-new-booking",
            Self::ClientCancelled => "client-cancelled",
            Self::ClientRescheduled => "client-rescheduled",
            Self::OwnerBookingCancelled => "owner-booking-cancelled",
            Self::OwnerBookingRescheduled => "owner-booking-rescheduled",
            Self::ClientReminder => "client-reminder",
            Self::OwnerClientUnreachable => "owner-client-unreachable",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Client mails go to the person who booked and carry a calendar invitation; the owner
    /// mail goes to the tenant's notification address.
    pub fn is_for_client(self) -> bool {
        !matches!(
            self,
            Self::OwnerNewBooking
                | Self::OwnerBookingCancelled
                | Self::OwnerBookingRescheduled
                | Self::OwnerClientUnreachable
        )
    }

    /// The mails of a public booking: the client's (instant or pending) and the owner's.
    pub fn for_new_booking(status_is_pending: bool) -> [MailKind; 2] {
        let client = if status_is_pending {
            Self::ClientPending
        } else {
            Self::ClientBooked
        };
        [client, Self::OwnerNewBooking]
    }

    /// The mail of an owner's confirmation.
    pub fn for_confirm() -> MailKind {
        Self::ClientConfirmed
    }

    /// The mail of a due reminder.
    pub fn for_reminder() -> MailKind {
        Self::ClientReminder
    }

    /// The mail of an owner's decline.
    pub fn for_decline() -> MailKind {
        Self::ClientDeclined
    }

    /// The mails of an owner's change: the client hears of a cancellation and of a move; a
    /// start, a completion or a no-show mails nobody (owners' own actions mail only the client).
    pub fn for_owner_change(action: JobAction) -> &'static [MailKind] {
        match action {
            JobAction::Confirm => &[Self::ClientConfirmed],
            JobAction::Decline => &[Self::ClientDeclined],
            JobAction::Cancel => &[Self::ClientCancelled],
            JobAction::Reschedule => &[Self::ClientRescheduled],
            JobAction::Start | JobAction::Complete | JobAction::NoShow => &[],
        }
    }

    /// The mails of a client's own change by the manage link: the client's confirmation, and
    /// a notice to the owner.
    pub fn for_client_change(action: JobAction) -> &'static [MailKind] {
        match action {
            JobAction::Cancel => &[Self::ClientCancelled, Self::OwnerBookingCancelled],
            JobAction::Reschedule => &[Self::ClientRescheduled, Self::OwnerBookingRescheduled],
            _ => &[],
        }
    }
}

impl std::fmt::Display for MailKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a mail is on its way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailStatus {
    /// Not yet accepted by SES: due now, leased by a sender, or waiting for its next attempt.
    Pending,
    /// Accepted by SES (its message id is kept).
    Sent,
    /// Given up: its recipient refused for good, or the mail cannot be built.
    Failed,
    /// Never sent: its recipient's address is on the tenant's suppression list (SES reported a
    /// permanent bounce or a complaint).
    Suppressed,
}

impl MailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Suppressed => "suppressed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Sent, Self::Failed, Self::Suppressed]
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

impl std::fmt::Display for MailStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const FIRST_RETRY_SECONDS: i64 = 30;
const LONGEST_WAIT_SECONDS: i64 = 60 * 60;

/// How long to wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min, … doubling,
/// capped at one hour. A mail that fails for a passing reason is retried at the cap for as long
/// as it takes (an outage, a sender identity to fix): it is never given up, and the outbox's
/// backlog alarm tells the operator; only a refusal of its recipient gives it up.
pub fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    let seconds = FIRST_RETRY_SECONDS.saturating_mul(1_i64 << doublings);
    Duration::seconds(seconds.min(LONGEST_WAIT_SECONDS))
}

/// Everything a mail about a job shows, loaded when the mail is sent (not when it is queued),
/// so it always tells the job as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct MailContext {
    pub job_id: Uuid,
    pub tenant_name: String,
    /// The tenant's zone: every time in a mail is shown in it.
    pub zone: Tz,
    /// The owner's address: recipient of owner mails, Reply-To of client mails.
    pub notification_email: String,
    pub service_name: String,
    pub title: String,
    pub status: JobStatus,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub notes: Option<String>,
    pub decline_reason: Option<String>,
    /// Why the business cancelled, when it said.
    pub cancel_reason: Option<String>,
    pub client_name: String,
    pub client_email: String,
    pub client_phone: Option<String>,
    /// When the job last changed (the calendar invitation's DTSTAMP).
    pub changed_at: DateTime<Utc>,
    /// How many times the job has changed: the invitation's SEQUENCE never falls below it.
    pub revision: u32,
    /// The job's current manage-link version: client mails link to its token.
    pub manage_version: u32,
    /// Who cancelled (`client` or `owner`), for a cancelled job.
    pub cancelled_by: Option<String>,
    /// Where the job was before its latest move, for the owner's notice of a client's move.
    pub previous: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in MailKind::ALL {
            assert_eq!(MailKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(MailKind::parse("client-canceled"), None);
        for status in [
            MailStatus::Pending,
            MailStatus::Sent,
            MailStatus::Failed,
            MailStatus::Suppressed,
        ] {
            assert_eq!(MailStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(MailStatus::parse("queued"), None);
    }

    #[test]
    fn only_the_owner_notices_go_to_the_owner() {
        let for_client: Vec<_> = MailKind::ALL
            .into_iter()
            .filter(|k| k.is_for_client())
            .collect();
        assert_eq!(for_client.len(), 7);
        assert!(!MailKind::OwnerNewBooking.is_for_client());
        assert!(!MailKind::OwnerBookingCancelled.is_for_client());
        assert!(!MailKind::OwnerBookingRescheduled.is_for_client());
        assert!(!MailKind::OwnerClientUnreachable.is_for_client());
    }

    #[test]
    fn a_booking_mails_the_client_and_the_owner_by_its_status() {
        assert_eq!(
            MailKind::for_new_booking(false),
            [MailKind::ClientBooked, MailKind::OwnerNewBooking]
        );
        assert_eq!(
            MailKind::for_new_booking(true),
            [MailKind::ClientPending, MailKind::OwnerNewBooking]
        );
        assert_eq!(MailKind::for_confirm(), MailKind::ClientConfirmed);
        assert_eq!(MailKind::for_decline(), MailKind::ClientDeclined);
    }

    #[test]
    fn an_owner_cancel_or_move_mails_the_client_and_nothing_else_mails_anyone() {
        for action in JobAction::ALL {
            let expected: &[MailKind] = match action {
                JobAction::Confirm => &[MailKind::ClientConfirmed],
                JobAction::Decline => &[MailKind::ClientDeclined],
                JobAction::Cancel => &[MailKind::ClientCancelled],
                JobAction::Reschedule => &[MailKind::ClientRescheduled],
                _ => &[],
            };
            assert_eq!(MailKind::for_owner_change(action), expected, "{action}");
            assert!(
                MailKind::for_owner_change(action)
                    .iter()
                    .all(|k| k.is_for_client())
            );
        }
    }

    #[test]
    fn backoff_doubles_from_thirty_seconds_up_to_an_hour() {
        assert_eq!(backoff(0), Duration::seconds(30));
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(3), Duration::seconds(120));
        assert_eq!(backoff(7), Duration::seconds(1920));
        assert_eq!(backoff(8), Duration::hours(1));
        assert_eq!(backoff(40), Duration::hours(1));
        assert_eq!(backoff(u32::MAX), Duration::hours(1));
    }
}
