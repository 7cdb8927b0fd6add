//! Running the business through the API (owner): `GET`/`PATCH /tenant`, `PUT
//! /tenant/working-hours`, `PUT`/`DELETE /tenant/date-overrides/{date}`, `GET /tenant/changes`,
//! `GET`/`POST /services`, `PATCH /services/{serviceId}`, `GET`/`POST /staff`, `PATCH
//! /staff/{staffId}`, `PUT /staff/{staffId}/working-hours`, `PUT`/`DELETE
//! /staff/{staffId}/date-overrides/{date}`. One Lambda (`business-setup`) serves them: the
//! dashboard's settings pages, one flow, rarely called.
//!
//! Bodies are read by [`booking_edge::setup`], the tenant file's own parser; each change runs
//! under the tenant guard ([`booking_repository::setup`]) and answers the changed object with
//! `outsideHours` (and `wallTimeChanged`). Availability has no cache: its next request reads
//! what the change committed.

use booking_edge::auth::Owner;

use booking_edge::input::{json_body, path_uuid, query_limit};
use booking_edge::setup::{self, ServicePatch, StaffPatch, TenantPatch};
use booking_edge::{ApiError, json_response, respond, views};
use booking_repository::PooledConnection;
use booking_repository::catalog::{self, Tenant};
use booking_repository::setup::{self as changes, ServiceEdit, SetupChange, StaffEdit, TenantEdit};
use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Deps;
use crate::owner_routes::caller;

/// The audit list's page when `limit` is not given, and the most one may ask for.
pub const DEFAULT_CHANGES: u32 = 50;
pub const MAX_CHANGES: u32 = 500;

/// What a service body may say beyond the service itself: who performs it.
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
    Staff,
    StaffMember(&'p str),
    StaffHours(&'p str),
    StaffOverride(&'p str, &'p str),
}

fn route(path: &str) -> Option<Route<'_>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let at = segments
        .iter()
        .rposition(|s| *s == "tenant" || *s == "services" || *s == "staff")?;
    match (segments[at], &segments[at + 1..]) {
        ("tenant", []) => Some(Route::Tenant),
        ("tenant", ["working-hours"]) => Some(Route::WorkingHours),
        ("tenant", ["changes"]) => Some(Route::Changes),
        ("tenant", ["date-overrides", date]) => Some(Route::DateOverride(date)),
        ("services", []) => Some(Route::Services),
        ("services", [_]) => Some(Route::Service),
        ("staff", []) => Some(Route::Staff),
        ("staff", [id]) => Some(Route::StaffMember(id)),
        ("staff", [id, "working-hours"]) => Some(Route::StaffHours(id)),
        ("staff", [id, "date-overrides", date]) => Some(Route::StaffOverride(id, date)),
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
        (Some(Route::Staff), Method::GET) => list_staff(deps, &request).await,
        (Some(Route::Staff), Method::POST) => create_staff(deps, &request).await,
        (Some(Route::StaffMember(id)), Method::PATCH) => patch_staff(deps, &request, id).await,
        (Some(Route::StaffHours(id)), Method::PUT) => put_staff_hours(deps, &request, id).await,
        (Some(Route::StaffOverride(id, date)), Method::PUT) => {
            staff_date_override(deps, &request, id, date, true).await
        }
        (Some(Route::StaffOverride(id, date)), Method::DELETE) => {
            staff_date_override(deps, &request, id, date, false).await
        }
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
    let (date, intervals) = override_of(raw_date, body.as_ref(), now, tenant.zone)?;
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

/// An override's date (within two years of the tenant's today) and, for a `PUT`, its
/// intervals; every problem of both at once.
fn override_of(
    raw_date: &str,
    body: Option<&Value>,
    now: chrono::DateTime<chrono::Utc>,
    zone: chrono_tz::Tz,
) -> Result<
    (
        chrono::NaiveDate,
        Option<Vec<booking_domain::WorkingInterval>>,
    ),
    ApiError,
> {
    let today = now.with_timezone(&zone).date_naive();
    let date = setup::override_date("date", raw_date, today);
    let intervals = body
        .map(|body| setup::intervals("intervals", raw_date, body))
        .transpose();
    match (date, intervals) {
        (Ok(date), Ok(intervals)) => Ok((date, intervals)),
        (date, intervals) => {
            let errors: Vec<_> = [date.err(), intervals.err()]
                .into_iter()
                .flatten()
                .collect();
            Err(invalid(errors))
        }
    }
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
    let found = changes::read(&mut conn, owner.tenant_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("The token's tenant does not exist."))?;
    let listed: Vec<Value> = found
        .services
        .iter()
        .map(|service| views::service(service, &found.staff_of_service(service.id)))
        .collect();
    Ok(json_response(200, &json!({ "services": listed })))
}

/// A list of ids named `field` (`staffIds`, `serviceIds`), each a UUID. An id that is not one
/// is a bad value (400); one that names nobody of the tenant is the repository's 404.
fn ids(field: &'static str, raw: Option<Vec<String>>) -> Result<Option<Vec<Uuid>>, ApiError> {
    raw.map(|list| {
        list.iter()
            .map(|id| {
                Uuid::parse_str(id).map_err(|_| {
                    ApiError::invalid_fields(&[booking_domain::FieldError::new(
                        field,
                        format!("`{id}` is not an id"),
                    )])
                })
            })
            .collect()
    })
    .transpose()
}

/// `staffIds` of a service body: absent or `null` leaves them, else a list of ids.
fn staff_ids(body: &Value) -> Result<Option<Vec<Uuid>>, ApiError> {
    match body.get("staffIds") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(list)) => {
            let raw: Option<Vec<String>> =
                list.iter().map(|v| v.as_str().map(str::to_owned)).collect();
            match raw {
                Some(raw) => ids("staffIds", Some(raw)),
                None => Err(not_a_list("staffIds")),
            }
        }
        Some(_) => Err(not_a_list("staffIds")),
    }
}

fn not_a_list(field: &'static str) -> ApiError {
    ApiError::invalid_fields(&[booking_domain::FieldError::new(
        field,
        format!("{field} must be a list of ids"),
    )])
}

/// `POST /services`: `{"slug", "name", "durationMinutes", "active"?, "staffIds"?}`.
async fn create_service(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let body = json_body(request)?;
    let definition = setup::service(&body, STAFF_KEYS).map_err(invalid)?;
    let staff_ids = staff_ids(&body)?;
    let (mut conn, owner, _) = owner_and_tenant(deps, request).await?;
    let actor = owner.actor();
    let change = SetupChange {
        tenant_id: owner.tenant_id,
        actor: &actor,
        now: deps.now(),
        detail: &body,
    };
    let changed =
        changes::create_service(&mut conn, change, &definition, staff_ids.as_deref()).await?;
    tracing::info!(tenant_id = %owner.tenant_id, service_id = %changed.value.service.id, "service created");
    Ok(json_response(
        201,
        &views::setup_change("service", &changed, service_view),
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
    let staff_ids = staff_ids(&body)?;
    let (mut conn, owner, _) = owner_and_tenant(deps, request).await?;
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
        staff_ids,
    };
    let changed = changes::edit_service(&mut conn, change, service_id, &edit).await?;
    tracing::info!(tenant_id = %owner.tenant_id, %service_id, "service changed");
    Ok(json_response(
        200,
        &views::setup_change("service", &changed, service_view),
    ))
}

fn service_view(setup: &changes::ServiceSetup) -> Value {
    views::service(&setup.service, &setup.staff_ids)
}

/// The staff member a path names: a path segment that is no id names nobody (404, as another
/// tenant's).
fn staff_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::staff_not_found())
}

/// `GET /staff`: every staff member, inactive ones too.
async fn list_staff(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let (mut conn, owner, _) = owner_and_tenant(deps, request).await?;
    let listed = changes::staff_of(&mut conn, owner.tenant_id).await?;
    let listed: Vec<Value> = listed.iter().map(views::staff_member).collect();
    Ok(json_response(200, &json!({ "staff": listed })))
}

/// `POST /staff`: `{"slug", "name", "email"?, "capacity"?, "serviceIds"?, "workingHours"?,
/// "dateOverrides"?}` → 201 `{"staff", "outsideHours"}`.
async fn create_staff(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let body = json_body(request)?;
    let (mut conn, owner, tenant) = owner_and_tenant(deps, request).await?;
    let now = deps.now();
    let today = now.with_timezone(&tenant.zone).date_naive();
    let person = setup::staff_member(&body, setup::STAFF_ROUTE_KEYS, today).map_err(invalid)?;
    let service_ids = ids("serviceIds", Some(person.services.clone()))?.unwrap_or_default();
    let actor = owner.actor();
    let change = SetupChange {
        tenant_id: owner.tenant_id,
        actor: &actor,
        now,
        detail: &body,
    };
    let changed = changes::create_staff(&mut conn, change, &person, &service_ids).await?;
    tracing::info!(tenant_id = %owner.tenant_id, staff_id = %changed.value.id, "staff member created");
    Ok(json_response(
        201,
        &views::setup_change("staff", &changed, views::staff_member),
    ))
}

/// `PATCH /staff/{staffId}`: `name`, `email` (`null` clears it), `capacity`, `active`,
/// `serviceIds` (replaced).
async fn patch_staff(
    deps: &Deps,
    request: &Request,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let body = json_body(request)?;
    let StaffPatch {
        name,
        email,
        capacity,
        active,
        service_ids,
    } = setup::staff_patch(&body).map_err(invalid)?;
    let service_ids = ids("serviceIds", service_ids)?;
    let id = staff_id(raw_id)?;
    let (mut conn, owner, _) = owner_and_tenant(deps, request).await?;
    let actor = owner.actor();
    let detail = json!({ "staffId": id, "changed": body });
    let change = SetupChange {
        tenant_id: owner.tenant_id,
        actor: &actor,
        now: deps.now(),
        detail: &detail,
    };
    let edit = StaffEdit {
        name,
        email,
        capacity,
        active,
        service_ids,
    };
    let changed = changes::edit_staff(&mut conn, change, id, &edit).await?;
    tracing::info!(tenant_id = %owner.tenant_id, staff_id = %id, "staff member changed");
    Ok(json_response(
        200,
        &views::setup_change("staff", &changed, views::staff_member),
    ))
}

/// `PUT /staff/{staffId}/working-hours`: their own week (a day left out: off), or `null`: the
/// tenant's hours again.
async fn put_staff_hours(
    deps: &Deps,
    request: &Request,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    let body = json_body(request)?;
    let week = match &body {
        Value::Null => None,
        body => {
            let days = setup::week("workingHours", body).map_err(invalid)?;
            Some(setup::schedule_of_week(&days).map_err(|e| invalid(vec![e]))?)
        }
    };
    let id = staff_id(raw_id)?;
    let (mut conn, owner, _) = owner_and_tenant(deps, request).await?;
    let actor = owner.actor();
    let detail = json!({
        "staffId": id,
        "workingHours": week.as_ref().map(setup::written_week),
    });
    let change = SetupChange {
        tenant_id: owner.tenant_id,
        actor: &actor,
        now: deps.now(),
        detail: &detail,
    };
    let changed = changes::replace_staff_hours(&mut conn, change, id, week.as_ref()).await?;
    tracing::info!(tenant_id = %owner.tenant_id, staff_id = %id, "staff hours replaced");
    Ok(json_response(
        200,
        &views::setup_change("staff", &changed, views::staff_member),
    ))
}

/// `PUT /staff/{staffId}/date-overrides/{date}` (body: that date's intervals, `[]`: off) and
/// `DELETE` (the date follows their week again).
async fn staff_date_override(
    deps: &Deps,
    request: &Request,
    raw_id: &str,
    raw_date: &str,
    put: bool,
) -> Result<Response<Body>, ApiError> {
    let body = if put { Some(json_body(request)?) } else { None };
    let (mut conn, owner, tenant) = owner_and_tenant(deps, request).await?;
    let now = deps.now();
    let (date, intervals) = override_of(raw_date, body.as_ref(), now, tenant.zone)?;
    let id = staff_id(raw_id)?;
    let actor = owner.actor();
    let detail = json!({
        "staffId": id,
        "date": date.to_string(),
        "intervals": intervals.as_deref().map(booking_domain::setup::written),
    });
    let change = SetupChange {
        tenant_id: owner.tenant_id,
        actor: &actor,
        now,
        detail: &detail,
    };
    let changed =
        changes::set_staff_date_override(&mut conn, change, id, date, intervals.as_deref()).await?;
    tracing::info!(tenant_id = %owner.tenant_id, staff_id = %id, %date, put, "staff date override changed");
    Ok(json_response(
        200,
        &views::setup_change("staff", &changed, views::staff_member),
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
        assert_eq!(route("/prod/staff"), Some(Route::Staff));
        assert_eq!(route("/staff/abc"), Some(Route::StaffMember("abc")));
        assert_eq!(
            route("/staff/abc/working-hours"),
            Some(Route::StaffHours("abc"))
        );
        assert_eq!(
            route("/staff/abc/date-overrides/2026-12-24"),
            Some(Route::StaffOverride("abc", "2026-12-24"))
        );
        assert_eq!(route("/staff/abc/nothing"), None);
    }
}
