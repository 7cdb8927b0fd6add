//! `Idempotency-Key` records, after zero2prod's `try_processing` / `save_response`.
//!
//! A key is claimed in its own statement (so a concurrent repeat sees it at once and answers
//! `request_in_progress`); a successful booking attaches its job to the key inside the booking's
//! transaction; other outcomes are saved after. Keys live 24 hours ([`prune`] deletes them
//! after); a claim left unfinished for two minutes (a crashed container) may be taken over.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Binary, Bool, Nullable, SmallInt, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::idempotency_keys;

/// What a claimed key means for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First sight of the key: process the request.
    Fresh,
    /// Finished before with this body: answer as then.
    Replay(StoredOutcome),
    /// Another request with this key is still running.
    InProgress,
    /// The key was used with another body.
    Reused,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredOutcome {
    /// A change that landed (a booking, an owner's transition): replay it from the job as it is
    /// now, with the status first answered (201 for a booking, 200 for a change).
    Job(Uuid, u16),
    /// Any other answer, stored as sent.
    Response { status: u16, body: String },
}

#[derive(QueryableByName)]
struct Existing {
    #[diesel(sql_type = Bool)]
    same_body: bool,
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    job_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SmallInt>)]
    response_status: Option<i16>,
    #[diesel(sql_type = Nullable<Text>)]
    response_body: Option<String>,
}

/// Claims `key` within `scope` for a request with `body`.
#[tracing::instrument(level = "trace", name = "idempotency key", skip_all)]
pub async fn claim(
    conn: &mut AsyncPgConnection,
    scope: &str,
    key: &str,
    body: &[u8],
) -> QueryResult<Claim> {
    let claimed = diesel::sql_query(
        "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, sha256($3)) \
         ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash, job_id = NULL, \
             response_status = NULL, response_body = NULL, created_at = now() \
         WHERE idempotency_keys.created_at < now() - interval '24 hours' \
            OR (idempotency_keys.job_id IS NULL AND idempotency_keys.response_status IS NULL \
                AND idempotency_keys.created_at < now() - interval '2 minutes')",
    )
    .bind::<Text, _>(scope)
    .bind::<Text, _>(key)
    .bind::<Binary, _>(body)
    .execute(conn)
    .await?;
    if claimed == 1 {
        return Ok(Claim::Fresh);
    }
    let existing: Option<Existing> = diesel::sql_query(
        "SELECT request_hash = sha256($3) AS same_body, job_id, response_status, response_body \
         FROM idempotency_keys WHERE scope = $1 AND key = $2",
    )
    .bind::<Text, _>(scope)
    .bind::<Text, _>(key)
    .bind::<Binary, _>(body)
    .get_result(conn)
    .await
    .optional()?;
    Ok(match existing {
        None => Claim::InProgress,
        Some(existing) if !existing.same_body => Claim::Reused,
        Some(Existing {
            job_id: Some(job),
            response_status,
            ..
        }) => Claim::Replay(StoredOutcome::Job(
            job,
            response_status
                .and_then(|status| u16::try_from(status).ok())
                .unwrap_or(201),
        )),
        Some(Existing {
            response_status: Some(status),
            response_body: Some(body),
            ..
        }) => Claim::Replay(StoredOutcome::Response {
            status: u16::try_from(status).unwrap_or(500),
            body,
        }),
        Some(_) => Claim::InProgress,
    })
}

/// Ties a landed booking to its key, inside the booking's transaction (on a shared
/// connection, to pipeline it with the booking's writes).
#[tracing::instrument(level = "trace", name = "idempotency key (attach job)", skip_all)]
pub(crate) async fn attach_job(
    mut conn: &AsyncPgConnection,
    scope: &str,
    key: &str,
    job_id: Uuid,
) -> QueryResult<()> {
    diesel::update(idempotency_keys::table.find((scope, key)))
        .set((
            idempotency_keys::job_id.eq(job_id),
            idempotency_keys::response_status.eq(201_i16),
        ))
        .execute(&mut conn)
        .await
        .map(drop)
}

/// Ties a landed change of `job_id` to its key, inside the change's transaction: a retry
/// replays it (answering `status`) and can never change the job twice.
#[tracing::instrument(level = "trace", name = "idempotency key (attach change)", skip_all)]
pub(crate) async fn attach_change(
    mut conn: &AsyncPgConnection,
    scope: &str,
    key: &str,
    job_id: Uuid,
    status: u16,
) -> QueryResult<()> {
    diesel::update(idempotency_keys::table.find((scope, key)))
        .set((
            idempotency_keys::job_id.eq(job_id),
            idempotency_keys::response_status.eq(i16::try_from(status).unwrap_or(200)),
        ))
        .execute(&mut conn)
        .await
        .map(drop)
}

/// Stores a final answer that is not a landed booking (a rule's refusal, a 404).
pub async fn save_response(
    conn: &mut AsyncPgConnection,
    scope: &str,
    key: &str,
    status: u16,
    body: &str,
) -> QueryResult<()> {
    diesel::update(idempotency_keys::table.find((scope, key)))
        .filter(idempotency_keys::job_id.is_null())
        .set((
            idempotency_keys::response_status.eq(i16::try_from(status).unwrap_or(500)),
            idempotency_keys::response_body.eq(body),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Frees an unfinished claim so the client may retry (after a failure worth retrying).
pub async fn release(conn: &mut AsyncPgConnection, scope: &str, key: &str) -> QueryResult<()> {
    diesel::delete(idempotency_keys::table.find((scope, key)))
        .filter(idempotency_keys::job_id.is_null())
        .filter(idempotency_keys::response_status.is_null())
        .execute(conn)
        .await
        .map(drop)
}

/// How long a key replays its outcome.
pub const KEY_LIFETIME: Duration = Duration::hours(24);

/// Deletes the keys older than [`KEY_LIFETIME`] at `now` (a claim would take them over anyway).
pub async fn prune(conn: &mut AsyncPgConnection, now: DateTime<Utc>) -> QueryResult<usize> {
    diesel::sql_query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind::<Timestamptz, _>(now - KEY_LIFETIME)
        .execute(conn)
        .await
}
