//! The availability engine. [`Calendar::slots`] lists what a client may book and
//! [`Calendar::evaluate`] judges one requested start; both are built from the same checks, so the
//! slots offered and the bookings accepted can never disagree.
//!
//! Time zones: slot times are a grid of *wall* times in the tenant's zone, anchored at each
//! working interval's start. A wall time that does not exist (spring forward) yields no slot; one
//! that exists twice (fall back) yields two, one per instant. Durations and buffers are real
//! elapsed time, and a working interval covers the instants from its start's first occurrence to
//! just after the last instant whose wall time lies before its end.

use chrono::{DateTime, Days, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::schedule::{Schedule, WorkingInterval};
use crate::settings::BookingSettings;

/// An active job's own span (without buffers: the calendar applies the tenant's buffers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OccupiedPeriod {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl OccupiedPeriod {
    /// Whether this job and a job spanning `[start, end)` come closer than the tenant's buffers
    /// allow (or overlap) — they then compete for capacity.
    pub fn collides_with(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        settings: &BookingSettings,
    ) -> bool {
        let gap = settings.min_gap();
        self.start < end + gap && start < self.end + gap
    }
}

/// Whether a job spanning `[start, end)` fits beside `others` (the tenant's other active jobs)
/// without more than capacity overlapping at any instant. Working hours are not consulted: this
/// is the guard for hand-entered jobs and confirmations.
pub fn has_room(
    settings: &BookingSettings,
    others: &[OccupiedPeriod],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> bool {
    Occupancy::new(others, settings).peak(start, end) < settings.max_bookings_per_slot
}

/// A bookable start with the places left at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub start: DateTime<Tz>,
    pub end: DateTime<Tz>,
    pub remaining: u32,
}

/// Why a requested start cannot be booked, in the order the rules are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BookingRejected {
    #[error("The requested start is in the past.")]
    InPast,
    #[error("Bookings need at least {minutes} minutes' notice.")]
    TooShortNotice { minutes: u32 },
    #[error("Bookings for today are not accepted; please choose a later day.")]
    SameDayNotAllowed,
    #[error("Bookings open at most {days} days ahead.")]
    BeyondBookingWindow { days: u32 },
    #[error("The session does not fit within working hours on that day.")]
    OutsideWorkingHours,
    #[error("The requested start is not one of the offered slot times.")]
    NotASlot,
    #[error("No place is left at the requested time.")]
    SlotUnavailable,
}

/// How many active jobs hold each instant: a step function over Unix seconds.
///
/// Buffers: two jobs must lie at least `max(bufferBefore, bufferAfter)` apart. Widening every
/// job by half that gap on both sides turns the rule into plain interval overlap, which also
/// counts correctly when capacity is above one.
#[derive(Debug, Clone, Default)]
pub struct Occupancy {
    /// `(from, count)`: `count` jobs hold `[from, next from)`; zero before the first step.
    steps: Vec<(i64, u32)>,
    half_gap_seconds: i64,
}

impl Occupancy {
    pub fn new(jobs: &[OccupiedPeriod], settings: &BookingSettings) -> Self {
        let half_gap_seconds = settings.min_gap().num_seconds() / 2;
        let mut events: Vec<(i64, i32)> = Vec::with_capacity(jobs.len() * 2);
        for job in jobs.iter().filter(|job| job.end > job.start) {
            events.push((job.start.timestamp() - half_gap_seconds, 1));
            events.push((job.end.timestamp() + half_gap_seconds, -1));
        }
        // Ends sort before starts at the same second: spans are half-open.
        events.sort_unstable();
        let mut steps: Vec<(i64, u32)> = Vec::with_capacity(events.len());
        let mut count: i64 = 0;
        for (at, delta) in events {
            count += i64::from(delta);
            let held = u32::try_from(count.max(0)).unwrap_or(u32::MAX);
            match steps.last_mut() {
                Some(last) if last.0 == at => last.1 = held,
                _ => steps.push((at, held)),
            }
        }
        Self {
            steps,
            half_gap_seconds,
        }
    }

    /// The most jobs held at any instant of `[start, end)`, buffers applied.
    pub fn peak(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> u32 {
        let from = start.timestamp() - self.half_gap_seconds;
        let first = self.steps.partition_point(|step| step.0 <= from);
        self.peak_from(first, end)
    }

    /// [`Occupancy::peak`] for queries in order of start: `cursor` (0 at first) remembers where
    /// the last one began, so a listing walks the steps once instead of searching each time. A
    /// query out of order falls back to the search.
    pub(crate) fn peak_in_order(
        &self,
        cursor: &mut usize,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> u32 {
        let from = start.timestamp() - self.half_gap_seconds;
        let behind = |i: usize| i.checked_sub(1).and_then(|i| self.steps.get(i));
        let mut first = *cursor;
        if first > self.steps.len() || behind(first).is_some_and(|step| step.0 > from) {
            first = self.steps.partition_point(|step| step.0 <= from);
        } else {
            while self.steps.get(first).is_some_and(|step| step.0 <= from) {
                first += 1;
            }
        }
        *cursor = first;
        self.peak_from(first, end)
    }

    /// The peak from the step in force at `first - 1` up to the session's end.
    fn peak_from(&self, first: usize, end: DateTime<Utc>) -> u32 {
        let until = end.timestamp() + self.half_gap_seconds;
        let mut peak = first
            .checked_sub(1)
            .and_then(|i| self.steps.get(i))
            .map_or(0, |step| step.1);
        for step in self
            .steps
            .get(first..)
            .unwrap_or_default()
            .iter()
            .take_while(|step| step.0 < until)
        {
            peak = peak.max(step.1);
        }
        peak
    }
}

/// One service's view of a tenant's calendar: everything needed to list slots and judge bookings.
#[derive(Debug, Clone)]
pub struct Calendar<'a> {
    pub(crate) zone: Tz,
    pub(crate) settings: BookingSettings,
    pub(crate) schedule: &'a Schedule,
    pub(crate) duration: Duration,
    occupancy: Occupancy,
}

/// The dates and the earliest start that the booking policy leaves open for a listing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BookableWindow {
    first: NaiveDate,
    last: NaiveDate,
    pub(crate) earliest: DateTime<Utc>,
}

impl BookableWindow {
    pub(crate) fn dates(self) -> impl Iterator<Item = NaiveDate> {
        self.first
            .iter_days()
            .take_while(move |date| *date <= self.last)
    }
}

/// The instants a working interval covers on one date.
#[derive(Debug, Clone, Copy)]
struct IntervalSpan {
    interval: WorkingInterval,
    opens: DateTime<Utc>,
    closes: DateTime<Utc>,
}

impl<'a> Calendar<'a> {
    /// `jobs` are the tenant's active jobs around the dates asked about (see [`Calendar::jobs_window`]).
    pub fn new(
        zone: Tz,
        settings: BookingSettings,
        schedule: &'a Schedule,
        duration_minutes: u32,
        jobs: &[OccupiedPeriod],
    ) -> Self {
        Self {
            zone,
            settings,
            schedule,
            duration: Duration::minutes(i64::from(duration_minutes)),
            occupancy: Occupancy::new(jobs, &settings),
        }
    }

    /// The span of instants whose active jobs can matter for the local dates `from..=to`: generous
    /// margins cover any UTC offset and the largest buffers.
    pub fn jobs_window(from: NaiveDate, to: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = from
            .checked_sub_days(Days::new(2))
            .unwrap_or(from)
            .and_time(chrono::NaiveTime::MIN)
            .and_utc();
        let end = to
            .checked_add_days(Days::new(3))
            .unwrap_or(to)
            .and_time(chrono::NaiveTime::MIN)
            .and_utc();
        (start, end)
    }

    /// The tenant's local date at `now`.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.zone).date_naive()
    }

    /// The last local date a client may book.
    pub fn last_bookable_date(&self, now: DateTime<Utc>) -> NaiveDate {
        let today = self.today(now);
        today
            .checked_add_days(Days::new(u64::from(self.settings.max_advance_days)))
            .unwrap_or(today)
    }

    /// Every bookable slot whose local date lies in `from..=to`, in time order.
    pub fn slots(&self, from: NaiveDate, to: NaiveDate, now: DateTime<Utc>) -> Vec<Slot> {
        let window = self.bookable_window(from, to, now);
        let mut starts = Vec::new();
        let mut slots = Vec::new();
        for date in window.dates() {
            self.starts_on(date, &mut starts);
            for &start in starts.iter().filter(|start| **start >= window.earliest) {
                if let Ok(remaining) = self.check_capacity(start) {
                    slots.push(self.slot(start, remaining));
                }
            }
        }
        slots
    }

    /// The local dates of `from..=to` that the same-day and advance rules leave open, and the
    /// earliest start the notice allows. Within them only the notice remains to check per start
    /// (the same rules `check_policy` applies to a single request).
    pub(crate) fn bookable_window(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
    ) -> BookableWindow {
        let today = self.today(now);
        let first_open = if self.settings.allow_same_day {
            today
        } else {
            today.succ_opt().unwrap_or(today)
        };
        BookableWindow {
            first: from.max(first_open),
            last: to.min(self.last_bookable_date(now)),
            earliest: now + Duration::minutes(i64::from(self.settings.min_notice_minutes)),
        }
    }

    /// Every start on `date` that lies on an interval's grid with the whole session inside that
    /// interval, in time order, none twice: the one definition of "a slot time" that listing and
    /// booking share. Policy and capacity are not consulted.
    fn starts_on(&self, date: NaiveDate, starts: &mut Vec<DateTime<Utc>>) {
        self.starts_in(date, self.schedule.intervals_on(date), None, starts);
    }

    /// [`Calendar::starts_on`] for a date's given `intervals` (a staff member's own hours, say)
    /// instead of the tenant's. `day_offset` is [`Calendar::uniform_offset`] of the date, for a
    /// caller that asks about many sets of intervals on one date; `None` looks it up per
    /// interval. Either gives the same starts.
    pub(crate) fn starts_in(
        &self,
        date: NaiveDate,
        intervals: &[WorkingInterval],
        day_offset: Option<Duration>,
        starts: &mut Vec<DateTime<Utc>>,
    ) {
        starts.clear();
        let step = i64::from(self.settings.slot_interval_minutes.max(1));
        let midnight = date.and_time(chrono::NaiveTime::MIN);
        for span in self.spans_of(date, intervals, day_offset) {
            // Most intervals lie within one UTC offset: then a wall time is one subtraction
            // away from its instant, and the zone's rules need not be consulted per slot.
            let (offset, uniform) = match day_offset {
                Some(offset) => (offset, true),
                None => {
                    let offset = self.offset_at(span.opens);
                    (
                        offset,
                        offset == self.offset_at(span.closes - Duration::seconds(1)),
                    )
                }
            };
            // Across a fall-back, instants of wall times past the end can still lie inside the
            // interval (01:30 EDT before a 01:30 EST close): walk past it; the fit check decides.
            // Three hours is more than any clock change in use.
            let end = i64::from(span.interval.end_minute());
            let walk_until = if uniform {
                end
            } else {
                (end + 180).min(24 * 60)
            };
            let mut minute = i64::from(span.interval.start_minute());
            while minute < walk_until {
                let wall = midnight + Duration::minutes(minute);
                let mut keep = |start: DateTime<Utc>| {
                    if self.check_fits(start, &span).is_ok() {
                        starts.push(start);
                    }
                };
                if uniform {
                    keep((wall - offset).and_utc());
                } else {
                    instants_of(self.zone, wall).for_each(keep);
                }
                minute += step;
            }
        }
        // A fall-back day interleaves the two occurrences of its repeated wall times, and two
        // intervals meeting inside the repeated hour can share an instant.
        starts.sort_unstable();
        starts.dedup();
    }

    /// The date's UTC offset when its clocks do not change that day (the same offset at its
    /// first and last instant: the test [`Calendar::starts_in`] makes per interval, made once
    /// for the whole day); `None` on a clock-change day.
    pub(crate) fn uniform_offset(&self, date: NaiveDate) -> Option<Duration> {
        let next = date.succ_opt()?;
        let opens = opening(self.zone, date.and_time(chrono::NaiveTime::MIN));
        let closes = opening(self.zone, next.and_time(chrono::NaiveTime::MIN));
        let offset = self.offset_at(opens);
        (offset == self.offset_at(closes - Duration::seconds(1))).then_some(offset)
    }

    /// The zone's UTC offset at an instant, as a duration to subtract from wall time.
    fn offset_at(&self, at: DateTime<Utc>) -> Duration {
        use chrono::Offset;
        let seconds = self
            .zone
            .offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc();
        Duration::seconds(i64::from(seconds))
    }

    /// Judges one requested start by every booking rule; `Ok` carries the places left. A start
    /// is bookable exactly when [`Calendar::slots`] lists it: both take their times from
    /// `starts_on`.
    pub fn evaluate(
        &self,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u32, BookingRejected> {
        self.check_policy(start, now)?;
        let date = start.with_timezone(&self.zone).date_naive();
        let mut starts = Vec::new();
        self.starts_on(date, &mut starts);
        if starts.binary_search(&start).is_err() {
            let fits = self.fits_in(start, date, self.schedule.intervals_on(date), None);
            return Err(if fits {
                BookingRejected::NotASlot
            } else {
                BookingRejected::OutsideWorkingHours
            });
        }
        self.check_capacity(start)
    }

    /// The slot for an accepted start.
    pub fn slot(&self, start: DateTime<Utc>, remaining: u32) -> Slot {
        Slot {
            start: start.with_timezone(&self.zone),
            end: (start + self.duration).with_timezone(&self.zone),
            remaining,
        }
    }

    /// Up to `limit` bookable slots after `after`, looking at most `days` local dates ahead.
    pub fn next_slots(
        &self,
        after: DateTime<Utc>,
        days: u64,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Vec<Slot> {
        let from = after.with_timezone(&self.zone).date_naive();
        let to = from.checked_add_days(Days::new(days)).unwrap_or(from);
        self.slots(from, to, now)
            .into_iter()
            .filter(|slot| slot.start > after)
            .take(limit)
            .collect()
    }

    /// Whether the session at `start`, buffers included, lies inside one working interval of its
    /// local date (after overrides), on the slot grid or not: rule 6 alone.
    pub fn within_hours(&self, start: DateTime<Utc>) -> bool {
        let date = start.with_timezone(&self.zone).date_naive();
        self.fits_in(start, date, self.schedule.intervals_on(date), None)
    }

    /// Whether the session at `start`, buffers included, lies inside one of a date's
    /// `intervals`, on their grid or not: tells "not a slot" from "outside working hours".
    pub(crate) fn fits_in(
        &self,
        start: DateTime<Utc>,
        date: NaiveDate,
        intervals: &[WorkingInterval],
        day_offset: Option<Duration>,
    ) -> bool {
        self.spans_of(date, intervals, day_offset)
            .any(|span| self.check_fits(start, &span).is_ok())
    }

    pub(crate) fn check_policy(
        &self,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), BookingRejected> {
        if start < now {
            return Err(BookingRejected::InPast);
        }
        let notice = self.settings.min_notice_minutes;
        if start < now + Duration::minutes(i64::from(notice)) {
            return Err(BookingRejected::TooShortNotice { minutes: notice });
        }
        let date = start.with_timezone(&self.zone).date_naive();
        if !self.settings.allow_same_day && date <= self.today(now) {
            return Err(BookingRejected::SameDayNotAllowed);
        }
        if date > self.last_bookable_date(now) {
            return Err(BookingRejected::BeyondBookingWindow {
                days: self.settings.max_advance_days,
            });
        }
        Ok(())
    }

    /// The whole session, buffers included, lies inside the working interval.
    fn check_fits(&self, start: DateTime<Utc>, span: &IntervalSpan) -> Result<(), BookingRejected> {
        let from = start - Duration::minutes(i64::from(self.settings.buffer_before_minutes));
        let until = start
            + self.duration
            + Duration::minutes(i64::from(self.settings.buffer_after_minutes));
        if span.opens <= from && until <= span.closes {
            Ok(())
        } else {
            Err(BookingRejected::OutsideWorkingHours)
        }
    }

    fn check_capacity(&self, start: DateTime<Utc>) -> Result<u32, BookingRejected> {
        let held = self.occupancy.peak(start, start + self.duration);
        self.settings
            .max_bookings_per_slot
            .checked_sub(held)
            .filter(|remaining| *remaining > 0)
            .ok_or(BookingRejected::SlotUnavailable)
    }

    /// The instants each of a date's `intervals` covers; with the date's `day_offset` (see
    /// [`Calendar::uniform_offset`]) without consulting the zone.
    fn spans_of<'i>(
        &'i self,
        date: NaiveDate,
        intervals: &'i [WorkingInterval],
        day_offset: Option<Duration>,
    ) -> impl Iterator<Item = IntervalSpan> + 'i {
        let midnight = date.and_time(chrono::NaiveTime::MIN);
        intervals.iter().map(move |interval| {
            let open_wall = midnight + Duration::minutes(i64::from(interval.start_minute()));
            let close_wall = midnight + Duration::minutes(i64::from(interval.end_minute()));
            let (opens, closes) = match day_offset {
                Some(offset) => (
                    (open_wall - offset).and_utc(),
                    (close_wall - offset).and_utc(),
                ),
                None => (
                    opening(self.zone, open_wall),
                    closing(self.zone, close_wall),
                ),
            };
            IntervalSpan {
                interval: *interval,
                opens,
                closes,
            }
        })
    }
}

/// The instants a wall time names in a zone: none in a gap, two in a repeated hour.
fn instants_of(zone: Tz, wall: NaiveDateTime) -> impl Iterator<Item = DateTime<Utc>> {
    let (first, second) = match zone.from_local_datetime(&wall) {
        LocalResult::Single(at) => (Some(at), None),
        LocalResult::Ambiguous(earlier, later) => (Some(earlier), Some(later)),
        LocalResult::None => (None, None),
    };
    first
        .into_iter()
        .chain(second)
        .map(|at| at.with_timezone(&Utc))
}

/// The first instant whose wall time is at or after `wall`: its first occurrence, or for a time
/// skipped by a gap, the instant the gap ends.
pub(crate) fn opening(zone: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    // Gaps are at most a few hours; a day's scan bounds the loop even for invented zones.
    for minutes_later in 0..=24 * 60 {
        match zone.from_local_datetime(&(wall + Duration::minutes(minutes_later))) {
            LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => {
                return at.with_timezone(&Utc);
            }
            LocalResult::None => continue,
        }
    }
    wall.and_utc()
}

/// Just after the last instant whose wall time is before `wall` (intervals end on whole
/// minutes): after the last occurrence of the minute before, or for an end inside a gap, the
/// instant the gap begins. An end that is itself repeated closes at its first occurrence.
fn closing(zone: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    for minutes_earlier in 1..=24 * 60 {
        match zone.from_local_datetime(&(wall - Duration::minutes(minutes_earlier))) {
            LocalResult::Single(at) | LocalResult::Ambiguous(_, at) => {
                return at.with_timezone(&Utc) + Duration::minutes(1);
            }
            LocalResult::None => continue,
        }
    }
    wall.and_utc()
}
