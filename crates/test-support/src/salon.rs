//! Fifi's salon, the reference tenant of the tests: its hours, its services.

use booking_domain::{BookingSettings, Schedule, WorkingInterval};
use booking_repository::tenant_setup::{ServiceDefinition, TenantDefinition};
use chrono::Weekday;

use crate::time::NEW_YORK;

/// `start`–`end` as a working interval (`"09:00"`, `"12:00"`).
pub fn interval(start: &str, end: &str) -> WorkingInterval {
    WorkingInterval::parse(start, end).unwrap_or_else(|e| panic!("test interval: {e}"))
}

/// The salon's weekdays: Monday to Friday 09:00–12:00 and 13:00–17:00, closed at the weekend.
pub fn weekday_hours() -> Schedule {
    let mut schedule = Schedule::new();
    for day in booking_domain::WEEK.into_iter().take(5) {
        schedule
            .set_weekday(
                day,
                vec![interval("09:00", "12:00"), interval("13:00", "17:00")],
            )
            .expect("weekday hours");
    }
    schedule
}

/// Fifi's salon in New York: [`weekday_hours`] and Saturday 10:00–14:00, a 45-minute haircut,
/// a 90-minute colour and a retired (inactive) service.
pub fn salon(slug: &str, settings: BookingSettings) -> TenantDefinition {
    let mut schedule = weekday_hours();
    schedule
        .set_weekday(Weekday::Sat, vec![interval("10:00", "14:00")])
        .expect("saturday hours");
    TenantDefinition {
        slug: slug.to_owned(),
        name: format!("Salon {slug}"),
        zone: NEW_YORK,
        notification_email: format!("owner@{slug}.example"),
        settings: settings.validate().expect("valid settings"),
        schedule,
        services: vec![
            ServiceDefinition {
                slug: "haircut".to_owned(),
                name: "Haircut".to_owned(),
                duration_minutes: 45,
                active: true,
            },
            ServiceDefinition {
                slug: "colour".to_owned(),
                name: "Colour".to_owned(),
                duration_minutes: 90,
                active: true,
            },
            ServiceDefinition {
                slug: "retired".to_owned(),
                name: "Retired service".to_owned(),
                duration_minutes: 30,
                active: false,
            },
        ],
        staff: Vec::new(),
    }
}
