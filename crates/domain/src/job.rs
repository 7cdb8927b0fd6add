//! Job states and the owner's transitions between them.

use std::fmt;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    PendingConfirmation,
    Scheduled,
    InProgress,
    Completed,
    Cancelled,
}

/// A confirm or decline asked of a job that is not waiting for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Only a job pending confirmation can be {attempted}; this job is {current}.")]
pub struct InvalidTransition {
    pub current: JobStatus,
    pub attempted: &'static str,
}

impl JobStatus {
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
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::PendingConfirmation,
            Self::Scheduled,
            Self::InProgress,
            Self::Completed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }

    /// The status a new booking lands in.
    pub fn for_new_booking(require_confirmation: bool) -> Self {
        if require_confirmation {
            Self::PendingConfirmation
        } else {
            Self::Scheduled
        }
    }

    /// pending-confirmation → scheduled.
    pub fn confirm(self) -> Result<Self, InvalidTransition> {
        match self {
            Self::PendingConfirmation => Ok(Self::Scheduled),
            current => Err(InvalidTransition {
                current,
                attempted: "confirmed",
            }),
        }
    }

    /// pending-confirmation → cancelled.
    pub fn decline(self) -> Result<Self, InvalidTransition> {
        match self {
            Self::PendingConfirmation => Ok(Self::Cancelled),
            current => Err(InvalidTransition {
                current,
                attempted: "declined",
            }),
        }
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

    #[test]
    fn only_pending_jobs_can_be_confirmed_or_declined() {
        assert_eq!(
            JobStatus::PendingConfirmation.confirm(),
            Ok(JobStatus::Scheduled)
        );
        assert_eq!(
            JobStatus::PendingConfirmation.decline(),
            Ok(JobStatus::Cancelled)
        );
        for status in [
            JobStatus::Scheduled,
            JobStatus::InProgress,
            JobStatus::Completed,
            JobStatus::Cancelled,
        ] {
            let refused = status.confirm().err();
            assert_eq!(refused.map(|e| e.current), Some(status));
            assert!(status.decline().is_err());
        }
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in [
            JobStatus::PendingConfirmation,
            JobStatus::Scheduled,
            JobStatus::InProgress,
            JobStatus::Completed,
            JobStatus::Cancelled,
        ] {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(JobStatus::parse("confirmed"), None);
    }

    #[test]
    fn the_invalid_transition_message_names_the_current_status() {
        let message = JobStatus::Completed.decline().err().map(|e| e.to_string());
        assert_eq!(
            message.as_deref(),
            Some("Only a job pending confirmation can be declined; this job is completed.")
        );
    }
}
