//! `POST /services/{serviceId}/book`: a client books a slot.

use booking_domain::{ClientEmail, ClientName, Notes, Phone, StaffId};
use booking_edge::input::{body_bytes, idempotency_key, instant, json_object, path_uuid, uuid};
use booking_edge::{ApiError, json_response, respond, views};
use booking_repository::changes::{self, NewBooking};
use booking_repository::rate_limit::RateLimit;
use booking_repository::{PooledConnection, jobs};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use uuid::Uuid;

use crate::Deps;
use crate::idempotent::{self, Failed, Key};

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    respond(book(deps, &request).await)
}

/// The booking and the staff member it names, if any.
fn parse(request: &Request) -> Result<(NewBooking, Option<StaffId>), ApiError> {
    let mut fields = json_object(request)?;
    let start = fields.required("start", instant("start"));
    let name = fields.required("name", ClientName::parse);
    let email = fields.required("email", ClientEmail::parse);
    let phone = fields.optional("phone", Phone::parse);
    let notes = fields.optional("notes", Notes::parse);
    let staff_id = fields.optional("staffId", uuid("staffId"));
    fields.finish()?;
    match (start, name, email) {
        (Some(start), Some(name), Some(email)) => Ok((
            NewBooking {
                start,
                name,
                email,
                phone,
                notes,
            },
            staff_id.map(StaffId::new),
        )),
        _ => Err(ApiError::invalid_request("The request is invalid.")),
    }
}

async fn book(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let service_id =
        path_uuid(request, "serviceId", "services").ok_or_else(ApiError::service_not_found)?;
    // Everything is parsed before anything is written: bad input changes nothing.
    let (booking, staff_id) = parse(request)?;
    let key = idempotency_key(request)?;
    let key = match &key {
        Some(key) => Some(Key {
            scope: key_scope(service_id),
            key,
            body: body_bytes(request)?,
        }),
        None => None,
    };
    let bucket = deps.client_bucket("book", request);
    // Counted inside the booking's own transaction (no round trip of its own).
    let rate_limit = RateLimit::per_minute(&bucket, deps.config.booking_rate_limit_per_minute);
    let now = deps.now();
    let conn = deps.connection().await?;
    let replay_job = |mut conn: PooledConnection, job_id| async move {
        let job = jobs::find_by_id(&mut conn, job_id)
            .await?
            .ok_or_else(ApiError::internal)?;
        // The replay's link is the job's current one (a move since rotated the first).
        Ok(json!({ "job": views::job(&job), "manageToken": deps.manage_token(&job) }))
    };
    let booking = &booking;
    let work = |mut conn: PooledConnection, key| async move {
        let booked = changes::book_with_staff(
            &mut conn, service_id, booking, staff_id, now, key, rate_limit,
        );
        match booked.await {
            Ok(booked) => {
                tracing::info!(
                    job_id = %booked.job.id,
                    tenant_id = %booked.tenant.id,
                    status = booked.job.status.as_str(),
                    client = %booking.email.masked(),
                    "booking landed"
                );
                // Sent once the response is on its way (`Deps::settle`).
                deps.owe_booking_mails(&booked);
                drop(conn);
                Ok(json_response(
                    201,
                    &json!({
                        "job": views::job(&booked.job),
                        "manageToken": deps.manage_token(&booked.job),
                    }),
                ))
            }
            Err(failure) => Err(Failed::on(conn, failure)),
        }
    };
    idempotent::run(deps, conn, key.as_ref(), replay_job, work).await
}

/// The scope idempotency keys of bookings live in: one service's bookings.
pub fn key_scope(service_id: Uuid) -> String {
    format!("book:{service_id}")
}
