//! Calendar feeds: the secret ICS URLs a tenant's calendar apps subscribe to (the row keeps
//! only the token's SHA-256), and the jobs a feed shows.

use booking_domain::JobStatus;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::catalog::{corrupt, parse_zone};
use crate::schema::calendar_feeds;

/// How far back a feed reaches, and how long a cancelled job stays in it after its
/// cancellation (shown as cancelled, so subscribed calendars drop it).
pub const FEED_PAST: Duration = Duration::days(30);
/// How far ahead a feed reaches.
pub const FEED_AHEAD: Duration = Duration::days(365);

/// A feed a token opens: its tenant (name and zone, for the calendar's own properties) and
/// the staff member it is for, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub staff_id: Option<Uuid>,
    pub tenant_name: String,
    pub zone: Tz,
}

/// One job as a feed shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedJob {
    pub id: Uuid,
    pub status: JobStatus,
    pub title: String,
    pub service_name: String,
    pub client_name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revision: u32,
    /// Cancelled by the owner's decline (its invitation was cancelled by the decline mail).
    pub declined: bool,
}

/// Records a new feed of `tenant_id` (for `staff_id`, when given) under the token's digest.
pub async fn create(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    staff_id: Option<Uuid>,
    token_digest: &[u8; 32],
) -> QueryResult<Option<Uuid>> {
    // A person's feed only for an active staff member of the tenant (`None` otherwise).
    diesel::sql_query(
        "INSERT INTO calendar_feeds (tenant_id, staff_id, token_hash) \
         SELECT $1, $2, $3 WHERE $2::uuid IS NULL OR EXISTS ( \
             SELECT 1 FROM staff WHERE staff.tenant_id = $1 AND staff.id = $2 AND staff.active) \
         RETURNING id",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<Nullable<SqlUuid>, _>(staff_id)
    .bind::<Bytea, _>(token_digest.as_slice())
    .get_result::<CreatedFeed>(conn)
    .await
    .optional()
    .map(|created| created.map(|feed| feed.id))
}

#[derive(QueryableByName)]
struct CreatedFeed {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Revokes (deletes) one of the tenant's feeds: its URL answers 404 from now on. `false` when
/// the tenant has no such feed.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    feed_id: Uuid,
) -> QueryResult<bool> {
    let deleted = diesel::delete(
        calendar_feeds::table
            .filter(calendar_feeds::id.eq(feed_id))
            .filter(calendar_feeds::tenant_id.eq(tenant_id)),
    )
    .execute(conn)
    .await?;
    Ok(deleted > 0)
}

#[derive(QueryableByName)]
struct FeedRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    tenant_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    staff_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    time_zone: String,
}

/// The feed whose token has this digest, with its tenant's name and zone.
#[tracing::instrument(level = "trace", name = "calendar feed by token", skip_all)]
pub async fn by_token(
    conn: &mut AsyncPgConnection,
    token_digest: &[u8; 32],
) -> QueryResult<Option<Feed>> {
    let row: Option<FeedRow> = diesel::sql_query(
        "SELECT calendar_feeds.id, calendar_feeds.tenant_id, calendar_feeds.staff_id, \
                tenants.name, tenants.time_zone \
         FROM calendar_feeds JOIN tenants ON tenants.id = calendar_feeds.tenant_id \
         WHERE calendar_feeds.token_hash = $1",
    )
    .bind::<Bytea, _>(token_digest.as_slice())
    .get_result(conn)
    .await
    .optional()?;
    row.map(|row| {
        Ok(Feed {
            id: row.id,
            tenant_id: row.tenant_id,
            staff_id: row.staff_id,
            tenant_name: row.name,
            zone: parse_zone(&row.time_zone)?,
        })
    })
    .transpose()
}

#[derive(QueryableByName)]
struct FeedJobRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Text)]
    service_name: String,
    #[diesel(sql_type = Text)]
    client_name: String,
    #[diesel(sql_type = Timestamptz)]
    starts_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    ends_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    revision: i32,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    declined: bool,
}

/// The jobs `feed` shows at `now`, in start order: those starting from [`FEED_PAST`] before
/// `now` to [`FEED_AHEAD`] after it, a cancelled one only for [`FEED_PAST`] after it was
/// cancelled (its last change). Over the `jobs_by_tenant_start` index.
#[tracing::instrument(level = "trace", name = "calendar feed jobs", skip_all)]
pub async fn jobs(
    conn: &mut AsyncPgConnection,
    feed: &Feed,
    now: DateTime<Utc>,
) -> QueryResult<Vec<FeedJob>> {
    // A staff member's feed shows that person's jobs only; the tenant's, every job.
    let rows: Vec<FeedJobRow> = diesel::sql_query(
        "SELECT jobs.id, jobs.status, jobs.title, services.name AS service_name, \
                jobs.client_name, jobs.starts_at, jobs.ends_at, jobs.updated_at, jobs.revision, \
                (jobs.status = 'cancelled' AND jobs.decline_reason IS NOT NULL) AS declined \
         FROM jobs JOIN services ON services.id = jobs.service_id \
         WHERE jobs.tenant_id = $1 AND jobs.starts_at >= $2 AND jobs.starts_at < $3 \
           AND (jobs.status <> 'cancelled' OR jobs.updated_at >= $2) \
           AND ($4::uuid IS NULL OR jobs.staff_id = $4) \
         ORDER BY jobs.starts_at, jobs.id",
    )
    .bind::<SqlUuid, _>(feed.tenant_id)
    .bind::<Timestamptz, _>(now - FEED_PAST)
    .bind::<Timestamptz, _>(now + FEED_AHEAD)
    .bind::<Nullable<SqlUuid>, _>(feed.staff_id)
    .load(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(FeedJob {
                status: JobStatus::parse(&row.status)
                    .ok_or_else(|| corrupt(format!("job status `{}`", row.status)))?,
                revision: u32::try_from(row.revision)
                    .map_err(|_| corrupt(format!("job revision {}", row.revision)))?,
                id: row.id,
                title: row.title,
                service_name: row.service_name,
                client_name: row.client_name,
                starts_at: row.starts_at,
                ends_at: row.ends_at,
                updated_at: row.updated_at,
                declined: row.declined,
            })
        })
        .collect()
}
