//! The availability engine against worked examples and generated calendars.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing test should panic.

use booking_domain::{
    BookingRejected, BookingSettings, Calendar, OccupiedPeriod, Schedule, Slot, WorkingInterval,
};
use booking_test_support::{NEW_YORK, friday_morning, interval, ny, weekday_hours};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use proptest::prelude::*;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

fn wall_times(slots: &[Slot]) -> Vec<String> {
    slots
        .iter()
        .map(|s| s.start.format("%H:%M%:z").to_string())
        .collect()
}

#[test]
fn a_plain_day_offers_every_grid_time_that_fits_around_the_lunch_break() {
    let schedule = weekday_hours();
    let calendar = Calendar::new(NEW_YORK, BookingSettings::default(), &schedule, 45, &[]);
    let monday = date(2026, 12, 7);
    let slots = calendar.slots(monday, monday, friday_morning());
    assert_eq!(
        wall_times(&slots),
        [
            "09:00-05:00",
            "09:30-05:00",
            "10:00-05:00",
            "10:30-05:00",
            "11:00-05:00",
            "13:00-05:00",
            "13:30-05:00",
            "14:00-05:00",
            "14:30-05:00",
            "15:00-05:00",
            "15:30-05:00",
            "16:00-05:00"
        ]
    );
    assert!(
        slots
            .iter()
            .all(|s| s.end - s.start == Duration::minutes(45) && s.remaining == 1)
    );
}

#[test]
fn a_spring_forward_day_has_no_slot_in_the_missing_hour() {
    let mut schedule = Schedule::new();
    let _ = schedule.set_weekday(Weekday::Sun, vec![interval("00:00", "06:00")]);
    let calendar = Calendar::new(NEW_YORK, BookingSettings::default(), &schedule, 30, &[]);
    let sunday = date(2026, 3, 8);
    let slots = calendar.slots(sunday, sunday, ny(2026, 3, 1, 12, 0));
    assert_eq!(
        wall_times(&slots),
        [
            "00:00-05:00",
            "00:30-05:00",
            "01:00-05:00",
            "01:30-05:00",
            "03:00-04:00",
            "03:30-04:00",
            "04:00-04:00",
            "04:30-04:00",
            "05:00-04:00",
            "05:30-04:00"
        ]
    );
}

#[test]
fn a_fall_back_day_offers_the_repeated_hour_twice_and_nothing_doubled() {
    let mut schedule = Schedule::new();
    let _ = schedule.set_weekday(Weekday::Sun, vec![interval("00:00", "04:00")]);
    let calendar = Calendar::new(NEW_YORK, BookingSettings::default(), &schedule, 30, &[]);
    let sunday = date(2026, 11, 1);
    let slots = calendar.slots(sunday, sunday, ny(2026, 10, 25, 12, 0));
    assert_eq!(
        wall_times(&slots),
        [
            "00:00-04:00",
            "00:30-04:00",
            "01:00-04:00",
            "01:30-04:00",
            "01:00-05:00",
            "01:30-05:00",
            "02:00-05:00",
            "02:30-05:00",
            "03:00-05:00",
            "03:30-05:00"
        ]
    );
    for pair in slots.windows(2) {
        assert_eq!(pair[1].start - pair[0].start, Duration::minutes(30));
    }
}

/// Booking and listing must agree on a fall-back night, whatever the intervals' grids: every
/// instant on a 5-minute grid of the day is accepted exactly when it is listed.
fn assert_listing_and_booking_agree(calendar: &Calendar<'_>, day: NaiveDate, now: DateTime<Utc>) {
    let listed: Vec<DateTime<Utc>> = calendar
        .slots(day, day, now)
        .iter()
        .map(|slot| slot.start.with_timezone(&Utc))
        .collect();
    let midnight = ny(day.year(), day.month(), day.day(), 0, 0);
    for minutes in (0..26 * 60).step_by(5) {
        let start = midnight + Duration::minutes(minutes);
        if start.with_timezone(&NEW_YORK).date_naive() != day {
            continue;
        }
        let accepted = calendar.evaluate(start, now).is_ok();
        assert_eq!(
            accepted,
            listed.contains(&start),
            "{} is {} but {}",
            start.with_timezone(&NEW_YORK),
            if accepted { "accepted" } else { "refused" },
            if accepted { "not listed" } else { "listed" },
        );
    }
}

#[test]
fn on_a_fall_back_night_an_interval_ending_in_the_repeated_hour_books_only_what_it_lists() {
    // 00:00–01:30 on 2026-11-01 in New York: 01:30 EDT (the first one) is inside the interval's
    // instants, 30 minutes before 01:30 EST closes it.
    let mut schedule = Schedule::new();
    let _ = schedule.set_weekday(Weekday::Sun, vec![interval("00:00", "01:30")]);
    let calendar = Calendar::new(NEW_YORK, BookingSettings::default(), &schedule, 30, &[]);
    assert_listing_and_booking_agree(&calendar, date(2026, 11, 1), ny(2026, 10, 25, 12, 0));
}

#[test]
fn on_a_fall_back_night_two_intervals_meeting_in_the_repeated_hour_book_only_what_they_list() {
    // 00:00–01:20 and 01:20–03:00 with a 30-minute grid: the grids do not align, and the two
    // intervals' instants overlap between 01:20 EDT and 01:20 EST.
    let mut schedule = Schedule::new();
    let _ = schedule.set_weekday(
        Weekday::Sun,
        vec![interval("00:00", "01:20"), interval("01:20", "03:00")],
    );
    let settings = BookingSettings {
        slot_interval_minutes: 30,
        ..BookingSettings::default()
    };
    let calendar = Calendar::new(NEW_YORK, settings, &schedule, 20, &[]);
    assert_listing_and_booking_agree(&calendar, date(2026, 11, 1), ny(2026, 10, 25, 12, 0));
}

#[test]
fn a_booked_job_removes_every_slot_it_overlaps_for_its_full_duration() {
    let schedule = weekday_hours();
    let job = OccupiedPeriod {
        start: ny(2026, 12, 7, 10, 0),
        end: ny(2026, 12, 7, 10, 45),
    };
    let calendar = Calendar::new(NEW_YORK, BookingSettings::default(), &schedule, 45, &[job]);
    let monday = date(2026, 12, 7);
    let morning: Vec<_> = wall_times(&calendar.slots(monday, monday, friday_morning()))
        .into_iter()
        .take(3)
        .collect();
    assert_eq!(morning, ["09:00-05:00", "11:00-05:00", "13:00-05:00"]);
    assert_eq!(
        calendar.evaluate(ny(2026, 12, 7, 9, 30), friday_morning()),
        Err(BookingRejected::SlotUnavailable)
    );
}

#[test]
fn with_capacity_two_an_overlapped_slot_stays_open_with_one_place_left() {
    let schedule = weekday_hours();
    let job = OccupiedPeriod {
        start: ny(2026, 12, 7, 10, 0),
        end: ny(2026, 12, 7, 10, 45),
    };
    let settings = BookingSettings {
        max_bookings_per_slot: 2,
        ..BookingSettings::default()
    };
    let calendar = Calendar::new(NEW_YORK, settings, &schedule, 45, &[job, job]);
    assert_eq!(
        calendar.evaluate(ny(2026, 12, 7, 10, 30), friday_morning()),
        Err(BookingRejected::SlotUnavailable)
    );
    let one = Calendar::new(NEW_YORK, settings, &schedule, 45, &[job]);
    assert_eq!(
        one.evaluate(ny(2026, 12, 7, 10, 30), friday_morning()),
        Ok(1)
    );
    assert_eq!(
        one.evaluate(ny(2026, 12, 7, 11, 0), friday_morning()),
        Ok(2)
    );
}

#[test]
fn buffers_keep_jobs_apart_and_inside_working_hours() {
    let schedule = weekday_hours();
    let settings = BookingSettings {
        buffer_before_minutes: 15,
        buffer_after_minutes: 15,
        ..BookingSettings::default()
    };
    let job = OccupiedPeriod {
        start: ny(2026, 12, 7, 10, 0),
        end: ny(2026, 12, 7, 10, 45),
    };
    let calendar = Calendar::new(NEW_YORK, settings, &schedule, 45, &[job]);
    let now = friday_morning();
    // 09:00 would need the 08:45 buffer before opening.
    assert_eq!(
        calendar.evaluate(ny(2026, 12, 7, 9, 0), now),
        Err(BookingRejected::OutsideWorkingHours)
    );
    // 09:30–10:15 plus buffers runs into the 10:00 job.
    assert_eq!(
        calendar.evaluate(ny(2026, 12, 7, 9, 30), now),
        Err(BookingRejected::SlotUnavailable)
    );
    // 11:00 leaves exactly the 15 minutes the job's buffer asks for.
    assert_eq!(calendar.evaluate(ny(2026, 12, 7, 11, 0), now), Ok(1));
    // 11:00–11:45 plus 15 minutes after fits before noon; 11:30 would not.
    assert_eq!(
        calendar.evaluate(ny(2026, 12, 7, 11, 30), now),
        Err(BookingRejected::OutsideWorkingHours)
    );
}

#[test]
fn each_booking_rule_answers_with_its_own_reason() {
    let mut schedule = weekday_hours();
    let _ = schedule.set_override(date(2026, 12, 25), vec![]);
    let settings = BookingSettings {
        allow_same_day: false,
        max_advance_days: 30,
        min_notice_minutes: 120,
        ..BookingSettings::default()
    };
    let calendar = Calendar::new(NEW_YORK, settings, &schedule, 45, &[]);
    let now = ny(2026, 12, 7, 9, 0);
    let rejected = |y, m, d, h, mi| calendar.evaluate(ny(y, m, d, h, mi), now).err();
    assert_eq!(rejected(2026, 12, 7, 8, 0), Some(BookingRejected::InPast));
    assert_eq!(
        rejected(2026, 12, 7, 10, 0),
        Some(BookingRejected::TooShortNotice { minutes: 120 })
    );
    assert_eq!(
        rejected(2026, 12, 7, 15, 0),
        Some(BookingRejected::SameDayNotAllowed)
    );
    assert_eq!(
        rejected(2027, 1, 7, 10, 0),
        Some(BookingRejected::BeyondBookingWindow { days: 30 })
    );
    assert_eq!(
        rejected(2026, 12, 25, 10, 0),
        Some(BookingRejected::OutsideWorkingHours)
    );
    assert_eq!(
        rejected(2026, 12, 12, 10, 0),
        Some(BookingRejected::OutsideWorkingHours)
    );
    assert_eq!(
        rejected(2026, 12, 8, 10, 10),
        Some(BookingRejected::NotASlot)
    );
    assert_eq!(rejected(2026, 12, 8, 10, 0), None);
    assert_eq!(rejected(2027, 1, 6, 16, 0), None);
    assert!(
        calendar
            .slots(date(2026, 12, 7), date(2026, 12, 7), now)
            .is_empty()
    );
    assert!(
        calendar
            .slots(date(2026, 12, 25), date(2026, 12, 25), now)
            .is_empty()
    );
}

#[test]
fn next_slots_skip_past_a_full_slot_to_the_following_free_ones() {
    let schedule = weekday_hours();
    let job = OccupiedPeriod {
        start: ny(2026, 12, 7, 16, 0),
        end: ny(2026, 12, 7, 16, 45),
    };
    let calendar = Calendar::new(NEW_YORK, BookingSettings::default(), &schedule, 45, &[job]);
    let next = calendar.next_slots(ny(2026, 12, 7, 16, 0), 14, 3, friday_morning());
    let starts: Vec<_> = next.iter().map(|s| s.start.to_rfc3339()).collect();
    assert_eq!(
        starts,
        [
            "2026-12-08T09:00:00-05:00",
            "2026-12-08T09:30:00-05:00",
            "2026-12-08T10:00:00-05:00"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Generated calendars.

const ZONES: [Tz; 6] = [
    chrono_tz::UTC,
    chrono_tz::America::New_York,
    chrono_tz::Europe::London,
    chrono_tz::Australia::Lord_Howe, // a 30-minute DST shift
    chrono_tz::America::Santiago,    // transitions at midnight
    chrono_tz::Asia::Kolkata,        // a half-hour offset, no DST
];

/// Dates around which the zones above change their clocks in 2026, and ordinary ones.
const ANCHORS: [(u32, u32); 8] = [
    (3, 6),
    (3, 27),
    (4, 3),
    (9, 5),
    (10, 2),
    (10, 23),
    (10, 30),
    (6, 15),
];

#[derive(Debug, Clone)]
struct Case {
    zone: Tz,
    settings: BookingSettings,
    schedule: Schedule,
    duration: u32,
    jobs: Vec<OccupiedPeriod>,
    now: DateTime<Utc>,
    from: NaiveDate,
    to: NaiveDate,
}

fn day_intervals() -> impl Strategy<Value = Vec<WorkingInterval>> {
    // Up to two intervals on a quarter-hour grid, the second after the first.
    (0u16..96, 1u16..48, 0u16..16, 1u16..48, any::<bool>()).prop_map(|(a, len1, gap, len2, two)| {
        let start1 = a * 15;
        let end1 = (start1 + len1 * 15).min(1440);
        let mut intervals = Vec::new();
        if let Ok(first) = WorkingInterval::from_minutes(start1, end1) {
            intervals.push(first);
        }
        let start2 = end1 + gap * 15;
        let second = WorkingInterval::from_minutes(start2, (start2 + len2 * 15).min(1440));
        if let (true, Ok(second)) = (two && start2 < 1440, second) {
            intervals.push(second);
        }
        intervals
    })
}

fn cases() -> impl Strategy<Value = Case> {
    (
        0..ZONES.len(),
        0..ANCHORS.len(),
        proptest::collection::vec(day_intervals(), 7),
        (
            prop::sample::select(vec![5u32, 15, 20, 30, 45, 60]),
            1u32..=12,
            0u32..=4,
            0u32..=4,
            1u32..=3,
        ),
        (0u32..=180, any::<bool>(), 1u32..=20),
        proptest::collection::vec((0i64..(12 * 24 * 12), 1i64..=36), 0..40),
        0i64..(3 * 24 * 60),
    )
        .prop_map(
            |(
                zone,
                anchor,
                days,
                (step, dur15, bb, ba, cap),
                (notice, same_day, advance),
                raw_jobs,
                now_minutes,
            )| {
                let zone = ZONES[zone];
                let (month, day) = ANCHORS[anchor];
                let from = date(2026, month, day);
                let to = from + Duration::days(9);
                let mut schedule = Schedule::new();
                for (weekday, intervals) in booking_domain::WEEK.into_iter().zip(days) {
                    let _ = schedule.set_weekday(weekday, intervals);
                }
                let origin =
                    from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() - Duration::days(1);
                let jobs = raw_jobs
                    .into_iter()
                    .map(|(start5, len5)| OccupiedPeriod {
                        start: origin + Duration::minutes(start5 * 5),
                        end: origin + Duration::minutes(start5 * 5 + len5 * 5),
                    })
                    .collect();
                let settings = BookingSettings {
                    slot_interval_minutes: step,
                    buffer_before_minutes: bb * 5,
                    buffer_after_minutes: ba * 5,
                    max_bookings_per_slot: cap,
                    min_notice_minutes: notice,
                    allow_same_day: same_day,
                    max_advance_days: advance,
                    require_confirmation: false,
                    ..BookingSettings::default()
                };
                Case {
                    zone,
                    settings,
                    schedule,
                    duration: dur15 * 15,
                    jobs,
                    now: origin + Duration::minutes(now_minutes),
                    from,
                    to,
                }
            },
        )
}

/// Brute force, independent of the engine: the first and last instant (minute resolution) whose
/// local wall time falls inside `interval` on `date`.
fn interval_instants(
    zone: Tz,
    date: NaiveDate,
    interval: WorkingInterval,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let scan_from = date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() - Duration::days(1);
    let inside: Vec<DateTime<Utc>> = (0..3 * 24 * 60)
        .map(|m| scan_from + Duration::minutes(m))
        .filter(|t| {
            let local = t.with_timezone(&zone);
            let minute = (local.hour() * 60 + local.minute()) as u16;
            local.date_naive() == date
                && interval.start_minute() <= minute
                && minute < interval.end_minute()
        })
        .collect();
    Some((*inside.first()?, *inside.last()? + Duration::minutes(1)))
}

fn wall_instants(zone: Tz, wall: chrono::NaiveDateTime) -> Vec<DateTime<Tz>> {
    match zone.from_local_datetime(&wall) {
        chrono::LocalResult::Single(t) => vec![t],
        chrono::LocalResult::Ambiguous(a, b) => vec![a, b],
        chrono::LocalResult::None => vec![],
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn generated_calendars_keep_every_promise(case in cases()) {
        let calendar = Calendar::new(case.zone, case.settings, &case.schedule, case.duration, &case.jobs);
        let slots = calendar.slots(case.from, case.to, case.now);
        let s = &case.settings;
        let gap = Duration::minutes(i64::from(s.buffer_before_minutes.max(s.buffer_after_minutes)));

        // In time order, none doubled.
        for pair in slots.windows(2) {
            prop_assert!(pair[0].start < pair[1].start, "not strictly ordered: {:?}", pair);
        }

        let mut bounds = std::collections::HashMap::new();
        for slot in &slots {
            let start = slot.start.with_timezone(&Utc);
            let end = slot.end.with_timezone(&Utc);
            let date = slot.start.date_naive();

            // Booking agrees with availability.
            prop_assert_eq!(calendar.evaluate(start, case.now), Ok(slot.remaining));

            // Never in a DST gap: the wall time exists and names this instant.
            let named = wall_instants(slot.start.timezone(), slot.start.naive_local());
            prop_assert!(named.contains(&slot.start), "{} is not a real wall time", slot.start);

            // The session with its buffers lies inside one working interval of its local date,
            // and starts on that interval's grid.
            let session_from = start - Duration::minutes(i64::from(s.buffer_before_minutes));
            let session_until = end + Duration::minutes(i64::from(s.buffer_after_minutes));
            let inside = case.schedule.intervals_on(date).iter().any(|interval| {
                let on_grid = (slot.start.hour() * 60 + slot.start.minute())
                    .checked_sub(u32::from(interval.start_minute()))
                    .is_some_and(|offset| offset % s.slot_interval_minutes == 0);
                on_grid && bounds
                    .entry((date, *interval))
                    .or_insert_with(|| interval_instants(case.zone, date, *interval))
                    .is_some_and(|(opens, closes)| opens <= session_from && session_until <= closes)
            });
            prop_assert!(inside, "slot {} lies outside working hours", slot.start);

            // Within the policy window.
            prop_assert!(start >= case.now + Duration::minutes(i64::from(s.min_notice_minutes)));

            // With capacity one the rule is simple enough to state directly: no job within `gap`.
            if s.max_bookings_per_slot == 1 {
                for job in case.jobs.iter().filter(|j| j.end > j.start) {
                    prop_assert!(
                        job.end + gap <= start || end + gap <= job.start,
                        "slot {}–{} collides with job {}–{}", start, end, job.start, job.end
                    );
                }
            }
            // Any capacity: at the slot's start no more than capacity-1 jobs overlap the session.
            let overlapping = case.jobs.iter().filter(|j| j.end > j.start && j.start < end && start < j.end).count();
            let simultaneous_at = |p: DateTime<Utc>| case.jobs.iter().filter(|j| j.end > j.start && j.start <= p && p < j.end).count();
            let mut probe_points = vec![start];
            probe_points.extend(case.jobs.iter().map(|j| j.start).filter(|p| start < *p && *p < end));
            let worst = probe_points.into_iter().map(simultaneous_at).max().unwrap_or(0);
            prop_assert!(worst < s.max_bookings_per_slot as usize, "slot {} overbooks ({} of {} overlapping)", start, worst, overlapping);
        }

        // Nothing lost: every grid time the rules accept is offered, and so is every wall time
        // (both occurrences of a repeated one) within two hours either side of an interval's
        // end, where DST nights and neighbouring intervals meet.
        for date in case.from.iter_days().take_while(|d| *d <= case.to) {
            for interval in case.schedule.intervals_on(date) {
                let (start, end) = (u32::from(interval.start_minute()), u32::from(interval.end_minute()));
                let grid = (start..end).step_by(s.slot_interval_minutes as usize);
                let around_end = (end.saturating_sub(120)..(end + 120).min(1440)).step_by(5);
                for minute in grid.chain(around_end) {
                    let wall = date.and_hms_opt(0, 0, 0).unwrap_or_default() + Duration::minutes(i64::from(minute));
                    for instant in wall_instants(case.zone, wall) {
                        let start = instant.with_timezone(&Utc);
                        if calendar.evaluate(start, case.now).is_ok() {
                            prop_assert!(slots.iter().any(|slot| slot.start == instant), "{} accepted but not offered", instant);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn room_beside_other_jobs_counts_overlap_and_buffers() {
    let settings = BookingSettings {
        buffer_after_minutes: 15,
        max_bookings_per_slot: 1,
        ..BookingSettings::default()
    };
    let job = OccupiedPeriod {
        start: ny(2026, 12, 7, 10, 0),
        end: ny(2026, 12, 7, 11, 0),
    };
    let span = |h: u32, m: u32, minutes: i64| {
        let start = ny(2026, 12, 7, h, m);
        (start, start + Duration::minutes(minutes))
    };
    let (a, b) = span(11, 0, 30);
    assert!(
        !booking_domain::has_room(&settings, &[job], a, b),
        "inside the job's buffer"
    );
    assert!(job.collides_with(a, b, &settings));
    let (a, b) = span(11, 15, 30);
    assert!(booking_domain::has_room(&settings, &[job], a, b));
    assert!(!job.collides_with(a, b, &settings));
    let (a, b) = span(9, 0, 45);
    assert!(
        booking_domain::has_room(&settings, &[job], a, b),
        "ends 15 minutes before"
    );
    let two = BookingSettings {
        max_bookings_per_slot: 2,
        ..settings
    };
    let (a, b) = span(10, 30, 15);
    assert!(booking_domain::has_room(&two, &[job], a, b));
    assert!(!booking_domain::has_room(&two, &[job, job], a, b));
}
