//! `GET /services/{serviceId}/availability?from&to[&staffId]`: the bookable slots of a service
//! (with the people free at each, for a service performed by staff).

use booking_domain::FieldError;
use booking_domain::{StaffChoice, StaffId, StaffRefusal};
use booking_edge::input::{path_uuid, query_date, query_uuid};
use booking_edge::{ApiError, json_response, respond, views};
use booking_repository::AsyncPgConnection;
use booking_repository::catalog::{self, ServiceCalendar};
use booking_repository::rate_limit::{self, RateLimit};
use booking_repository::staff;
use chrono::{DateTime, Days, NaiveDate, Utc};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use uuid::Uuid;

use crate::Deps;

/// Longest range one request may ask for, in days (inclusive).
pub const MAX_RANGE_DAYS: u64 = 62;
/// Range when `to` is omitted: `from` and the six days after it.
pub const DEFAULT_RANGE_DAYS: u64 = 7;

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    respond(availability(deps, &request).await)
}

/// What a client asked for: a service and perhaps the first and last local dates.
struct Query {
    service_id: Uuid,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    /// Only this person's starts.
    staff_id: Option<Uuid>,
}

fn parse(request: &Request) -> Result<Query, ApiError> {
    let service_id =
        path_uuid(request, "serviceId", "services").ok_or_else(ApiError::service_not_found)?;
    match (
        query_date(request, "from"),
        query_date(request, "to"),
        query_uuid(request, "staffId"),
    ) {
        (Ok(from), Ok(to), Ok(staff_id)) => Ok(Query {
            service_id,
            from,
            to,
            staff_id,
        }),
        (from, to, staff_id) => {
            let errors: Vec<FieldError> = [from.err(), to.err(), staff_id.err()]
                .into_iter()
                .flatten()
                .collect();
            Err(ApiError::invalid_fields(&errors))
        }
    }
}

async fn availability(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let query = parse(request)?;
    let bucket = deps.client_bucket("availability", request);
    let limit = RateLimit::per_minute(&bucket, deps.config.availability_rate_limit_per_minute);
    let now = deps.now();
    let conn = deps.connection().await?;
    let (from, to, (inputs, staffed)) = read_range(&conn, &query, limit, now).await?;
    let slots: Vec<_> = if staffed || query.staff_id.is_some() {
        // A second round trip, for staffed services only: the roster and its people's jobs.
        let staffed = staff::staffed_listing(&conn, &inputs, (from, to)).await?;
        drop(conn);
        let choice = query
            .staff_id
            .map_or(StaffChoice::Any, |id| StaffChoice::Named(StaffId::new(id)));
        staffed
            .calendar()
            .slots(from, to, now, choice)
            .map_err(|refusal| match refusal {
                StaffRefusal::StaffNotQualified => ApiError::staff_not_qualified(),
                _ => ApiError::staff_not_found(),
            })?
            .iter()
            .map(views::staffed_slot)
            .collect()
    } else {
        drop(conn);
        inputs
            .calendar()
            .slots(from, to, now)
            .iter()
            .map(views::slot)
            .collect()
    };
    let (tenant, service) = (&inputs.tenant, &inputs.service);
    Ok(json_response(
        200,
        &json!({
            "serviceId": service.id,
            "serviceName": service.name,
            "timeZone": tenant.zone.name(),
            "durationMinutes": service.duration_minutes,
            "from": from.to_string(),
            "to": to.to_string(),
            "slots": slots,
        }),
    ))
}

/// The dates asked for (defaults filled in, the range checked) and the service's calendar for
/// them. One round trip whenever the dates are known before the tenant's zone is: the service
/// and its calendar are read in one pipeline. Without `from`, "today" depends on the zone, so
/// the days around today's UTC date are read and the week is cut from them.
async fn read_range(
    conn: &AsyncPgConnection,
    query: &Query,
    limit: Option<RateLimit<'_>>,
    now: DateTime<Utc>,
) -> Result<(NaiveDate, NaiveDate, (ServiceCalendar, bool)), ApiError> {
    let service_id = query.service_id;
    match (query.from, query.to) {
        (Some(from), to) => {
            let to = match to {
                Some(to) => to,
                None => default_to(from)?,
            };
            check_range(from, to)?;
            Ok((
                from,
                to,
                read_inputs(conn, service_id, (from, to), limit, now).await?,
            ))
        }
        (None, None) => {
            let (before, after) = catalog::dates_around(now);
            let until = default_to(after)?;
            let inputs = read_inputs(conn, service_id, (before, until), limit, now).await?;
            let from = now.with_timezone(&inputs.0.tenant.zone).date_naive();
            Ok((from, default_to(from)?, inputs))
        }
        (None, Some(to)) => {
            let (tenant, _) = catalog::bookable_service_on(conn, service_id)
                .await?
                .ok_or_else(ApiError::service_not_found)?;
            let from = now.with_timezone(&tenant.zone).date_naive();
            check_range(from, to)?;
            Ok((
                from,
                to,
                read_inputs(conn, service_id, (from, to), limit, now).await?,
            ))
        }
    }
}

/// The service and its calendar for `dates` and whether staff perform it, with the client's
/// rate-limit hit pipelined beside them (no round trip of its own).
async fn read_inputs(
    conn: &AsyncPgConnection,
    service_id: Uuid,
    dates: (NaiveDate, NaiveDate),
    limit: Option<RateLimit<'_>>,
    now: DateTime<Utc>,
) -> Result<(ServiceCalendar, bool), ApiError> {
    let read = futures_util::future::try_join(
        catalog::service_with_calendar(conn, service_id, dates),
        staff::performed_by_staff(conn, service_id),
    );
    match rate_limit::beside(conn, limit, now, read).await? {
        (_, Some(retry_after)) => Err(ApiError::rate_limited(retry_after)),
        ((inputs, staffed), None) => Ok((inputs.ok_or_else(ApiError::service_not_found)?, staffed)),
    }
}

pub(crate) fn default_to(from: NaiveDate) -> Result<NaiveDate, ApiError> {
    from.checked_add_days(Days::new(DEFAULT_RANGE_DAYS - 1))
        .ok_or_else(|| ApiError::invalid_fields(&[FieldError::new("from", "is out of range")]))
}

pub(crate) fn check_range(from: NaiveDate, to: NaiveDate) -> Result<(), ApiError> {
    check_span(from, to, MAX_RANGE_DAYS)
}

/// [`check_range`] with another longest span (`GET /stats` takes a year).
pub(crate) fn check_span(from: NaiveDate, to: NaiveDate, max_days: u64) -> Result<(), ApiError> {
    if to < from {
        return Err(ApiError::invalid_fields(&[FieldError::new(
            "to",
            "must not be before `from`",
        )]));
    }
    if (to - from).num_days() >= max_days as i64 {
        return Err(ApiError::invalid_fields(&[FieldError::new(
            "to",
            format!("the range may span at most {max_days} days"),
        )]));
    }
    Ok(())
}
