//! Reading requests: path ids, query dates, bounded JSON bodies with per-field errors, headers.

use booking_domain::{FieldError, IdempotencyKey};
use chrono::{DateTime, NaiveDate, Utc};
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::problem::ApiError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A UUID path parameter. Taken from the event's path parameters (API Gateway) or, failing
/// that, from the path segment after `after` (e.g. `services`), so a stage prefix or a local
/// router without parameters is no problem. Anything that is not a UUID is `None`.
pub fn path_uuid(request: &Request, name: &str, after: &str) -> Option<Uuid> {
    let from_parameters = request
        .path_parameters_ref()
        .and_then(|params| params.first(name))
        .map(str::to_owned);
    let raw = from_parameters.or_else(|| {
        let path = request.raw_http_path();
        let path = if path.is_empty() {
            request.uri().path()
        } else {
            path
        };
        let mut segments = path.split('/');
        segments.by_ref().find(|segment| *segment == after)?;
        segments.next().map(str::to_owned)
    })?;
    Uuid::parse_str(&raw).ok()
}

/// An optional `YYYY-MM-DD` query parameter.
pub fn query_date(request: &Request, name: &'static str) -> Result<Option<NaiveDate>, FieldError> {
    let params = request.query_string_parameters_ref();
    let Some(raw) = params.and_then(|p| p.first(name)) else {
        return Ok(None);
    };
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|_| raw.len() == 10)
        .map(Some)
        .ok_or_else(|| FieldError::new(name, format!("`{raw}` is not a date in YYYY-MM-DD form")))
}

/// The raw body bytes, refused beyond [`MAX_BODY_BYTES`].
pub fn body_bytes(request: &Request) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::invalid_fields(&[FieldError::new(
            "body",
            format!("must be at most {} KiB", MAX_BODY_BYTES / 1024),
        )]));
    }
    Ok(bytes)
}

/// The body as a JSON object. Content types other than JSON are refused.
pub fn json_object(request: &Request) -> Result<JsonFields, ApiError> {
    let bytes = body_bytes(request)?;
    if let Some(content_type) = request.headers().get("content-type") {
        let is_json = content_type
            .to_str()
            .map(|ct| {
                let essence = ct
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::invalid_request(
                "The request body must be JSON (Content-Type: application/json).",
            ));
        }
    }
    if bytes.is_empty() {
        return Err(ApiError::invalid_request(
            "The request body must be a JSON object.",
        ));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::invalid_request(format!(
            "The request body is not valid JSON (line {}, column {}).",
            e.line(),
            e.column()
        ))
    })?;
    match value {
        Value::Object(map) => Ok(JsonFields {
            map,
            errors: Vec::new(),
        }),
        _ => Err(ApiError::invalid_request(
            "The request body must be a JSON object.",
        )),
    }
}

/// Reads fields from a JSON object, collecting every problem before answering.
pub struct JsonFields {
    map: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl JsonFields {
    /// A required string field, parsed by `parse`.
    pub fn required<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, FieldError>,
    ) -> Option<T> {
        match self.map.get(name) {
            None | Some(Value::Null) => {
                self.errors.push(FieldError::new(name, "is required"));
                None
            }
            Some(Value::String(text)) => self.record(parse(text)),
            Some(_) => {
                self.errors.push(FieldError::new(name, "must be a string"));
                None
            }
        }
    }

    /// An optional string field; absent, null or blank is `None`.
    pub fn optional<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, FieldError>,
    ) -> Option<T> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.trim().is_empty() => None,
            Some(Value::String(text)) => self.record(parse(text)),
            Some(_) => {
                self.errors.push(FieldError::new(name, "must be a string"));
                None
            }
        }
    }

    fn record<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|e| self.errors.push(e)).ok()
    }

    /// The fields' errors as one 400, if any.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid_fields(&self.errors))
        }
    }
}

/// An RFC 3339 instant with an explicit offset, as UTC.
pub fn instant(field: &'static str) -> impl FnOnce(&str) -> Result<DateTime<Utc>, FieldError> {
    move |raw| {
        DateTime::parse_from_rfc3339(raw.trim())
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                FieldError::new(
                    field,
                    "must be an RFC 3339 instant with offset, like 2026-12-01T09:00:00-05:00",
                )
            })
    }
}

/// A UUID field.
pub fn uuid(field: &'static str) -> impl FnOnce(&str) -> Result<Uuid, FieldError> {
    move |raw| Uuid::parse_str(raw.trim()).map_err(|_| FieldError::new(field, "must be a UUID"))
}

/// The `Idempotency-Key` header, when present.
pub fn idempotency_key(request: &Request) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(raw) = request.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or("\u{1}");
    IdempotencyKey::parse(text)
        .map(Some)
        .map_err(|e| ApiError::invalid_fields(&[e]))
}

/// The client's address as API Gateway saw it (the rate limits' key); `unknown` when absent.
pub fn source_ip(request: &Request) -> String {
    use lambda_http::request::RequestContext;
    let ip = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
        Some(RequestContext::ApiGatewayV1(context)) => context.identity.source_ip.clone(),
        _ => None,
    };
    ip.filter(|ip| !ip.is_empty() && ip.len() <= 64)
        .unwrap_or_else(|| "unknown".to_owned())
}
