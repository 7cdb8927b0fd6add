//! Staff: the people (or rooms) who perform a tenant's services, each with a capacity and their
//! own hours, and the engine for a service they perform.
//!
//! A [`StaffedCalendar`] offers a start while at least one qualified, active person is free for
//! the whole session (buffers included) inside *their* hours; its `remaining` is the sum of their
//! free places. It lists and judges from the same per-person starts, found the way [`Calendar`]
//! finds the tenant's, so what it offers and what it accepts cannot disagree. A
//! service no staff member performs keeps the tenant's [`Calendar`] and its capacity.
//!
//! Whose job is whose: a person's capacity is taken by the active jobs assigned to them, of any
//! service; jobs without a person do not occupy anyone.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use crate::availability::{BookingRejected, Calendar, Occupancy, OccupiedPeriod, Slot, opening};
use crate::schedule::{Schedule, ScheduleError, WorkingInterval};
use crate::settings::BookingSettings;

/// A staff member's id. Ordered, so "a stable order" among equals is the order of ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StaffId(Uuid);

impl StaffId {
    pub fn new(id: Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for StaffId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl std::fmt::Display for StaffId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// How many jobs one person (or room) can hold at once: 1 to [`StaffCapacity::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StaffCapacity(u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a staff member's capacity must be between 1 and 1000, got {0}")]
pub struct StaffCapacityError(pub u32);

impl StaffCapacity {
    pub const ONE: Self = Self(1);
    /// The bound of the tenant's `maxBookingsPerSlot`, for the same reason: bounded loops.
    pub const MAX: u32 = 1000;

    pub fn new(places: u32) -> Result<Self, StaffCapacityError> {
        if (1..=Self::MAX).contains(&places) {
            Ok(Self(places))
        } else {
            Err(StaffCapacityError(places))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for StaffCapacity {
    fn default() -> Self {
        Self::ONE
    }
}

/// When a person works. A person without a week of their own works the tenant's hours, the
/// tenant's date overrides included; their own date overrides replace either for that date.
/// A person with their own week does not follow the tenant's overrides (their hours replace the
/// tenant's): closing the business on a date for them is their own override.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffHours {
    /// Their own week (used when `own_week`) and their date overrides (always).
    own: Schedule,
    own_week: bool,
}

impl StaffHours {
    /// The tenant's hours, no override of their own.
    pub fn tenants() -> Self {
        Self::default()
    }

    /// Their own week and date overrides, as `schedule` has them.
    pub fn own(schedule: Schedule) -> Self {
        Self {
            own: schedule,
            own_week: true,
        }
    }

    /// Replaces a date's intervals for this person; an empty list means they are off that day.
    pub fn set_override(
        &mut self,
        date: NaiveDate,
        intervals: Vec<WorkingInterval>,
    ) -> Result<(), ScheduleError> {
        self.own.set_override(date, intervals)
    }

    /// Whether they work a week of their own rather than the tenant's.
    pub fn has_own_week(&self) -> bool {
        self.own_week
    }

    /// Their own week and overrides (the week is empty when they work the tenant's).
    pub fn schedule(&self) -> &Schedule {
        &self.own
    }

    /// Their hours as one schedule over the tenant's `tenant`: their own week and overrides, or
    /// the tenant's week and overrides with theirs on top (what a job of theirs is judged by).
    pub fn effective(&self, tenant: &Schedule) -> Schedule {
        if self.own_week {
            return self.own.clone();
        }
        let mut schedule = tenant.clone();
        for (date, intervals) in self.own.overrides() {
            // The intervals come from a schedule, so they are already valid.
            let _ = schedule.set_override(date, intervals.to_vec());
        }
        schedule
    }

    /// The person's working intervals on a local date.
    pub fn intervals_on<'s>(
        &'s self,
        tenant: &'s Schedule,
        date: NaiveDate,
    ) -> &'s [WorkingInterval] {
        match self.own.override_on(date) {
            Some(intervals) => intervals,
            None if self.own_week => self.own.weekday(date.weekday()),
            None => tenant.intervals_on(date),
        }
    }
}

/// A person (or room) who performs services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    pub id: StaffId,
    pub capacity: StaffCapacity,
    /// An inactive person takes no bookings and is not offered, but still makes the services
    /// they perform staffed ones.
    pub active: bool,
    pub hours: StaffHours,
    /// The ids of the services this person performs.
    pub services: Vec<Uuid>,
}

impl StaffMember {
    pub fn performs(&self, service: Uuid) -> bool {
        self.services.contains(&service)
    }
}

/// Whether any staff member (active or not) performs `service`: then it is booked through a
/// [`StaffedCalendar`], else through the tenant's [`Calendar`] and its capacity. A service whose
/// staff are all inactive offers nothing rather than falling back to the tenant's capacity.
pub fn performed_by_staff(roster: &[StaffMember], service: Uuid) -> bool {
    roster.iter().any(|member| member.performs(service))
}

/// An active job's span and the person it is assigned to, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssignedPeriod {
    pub period: OccupiedPeriod,
    pub staff: Option<StaffId>,
}

/// Who a booking asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffChoice {
    /// Whoever is free, as [`pick_any_available`] chooses.
    Any,
    /// This person, or no booking.
    Named(StaffId),
}

/// Why a staffed booking (or a listing restricted to one person) cannot go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StaffRefusal {
    /// Unknown or inactive (the edge answers another tenant's id the same way).
    #[error("No such staff member.")]
    StaffNotFound,
    #[error("That staff member does not perform this service.")]
    StaffNotQualified,
    /// The booking rules; `SlotUnavailable` when the people asked for are all taken, and
    /// `OutsideWorkingHours` / `NotASlot` when none of them works at that start.
    #[error(transparent)]
    Rejected(#[from] BookingRejected),
}

/// A person free at a start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeStaff {
    pub id: StaffId,
    /// Their places left for the session.
    pub remaining: u32,
    /// Their active jobs starting on the start's local date.
    pub jobs_that_day: u32,
}

/// A staffed service's bookable start: the places left over its free staff, and who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffedSlot {
    /// `remaining` is the sum of the free staff's places.
    pub slot: Slot,
    /// The people free for the whole session, by id.
    pub staff_ids: Vec<StaffId>,
}

/// The person "any available" gets: the fewest active jobs that local day, then the least
/// recently booked (never booked first), then the smallest id. `last_booked` holds each person's
/// latest booking instant; a person missing from it has never been booked.
pub fn pick_any_available(
    free: &[FreeStaff],
    last_booked: &[(StaffId, DateTime<Utc>)],
) -> Option<FreeStaff> {
    let last = |id: StaffId| {
        last_booked
            .iter()
            .filter(|(who, _)| *who == id)
            .map(|(_, at)| *at)
            .max()
    };
    free.iter()
        .min_by_key(|person| (person.jobs_that_day, last(person.id), person.id))
        .copied()
}

/// A qualified, active person with what the engine needs of them.
#[derive(Debug, Clone)]
struct Bookable<'a> {
    member: &'a StaffMember,
    occupancy: Occupancy,
    /// Their jobs' starts (Unix seconds), sorted: counts per local day.
    job_starts: Vec<i64>,
}

impl Bookable<'_> {
    fn remaining(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Option<u32> {
        self.places_left(self.occupancy.peak(start, end))
    }

    fn places_left(&self, held: u32) -> Option<u32> {
        self.member
            .capacity
            .get()
            .checked_sub(held)
            .filter(|remaining| *remaining > 0)
    }
}

/// One staffed service's view of a tenant's calendar: lists its slots, judges its bookings and
/// assigns them.
#[derive(Debug, Clone)]
pub struct StaffedCalendar<'a> {
    /// The tenant's zone, settings, hours and the service's duration; its own occupancy is empty.
    base: Calendar<'a>,
    service: Uuid,
    roster: &'a [StaffMember],
    /// The qualified, active staff, by id.
    bookable: Vec<Bookable<'a>>,
}

impl<'a> StaffedCalendar<'a> {
    /// `roster` is the tenant's staff (all of them: who is qualified and active is decided
    /// here), `jobs` the tenant's active jobs around the dates asked about (see
    /// [`Calendar::jobs_window`]); only those assigned to a person count, against that person.
    pub fn new(
        zone: Tz,
        settings: BookingSettings,
        schedule: &'a Schedule,
        service: Uuid,
        duration_minutes: u32,
        roster: &'a [StaffMember],
        jobs: &[AssignedPeriod],
    ) -> Self {
        let base = Calendar::new(zone, settings, schedule, duration_minutes, &[]);
        let mut members: Vec<&StaffMember> = roster
            .iter()
            .filter(|member| member.active && member.performs(service))
            .collect();
        members.sort_by_key(|member| member.id);
        members.dedup_by_key(|member| member.id);
        let mut periods: Vec<Vec<OccupiedPeriod>> = vec![Vec::new(); members.len()];
        for job in jobs {
            let Some(staff) = job.staff else { continue };
            if let Ok(index) = members.binary_search_by_key(&staff, |member| member.id) {
                periods[index].push(job.period);
            }
        }
        let bookable = members
            .into_iter()
            .zip(periods)
            .map(|(member, periods)| {
                let mut job_starts: Vec<i64> = periods
                    .iter()
                    .filter(|period| period.end > period.start)
                    .map(|period| period.start.timestamp())
                    .collect();
                job_starts.sort_unstable();
                Bookable {
                    member,
                    occupancy: Occupancy::new(&periods, &settings),
                    job_starts,
                }
            })
            .collect();
        Self {
            base,
            service,
            roster,
            bookable,
        }
    }

    /// The tenant's calendar this one refines (today, the booking window, the slot for a start).
    pub fn tenant_calendar(&self) -> &Calendar<'a> {
        &self.base
    }

    /// The people a choice stands for: everyone bookable, or the one named.
    fn candidates(&self, choice: StaffChoice) -> Result<&[Bookable<'a>], StaffRefusal> {
        let StaffChoice::Named(id) = choice else {
            return Ok(&self.bookable);
        };
        if let Ok(index) = self
            .bookable
            .binary_search_by_key(&id, |person| person.member.id)
        {
            return Ok(std::slice::from_ref(&self.bookable[index]));
        }
        match self.roster.iter().find(|member| member.id == id) {
            Some(member) if member.active && !member.performs(self.service) => {
                Err(StaffRefusal::StaffNotQualified)
            }
            _ => Err(StaffRefusal::StaffNotFound),
        }
    }

    fn intervals_of(&self, person: &Bookable<'a>, date: NaiveDate) -> &'a [WorkingInterval] {
        person.member.hours.intervals_on(self.base.schedule, date)
    }

    /// Every bookable slot whose local date lies in `from..=to`, in time order, with the people
    /// free at it; `choice` names one person to list only theirs.
    pub fn slots(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
        choice: StaffChoice,
    ) -> Result<Vec<StaffedSlot>, StaffRefusal> {
        let people = self.candidates(choice)?;
        let window = self.base.bookable_window(from, to, now);
        let mut starts = DayStarts::default();
        // (start, index into `people`, places): sorted, then grouped by start.
        let mut free: Vec<(DateTime<Utc>, usize, u32)> = Vec::new();
        let mut slots = Vec::new();
        // Each person's starts come in time order: their occupancy is walked, not searched.
        let mut cursors = vec![0; people.len()];
        for date in window.dates() {
            starts.clear();
            free.clear();
            let day_offset = self.base.uniform_offset(date);
            for ((index, person), cursor) in people.iter().enumerate().zip(&mut cursors) {
                let intervals = self.intervals_of(person, date);
                let day = starts.of(&self.base, date, day_offset, intervals);
                for &start in day.iter().filter(|start| **start >= window.earliest) {
                    let end = start + self.base.duration;
                    let held = person.occupancy.peak_in_order(cursor, start, end);
                    if let Some(places) = person.places_left(held) {
                        free.push((start, index, places));
                    }
                }
            }
            free.sort_unstable();
            for group in free.chunk_by(|a, b| a.0 == b.0) {
                let remaining = group.iter().map(|entry| entry.2).sum();
                slots.push(StaffedSlot {
                    slot: self.base.slot(group[0].0, remaining),
                    staff_ids: group
                        .iter()
                        .map(|entry| people[entry.1].member.id)
                        .collect(),
                });
            }
        }
        Ok(slots)
    }

    /// Judges one requested start by every booking rule, for the people `choice` stands for:
    /// `Ok` lists those free for the whole session (never empty), by id. A start is accepted
    /// exactly when [`StaffedCalendar::slots`] lists it for the same choice: both take each
    /// person's times from the tenant calendar's `starts_in` (with the same day offset) and
    /// their places from the same occupancy.
    pub fn evaluate(
        &self,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
        choice: StaffChoice,
    ) -> Result<Vec<FreeStaff>, StaffRefusal> {
        let people = self.candidates(choice)?;
        self.base.check_policy(start, now)?;
        let date = start.with_timezone(&self.base.zone).date_naive();
        let day = self.local_day(date);
        let day_offset = self.base.uniform_offset(date);
        let mut starts = Vec::new();
        let (mut a_start, mut fits) = (false, false);
        let mut free = Vec::new();
        for person in people {
            let intervals = self.intervals_of(person, date);
            self.base
                .starts_in(date, intervals, day_offset, &mut starts);
            if starts.binary_search(&start).is_ok() {
                a_start = true;
                if let Some(remaining) = person.remaining(start, start + self.base.duration) {
                    free.push(FreeStaff {
                        id: person.member.id,
                        remaining,
                        jobs_that_day: jobs_between(&person.job_starts, day),
                    });
                }
            } else if !fits {
                fits = self.base.fits_in(start, date, intervals, day_offset);
            }
        }
        if !free.is_empty() {
            Ok(free)
        } else if a_start {
            Err(BookingRejected::SlotUnavailable.into())
        } else if fits {
            Err(BookingRejected::NotASlot.into())
        } else {
            Err(BookingRejected::OutsideWorkingHours.into())
        }
    }

    /// Decides who gets a booking at `start`: the person named, if they are qualified and free,
    /// or [`pick_any_available`] among everyone free. `last_booked` as there.
    pub fn assign(
        &self,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
        choice: StaffChoice,
        last_booked: &[(StaffId, DateTime<Utc>)],
    ) -> Result<FreeStaff, StaffRefusal> {
        let free = self.evaluate(start, now, choice)?;
        pick_any_available(&free, last_booked)
            .ok_or(StaffRefusal::Rejected(BookingRejected::SlotUnavailable))
    }

    /// Decides who gets a job spanning `[start, end)` that need not respect hours or the booking
    /// policy (a hand-entered job, a confirmation, an owner's move): the person named if they
    /// have room, or [`pick_any_available`] among everyone with room. Never overbooks anyone.
    pub fn assign_beside_others(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        choice: StaffChoice,
        last_booked: &[(StaffId, DateTime<Utc>)],
    ) -> Result<FreeStaff, StaffRefusal> {
        let people = self.candidates(choice)?;
        let date = start.with_timezone(&self.base.zone).date_naive();
        let day = self.local_day(date);
        let free: Vec<FreeStaff> = people
            .iter()
            .filter_map(|person| {
                Some(FreeStaff {
                    id: person.member.id,
                    remaining: person.remaining(start, end)?,
                    jobs_that_day: jobs_between(&person.job_starts, day),
                })
            })
            .collect();
        pick_any_available(&free, last_booked)
            .ok_or(StaffRefusal::Rejected(BookingRejected::SlotUnavailable))
    }

    /// Up to `limit` bookable slots after `after`, looking at most `days` local dates ahead: the
    /// alternatives for the people `choice` stands for (a named person's own, for a refused
    /// named booking or a reschedule that keeps its person).
    pub fn next_slots(
        &self,
        after: DateTime<Utc>,
        days: u64,
        limit: usize,
        now: DateTime<Utc>,
        choice: StaffChoice,
    ) -> Result<Vec<StaffedSlot>, StaffRefusal> {
        let from = after.with_timezone(&self.base.zone).date_naive();
        let to = from
            .checked_add_days(chrono::Days::new(days))
            .unwrap_or(from);
        Ok(self
            .slots(from, to, now, choice)?
            .into_iter()
            .filter(|slot| slot.slot.start > after)
            .take(limit)
            .collect())
    }

    /// The instants of a local date, `[first, next date's first)`, as Unix seconds.
    fn local_day(&self, date: NaiveDate) -> (i64, i64) {
        let zone = self.base.zone;
        let next = date.succ_opt().unwrap_or(date);
        let midnight = |d: NaiveDate| opening(zone, d.and_time(chrono::NaiveTime::MIN)).timestamp();
        (midnight(date), midnight(next))
    }
}

fn jobs_between(sorted_starts: &[i64], (from, until): (i64, i64)) -> u32 {
    let first = sorted_starts.partition_point(|start| *start < from);
    let last = sorted_starts.partition_point(|start| *start < until);
    u32::try_from(last.saturating_sub(first)).unwrap_or(u32::MAX)
}

/// One date's starts per distinct set of intervals: staff who share hours (all those on the
/// tenant's, say) share the work of finding them.
#[derive(Debug, Default)]
struct DayStarts<'s> {
    keys: Vec<&'s [WorkingInterval]>,
    starts: Vec<Vec<DateTime<Utc>>>,
}

impl<'s> DayStarts<'s> {
    fn clear(&mut self) {
        self.keys.clear();
    }

    fn of(
        &mut self,
        calendar: &Calendar<'_>,
        date: NaiveDate,
        day_offset: Option<chrono::Duration>,
        intervals: &'s [WorkingInterval],
    ) -> &[DateTime<Utc>] {
        let index = match self.keys.iter().position(|key| *key == intervals) {
            Some(index) => index,
            None => {
                let index = self.keys.len();
                self.keys.push(intervals);
                if self.starts.len() <= index {
                    self.starts.push(Vec::new());
                }
                calendar.starts_in(date, intervals, day_offset, &mut self.starts[index]);
                index
            }
        };
        &self.starts[index]
    }
}
