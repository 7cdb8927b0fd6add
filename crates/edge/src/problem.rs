//! `application/problem+json` errors. Every outcome that is not a success becomes an
//! [`ApiError`] here, once: handlers never pick status codes for failures themselves.

use booking_domain::{BookingRejected, FieldError, InvalidTransition};
use lambda_http::{Body, Response};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub title: &'static str,
    pub detail: String,
    /// Members beyond the standard ones (`errors`, `alternatives`, `conflicts`, ...).
    pub extra: Map<String, Value>,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u32>,
    /// What the failure means for a retry of the same request.
    pub kind: ErrorKind,
}

/// What a failed request means for a retry of it: the idempotency wrapper keeps the answer to
/// a refusal under the request's key and frees the key otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A final answer (bad input, a rule's refusal): the same request gets the same answer.
    Refusal,
    /// Not now (a rate limit): the same request may succeed later.
    NotNow,
    /// Our failure (the database unreachable, a bug): retrying is the remedy.
    Failure,
}

impl ApiError {
    pub fn new(
        status: u16,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            extra: Map::new(),
            retry_after: None,
            kind: ErrorKind::Refusal,
        }
    }

    pub fn with(mut self, member: &str, value: Value) -> Self {
        self.extra.insert(member.to_owned(), value);
        self
    }

    /// 400 with the offending fields listed.
    pub fn invalid_fields(errors: &[FieldError]) -> Self {
        let detail = match errors {
            [one] => format!("The request is invalid: {one}."),
            _ => "The request has invalid fields; see `errors`.".to_owned(),
        };
        let listed: Vec<Value> = errors
            .iter()
            .map(|e| json!({"field": e.field, "message": e.message}))
            .collect();
        Self::new(400, "invalid_request", "Invalid request", detail)
            .with("errors", Value::Array(listed))
    }

    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", "Invalid request", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", "Unauthorized", detail)
    }

    pub fn service_not_found() -> Self {
        Self::new(
            404,
            "service_not_found",
            "Service not found",
            "No bookable service has this id.",
        )
    }

    /// Unknown, inactive or another tenant's staff member: all alike.
    pub fn staff_not_found() -> Self {
        Self::new(
            404,
            "staff_not_found",
            "Staff member not found",
            "No bookable staff member has this id.",
        )
    }

    pub fn staff_not_qualified() -> Self {
        Self::new(
            422,
            "staff_not_qualified",
            "Staff member not qualified",
            "That staff member does not perform this service.",
        )
    }

    pub fn job_not_found() -> Self {
        Self::new(404, "job_not_found", "Job not found", "No job has this id.")
    }

    /// A manage link that names no booking — malformed, forged, unknown, rotated or erased:
    /// all alike, so the answer tells nothing about which.
    pub fn booking_not_found() -> Self {
        Self::new(
            404,
            "booking_not_found",
            "Booking not found",
            "No booking matches this link. If you moved your booking, use the link in the latest email.",
        )
    }

    /// The tenant's settings do not let clients make this change.
    pub fn change_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(422, "change_not_allowed", "Change not allowed", detail)
    }

    /// Inside the tenant's notice window; `until` (RFC 3339, tenant's offset) was the last moment.
    pub fn too_late_to_change(until: String) -> Self {
        Self::new(
            422,
            "too_late_to_change",
            "Too late to change",
            format!(
                "This booking could be changed online until {until}; please contact the business."
            ),
        )
        .with("changeableUntil", json!(until))
    }

    /// An unknown (or another tenant's) resource other than a job or a service.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            404,
            "not_found",
            "Not found",
            format!("No {what} has this id."),
        )
    }

    pub fn invalid_transition(error: &InvalidTransition) -> Self {
        Self::new(
            409,
            "invalid_transition",
            "Invalid transition",
            error.to_string(),
        )
        .with("currentStatus", json!(error.current.as_str()))
    }

    pub fn request_in_progress() -> Self {
        Self::new(
            409,
            "request_in_progress",
            "Request in progress",
            "A request with this Idempotency-Key is still being processed; retry in a moment.",
        )
    }

    pub fn idempotency_key_reused() -> Self {
        Self::new(
            422,
            "idempotency_key_reused",
            "Idempotency key reused",
            "This Idempotency-Key was already used with a different request body.",
        )
    }

    pub fn rate_limited(retry_after: u32) -> Self {
        let mut error = Self::new(
            429,
            "rate_limited",
            "Too many requests",
            format!("Too many requests; retry in {retry_after} seconds."),
        );
        error.retry_after = Some(retry_after);
        error.kind = ErrorKind::NotNow;
        error
    }

    /// The database cannot be reached: safe to retry.
    pub fn unavailable() -> Self {
        let mut error = Self::new(
            503,
            "unavailable",
            "Service unavailable",
            "The service is briefly unavailable; please retry.",
        );
        error.retry_after = Some(1);
        error.kind = ErrorKind::Failure;
        error
    }

    /// Never carries internals: the cause is logged where it happened.
    pub fn internal() -> Self {
        let mut error = Self::new(
            500,
            "internal",
            "Internal error",
            "Something went wrong on our side; it has been logged.",
        );
        error.kind = ErrorKind::Failure;
        error
    }

    /// A booking rule's refusal; `alternatives` are serialised slots for 409s.
    pub fn booking_rejected(reason: &BookingRejected, alternatives: Vec<Value>) -> Self {
        let (status, code, title) = match reason {
            BookingRejected::InPast => (422, "slot_in_past", "Slot in the past"),
            BookingRejected::TooShortNotice { .. } => (422, "too_short_notice", "Too short notice"),
            BookingRejected::SameDayNotAllowed => {
                (422, "same_day_not_allowed", "Same-day booking not allowed")
            }
            BookingRejected::BeyondBookingWindow { .. } => {
                (422, "beyond_booking_window", "Beyond the booking window")
            }
            BookingRejected::OutsideWorkingHours => {
                (422, "outside_working_hours", "Outside working hours")
            }
            BookingRejected::NotASlot => (422, "not_a_slot", "Not a slot"),
            BookingRejected::SlotUnavailable => (409, "slot_unavailable", "Slot unavailable"),
        };
        let error = Self::new(status, code, title, reason.to_string());
        if matches!(reason, BookingRejected::SlotUnavailable) {
            error.with("alternatives", Value::Array(alternatives))
        } else {
            error
        }
    }

    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert(
            "type".to_owned(),
            json!(format!(
                "https://errors.booking.example/{}",
                self.code.replace('_', "-")
            )),
        );
        body.insert("title".to_owned(), json!(self.title));
        body.insert("status".to_owned(), json!(self.status));
        body.insert("detail".to_owned(), json!(self.detail));
        body.insert("code".to_owned(), json!(self.code));
        for (key, value) in &self.extra {
            body.insert(key.clone(), value.clone());
        }
        Value::Object(body)
    }

    pub fn into_response(self) -> Response<Body> {
        let mut builder = Response::builder()
            .status(self.status)
            .header("content-type", "application/problem+json")
            .header("cache-control", "no-store");
        if let Some(seconds) = self.retry_after {
            builder = builder.header("retry-after", seconds.to_string());
        }
        builder
            .body(Body::Text(self.body().to_string()))
            .unwrap_or_else(|_| {
                Response::new(Body::Text(r#"{"code":"internal","status":500}"#.to_owned()))
            })
    }
}

impl From<booking_repository::diesel::result::Error> for ApiError {
    fn from(error: booking_repository::diesel::result::Error) -> Self {
        database_failure(&error)
    }
}

impl From<booking_repository::PoolError> for ApiError {
    fn from(error: booking_repository::PoolError) -> Self {
        tracing::warn!(error = %error, "database pool could not provide a connection");
        Self::unavailable()
    }
}

/// Unreachable database → 503 (logged as a warning); anything else → bare 500, cause logged.
pub fn database_failure(error: &booking_repository::diesel::result::Error) -> ApiError {
    if booking_repository::is_unavailable(error) {
        tracing::warn!(error = %error, "database unavailable");
        ApiError::unavailable()
    } else {
        tracing::error!(error = %error, error_debug = ?error, "database query failed");
        ApiError::internal()
    }
}

/// The alternatives a refusal offers, as the API shows slots.
fn slot_views(alternatives: &[booking_domain::Slot]) -> Vec<serde_json::Value> {
    alternatives
        .iter()
        .map(|slot| json!(crate::views::slot(slot)))
        .collect()
}

impl From<booking_repository::changes::BookingError> for ApiError {
    fn from(failure: booking_repository::changes::BookingError) -> Self {
        use booking_repository::changes::BookingError;
        match failure {
            BookingError::ServiceNotFound => Self::service_not_found(),
            BookingError::Rejected {
                reason,
                alternatives,
            } => Self::booking_rejected(&reason, slot_views(&alternatives)),
            BookingError::RateLimited { retry_after } => Self::rate_limited(retry_after),
            BookingError::StaffNotFound => Self::staff_not_found(),
            BookingError::StaffNotQualified => Self::staff_not_qualified(),
            BookingError::Database(error) => database_failure(&error),
        }
    }
}

impl From<booking_repository::changes::OwnerError> for ApiError {
    fn from(failure: booking_repository::changes::OwnerError) -> Self {
        use booking_repository::changes::OwnerError;
        match failure {
            OwnerError::JobNotFound => Self::job_not_found(),
            OwnerError::ServiceNotFound => Self::service_not_found(),
            OwnerError::StaffNotFound => Self::staff_not_found(),
            OwnerError::StaffNotQualified => Self::staff_not_qualified(),
            OwnerError::InvalidTransition(error) => Self::invalid_transition(&error),
            OwnerError::Conflict { conflicts, zone } => {
                let local = |t: &chrono::DateTime<chrono::Utc>| t.with_timezone(&zone);
                let named: Vec<String> = conflicts
                    .iter()
                    .map(|c| {
                        format!(
                            "{} ({} – {})",
                            c.title,
                            local(&c.period.start).format("%a %b %-d, %H:%M"),
                            local(&c.period.end).format("%H:%M %Z")
                        )
                    })
                    .collect();
                let detail = if named.is_empty() {
                    "This time has no place left.".to_owned()
                } else {
                    format!(
                        "This time conflicts with existing job(s): {}.",
                        named.join(", ")
                    )
                };
                let listed: Vec<Value> = conflicts
                    .iter()
                    .map(|c| {
                        json!({
                            "id": c.id,
                            "title": c.title,
                            "start": crate::views::local_instant(&c.period.start, zone),
                            "end": crate::views::local_instant(&c.period.end, zone),
                        })
                    })
                    .collect();
                Self::new(409, "slot_unavailable", "Slot unavailable", detail)
                    .with("conflicts", Value::Array(listed))
            }
            OwnerError::ChangeNotAllowed(action) => Self::change_not_allowed(
                booking_domain::ClientChangeRefused::NotAllowed(action).to_string(),
            ),
            OwnerError::TooLateToChange { until, zone } => {
                Self::too_late_to_change(crate::views::local_instant(&until, zone))
            }
            OwnerError::Rejected {
                reason,
                alternatives,
            } => Self::booking_rejected(&reason, slot_views(&alternatives)),
            OwnerError::Database(error) => database_failure(&error),
        }
    }
}

impl From<booking_repository::setup::SetupError> for ApiError {
    fn from(failure: booking_repository::setup::SetupError) -> Self {
        use booking_repository::setup::SetupError;
        match failure {
            SetupError::TenantNotFound => Self::unauthorized("The token's tenant does not exist."),
            SetupError::ServiceNotFound => Self::service_not_found(),
            SetupError::SlugTaken(slug) => Self::invalid_fields(&[FieldError::new(
                "slug",
                format!("service slug `{slug}` is already used by another service"),
            )]),
            SetupError::StaffNotFound => Self::staff_not_found(),
            SetupError::StaffSlugTaken(slug) => Self::invalid_fields(&[FieldError::new(
                "slug",
                format!("staff slug `{slug}` is already used by another staff member"),
            )]),
            SetupError::InvalidSettings(error) => {
                Self::invalid_fields(&[FieldError::new("settings", error.to_string())])
            }
            SetupError::Database(error) => database_failure(&error),
        }
    }
}

impl From<booking_repository::changes::EraseError> for ApiError {
    fn from(failure: booking_repository::changes::EraseError) -> Self {
        use booking_repository::changes::EraseError;
        match failure {
            EraseError::NotFound => Self::not_found("contact"),
            EraseError::Database(error) => database_failure(&error),
        }
    }
}
