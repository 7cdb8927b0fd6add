//! Fixed-window rate limits shared by every container: one upsert per counted request.

use chrono::{DateTime, Duration, DurationRound, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(QueryableByName)]
struct Hits {
    #[diesel(sql_type = Integer)]
    hits: i32,
}

/// A limit to count a request against: at most `limit` hits per `window` for `bucket`.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit<'a> {
    pub bucket: &'a str,
    pub limit: u32,
    pub window: Duration,
}

impl<'a> RateLimit<'a> {
    /// `limit` hits a minute for `bucket`; a limit of 0 turns the limit off (`None`).
    pub fn per_minute(bucket: &'a str, limit: u32) -> Option<Self> {
        (limit > 0).then(|| Self {
            bucket,
            limit,
            window: Duration::minutes(1),
        })
    }
}

/// Counts one hit against `limit` in the window containing `now` and answers how many seconds
/// the caller must wait, if the window already had `limit.limit` hits. Takes a shared
/// connection, to pipeline it with other statements; inside a transaction the hit counts only
/// if the transaction commits, and the bucket's row stays locked until then.
#[tracing::instrument(level = "trace", name = "rate-limit hit", skip_all)]
pub async fn hit(
    mut conn: &AsyncPgConnection,
    RateLimit {
        bucket,
        limit,
        window,
    }: RateLimit<'_>,
    now: DateTime<Utc>,
) -> QueryResult<Option<u32>> {
    let window_start = now.duration_trunc(window).unwrap_or(now);
    let counted: Hits = diesel::sql_query(
        "INSERT INTO rate_limit_windows (bucket, window_start) VALUES ($1, $2) \
         ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limit_windows.hits + 1 \
         RETURNING hits",
    )
    .bind::<Text, _>(bucket)
    .bind::<Timestamptz, _>(window_start)
    .get_result(&mut conn)
    .await?;
    if u32::try_from(counted.hits).unwrap_or(u32::MAX) <= limit {
        return Ok(None);
    }
    let wait = (window_start + window - now).num_seconds().max(1);
    Ok(Some(u32::try_from(wait).unwrap_or(u32::MAX)))
}

/// `work` with a hit against `limit` (if any) pipelined beside it on the same connection, so
/// both cost one round trip. Answers `work`'s result and the wait [`hit`] asks for, if any.
pub async fn beside<T>(
    conn: &AsyncPgConnection,
    limit: Option<RateLimit<'_>>,
    now: DateTime<Utc>,
    work: impl Future<Output = QueryResult<T>>,
) -> QueryResult<(T, Option<u32>)> {
    let count = async {
        match limit {
            Some(limit) => hit(conn, limit, now).await,
            None => Ok(None),
        }
    };
    futures_util::future::try_join(work, count).await
}

/// Drops windows that ended more than an hour before `now`.
pub async fn prune(conn: &mut AsyncPgConnection, now: DateTime<Utc>) -> QueryResult<usize> {
    diesel::sql_query("DELETE FROM rate_limit_windows WHERE window_start < $1")
        .bind::<Timestamptz, _>(now - Duration::hours(1))
        .execute(conn)
        .await
}
