//! The owner's calendar, read only: `GET /jobs` (a page of jobs by local dates), `GET
//! /jobs/{jobId}` (one job with its mails and history), `GET /contacts` and `GET
//! /contacts/{contactId}`. One Lambda (`owner-calendar`) serves the four: they are the
//! dashboard's reads, share their shape (authenticate, resolve the tenant, read, answer) and
//! warm one container between them; nothing here writes.

use booking_domain::{FieldError, JobStatus, day_start};
use booking_edge::auth::Caller;
use booking_edge::input::{cursor, path_uuid, query_date, query_limit, query_list, query_text};
use booking_edge::{ApiError, json_response, respond, views};
use booking_repository::catalog::{self, Tenant};
use booking_repository::jobs::{self, JobQuery};
use booking_repository::{AsyncPgConnection, contacts, events, outbox};
use chrono::{Days, NaiveDate};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use uuid::Uuid;

use crate::Deps;
use crate::availability::{check_range, default_to};
use crate::owner_routes::{caller, job_id};

/// A page's size when `limit` is not given, and the most one may ask for.
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 500;
/// Longest search text, in characters.
const MAX_SEARCH_CHARS: usize = 200;

/// Which of the four reads a request is, from its path (`/jobs`, `/jobs/{id}`, `/contacts`,
/// `/contacts/{id}`, behind any stage prefix).
fn route(request: &Request) -> Option<(&'static str, bool)> {
    let path = request.raw_http_path();
    let path = if path.is_empty() {
        request.uri().path()
    } else {
        path
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let at = segments
        .iter()
        .rposition(|segment| *segment == "jobs" || *segment == "contacts")?;
    let collection = if segments[at] == "jobs" {
        "jobs"
    } else {
        "contacts"
    };
    match segments.len() - at {
        1 => Some((collection, false)),
        2 => Some((collection, true)),
        _ => None,
    }
}

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    respond(match route(&request) {
        Some(("jobs", false)) => list_jobs(deps, &request).await,
        Some(("jobs", true)) => one_job(deps, &request).await,
        Some((_, false)) => list_contacts(deps, &request).await,
        Some((_, true)) => one_contact(deps, &request).await,
        None => Err(ApiError::not_found("route")),
    })
}

/// The caller's tenant, on the request's connection.
pub(crate) async fn owner_tenant(
    deps: &Deps,
    caller: Caller,
) -> Result<(booking_repository::PooledConnection, Tenant), ApiError> {
    let mut conn = deps.connection().await?;
    let owner = caller.owner(&mut conn).await?;
    let tenant = catalog::tenant_by_id(&mut conn, owner.tenant_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("The token's tenant does not exist."))?;
    Ok((conn, tenant))
}

/// `GET /jobs`'s query, parsed: every problem is reported at once, before anything is read.
struct CalendarQuery {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    statuses: Vec<JobStatus>,
    service_id: Option<Uuid>,
    staff_id: Option<Uuid>,
    limit: u32,
    after: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
}

/// The value, or `None` with its error kept for the answer.
fn keep<T>(errors: &mut Vec<FieldError>, result: Result<T, FieldError>) -> Option<T> {
    result.map_err(|error| errors.push(error)).ok()
}

fn parse_calendar(request: &Request) -> Result<CalendarQuery, ApiError> {
    let mut errors: Vec<FieldError> = Vec::new();
    let from = keep(&mut errors, query_date(request, "from")).flatten();
    let to = keep(&mut errors, query_date(request, "to")).flatten();
    let limit =
        keep(&mut errors, query_limit(request, DEFAULT_LIMIT, MAX_LIMIT)).unwrap_or(DEFAULT_LIMIT);
    let statuses: Vec<JobStatus> = query_list(request, "status")
        .iter()
        .filter_map(|name| {
            keep(
                &mut errors,
                JobStatus::parse(name).ok_or_else(|| {
                    let known: Vec<&str> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
                    FieldError::new(
                        "status",
                        format!("`{name}` is not a status (one of {})", known.join(", ")),
                    )
                }),
            )
        })
        .collect();
    let mut id = |name: &'static str| {
        query_text(request, name).and_then(|raw| {
            keep(
                &mut errors,
                Uuid::parse_str(raw.trim()).map_err(|_| FieldError::new(name, "must be a UUID")),
            )
        })
    };
    let service_id = id("serviceId");
    let staff_id = id("staffId");
    let after = query_text(request, "cursor").and_then(|raw| {
        keep(
            &mut errors,
            cursor::parse_jobs(raw)
                .ok_or_else(|| FieldError::new("cursor", "is not a cursor this route gave out")),
        )
    });
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(&errors));
    }
    Ok(CalendarQuery {
        from,
        to,
        statuses,
        service_id,
        staff_id,
        limit,
        after,
    })
}

/// `GET /jobs?from&to&status&serviceId&staffId&limit&cursor`.
async fn list_jobs(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(deps, request)?;
    let query = parse_calendar(request)?;
    let (mut conn, tenant) = owner_tenant(deps, caller).await?;
    let zone = tenant.zone;
    let from = query
        .from
        .unwrap_or_else(|| deps.now().with_timezone(&zone).date_naive());
    let to = match query.to {
        Some(to) => to,
        None => default_to(from)?,
    };
    check_range(from, to)?;
    let after_last = to
        .checked_add_days(Days::new(1))
        .ok_or_else(|| ApiError::invalid_fields(&[FieldError::new("to", "is out of range")]))?;
    let page = JobQuery {
        from: day_start(zone, from),
        to: day_start(zone, after_last),
        statuses: query.statuses,
        service_id: query.service_id,
        staff_id: query.staff_id,
        after: query.after,
        limit: query.limit,
    };
    let mut found = jobs::list(&mut conn, tenant.id, zone, &page).await?;
    let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
    let next_cursor = if found.len() > limit {
        found.truncate(limit);
        found.last().map(|job| cursor::jobs(job.starts_at, job.id))
    } else {
        None
    };
    let listed: Vec<_> = found.iter().map(views::job).collect();
    Ok(json_response(
        200,
        &json!({
            "jobs": listed,
            "nextCursor": next_cursor,
            "from": from.to_string(),
            "to": to.to_string(),
            "timeZone": zone.name(),
        }),
    ))
}

/// `GET /jobs/{jobId}`: the job, its mails and its history (oldest first).
async fn one_job(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(deps, request)?;
    let job_id = job_id(request)?;
    let mut conn = deps.connection().await?;
    let owner = caller.owner(&mut conn).await?;
    let job = jobs::find_for_tenant(&mut conn, owner.tenant_id, job_id)
        .await?
        .ok_or_else(ApiError::job_not_found)?;
    let shared: &AsyncPgConnection = &conn;
    let (history, mails) = futures_util::future::try_join(
        events::for_job(shared, owner.tenant_id, job.id),
        outbox::for_job_on(shared, owner.tenant_id, job.id),
    )
    .await?;
    Ok(json_response(
        200,
        &json!({
            "job": views::job(&job),
            "emails": views::emails(&mails, job.zone),
            "history": views::history(&history, job.zone),
        }),
    ))
}

/// `GET /contacts?q&limit&cursor`.
async fn list_contacts(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(deps, request)?;
    let mut errors = Vec::new();
    let search = query_text(request, "q")
        .map(str::trim)
        .filter(|q| !q.is_empty());
    if search
        .is_some_and(|q| q.chars().count() > MAX_SEARCH_CHARS || q.chars().any(char::is_control))
    {
        errors.push(FieldError::new(
            "q",
            format!("must be at most {MAX_SEARCH_CHARS} characters of text"),
        ));
    }
    let limit = query_limit(request, DEFAULT_LIMIT, MAX_LIMIT)
        .map_err(|e| errors.push(e))
        .unwrap_or(DEFAULT_LIMIT);
    let after = match query_text(request, "cursor") {
        None => None,
        Some(raw) => cursor::parse_contacts(raw).or_else(|| {
            errors.push(FieldError::new(
                "cursor",
                "is not a cursor this route gave out",
            ));
            None
        }),
    };
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(&errors));
    }
    let (mut conn, tenant) = owner_tenant(deps, caller).await?;
    let mut found = contacts::list(&mut conn, tenant.id, search, after, limit).await?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = if found.len() > limit {
        found.truncate(limit);
        found.last().map(|contact| cursor::contacts(contact.id))
    } else {
        None
    };
    let listed: Vec<_> = found
        .iter()
        .map(|contact| views::contact(contact, tenant.zone))
        .collect();
    Ok(json_response(
        200,
        &json!({ "contacts": listed, "nextCursor": next_cursor }),
    ))
}

/// `GET /contacts/{contactId}`: the contact and every job of theirs, in start order.
async fn one_contact(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(deps, request)?;
    let contact_id = path_uuid(request, "contactId", "contacts");
    let (mut conn, tenant) = owner_tenant(deps, caller).await?;
    let contact_id = contact_id.ok_or_else(|| ApiError::not_found("contact"))?;
    let contact = contacts::find(&mut conn, tenant.id, contact_id)
        .await?
        .ok_or_else(|| ApiError::not_found("contact"))?;
    let held = jobs::for_contact(&mut conn, tenant.id, contact.id, tenant.zone).await?;
    let listed: Vec<_> = held.iter().map(views::job).collect();
    Ok(json_response(
        200,
        &json!({ "contact": views::contact(&contact, tenant.zone), "jobs": listed }),
    ))
}
