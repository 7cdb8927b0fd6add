//! The owner's view of how the business runs and what it shares: calendar feeds
//! (`POST /calendar-feeds`, `DELETE /calendar-feeds/{id}`), statistics (`GET /stats`) and the
//! suppression list (`GET /suppressions`, `DELETE /suppressions/{email}`). One Lambda
//! (`owner-insights`): they are the dashboard's integration and report screens, share their
//! shape (authenticate, resolve the tenant, one read or write, answer), and are rarely called.
//! Every route authenticates first and acts only within the caller's tenant.

use booking_domain::{FieldError, day_start};
use booking_edge::auth::Caller;
use booking_edge::input::{body_bytes, json_object, path_param, path_uuid, query_date};
use booking_edge::views::local_instant;
use booking_edge::{ApiError, json_response, respond};
use booking_repository::catalog::{self, Tenant};
use booking_repository::{PooledConnection, calendar_feeds, stats, suppressions};
use chrono::{Days, NaiveDate};
use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use uuid::Uuid;

use crate::Deps;
use crate::availability::{check_span, default_to};
use crate::calendar_feed::new_token;
use crate::owner_routes::caller;

/// The longest range `GET /stats` takes: a year (of 366 dates, for a leap year). Otherwise its
/// range reads as `GET /jobs`'s does.
pub const MAX_STATS_DAYS: u64 = 366;

/// The path's segments from the route's first one on (behind any stage prefix).
fn route_segments<'r>(request: &'r Request, first: &[&str]) -> Vec<&'r str> {
    let path = request.raw_http_path();
    let path = if path.is_empty() {
        request.uri().path()
    } else {
        path
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.iter().rposition(|s| first.contains(s)) {
        Some(at) => segments[at..].to_vec(),
        None => Vec::new(),
    }
}

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    let segments = route_segments(&request, &["calendar-feeds", "stats", "suppressions"]);
    let method = request.method().clone();
    respond(match (method, segments.as_slice()) {
        (Method::POST, ["calendar-feeds"]) => create_feed(deps, &request).await,
        (Method::DELETE, ["calendar-feeds", _]) => revoke_feed(deps, &request).await,
        (Method::GET, ["stats"]) => statistics(deps, &request).await,
        (Method::GET, ["suppressions"]) => list_suppressions(deps, &request).await,
        (Method::DELETE, ["suppressions", _]) => lift_suppression(deps, &request).await,
        _ => Err(ApiError::not_found("route")),
    })
}

/// The origin feed URLs start with: `PUBLIC_API_URL`, else the one this request came to.
fn api_origin(deps: &Deps, request: &Request) -> String {
    if let Some(url) = &deps.config.public_api_url {
        return url.clone();
    }
    let uri = request.uri();
    match uri.host() {
        Some(host) => {
            let scheme = uri.scheme_str().unwrap_or("https");
            match uri.port_u16() {
                Some(port) => format!("{scheme}://{host}:{port}"),
                None => format!("{scheme}://{host}"),
            }
        }
        None => deps.config.public_app_url.clone(),
    }
}

/// `POST /calendar-feeds` `{"staffId"?}` → 201 `{"id", "url"}`: the URL is shown this once
/// (only its token's hash is kept).
async fn create_feed(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(deps, request)?;
    let staff_id = if body_bytes(request)?.is_empty() {
        None
    } else {
        let mut fields = json_object(request)?;
        let staff_id = fields.optional("staffId", |raw| {
            Uuid::parse_str(raw.trim()).map_err(|_| FieldError::new("staffId", "must be a UUID"))
        });
        fields.finish()?;
        staff_id
    };
    let token = new_token()?;
    let mut conn = deps.connection().await?;
    let owner = caller.owner(&mut conn).await?;
    let id = calendar_feeds::create(&mut conn, owner.tenant_id, staff_id, &token.digest())
        .await?
        .ok_or_else(ApiError::staff_not_found)?;
    tracing::info!(feed_id = %id, tenant_id = %owner.tenant_id, staff = staff_id.is_some(), "calendar feed created");
    let url = format!("{}/calendar/{}", api_origin(deps, request), token.as_str());
    Ok(json_response(201, &json!({ "id": id, "url": url })))
}

/// `DELETE /calendar-feeds/{id}` → 204: the feed's URL answers 404 from now on.
async fn revoke_feed(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(deps, request)?;
    let feed_id = path_uuid(request, "id", "calendar-feeds")
        .ok_or_else(|| ApiError::not_found("calendar feed"))?;
    let mut conn = deps.connection().await?;
    let owner = caller.owner(&mut conn).await?;
    if !calendar_feeds::revoke(&mut conn, owner.tenant_id, feed_id).await? {
        return Err(ApiError::not_found("calendar feed"));
    }
    tracing::info!(%feed_id, tenant_id = %owner.tenant_id, "calendar feed revoked");
    no_content()
}

/// The caller's tenant, on the request's connection.
async fn owner_tenant(deps: &Deps, caller: Caller) -> Result<(PooledConnection, Tenant), ApiError> {
    let mut conn = deps.connection().await?;
    let owner = caller.owner(&mut conn).await?;
    let tenant = catalog::tenant_by_id(&mut conn, owner.tenant_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("The token's tenant does not exist."))?;
    Ok((conn, tenant))
}

/// `GET /stats?from&to`: counts over the tenant's jobs of every status starting on the local
/// dates `from..=to` (defaults and errors as for `GET /jobs`, up to [`MAX_STATS_DAYS`]).
///
/// `utilisation` = minutes booked by jobs not cancelled ÷ (the tenant's open minutes on those
/// dates × `maxBookingsPerSlot`); 0 when nothing is open, above 1 when hand-entered jobs sit
/// outside the hours. `leadTimeMinutesMedian` is over the clients' own bookings (hand-entered
/// jobs are often recorded afterwards); `null` when there are none.
async fn statistics(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(deps, request)?;
    let mut errors = Vec::new();
    let from = query_date(request, "from")
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let to = query_date(request, "to")
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(&errors));
    }
    let (conn, tenant) = owner_tenant(deps, caller).await?;
    let zone = tenant.zone;
    let from = from.unwrap_or_else(|| deps.now().with_timezone(&zone).date_naive());
    let to = match to {
        Some(to) => to,
        None => default_to(from)?,
    };
    check_span(from, to, MAX_STATS_DAYS)?;
    let after_last = to
        .checked_add_days(Days::new(1))
        .ok_or_else(|| ApiError::invalid_fields(&[FieldError::new("to", "is out of range")]))?;
    let (totals, schedule) = stats::totals(
        &conn,
        tenant.id,
        zone,
        (day_start(zone, from), day_start(zone, after_last)),
        (from, to),
    )
    .await?;
    let open_minutes: u64 = from
        .iter_days()
        .take_while(|date| *date <= to)
        .map(|date: NaiveDate| {
            schedule
                .intervals_on(date)
                .iter()
                .map(|interval| u64::from(interval.len_minutes()))
                .sum::<u64>()
        })
        .sum();
    let capacity = u64::from(tenant.settings.max_bookings_per_slot.max(1));
    let open = (open_minutes * capacity) as f64;
    let utilisation = if open > 0.0 {
        totals.booked_minutes / open
    } else {
        0.0
    };
    let finished = totals.completed + totals.no_shows;
    let no_show_rate = if finished > 0 {
        totals.no_shows as f64 / finished as f64
    } else {
        0.0
    };
    Ok(json_response(
        200,
        &json!({
            "from": from.to_string(),
            "to": to.to_string(),
            "timeZone": zone.name(),
            "byStatus": totals.by_status,
            "byService": totals.by_service,
            "byStaff": totals.by_staff,
            "cancelledBy": {"client": totals.cancelled_by_client, "owner": totals.cancelled_by_owner},
            "noShowRate": no_show_rate,
            "leadTimeMinutesMedian": totals.lead_time_minutes_median.map(f64::round),
            "busiest": totals.busiest,
            "utilisation": utilisation,
            "bookedMinutes": totals.booked_minutes.round(),
            "openMinutes": open_minutes * capacity,
        }),
    ))
}

/// `GET /suppressions` → `{"suppressions": [{"email", "reason", "at"}]}`, newest first.
async fn list_suppressions(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(deps, request)?;
    let (mut conn, tenant) = owner_tenant(deps, caller).await?;
    let listed: Vec<_> = suppressions::list(&mut conn, tenant.id)
        .await?
        .iter()
        .map(|entry| {
            json!({
                "email": entry.email,
                "reason": entry.reason,
                "at": local_instant(&entry.at, tenant.zone),
            })
        })
        .collect();
    Ok(json_response(200, &json!({ "suppressions": listed })))
}

/// `DELETE /suppressions/{email}` → 204: the address gets the tenant's mail again. An address
/// not on the list (or no address at all) is 404.
async fn lift_suppression(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(deps, request)?;
    // API Gateway hands the parameter decoded; the local router, only the raw path.
    let from_parameters = request
        .path_parameters_ref()
        .and_then(|params| params.first("email"))
        .map(str::to_owned);
    let email = from_parameters
        .or_else(|| path_param(request, "email", "suppressions").map(|raw| percent_decoded(&raw)))
        .unwrap_or_default();
    let not_listed = || ApiError::not_found("suppression for this address");
    if email.trim().is_empty() || email.chars().count() > 320 {
        return Err(not_listed());
    }
    let mut conn = deps.connection().await?;
    let owner = caller.owner(&mut conn).await?;
    if !suppressions::lift(&mut conn, owner.tenant_id, &email).await? {
        return Err(not_listed());
    }
    tracing::info!(tenant_id = %owner.tenant_id, "suppression lifted");
    no_content()
}

/// A path segment with its `%XX` escapes decoded (the local router passes the raw path).
fn percent_decoded(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn no_content() -> Result<Response<Body>, ApiError> {
    Response::builder()
        .status(204)
        .header("cache-control", "no-store")
        .body(Body::Empty)
        .map_err(|_| ApiError::internal())
}
