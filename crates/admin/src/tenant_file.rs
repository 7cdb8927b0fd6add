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
