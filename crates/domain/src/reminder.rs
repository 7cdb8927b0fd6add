//! Reminders: a tenant's offsets before a start, and which reminders a job gets. A scheduled job
//! gets one reminder per offset, due at its start less the offset — except those already due
//! when the job lands (or moves): a booking made an hour ahead gets no day-before reminder. The
//! relay mails a due reminder only while its job is still scheduled and not yet started.

use chrono::{DateTime, Duration, Utc};

use crate::JobStatus;
use crate::settings::SettingsError;

/// The setting's name, as the tenant file, the API and every error spell it.
pub const FIELD: &str = "reminderMinutesBefore";

/// When a tenant's clients are reminded of a scheduled job: 0 to [`ReminderOffsets::MAX`]
/// distinct offsets of [`ReminderOffsets::MIN_MINUTES`]–[`ReminderOffsets::MAX_MINUTES`] minutes
/// before its start, kept in descending order (the earliest reminder first). Built only by
/// [`ReminderOffsets::parse`], so every value is valid; `Copy`, like the settings it is part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReminderOffsets {
    minutes: [u16; Self::MAX],
    len: u8,
}

impl Default for ReminderOffsets {
    /// The day before: `[1440]`.
    fn default() -> Self {
        Self {
            minutes: [1440, 0, 0],
            len: 1,
        }
    }
}

impl ReminderOffsets {
    pub const MAX: usize = 3;
    pub const MIN_MINUTES: u32 = 15;
    /// A week.
    pub const MAX_MINUTES: u32 = 10_080;

    /// No reminders at all.
    pub const fn none() -> Self {
        Self {
            minutes: [0; Self::MAX],
            len: 0,
        }
    }

    /// The offsets `minutes` (in any order), or the first thing wrong with them.
    pub fn parse(minutes: &[u32]) -> Result<Self, SettingsError> {
        let error = |expected, got| SettingsError {
            field: FIELD,
            expected,
            got,
        };
        if minutes.len() > Self::MAX {
            return Err(error(
                "a list of at most 3 offsets",
                u32::try_from(minutes.len()).unwrap_or(u32::MAX),
            ));
        }
        let mut parsed = Self::none();
        for &value in minutes {
            if !(Self::MIN_MINUTES..=Self::MAX_MINUTES).contains(&value) {
                return Err(error("offsets between 15 and 10080 minutes", value));
            }
            // In range, so it fits.
            let value16 = u16::try_from(value).unwrap_or(u16::MAX);
            if parsed.minutes().contains(&value16) {
                return Err(error("distinct offsets", value));
            }
            parsed.minutes[usize::from(parsed.len)] = value16;
            parsed.len += 1;
        }
        let len = usize::from(parsed.len);
        parsed.minutes[..len].sort_unstable_by(|a, b| b.cmp(a));
        Ok(parsed)
    }

    /// The offsets in minutes, largest (earliest reminder) first.
    pub fn minutes(&self) -> &[u16] {
        &self.minutes[..usize::from(self.len)]
    }

    /// The reminders a job in `status` starting at `start` gets when it lands or moves at
    /// `now`: for a scheduled job, each offset whose moment is still ahead, with that moment.
    /// Any other status gets none (a pending booking is armed when it is confirmed).
    pub fn due_times(
        &self,
        status: JobStatus,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<(u16, DateTime<Utc>)> {
        if status != JobStatus::Scheduled {
            return Vec::new();
        }
        self.minutes()
            .iter()
            .map(|&offset| (offset, start - Duration::minutes(i64::from(offset))))
            .filter(|(_, due)| *due > now)
            .collect()
    }
}

/// Whether a due reminder of a job in `status` starting at `start` is still mailed at `now`:
/// only while the job is scheduled and has not started.
pub fn still_remindable(status: JobStatus, start: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    status == JobStatus::Scheduled && now < start
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 10, hour, 0, 0).unwrap()
    }

    #[test]
    fn the_default_is_the_day_before() {
        assert_eq!(ReminderOffsets::default().minutes(), &[1440]);
        assert_eq!(ReminderOffsets::parse(&[1440]), Ok(Default::default()));
        assert!(ReminderOffsets::parse(&[]).is_ok_and(|o| o.minutes().is_empty()));
    }

    #[test]
    fn offsets_are_kept_largest_first_and_compare_as_sets() {
        let offsets = ReminderOffsets::parse(&[60, 10_080, 15]).unwrap();
        assert_eq!(offsets.minutes(), &[10_080, 60, 15]);
        assert_eq!(ReminderOffsets::parse(&[15, 60, 10_080]), Ok(offsets));
    }

    #[test]
    fn bad_offsets_name_the_setting_and_the_value() {
        let refused = |minutes: &[u32]| ReminderOffsets::parse(minutes).unwrap_err();
        let too_many = refused(&[15, 30, 45, 60]);
        assert_eq!(too_many.field, "reminderMinutesBefore");
        assert_eq!(too_many.got, 4);
        assert_eq!(refused(&[14]).got, 14);
        assert_eq!(refused(&[10_081]).got, 10_081);
        assert_eq!(refused(&[0]).got, 0);
        let twice = refused(&[60, 60]);
        assert_eq!(twice.got, 60);
        assert_eq!(
            twice.to_string(),
            "setting `reminderMinutesBefore` must be distinct offsets, got 60"
        );
    }

    #[test]
    fn a_scheduled_job_gets_only_the_reminders_still_ahead() {
        let offsets = ReminderOffsets::parse(&[1440, 120]).unwrap();
        let start = at(15);
        // Booked a week ahead: both.
        let week_before = start - Duration::days(7);
        assert_eq!(
            offsets.due_times(JobStatus::Scheduled, start, week_before),
            vec![
                (1440, start - Duration::days(1)),
                (120, start - Duration::hours(2))
            ]
        );
        // Booked an hour ahead: neither moment is ahead any more.
        assert!(
            offsets
                .due_times(JobStatus::Scheduled, start, start - Duration::hours(1))
                .is_empty()
        );
        // Booked five hours ahead: only the two-hour one.
        assert_eq!(
            offsets.due_times(JobStatus::Scheduled, start, at(10)),
            vec![(120, at(13))]
        );
        // Exactly at its moment is too late (it would be due already).
        assert!(
            offsets
                .due_times(JobStatus::Scheduled, start, at(13))
                .is_empty()
        );
    }

    #[test]
    fn only_scheduled_jobs_get_reminders() {
        let offsets = ReminderOffsets::default();
        let start = at(15) + Duration::days(7);
        for status in JobStatus::ALL {
            let armed = !offsets.due_times(status, start, at(15)).is_empty();
            assert_eq!(armed, status == JobStatus::Scheduled, "{status:?}");
            assert_eq!(
                still_remindable(status, start, at(15)),
                status == JobStatus::Scheduled,
                "{status:?}"
            );
        }
        assert!(!still_remindable(JobStatus::Scheduled, start, start));
    }
}
