//! A client's data (owner): `GET /contacts/{contactId}/export` — everything held about the
//! person as one JSON document (GDPR art. 15) — and `DELETE /contacts/{contactId}` — erase it
//! (art. 17, [`booking_repository::changes::erase_contact`]). Their own Lambda
//! (`contact-data`): `owner-calendar` is the dashboard's read-only calendar, and these two are
//! a separate, rare flow, one of which writes.

use booking_edge::input::path_uuid;
use booking_edge::{ApiError, json_response, respond, views};
use booking_repository::catalog;
use booking_repository::changes;
use booking_repository::{contacts, events, jobs, outbox, suppressions};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::Deps;
use crate::owner_routes::caller;

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    let exporting = request
        .uri()
        .path()
        .trim_end_matches('/')
        .ends_with("/export");
    respond(match (request.method().clone(), exporting) {
        (Method::GET, true) => export(deps, &request).await,
        (Method::DELETE, false) => erase(deps, &request).await,
        _ => Err(ApiError::not_found("route")),
    })
}

/// `GET /contacts/{contactId}/export`: the contact, every job with its history, every mail's
/// metadata (the mails themselves are rendered from the job when sent; nothing else is kept),
/// and whether their address is suppressed (SES reported it bouncing or complaining).
async fn export(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(deps, request)?;
    let contact_id = path_uuid(request, "contactId", "contacts");
    let mut conn = deps.connection().await?;
    let owner = caller.owner(&mut conn).await?;
    let contact_id = contact_id.ok_or_else(|| ApiError::not_found("contact"))?;
    let tenant = catalog::tenant_by_id(&mut conn, owner.tenant_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("The token's tenant does not exist."))?;
    let contact = contacts::find(&mut conn, tenant.id, contact_id)
        .await?
        .ok_or_else(|| ApiError::not_found("contact"))?;
    let held = jobs::for_contact(&mut conn, tenant.id, contact.id, tenant.zone).await?;
    let suppressed = match contact.erased {
        true => None,
        false => suppressions::of_address(&mut conn, tenant.id, &contact.email).await?,
    };
    let mut listed = Vec::with_capacity(held.len());
    for job in &held {
        let history = events::for_job(&conn, tenant.id, job.id).await?;
        let mails = outbox::for_job(&mut conn, tenant.id, job.id).await?;
        listed.push(json!({
            "job": views::job(job),
            "history": views::history(&history, tenant.zone),
            "emails": views::emails(&mails, tenant.zone),
        }));
    }
    Ok(json_response(
        200,
        &json!({
            "exportedAt": views::local_instant(&deps.now(), tenant.zone),
            "business": {"id": tenant.id, "name": tenant.name},
            "contact": views::contact(&contact, tenant.zone),
            "suppressed": suppressed.map(|entry| json!({
                "reason": entry.reason,
                "at": views::local_instant(&entry.at, tenant.zone),
            })),
            "jobs": listed,
        }),
    ))
}

/// `DELETE /contacts/{contactId}` → 204. Erasing an erased contact again is a 204 too.
async fn erase(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(deps, request)?;
    let contact_id = path_uuid(request, "contactId", "contacts");
    let mut conn = deps.connection().await?;
    let owner = caller.owner(&mut conn).await?;
    let contact_id = contact_id.ok_or_else(|| ApiError::not_found("contact"))?;
    let erased = changes::erase_contact(
        &mut conn,
        owner.tenant_id,
        contact_id,
        &owner.actor(),
        deps.now(),
    )
    .await?;
    tracing::info!(
        tenant_id = %owner.tenant_id,
        %contact_id,
        jobs = erased.jobs,
        cancelled = erased.cancelled.len(),
        already = erased.already,
        "contact erased"
    );
    Ok(Response::builder()
        .status(204)
        .body(Body::Empty)
        .unwrap_or_default())
}
