use std::sync::Arc;

use booking_domain::BookingSettings;
use booking_edge::Config;
use booking_email::Mailer;
use booking_functions::{Clock, Deps};
use booking_repository::diesel_async::RunQueryDsl;
use booking_repository::tenant_setup::LoadedTenant;
use booking_test_support::{TestDb, load, salon, service};
use chrono::{DateTime, TimeZone, Utc};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use uuid::Uuid;

pub const NEW_YORK: chrono_tz::Tz = chrono_tz::America::New_York;

/// Tests run on Friday 2026-12-04 at 09:00 in New York.
pub fn friday_morning() -> DateTime<Utc> {
    ny(2026, 12, 4, 9, 0)
}

pub fn ny(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    NEW_YORK
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("unambiguous test time")
        .with_timezone(&Utc)
}

/// `2026-12-07T10:00:00-05:00` for Monday at ten.
pub fn ny_text(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> String {
    ny(y, mo, d, h, mi).with_timezone(&NEW_YORK).to_rfc3339()
}

pub fn fixed_clock(at: DateTime<Utc>) -> Clock {
    Arc::new(move || at)
}

pub fn config(url: &str) -> Config {
    config_with(url, &[])
}

/// [`config`] with some variables set (or overridden) as in the environment.
pub fn config_with(url: &str, overrides: &[(&str, &str)]) -> Config {
    let url = url.to_owned();
    let overrides: Vec<(String, String)> = overrides
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_lookup(move |name| {
        if let Some((_, value)) = overrides.iter().find(|(k, _)| k == name) {
            return Some(value.clone());
        }
        match name {
            "DATABASE_URL" => Some(url.clone()),
            "AUTH_JWT_SECRET" => Some("test-secret".to_owned()),
            // Storms come from one fixture address; the limits have their own tests.
            "BOOKING_RATE_LIMIT_PER_MINUTE" | "AVAILABILITY_RATE_LIMIT_PER_MINUTE" => {
                Some("0".to_owned())
            }
            _ => None,
        }
    })
    .expect("test config")
}

/// A migrated database with one salon, and deps whose clock stands at [`friday_morning`].
pub struct Stack {
    pub db: TestDb,
    pub deps: Deps,
    pub tenant: LoadedTenant,
    pub haircut: Uuid,
    pub colour: Uuid,
    pub retired: Uuid,
}

impl Stack {
    pub async fn new(settings: BookingSettings) -> Self {
        let db = TestDb::new().await;
        let tenant = load(&db, &salon("fifi", settings)).await;
        let deps = Deps::new(
            config(&db.url),
            fixed_clock(friday_morning()),
            Mailer::in_memory(),
        )
        .expect("deps");
        Self {
            haircut: service(&tenant, "haircut"),
            colour: service(&tenant, "colour"),
            retired: service(&tenant, "retired"),
            db,
            deps,
            tenant,
        }
    }

    pub async fn default() -> Self {
        Self::new(BookingSettings::default()).await
    }

    /// Deps with a pool of their own: another Lambda container.
    pub fn container(&self) -> Deps {
        Deps::new(
            config(&self.db.url),
            fixed_clock(friday_morning()),
            self.deps.mailer.clone(),
        )
        .expect("deps")
    }

    pub async fn count(&self, table: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.db.connection().await;
        let row: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result(&mut conn)
            .await
            .expect("count");
        row.n
    }
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `GET /services/{id}/availability` as API Gateway's REST API (v1, stage `prod`) delivers it.
pub fn availability_request(service: impl ToString, query: &[(&str, &str)]) -> Request {
    let event = availability_event(service, query);
    lambda_http::request::from_str(&event).expect("REST v1 fixture parses")
}

fn availability_event(service: impl ToString, query: &[(&str, &str)]) -> String {
    let (single, multi) = if query.is_empty() {
        (Value::Null, Value::Null)
    } else {
        let single: serde_json::Map<String, Value> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        let multi: serde_json::Map<String, Value> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!([v])))
            .collect();
        (Value::Object(single), Value::Object(multi))
    };
    fixture("rest-v1-availability.json")
        .replace("SERVICE_ID", &service.to_string())
        .replace("MULTI_QUERY", &multi.to_string())
        .replace("QUERY", &single.to_string())
}

/// [`availability_request`] from the address `ip` (as API Gateway saw it), with `headers`.
pub fn availability_request_from(
    service: impl ToString,
    query: &[(&str, &str)],
    ip: &str,
    headers: &[(&str, &str)],
) -> Request {
    let mut event: Value =
        serde_json::from_str(&availability_event(service, query)).expect("fixture is JSON");
    event["requestContext"]["identity"]["sourceIp"] = json!(ip);
    for (name, value) in headers {
        event["headers"][*name] = json!(value);
        event["multiValueHeaders"][*name] = json!([value]);
    }
    lambda_http::request::from_str(&event.to_string()).expect("REST v1 fixture parses")
}

/// `POST /services/{id}/book` as API Gateway's HTTP API (v2) delivers it.
pub fn book_request(service: impl ToString, body: &str, headers: &[(&str, &str)]) -> Request {
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!(", {}: {}", json!(k.to_ascii_lowercase()), json!(v)))
        .collect();
    let event = fixture("http-v2-book.json")
        .replace("SERVICE_ID", &service.to_string())
        .replace("HEADERS", &extra)
        .replace("BODY", &json!(body).to_string());
    lambda_http::request::from_str(&event).expect("HTTP v2 fixture parses")
}

/// The same request as `cargo lambda watch`'s router hands it over: no path parameters.
pub fn local_book_request(service: impl ToString, body: &str) -> Request {
    let event = fixture("local-router-book.json")
        .replace("SERVICE_ID", &service.to_string())
        .replace("BODY", &json!(body).to_string());
    lambda_http::request::from_str(&event).expect("local fixture parses")
}

pub fn booking_body(start: &str, email: &str) -> String {
    json!({"start": start, "name": "Jane Client", "email": email, "phone": "+1 555 0100"})
        .to_string()
}

/// Status, content type and JSON body of a response.
pub fn read(response: Response<Body>) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::String(text.clone())),
        Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, content_type, body)
}

/// Asserts a problem+json answer with `status` and `code`, and returns its body.
pub fn expect_problem(response: Response<Body>, status: u16, code: &str) -> Value {
    let (got, content_type, body) = read(response);
    assert_eq!(
        (got, body["code"].as_str()),
        (status, Some(code)),
        "body: {body}"
    );
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["status"], json!(status));
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "detail missing: {body}"
    );
    assert!(body["type"].is_string() && body["title"].is_string());
    body
}

pub const TEST_SECRET: &str = "test-secret";

/// An HS256 owner token for `tenant_id`, expiring `expires_in` seconds from the real now.
pub fn owner_token(tenant_id: Uuid, expires_in: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims =
        json!({"sub": "owner@test", "tenant_id": tenant_id, "iat": now, "exp": now + expires_in});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .expect("sign a token")
}

/// How an owner request is authenticated in a test.
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    /// Claims an API Gateway JWT authorizer verified.
    Authorizer(serde_json::Value),
}

/// An owner route as API Gateway's HTTP API delivers it: `POST /jobs/{id}/{action}` or `POST /jobs`.
pub fn owner_request(
    job: Option<&str>,
    action: Option<&str>,
    body: &str,
    auth: Auth<'_>,
) -> Request {
    let (route_key, raw_path, params) = match (job, action) {
        (Some(job), Some(action)) => (
            format!("POST /jobs/{{jobId}}/{action}"),
            format!("/jobs/{job}/{action}"),
            json!({"jobId": job}),
        ),
        _ => ("POST /jobs".to_owned(), "/jobs".to_owned(), Value::Null),
    };
    let (headers, authorizer) = match auth {
        Auth::None => (String::new(), Value::Null),
        Auth::Bearer(token) => (
            format!(", \"authorization\": {}", json!(format!("Bearer {token}"))),
            Value::Null,
        ),
        Auth::Authorizer(claims) => (
            String::new(),
            json!({"jwt": {"claims": claims, "scopes": null}}),
        ),
    };
    let event = fixture("http-v2-owner.json")
        .replace("ROUTE_KEY", &route_key)
        .replace("RAW_PATH", &raw_path)
        .replace("PATH_PARAMETERS", &params.to_string())
        .replace("AUTHORIZER", &authorizer.to_string())
        .replace("HEADERS", &headers)
        .replace("BODY", &json!(body).to_string());
    lambda_http::request::from_str(&event).expect("owner fixture parses")
}

impl Stack {
    /// Books `start` on the haircut as a client would and returns the job's id.
    pub async fn book(&self, start: &str, email: &str) -> String {
        let body = booking_body(start, email);
        let (status, _, created) = read(
            booking_functions::book_slot::handle(
                &self.deps,
                book_request(self.haircut, &body, &[]),
            )
            .await,
        );
        assert_eq!(status, 201, "{created}");
        created["job"]["id"].as_str().expect("job id").to_owned()
    }

    pub fn token(&self) -> String {
        owner_token(self.tenant.tenant_id, 600)
    }
}
