//! Job states and the moves between them: one table ([`MOVES`]) decides every change of a job's
//! status, for the owner and for the public booking alike.

use std::fmt;

use chrono::{DateTime, Utc};

/// Where a job came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobSource {
    /// Booked by a client on the public booking page.
    Public,
    /// Entered by hand by an owner or staff member (`POST /jobs`).
    HandEntered,
}

impl JobSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::HandEntered => "hand-entered",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "public" => Some(Self::Public),
            "hand-entered" => Some(Self::HandEntered),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobStatus {
    PendingConfirmation,
    Scheduled,
    InProgress,
    Completed,
    Cancelled,
    /// The client did not come: terminal, and frees nothing (the time has passed).
    NoShow,
}

/// What an owner (or a client's booking page) asks of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobAction {
    Confirm,
    Decline,
    Start,
    Complete,
    NoShow,
    Cancel,
    Reschedule,
}

impl JobAction {
    pub const ALL: [JobAction; 7] = [
        Self::Confirm,
        Self::Decline,
        Self::Start,
        Self::Complete,
        Self::NoShow,
        Self::Cancel,
        Self::Reschedule,
    ];

    /// The route's last segment (`POST /jobs/{jobId}/no-show`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::Decline => "decline",
            Self::Start => "start",
            Self::Complete => "complete",
            Self::NoShow => "no-show",
            Self::Cancel => "cancel",
            Self::Reschedule => "reschedule",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == text)
    }

    /// What the job's history calls the change, and the refusal's wording.
    pub fn past(self) -> &'static str {
        match self {
            Self::Confirm => "confirmed",
            Self::Decline => "declined",
            Self::Start => "started",
            Self::Complete => "completed",
            Self::NoShow => "no-show",
            Self::Cancel => "cancelled",
            Self::Reschedule => "rescheduled",
        }
    }

    /// The statuses the action may be asked of, in [`MOVES`] order.
    pub fn allowed_from(self) -> Vec<JobStatus> {
        MOVES
            .iter()
            .filter(|(_, action, _)| *action == self)
            .map(|(from, _, _)| *from)
            .collect()
    }
}

impl fmt::Display for JobAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The allowed moves: (status, action) → new status. Anything not listed is refused. A
/// reschedule keeps the status; a no-show also needs the start to have passed ([`decide`]).
pub const MOVES: [(JobStatus, JobAction, JobStatus); 11] = {
    use JobAction as A;
    use JobStatus as S;
    [
        (S::PendingConfirmation, A::Confirm, S::Scheduled),
        (S::PendingConfirmation, A::Decline, S::Cancelled),
        (S::Scheduled, A::Start, S::InProgress),
        (S::Scheduled, A::Complete, S::Completed),
        (S::InProgress, A::Complete, S::Completed),
        (S::Scheduled, A::NoShow, S::NoShow),
        (S::InProgress, A::NoShow, S::NoShow),
        (S::PendingConfirmation, A::Cancel, S::Cancelled),
        (S::Scheduled, A::Cancel, S::Cancelled),
        (
            S::PendingConfirmation,
            A::Reschedule,
            S::PendingConfirmation,
        ),
        (S::Scheduled, A::Reschedule, S::Scheduled),
    ]
};

/// A change the job's status does not allow (or a no-show before the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub struct InvalidTransition {
    pub current: JobStatus,
    pub action: JobAction,
    /// The status allows it, but not yet: a no-show before the job's start.
    pub before_start: bool,
}

impl fmt::Display for InvalidTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.before_start {
            return write!(
                f,
                "A no-show can be recorded only once the job's start has passed; this job is {} \
                 and has not started yet.",
                self.current
            );
        }
        let allowed = self.action.allowed_from();
        let allowed: Vec<String> = allowed.iter().map(|s| s.describe()).collect();
        write!(
            f,
            "Only a job {} can be {}; this job is {}.",
            allowed.join(" or "),
            self.action.past(),
            self.current
        )
    }
}

/// Decides `action` on a job in `current` that starts at `start`, as of `now`: the new status or
/// the refusal. The one place a job's status changes are judged.
pub fn decide(
    current: JobStatus,
    action: JobAction,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<JobStatus, InvalidTransition> {
    let refused = |before_start| InvalidTransition {
        current,
        action,
        before_start,
    };
    let next = MOVES
        .iter()
        .find(|(from, act, _)| *from == current && *act == action)
        .map(|(_, _, to)| *to)
        .ok_or(refused(false))?;
    if action == JobAction::NoShow && now < start {
        return Err(refused(true));
    }
    Ok(next)
}

impl JobStatus {
    /// Every status, in the order the API lists them (the SQL checks are tested against it).
    pub const ALL: [JobStatus; 6] = [
        Self::PendingConfirmation,
        Self::Scheduled,
        Self::InProgress,
        Self::Completed,
        Self::Cancelled,
        Self::NoShow,
    ];

    /// Active jobs occupy capacity.
    pub const ACTIVE: [JobStatus; 3] =
        [Self::PendingConfirmation, Self::Scheduled, Self::InProgress];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingConfirmation => "pending-confirmation",
            Self::Scheduled => "scheduled",
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::NoShow => "no-show",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    pub fn is_active(self) -> bool {
        Self::ACTIVE.contains(&self)
    }

    /// How a refusal names jobs in this status: "pending confirmation", "in progress".
    fn describe(self) -> String {
        match self {
            Self::PendingConfirmation => "pending confirmation".to_owned(),
            Self::InProgress => "in progress".to_owned(),
            other => other.as_str().to_owned(),
        }
    }

    /// The status a new booking lands in.
    pub fn for_new_booking(require_confirmation: bool) -> Self {
        if require_confirmation {
            Self::PendingConfirmation
        } else {
            Self::Scheduled
        }
    }

    /// pending-confirmation → scheduled (no time condition: [`decide`] with `Confirm`).
    pub fn confirm(self) -> Result<Self, InvalidTransition> {
        self.apply(JobAction::Confirm)
    }

    /// pending-confirmation → cancelled.
    pub fn decline(self) -> Result<Self, InvalidTransition> {
        self.apply(JobAction::Decline)
    }

    /// [`decide`] for the actions without a time condition (all but `NoShow`).
    fn apply(self, action: JobAction) -> Result<Self, InvalidTransition> {
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        decide(self, action, epoch, epoch)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use std::collections::HashMap;

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::hours(1000 + hours)
    }

    /// Every status × every action, written out: the table above must say exactly this.
    #[test]
    fn every_status_and_action_is_decided_as_product_md_says() {
        use JobAction as A;
        use JobStatus as S;
        let expected: HashMap<(S, A), S> = [
            ((S::PendingConfirmation, A::Confirm), S::Scheduled),
            ((S::PendingConfirmation, A::Decline), S::Cancelled),
            ((S::PendingConfirmation, A::Cancel), S::Cancelled),
            (
                (S::PendingConfirmation, A::Reschedule),
                S::PendingConfirmation,
            ),
            ((S::Scheduled, A::Start), S::InProgress),
            ((S::Scheduled, A::Complete), S::Completed),
            ((S::Scheduled, A::NoShow), S::NoShow),
            ((S::Scheduled, A::Cancel), S::Cancelled),
            ((S::Scheduled, A::Reschedule), S::Scheduled),
            ((S::InProgress, A::Complete), S::Completed),
            ((S::InProgress, A::NoShow), S::NoShow),
        ]
        .into_iter()
        .collect();
        let mut checked = 0;
        for status in JobStatus::ALL {
            for action in JobAction::ALL {
                // After the start, so no-show's time condition holds.
                let decided = decide(status, action, at(0), at(1));
                match expected.get(&(status, action)) {
                    Some(next) => assert_eq!(decided, Ok(*next), "{status} × {action}"),
                    None => {
                        let refused = decided.expect_err(&format!("{status} × {action}"));
                        assert_eq!(refused.current, status);
                        assert_eq!(refused.action, action);
                        assert!(!refused.before_start);
                    }
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 6 * 7);
    }

    #[test]
    fn a_no_show_waits_for_the_start_but_starting_early_is_allowed() {
        let (start, before) = (at(0), at(-1));
        let early = decide(JobStatus::Scheduled, JobAction::NoShow, start, before);
        assert!(early.is_err_and(|e| e.before_start && e.current == JobStatus::Scheduled));
        assert_eq!(
            decide(JobStatus::Scheduled, JobAction::NoShow, start, start),
            Ok(JobStatus::NoShow)
        );
        assert_eq!(
            decide(JobStatus::Scheduled, JobAction::Start, start, before),
            Ok(JobStatus::InProgress)
        );
        // A status that refuses no-show says so, not that it is early.
        let done = decide(JobStatus::Completed, JobAction::NoShow, start, before);
        assert!(done.is_err_and(|e| !e.before_start));
    }

    #[test]
    fn terminal_statuses_allow_nothing_and_only_active_ones_hold_capacity() {
        for status in [
            JobStatus::Completed,
            JobStatus::Cancelled,
            JobStatus::NoShow,
        ] {
            assert!(!status.is_active());
            for action in JobAction::ALL {
                assert!(decide(status, action, at(0), at(1)).is_err());
            }
        }
        for status in JobStatus::ACTIVE {
            assert!(status.is_active());
        }
    }

    #[test]
    fn statuses_and_actions_round_trip_through_their_names() {
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(JobStatus::parse("confirmed"), None);
        assert_eq!(JobStatus::parse("no-show"), Some(JobStatus::NoShow));
        for action in JobAction::ALL {
            assert_eq!(JobAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(JobAction::parse("noshow"), None);
    }

    #[test]
    fn the_invalid_transition_message_names_the_current_status() {
        let message = JobStatus::Completed.decline().err().map(|e| e.to_string());
        assert_eq!(
            message.as_deref(),
            Some("Only a job pending confirmation can be declined; this job is completed.")
        );
        let message = decide(JobStatus::Cancelled, JobAction::Complete, at(0), at(1))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            message.as_deref(),
            Some("Only a job scheduled or in progress can be completed; this job is cancelled.")
        );
    }
}
