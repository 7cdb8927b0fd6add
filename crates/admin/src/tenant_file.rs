//! The tenant file of API.md ("Tenant setup"), parsed into a checked definition by the same
//! parser the owner's setup routes use ([`booking_edge::setup`]): a value refused here is
//! refused there, with the same message.

use booking_repository::tenant_setup::TenantDefinition;

/// The definition, or every problem of the file, one per line.
pub fn parse(text: &str) -> Result<TenantDefinition, String> {
    booking_edge::setup::tenant_file(text, chrono::Utc::now()).map_err(|errors| {
        errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

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
