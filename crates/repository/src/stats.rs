//! The owner's statistics over a range: one aggregate statement over the tenant's jobs starting
//! in it (by status, service, who cancelled, no-shows, lead time, busiest hours, booked
//! minutes), pipelined with the reads of the tenant's hours for the range (the open minutes
//! utilisation divides by).

use booking_domain::Schedule;
use chrono::{DateTime, Duration, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Double, Integer, Jsonb, Nullable, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use uuid::Uuid;

use crate::catalog::build_schedule;
use crate::schema::{date_overrides, working_hours};

/// How many (weekday, hour) cells `busiest` lists.
pub const BUSIEST_CELLS: i64 = 5;

/// The aggregates, as the statement returns them.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct JobTotals {
    /// `{status: n}` over every job.
    #[diesel(sql_type = Jsonb)]
    pub by_status: Value,
    /// `{serviceId: n}` over every job.
    #[diesel(sql_type = Jsonb)]
    pub by_service: Value,
    /// `{staffId: n}` over the jobs assigned to a person.
    #[diesel(sql_type = Jsonb)]
    pub by_staff: Value,
    /// Cancellations in the jobs' history by the client, and by an owner.
    #[diesel(sql_type = BigInt)]
    pub cancelled_by_client: i64,
    #[diesel(sql_type = BigInt)]
    pub cancelled_by_owner: i64,
    #[diesel(sql_type = BigInt)]
    pub completed: i64,
    #[diesel(sql_type = BigInt)]
    pub no_shows: i64,
    /// The median of (start − booked at) over the clients' own bookings, in minutes.
    #[diesel(sql_type = Nullable<Double>)]
    pub lead_time_minutes_median: Option<f64>,
    /// `[{"weekday", "hour", "jobs"}]`, the [`BUSIEST_CELLS`] fullest cells of the tenant's
    /// local week over the jobs not cancelled, fullest first.
    #[diesel(sql_type = Jsonb)]
    pub busiest: Value,
    /// Minutes of the jobs not cancelled (a no-show held its place too).
    #[diesel(sql_type = Double)]
    pub booked_minutes: f64,
}

/// One statement. The jobs are read once over `jobs_by_tenant_start` into `j`; one grouping
/// by (status, service) gives the counts and booked minutes; the history is read only for the
/// cancelled jobs (a cancellation is final, so a job has at most one). The busiest cells use
/// the tenant's UTC offsets over the range (`$4` the instants they start, `$5` the offsets in
/// seconds, for `width_bucket`) and plain arithmetic — not a time-zone conversion per job.
/// Hour of the week: the Unix epoch began on a Thursday, 72 hours after a Monday's start.
const TOTALS: &str = "\
    WITH j AS MATERIALIZED ( \
        SELECT id, service_id, staff_id, status, source, starts_at, ends_at, created_at FROM jobs \
        WHERE tenant_id = $1 AND starts_at >= $2 AND starts_at < $3), \
    groups AS ( \
        SELECT status, service_id, count(*) AS n, \
               sum(date_part('epoch', ends_at) - date_part('epoch', starts_at)) AS seconds \
        FROM j GROUP BY status, service_id), \
    cancels AS ( \
        SELECT count(*) FILTER (WHERE e.actor = 'client') AS by_client, \
               count(*) FILTER (WHERE e.actor LIKE 'owner:%') AS by_owner \
        FROM j JOIN job_events e ON e.job_id = j.id \
        WHERE j.status = 'cancelled' AND e.action = 'cancelled'), \
    cells AS ( \
        SELECT ((floor((date_part('epoch', starts_at) \
                        + ($5::int[])[width_bucket(starts_at, $4::timestamptz[]) + 1]) / 3600)::bigint \
                 + 72) % 168)::int AS how, count(*) AS n \
        FROM j WHERE status <> 'cancelled' GROUP BY 1 ORDER BY n DESC, how LIMIT $6) \
    SELECT \
        (SELECT coalesce(jsonb_object_agg(status, n), '{}'::jsonb) \
           FROM (SELECT status, sum(n) AS n FROM groups GROUP BY status) s) AS by_status, \
        (SELECT coalesce(jsonb_object_agg(service_id::text, n), '{}'::jsonb) \
           FROM (SELECT service_id, sum(n) AS n FROM groups GROUP BY service_id) s) AS by_service, \
        (SELECT coalesce(jsonb_object_agg(staff_id::text, n), '{}'::jsonb) \
           FROM (SELECT staff_id, count(*) AS n FROM j WHERE staff_id IS NOT NULL \
                 GROUP BY staff_id) s) AS by_staff, \
        (SELECT by_client FROM cancels) AS cancelled_by_client, \
        (SELECT by_owner FROM cancels) AS cancelled_by_owner, \
        (SELECT coalesce(sum(n), 0)::bigint FROM groups WHERE status = 'completed') AS completed, \
        (SELECT coalesce(sum(n), 0)::bigint FROM groups WHERE status = 'no-show') AS no_shows, \
        (SELECT percentile_cont(0.5) WITHIN GROUP ( \
                    ORDER BY date_part('epoch', starts_at) - date_part('epoch', created_at)) / 60 \
           FROM j WHERE source = 'public') AS lead_time_minutes_median, \
        (SELECT coalesce(jsonb_agg(jsonb_build_object( \
                    'weekday', (ARRAY['mon','tue','wed','thu','fri','sat','sun'])[how / 24 + 1], \
                    'hour', how % 24, 'jobs', n) ORDER BY n DESC, how), '[]'::jsonb) \
           FROM cells) AS busiest, \
        (SELECT coalesce(sum(seconds) / 60, 0)::float8 FROM groups WHERE status <> 'cancelled') \
           AS booked_minutes";

fn offset_seconds(zone: Tz, at: DateTime<Utc>) -> i32 {
    zone.offset_from_utc_datetime(&at.naive_utc())
        .fix()
        .local_minus_utc()
}

/// The zone's UTC offsets over `[from, to)`, as `width_bucket` takes them: the instants each
/// offset starts (`from` first, then every change, found day by day and then to the second)
/// and the offsets, one ahead of them (bucket 0, before `from`, takes `from`'s).
pub(crate) fn offset_periods(
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (Vec<DateTime<Utc>>, Vec<i32>) {
    let first = offset_seconds(zone, from);
    let (mut starts, mut offsets) = (vec![from], vec![first, first]);
    let mut day = from;
    while day < to {
        let next = (day + Duration::days(1)).min(to);
        let current = offsets.last().copied().unwrap_or(first);
        if offset_seconds(zone, next) != current {
            // Whole seconds: `before` keeps the current offset, `after` has the next one.
            let (mut before, mut after) = (day.timestamp(), next.timestamp());
            while after - before > 1 {
                let middle = before + (after - before) / 2;
                let at = DateTime::from_timestamp(middle, 0).unwrap_or(next);
                if offset_seconds(zone, at) == current {
                    before = middle;
                } else {
                    after = middle;
                }
            }
            let at = DateTime::from_timestamp(after, 0).unwrap_or(next);
            starts.push(at);
            offsets.push(offset_seconds(zone, at));
        }
        day = next;
    }
    (starts, offsets)
}

/// The totals of the tenant's jobs starting in `[from, to)`, and its hours for the local
/// dates `dates` (inclusive) — one round trip, three statements pipelined.
#[tracing::instrument(level = "trace", name = "stats", skip_all)]
pub async fn totals(
    conn: &AsyncPgConnection,
    tenant_id: Uuid,
    zone: Tz,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    dates: (NaiveDate, NaiveDate),
) -> QueryResult<(JobTotals, Schedule)> {
    let (offset_starts, offsets) = offset_periods(zone, from, to);
    let totals = async {
        let mut conn = conn;
        diesel::sql_query(TOTALS)
            .bind::<SqlUuid, _>(tenant_id)
            .bind::<Timestamptz, _>(from)
            .bind::<Timestamptz, _>(to)
            .bind::<Array<Timestamptz>, _>(offset_starts)
            .bind::<Array<Integer>, _>(offsets)
            .bind::<BigInt, _>(BUSIEST_CELLS)
            .get_result::<JobTotals>(&mut conn)
            .await
    };
    let weekly = async {
        let mut conn = conn;
        working_hours::table
            .filter(working_hours::tenant_id.eq(tenant_id))
            .select((
                working_hours::weekday,
                working_hours::start_minute,
                working_hours::end_minute,
            ))
            .load::<(i16, i16, i16)>(&mut conn)
            .await
    };
    let overrides = async {
        let mut conn = conn;
        date_overrides::table
            .filter(date_overrides::tenant_id.eq(tenant_id))
            .filter(date_overrides::on_date.between(dates.0, dates.1))
            .select((
                date_overrides::on_date,
                date_overrides::start_minute,
                date_overrides::end_minute,
            ))
            .load::<(NaiveDate, Option<i16>, Option<i16>)>(&mut conn)
            .await
    };
    let (totals, weekly, overrides) =
        futures_util::future::try_join3(totals, weekly, overrides).await?;
    Ok((totals, build_schedule(weekly, overrides)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;

    #[test]
    fn a_year_in_new_york_has_two_offset_changes_found_to_the_second() {
        let from = Utc.with_ymd_and_hms(2027, 1, 1, 5, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2028, 1, 1, 5, 0, 0).unwrap();
        let (starts, offsets) = offset_periods(New_York, from, to);
        assert_eq!(
            starts,
            [
                from,
                Utc.with_ymd_and_hms(2027, 3, 14, 7, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2027, 11, 7, 6, 0, 0).unwrap(),
            ]
        );
        assert_eq!(offsets, [-18000, -18000, -14400, -18000]);
        let (starts, offsets) = offset_periods(chrono_tz::UTC, from, to);
        assert_eq!((starts, offsets), (vec![from], vec![0, 0]));
    }
}
