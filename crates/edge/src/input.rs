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
    Uuid::parse_str(&path_param(request, name, after)?).ok()
}

/// A path parameter as text, found as [`path_uuid`] finds its own (the segment after `after`
/// when the event has no parameters: as the path carries it, still percent-encoded).
pub fn path_param(request: &Request, name: &str, after: &str) -> Option<String> {
    let from_parameters = request
        .path_parameters_ref()
        .and_then(|params| params.first(name))
        .map(str::to_owned);
    from_parameters.or_else(|| {
        let path = request.raw_http_path();
        let path = if path.is_empty() {
            request.uri().path()
        } else {
            path
        };
        let mut segments = path.split('/');
        segments.by_ref().find(|segment| *segment == after)?;
        segments.next().map(str::to_owned)
    })
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

/// An optional UUID query parameter.
pub fn query_uuid(request: &Request, name: &'static str) -> Result<Option<Uuid>, FieldError> {
    let params = request.query_string_parameters_ref();
    let Some(raw) = params.and_then(|p| p.first(name)) else {
        return Ok(None);
    };
    uuid(name)(raw).map(Some)
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

/// The body as JSON of any shape (an object, a list). Content types other than JSON are
/// refused.
pub fn json_body(request: &Request) -> Result<Value, ApiError> {
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
        return Err(ApiError::invalid_request("The request body must be JSON."));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::invalid_request(format!(
            "The request body is not valid JSON (line {}, column {}).",
            e.line(),
            e.column()
        ))
    })
}

/// The body as a JSON object. Content types other than JSON are refused.
pub fn json_object(request: &Request) -> Result<JsonFields, ApiError> {
    match json_body(request) {
        Ok(Value::Object(map)) => Ok(JsonFields {
            map,
            errors: Vec::new(),
        }),
        Err(error) if error.detail != "The request body must be JSON." => Err(error),
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
    /// A required array of strings (in order, as given).
    pub fn required_strings(&mut self, name: &'static str) -> Option<Vec<String>> {
        match self.map.get(name) {
            None | Some(Value::Null) => {
                self.errors.push(FieldError::new(name, "is required"));
                None
            }
            Some(Value::Array(items)) => {
                let texts: Option<Vec<String>> = items
                    .iter()
                    .map(|item| item.as_str().map(str::to_owned))
                    .collect();
                if texts.is_none() {
                    self.errors
                        .push(FieldError::new(name, "must be an array of strings"));
                }
                texts
            }
            Some(_) => {
                self.errors
                    .push(FieldError::new(name, "must be an array of strings"));
                None
            }
        }
    }

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

/// The key the app's per-client rate limits count under: the client's IPv4 address, or the /64
/// of an IPv6 one (a single subscriber usually holds a whole /64, so counting its addresses one
/// by one would give it billions of allowances). Anything unparsable counts as given.
pub fn client_key(request: &Request, edge_secret: Option<&str>) -> String {
    let viewer = edge_secret
        .filter(|secret| came_through_edge(request, secret))
        .and_then(|_| viewer_ip(request));
    match viewer {
        Some(ip) => rate_limit_key(&ip.to_string()),
        None => rate_limit_key(&source_ip(request)),
    }
}

/// Whether the request carries CloudFront's origin header with our secret. Compared in time
/// independent of where the bytes differ, so the secret cannot be probed byte by byte.
fn came_through_edge(request: &Request, secret: &str) -> bool {
    let Some(given) = request.headers().get("x-origin-verify") else {
        return false;
    };
    let given = given.as_bytes();
    given.len() == secret.len()
        && given
            .iter()
            .zip(secret.as_bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// The client's address from `CloudFront-Viewer-Address` (`IP:port`, IPv6 without brackets).
fn viewer_ip(request: &Request) -> Option<std::net::IpAddr> {
    let value = request
        .headers()
        .get("cloudfront-viewer-address")?
        .to_str()
        .ok()?;
    let (ip, _port) = value.trim().rsplit_once(':')?;
    ip.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

fn rate_limit_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = std::net::Ipv6Addr::from(u128::from(v6) & !(u128::MAX >> 64));
                format!("{prefix}/64")
            }
        },
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::rate_limit_key;

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_ipv4_ones_by_address() {
        assert_eq!(rate_limit_key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(
            rate_limit_key("2001:DB8:1:2:ffff:ffff:ffff:ffff"),
            "2001:db8:1:2::/64"
        );
        assert_eq!(rate_limit_key("2001:db8:1:3::1"), "2001:db8:1:3::/64");
        assert_eq!(rate_limit_key("203.0.113.9"), "203.0.113.9");
        assert_eq!(rate_limit_key("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(rate_limit_key("unknown"), "unknown");
    }
}

/// The values of query parameter `name`: each occurrence, split at commas (`status=a,b` and
/// `status=a&status=b` alike), blanks dropped.
pub fn query_list(request: &Request, name: &str) -> Vec<String> {
    request
        .query_string_parameters_ref()
        .and_then(|params| params.all(name))
        .unwrap_or_default()
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The single value of query parameter `name`, when given.
pub fn query_text<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request
        .query_string_parameters_ref()
        .and_then(|params| params.first(name))
}

/// `limit`: 1 to `max`, `default` when absent.
pub fn query_limit(request: &Request, default: u32, max: u32) -> Result<u32, FieldError> {
    match query_text(request, "limit") {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=max).contains(limit))
            .ok_or_else(|| {
                FieldError::new("limit", format!("must be a whole number from 1 to {max}"))
            }),
    }
}

/// A page cursor: opaque to clients (they pass back what a page gave them), the hex of a kind
/// byte and the position a page resumes after. Nothing in it is trusted beyond its shape: it
/// only says where to start reading the caller's own tenant's rows.
pub mod cursor {
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    const JOBS: u8 = b'j';
    const CONTACTS: u8 = b'c';

    fn encode(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn decode(text: &str) -> Option<Vec<u8>> {
        if !text.len().is_multiple_of(2) || text.len() > 128 || !text.is_ascii() {
            return None;
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
            .collect()
    }

    /// After the job starting at `start` with id `id` (the calendar's keyset).
    pub fn jobs(start: DateTime<Utc>, id: Uuid) -> String {
        let mut bytes = vec![JOBS];
        bytes.extend_from_slice(&start.timestamp_micros().to_be_bytes());
        bytes.extend_from_slice(id.as_bytes());
        encode(&bytes)
    }

    pub fn parse_jobs(text: &str) -> Option<(DateTime<Utc>, Uuid)> {
        let bytes = decode(text)?;
        let (kind, rest) = bytes.split_first()?;
        if *kind != JOBS || rest.len() != 24 {
            return None;
        }
        let micros = i64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
        let start = DateTime::<Utc>::from_timestamp_micros(micros)?;
        Some((start, Uuid::from_slice(rest.get(8..)?).ok()?))
    }

    /// After the contact `id` (in the address book's order).
    pub fn contacts(id: Uuid) -> String {
        let mut bytes = vec![CONTACTS];
        bytes.extend_from_slice(id.as_bytes());
        encode(&bytes)
    }

    pub fn parse_contacts(text: &str) -> Option<Uuid> {
        let bytes = decode(text)?;
        match bytes.split_first()? {
            (&CONTACTS, rest) => Uuid::from_slice(rest).ok(),
            _ => None,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn cursors_round_trip_and_refuse_anything_else() {
            let start = DateTime::<Utc>::from_timestamp_micros(1_796_000_000_123_456).unwrap();
            let id = Uuid::from_u128(42);
            assert_eq!(parse_jobs(&jobs(start, id)), Some((start, id)));
            assert_eq!(parse_contacts(&contacts(id)), Some(id));
            for bad in [
                "",
                "zz",
                "6a",
                &contacts(id),
                "6a00",
                "é1",
                &"a".repeat(130),
            ] {
                assert_eq!(parse_jobs(bad), None, "{bad}");
            }
            assert_eq!(parse_contacts(&jobs(start, id)), None);
        }
    }
}
