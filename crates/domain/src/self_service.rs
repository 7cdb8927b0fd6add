//! What a client may do to their own booking by its manage link: the owner's moves of the state
//! machine ([`decide`]), within the tenant's limits (`clientCanCancel`, `clientCanReschedule`,
//! `changeNoticeMinutes`). Owners are not bound by these limits.

use chrono::{DateTime, Duration, Utc};

use crate::{BookingSettings, InvalidTransition, JobAction, JobStatus, decide};

/// Why a client's change of their booking is refused, in the order the refusals apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientChangeRefused {
    /// The status does not allow it (already cancelled, done, no-show).
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// The tenant's settings do not let clients do this at all.
    #[error("This business does not let clients {} bookings online; please contact it.", verb(*.0))]
    NotAllowed(JobAction),
    /// Inside the notice window: changes were possible until `until`.
    #[error("This booking can no longer be changed online; please contact the business.")]
    TooLate { until: DateTime<Utc> },
}

fn verb(action: JobAction) -> &'static str {
    match action {
        JobAction::Cancel => "cancel",
        _ => "move",
    }
}

/// The last moment a client may change a booking starting at `start`.
pub fn changeable_until(settings: &BookingSettings, start: DateTime<Utc>) -> DateTime<Utc> {
    start - Duration::minutes(i64::from(settings.change_notice_minutes))
}

/// Decides a client's `action` (cancel or reschedule) on a job in `current` starting at
/// `start`, as of `now`: the status the job moves to, or the first refusal that applies.
pub fn decide_for_client(
    current: JobStatus,
    action: JobAction,
    settings: &BookingSettings,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<JobStatus, ClientChangeRefused> {
    let next = decide(current, action, start, now)?;
    let allowed = match action {
        JobAction::Cancel => settings.client_can_cancel,
        JobAction::Reschedule => settings.client_can_reschedule,
        _ => false,
    };
    if !allowed {
        return Err(ClientChangeRefused::NotAllowed(action));
    }
    let until = changeable_until(settings, start);
    if now > until {
        return Err(ClientChangeRefused::TooLate { until });
    }
    // A client's move waits for the owner again where bookings need confirmation.
    Ok(match (action, settings.require_confirmation) {
        (JobAction::Reschedule, true) => JobStatus::PendingConfirmation,
        _ => next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 10, 15, 0, 0).unwrap()
    }

    #[test]
    fn a_client_may_cancel_or_move_until_the_notice_window_and_not_after() {
        let settings = BookingSettings::default();
        let until = start() - Duration::minutes(1440);
        for action in [JobAction::Cancel, JobAction::Reschedule] {
            assert!(
                decide_for_client(JobStatus::Scheduled, action, &settings, start(), until).is_ok()
            );
            assert_eq!(
                decide_for_client(
                    JobStatus::Scheduled,
                    action,
                    &settings,
                    start(),
                    until + Duration::seconds(1)
                ),
                Err(ClientChangeRefused::TooLate { until })
            );
        }
    }

    #[test]
    fn the_status_is_judged_first_then_the_settings_then_the_notice() {
        let settings = BookingSettings {
            client_can_cancel: false,
            ..BookingSettings::default()
        };
        let late = start();
        let refused = decide_for_client(
            JobStatus::Cancelled,
            JobAction::Cancel,
            &settings,
            start(),
            late,
        );
        assert!(matches!(
            refused,
            Err(ClientChangeRefused::InvalidTransition(_))
        ));
        let refused = decide_for_client(
            JobStatus::Scheduled,
            JobAction::Cancel,
            &settings,
            start(),
            late,
        );
        assert_eq!(
            refused,
            Err(ClientChangeRefused::NotAllowed(JobAction::Cancel))
        );
        let refused = decide_for_client(
            JobStatus::Scheduled,
            JobAction::Reschedule,
            &settings,
            start(),
            late,
        );
        assert!(matches!(refused, Err(ClientChangeRefused::TooLate { .. })));
        for action in [JobAction::Start, JobAction::Complete, JobAction::Confirm] {
            let early = start() - Duration::days(5);
            assert!(
                decide_for_client(
                    JobStatus::PendingConfirmation,
                    action,
                    &BookingSettings::default(),
                    start(),
                    early
                )
                .is_err()
            );
        }
    }

    #[test]
    fn a_move_under_required_confirmation_waits_for_the_owner_again() {
        let settings = BookingSettings {
            require_confirmation: true,
            ..BookingSettings::default()
        };
        let early = start() - Duration::days(5);
        assert_eq!(
            decide_for_client(
                JobStatus::Scheduled,
                JobAction::Reschedule,
                &settings,
                start(),
                early
            ),
            Ok(JobStatus::PendingConfirmation)
        );
        assert_eq!(
            decide_for_client(
                JobStatus::Scheduled,
                JobAction::Cancel,
                &settings,
                start(),
                early
            ),
            Ok(JobStatus::Cancelled)
        );
    }
}
