//! `POST /services/{serviceId}/book`: a client books a slot.

use booking_domain::{ClientEmail, ClientName, IdempotencyKey, Notes, Phone};
use booking_edge::input::{
    body_bytes, client_key, idempotency_key, instant, json_object, path_uuid,
};
use booking_edge::{ApiError, json_response, respond, views};
use booking_repository::changes::{self, KeyRef, NewBooking};
use booking_repository::idempotency::{self, Claim, StoredOutcome};
use booking_repository::rate_limit::RateLimit;
use booking_repository::{AsyncPgConnection, PooledConnection, jobs};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use uuid::Uuid;

use crate::Deps;

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    respond(book(deps, &request).await)
}

fn parse(request: &Request) -> Result<NewBooking, ApiError> {
    let mut fields = json_object(request)?;
    let start = fields.required("start", instant("start"));
    let name = fields.required("name", ClientName::parse);
    let email = fields.required("email", ClientEmail::parse);
    let phone = fields.optional("phone", Phone::parse);
    let notes = fields.optional("notes", Notes::parse);
    fields.finish()?;
    match (start, name, email) {
        (Some(start), Some(name), Some(email)) => Ok(NewBooking {
            start,
            name,
            email,
            phone,
            notes,
        }),
        _ => Err(ApiError::invalid_request("The request is invalid.")),
    }
}

async fn book(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let service_id =
        path_uuid(request, "serviceId", "services").ok_or_else(ApiError::service_not_found)?;
    // Everything is parsed before anything is written: bad input changes nothing.
    let booking = parse(request)?;
    let key = idempotency_key(request)?;
    let now = deps.now();
    let mut conn = deps.connection().await?;
    let limit = deps.config.booking_rate_limit_per_minute;
    let bucket = format!(
        "book:{}",
        client_key(request, deps.config.edge_origin_secret.as_deref())
    );
    // Counted inside the booking's own transaction (no round trip of its own); 0 turns it off.
    let rate_limit = (limit > 0).then(|| RateLimit {
        bucket: &bucket,
        limit,
        window: chrono::Duration::minutes(1),
    });
    let scope = key_scope(service_id);
    if let Some(key) = &key {
        match idempotency::claim(&mut conn, &scope, key.as_str(), body_bytes(request)?).await? {
            Claim::Fresh => {}
            Claim::Replay(outcome) => return replay(&mut conn, outcome).await,
            Claim::InProgress => return Err(ApiError::request_in_progress()),
            Claim::Reused => return Err(ApiError::idempotency_key_reused()),
        }
    }
    let key_ref = key.as_ref().map(|key| KeyRef {
        scope: &scope,
        key: key.as_str(),
    });
    let outcome = changes::book(&mut conn, service_id, &booking, now, key_ref, rate_limit).await;
    match outcome {
        Ok(booked) => {
            tracing::info!(
                job_id = %booked.job.id,
                tenant_id = %booked.tenant.id,
                status = booked.job.status.as_str(),
                client = %booking.email.masked(),
                "booking landed"
            );
            deps.deliver_booking(conn, &booked).await;
            Ok(json_response(
                201,
                &json!({ "job": views::job(&booked.job) }),
            ))
        }
        Err(failure) => {
            let error = ApiError::from(failure);
            finish_key(deps, conn, &scope, key.as_ref(), &error).await;
            Err(error)
        }
    }
}

/// Stores a final refusal under the key, or frees the key after a failure worth retrying (a
/// rate limit, a 5xx).
///
/// A 5xx is often the request's connection itself failing (the database restarted, a backend
/// was terminated): the key is then freed through a fresh connection, or the client's safe retry
/// would be told `request_in_progress` for as long as a claim lives (two minutes).
async fn finish_key(
    deps: &Deps,
    mut conn: PooledConnection,
    scope: &str,
    key: Option<&IdempotencyKey>,
    error: &ApiError,
) {
    let Some(key) = key else { return };
    let stored = if error.status == 429 {
        // Not an answer to the request, only "not now": the same key may come back later.
        idempotency::release(&mut conn, scope, key.as_str()).await
    } else if error.status >= 500 {
        // Hand the connection back first (one per container): the pool discards a broken one.
        drop(conn);
        release_on_fresh_connection(deps, scope, key).await;
        return;
    } else {
        idempotency::save_response(
            &mut conn,
            scope,
            key.as_str(),
            error.status,
            &error.body().to_string(),
        )
        .await
    };
    if let Err(e) = stored {
        tracing::warn!(error = %e, "could not record the idempotent outcome");
    }
}

/// Frees the key through fresh connections, a few times over about a second: a database that
/// just lost its connections is usually back by then.
async fn release_on_fresh_connection(deps: &Deps, scope: &str, key: &IdempotencyKey) {
    for pause_ms in [0, 100, 300, 700] {
        tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
        let released = match deps.connection().await {
            Ok(mut fresh) => idempotency::release(&mut fresh, scope, key.as_str())
                .await
                .map_err(|e| e.to_string()),
            Err(_) => Err("no database connection".to_owned()),
        };
        match released {
            Ok(()) => return,
            Err(error) => tracing::warn!(%error, "could not free the idempotency key yet"),
        }
    }
    tracing::warn!("the idempotency key stays claimed until its claim expires");
}

async fn replay(
    conn: &mut AsyncPgConnection,
    outcome: StoredOutcome,
) -> Result<Response<Body>, ApiError> {
    match outcome {
        StoredOutcome::Job(job_id) => {
            let job = jobs::find_by_id(conn, job_id)
                .await?
                .ok_or_else(ApiError::internal)?;
            let mut response = json_response(201, &json!({ "job": views::job(&job) }));
            response.headers_mut().insert(
                "idempotent-replayed",
                lambda_http::http::HeaderValue::from_static("true"),
            );
            Ok(response)
        }
        StoredOutcome::Response { status, body } => {
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
    }
}

/// The scope idempotency keys of bookings live in: one service's bookings.
pub fn key_scope(service_id: Uuid) -> String {
    format!("book:{service_id}")
}
