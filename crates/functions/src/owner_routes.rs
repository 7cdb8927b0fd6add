//! The owner's routes: `POST /jobs/{jobId}/confirm`, `POST /jobs/{jobId}/decline` and
//! `POST /jobs`. Every one authenticates first (before any database work) and acts only within
//! the caller's tenant: a verified user's tenant is resolved on the request's own connection.

use booking_domain::{ClientEmail, ClientName, DeclineReason, JobTitle, Notes, Phone};
use booking_edge::auth::{Caller, authenticate};
use booking_edge::input::{instant, json_object, path_uuid, uuid};
use booking_edge::{ApiError, json_response, respond, views};
use booking_repository::changes::{self, HandEnteredJob};
use booking_repository::jobs::JobRecord;
use booking_repository::outbox::{self, MailRecord};
use booking_repository::{PooledConnection, on_fresh_connection};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use uuid::Uuid;

use crate::Deps;

pub(crate) fn caller(deps: &Deps, request: &Request) -> Result<Caller, ApiError> {
    authenticate(request, &deps.config)
}

/// A malformed id names no job: 404, exactly as an unknown one.
pub(crate) fn job_id(request: &Request) -> Result<Uuid, ApiError> {
    path_uuid(request, "jobId", "jobs").ok_or_else(ApiError::job_not_found)
}

/// The job with its mails and whether they went out, as the owner's dashboard shows it.
fn job_with_emails(status: u16, job: &JobRecord, emails: Option<&[MailRecord]>) -> Response<Body> {
    let view = match emails {
        Some(emails) => views::job(job).with_emails(emails, job.zone),
        None => views::job(job),
    };
    json_response(status, &json!({ "job": view }))
}

/// The answer to a change that has committed: the change landed, so the answer is a success
/// even when the database fails now. The mails' state is read on `conn` or, if that failed,
/// on a fresh connection; if that fails too, the job is shown without its mails.
pub(crate) async fn committed_response(
    deps: &Deps,
    conn: Option<PooledConnection>,
    status: u16,
    job: &JobRecord,
) -> Response<Body> {
    if let Some(mut conn) = conn {
        match outbox::for_job(&mut conn, job.tenant_id, job.id).await {
            Ok(emails) => return job_with_emails(status, job, Some(&emails)),
            Err(error) => tracing::warn!(job_id = %job.id, %error, "cannot read the job's mails"),
        }
    }
    // One try: the answer should not wait long for what is only a view of the mails.
    let emails = on_fresh_connection(
        &deps.pool,
        "read the job's mails",
        &[0],
        |mut conn| async move { outbox::for_job(&mut conn, job.tenant_id, job.id).await },
    )
    .await;
    if emails.is_none() {
        tracing::warn!(job_id = %job.id, "answering without the job's mails: no database");
    }
    job_with_emails(status, job, emails.as_deref())
}

pub async fn confirm(deps: &Deps, request: Request) -> Response<Body> {
    respond(
        async {
            let caller = caller(deps, &request)?;
            let job_id = job_id(&request)?;
            let mut conn = deps.connection().await?;
            let owner = caller.owner(&mut conn).await?;
            let job = changes::confirm(
                &mut conn,
                owner.tenant_id,
                job_id,
                &owner.actor(),
                deps.now(),
            )
            .await?;
            tracing::info!(job_id = %job.id, tenant_id = %owner.tenant_id, "job confirmed");
            let conn = deps.deliver_after_commit(conn, job.id).await;
            Ok(committed_response(deps, conn, 200, &job).await)
        }
        .await,
    )
}

pub async fn decline(deps: &Deps, request: Request) -> Response<Body> {
    respond(
        async {
            let caller = caller(deps, &request)?;
            let job_id = job_id(&request)?;
            let mut fields = json_object(&request)?;
            let reason = fields.required("reason", DeclineReason::parse);
            fields.finish()?;
            let reason =
                reason.ok_or_else(|| ApiError::invalid_request("A reason is required."))?;
            let mut conn = deps.connection().await?;
            let owner = caller.owner(&mut conn).await?;
            let job = changes::decline(
                &mut conn,
                owner.tenant_id,
                job_id,
                &reason,
                &owner.actor(),
                deps.now(),
            )
            .await?;
            tracing::info!(job_id = %job.id, tenant_id = %owner.tenant_id, "job declined");
            let conn = deps.deliver_after_commit(conn, job.id).await;
            Ok(committed_response(deps, conn, 200, &job).await)
        }
        .await,
    )
}

pub async fn enter_by_hand(deps: &Deps, request: Request) -> Response<Body> {
    respond(
        async {
            let caller = caller(deps, &request)?;
            let mut fields = json_object(&request)?;
            let service_id = fields.required("serviceId", uuid("serviceId"));
            let start = fields.required("start", instant("start"));
            let name = fields.required("name", ClientName::parse);
            let email = fields.required("email", ClientEmail::parse);
            let phone = fields.optional("phone", Phone::parse);
            let notes = fields.optional("notes", Notes::parse);
            let title = fields.optional("title", JobTitle::parse);
            let staff_id = fields.optional("staffId", uuid("staffId"));
            fields.finish()?;
            let (Some(service_id), Some(start), Some(name), Some(email)) =
                (service_id, start, name, email)
            else {
                return Err(ApiError::invalid_request("The request is invalid."));
            };
            let new_job = HandEnteredJob {
                service_id,
                start,
                name,
                email,
                phone,
                notes,
                title,
            };
            let mut conn = deps.connection().await?;
            let owner = caller.owner(&mut conn).await?;
            let job = changes::enter_by_hand_with_staff(
                &mut conn,
                owner.tenant_id,
                &new_job,
                staff_id,
                &owner.actor(),
                deps.now(),
            )
            .await?;
            tracing::info!(job_id = %job.id, tenant_id = %owner.tenant_id, "job entered by hand");
            Ok(committed_response(deps, Some(conn), 201, &job).await)
        }
        .await,
    )
}
