//! The owner's transitions of a job: `POST /jobs/{jobId}/start`, `/complete`, `/no-show`,
//! `/cancel` (body `{"reason"?}`) and `/reschedule` (body `{"start"}`). One Lambda serves them
//! all (`job-transitions`): they are one flow — the same guard, the same answer, the same
//! idempotency — and a day's changes keep one container warm instead of five cold ones.
//!
//! Everything is parsed before anything is written; the change runs through the shared
//! idempotency wrapper, so a retry with the same `Idempotency-Key` replays the first answer
//! and never changes (or mails) twice.

use booking_domain::{DeclineReason, FieldError, JobAction, MailKind};
use booking_edge::input::{body_bytes, idempotency_key, instant, json_object};
use booking_edge::{ApiError, respond, views};
use booking_repository::changes::{self, OwnerChange, Requester};
use booking_repository::{PooledConnection, jobs};
use chrono::{DateTime, Utc};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use uuid::Uuid;

use crate::Deps;
use crate::idempotent::{self, Failed, Key};
use crate::owner_routes::{caller, committed_response, job_id};

/// What the request asks, parsed.
enum Asked {
    Start,
    Complete,
    NoShow,
    Cancel(Option<DeclineReason>),
    Reschedule(DateTime<Utc>),
}

/// The action is the path's segment after the job id (`/jobs/{jobId}/no-show`).
fn action_of(request: &Request) -> Option<JobAction> {
    let path = request.raw_http_path();
    let path = if path.is_empty() {
        request.uri().path()
    } else {
        path
    };
    let mut segments = path.split('/').skip_while(|segment| *segment != "jobs");
    let (_jobs, _id, action) = (segments.next()?, segments.next()?, segments.next()?);
    JobAction::parse(action).filter(|action| {
        matches!(
            action,
            JobAction::Start
                | JobAction::Complete
                | JobAction::NoShow
                | JobAction::Cancel
                | JobAction::Reschedule
        )
    })
}

/// An empty body is `None` (cancel's body is optional).
fn has_body(request: &Request) -> Result<bool, ApiError> {
    Ok(!body_bytes(request)?.iter().all(u8::is_ascii_whitespace))
}

/// How far from now a job may be moved (either way): beyond it a start is a typo, not a plan.
const MAX_MOVE_DAYS: i64 = 3660;

fn parse(request: &Request, action: JobAction, now: DateTime<Utc>) -> Result<Asked, ApiError> {
    Ok(match action {
        JobAction::Cancel if !has_body(request)? => Asked::Cancel(None),
        JobAction::Cancel => {
            let mut fields = json_object(request)?;
            let reason = fields.optional("reason", DeclineReason::parse);
            fields.finish()?;
            Asked::Cancel(reason)
        }
        JobAction::Reschedule => {
            let mut fields = json_object(request)?;
            let start = fields.required("start", instant("start"));
            fields.finish()?;
            let start = start.ok_or_else(|| ApiError::invalid_request("A start is required."))?;
            if (start - now).num_days().abs() > MAX_MOVE_DAYS {
                return Err(ApiError::invalid_fields(&[FieldError::new(
                    "start",
                    format!("must be within {MAX_MOVE_DAYS} days of now"),
                )]));
            }
            Asked::Reschedule(start)
        }
        JobAction::NoShow => Asked::NoShow,
        JobAction::Complete => Asked::Complete,
        _ => Asked::Start,
    })
}

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    respond(transition(deps, &request).await)
}

async fn transition(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(deps, request)?;
    let job_id = job_id(request)?;
    let action = action_of(request).ok_or_else(ApiError::job_not_found)?;
    let now = deps.now();
    let asked = parse(request, action, now)?;
    let key = idempotency_key(request)?;
    let body = body_bytes(request)?;
    let mut conn = deps.connection().await?;
    let owner = caller.owner(&mut conn).await?;
    let tenant_id = owner.tenant_id;
    let actor = owner.actor();
    let key = key.as_ref().map(|key| Key {
        scope: key_scope(tenant_id, job_id, action),
        key,
        body,
    });
    let replay_job = |mut conn: PooledConnection, job_id| async move {
        let job = jobs::find_for_tenant(&mut conn, tenant_id, job_id)
            .await?
            .ok_or_else(ApiError::job_not_found)?;
        Ok(json!({ "job": views::job(&job) }))
    };
    let (actor, asked) = (&actor, &asked);
    let work = |mut conn: PooledConnection, key| async move {
        let change = OwnerChange {
            tenant_id,
            job_id,
            actor,
            now,
            key,
            by: Requester::Owner,
        };
        let outcome = match asked {
            Asked::Start => changes::start(&mut conn, change).await,
            Asked::Complete => changes::complete(&mut conn, change).await,
            Asked::NoShow => changes::no_show(&mut conn, change).await,
            Asked::Cancel(reason) => changes::cancel(&mut conn, change, reason.as_ref()).await,
            Asked::Reschedule(start) => changes::reschedule(&mut conn, change, *start).await,
        };
        match outcome {
            Ok(job) => {
                tracing::info!(job_id = %job.id, %tenant_id, action = %action, status = job.status.as_str(), "job changed");
                if !MailKind::for_owner_change(action).is_empty() {
                    deps.owe_job_mails(job.id);
                }
                Ok(committed_response(deps, Some(conn), 200, &job).await)
            }
            Err(refusal) => Err(Failed::on(conn, refusal)),
        }
    };
    idempotent::run(deps, conn, key.as_ref(), replay_job, work).await
}

/// Idempotency keys of owner changes live per tenant, job and action: the same key on another
/// job (or from another tenant) is another request.
fn key_scope(tenant_id: Uuid, job_id: Uuid, action: JobAction) -> String {
    format!("owner:{tenant_id}:{job_id}:{action}")
}
