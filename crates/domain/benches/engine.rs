//! The availability engine and the booking decision, swept over days × existing jobs.
//! The reference point: 31 days, one service, 2,000 jobs, capacity 3, 30-minute grid.
//! Staffed (issue 16): 20 staff × 31 days × 5,000 jobs, swept over staff, days and jobs.

use std::hint::black_box;

use booking_domain::{
    AssignedPeriod, BookingSettings, Calendar, OccupiedPeriod, Schedule, StaffCapacity,
    StaffChoice, StaffHours, StaffId, StaffMember, StaffedCalendar, WorkingInterval,
};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const ZONE: chrono_tz::Tz = chrono_tz::America::New_York;

fn schedule() -> Schedule {
    let mut schedule = Schedule::new();
    let hours = |a, b| WorkingInterval::parse(a, b).unwrap_or_else(|e| panic!("{e}"));
    // Monday to Saturday.
    for day in booking_domain::WEEK.into_iter().take(6) {
        let _ = schedule.set_weekday(day, vec![hours("08:00", "12:00"), hours("13:00", "20:00")]);
    }
    schedule
}

fn now() -> DateTime<Utc> {
    ZONE.with_ymd_and_hms(2026, 12, 1, 6, 0, 0)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// `count` 45-minute jobs spread evenly (pseudo-randomly) over the days.
fn jobs(days: i64, count: usize) -> Vec<OccupiedPeriod> {
    let origin = now();
    let span_minutes = days * 24 * 60;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut jobs: Vec<OccupiedPeriod> = (0..count)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let start = origin + Duration::minutes((seed % span_minutes as u64) as i64 / 15 * 15);
            OccupiedPeriod {
                start,
                end: start + Duration::minutes(45),
            }
        })
        .collect();
    jobs.sort_by_key(|j| j.start);
    jobs
}

fn settings() -> BookingSettings {
    BookingSettings {
        max_bookings_per_slot: 3,
        slot_interval_minutes: 30,
        min_notice_minutes: 0,
        max_advance_days: 90,
        ..BookingSettings::default()
    }
}

fn availability(c: &mut Criterion) {
    let schedule = schedule();
    let from = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
    let mut group = c.benchmark_group("slots");
    for days in [7_i64, 31, 62] {
        for job_count in [0_usize, 500, 2_000, 8_000] {
            let jobs = jobs(days, job_count);
            let to = from + Duration::days(days - 1);
            group.throughput(Throughput::Elements(days as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("{days}d"), job_count),
                &jobs,
                |b, jobs| {
                    b.iter(|| {
                        let calendar =
                            Calendar::new(ZONE, settings(), &schedule, 45, black_box(jobs));
                        black_box(calendar.slots(from, to, now()))
                    })
                },
            );
        }
    }
    group.finish();
}

fn booking_decision(c: &mut Criterion) {
    let schedule = schedule();
    let mut group = c.benchmark_group("evaluate");
    for job_count in [0_usize, 2_000, 8_000] {
        let jobs = jobs(31, job_count);
        let start = ZONE
            .with_ymd_and_hms(2026, 12, 15, 14, 0, 0)
            .single()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        group.bench_with_input(BenchmarkId::from_parameter(job_count), &jobs, |b, jobs| {
            b.iter(|| {
                let calendar = Calendar::new(ZONE, settings(), &schedule, 45, black_box(jobs));
                black_box(calendar.evaluate(start, now()))
            })
        });
    }
    group.finish();
}

const SERVICE: uuid::Uuid = uuid::Uuid::from_u128(0x5e);

/// `count` people. With `own_hours`, each has a week of their own and no two alike (so no
/// person shares the work of finding starts with another, the engine's worst case): person `i`
/// starts `i` quarter-hours after 07:00, works four hours, takes an hour's break and works four
/// more, Monday to Saturday. Without, all work the tenant's hours.
fn roster(count: usize, own_hours: bool) -> Vec<StaffMember> {
    (0..count)
        .map(|i| {
            let opens = 7 * 60 + 15 * i as u16;
            let hours = |a: u16, b: u16| {
                WorkingInterval::from_minutes(a, b).unwrap_or_else(|e| panic!("{e}"))
            };
            let mut week = Schedule::new();
            for day in booking_domain::WEEK.into_iter().take(6) {
                let _ = week.set_weekday(
                    day,
                    vec![hours(opens, opens + 240), hours(opens + 300, opens + 540)],
                );
            }
            StaffMember {
                id: StaffId::new(uuid::Uuid::from_u128(i as u128 + 1)),
                capacity: StaffCapacity::ONE,
                active: true,
                hours: if own_hours {
                    StaffHours::own(week)
                } else {
                    StaffHours::tenants()
                },
                services: vec![SERVICE],
            }
        })
        .collect()
}

/// [`jobs`], dealt out to `staff` people in turn.
fn assigned(days: i64, count: usize, staff: usize) -> Vec<AssignedPeriod> {
    jobs(days, count)
        .into_iter()
        .enumerate()
        .map(|(n, period)| AssignedPeriod {
            period,
            staff: Some(StaffId::new(uuid::Uuid::from_u128((n % staff) as u128 + 1))),
        })
        .collect()
}

fn staffed_settings() -> BookingSettings {
    BookingSettings {
        slot_interval_minutes: 30,
        min_notice_minutes: 0,
        max_advance_days: 90,
        ..BookingSettings::default()
    }
}

/// Building the calendar (every job sorted into its person's occupancy) and listing every slot
/// with its free staff; `staffed/{staff}x{days}d/{jobs}`. The target point is `20x31d/5000`.
fn staffed_availability(c: &mut Criterion) {
    let schedule = schedule();
    let from = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
    let mut group = c.benchmark_group("staffed");
    let mut points: Vec<(usize, i64, usize)> = Vec::new();
    // In staff, at 31 days and 5,000 jobs.
    points.extend([1, 5, 10, 20].map(|staff| (staff, 31, 5_000)));
    // In days, at 20 staff, with no jobs and with 5,000 (spread over the days asked for).
    points.extend([7, 31, 62].map(|days| (20, days, 0)));
    points.extend([7, 62].map(|days| (20, days, 5_000)));
    // In jobs, at 20 staff and 31 days.
    points.extend([1_250, 2_500, 10_000].map(|jobs| (20, 31, jobs)));
    for (staff, days, job_count) in points {
        let roster = roster(staff, true);
        let jobs = assigned(days, job_count, staff);
        let to = from + Duration::days(days - 1);
        group.bench_with_input(
            BenchmarkId::new(format!("{staff}x{days}d"), job_count),
            &jobs,
            |b, jobs| {
                b.iter(|| {
                    let calendar = StaffedCalendar::new(
                        ZONE,
                        staffed_settings(),
                        &schedule,
                        SERVICE,
                        45,
                        &roster,
                        black_box(jobs),
                    );
                    black_box(calendar.slots(from, to, now(), StaffChoice::Any))
                })
            },
        );
    }
    // The target point with everyone on the tenant's hours (starts found once per date).
    let roster = roster(20, false);
    let jobs = assigned(31, 5_000, 20);
    let to = from + Duration::days(30);
    group.bench_function("20x31d-shared-hours/5000", |b| {
        b.iter(|| {
            let calendar = StaffedCalendar::new(
                ZONE,
                staffed_settings(),
                &schedule,
                SERVICE,
                45,
                &roster,
                black_box(&jobs),
            );
            black_box(calendar.slots(from, to, now(), StaffChoice::Any))
        })
    });
    group.finish();
}

/// One "any available" booking decision at the target point (the calendar built each time, as
/// a booking does).
fn staffed_assignment(c: &mut Criterion) {
    let schedule = schedule();
    let roster = roster(20, true);
    let jobs = assigned(31, 5_000, 20);
    let start = ZONE
        .with_ymd_and_hms(2026, 12, 15, 14, 0, 0)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default();
    c.bench_function("staffed_assign/20x31d/5000", |b| {
        b.iter(|| {
            let calendar = StaffedCalendar::new(
                ZONE,
                staffed_settings(),
                &schedule,
                SERVICE,
                45,
                &roster,
                black_box(&jobs),
            );
            black_box(calendar.assign(start, now(), StaffChoice::Any, &[]))
        })
    });
}

criterion_group!(
    benches,
    availability,
    booking_decision,
    staffed_availability,
    staffed_assignment
);
criterion_main!(benches);
