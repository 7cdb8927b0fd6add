//! Running the business through the API (owner): `GET`/`PATCH /tenant`, `PUT
//! /tenant/working-hours`, `PUT`/`DELETE /tenant/date-overrides/{date}`, `GET /tenant/changes`,
//! `GET`/`POST /services`, `PATCH /services/{serviceId}`. One Lambda (`business-setup`) serves
//! them: the dashboard's settings pages, one flow, rarely called.
//!
//! Bodies are read by [`booking_edge::setup`], the tenant file's own parser; each change runs
//! under the tenant guard ([`booking_repository::setup`]) and answers the changed object with
//! `outsideHours` (and `wallTimeChanged`). Availability has no cache: its next request reads
//! what the change committed.

use booking_edge::auth::Owner;

use booking_edge::input::{json_body, path_uuid, query_limit};
use booking_edge::setup::{self, ServicePatch, TenantPatch};
use booking_edge::{ApiError, json_response, respond, views};
use booking_repository::PooledConnection;
use booking_repository::catalog::{self, Tenant};
use booking_repository::setup::{self as changes, ServiceEdit, SetupChange, TenantEdit};
use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};

use crate::Deps;
use crate::owner_routes::caller;

/// The audit list's page when `limit` is not given, and the most one may ask for.
pub const DEFAULT_CHANGES: u32 = 50;
pub const MAX_CHANGES: u32 = 500;

/// `staffIds` is read by the staff routes (branch `staff`); until then a service has no staff.
const STAFF_KEYS: &[&str] = &["staffIds"];

/// The route a request is, from its method and path (behind any stage prefix).
#[derive(Debug, PartialEq, Eq)]
enum Route<'p> {
    Tenant,
    WorkingHours,
    DateOverride(&'p str),
    Changes,
    Services,
    Service,
}

fn route(path: &str) -> Option<Route<'_>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let at = segments
        .iter()
        .rposition(|s| *s == "tenant" || *s == "services")?;
    match (segments[at], &segments[at + 1..]) {
        ("tenant", []) => Some(Route::Tenant),
        ("tenant", ["working-hours"]) => Some(Route::WorkingHours),
        ("tenant", ["changes"]) => Some(Route::Changes),
        ("tenant", ["date-overrides", date]) => Some(Route::DateOverride(date)),
        ("services", []) => Some(Route::Services),
        ("services", [_]) => Some(Route::Service),
        _ => None,
    }
}

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    let path = request.raw_http_path();
    let path = if path.is_empty() {
        request.uri().path().to_owned()
    } else {
        path.to_owned()
    };
    let method = request.method().clone();
    // Authentication comes first, before the body is read or the database asked.
    if let Err(error) = caller(deps, &request) {
        return respond(Err(error));
    }
    respond(match (route(&path), method) {
        (Some(Route::Tenant), Method::GET) => get_tenant(deps, &request).await,
        (Some(Route::Tenant), Method::PATCH) => patch_tenant(deps, &request).await,
        (Some(Route::WorkingHours), Method::PUT) => put_working_hours(deps, &request).await,
        (Some(Route::DateOverride(date)), Method::PUT) => {
            date_override(deps, &request, date, true).await
        }
        (Some(Route::DateOverride(date)), Method::DELETE) => {
            date_override(deps, &request, date, false).await
        }
        (Some(Route::Changes), Method::GET) => list_changes(deps, &request).await,
        (Some(Route::Services), Method::GET) => list_services(deps, &request).await,
        (Some(Route::Services), Method::POST) => create_service(deps, &request).await,
        (Some(Route::Service), Method::PATCH) => patch_service(deps, &request).await,
        _ => Err(ApiError::not_found("route")),
    })
}

/// The signed-in owner and their tenant, on the request's connection.
async fn owner_and_tenant(
    deps: &Deps,
    request: &Request,
) -> Result<(PooledConnection, Owner, Tenant), ApiError> {
    let caller = caller(deps, request)?;
    let mut conn = deps.connection().await?;
    let owner = caller.owner(&mut conn).await?;
    let tenant = catalog::tenant_by_id(&mut conn, owner.tenant_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("The token's tenant does not exist."))?;
    Ok((conn, owner, tenant))
}

fn invalid(errors: Vec<booking_domain::FieldError>) -> ApiError {
    ApiError::invalid_fields(&errors)
}

/// `GET /tenant`: the tenant as its file, with ids.
async fn get_tenant(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let (mut conn, owner, _) = owner_and_tenant(deps, request).await?;
    let found = changes::read(&mut conn, owner.tenant_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("The token's tenant does not exist."))?;
    Ok(json_response(
        200,
        &json!({ "tenant": views::tenant_setup(&found) }),
    ))
}

/// `PATCH /tenant`: any of `name`, `notificationEmail`, `timeZone`, `settings` (merged key by
/// key over the tenant's own).
async fn patch_tenant(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let body = json_body(request)?;
    let TenantPatch {
        name,
        notification_email,
        zone,
        settings,
    } = setup::tenant_patch(&body).map_err(invalid)?;
    let (mut conn, owner, _) = owner_and_tenant(deps, request).await?;
    let edit = TenantEdit {
        name,
        notification_email,
        zone,
        settings,
    };
    let actor = owner.actor();
    let change = SetupChange {
        tenant_id: owner.tenant_id,
        actor: &actor,
        now: deps.now(),
        detail: &body,
    };
    let changed = changes::edit_tenant(&mut conn, change, &edit).await?;
    tracing::info!(tenant_id = %owner.tenant_id, "tenant changed");
    Ok(json_response(
        200,
        &views::setup_change("tenant", &changed, views::tenant_setup),
    ))
}

/// `PUT /tenant/working-hours`: the week replaced (a day left out is closed).
async fn put_working_hours(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let body = json_body(request)?;
    let week = setup::week("workingHours", &body).map_err(invalid)?;
    let week = setup::schedule_of_week(&week).map_err(|e| invalid(vec![e]))?;
    let (mut conn, owner, _) = owner_and_tenant(deps, request).await?;
    let actor = owner.actor();
    let detail = json!({ "workingHours": setup::written_week(&week) });
    let change = SetupChange {
        tenant_id: owner.tenant_id,
        actor: &actor,
        now: deps.now(),
        detail: &detail,
    };
    let changed = changes::replace_working_hours(&mut conn, change, &week).await?;
    tracing::info!(tenant_id = %owner.tenant_id, "working hours replaced");
    Ok(json_response(
        200,
        &views::setup_change("tenant", &changed, views::tenant_setup),
    ))
}

/// `PUT /tenant/date-overrides/{date}` (body: the date's intervals, `[]` closes it) and
/// `DELETE` (the date follows its weekday again).
async fn date_override(
    deps: &Deps,
    request: &Request,
    raw_date: &str,
    put: bool,
) -> Result<Response<Body>, ApiError> {
    let body = if put { Some(json_body(request)?) } else { None };
    let (mut conn, owner, tenant) = owner_and_tenant(deps, request).await?;
    let now = deps.now();
    let today = now.with_timezone(&tenant.zone).date_naive();
    let date = setup::override_date("date", raw_date, today);
    let intervals = body
        .as_ref()
        .map(|body| setup::intervals("intervals", raw_date, body))
        .transpose();
    let (date, intervals) = match (date, intervals) {
        (Ok(date), Ok(intervals)) => (date, intervals),
        (date, intervals) => {
            let errors = [date.err(), intervals.err()]
                .into_iter()
                .flatten()
                .collect();
            return Err(invalid(errors));
        }
    };
    let actor = owner.actor();
    let detail = json!({
        "date": date.to_string(),
        "intervals": intervals.as_deref().map(booking_domain::setup::written),
    });
    let change = SetupChange {
        tenant_id: owner.tenant_id,
        actor: &actor,
        now,
        detail: &detail,
    };
    let changed = changes::set_date_override(&mut conn, change, date, intervals.as_deref()).await?;
    tracing::info!(tenant_id = %owner.tenant_id, %date, put, "date override changed");
    Ok(json_response(
        200,
        &views::setup_change("tenant", &changed, views::tenant_setup),
    ))
}

/// `GET /tenant/changes?limit=`: the audit list, newest first.
async fn list_changes(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let limit = query_limit(request, DEFAULT_CHANGES, MAX_CHANGES)
        .map_err(|e| ApiError::invalid_fields(&[e]))?;
    let (mut conn, owner, tenant) = owner_and_tenant(deps, request).await?;
    let listed = changes::changes(&mut conn, owner.tenant_id, limit).await?;
    let listed: Vec<Value> = listed
        .iter()
        .map(|change| views::tenant_change(change, tenant.zone))
        .collect();
    Ok(json_response(200, &json!({ "changes": listed })))
}

/// `GET /services`: every service, inactive ones too.
async fn list_services(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let (mut conn, owner, _) = owner_and_tenant(deps, request).await?;
    let listed = catalog::services_of(&mut conn, owner.tenant_id).await?;
    let listed: Vec<Value> = listed.iter().map(views::service).collect();
    Ok(json_response(200, &json!({ "services": listed })))
}

/// Until the staff routes land, a service performed by staff cannot be named: any staff id is
/// unknown (404 `staff_not_found`, as another tenant's).
fn refuse_staff(body: &Value) -> Result<(), ApiError> {
    match body.get("staffIds") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(ids)) if ids.is_empty() => Ok(()),
        Some(Value::Array(_)) => Err(ApiError::new(
            404,
            "staff_not_found",
            "Staff not found",
            "No such staff member.",
        )),
        Some(_) => Err(ApiError::invalid_fields(&[
            booking_domain::FieldError::new("staffIds", "staffIds must be a list of staff ids"),
        ])),
    }
}

/// `POST /services`: `{"slug", "name", "durationMinutes", "active"?, "staffIds"?}`.
async fn create_service(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let body = json_body(request)?;
    let definition = setup::service(&body, STAFF_KEYS).map_err(invalid)?;
    refuse_staff(&body)?;
    let (mut conn, owner, _) = owner_and_tenant(deps, request).await?;
    let actor = owner.actor();
    let change = SetupChange {
        tenant_id: owner.tenant_id,
        actor: &actor,
        now: deps.now(),
        detail: &body,
    };
    let changed = changes::create_service(&mut conn, change, &definition).await?;
    tracing::info!(tenant_id = %owner.tenant_id, service_id = %changed.value.id, "service created");
    Ok(json_response(
        201,
        &views::setup_change("service", &changed, views::service),
    ))
}

/// `PATCH /services/{serviceId}`: `name`, `durationMinutes`, `active` (`staffIds`). Another
/// tenant's service is 404, as an unknown one.
async fn patch_service(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let service_id = path_uuid(request, "serviceId", "services");
    let body = json_body(request)?;
    let ServicePatch {
        name,
        duration_minutes,
        active,
    } = setup::service_patch(&body, STAFF_KEYS).map_err(invalid)?;
    let service_id = service_id.ok_or_else(ApiError::service_not_found)?;
    let (mut conn, owner, _) = owner_and_tenant(deps, request).await?;
    refuse_staff(&body)?;
    let actor = owner.actor();
    let detail = json!({ "serviceId": service_id, "changed": body });
    let change = SetupChange {
        tenant_id: owner.tenant_id,
        actor: &actor,
        now: deps.now(),
        detail: &detail,
    };
    let edit = ServiceEdit {
        name,
        duration_minutes,
        active,
    };
    let changed = changes::edit_service(&mut conn, change, service_id, &edit).await?;
    tracing::info!(tenant_id = %owner.tenant_id, %service_id, "service changed");
    Ok(json_response(
        200,
        &views::setup_change("service", &changed, views::service),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_found_behind_a_stage_prefix() {
        assert_eq!(route("/prod/tenant"), Some(Route::Tenant));
        assert_eq!(route("/tenant/working-hours"), Some(Route::WorkingHours));
        assert_eq!(
            route("/tenant/date-overrides/2026-12-24"),
            Some(Route::DateOverride("2026-12-24"))
        );
        assert_eq!(route("/tenant/changes"), Some(Route::Changes));
        assert_eq!(route("/services"), Some(Route::Services));
        assert_eq!(route("/services/abc"), Some(Route::Service));
        assert_eq!(route("/tenant/nothing"), None);
    }
}
