//! The staffed engine against a three-stylist salon and generated calendars.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing test should panic.

use booking_domain::{
    AssignedPeriod, BookingRejected, BookingSettings, FreeStaff, OccupiedPeriod, Schedule,
    StaffCapacity, StaffChoice, StaffHours, StaffId, StaffMember, StaffRefusal, StaffedCalendar,
    StaffedSlot, WorkingInterval, performed_by_staff, pick_any_available,
};
use booking_test_support::{NEW_YORK, friday_morning, interval, ny, weekday_hours};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use proptest::prelude::*;
use uuid::Uuid;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

fn staff_id(n: u128) -> StaffId {
    StaffId::new(Uuid::from_u128(n))
}

const HAIRCUT: Uuid = Uuid::from_u128(0x100);
const COLOUR: Uuid = Uuid::from_u128(0x200);
const ANA: u128 = 1;
const BEA: u128 = 2;
const CY: u128 = 3;
const DEE: u128 = 4;

fn member(n: u128, hours: StaffHours, services: &[Uuid]) -> StaffMember {
    StaffMember {
        id: staff_id(n),
        capacity: StaffCapacity::ONE,
        active: true,
        hours,
        services: services.to_vec(),
    }
}

/// Ana works 10:00–14:00 on weekdays; Bea works the salon's hours; Cy works the salon's hours
/// but is off on Tuesday 2026-12-08; Dee only does colour.
fn stylists() -> Vec<StaffMember> {
    let mut ana_week = Schedule::new();
    for day in booking_domain::WEEK.into_iter().take(5) {
        ana_week
            .set_weekday(day, vec![interval("10:00", "14:00")])
            .unwrap();
    }
    let mut cy = StaffHours::tenants();
    cy.set_override(date(2026, 12, 8), vec![]).unwrap();
    vec![
        member(CY, cy, &[HAIRCUT]),
        member(ANA, StaffHours::own(ana_week), &[HAIRCUT, COLOUR]),
        member(BEA, StaffHours::tenants(), &[HAIRCUT]),
        member(DEE, StaffHours::tenants(), &[COLOUR]),
    ]
}

fn job(who: Option<u128>, start: DateTime<Utc>, minutes: i64) -> AssignedPeriod {
    AssignedPeriod {
        period: OccupiedPeriod {
            start,
            end: start + Duration::minutes(minutes),
        },
        staff: who.map(staff_id),
    }
}

fn at(slots: &[StaffedSlot], h: u32, m: u32) -> Option<&StaffedSlot> {
    slots
        .iter()
        .find(|s| s.slot.start.hour() == h && s.slot.start.minute() == m)
}

fn ids(list: &[u128]) -> Vec<StaffId> {
    list.iter().copied().map(staff_id).collect()
}

fn free_ids(free: &[FreeStaff]) -> Vec<StaffId> {
    free.iter().map(|f| f.id).collect()
}

#[test]
fn each_stylist_is_offered_inside_their_own_hours_and_remaining_sums_their_places() {
    let schedule = weekday_hours();
    let roster = stylists();
    let calendar = StaffedCalendar::new(
        NEW_YORK,
        BookingSettings::default(),
        &schedule,
        HAIRCUT,
        45,
        &roster,
        &[],
    );
    let monday = date(2026, 12, 7);
    let slots = calendar
        .slots(monday, monday, friday_morning(), StaffChoice::Any)
        .unwrap();
    let nine = at(&slots, 9, 0).unwrap();
    assert_eq!(nine.staff_ids, ids(&[BEA, CY]), "Ana starts at ten");
    assert_eq!(nine.slot.remaining, 2);
    let eleven = at(&slots, 11, 0).unwrap();
    assert_eq!(eleven.staff_ids, ids(&[ANA, BEA, CY]));
    assert_eq!(eleven.slot.remaining, 3);
    // The salon's lunch break is Ana's working time.
    let noon = at(&slots, 12, 0).unwrap();
    assert_eq!(noon.staff_ids, ids(&[ANA]));
    assert_eq!(at(&slots, 13, 0).unwrap().staff_ids, ids(&[ANA, BEA, CY]));
    assert_eq!(
        at(&slots, 13, 30).unwrap().staff_ids,
        ids(&[BEA, CY]),
        "13:30–14:15 runs past Ana's 14:00"
    );
    assert_eq!(at(&slots, 16, 0).unwrap().staff_ids, ids(&[BEA, CY]));
    for pair in slots.windows(2) {
        assert!(pair[0].slot.start < pair[1].slot.start);
    }
}

#[test]
fn a_stylist_off_on_a_date_is_not_offered_that_day_only() {
    let schedule = weekday_hours();
    let roster = stylists();
    let calendar = StaffedCalendar::new(
        NEW_YORK,
        BookingSettings::default(),
        &schedule,
        HAIRCUT,
        45,
        &roster,
        &[],
    );
    let tuesday = date(2026, 12, 8);
    let cy = StaffChoice::Named(staff_id(CY));
    let slots = calendar
        .slots(tuesday, tuesday, friday_morning(), StaffChoice::Any)
        .unwrap();
    assert!(slots.iter().all(|s| !s.staff_ids.contains(&staff_id(CY))));
    assert!(
        calendar
            .slots(tuesday, tuesday, friday_morning(), cy)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        calendar.evaluate(ny(2026, 12, 8, 9, 0), friday_morning(), cy),
        Err(StaffRefusal::Rejected(BookingRejected::OutsideWorkingHours))
    );
    let wednesday = date(2026, 12, 9);
    assert!(
        !calendar
            .slots(wednesday, wednesday, friday_morning(), cy)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_job_takes_only_its_own_stylist_whatever_service_it_is_for() {
    let schedule = weekday_hours();
    let roster = stylists();
    let jobs = [
        // Bea's colour-free haircut at 11:00, Ana's colour at 11:00 (another service, still Ana).
        job(Some(BEA), ny(2026, 12, 7, 11, 0), 45),
        job(Some(ANA), ny(2026, 12, 7, 11, 0), 90),
        // A job of an unstaffed service holds nobody.
        job(None, ny(2026, 12, 7, 11, 0), 45),
    ];
    let calendar = StaffedCalendar::new(
        NEW_YORK,
        BookingSettings::default(),
        &schedule,
        HAIRCUT,
        45,
        &roster,
        &jobs,
    );
    let monday = date(2026, 12, 7);
    let slots = calendar
        .slots(monday, monday, friday_morning(), StaffChoice::Any)
        .unwrap();
    let eleven = at(&slots, 11, 0).unwrap();
    assert_eq!(eleven.staff_ids, ids(&[CY]));
    assert_eq!(eleven.slot.remaining, 1);
    let free = calendar
        .evaluate(ny(2026, 12, 7, 11, 0), friday_morning(), StaffChoice::Any)
        .unwrap();
    assert_eq!(free_ids(&free), ids(&[CY]));
    assert_eq!(
        calendar.evaluate(
            ny(2026, 12, 7, 11, 0),
            friday_morning(),
            StaffChoice::Named(staff_id(BEA))
        ),
        Err(StaffRefusal::Rejected(BookingRejected::SlotUnavailable))
    );
}

#[test]
fn a_named_stylist_must_exist_be_active_and_perform_the_service() {
    let schedule = weekday_hours();
    let mut roster = stylists();
    roster.push(StaffMember {
        active: false,
        ..member(9, StaffHours::tenants(), &[HAIRCUT])
    });
    let calendar = StaffedCalendar::new(
        NEW_YORK,
        BookingSettings::default(),
        &schedule,
        HAIRCUT,
        45,
        &roster,
        &[],
    );
    let start = ny(2026, 12, 7, 11, 0);
    let named = |n| StaffChoice::Named(staff_id(n));
    assert_eq!(
        calendar.evaluate(start, friday_morning(), named(DEE)),
        Err(StaffRefusal::StaffNotQualified)
    );
    assert_eq!(
        calendar.evaluate(start, friday_morning(), named(9)),
        Err(StaffRefusal::StaffNotFound)
    );
    assert_eq!(
        calendar.evaluate(start, friday_morning(), named(77)),
        Err(StaffRefusal::StaffNotFound)
    );
    let monday = date(2026, 12, 7);
    assert_eq!(
        calendar.slots(monday, monday, friday_morning(), named(DEE)),
        Err(StaffRefusal::StaffNotQualified)
    );
    let ana = calendar
        .assign(start, friday_morning(), named(ANA), &[])
        .unwrap();
    assert_eq!(ana.id, staff_id(ANA));
}

#[test]
fn a_refused_named_booking_gets_that_stylists_own_next_starts() {
    let schedule = weekday_hours();
    let roster = stylists();
    let jobs = [job(Some(ANA), ny(2026, 12, 7, 10, 0), 180)];
    let calendar = StaffedCalendar::new(
        NEW_YORK,
        BookingSettings::default(),
        &schedule,
        HAIRCUT,
        45,
        &roster,
        &jobs,
    );
    let ana = StaffChoice::Named(staff_id(ANA));
    assert_eq!(
        calendar.evaluate(ny(2026, 12, 7, 10, 30), friday_morning(), ana),
        Err(StaffRefusal::Rejected(BookingRejected::SlotUnavailable))
    );
    let next = calendar
        .next_slots(ny(2026, 12, 7, 10, 30), 14, 3, friday_morning(), ana)
        .unwrap();
    let starts: Vec<_> = next.iter().map(|s| s.slot.start.to_rfc3339()).collect();
    assert_eq!(
        starts,
        [
            "2026-12-07T13:00:00-05:00",
            "2026-12-08T10:00:00-05:00",
            "2026-12-08T10:30:00-05:00"
        ]
    );
    assert!(next.iter().all(|s| s.staff_ids == ids(&[ANA])));
}

#[test]
fn any_available_takes_the_fewest_jobs_that_day_then_the_least_recently_booked_then_the_id() {
    let schedule = weekday_hours();
    let roster = stylists();
    let start = ny(2026, 12, 7, 11, 0);
    let now = friday_morning();
    // Bea has two jobs on Monday, Cy one, Ana one (and one on Tuesday, another day).
    let jobs = [
        job(Some(BEA), ny(2026, 12, 7, 9, 0), 45),
        job(Some(BEA), ny(2026, 12, 7, 14, 0), 45),
        job(Some(CY), ny(2026, 12, 7, 15, 0), 45),
        job(Some(ANA), ny(2026, 12, 7, 13, 0), 45),
        job(Some(ANA), ny(2026, 12, 8, 10, 0), 45),
    ];
    let calendar = StaffedCalendar::new(
        NEW_YORK,
        BookingSettings::default(),
        &schedule,
        HAIRCUT,
        45,
        &roster,
        &jobs,
    );
    let free = calendar.evaluate(start, now, StaffChoice::Any).unwrap();
    let day_counts: Vec<_> = free.iter().map(|f| (f.id, f.jobs_that_day)).collect();
    assert_eq!(
        day_counts,
        [(staff_id(ANA), 1), (staff_id(BEA), 2), (staff_id(CY), 1)]
    );
    // Ana and Cy tie on the day; neither booked before: the smaller id.
    assert_eq!(
        calendar
            .assign(start, now, StaffChoice::Any, &[])
            .unwrap()
            .id,
        staff_id(ANA)
    );
    // Ana was booked more recently than Cy: Cy.
    let last = [
        (staff_id(ANA), ny(2026, 12, 3, 12, 0)),
        (staff_id(CY), ny(2026, 12, 2, 12, 0)),
        (staff_id(BEA), ny(2026, 11, 1, 12, 0)),
    ];
    assert_eq!(
        calendar
            .assign(start, now, StaffChoice::Any, &last)
            .unwrap()
            .id,
        staff_id(CY)
    );
    // Someone never booked goes before anyone booked.
    let only_cy = [(staff_id(CY), ny(2026, 12, 2, 12, 0))];
    assert_eq!(
        pick_any_available(&free, &only_cy).map(|f| f.id),
        Some(staff_id(ANA))
    );
}

#[test]
fn any_available_spreads_a_days_bookings_over_the_stylists() {
    let schedule = weekday_hours();
    let roster = stylists();
    let now = friday_morning();
    let mut jobs = Vec::new();
    let mut last_booked = Vec::new();
    let mut booked_at = now;
    // The three work 10:00, 11:00 and 13:00 on both days.
    for (day, hour) in [(9, 10), (9, 11), (9, 13), (10, 10), (10, 11), (10, 13)] {
        let calendar = StaffedCalendar::new(
            NEW_YORK,
            BookingSettings::default(),
            &schedule,
            HAIRCUT,
            45,
            &roster,
            &jobs,
        );
        let start = ny(2026, 12, day, hour, 0);
        let who = calendar
            .assign(start, now, StaffChoice::Any, &last_booked)
            .unwrap();
        jobs.push(AssignedPeriod {
            period: OccupiedPeriod {
                start,
                end: start + Duration::minutes(45),
            },
            staff: Some(who.id),
        });
        booked_at += Duration::minutes(1);
        last_booked.retain(|(id, _)| *id != who.id);
        last_booked.push((who.id, booked_at));
    }
    let whose: Vec<_> = jobs.iter().map(|j| j.staff).collect();
    // One each per day; on the second, the least recently booked goes first.
    let order = [Some(staff_id(ANA)), Some(staff_id(BEA)), Some(staff_id(CY))];
    assert_eq!(whose[..3], order);
    assert_eq!(whose[3..], order);
}

#[test]
fn a_stylist_with_room_for_two_is_offered_until_both_places_are_taken() {
    let schedule = weekday_hours();
    let roster = vec![StaffMember {
        capacity: StaffCapacity::new(2).unwrap(),
        ..member(ANA, StaffHours::tenants(), &[HAIRCUT])
    }];
    let start = ny(2026, 12, 7, 10, 0);
    let one = [job(Some(ANA), start, 45)];
    let two = [job(Some(ANA), start, 45), job(Some(ANA), start, 45)];
    let settings = BookingSettings::default();
    let now = friday_morning();
    let free =
        |jobs: &[AssignedPeriod]| {
            StaffedCalendar::new(NEW_YORK, settings, &schedule, HAIRCUT, 45, &roster, jobs)
                .evaluate(start, now, StaffChoice::Any)
        };
    assert_eq!(free(&[]).unwrap()[0].remaining, 2);
    assert_eq!(free(&one).unwrap()[0].remaining, 1);
    assert_eq!(
        free(&two),
        Err(StaffRefusal::Rejected(BookingRejected::SlotUnavailable))
    );
    assert!(StaffCapacity::new(0).is_err());
    assert!(StaffCapacity::new(1001).is_err());
}

#[test]
fn a_hand_entered_job_may_leave_hours_but_never_overbooks_its_stylist() {
    let schedule = weekday_hours();
    let roster = stylists();
    let evening = ny(2026, 12, 7, 19, 0);
    let jobs = [job(Some(BEA), evening, 60)];
    let calendar = StaffedCalendar::new(
        NEW_YORK,
        BookingSettings::default(),
        &schedule,
        HAIRCUT,
        45,
        &roster,
        &jobs,
    );
    let end = evening + Duration::minutes(45);
    let bea = StaffChoice::Named(staff_id(BEA));
    assert_eq!(
        calendar.assign_beside_others(evening, end, bea, &[]),
        Err(StaffRefusal::Rejected(BookingRejected::SlotUnavailable))
    );
    // Bea has a job that day; Ana and Cy have none: Ana by id.
    let any = calendar
        .assign_beside_others(evening, end, StaffChoice::Any, &[])
        .unwrap();
    assert_eq!(any.id, staff_id(ANA));
    assert_eq!(
        calendar.assign_beside_others(evening, end, StaffChoice::Named(staff_id(DEE)), &[]),
        Err(StaffRefusal::StaffNotQualified)
    );
}

#[test]
fn a_stylist_on_the_salons_hours_follows_its_overrides_and_one_with_her_own_week_does_not() {
    let mut schedule = weekday_hours();
    schedule.set_override(date(2026, 12, 24), vec![]).unwrap();
    let roster = stylists();
    let christmas_eve = date(2026, 12, 24);
    let calendar = StaffedCalendar::new(
        NEW_YORK,
        BookingSettings::default(),
        &schedule,
        HAIRCUT,
        45,
        &roster,
        &[],
    );
    let slots = calendar
        .slots(
            christmas_eve,
            christmas_eve,
            friday_morning(),
            StaffChoice::Any,
        )
        .unwrap();
    assert!(!slots.is_empty());
    assert!(slots.iter().all(|s| s.staff_ids == ids(&[ANA])));
}

#[test]
fn a_service_whose_staff_are_all_inactive_offers_nothing() {
    let schedule = weekday_hours();
    let mut roster = stylists();
    for person in &mut roster {
        person.active = false;
    }
    assert!(performed_by_staff(&roster, HAIRCUT));
    assert!(!performed_by_staff(&roster, Uuid::from_u128(0x300)));
    let calendar = StaffedCalendar::new(
        NEW_YORK,
        BookingSettings::default(),
        &schedule,
        HAIRCUT,
        45,
        &roster,
        &[],
    );
    let monday = date(2026, 12, 7);
    assert!(
        calendar
            .slots(monday, monday, friday_morning(), StaffChoice::Any)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        calendar.evaluate(ny(2026, 12, 7, 10, 0), friday_morning(), StaffChoice::Any),
        Err(StaffRefusal::Rejected(BookingRejected::OutsideWorkingHours))
    );
}

#[test]
fn on_dst_nights_each_stylist_gets_no_missing_and_no_doubled_start() {
    // Ana works 00:00–04:00 on Sundays; Bea the salon's (closed on Sundays) except on the two
    // clock-change Sundays, where she works 01:00–03:30.
    let mut ana_week = Schedule::new();
    ana_week
        .set_weekday(Weekday::Sun, vec![interval("00:00", "04:00")])
        .unwrap();
    let mut bea = StaffHours::tenants();
    for day in [date(2026, 3, 8), date(2026, 11, 1)] {
        bea.set_override(day, vec![interval("01:00", "03:30")])
            .unwrap();
    }
    let roster = vec![
        member(ANA, StaffHours::own(ana_week), &[HAIRCUT]),
        member(BEA, bea, &[HAIRCUT]),
    ];
    let schedule = weekday_hours();
    let settings = BookingSettings {
        max_advance_days: 365,
        ..BookingSettings::default()
    };
    let calendar = StaffedCalendar::new(NEW_YORK, settings, &schedule, HAIRCUT, 30, &roster, &[]);
    let listed = |day: NaiveDate| -> Vec<(String, usize)> {
        calendar
            .slots(day, day, ny(2026, 2, 20, 12, 0), StaffChoice::Any)
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s.slot.start.format("%H:%M%:z").to_string(),
                    s.staff_ids.len(),
                )
            })
            .collect()
    };
    let owned = |list: &[(&str, usize)]| -> Vec<(String, usize)> {
        list.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
    };
    assert_eq!(
        listed(date(2026, 3, 8)),
        owned(&[
            ("00:00-05:00", 1),
            ("00:30-05:00", 1),
            ("01:00-05:00", 2),
            ("01:30-05:00", 2),
            ("03:00-04:00", 2),
            ("03:30-04:00", 1),
        ])
    );
    let fall_back = listed(date(2026, 11, 1));
    assert_eq!(
        fall_back,
        owned(&[
            ("00:00-04:00", 1),
            ("00:30-04:00", 1),
            ("01:00-04:00", 2),
            ("01:30-04:00", 2),
            ("01:00-05:00", 2),
            ("01:30-05:00", 2),
            ("02:00-05:00", 2),
            ("02:30-05:00", 2),
            ("03:00-05:00", 2),
            ("03:30-05:00", 1),
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// Generated calendars.

const ZONES: [Tz; 4] = [
    chrono_tz::America::New_York,
    chrono_tz::America::New_York,
    chrono_tz::Europe::London,
    chrono_tz::Australia::Lord_Howe, // a 30-minute DST shift
];

/// Around New York's 2026 spring-forward (03-08) and fall-back (11-01), London's (03-29,
/// 10-25) and Lord Howe's (04-05, 10-04), and an ordinary week.
const ANCHORS: [(u32, u32); 7] = [
    (3, 6),
    (3, 7),
    (10, 30),
    (10, 31),
    (3, 27),
    (10, 2),
    (6, 15),
];

const SERVICE: Uuid = Uuid::from_u128(0xabc);
const OTHER_SERVICE: Uuid = Uuid::from_u128(0xdef);

/// A person's hours as generated: their own week or none, and one date's override or none.
#[derive(Debug, Clone)]
struct HoursPlan {
    week: Option<Schedule>,
    exception: Option<(NaiveDate, Vec<WorkingInterval>)>,
}

impl HoursPlan {
    /// The product's rule, stated directly: their override, else their week, else the
    /// tenant's hours of that date (the tenant's overrides included).
    fn intervals_on(&self, tenant: &Schedule, date: NaiveDate) -> Vec<WorkingInterval> {
        match (&self.exception, &self.week) {
            (Some((day, intervals)), _) if *day == date => intervals.clone(),
            (_, Some(week)) => week.weekday(chrono::Datelike::weekday(&date)).to_vec(),
            _ => tenant.intervals_on(date).to_vec(),
        }
    }
}

#[derive(Debug, Clone)]
struct Case {
    zone: Tz,
    settings: BookingSettings,
    schedule: Schedule,
    roster: Vec<StaffMember>,
    /// What each person's hours were generated as, to check the engine's reading of them.
    plans: Vec<HoursPlan>,
    duration: u32,
    jobs: Vec<AssignedPeriod>,
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

fn week() -> impl Strategy<Value = Vec<Vec<WorkingInterval>>> {
    proptest::collection::vec(day_intervals(), 7)
}

/// A generated person: capacity, active, qualified, their own week (or the tenant's), and an
/// override on one of the case's dates, counted from its first (off, or other hours).
type PersonSeed = (
    u32,
    bool,
    bool,
    Option<Vec<Vec<WorkingInterval>>>,
    Option<(u64, Vec<WorkingInterval>)>,
);

fn staff_member() -> impl Strategy<Value = PersonSeed> {
    (
        1u32..=3,
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.85),
        prop::option::of(week()),
        prop::option::of((0u64..6, prop_oneof![Just(Vec::new()), day_intervals()])),
    )
}

fn schedule_of(days: Vec<Vec<WorkingInterval>>) -> Schedule {
    let mut schedule = Schedule::new();
    for (weekday, intervals) in booking_domain::WEEK.into_iter().zip(days) {
        let _ = schedule.set_weekday(weekday, intervals);
    }
    schedule
}

fn cases() -> impl Strategy<Value = Case> {
    (
        0..ZONES.len(),
        0..ANCHORS.len(),
        week(),
        proptest::collection::vec(staff_member(), 1..=4),
        (
            prop::sample::select(vec![15u32, 20, 30, 45, 60]),
            1u32..=8,
            0u32..=3,
            0u32..=3,
        ),
        (0u32..=180, any::<bool>(), 1u32..=10),
        proptest::collection::vec((0i64..(7 * 24 * 12), 1i64..=36, 0usize..6), 0..40),
        0i64..(2 * 24 * 60),
    )
        .prop_map(
            |(
                zone,
                anchor,
                tenant_week,
                people,
                (step, dur15, bb, ba),
                (notice, same_day, advance),
                raw_jobs,
                now_minutes,
            )| {
                let zone = ZONES[zone];
                let (month, day) = ANCHORS[anchor];
                let from = date(2026, month, day);
                let to = from + Duration::days(4);
                let mut tenant = schedule_of(tenant_week);
                // Now and then the tenant closes a date too.
                if anchor % 2 == 0 {
                    let _ = tenant.set_override(from + chrono::Days::new(2), Vec::new());
                }
                let (roster, plans): (Vec<StaffMember>, Vec<HoursPlan>) = people
                    .into_iter()
                    .enumerate()
                    .map(|(n, (capacity, active, qualified, own, off))| {
                        let week = own.map(schedule_of);
                        let exception = off.map(|(offset, intervals)| {
                            (from + chrono::Days::new(offset), intervals)
                        });
                        let mut hours = week
                            .clone()
                            .map_or_else(StaffHours::tenants, StaffHours::own);
                        if let Some((day, intervals)) = &exception {
                            let _ = hours.set_override(*day, intervals.clone());
                        }
                        let member = StaffMember {
                            id: staff_id(n as u128 + 1),
                            capacity: StaffCapacity::new(capacity).unwrap(),
                            active,
                            hours,
                            services: if qualified {
                                vec![OTHER_SERVICE, SERVICE]
                            } else {
                                vec![OTHER_SERVICE]
                            },
                        };
                        (member, HoursPlan { week, exception })
                    })
                    .unzip();
                let origin =
                    from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() - Duration::days(1);
                // Jobs of people in the roster, of someone else, and of nobody.
                let jobs = raw_jobs
                    .into_iter()
                    .map(|(start5, len5, who)| AssignedPeriod {
                        period: OccupiedPeriod {
                            start: origin + Duration::minutes(start5 * 5),
                            end: origin + Duration::minutes(start5 * 5 + len5 * 5),
                        },
                        staff: (who < 5).then(|| staff_id(who as u128 + 1)),
                    })
                    .collect();
                let settings = BookingSettings {
                    slot_interval_minutes: step,
                    buffer_before_minutes: bb * 5,
                    buffer_after_minutes: ba * 5,
                    max_bookings_per_slot: 1,
                    min_notice_minutes: notice,
                    allow_same_day: same_day,
                    max_advance_days: advance,
                    require_confirmation: false,
                    ..BookingSettings::default()
                };
                Case {
                    zone,
                    settings,
                    schedule: tenant,
                    roster,
                    plans,
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

/// Brute force: the most of `jobs` (spans) held at once during `[start, end)` when two jobs
/// must lie `gap` apart — each span widened by half the gap on both sides, the rule the product
/// states for capacity with buffers.
fn peak(jobs: &[OccupiedPeriod], start: DateTime<Utc>, end: DateTime<Utc>, gap: Duration) -> usize {
    let half = gap / 2;
    let widened: Vec<(DateTime<Utc>, DateTime<Utc>)> = jobs
        .iter()
        .filter(|j| j.end > j.start)
        .map(|j| (j.start - half, j.end + half))
        .collect();
    let (from, until) = (start - half, end + half);
    let mut probes = vec![from];
    probes.extend(
        widened
            .iter()
            .map(|w| w.0)
            .filter(|p| from < *p && *p < until),
    );
    probes
        .into_iter()
        .map(|p| widened.iter().filter(|w| w.0 <= p && p < w.1).count())
        .max()
        .unwrap_or(0)
}

fn jobs_of(jobs: &[AssignedPeriod], id: StaffId) -> Vec<OccupiedPeriod> {
    jobs.iter()
        .filter(|j| j.staff == Some(id))
        .map(|j| j.period)
        .collect()
}

fn bookable(case: &Case) -> Vec<&StaffMember> {
    case.roster
        .iter()
        .filter(|m| m.active && m.performs(SERVICE))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn staffed_calendars_keep_every_promise(case in cases()) {
        let calendar = StaffedCalendar::new(
            case.zone, case.settings, &case.schedule, SERVICE, case.duration, &case.roster, &case.jobs,
        );
        let slots = calendar.slots(case.from, case.to, case.now, StaffChoice::Any).unwrap();
        let s = &case.settings;
        let gap = s.min_gap();
        let people = bookable(&case);

        for pair in slots.windows(2) {
            prop_assert!(pair[0].slot.start < pair[1].slot.start, "not strictly ordered: {:?}", pair);
        }

        let mut bounds = std::collections::HashMap::new();
        for slot in &slots {
            let start = slot.slot.start.with_timezone(&Utc);
            let end = slot.slot.end.with_timezone(&Utc);
            let date = slot.slot.start.date_naive();
            prop_assert!(!slot.staff_ids.is_empty());
            prop_assert!(slot.staff_ids.windows(2).all(|p| p[0] < p[1]));

            // Booking agrees with listing: the same people, the same places.
            let free = calendar.evaluate(start, case.now, StaffChoice::Any);
            prop_assert_eq!(free.as_ref().map(|f| free_ids(f)), Ok(slot.staff_ids.clone()));
            let free = free.unwrap();
            prop_assert_eq!(free.iter().map(|f| f.remaining).sum::<u32>(), slot.slot.remaining);

            let named = wall_instants(slot.slot.start.timezone(), slot.slot.start.naive_local());
            prop_assert!(named.contains(&slot.slot.start), "{} is not a real wall time", slot.slot.start);
            prop_assert!(start >= case.now + Duration::minutes(i64::from(s.min_notice_minutes)));

            let mut places = 0;
            for id in &slot.staff_ids {
                // Only qualified, active people are offered ...
                let person = people.iter().find(|m| m.id == *id);
                prop_assert!(person.is_some(), "{} is offered but not bookable", id);
                let person = person.unwrap();
                let plan = &case.plans[case.roster.iter().position(|m| m.id == *id).unwrap()];
                // ... inside their own hours, on their grid, buffers included ...
                let session_from = start - Duration::minutes(i64::from(s.buffer_before_minutes));
                let session_until = end + Duration::minutes(i64::from(s.buffer_after_minutes));
                let inside = plan.intervals_on(&case.schedule, date).iter().any(|interval| {
                    let on_grid = (slot.slot.start.hour() * 60 + slot.slot.start.minute())
                        .checked_sub(u32::from(interval.start_minute()))
                        .is_some_and(|offset| offset % s.slot_interval_minutes == 0);
                    on_grid && bounds
                        .entry((date, *interval))
                        .or_insert_with(|| interval_instants(case.zone, date, *interval))
                        .is_some_and(|(opens, closes)| opens <= session_from && session_until <= closes)
                });
                prop_assert!(inside, "{} offered at {} outside their hours", id, slot.slot.start);
                // ... and below their capacity.
                let held = peak(&jobs_of(&case.jobs, *id), start, end, gap);
                let capacity = person.capacity.get() as usize;
                prop_assert!(held < capacity, "{} offered at {} with {} of {} held", id, start, held, capacity);
                places += capacity - held;
            }
            prop_assert_eq!(places, slot.slot.remaining as usize);
        }

        // Per person: listing them alone offers exactly what booking them accepts, and nothing
        // the rules accept is lost (every grid time and every wall time near an interval's end,
        // both occurrences of a repeated one).
        for person in &people {
            let plan = &case.plans[case.roster.iter().position(|m| m.id == person.id).unwrap()];
            let choice = StaffChoice::Named(person.id);
            let own = calendar.slots(case.from, case.to, case.now, choice).unwrap();
            for slot in &own {
                let start = slot.slot.start.with_timezone(&Utc);
                prop_assert_eq!(slot.staff_ids.clone(), vec![person.id]);
                let accepted = calendar.evaluate(start, case.now, choice);
                prop_assert!(accepted.is_ok(), "{} listed for {} but refused: {:?}", start, person.id, accepted);
                let in_any = slots.iter().any(|any| any.slot.start == slot.slot.start && any.staff_ids.contains(&person.id));
                prop_assert!(in_any, "{} listed for {} alone but not among everyone", start, person.id);
            }
            for date in case.from.iter_days().take_while(|d| *d <= case.to) {
                for interval in &plan.intervals_on(&case.schedule, date) {
                    let (start, end) = (u32::from(interval.start_minute()), u32::from(interval.end_minute()));
                    let grid = (start..end).step_by(s.slot_interval_minutes as usize);
                    let around_end = (end.saturating_sub(90)..(end + 90).min(1440)).step_by(5);
                    // Every grid time the rules allow, checked without the engine, is offered.
                    let today = case.now.with_timezone(&case.zone).date_naive();
                    let first_date = if s.allow_same_day { today } else { today + Duration::days(1) };
                    let in_window = first_date <= date && date <= today + Duration::days(i64::from(s.max_advance_days));
                    let span = interval_instants(case.zone, date, *interval);
                    for minute in (start..end).step_by(s.slot_interval_minutes as usize) {
                        let wall = date.and_hms_opt(0, 0, 0).unwrap_or_default() + Duration::minutes(i64::from(minute));
                        for instant in wall_instants(case.zone, wall) {
                            let at = instant.with_timezone(&Utc);
                            let until = at + Duration::minutes(i64::from(case.duration));
                            let fits = span.is_some_and(|(opens, closes)| {
                                opens <= at - Duration::minutes(i64::from(s.buffer_before_minutes))
                                    && until + Duration::minutes(i64::from(s.buffer_after_minutes)) <= closes
                            });
                            let allowed = in_window && at >= case.now + Duration::minutes(i64::from(s.min_notice_minutes));
                            let room = peak(&jobs_of(&case.jobs, person.id), at, until, gap) < person.capacity.get() as usize;
                            if fits && allowed && room {
                                prop_assert!(own.iter().any(|slot| slot.slot.start == instant), "{} is free for {} but not offered", instant, person.id);
                            }
                        }
                    }
                    for minute in grid.chain(around_end) {
                        let wall = date.and_hms_opt(0, 0, 0).unwrap_or_default() + Duration::minutes(i64::from(minute));
                        for instant in wall_instants(case.zone, wall) {
                            if calendar.evaluate(instant.with_timezone(&Utc), case.now, choice).is_ok() {
                                prop_assert!(own.iter().any(|slot| slot.slot.start == instant), "{} accepted for {} but not offered", instant, person.id);
                            }
                        }
                    }
                }
            }
        }

        // Everyone else is refused by name, with the reason that fits.
        for member in &case.roster {
            if !member.active {
                prop_assert_eq!(
                    calendar.slots(case.from, case.to, case.now, StaffChoice::Named(member.id)),
                    Err(StaffRefusal::StaffNotFound)
                );
            } else if !member.performs(SERVICE) {
                prop_assert_eq!(
                    calendar.slots(case.from, case.to, case.now, StaffChoice::Named(member.id)),
                    Err(StaffRefusal::StaffNotQualified)
                );
            }
        }
    }

    /// Books every offered start until it refuses, by "any available" or by name, re-reading
    /// the calendar after each booking as the guard would: nobody ever goes above capacity, and
    /// a start takes exactly as many bookings as its `remaining` said.
    #[test]
    fn booking_every_offered_place_never_puts_anyone_above_capacity(
        case in cases(),
        named in proptest::collection::vec(any::<bool>(), 16),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 4),
    ) {
        let gap = case.settings.min_gap();
        let first = StaffedCalendar::new(
            case.zone, case.settings, &case.schedule, SERVICE, case.duration, &case.roster, &case.jobs,
        );
        let slots = first.slots(case.from, case.to, case.now, StaffChoice::Any).unwrap();
        prop_assume!(!slots.is_empty());
        let mut jobs = case.jobs.clone();
        let mut last_booked: Vec<(StaffId, DateTime<Utc>)> = Vec::new();
        let mut booked_at = case.now;
        for pick in picks {
            let offered = pick.get(&slots);
            let start = offered.slot.start.with_timezone(&Utc);
            let end = offered.slot.end.with_timezone(&Utc);
            let remaining_now = StaffedCalendar::new(
                case.zone, case.settings, &case.schedule, SERVICE, case.duration, &case.roster, &jobs,
            ).evaluate(start, case.now, StaffChoice::Any).map_or(0, |free| free.iter().map(|f| f.remaining).sum());
            let mut landed = 0;
            let mut any_refused = false;
            for (attempt, by_name) in named.iter().enumerate() {
                let calendar = StaffedCalendar::new(
                    case.zone, case.settings, &case.schedule, SERVICE, case.duration, &case.roster, &jobs,
                );
                let choice = if *by_name {
                    StaffChoice::Named(offered.staff_ids[attempt % offered.staff_ids.len()])
                } else {
                    StaffChoice::Any
                };
                let Ok(who) = calendar.assign(start, case.now, choice, &last_booked) else {
                    any_refused |= choice == StaffChoice::Any;
                    continue;
                };
                let person = case.roster.iter().find(|m| m.id == who.id).unwrap();
                prop_assert!(person.active && person.performs(SERVICE));
                if let StaffChoice::Named(id) = choice {
                    prop_assert_eq!(id, who.id);
                }
                let mut theirs = jobs_of(&jobs, who.id);
                theirs.push(OccupiedPeriod { start, end });
                let held = peak(&theirs, start, end, gap);
                prop_assert!(held <= person.capacity.get() as usize, "{} above capacity at {}: {}", who.id, start, held);
                jobs.push(AssignedPeriod { period: OccupiedPeriod { start, end }, staff: Some(who.id) });
                booked_at += Duration::seconds(1);
                last_booked.push((who.id, booked_at));
                landed += 1;
            }
            let after = StaffedCalendar::new(
                case.zone, case.settings, &case.schedule, SERVICE, case.duration, &case.roster, &jobs,
            );
            let full = after.evaluate(start, case.now, StaffChoice::Any);
            if any_refused {
                prop_assert_eq!(full, Err(StaffRefusal::Rejected(BookingRejected::SlotUnavailable)));
            }
            prop_assert!(landed <= remaining_now as usize);
            if !named.iter().any(|b| *b) {
                prop_assert_eq!(landed, (remaining_now as usize).min(named.len()));
            }
        }
    }
}
