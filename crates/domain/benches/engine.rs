//! The availability engine and the booking decision, swept over days × existing jobs.
//! The reference point: 31 days, one service, 2,000 jobs, capacity 3, 30-minute grid.

use std::hint::black_box;

use booking_domain::{BookingSettings, Calendar, OccupiedPeriod, Schedule, WorkingInterval};
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

criterion_group!(benches, availability, booking_decision);
criterion_main!(benches);
