//! The client's own booking, by the manage link's token: `GET /bookings/{token}`, `POST
//! /bookings/{token}/cancel` (body `{"reason"?}`) and `POST /bookings/{token}/reschedule` (body
//! `{"start"}`). One Lambda (`manage-booking`) serves the flow. The token is the credential: it
//! is verified (constant time) before anything else and never logged; a malformed, forged,
//! unknown or rotated token — or one of an erased contact — answers the same 404.
//!
//! The changes are the owner's ([`changes::cancel`], [`changes::reschedule`]) asked by the
//! client ([`Requester::Client`]): the same guard, history and mails, within the tenant's limits.

use booking_domain::{DeclineReason, JobAction, ManageLink};
use booking_edge::input::{body_bytes, idempotency_key, instant, json_object};
use booking_edge::{ApiError, json_response, respond, views};
use booking_repository::changes::{self, OwnerChange, OwnerError};
use booking_repository::rate_limit::{self, RateLimit};
use booking_repository::{PooledConnection, jobs};
use chrono::{DateTime, Utc};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};

use crate::Deps;
use crate::idempotent::{self, Failed, Key};

/// What the request asks, parsed.
enum Asked {
    View,
    Cancel(Option<DeclineReason>),
    Reschedule(DateTime<Utc>),
}

/// The path's segments after `bookings`: the token and the action, if any.
fn path_parts(request: &Request) -> (Option<String>, Option<String>) {
    let from_params = request
        .path_parameters_ref()
        .and_then(|params| params.first("token").map(str::to_owned));
    let path = request.raw_http_path();
    let path = if path.is_empty() {
        request.uri().path().to_owned()
    } else {
        path.to_owned()
    };
    let mut segments = path.split('/').skip_while(|segment| *segment != "bookings");
    let _bookings = segments.next();
    let in_path = segments.next().map(str::to_owned);
    let token = from_params.or(in_path);
    let action = segments.next().map(str::to_owned);
    (token, action)
}

fn parse(request: &Request, action: Option<&str>) -> Result<Asked, ApiError> {
    let has_body = !body_bytes(request)?.iter().all(u8::is_ascii_whitespace);
    Ok(match (request.method().as_str(), action) {
        ("GET", None) => Asked::View,
        ("POST", Some("cancel")) if !has_body => Asked::Cancel(None),
        ("POST", Some("cancel")) => {
            let mut fields = json_object(request)?;
            let reason = fields.optional("reason", DeclineReason::parse);
            fields.finish()?;
            Asked::Cancel(reason)
        }
        ("POST", Some("reschedule")) => {
            let mut fields = json_object(request)?;
            let start = fields.required("start", instant("start"));
            fields.finish()?;
            Asked::Reschedule(
                start.ok_or_else(|| ApiError::invalid_request("A start is required."))?,
            )
        }
        _ => return Err(ApiError::booking_not_found()),
    })
}

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    let mut response = respond(manage(deps, &request).await);
    // The page is the client's alone: never cached on the way.
    response.headers_mut().insert(
        "cache-control",
        lambda_http::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// A client's refusal: a job the link cannot reach is a booking not found, never a job.
fn refusal(error: OwnerError) -> ApiError {
    match error {
        OwnerError::JobNotFound | OwnerError::ServiceNotFound => ApiError::booking_not_found(),
        other => other.into(),
    }
}

async fn manage(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let (token, action) = path_parts(request);
    // Verified before any database work; every failure is the same 404.
    let link = token
        .as_deref()
        .and_then(|token| deps.config.manage_key.verify(token))
        .ok_or_else(ApiError::booking_not_found)?;
    let asked = parse(request, action.as_deref())?;
    let key = idempotency_key(request)?;
    let body = body_bytes(request)?;
    let now = deps.now();
    let conn = deps.connection().await?;
    let bucket = deps.client_bucket("manage", request);
    if let Some(limit) = RateLimit::per_minute(&bucket, deps.config.manage_rate_limit_per_minute)
        && let Some(retry_after) = rate_limit::hit(&conn, limit, now).await?
    {
        return Err(ApiError::rate_limited(retry_after));
    }
    let action = match &asked {
        Asked::View => return view(conn, link, now).await,
        Asked::Cancel(_) => JobAction::Cancel,
        Asked::Reschedule(_) => JobAction::Reschedule,
    };
    // Scoped to the job, not the token: a replay after the link rotated still finds its answer.
    let key = key.as_ref().map(|key| Key {
        scope: format!("client:{}:{action}", link.job_id),
        key,
        body,
    });
    let replay_job = |mut conn: PooledConnection, job_id| async move {
        let booking = jobs::client_booking(&mut conn, job_id)
            .await?
            .ok_or_else(ApiError::booking_not_found)?;
        Ok(answer(deps, &booking, now))
    };
    let asked = &asked;
    let work = |mut conn: PooledConnection, key| async move {
        let change =
            match OwnerChange::by_client(&mut conn, link.job_id, link.version, now, key).await {
                Ok(Some(change)) => change,
                Ok(None) => return Err(Failed::on(conn, ApiError::booking_not_found())),
                Err(error) => return Err(Failed::on(conn, ApiError::from(error))),
            };
        let outcome = match asked {
            Asked::Cancel(reason) => changes::cancel(&mut conn, change, reason.as_ref()).await,
            Asked::Reschedule(start) => changes::reschedule(&mut conn, change, *start).await,
            Asked::View => Err(OwnerError::JobNotFound),
        };
        match outcome {
            Ok(job) => {
                tracing::info!(job_id = %job.id, tenant_id = %job.tenant_id, action = %action, status = job.status.as_str(), "booking changed by its client");
                deps.owe_job_mails(job.id);
                let booking = jobs::client_booking(&mut conn, job.id)
                    .await
                    .map_err(|error| Failed::on_error(error.into()))?
                    .ok_or_else(|| Failed::on_error(ApiError::internal()))?;
                Ok(json_response(200, &answer(deps, &booking, now)))
            }
            Err(refused) => Err(Failed::on(conn, refusal(refused))),
        }
    };
    idempotent::run(deps, conn, key.as_ref(), replay_job, work).await
}

/// `{"booking": …, "manageToken"}`: the token of the job's current link (new after a move).
fn answer(deps: &Deps, booking: &jobs::ClientBooking, now: DateTime<Utc>) -> Value {
    json!({
        "booking": views::booking(booking, now),
        "manageToken": deps.manage_token(&booking.job),
    })
}

async fn view(
    mut conn: PooledConnection,
    link: ManageLink,
    now: DateTime<Utc>,
) -> Result<Response<Body>, ApiError> {
    let booking = jobs::client_booking(&mut conn, link.job_id)
        .await?
        .filter(|booking| booking.job.manage_version == link.version)
        .ok_or_else(ApiError::booking_not_found)?;
    Ok(json_response(
        200,
        &json!({ "booking": views::booking(&booking, now) }),
    ))
}
