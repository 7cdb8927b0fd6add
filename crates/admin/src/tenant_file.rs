//! The tenant file of API.md ("Tenant setup"), parsed into a checked definition.

use std::collections::BTreeMap;

use booking_domain::{
    BookingSettings, MailAddress, ReminderOffsets, Schedule, StaffCapacity, WorkingInterval,
};
use booking_repository::tenant_setup::{ServiceDefinition, StaffDefinition, TenantDefinition};
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
    #[serde(default)]
    staff: Vec<StaffFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StaffFile {
    slug: String,
    name: String,
    email: Option<String>,
    #[serde(default = "one")]
    capacity: u32,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default)]
    services: Vec<String>,
    /// Absent: the tenant's hours.
    working_hours: Option<BTreeMap<String, Vec<[String; 2]>>>,
    #[serde(default)]
    date_overrides: BTreeMap<String, Vec<[String; 2]>>,
}

fn one() -> u32 {
    1
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
    let staff = staff(&file.staff, &file.services)?;
    Ok(TenantDefinition {
        settings: settings(&file.settings)?,
        schedule: schedule(&file.working_hours, &file.date_overrides)?,
        services: services(file.services)?,
        staff,
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

type Hours = BTreeMap<String, Vec<[String; 2]>>;

fn schedule(working_hours: &Hours, date_overrides: &Hours) -> Result<Schedule, String> {
    let mut schedule = Schedule::new();
    for (day, pairs) in working_hours {
        schedule
            .set_weekday(weekday(day)?, intervals(pairs)?)
            .map_err(|e| e.to_string())?;
    }
    for (date, pairs) in date_overrides {
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .map_err(|_| format!("`{date}` is not a YYYY-MM-DD date"))?;
        schedule
            .set_override(date, intervals(pairs)?)
            .map_err(|e| e.to_string())?;
    }
    Ok(schedule)
}

/// The file's staff, each mistake named with the person's slug.
fn staff(files: &[StaffFile], services: &[ServiceFile]) -> Result<Vec<StaffDefinition>, String> {
    let mut seen = std::collections::BTreeSet::new();
    files
        .iter()
        .map(|person| {
            let named = |message: String| format!("staff `{}`: {message}", person.slug);
            if !slug_ok(&person.slug) {
                return Err(format!(
                    "staff slug `{}` must be lowercase letters, digits and dashes",
                    person.slug
                ));
            }
            if !seen.insert(person.slug.as_str()) {
                return Err(named("appears twice".to_owned()));
            }
            if !(1..=200).contains(&person.name.chars().count()) {
                return Err(named("name must be 1–200 characters".to_owned()));
            }
            let email = person
                .email
                .as_deref()
                .map(|email| {
                    MailAddress::parse(email)
                        .map(MailAddress::into_inner)
                        .map_err(|_| named(format!("email `{email}` is not a mail address")))
                })
                .transpose()?;
            let capacity = StaffCapacity::new(person.capacity).map_err(|e| named(e.to_string()))?;
            for service in &person.services {
                if !services.iter().any(|defined| defined.slug == *service) {
                    return Err(named(format!(
                        "performs `{service}`, which is not a service of this file"
                    )));
                }
            }
            let working_hours = person
                .working_hours
                .as_ref()
                .map(|week| schedule(week, &BTreeMap::new()))
                .transpose()
                .map_err(|e| named(format!("workingHours: {e}")))?;
            let date_overrides = schedule(&BTreeMap::new(), &person.date_overrides)
                .map_err(|e| named(format!("dateOverrides: {e}")))?;
            Ok(StaffDefinition {
                slug: person.slug.clone(),
                name: person.name.clone(),
                email,
                capacity,
                active: person.active,
                working_hours,
                date_overrides,
                services: person.services.clone(),
            })
        })
        .collect()
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
    fn the_demo_tenant_parses_with_two_stylists() -> Result<(), String> {
        let definition = parse(include_str!("../../../infrastructure/demo-tenant.json"))?;
        let slugs: Vec<&str> = definition.staff.iter().map(|s| s.slug.as_str()).collect();
        assert_eq!(slugs, ["ana", "ben"]);
        Ok(())
    }

    #[test]
    fn staff_parse_with_their_own_hours_or_the_tenants() -> Result<(), String> {
        let definition = parse(
            r#"{"slug": "fifi-salon", "name": "Fifi Hair Salon", "timeZone": "America/New_York",
                "notificationEmail": "owner@example.com",
                "workingHours": {"mon": [["09:00", "17:00"]]},
                "services": [{"slug": "haircut", "name": "Haircut", "durationMinutes": 45}],
                "staff": [{"slug": "ana", "name": "Ana", "capacity": 1, "services": ["haircut"],
                           "workingHours": {"mon": [["10:00", "16:00"]]}, "dateOverrides": {"2026-12-07": []}},
                          {"slug": "bo", "name": "Bo", "services": ["haircut"]}]}"#,
        )?;
        let [ana, bo] = definition.staff.as_slice() else {
            return Err(format!("{:?}", definition.staff));
        };
        let week = ana.working_hours.as_ref().ok_or("ana's own week")?;
        assert_eq!(week.weekday(Weekday::Mon).len(), 1);
        assert_eq!(ana.date_overrides.overrides().count(), 1);
        assert!(bo.working_hours.is_none());
        assert_eq!(bo.capacity.get(), 1);
        assert!(bo.active);
        Ok(())
    }

    #[test]
    fn a_staff_member_naming_an_unknown_service_or_bad_hours_is_named() {
        let file = |staff: &str| {
            format!(
                r#"{{"slug":"a","name":"A","timeZone":"UTC","notificationEmail":"o@x.io",
                    "services":[{{"slug":"haircut","name":"Haircut","durationMinutes":45}}],
                    "staff":[{staff}]}}"#
            )
        };
        let cases = [
            (
                r#"{"slug":"ana","name":"Ana","services":["nails"]}"#,
                "staff `ana`: performs `nails`, which is not a service of this file",
            ),
            (
                r#"{"slug":"ana","name":"Ana","workingHours":{"mon":[["17:00","09:00"]]}}"#,
                "staff `ana`: workingHours:",
            ),
            (
                r#"{"slug":"ana","name":"Ana","workingHours":{"funday":[]}}"#,
                "staff `ana`: workingHours: `funday` is not a weekday",
            ),
            (
                r#"{"slug":"ana","name":"Ana","dateOverrides":{"2026-13-01":[]}}"#,
                "staff `ana`: dateOverrides: `2026-13-01` is not a YYYY-MM-DD date",
            ),
            (
                r#"{"slug":"ana","name":"Ana","capacity":0}"#,
                "staff `ana`: a staff member's capacity must be between 1 and 1000",
            ),
            (
                r#"{"slug":"ana","name":"Ana"},{"slug":"ana","name":"Ana again"}"#,
                "staff `ana`: appears twice",
            ),
        ];
        for (staff, expected) in cases {
            let error = parse(&file(staff)).err().unwrap_or_default();
            assert!(error.starts_with(expected), "{staff}: {error}");
        }
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
