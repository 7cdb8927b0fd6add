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

/// Some of a tenant's settings, the rest left as they are: what a `PATCH /tenant` (or the
/// tenant file, over the defaults) says. Applied under the tenant guard to the settings as they
/// are then, so two owners changing different settings at once both keep their change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettingsPatch {
    pub require_confirmation: Option<bool>,
    pub allow_same_day: Option<bool>,
    pub min_notice_minutes: Option<u32>,
    pub max_advance_days: Option<u32>,
    pub max_bookings_per_slot: Option<u32>,
    pub slot_interval_minutes: Option<u32>,
    pub buffer_before_minutes: Option<u32>,
    pub buffer_after_minutes: Option<u32>,
    pub change_notice_minutes: Option<u32>,
    pub client_can_cancel: Option<bool>,
    pub client_can_reschedule: Option<bool>,
    pub reminder_minutes_before: Option<ReminderOffsets>,
}

impl SettingsPatch {
    /// `base` with this patch's keys replaced, checked. Every bound of [`BookingSettings::
    /// validate`] is on one setting alone, so a patch that passes over one valid base passes
    /// over any.
    pub fn apply(&self, base: BookingSettings) -> Result<BookingSettings, SettingsError> {
        BookingSettings {
            require_confirmation: self
                .require_confirmation
                .unwrap_or(base.require_confirmation),
            allow_same_day: self.allow_same_day.unwrap_or(base.allow_same_day),
            min_notice_minutes: self.min_notice_minutes.unwrap_or(base.min_notice_minutes),
            max_advance_days: self.max_advance_days.unwrap_or(base.max_advance_days),
            max_bookings_per_slot: self
                .max_bookings_per_slot
                .unwrap_or(base.max_bookings_per_slot),
            slot_interval_minutes: self
                .slot_interval_minutes
                .unwrap_or(base.slot_interval_minutes),
            buffer_before_minutes: self
                .buffer_before_minutes
                .unwrap_or(base.buffer_before_minutes),
            buffer_after_minutes: self
                .buffer_after_minutes
                .unwrap_or(base.buffer_after_minutes),
            change_notice_minutes: self
                .change_notice_minutes
                .unwrap_or(base.change_notice_minutes),
            client_can_cancel: self.client_can_cancel.unwrap_or(base.client_can_cancel),
            client_can_reschedule: self
                .client_can_reschedule
                .unwrap_or(base.client_can_reschedule),
            reminder_minutes_before: self
                .reminder_minutes_before
                .unwrap_or(base.reminder_minutes_before),
        }
        .validate()
    }
}
