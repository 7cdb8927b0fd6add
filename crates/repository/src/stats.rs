//! The owner's statistics over a range: one aggregate statement over the tenant's jobs starting
//! in it (by status, service, who cancelled, no-shows, lead time, busiest hours, booked
//! minutes), pipelined with the reads of the tenant's hours for the range (the open minutes
//! utilisation divides by).

use booking_domain::Schedule;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
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

/// One statement; the jobs are read once over `jobs_by_tenant_start`, the history only for the
/// cancelled ones (a cancellation is final, so a job has at most one).
const TOTALS: &str = "\
    WITH j AS MATERIALIZED ( \
        SELECT id, service_id, status, source, starts_at, ends_at, created_at FROM jobs \
        WHERE tenant_id = $1 AND starts_at >= $2 AND starts_at < $3), \
    kept AS (SELECT * FROM j WHERE status <> 'cancelled'), \
    cancels AS ( \
        SELECT count(*) FILTER (WHERE e.actor = 'client') AS by_client, \
               count(*) FILTER (WHERE e.actor LIKE 'owner:%') AS by_owner \
        FROM j JOIN job_events e ON e.job_id = j.id \
        WHERE j.status = 'cancelled' AND e.action = 'cancelled'), \
    cells AS ( \
        SELECT extract(isodow FROM starts_at AT TIME ZONE $4)::int AS dow, \
               extract(hour FROM starts_at AT TIME ZONE $4)::int AS hour, count(*) AS n \
        FROM kept GROUP BY 1, 2 ORDER BY n DESC, dow, hour LIMIT $5) \
    SELECT \
        (SELECT coalesce(jsonb_object_agg(status, n), '{}'::jsonb) \
           FROM (SELECT status, count(*) AS n FROM j GROUP BY status) s) AS by_status, \
        (SELECT coalesce(jsonb_object_agg(service_id::text, n), '{}'::jsonb) \
           FROM (SELECT service_id, count(*) AS n FROM j GROUP BY service_id) s) AS by_service, \
        (SELECT by_client FROM cancels) AS cancelled_by_client, \
        (SELECT by_owner FROM cancels) AS cancelled_by_owner, \
        (SELECT count(*) FROM j WHERE status = 'completed') AS completed, \
        (SELECT count(*) FROM j WHERE status = 'no-show') AS no_shows, \
        (SELECT percentile_cont(0.5) WITHIN GROUP ( \
                    ORDER BY extract(epoch FROM starts_at - created_at) / 60) \
           FROM j WHERE source = 'public') AS lead_time_minutes_median, \
        (SELECT coalesce(jsonb_agg(jsonb_build_object( \
                    'weekday', (ARRAY['mon','tue','wed','thu','fri','sat','sun'])[dow], \
                    'hour', hour, 'jobs', n) ORDER BY n DESC, dow, hour), '[]'::jsonb) \
           FROM cells) AS busiest, \
        (SELECT coalesce(sum(extract(epoch FROM ends_at - starts_at)) / 60, 0)::float8 \
           FROM kept) AS booked_minutes";

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
    let totals = async {
        let mut conn = conn;
        diesel::sql_query(TOTALS)
            .bind::<SqlUuid, _>(tenant_id)
            .bind::<Timestamptz, _>(from)
            .bind::<Timestamptz, _>(to)
            .bind::<Text, _>(zone.name())
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
