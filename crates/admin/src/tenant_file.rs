//! The tenant file of API.md ("Tenant setup"), parsed into a checked definition.

use std::collections::BTreeMap;

use booking_domain::{BookingSettings, MailAddress, ReminderOffsets, Schedule, WorkingInterval};
use booking_repository::tenant_setup::{ServiceDefinition, TenantDefinition};
use chrono::{NaiveDate, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TenantFile {
    slug: String,
    name: String,
    time_zone: String,
    notification_email: String,
    #[serde(default)]
    settings: SettingsFile,
    #[serde(default)]
    working_hours: BTreeMap<String, Vec<[String; 2]>>,
    #[serde(default)]
    date_overrides: BTreeMap<String, Vec<[String; 2]>>,
    #[serde(default)]
    services: Vec<ServiceFile>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SettingsFile {
    require_confirmation: Option<bool>,
    allow_same_day: Option<bool>,
    min_notice_minutes: Option<u32>,
    max_advance_days: Option<u32>,
    max_bookings_per_slot: Option<u32>,
    slot_interval_minutes: Option<u32>,
    buffer_before_minutes: Option<u32>,
    buffer_after_minutes: Option<u32>,
    change_notice_minutes: Option<u32>,
    client_can_cancel: Option<bool>,
    client_can_reschedule: Option<bool>,
    reminder_minutes_before: Option<Vec<u32>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ServiceFile {
    slug: String,
    name: String,
    duration_minutes: u32,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

fn weekday(key: &str) -> Result<Weekday, String> {
    match key.to_ascii_lowercase().as_str() {
        "mon" | "monday" => Ok(Weekday::Mon),
        "tue" | "tuesday" => Ok(Weekday::Tue),
        "wed" | "wednesday" => Ok(Weekday::Wed),
        "thu" | "thursday" => Ok(Weekday::Thu),
        "fri" | "friday" => Ok(Weekday::Fri),
        "sat" | "saturday" => Ok(Weekday::Sat),
        "sun" | "sunday" => Ok(Weekday::Sun),
        _ => Err(format!("`{key}` is not a weekday (mon … sun)")),
    }
}

fn intervals(pairs: &[[String; 2]]) -> Result<Vec<WorkingInterval>, String> {
    pairs
        .iter()
        .map(|[start, end]| WorkingInterval::parse(start, end).map_err(|e| e.to_string()))
        .collect()
}

fn slug_ok(slug: &str) -> bool {
    let mut chars = slug.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && slug.len() <= 63
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

pub fn parse(text: &str) -> Result<TenantDefinition, String> {
    let file: TenantFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if !slug_ok(&file.slug) {
        return Err(format!(
            "slug `{}` must be lowercase letters, digits and dashes",
            file.slug
        ));
    }
    let notification_email = MailAddress::parse(&file.notification_email)
        .map_err(|_| {
            format!(
                "notificationEmail `{}` is not a deliverable mail address",
                file.notification_email
            )
        })?
        .into_inner();
    let zone: Tz = file
        .time_zone
        .parse()
        .map_err(|_| format!("`{}` is not an IANA time zone", file.time_zone))?;
    Ok(TenantDefinition {
        settings: settings(&file.settings)?,
        schedule: schedule(&file)?,
        services: services(file.services)?,
        slug: file.slug,
        name: file.name,
        zone,
        notification_email,
    })
}

/// The file's settings over the defaults, validated.
fn settings(s: &SettingsFile) -> Result<BookingSettings, String> {
    let defaults = BookingSettings::default();
    BookingSettings {
        require_confirmation: s
            .require_confirmation
            .unwrap_or(defaults.require_confirmation),
        allow_same_day: s.allow_same_day.unwrap_or(defaults.allow_same_day),
        min_notice_minutes: s.min_notice_minutes.unwrap_or(defaults.min_notice_minutes),
        max_advance_days: s.max_advance_days.unwrap_or(defaults.max_advance_days),
        max_bookings_per_slot: s
            .max_bookings_per_slot
            .unwrap_or(defaults.max_bookings_per_slot),
        slot_interval_minutes: s
            .slot_interval_minutes
            .unwrap_or(defaults.slot_interval_minutes),
        buffer_before_minutes: s
            .buffer_before_minutes
            .unwrap_or(defaults.buffer_before_minutes),
        buffer_after_minutes: s
            .buffer_after_minutes
            .unwrap_or(defaults.buffer_after_minutes),
        change_notice_minutes: s
            .change_notice_minutes
            .unwrap_or(defaults.change_notice_minutes),
        client_can_cancel: s.client_can_cancel.unwrap_or(defaults.client_can_cancel),
        client_can_reschedule: s
            .client_can_reschedule
            .unwrap_or(defaults.client_can_reschedule),
        reminder_minutes_before: match &s.reminder_minutes_before {
            Some(minutes) => ReminderOffsets::parse(minutes).map_err(|e| e.to_string())?,
            None => defaults.reminder_minutes_before,
        },
    }
    .validate()
    .map_err(|e| e.to_string())
}

fn schedule(file: &TenantFile) -> Result<Schedule, String> {
    let mut schedule = Schedule::new();
    for (day, pairs) in &file.working_hours {
        schedule
            .set_weekday(weekday(day)?, intervals(pairs)?)
            .map_err(|e| e.to_string())?;
    }
    for (date, pairs) in &file.date_overrides {
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .map_err(|_| format!("`{date}` is not a YYYY-MM-DD date"))?;
        schedule
            .set_override(date, intervals(pairs)?)
            .map_err(|e| e.to_string())?;
    }
    Ok(schedule)
}

fn services(files: Vec<ServiceFile>) -> Result<Vec<ServiceDefinition>, String> {
    files
        .into_iter()
        .map(|service| {
            if !slug_ok(&service.slug) {
                return Err(format!(
                    "service slug `{}` must be lowercase letters, digits and dashes",
                    service.slug
                ));
            }
            if !(5..=1440).contains(&service.duration_minutes) {
                return Err(format!(
                    "service `{}`: durationMinutes must be 5–1440",
                    service.slug
                ));
            }
            Ok(ServiceDefinition {
                slug: service.slug,
                name: service.name,
                duration_minutes: service.duration_minutes,
                active: service.active,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_md_example_parses_with_defaults_filled_in() -> Result<(), String> {
        let definition = parse(
            r#"{"slug": "fifi-salon", "name": "Fifi Hair Salon", "timeZone": "America/New_York",
                "notificationEmail": "owner@example.com",
                "settings": {"requireConfirmation": true},
                "workingHours": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "tue": [["09:00", "17:00"]]},
                "dateOverrides": {"2026-12-24": [["09:00", "13:00"]], "2026-12-25": []},
                "services": [{"slug": "haircut", "name": "Haircut", "durationMinutes": 45, "active": true}]}"#,
        )?;
        assert!(definition.settings.require_confirmation);
        assert_eq!(definition.settings.min_notice_minutes, 60);
        assert_eq!(
            definition.settings.reminder_minutes_before.minutes(),
            &[1440]
        );
        assert_eq!(definition.schedule.weekday(Weekday::Mon).len(), 2);
        assert!(definition.schedule.weekday(Weekday::Wed).is_empty());
        assert_eq!(definition.services.len(), 1);
        Ok(())
    }

    #[test]
    fn mistakes_in_the_file_are_named() {
        let bad_zone = parse(
            r#"{"slug":"a","name":"A","timeZone":"Mars/Olympus","notificationEmail":"o@x.io"}"#,
        );
        assert_eq!(
            bad_zone.err().as_deref(),
            Some("`Mars/Olympus` is not an IANA time zone")
        );
        for address in ["john..doe@example.com", "owner", "a:b@x.com"] {
            let file = format!(
                r#"{{"slug":"a","name":"A","timeZone":"UTC","notificationEmail":"{address}"}}"#
            );
            assert!(
                parse(&file)
                    .err()
                    .is_some_and(|e| e.contains("notificationEmail")),
                "{address}"
            );
        }
        let bad_day = parse(
            r#"{"slug":"a","name":"A","timeZone":"UTC","notificationEmail":"o@x.io","workingHours":{"funday":[]}}"#,
        );
        assert!(bad_day.is_err());
        for (reminders, named) in [
            ("[60, 1440, 15, 30]", "at most 3 offsets, got 4"),
            ("[10]", "between 15 and 10080 minutes, got 10"),
            ("[10081]", "between 15 and 10080 minutes, got 10081"),
            ("[60, 60]", "distinct offsets, got 60"),
        ] {
            let file = format!(
                r#"{{"slug":"a","name":"A","timeZone":"UTC","notificationEmail":"o@x.io","settings":{{"reminderMinutesBefore":{reminders}}}}}"#
            );
            let error = parse(&file).err().unwrap_or_default();
            assert!(
                error.contains("reminderMinutesBefore") && error.contains(named),
                "{reminders}: {error}"
            );
        }
        let offsets = parse(
            r#"{"slug":"a","name":"A","timeZone":"UTC","notificationEmail":"o@x.io","settings":{"reminderMinutesBefore":[60, 2880]}}"#,
        )
        .map(|definition| definition.settings.reminder_minutes_before.minutes().to_vec());
        assert_eq!(offsets, Ok(vec![2880, 60]));
        let none = parse(
            r#"{"slug":"a","name":"A","timeZone":"UTC","notificationEmail":"o@x.io","settings":{"reminderMinutesBefore":[]}}"#,
        )
        .map(|definition| definition.settings.reminder_minutes_before.minutes().len());
        assert_eq!(none, Ok(0));
        let capacity = parse(
            r#"{"slug":"a","name":"A","timeZone":"UTC","notificationEmail":"o@x.io","settings":{"maxBookingsPerSlot":0}}"#,
        );
        assert!(
            capacity
                .err()
                .is_some_and(|e| e.contains("maxBookingsPerSlot"))
        );
    }
}
