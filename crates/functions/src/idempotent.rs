//! `Idempotency-Key` for any route, after zero2prod's `try_processing` / `save_response`:
//! claim the key, run the request, then keep its answer or free the key.
//!
//! What becomes of the key after a failure follows from the error's kind ([`ErrorKind`]), never
//! from a status number read back: a refusal is the answer to this request and is stored (a
//! repeat gets it again); "not now" (a rate limit) frees the key on the request's connection;
//! our failure frees it through fresh connections, since the request's own connection is often
//! what failed. A change that lands attaches its job to the key inside its own transaction
//! ([`KeyRef`]), so a replay can never make a second job.

use booking_domain::IdempotencyKey;
use booking_edge::problem::ErrorKind;
use booking_edge::{ApiError, json_response};
use booking_repository::changes::KeyRef;
use booking_repository::idempotency::{self, Claim, StoredOutcome};
use booking_repository::{FRESH_CONNECTION_PAUSES_MS, PooledConnection, on_fresh_connection};
use lambda_http::http::HeaderValue;
use lambda_http::{Body, Response};
use serde_json::Value;
use std::future::Future;
use uuid::Uuid;

use crate::Deps;

/// The key a request came with, in the scope of its route and target.
pub struct Key<'a> {
    pub scope: String,
    pub key: &'a IdempotencyKey,
    /// The request body: the same key with another body is refused.
    pub body: &'a [u8],
}

/// A request that did not succeed, with the connection to record that on when it still works.
pub struct Failed {
    pub error: ApiError,
    pub conn: Option<PooledConnection>,
}

impl Failed {
    /// A failure after the connection was handed on (or lost).
    pub fn on_error(error: ApiError) -> Self {
        Self { error, conn: None }
    }

    pub fn on(conn: PooledConnection, error: impl Into<ApiError>) -> Self {
        Self {
            error: error.into(),
            conn: Some(conn),
        }
    }
}

/// Runs `work` once per key: a repeat replays the first answer (`replay_job` answers for a job
/// the first request made, from the job as it is now). Without a key, `work` simply runs.
///
/// The closures take the connection by value (see [`on_fresh_connection`] for why).
pub async fn run<'k, R, W>(
    deps: &Deps,
    mut conn: PooledConnection,
    key: Option<&'k Key<'k>>,
    replay_job: impl FnOnce(PooledConnection, Uuid) -> R,
    work: impl FnOnce(PooledConnection, Option<KeyRef<'k>>) -> W,
) -> Result<Response<Body>, ApiError>
where
    R: Future<Output = Result<Value, ApiError>>,
    W: Future<Output = Result<Response<Body>, Failed>>,
{
    let Some(key) = key else {
        return work(conn, None).await.map_err(|failed| failed.error);
    };
    let (scope, text) = (key.scope.as_str(), key.key.as_str());
    match idempotency::claim(&mut conn, scope, text, key.body).await? {
        Claim::Fresh => {}
        Claim::Replay(StoredOutcome::Job(job_id, status)) => {
            let view = replay_job(conn, job_id).await?;
            return Ok(replayed(json_response(status, &view)));
        }
        Claim::Replay(StoredOutcome::Response { status, body }) => return stored(status, body),
        Claim::InProgress => return Err(ApiError::request_in_progress()),
        Claim::Reused => return Err(ApiError::idempotency_key_reused()),
    }
    let key_ref = KeyRef { scope, key: text };
    match work(conn, Some(key_ref)).await {
        Ok(response) => Ok(response),
        Err(Failed { error, conn }) => {
            finish(deps, conn, scope, text, &error).await;
            Err(error)
        }
    }
}

/// Stores a refusal under the key, or frees the key after a failure worth retrying.
async fn finish(
    deps: &Deps,
    conn: Option<PooledConnection>,
    scope: &str,
    key: &str,
    error: &ApiError,
) {
    let stored = match (error.kind, conn) {
        (ErrorKind::Refusal, Some(mut conn)) => {
            let body = error.body().to_string();
            idempotency::save_response(&mut conn, scope, key, error.status, &body).await
        }
        (ErrorKind::NotNow, Some(mut conn)) => idempotency::release(&mut conn, scope, key).await,
        (_, conn) => {
            // Hand the connection back first (one per container): the pool discards a broken one.
            drop(conn);
            let freed = on_fresh_connection(
                &deps.pool,
                "free the idempotency key",
                &FRESH_CONNECTION_PAUSES_MS,
                |mut fresh| async move { idempotency::release(&mut fresh, scope, key).await },
            )
            .await;
            if freed.is_none() {
                tracing::warn!("the idempotency key stays claimed until its claim expires");
            }
            return;
        }
    };
    if let Err(e) = stored {
        tracing::warn!(error = %e, "could not record the idempotent outcome");
    }
}

fn replayed(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

fn stored(status: u16, body: String) -> Result<Response<Body>, ApiError> {
    let content_type = if status >= 400 {
        "application/problem+json"
    } else {
        "application/json"
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("idempotent-replayed", "true")
        .body(Body::Text(body))
        .map_err(|_| ApiError::internal())
}
