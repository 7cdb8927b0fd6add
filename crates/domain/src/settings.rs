//! A tenant's booking settings, with the defaults of the product description.

use crate::ReminderOffsets;

/// How a tenant takes bookings. Built with [`BookingSettings::validate`] wherever it enters the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingSettings {
    pub require_confirmation: bool,
    pub allow_same_day: bool,
    pub min_notice_minutes: u32,
    pub max_advance_days: u32,
    /// Capacity: how many active jobs may overlap at any instant.
    pub max_bookings_per_slot: u32,
    pub slot_interval_minutes: u32,
    pub buffer_before_minutes: u32,
    pub buffer_after_minutes: u32,
    /// How long before its start a client may still cancel or move a booking by its link.
    pub change_notice_minutes: u32,
    pub client_can_cancel: bool,
    pub client_can_reschedule: bool,
    /// When clients are reminded of a scheduled job (valid by construction).
    pub reminder_minutes_before: ReminderOffsets,
}

impl Default for BookingSettings {
    fn default() -> Self {
        Self {
            require_confirmation: false,
            allow_same_day: true,
            min_notice_minutes: 60,
            max_advance_days: 60,
            max_bookings_per_slot: 1,
            slot_interval_minutes: 30,
            buffer_before_minutes: 0,
            buffer_after_minutes: 0,
            change_notice_minutes: 1440,
            client_can_cancel: true,
            client_can_reschedule: true,
            reminder_minutes_before: ReminderOffsets::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting `{field}` must be {expected}, got {got}")]
pub struct SettingsError {
    pub field: &'static str,
    pub expected: &'static str,
    pub got: u32,
}

impl BookingSettings {
    /// How far apart two jobs must lie: the larger of the two buffers (the one gap rule, used by
    /// the engine, the capacity guard and the conflict list alike).
    pub fn min_gap(&self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(
            self.buffer_before_minutes.max(self.buffer_after_minutes),
        ))
    }

    /// Upper bounds keep every derived instant arithmetic far from overflow and every loop bounded.
    pub fn validate(self) -> Result<Self, SettingsError> {
        let check = |field, value: u32, range: std::ops::RangeInclusive<u32>, expected| {
            if range.contains(&value) {
                Ok(())
            } else {
                Err(SettingsError {
                    field,
                    expected,
                    got: value,
                })
            }
        };
        check(
            "minNoticeMinutes",
            self.min_notice_minutes,
            0..=525_600,
            "between 0 and 525600",
        )?;
        check(
            "maxAdvanceDays",
            self.max_advance_days,
            0..=730,
            "between 0 and 730",
        )?;
        check(
            "maxBookingsPerSlot",
            self.max_bookings_per_slot,
            1..=1000,
            "between 1 and 1000",
        )?;
        check(
            "slotIntervalMinutes",
            self.slot_interval_minutes,
            5..=1440,
            "between 5 and 1440",
        )?;
        check(
            "bufferBeforeMinutes",
            self.buffer_before_minutes,
            0..=720,
            "between 0 and 720",
        )?;
        check(
            "bufferAfterMinutes",
            self.buffer_after_minutes,
            0..=720,
            "between 0 and 720",
        )?;
        check(
            "changeNoticeMinutes",
            self.change_notice_minutes,
            0..=525_600,
            "between 0 and 525600",
        )?;
        Ok(self)
    }
}
