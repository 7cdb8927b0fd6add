//! Setting a business up: the rules every value of the tenant file and of the owner's setup
//! routes passes (one set of rules, one set of messages), and what a change of hours, zone or
//! settings means for the jobs already booked.
//!
//! The messages name the value as a person wrote it; the edge attaches them to the field.

use chrono::{DateTime, Days, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;

use crate::availability::Calendar;
use crate::schedule::{Schedule, WorkingInterval};
use crate::settings::BookingSettings;

/// A service lasts 5 minutes to a day (a job is at most a day long, a table constraint).
pub const SERVICE_MINUTES: std::ops::RangeInclusive<u32> = 5..=1440;

/// How far from today (either way, in the tenant's local dates) a date override may lie.
pub const OVERRIDE_HORIZON_DAYS: u64 = 2 * 366;

/// A weekday key of a week (`mon` … `sun`, or the full English name; any case).
pub fn weekday(key: &str) -> Result<Weekday, String> {
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

/// The short key a week is written with (`mon` … `sun`).
pub fn weekday_key(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

/// A slug: 1–63 lowercase letters, digits and dashes, not starting with a dash (the table's
/// check). `what` names it in the message (`slug`, `service slug`).
pub fn slug(what: &str, raw: &str) -> Result<String, String> {
    let ok = raw
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && raw.len() <= 63
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "{what} `{raw}` must be lowercase letters, digits and dashes"
        ))
    }
}

/// An IANA time zone.
pub fn time_zone(raw: &str) -> Result<Tz, String> {
    raw.parse()
        .map_err(|_| format!("`{raw}` is not an IANA time zone"))
}

/// A service's length in minutes.
pub fn duration_minutes(value: i64) -> Result<u32, String> {
    u32::try_from(value)
        .ok()
        .filter(|minutes| SERVICE_MINUTES.contains(minutes))
        .ok_or_else(|| {
            format!(
                "durationMinutes must be {}–{} (got {value})",
                SERVICE_MINUTES.start(),
                SERVICE_MINUTES.end()
            )
        })
}

/// The date of an override: `YYYY-MM-DD`, within [`OVERRIDE_HORIZON_DAYS`] of `today`.
pub fn override_date(raw: &str, today: NaiveDate) -> Result<NaiveDate, String> {
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| format!("`{raw}` is not a YYYY-MM-DD date"))?;
    let earliest = today
        .checked_sub_days(Days::new(OVERRIDE_HORIZON_DAYS))
        .unwrap_or(NaiveDate::MIN);
    let latest = today
        .checked_add_days(Days::new(OVERRIDE_HORIZON_DAYS))
        .unwrap_or(NaiveDate::MAX);
    if date < earliest || date > latest {
        return Err(format!(
            "`{raw}` is more than two years from today ({today}); overrides lie between {earliest} and {latest}"
        ));
    }
    Ok(date)
}

/// What a job is judged by when hours change: the tenant's zone, its settings (the buffers)
/// and its hours. The same definition as a booking's "inside working hours" (rule 6): the whole
/// session, buffers included, inside one working interval of its local date.
#[derive(Debug, Clone, Copy)]
pub struct Hours<'a> {
    pub zone: Tz,
    pub settings: BookingSettings,
    pub schedule: &'a Schedule,
}

impl Hours<'_> {
    /// Whether a job at `[start, end)` lies inside these hours.
    pub fn fit(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        let minutes = u32::try_from((end - start).num_minutes()).unwrap_or(u32::MAX);
        Calendar::new(self.zone, self.settings, self.schedule, minutes, &[]).within_hours(start)
    }
}

/// The jobs (by index into `jobs`) that fitted the hours `before` a change and do not fit them
/// `after` it: what a change answers as `outsideHours`, so the owner can move them. Jobs that
/// already lay outside (a hand-entered walk-in) are not news.
pub fn no_longer_fitting(
    before: &Hours<'_>,
    after: &Hours<'_>,
    jobs: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Vec<usize> {
    jobs.iter()
        .enumerate()
        .filter(|(_, (start, end))| before.fit(*start, *end) && !after.fit(*start, *end))
        .map(|(index, _)| index)
        .collect()
}

/// Whether the local wall time of `at` differs between two zones: a job kept as an instant
/// across a change of zone shows another time of day (or date) when this is true.
pub fn wall_time_moved(before: Tz, after: Tz, at: DateTime<Utc>) -> bool {
    at.with_timezone(&before).naive_local() != at.with_timezone(&after).naive_local()
}

/// The intervals of a day in the form a file or a route writes them (`[["09:00", "17:00"]]`).
pub fn written(intervals: &[WorkingInterval]) -> Vec<[String; 2]> {
    intervals
        .iter()
        .map(|interval| {
            [
                crate::schedule::format_minute(interval.start_minute()),
                crate::schedule::format_minute(interval.end_minute()),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn an_override_more_than_two_years_away_is_refused() {
        let today = date(2026, 12, 6);
        assert!(override_date("2028-12-01", today).is_ok());
        assert!(override_date("2024-12-10", today).is_ok());
        assert!(override_date("2029-01-01", today).is_err());
        assert!(override_date("2024-11-01", today).is_err());
        assert_eq!(
            override_date("2026-13-01", today).err().as_deref(),
            Some("`2026-13-01` is not a YYYY-MM-DD date")
        );
    }

    #[test]
    fn durations_outside_five_minutes_to_a_day_are_refused() {
        assert_eq!(duration_minutes(5), Ok(5));
        assert_eq!(duration_minutes(1440), Ok(1440));
        for bad in [-1, 0, 4, 1441, i64::MAX] {
            assert!(duration_minutes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_job_that_fitted_and_no_longer_does_is_reported_once_hours_shrink() {
        let zone = chrono_tz::America::New_York;
        let mut wide = Schedule::new();
        let nine_to_five =
            WorkingInterval::parse("09:00", "17:00").unwrap_or_else(|e| panic!("{e}"));
        let one_to_five =
            WorkingInterval::parse("13:00", "17:00").unwrap_or_else(|e| panic!("{e}"));
        let _ = wide.set_weekday(Weekday::Mon, vec![nine_to_five]);
        let mut narrow = Schedule::new();
        let _ = narrow.set_weekday(Weekday::Mon, vec![one_to_five]);
        let settings = BookingSettings::default();
        let before = Hours {
            zone,
            settings,
            schedule: &wide,
        };
        let after = Hours {
            zone,
            settings,
            schedule: &narrow,
        };
        // Monday 2026-12-07: 10:00–11:00 and 14:00–15:00 New York; a walk-in at 20:00.
        let at = |h| {
            zone.with_ymd_and_hms(2026, 12, 7, h, 0, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        let jobs = [(at(10), at(11)), (at(14), at(15)), (at(20), at(21))];
        assert_eq!(no_longer_fitting(&before, &after, &jobs), vec![0]);
    }

    #[test]
    fn a_zone_change_moves_the_wall_time_of_an_instant_unless_the_offsets_agree() {
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 15, 0, 0).unwrap();
        assert!(wall_time_moved(
            chrono_tz::America::New_York,
            chrono_tz::America::Chicago,
            at
        ));
        assert!(!wall_time_moved(
            chrono_tz::America::New_York,
            chrono_tz::America::Toronto,
            at
        ));
    }
}
