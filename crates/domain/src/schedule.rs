//! Working hours: weekly intervals in the tenant's wall time, and date overrides that replace them.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};

/// Minutes in a day; an interval may end at 24:00.
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// One span of working time on a local date, `[start, end)` in minutes after local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkingInterval {
    start: u16,
    end: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("`{0}` is not a time of day in HH:MM form (00:00–24:00)")]
    MalformedTime(String),
    #[error("a working interval must end after it starts ({start} – {end})")]
    EmptyInterval { start: String, end: String },
    #[error("working intervals on {day} overlap ({first} and {second})")]
    Overlap {
        day: String,
        first: String,
        second: String,
    },
    #[error("working intervals on {day} must be in time order ({second} comes after {first})")]
    Unordered {
        day: String,
        first: String,
        second: String,
    },
    #[error("24:00 can only end a working interval, not start one")]
    EndOfDayAsStart,
}

impl WorkingInterval {
    /// An interval from minute `start` to minute `end` after local midnight.
    pub fn from_minutes(start: u16, end: u16) -> Result<Self, ScheduleError> {
        if start >= end || end > MINUTES_PER_DAY {
            return Err(ScheduleError::EmptyInterval {
                start: format_minute(start),
                end: format_minute(end),
            });
        }
        Ok(Self { start, end })
    }

    /// Parses `["09:00", "17:00"]`-style bounds; `24:00` is accepted as an end.
    pub fn parse(start: &str, end: &str) -> Result<Self, ScheduleError> {
        let start = parse_minute(start)?;
        if start == MINUTES_PER_DAY {
            return Err(ScheduleError::EndOfDayAsStart);
        }
        Self::from_minutes(start, parse_minute(end)?)
    }

    pub fn start_minute(&self) -> u16 {
        self.start
    }

    pub fn end_minute(&self) -> u16 {
        self.end
    }

    pub fn len_minutes(&self) -> u16 {
        self.end - self.start
    }
}

impl std::fmt::Display for WorkingInterval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}–{}",
            format_minute(self.start),
            format_minute(self.end)
        )
    }
}

fn parse_minute(text: &str) -> Result<u16, ScheduleError> {
    let malformed = || ScheduleError::MalformedTime(text.to_owned());
    if text == "24:00" {
        return Ok(MINUTES_PER_DAY);
    }
    let time = NaiveTime::parse_from_str(text, "%H:%M").map_err(|_| malformed())?;
    let minute = chrono::Timelike::hour(&time) * 60 + chrono::Timelike::minute(&time);
    u16::try_from(minute).map_err(|_| malformed())
}

/// The days of the week, Monday first (ISO 8601 order).
pub const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

pub fn format_minute(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// A day's intervals as a person wrote them (the tenant file, the setup routes): they must be
/// in time order and must not overlap (touching is fine: a 12:00 end and a 12:00 start). `day`
/// names the day in the message.
pub fn written_intervals(
    day: &str,
    intervals: Vec<WorkingInterval>,
) -> Result<Vec<WorkingInterval>, ScheduleError> {
    for pair in intervals.windows(2) {
        let (first, second) = (pair[0], pair[1]);
        if second.start < first.start {
            return Err(ScheduleError::Unordered {
                day: day.to_owned(),
                first: first.to_string(),
                second: second.to_string(),
            });
        }
        if second.start < first.end {
            return Err(ScheduleError::Overlap {
                day: day.to_owned(),
                first: first.to_string(),
                second: second.to_string(),
            });
        }
    }
    Ok(intervals)
}

/// The intervals of one day, sorted and disjoint.
fn normalise(
    day: &str,
    mut intervals: Vec<WorkingInterval>,
) -> Result<Vec<WorkingInterval>, ScheduleError> {
    intervals.sort();
    for pair in intervals.windows(2) {
        if pair[1].start < pair[0].end {
            return Err(ScheduleError::Overlap {
                day: day.to_owned(),
                first: pair[0].to_string(),
                second: pair[1].to_string(),
            });
        }
    }
    Ok(intervals)
}

/// A tenant's working hours: per weekday, with date overrides that replace a date's intervals
/// (an override with no interval closes the day).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    weekly: [Vec<WorkingInterval>; 7],
    overrides: BTreeMap<NaiveDate, Vec<WorkingInterval>>,
}

impl Schedule {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the intervals of a weekday, replacing earlier ones.
    pub fn set_weekday(
        &mut self,
        day: Weekday,
        intervals: Vec<WorkingInterval>,
    ) -> Result<(), ScheduleError> {
        self.weekly[day.num_days_from_monday() as usize] = normalise(&day.to_string(), intervals)?;
        Ok(())
    }

    /// Replaces a date's intervals; an empty list closes the date.
    pub fn set_override(
        &mut self,
        date: NaiveDate,
        intervals: Vec<WorkingInterval>,
    ) -> Result<(), ScheduleError> {
        self.overrides
            .insert(date, normalise(&date.to_string(), intervals)?);
        Ok(())
    }

    pub fn weekday(&self, day: Weekday) -> &[WorkingInterval] {
        &self.weekly[day.num_days_from_monday() as usize]
    }

    pub fn overrides(&self) -> impl Iterator<Item = (NaiveDate, &[WorkingInterval])> {
        self.overrides.iter().map(|(d, i)| (*d, i.as_slice()))
    }

    /// A date's override, if it has one (`Some(&[])` closes the date).
    pub fn override_on(&self, date: NaiveDate) -> Option<&[WorkingInterval]> {
        self.overrides.get(&date).map(Vec::as_slice)
    }

    /// The working intervals of a local date, after overrides.
    pub fn intervals_on(&self, date: NaiveDate) -> &[WorkingInterval] {
        match self.overrides.get(&date) {
            Some(intervals) => intervals,
            None => self.weekday(date.weekday()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_with_end_of_day() -> Result<(), ScheduleError> {
        let whole_day = WorkingInterval::parse("00:00", "24:00")?;
        assert_eq!(whole_day.len_minutes(), 1440);
        assert!(WorkingInterval::parse("9:00", "17:00").is_ok());
        assert!(WorkingInterval::parse("17:00", "09:00").is_err());
        assert!(WorkingInterval::parse("25:00", "26:00").is_err());
        assert!(WorkingInterval::parse("nine", "17:00").is_err());
        Ok(())
    }

    #[test]
    fn overlapping_intervals_on_one_day_are_refused() -> Result<(), ScheduleError> {
        let mut schedule = Schedule::new();
        let morning = WorkingInterval::parse("09:00", "12:30")?;
        let afternoon = WorkingInterval::parse("12:00", "17:00")?;
        assert!(matches!(
            schedule.set_weekday(Weekday::Mon, vec![afternoon, morning]),
            Err(ScheduleError::Overlap { .. })
        ));
        Ok(())
    }

    #[test]
    fn an_override_replaces_the_weekday_and_an_empty_one_closes_it() -> Result<(), ScheduleError> {
        let mut schedule = Schedule::new();
        schedule.set_weekday(
            Weekday::Thu,
            vec![WorkingInterval::parse("09:00", "17:00")?],
        )?;
        let christmas_eve = NaiveDate::from_ymd_opt(2026, 12, 24).unwrap_or_default();
        let christmas = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap_or_default();
        schedule.set_override(
            christmas_eve,
            vec![WorkingInterval::parse("09:00", "13:00")?],
        )?;
        schedule.set_override(christmas, vec![])?;
        assert_eq!(
            schedule.intervals_on(christmas_eve)[0].end_minute(),
            13 * 60
        );
        assert!(schedule.intervals_on(christmas).is_empty());
        let next_thursday = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap_or_default();
        assert_eq!(schedule.intervals_on(next_thursday).len(), 1);
        Ok(())
    }
}

/// The first instant of the local `date` in `zone`: its midnight, or — where a clock change
/// skips midnight — the first wall time after the gap. The owner's calendar lists the jobs
/// starting in `[day_start(from), day_start(to + 1))`.
pub fn day_start(zone: chrono_tz::Tz, date: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
    use chrono::{Duration, TimeZone, Utc};
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    // A gap lasts at most a few hours; minute by minute finds its end.
    (0..24 * 60)
        .find_map(|minute| {
            zone.from_local_datetime(&(midnight + Duration::minutes(minute)))
                .earliest()
        })
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

#[cfg(test)]
mod day_start_tests {
    use super::day_start;
    use chrono::{NaiveDate, TimeZone, Utc};

    #[test]
    fn a_local_day_starts_at_its_midnight_or_right_after_a_gap() {
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        assert_eq!(
            day_start(chrono_tz::America::New_York, date(2026, 12, 7)),
            Utc.with_ymd_and_hms(2026, 12, 7, 5, 0, 0).unwrap()
        );
        // Santiago springs forward at midnight: 2026-09-06 begins at 01:00 local (-03:00).
        assert_eq!(
            day_start(chrono_tz::America::Santiago, date(2026, 9, 6)),
            Utc.with_ymd_and_hms(2026, 9, 6, 4, 0, 0).unwrap()
        );
    }
}
