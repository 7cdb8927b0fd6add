//! `GET /services/{serviceId}/availability?from&to`: the bookable slots of a service.

use booking_domain::{Calendar, FieldError};
use booking_edge::input::{path_uuid, query_date};
use booking_edge::{ApiError, json_response, respond, views};
use booking_repository::catalog;
use chrono::Days;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::Deps;

/// Longest range one request may ask for, in days (inclusive).
pub const MAX_RANGE_DAYS: u64 = 62;
/// Range when `to` is omitted: `from` and the six days after it.
pub const DEFAULT_RANGE_DAYS: u64 = 7;

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    respond(availability(deps, &request).await)
}

async fn availability(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let service_id =
        path_uuid(request, "serviceId", "services").ok_or_else(ApiError::service_not_found)?;
    let (from, to) = match (query_date(request, "from"), query_date(request, "to")) {
        (Ok(from), Ok(to)) => (from, to),
        (from, to) => {
            let errors: Vec<FieldError> = [from.err(), to.err()].into_iter().flatten().collect();
            return Err(ApiError::invalid_fields(&errors));
        }
    };
    let now = deps.now();
    let mut conn = deps.connection().await?;
    let (tenant, service) = catalog::bookable_service(&mut conn, service_id)
        .await?
        .ok_or_else(ApiError::service_not_found)?;
    let from = from.unwrap_or_else(|| now.with_timezone(&tenant.zone).date_naive());
    let to = match to {
        Some(to) => to,
        None => from
            .checked_add_days(Days::new(DEFAULT_RANGE_DAYS - 1))
            .ok_or_else(|| {
                ApiError::invalid_fields(&[FieldError::new("from", "is out of range")])
            })?,
    };
    if to < from {
        return Err(ApiError::invalid_fields(&[FieldError::new(
            "to",
            "must not be before `from`",
        )]));
    }
    if (to - from).num_days() >= MAX_RANGE_DAYS as i64 {
        return Err(ApiError::invalid_fields(&[FieldError::new(
            "to",
            format!("the range may span at most {MAX_RANGE_DAYS} days"),
        )]));
    }
    let (schedule, occupied) = catalog::calendar_inputs(
        &mut conn,
        tenant.id,
        (from, to),
        Calendar::jobs_window(from, to),
    )
    .await?;
    drop(conn);
    let calendar = Calendar::new(
        tenant.zone,
        tenant.settings,
        &schedule,
        service.duration_minutes,
        &occupied,
    );
    let slots: Vec<_> = calendar
        .slots(from, to, now)
        .iter()
        .map(views::slot)
        .collect();
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
