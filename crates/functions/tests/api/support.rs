//! What the handler tests share beyond booking-test-support: the salon stack behind the real
//! handlers, API Gateway events built from fixtures, and request helpers that send one and read
//! the answer (`stack.post_book(service, &body)`, `stack.post_confirm(&job, &token)`, …).

use std::sync::Arc;

use booking_domain::BookingSettings;
use booking_edge::Config;
use booking_email::Mailer;
use booking_functions::{
    Clock, Deps, availability, book_slot, business_setup, calendar_feed, contact_data, health,
    integrations, job_transitions, manage_booking, owner_calendar, owner_insights, owner_routes,
};
use booking_repository::diesel_async::RunQueryDsl;
use booking_repository::tenant_setup::LoadedTenant;
use booking_test_support::{TestDb, load, salon, service};
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use lambda_http::http::HeaderMap;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use uuid::Uuid;

pub use booking_test_support::token::{TEST_SECRET, owner_token};
pub use booking_test_support::{friday_morning, ny, ny_text};

pub fn fixed_clock(at: DateTime<Utc>) -> Clock {
    Arc::new(move || at)
}

/// The functions' configuration on `url`, with some variables set (or overridden) as in the
/// environment.
fn config_with(url: &str, overrides: &[(&str, &str)]) -> Config {
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
            "AUTH_JWT_SECRET" => Some(TEST_SECRET.to_owned()),
            // Storms come from one fixture address; the limits have their own tests.
            "BOOKING_RATE_LIMIT_PER_MINUTE" | "AVAILABILITY_RATE_LIMIT_PER_MINUTE" => {
                Some("0".to_owned())
            }
            _ => None,
        }
    })
    .expect("test config")
}

/// Deps on `url` with `overrides`, the clock at [`friday_morning`] and `mailer`.
pub fn deps_with(url: &str, overrides: &[(&str, &str)], mailer: Mailer) -> Deps {
    Deps::new(
        config_with(url, overrides),
        fixed_clock(friday_morning()),
        mailer,
    )
    .expect("deps")
}

/// The default settings, but every booking waits for the owner's confirmation.
pub fn requiring_confirmation() -> BookingSettings {
    BookingSettings {
        require_confirmation: true,
        ..BookingSettings::default()
    }
}

/// A migrated database with one salon, and deps whose clock stands at [`friday_morning`].
/// (Fields drop in order: the deps' connections close before the database is dropped.)
pub struct Stack {
    pub deps: Deps,
    pub tenant: LoadedTenant,
    pub haircut: Uuid,
    pub colour: Uuid,
    pub retired: Uuid,
    pub db: TestDb,
}

impl Stack {
    pub async fn new(settings: BookingSettings) -> Self {
        let db = TestDb::new().await;
        let tenant = load(&db, &salon("fifi", settings)).await;
        let deps = deps_with(&db.url, &[], Mailer::in_memory());
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

    /// A salon [`requiring_confirmation`]: bookings wait for the owner.
    pub async fn pending() -> Self {
        Self::new(requiring_confirmation()).await
    }

    /// Deps with a pool of their own: another Lambda container.
    pub fn container(&self) -> Deps {
        self.container_with(&[])
    }

    /// [`Stack::container`] configured with `overrides` (sharing the stack's mailer).
    pub fn container_with(&self, overrides: &[(&str, &str)]) -> Deps {
        deps_with(&self.db.url, overrides, self.deps.mailer.clone())
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

    /// Books `start` on the haircut as a client would and returns the job's id.
    pub async fn book(&self, start: &str, email: &str) -> String {
        let created = self
            .post_book(self.haircut, &booking_body(start, email))
            .await;
        assert_eq!(created.status, 201, "{created}");
        created["job"]["id"].as_str().expect("job id").to_owned()
    }

    pub fn token(&self) -> String {
        owner_token(self.tenant.tenant_id, 600)
    }

    /// A connection holding the tenant's guard in an open transaction, as a change in progress
    /// (or a stuck one) does: `ROLLBACK` on it lets go.
    pub async fn hold_the_guard(&self) -> booking_repository::AsyncPgConnection {
        let mut holder = self.db.connection().await;
        diesel::sql_query("BEGIN")
            .execute(&mut holder)
            .await
            .expect("begin");
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext(id::text)) FROM tenants")
            .bind::<diesel::sql_types::Integer, _>(booking_repository::guard::TENANT_LOCK_CLASS)
            .execute(&mut holder)
            .await
            .expect("take the guard");
        holder
    }
}

// --- requests as API Gateway delivers them -----------------------------------------------------

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
    lambda_http::request::from_str(&book_event(service, body, headers))
        .expect("HTTP v2 fixture parses")
}

/// The API Gateway HTTP API (v2) event of [`book_request`], as JSON text.
pub fn book_event(service: impl ToString, body: &str, headers: &[(&str, &str)]) -> String {
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!(", {}: {}", json!(k.to_ascii_lowercase()), json!(v)))
        .collect();
    fixture("http-v2-book.json")
        .replace("SERVICE_ID", &service.to_string())
        .replace("HEADERS", &extra)
        .replace("BODY", &json!(body).to_string())
}

/// `GET /health` as API Gateway's HTTP API (v2) delivers it.
pub fn health_request() -> Request {
    lambda_http::request::from_str(&fixture("http-v2-health.json")).expect("health fixture parses")
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

/// How an owner request is authenticated in a test; a token (`&token`) is a bearer token.
#[derive(Clone)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    /// Claims an API Gateway JWT authorizer verified.
    Authorizer(Value),
}

impl<'a> From<&'a str> for Auth<'a> {
    fn from(token: &'a str) -> Self {
        Auth::Bearer(token)
    }
}

impl<'a> From<&'a String> for Auth<'a> {
    fn from(token: &'a String) -> Self {
        Auth::Bearer(token)
    }
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
    owner_event("POST", &route_key, &raw_path, params, &[], body, auth, &[])
}

/// An owner `GET` as API Gateway's HTTP API delivers it: `route` is the route key's path
/// (`/jobs/{jobId}`), `path` the request's, `params` its path parameters.
pub fn owner_get(
    route: &str,
    path: &str,
    params: Value,
    query: &[(&str, &str)],
    auth: Auth<'_>,
) -> Request {
    owner_event(
        "GET",
        &format!("GET {route}"),
        path,
        params,
        query,
        "",
        auth,
        &[],
    )
}

/// Any owner event; `headers` beyond the authorization (`Idempotency-Key`).
#[allow(clippy::too_many_arguments)]
pub fn owner_event(
    method: &str,
    route_key: &str,
    raw_path: &str,
    params: Value,
    query: &[(&str, &str)],
    body: &str,
    auth: Auth<'_>,
    headers: &[(&str, &str)],
) -> Request {
    let (mut extra, authorizer) = match auth {
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
    for (name, value) in headers {
        extra.push_str(&format!(
            ", {}: {}",
            json!(name.to_ascii_lowercase()),
            json!(value)
        ));
    }
    let raw_query: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let mut single = serde_json::Map::new();
    for (k, v) in query {
        // API Gateway joins repeated parameters with commas.
        let joined = match single.get(*k).and_then(Value::as_str) {
            Some(before) => format!("{before},{v}"),
            None => (*v).to_owned(),
        };
        single.insert((*k).to_owned(), json!(joined));
    }
    let query_value = if single.is_empty() {
        Value::Null
    } else {
        Value::Object(single)
    };
    let event = fixture("http-v2-owner.json")
        .replace("ROUTE_KEY", route_key)
        .replace("RAW_PATH", raw_path)
        .replace("METHOD", method)
        .replace("RAW_QUERY", &json!(raw_query.join("&")).to_string())
        .replace(
            "\"queryStringParameters\": QUERY",
            &format!("\"queryStringParameters\": {query_value}"),
        )
        .replace("PATH_PARAMETERS", &params.to_string())
        .replace("AUTHORIZER", &authorizer.to_string())
        .replace("HEADERS", &extra)
        .replace("BODY", &json!(body).to_string());
    lambda_http::request::from_str(&event).expect("owner fixture parses")
}

/// The client's manage routes as API Gateway's HTTP API delivers them: `GET /bookings/{token}`
/// without an action, `POST /bookings/{token}/{action}` with one.
pub fn manage_request(
    token: &str,
    action: Option<&str>,
    body: &str,
    headers: &[(&str, &str)],
) -> Request {
    let (method, route, path) = match action {
        Some(action) => (
            "POST",
            format!("POST /bookings/{{token}}/{action}"),
            format!("/bookings/{token}/{action}"),
        ),
        None => (
            "GET",
            "GET /bookings/{token}".to_owned(),
            format!("/bookings/{token}"),
        ),
    };
    owner_event(
        method,
        &route,
        &path,
        json!({ "token": token }),
        &[],
        body,
        Auth::None,
        headers,
    )
}

/// Percent-encoding for a query string (enough for the tests' values).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// --- answers -----------------------------------------------------------------------------------

/// A handler's answer, read: status, content type, headers and the JSON body (a body that is
/// no JSON is kept as a string). `reply["job"]` indexes the body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl std::ops::Index<&str> for Reply {
    type Output = Value;

    fn index(&self, key: &str) -> &Value {
        &self.body[key]
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

/// Reads a handler's response.
pub fn read(response: Response<Body>) -> Reply {
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
    Reply {
        status,
        content_type,
        headers: response.headers().clone(),
        body,
    }
}

/// Asserts a problem+json answer with `status` and `code`, and returns its body.
pub fn expect_problem(reply: Reply, status: u16, code: &str) -> Value {
    let Reply {
        status: got,
        content_type,
        body,
        ..
    } = reply;
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

/// Asserts a 429 `rate_limited` problem whose `Retry-After` asks for 1 to 60 seconds.
pub fn expect_rate_limited(reply: Reply) {
    let wait: u32 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    expect_problem(reply, 429, "rate_limited");
}

// --- routes and request helpers ----------------------------------------------------------------

/// The routes, as openapi.json names them, each with its handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Availability,
    Book,
    EnterJob,
    Confirm,
    Decline,
    Health,
    ListJobs,
    GetJob,
    ListContacts,
    GetContact,
    /// `POST /jobs/{jobId}/{action}` for start, complete, no-show, cancel, reschedule.
    Transition(&'static str),
    /// The client's `GET /bookings/{token}` (`"view"`) and `POST /bookings/{token}/{action}`
    /// for cancel and reschedule.
    Manage(&'static str),
    RegisterWebhook,
    ListWebhooks,
    DeleteWebhook,
    WebhookDeliveries,
    /// `POST /calendar-feeds`, `DELETE /calendar-feeds/{id}` (owner) and the public
    /// `GET /calendar/{feedToken}`.
    CreateFeed,
    RevokeFeed,
    Feed,
    Stats,
    Suppressions,
    LiftSuppression,
    /// Running the business and a client's data: a method and a path of openapi.json
    /// (`business-setup`, `contact-data`).
    Owner(&'static str, &'static str),
}

/// The routes of `business-setup` and `contact-data`, as openapi.json spells them (the staff
/// routes last: 11–16).
pub const SETUP_ROUTES: [Route; 17] = [
    Route::Owner("get", "/tenant"),
    Route::Owner("patch", "/tenant"),
    Route::Owner("put", "/tenant/working-hours"),
    Route::Owner("put", "/tenant/date-overrides/{date}"),
    Route::Owner("delete", "/tenant/date-overrides/{date}"),
    Route::Owner("get", "/tenant/changes"),
    Route::Owner("get", "/services"),
    Route::Owner("post", "/services"),
    Route::Owner("patch", "/services/{serviceId}"),
    Route::Owner("get", "/contacts/{contactId}/export"),
    Route::Owner("delete", "/contacts/{contactId}"),
    Route::Owner("get", "/staff"),
    Route::Owner("post", "/staff"),
    Route::Owner("patch", "/staff/{staffId}"),
    Route::Owner("put", "/staff/{staffId}/working-hours"),
    Route::Owner("put", "/staff/{staffId}/date-overrides/{date}"),
    Route::Owner("delete", "/staff/{staffId}/date-overrides/{date}"),
];

impl Route {
    pub const ALL: [Route; 45] = [
        Route::Availability,
        Route::Book,
        Route::EnterJob,
        Route::Confirm,
        Route::Decline,
        Route::Health,
        Route::ListJobs,
        Route::GetJob,
        Route::ListContacts,
        Route::GetContact,
        Route::Transition("start"),
        Route::Transition("complete"),
        Route::Transition("no-show"),
        Route::Transition("cancel"),
        Route::Transition("reschedule"),
        Route::Manage("view"),
        Route::Manage("cancel"),
        Route::Manage("reschedule"),
        Route::RegisterWebhook,
        Route::ListWebhooks,
        Route::DeleteWebhook,
        Route::WebhookDeliveries,
        Route::CreateFeed,
        Route::RevokeFeed,
        Route::Feed,
        Route::Stats,
        Route::Suppressions,
        Route::LiftSuppression,
        SETUP_ROUTES[0],
        SETUP_ROUTES[1],
        SETUP_ROUTES[2],
        SETUP_ROUTES[3],
        SETUP_ROUTES[4],
        SETUP_ROUTES[5],
        SETUP_ROUTES[6],
        SETUP_ROUTES[7],
        SETUP_ROUTES[8],
        SETUP_ROUTES[9],
        SETUP_ROUTES[10],
        SETUP_ROUTES[11],
        SETUP_ROUTES[12],
        SETUP_ROUTES[13],
        SETUP_ROUTES[14],
        SETUP_ROUTES[15],
        SETUP_ROUTES[16],
    ];

    /// The method as openapi.json spells it.
    pub fn method(self) -> &'static str {
        match self {
            Route::Owner(method, _) => method,
            Route::Availability
            | Route::Health
            | Route::ListJobs
            | Route::GetJob
            | Route::ListContacts
            | Route::GetContact
            | Route::ListWebhooks
            | Route::WebhookDeliveries
            | Route::Manage("view")
            | Route::Feed
            | Route::Stats
            | Route::Suppressions => "get",
            Route::DeleteWebhook | Route::RevokeFeed | Route::LiftSuppression => "delete",
            _ => "post",
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Route::Owner(_, path) => path,
            Route::Availability => "/services/{serviceId}/availability",
            Route::Book => "/services/{serviceId}/book",
            Route::EnterJob => "/jobs",
            Route::Confirm => "/jobs/{jobId}/confirm",
            Route::Decline => "/jobs/{jobId}/decline",
            Route::Health => "/health",
            Route::ListJobs => "/jobs",
            Route::GetJob => "/jobs/{jobId}",
            Route::ListContacts => "/contacts",
            Route::GetContact => "/contacts/{contactId}",
            Route::Transition("start") => "/jobs/{jobId}/start",
            Route::Transition("complete") => "/jobs/{jobId}/complete",
            Route::Transition("no-show") => "/jobs/{jobId}/no-show",
            Route::Transition("cancel") => "/jobs/{jobId}/cancel",
            Route::Transition(_) => "/jobs/{jobId}/reschedule",
            Route::Manage("view") => "/bookings/{token}",
            Route::Manage("cancel") => "/bookings/{token}/cancel",
            Route::Manage(_) => "/bookings/{token}/reschedule",
            Route::RegisterWebhook | Route::ListWebhooks => "/webhooks",
            Route::DeleteWebhook => "/webhooks/{id}",
            Route::WebhookDeliveries => "/webhooks/{id}/deliveries",
            Route::CreateFeed => "/calendar-feeds",
            Route::RevokeFeed => "/calendar-feeds/{id}",
            Route::Feed => "/calendar/{feedToken}",
            Route::Stats => "/stats",
            Route::Suppressions => "/suppressions",
            Route::LiftSuppression => "/suppressions/{email}",
        }
    }

    /// Hands `request` to the route's handler, then lets the container do what the invocation
    /// owes after its response (`Deps::settle`), as `serve_http` does before the next one.
    pub async fn handle(self, deps: &Deps, request: Request) -> Response<Body> {
        let response = match self {
            Route::Availability => availability::handle(deps, request).await,
            Route::Book => book_slot::handle(deps, request).await,
            Route::EnterJob => owner_routes::enter_by_hand(deps, request).await,
            Route::Confirm => owner_routes::confirm(deps, request).await,
            Route::Decline => owner_routes::decline(deps, request).await,
            Route::Health => health::handle(deps, request).await,
            Route::ListJobs | Route::GetJob | Route::ListContacts | Route::GetContact => {
                owner_calendar::handle(deps, request).await
            }
            Route::Transition(_) => job_transitions::handle(deps, request).await,
            Route::Manage(_) => manage_booking::handle(deps, request).await,
            Route::RegisterWebhook
            | Route::ListWebhooks
            | Route::DeleteWebhook
            | Route::WebhookDeliveries => integrations::handle(deps, request).await,
            Route::CreateFeed
            | Route::RevokeFeed
            | Route::Stats
            | Route::Suppressions
            | Route::LiftSuppression => owner_insights::handle(deps, request).await,
            Route::Feed => calendar_feed::handle(deps, request).await,
            Route::Owner(_, path) if path.starts_with("/contacts") => {
                contact_data::handle(deps, request).await
            }
            Route::Owner(..) => business_setup::handle(deps, request).await,
        };
        deps.settle().await;
        response
    }
}

/// Request helpers: build the request, call the handler through `deps()`, read the answer.
/// For the [`Stack`] (its deps) and for any other [`Deps`] (another container, another
/// configuration). Each builds its request at once; the future borrows only the deps.
pub trait Api {
    fn deps(&self) -> &Deps;

    /// Any request, to `route`'s handler.
    fn send(&self, route: Route, request: Request) -> BoxFuture<'_, Reply> {
        let deps = self.deps();
        Box::pin(async move { read(route.handle(deps, request).await) })
    }

    /// `GET /services/{service}/availability?query`.
    fn get_availability(
        &self,
        service: impl ToString,
        query: &[(&str, &str)],
    ) -> BoxFuture<'_, Reply> {
        self.send(Route::Availability, availability_request(service, query))
    }

    /// `POST /services/{service}/book` with `body`.
    fn post_book(&self, service: impl ToString, body: &str) -> BoxFuture<'_, Reply> {
        self.post_book_with(service, body, &[])
    }

    /// [`Api::post_book`] with request `headers` (`Idempotency-Key`).
    fn post_book_with(
        &self,
        service: impl ToString,
        body: &str,
        headers: &[(&str, &str)],
    ) -> BoxFuture<'_, Reply> {
        self.send(Route::Book, book_request(service, body, headers))
    }

    /// `POST /jobs/{job}/confirm`.
    fn post_confirm<'a>(&self, job: &str, auth: impl Into<Auth<'a>>) -> BoxFuture<'_, Reply> {
        let request = owner_request(Some(job), Some("confirm"), "", auth.into());
        self.send(Route::Confirm, request)
    }

    /// `POST /jobs/{job}/decline` with `body`.
    fn post_decline<'a>(
        &self,
        job: &str,
        body: &str,
        auth: impl Into<Auth<'a>>,
    ) -> BoxFuture<'_, Reply> {
        let request = owner_request(Some(job), Some("decline"), body, auth.into());
        self.send(Route::Decline, request)
    }

    /// `POST /jobs/{job}/{action}` (start, complete, no-show, cancel, reschedule) with `body`.
    fn post_transition<'a>(
        &self,
        job: &str,
        action: &'static str,
        body: &str,
        auth: impl Into<Auth<'a>>,
    ) -> BoxFuture<'_, Reply> {
        self.post_transition_with(job, action, body, auth, &[])
    }

    /// [`Api::post_transition`] with request `headers` (`Idempotency-Key`).
    fn post_transition_with<'a>(
        &self,
        job: &str,
        action: &'static str,
        body: &str,
        auth: impl Into<Auth<'a>>,
        headers: &[(&str, &str)],
    ) -> BoxFuture<'_, Reply> {
        let request = owner_event(
            "POST",
            &format!("POST /jobs/{{jobId}}/{action}"),
            &format!("/jobs/{job}/{action}"),
            json!({"jobId": job}),
            &[],
            body,
            auth.into(),
            headers,
        );
        self.send(Route::Transition(action), request)
    }

    /// `GET /jobs?query`.
    fn get_jobs<'a>(
        &self,
        query: &[(&str, &str)],
        auth: impl Into<Auth<'a>>,
    ) -> BoxFuture<'_, Reply> {
        let request = owner_get("/jobs", "/jobs", Value::Null, query, auth.into());
        self.send(Route::ListJobs, request)
    }

    /// `GET /jobs/{job}`.
    fn get_job<'a>(&self, job: &str, auth: impl Into<Auth<'a>>) -> BoxFuture<'_, Reply> {
        let request = owner_get(
            "/jobs/{jobId}",
            &format!("/jobs/{job}"),
            json!({"jobId": job}),
            &[],
            auth.into(),
        );
        self.send(Route::GetJob, request)
    }

    /// `GET /contacts?query`.
    fn get_contacts<'a>(
        &self,
        query: &[(&str, &str)],
        auth: impl Into<Auth<'a>>,
    ) -> BoxFuture<'_, Reply> {
        let request = owner_get("/contacts", "/contacts", Value::Null, query, auth.into());
        self.send(Route::ListContacts, request)
    }

    /// `GET /contacts/{contact}`.
    fn get_contact<'a>(&self, contact: &str, auth: impl Into<Auth<'a>>) -> BoxFuture<'_, Reply> {
        let request = owner_get(
            "/contacts/{contactId}",
            &format!("/contacts/{contact}"),
            json!({"contactId": contact}),
            &[],
            auth.into(),
        );
        self.send(Route::GetContact, request)
    }

    /// `POST /jobs` (a hand-entered job) with `body`.
    /// A route of `business-setup` or `contact-data`: `method` and `route` as openapi.json
    /// spells them, `path` the request's, `params` its path parameters.
    fn owner_send<'a>(
        &self,
        (method, route): (&'static str, &'static str),
        path: &str,
        params: Value,
        query: &[(&str, &str)],
        body: &str,
        auth: impl Into<Auth<'a>>,
    ) -> BoxFuture<'_, Reply> {
        let request = owner_event(
            &method.to_ascii_uppercase(),
            &format!("{} {route}", method.to_ascii_uppercase()),
            path,
            params,
            query,
            body,
            auth.into(),
            &[],
        );
        self.send(Route::Owner(method, route), request)
    }

    fn post_job<'a>(&self, body: &str, auth: impl Into<Auth<'a>>) -> BoxFuture<'_, Reply> {
        self.send(
            Route::EnterJob,
            owner_request(None, None, body, auth.into()),
        )
    }

    /// `POST /calendar-feeds` with `body` (empty: none).
    fn post_calendar_feed<'a>(
        &self,
        body: &str,
        auth: impl Into<Auth<'a>>,
    ) -> BoxFuture<'_, Reply> {
        let request = owner_event(
            "POST",
            "POST /calendar-feeds",
            "/calendar-feeds",
            Value::Null,
            &[],
            body,
            auth.into(),
            &[],
        );
        self.send(Route::CreateFeed, request)
    }

    /// `DELETE /calendar-feeds/{id}`.
    fn delete_calendar_feed<'a>(
        &self,
        id: &str,
        auth: impl Into<Auth<'a>>,
    ) -> BoxFuture<'_, Reply> {
        let request = owner_event(
            "DELETE",
            "DELETE /calendar-feeds/{id}",
            &format!("/calendar-feeds/{id}"),
            json!({ "id": id }),
            &[],
            "",
            auth.into(),
            &[],
        );
        self.send(Route::RevokeFeed, request)
    }

    /// The public `GET /calendar/{token}` with request `headers` (`If-None-Match`).
    fn get_calendar(&self, token: &str, headers: &[(&str, &str)]) -> BoxFuture<'_, Reply> {
        let request = owner_event(
            "GET",
            "GET /calendar/{feedToken}",
            &format!("/calendar/{token}"),
            json!({ "feedToken": token }),
            &[],
            "",
            Auth::None,
            headers,
        );
        self.send(Route::Feed, request)
    }
}

impl Api for Deps {
    fn deps(&self) -> &Deps {
        self
    }
}

impl Api for Stack {
    fn deps(&self) -> &Deps {
        &self.deps
    }
}

/// One pass of the outbox relay at `at` on `conn`, with `deps`' mailer (batches of 10, a 10 s
/// budget): what the relay function does each minute.
pub async fn relay_mails_at(
    conn: &mut booking_repository::AsyncPgConnection,
    deps: &Deps,
    at: DateTime<Utc>,
) -> booking_email::DeliveryReport {
    booking_email::relay(
        conn,
        &deps.mailer,
        &deps.mail,
        move || at,
        10,
        std::time::Duration::from_secs(10),
        &mut Vec::new(),
    )
    .await
    .expect("relay")
}

/// A Python that has `icalendar`: `ICS_PYTHON`, else the active venv's, else the repo's `.venv`
/// (scripts/lib.sh installs it there).
pub fn python_with_icalendar() -> std::path::PathBuf {
    use std::path::PathBuf;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        std::env::var_os("ICS_PYTHON").map(PathBuf::from),
        std::env::var_os("VIRTUAL_ENV").map(|venv| PathBuf::from(venv).join("bin/python3")),
        Some(root.join(".venv/bin/python3")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|python| {
            std::process::Command::new(python)
                .args(["-c", "import icalendar"])
                .output()
                .is_ok_and(|out| out.status.success())
        })
        .expect(
            "a Python with the icalendar package: run through scripts/test (it installs it in \
             .venv), or set ICS_PYTHON",
        )
}

// --- mails -------------------------------------------------------------------------------------

/// A sent mail read back as a mail client would: its plain text and its calendar attachment.
pub struct ReadMail {
    pub text: String,
    /// The `method=` of the attachment and its iCalendar text.
    pub invitation: Option<(String, String)>,
}

pub fn read_mail(raw: &[u8]) -> ReadMail {
    use mail_parser::{MessageParser, MimeHeaders};
    let message = MessageParser::default().parse(raw).expect("a MIME message");
    let text = message
        .body_text(0)
        .map(|t| t.into_owned())
        .unwrap_or_default();
    let invitation = message.attachment(0).map(|attachment| {
        let method = attachment
            .content_type()
            .and_then(|ct| ct.attribute("method"))
            .unwrap_or_default()
            .to_owned();
        let ics = String::from_utf8(attachment.contents().to_vec()).expect("UTF-8 calendar");
        (method, ics)
    });
    ReadMail { text, invitation }
}

/// What the tests check of an invitation, read with the icalendar crate's parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub method: String,
    pub uid: String,
    pub sequence: u32,
    pub status: String,
    pub start: String,
}

pub fn parse_invitation(ics: &str) -> Invitation {
    use icalendar::{Calendar, CalendarComponent, Component};
    let calendar: Calendar = ics.parse().expect("a valid iCalendar object");
    let event = calendar
        .components
        .iter()
        .find_map(|c| match c {
            CalendarComponent::Event(event) => Some(event),
            _ => None,
        })
        .expect("one VEVENT");
    let field = |key: &str| event.property_value(key).unwrap_or_default().to_owned();
    Invitation {
        method: calendar
            .property_value("METHOD")
            .unwrap_or_default()
            .to_owned(),
        uid: field("UID"),
        sequence: field("SEQUENCE").parse().expect("a SEQUENCE"),
        status: field("STATUS"),
        start: field("DTSTART"),
    }
}
