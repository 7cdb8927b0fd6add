//! The owner's integrations: `POST /webhooks`, `GET /webhooks`, `DELETE /webhooks/{id}` and
//! `GET /webhooks/{id}/deliveries`. One Lambda serves them (`integrations`): one flow, rarely
//! used, one warm container instead of four cold ones.
//!
//! A registration is refused (400, nothing stored) for an unknown event, a URL that is not
//! absolute https (or http to loopback where `WEBHOOK_ALLOW_LOOPBACK` allows it), too long,
//! or whose host resolves to an address webhooks may not reach; the relay checks the address
//! again at every attempt ([`crate::webhook_delivery`]).

use booking_domain::webhook::parse_events;
use booking_domain::{FieldError, WebhookUrl};
use booking_edge::input::json_object;
use booking_edge::views::local_instant;
use booking_edge::{ApiError, json_response, respond};
use booking_repository::PooledConnection;
use booking_repository::catalog::Tenant;
use booking_repository::webhooks::{self, Delivery, MAX_ENDPOINTS, Webhook};
use chrono_tz::Tz;
use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Deps;
use crate::owner_calendar::owner_tenant;
use crate::owner_routes::caller;
use crate::webhook_delivery::resolve_checked;

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    respond(route(deps, &request).await)
}

/// The path's segments from `webhooks` on (a stage prefix before it is skipped).
fn segments(request: &Request) -> Vec<String> {
    let path = request.raw_http_path();
    let path = if path.is_empty() {
        request.uri().path()
    } else {
        path
    };
    path.split('/')
        .skip_while(|segment| *segment != "webhooks")
        .filter(|segment| !segment.is_empty())
        .map(str::to_owned)
        .collect()
}

fn webhook_not_found() -> ApiError {
    ApiError::not_found("webhook")
}

async fn route(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(deps, request)?;
    let segments = segments(request);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = request.method();
    // A malformed id names no webhook: 404, as an unknown one.
    let id = |text: &str| Uuid::parse_str(text).map_err(|_| webhook_not_found());
    match (method, segments.as_slice()) {
        (&Method::POST, ["webhooks"]) => {
            let (url, events) = parse_registration(deps, request).await?;
            let (mut conn, tenant) = owner_tenant(deps, caller).await?;
            register(&mut conn, &tenant, deps, &url, &events).await
        }
        (&Method::GET, ["webhooks"]) => {
            let (mut conn, tenant) = owner_tenant(deps, caller).await?;
            let listed = webhooks::list(&mut conn, tenant.id).await?;
            let views: Vec<Value> = listed
                .iter()
                .map(|w| webhook_view(w, tenant.zone))
                .collect();
            Ok(json_response(200, &json!({ "webhooks": views })))
        }
        (&Method::DELETE, ["webhooks", webhook]) => {
            let webhook_id = id(webhook)?;
            let (mut conn, tenant) = owner_tenant(deps, caller).await?;
            if !webhooks::delete(&mut conn, tenant.id, webhook_id).await? {
                return Err(webhook_not_found());
            }
            tracing::info!(%webhook_id, tenant_id = %tenant.id, "webhook removed");
            Ok(no_content())
        }
        (&Method::GET, ["webhooks", webhook, "deliveries"]) => {
            let webhook_id = id(webhook)?;
            let (mut conn, tenant) = owner_tenant(deps, caller).await?;
            let deliveries = webhooks::deliveries(&mut conn, tenant.id, webhook_id)
                .await?
                .ok_or_else(webhook_not_found)?;
            let views: Vec<Value> = deliveries
                .iter()
                .map(|d| delivery_view(d, tenant.zone))
                .collect();
            Ok(json_response(200, &json!({ "deliveries": views })))
        }
        _ => Err(ApiError::not_found("route")),
    }
}

/// `{"url", "events"}`, parsed and checked — the host resolved and every address checked —
/// before anything is read or written.
async fn parse_registration(
    deps: &Deps,
    request: &Request,
) -> Result<(WebhookUrl, Vec<booking_domain::WebhookEvent>), ApiError> {
    let allow_loopback = deps.config.webhook_allow_loopback;
    let mut fields = json_object(request)?;
    let url = fields.required("url", |text| {
        WebhookUrl::parse(text, allow_loopback)
            .map_err(|refused| FieldError::new("url", refused.to_string()))
    });
    let events = fields.required_strings("events");
    fields.finish()?;
    let (Some(url), Some(events)) = (url, events) else {
        return Err(ApiError::invalid_request("A url and events are required."));
    };
    let events = parse_events(events.iter().map(String::as_str)).map_err(|refused| {
        ApiError::invalid_fields(&[FieldError::new("events", refused.to_string())])
    })?;
    resolve_checked(&url, allow_loopback).await.map_err(|why| {
        ApiError::invalid_fields(&[FieldError::new("url", format!("is refused: {why}"))])
    })?;
    Ok((url, events))
}

async fn register(
    conn: &mut PooledConnection,
    tenant: &Tenant,
    deps: &Deps,
    url: &WebhookUrl,
    events: &[booking_domain::WebhookEvent],
) -> Result<Response<Body>, ApiError> {
    let created = webhooks::create(conn, tenant.id, url.as_str(), events, deps.now())
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| {
            ApiError::invalid_request(format!(
                "A business may register at most {MAX_ENDPOINTS} webhooks."
            ))
        })?;
    tracing::info!(webhook_id = %created.id, tenant_id = %tenant.id, "webhook registered");
    let secret = deps.config.webhook_key.endpoint_secret(created.id);
    Ok(json_response(
        201,
        &json!({ "webhook": webhook_view(&created, tenant.zone), "secret": secret.reveal() }),
    ))
}

fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = lambda_http::http::StatusCode::NO_CONTENT;
    response
}

/// `{"id", "url", "events", "createdAt"}` — never the secret.
fn webhook_view(webhook: &Webhook, zone: Tz) -> Value {
    let events: Vec<&str> = webhook.events.iter().map(|e| e.as_str()).collect();
    json!({
        "id": webhook.id,
        "url": webhook.url,
        "events": events,
        "createdAt": local_instant(&webhook.created_at, zone),
    })
}

/// `{"eventId", "type", "status", "attempts", "lastStatusCode"?, "nextAttemptAt"?, "createdAt"}`.
fn delivery_view(delivery: &Delivery, zone: Tz) -> Value {
    let mut view = json!({
        "eventId": delivery.event_id,
        "type": delivery.event.as_str(),
        "status": delivery.status.as_str(),
        "attempts": delivery.attempts,
        "createdAt": local_instant(&delivery.created_at, zone),
    });
    if let Some(code) = delivery.last_status_code {
        view["lastStatusCode"] = json!(code);
    }
    if let Some(next) = delivery.next_attempt_at {
        view["nextAttemptAt"] = json!(local_instant(&next, zone));
    }
    view
}
