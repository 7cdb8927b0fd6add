//! Webhook endpoints and their deliveries. A job change records its deliveries in its own
//! history statement ([`crate::events`]); after commit the relay leases due deliveries with
//! [`claim_due`] (`FOR UPDATE SKIP LOCKED`, the lease committed at once, as the mail outbox
//! does), sends them, and records each outcome with [`record_outcomes`].
//!
//! The payload of an event is stored once, in `webhook_events.job` (jsonb): the only stored
//! copy of what a webhook carries, and the one place an erasure has to rewrite.

use booking_domain::{WebhookEvent, next_delivery_attempt};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel::sql_types::{
    Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::catalog::{corrupt, parse_zone};
use crate::jobs::{ContactRow, JobRecord, JobRow, record};
use crate::schema::webhooks;

/// How many endpoints a tenant may register: it bounds what one change fans out to.
pub const MAX_ENDPOINTS: i64 = 20;

/// How long a relay holds a delivery it leased: far beyond one attempt (5 s), short enough
/// that a crashed relay's delivery goes out again soon.
pub const LEASE: Duration = Duration::minutes(2);

/// Longest excerpt of a response (or error) kept per delivery.
pub const EXCERPT_CHARS: usize = 200;

/// A registered endpoint (its secret is derived, never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhooks, check_for_backend(diesel::pg::Pg))]
struct WebhookRow {
    id: Uuid,
    url: String,
    events: Vec<Option<String>>,
    created_at: DateTime<Utc>,
}

fn event(text: &str) -> QueryResult<WebhookEvent> {
    WebhookEvent::parse(text).ok_or_else(|| corrupt(format!("webhook event `{text}`")))
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = DieselError;

    fn try_from(row: WebhookRow) -> QueryResult<Self> {
        Ok(Self {
            id: row.id,
            url: row.url,
            events: row
                .events
                .iter()
                .flatten()
                .map(|name| event(name))
                .collect::<QueryResult<_>>()?,
            created_at: row.created_at,
        })
    }
}

/// Registers an endpoint for the tenant; `None` when the tenant has [`MAX_ENDPOINTS`] already.
pub async fn create(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    url: &str,
    events: &[WebhookEvent],
    now: DateTime<Utc>,
) -> QueryResult<Option<Webhook>> {
    #[derive(QueryableByName)]
    struct Created {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
    let created: Option<Created> = diesel::sql_query(
        "INSERT INTO webhooks (tenant_id, url, events, created_at) \
         SELECT $1, $2, $3, $4 \
         WHERE (SELECT count(*) FROM webhooks WHERE tenant_id = $1) < $5 \
         RETURNING id",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<Text, _>(url)
    .bind::<Array<Text>, _>(&names)
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(MAX_ENDPOINTS)
    .get_result(conn)
    .await
    .optional()?;
    Ok(created.map(|created| Webhook {
        id: created.id,
        url: url.to_owned(),
        events: events.to_vec(),
        created_at: now,
    }))
}

/// The tenant's endpoints, oldest first.
pub async fn list(conn: &mut AsyncPgConnection, tenant_id: Uuid) -> QueryResult<Vec<Webhook>> {
    let rows: Vec<WebhookRow> = webhooks::table
        .filter(webhooks::tenant_id.eq(tenant_id))
        .order((webhooks::created_at, webhooks::id))
        .select(WebhookRow::as_select())
        .load(conn)
        .await?;
    rows.into_iter().map(Webhook::try_from).collect()
}

/// Removes one of the tenant's endpoints with its deliveries (nothing more is sent to it);
/// false when the tenant has no such endpoint.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    webhook_id: Uuid,
) -> QueryResult<bool> {
    let deleted = diesel::delete(
        webhooks::table
            .filter(webhooks::id.eq(webhook_id))
            .filter(webhooks::tenant_id.eq(tenant_id)),
    )
    .execute(conn)
    .await?;
    Ok(deleted > 0)
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> QueryResult<Self> {
        match text {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            other => Err(corrupt(format!("delivery status `{other}`"))),
        }
    }
}

/// One delivery of an endpoint, as the owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub event_id: Uuid,
    pub event: WebhookEvent,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_status_code: Option<u16>,
    /// For a pending delivery: when it is tried next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// How many deliveries the owner's list shows, newest first.
pub const DELIVERIES_SHOWN: i64 = 100;

#[derive(QueryableByName)]
struct DeliveryRow {
    #[diesel(sql_type = SqlUuid)]
    event_id: Uuid,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Nullable<Integer>)]
    last_status_code: Option<i32>,
    #[diesel(sql_type = Timestamptz)]
    next_attempt_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
}

fn attempts(value: i32) -> QueryResult<u32> {
    u32::try_from(value).map_err(|_| corrupt(format!("delivery attempts {value}")))
}

/// The latest [`DELIVERIES_SHOWN`] deliveries of one of the tenant's endpoints, newest first;
/// `None` when the tenant has no such endpoint.
pub async fn deliveries(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    webhook_id: Uuid,
) -> QueryResult<Option<Vec<Delivery>>> {
    let exists: Option<Uuid> = webhooks::table
        .filter(webhooks::id.eq(webhook_id))
        .filter(webhooks::tenant_id.eq(tenant_id))
        .select(webhooks::id)
        .first(conn)
        .await
        .optional()?;
    if exists.is_none() {
        return Ok(None);
    }
    let rows: Vec<DeliveryRow> = diesel::sql_query(
        "SELECT d.event_id, e.type AS kind, d.status, d.attempts, d.last_status_code, \
                d.next_attempt_at, d.created_at \
         FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id \
         WHERE d.webhook_id = $1 ORDER BY d.created_at DESC, d.event_id LIMIT $2",
    )
    .bind::<SqlUuid, _>(webhook_id)
    .bind::<BigInt, _>(DELIVERIES_SHOWN)
    .load(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let status = DeliveryStatus::parse(&row.status)?;
            Ok(Delivery {
                event_id: row.event_id,
                event: event(&row.kind)?,
                status,
                attempts: attempts(row.attempts)?,
                last_status_code: row.last_status_code.and_then(|c| u16::try_from(c).ok()),
                next_attempt_at: (status == DeliveryStatus::Pending).then_some(row.next_attempt_at),
                created_at: row.created_at,
            })
        })
        .collect::<QueryResult<_>>()
        .map(Some)
}

/// A delivery a relay leased: send it, then record the outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    pub webhook_id: Uuid,
    /// The `webhook-id`, the same on every attempt.
    pub event_id: Uuid,
    pub url: String,
    pub event: WebhookEvent,
    /// When the change happened (the body's `timestamp`).
    pub at: DateTime<Utc>,
    /// The job as the change left it.
    pub job: JobRecord,
    /// Attempts including this one.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct ClaimedRow {
    #[diesel(sql_type = SqlUuid)]
    webhook_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    event_id: Uuid,
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Timestamptz)]
    at: DateTime<Utc>,
    #[diesel(sql_type = Jsonb)]
    job: serde_json::Value,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
}

/// What `webhook_events.job` holds: the jobs row, its contact's address and the tenant's zone.
#[derive(serde::Deserialize)]
struct Snapshot {
    #[serde(flatten)]
    job: JobRow,
    client_email: String,
    time_zone: String,
}

/// Leases up to `limit` pending deliveries due at `now`, oldest due first, each with its
/// endpoint's URL and its event's payload. Run it outside any transaction: the lease commits
/// before anything is sent. Deliveries another relay is leasing are skipped, never waited for.
#[tracing::instrument(level = "trace", name = "webhook lease (claim, commits)", skip_all)]
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<ClaimedDelivery>> {
    let rows: Vec<ClaimedRow> = diesel::sql_query(
        "WITH leased AS ( \
             UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = $2 \
             FROM (SELECT webhook_id, event_id FROM webhook_deliveries \
                   WHERE status = 'pending' AND next_attempt_at <= $1 \
                   ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) due \
             WHERE d.webhook_id = due.webhook_id AND d.event_id = due.event_id \
               AND d.status = 'pending' AND d.next_attempt_at <= $1 \
             RETURNING d.webhook_id, d.event_id, d.attempts, d.created_at) \
         SELECT leased.webhook_id, leased.event_id, webhooks.url, e.type AS kind, e.at, e.job, \
                leased.attempts, leased.created_at \
         FROM leased JOIN webhooks ON webhooks.id = leased.webhook_id \
              JOIN webhook_events e ON e.id = leased.event_id",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(now + LEASE)
    .bind::<BigInt, _>(limit.max(0))
    .load(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let snapshot: Snapshot = serde_json::from_value(row.job)
                .map_err(|error| corrupt(format!("webhook payload: {error}")))?;
            let zone = parse_zone(&snapshot.time_zone)?;
            let job = record(
                snapshot.job,
                ContactRow {
                    email: snapshot.client_email,
                    // An erasure scrubs the payload itself (changes/erase.rs).
                    erased_at: None,
                },
                zone,
            )?;
            Ok(ClaimedDelivery {
                webhook_id: row.webhook_id,
                event_id: row.event_id,
                url: row.url,
                event: event(&row.kind)?,
                at: row.at,
                job,
                attempts: attempts(row.attempts)?,
                created_at: row.created_at,
            })
        })
        .collect()
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    /// The attempt number the relay leased (a lease another relay took over is not touched).
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// The receiver's status code, if it answered.
    pub status_code: Option<u16>,
    /// A short excerpt of its answer, or what went wrong.
    pub excerpt: String,
}

impl AttemptOutcome {
    fn delivered(&self) -> bool {
        self.status_code
            .is_some_and(|code| (200..300).contains(&code))
    }
}

/// Records the outcomes of attempts, in one statement: 2xx delivered; anything else due again
/// after the backoff, or `failed` once retried for a day. Only the relay holding the lease
/// records anything. Returns the statuses, in `outcomes`' order.
#[tracing::instrument(level = "trace", name = "webhook outcomes (commits)", skip_all)]
pub async fn record_outcomes(
    conn: &mut AsyncPgConnection,
    outcomes: &[AttemptOutcome],
    now: DateTime<Utc>,
) -> QueryResult<Vec<DeliveryStatus>> {
    if outcomes.is_empty() {
        return Ok(Vec::new());
    }
    let judged: Vec<(DeliveryStatus, DateTime<Utc>)> = outcomes
        .iter()
        .map(|outcome| {
            if outcome.delivered() {
                return (DeliveryStatus::Delivered, now);
            }
            match next_delivery_attempt(outcome.attempts, outcome.created_at, now) {
                Some(next) => (DeliveryStatus::Pending, next),
                None => (DeliveryStatus::Failed, now),
            }
        })
        .collect();
    let column = |f: fn(&AttemptOutcome) -> Uuid| outcomes.iter().map(f).collect::<Vec<_>>();
    let held: Vec<i32> = outcomes
        .iter()
        .map(|o| i32::try_from(o.attempts).unwrap_or(i32::MAX))
        .collect();
    let codes: Vec<Option<i32>> = outcomes
        .iter()
        .map(|o| o.status_code.map(i32::from))
        .collect();
    let excerpts: Vec<String> = outcomes
        .iter()
        .map(|o| o.excerpt.chars().take(EXCERPT_CHARS).collect())
        .collect();
    let statuses: Vec<&str> = judged.iter().map(|(s, _)| s.as_str()).collect();
    let next: Vec<DateTime<Utc>> = judged.iter().map(|(_, at)| *at).collect();
    diesel::sql_query(
        "UPDATE webhook_deliveries d SET status = o.status, next_attempt_at = o.next, \
             last_status_code = o.code, last_response = o.excerpt, \
             delivered_at = CASE WHEN o.status = 'delivered' THEN $8 END \
         FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::int[], $5::text[], $6::text[], \
                     $7::timestamptz[]) AS o(webhook_id, event_id, held, code, excerpt, status, next) \
         WHERE d.webhook_id = o.webhook_id AND d.event_id = o.event_id \
           AND d.status = 'pending' AND d.attempts = o.held",
    )
    .bind::<Array<SqlUuid>, _>(column(|o| o.webhook_id))
    .bind::<Array<SqlUuid>, _>(column(|o| o.event_id))
    .bind::<Array<Integer>, _>(held)
    .bind::<Array<Nullable<Integer>>, _>(codes)
    .bind::<Array<Text>, _>(excerpts)
    .bind::<Array<Text>, _>(statuses)
    .bind::<Array<Timestamptz>, _>(next)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    Ok(judged.into_iter().map(|(status, _)| status).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_2xx_answer_is_a_delivery() {
        let outcome = |code| AttemptOutcome {
            webhook_id: Uuid::nil(),
            event_id: Uuid::nil(),
            attempts: 1,
            created_at: Utc::now(),
            status_code: code,
            excerpt: String::new(),
        };
        assert!(outcome(Some(200)).delivered());
        assert!(outcome(Some(204)).delivered());
        assert!(
            !outcome(Some(301)).delivered(),
            "redirects are not followed"
        );
        assert!(!outcome(Some(500)).delivered());
        assert!(!outcome(None).delivered());
    }
}
