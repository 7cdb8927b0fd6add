//! The handlers' real responses match `openapi.json`, route by route and status by status.

use std::collections::BTreeSet;

use booking_functions::Deps;
use lambda_http::Request;
use serde_json::{Value, json};
use uuid::Uuid;

use booking_repository::diesel_async::RunQueryDsl;

use crate::support::*;

struct Contract {
    spec: Value,
    seen: BTreeSet<(String, String, u16)>,
}

impl Contract {
    fn load() -> Self {
        let path = format!("{}/../../openapi.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Self {
            spec: serde_json::from_str(&text).expect("openapi.json is JSON"),
            seen: BTreeSet::new(),
        }
    }

    /// Checks `reply` against the spec's schema for `route` and its status.
    fn check(&mut self, route: Route, reply: Reply) -> Value {
        let (method, path) = (route.method(), route.path());
        let Reply {
            status,
            content_type,
            body,
            ..
        } = reply;
        let operation = &self.spec["paths"][path][method];
        assert!(
            operation.is_object(),
            "{method} {path} is not in openapi.json"
        );
        let mut documented = operation["responses"][status.to_string()].clone();
        if let Some(reference) = documented["$ref"].as_str() {
            let name = reference.trim_start_matches("#/components/responses/");
            documented = self.spec["components"]["responses"][name].clone();
        }
        if documented["content"].is_null() && content_type.is_empty() && body.is_null() {
            // 204 and 304: documented without a body, answered without one.
            self.seen
                .insert((method.to_owned(), path.to_owned(), status));
            return body;
        }
        let content = documented["content"][&content_type].clone();
        assert!(
            content.is_object(),
            "{method} {path} {status} with {content_type} is not documented: {body}"
        );
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.spec["components"].clone(),
            "allOf": [content["schema"].clone()],
        });
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: {errors:?}\n{body}"
        );
        self.seen
            .insert((method.to_owned(), path.to_owned(), status));
        body
    }
}

impl Contract {
    /// Sends `request` to `route` on `deps`, expects `status`, and checks the answer.
    async fn expect(&mut self, deps: &Deps, route: Route, request: Request, status: u16) -> Value {
        let reply = deps.send(route, request).await;
        assert_eq!(
            reply.status,
            status,
            "{} {}: {reply}",
            route.method(),
            route.path()
        );
        self.check(route, reply)
    }
}

/// One row's request: the route, the deps that answer it, and how to build it given the job
/// the latest booking before the row made.
struct Call<'a> {
    route: Route,
    deps: &'a Deps,
    request: Box<dyn Fn(&str) -> Request + 'a>,
}

/// Which job an owner row acts on.
#[derive(Clone, Copy)]
enum Job {
    /// The one the latest successful booking before the row made.
    Booked,
    Id(&'static str),
}

type Query = &'static [(&'static str, &'static str)];

/// The route key's path of a request path: ids and tokens become their parameters.
fn path_template(path: &str) -> &'static str {
    match path.split('/').nth(1) {
        Some("calendar-feeds") if path.matches('/').count() == 2 => "/calendar-feeds/{id}",
        Some("suppressions") if path.matches('/').count() == 2 => "/suppressions/{email}",
        Some("calendar-feeds") => "/calendar-feeds",
        Some("stats") => "/stats",
        _ => "/suppressions",
    }
}

fn get(deps: &Deps, service: Uuid, query: Query) -> Call<'_> {
    Call {
        route: Route::Availability,
        deps,
        request: Box::new(move |_| availability_request(service, query)),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_as_openapi_json_describes() {
    let mut contract = Contract::load();
    let stack = Stack::pending().await;
    let deps = &stack.deps;
    let limited = stack.container_with(&[("AVAILABILITY_RATE_LIMIT_PER_MINUTE", "1")]);
    let unreachable =
        stack.container_with(&[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/x")]);
    let token: &str = &stack.token();
    let haircut = stack.haircut;
    let book = |service: Uuid, body: String, headers: Query| Call {
        route: Route::Book,
        deps,
        request: Box::new(move |_| book_request(service, &body, headers)),
    };
    let confirm = |job: Job, auth| Call {
        route: Route::Confirm,
        deps,
        request: Box::new(move |booked| {
            let job = match job {
                Job::Booked => booked,
                Job::Id(id) => id,
            };
            owner_request(Some(job), Some("confirm"), "", Auth::clone(&auth))
        }),
    };
    let decline = |body: String| Call {
        route: Route::Decline,
        deps,
        request: Box::new(move |job| {
            owner_request(Some(job), Some("decline"), &body, Auth::Bearer(token))
        }),
    };
    let create = |body: String| Call {
        route: Route::EnterJob,
        deps,
        request: Box::new(move |_| owner_request(None, None, &body, Auth::Bearer(token))),
    };
    let reason = json!({"reason": "Closed for a private event"}).to_string();
    let manual = json!({"serviceId": haircut, "start": ny_text(2026, 12, 9, 18, 0), "name": "Evening", "email": "e@example.com", "phone": "555 0101"}).to_string();
    let key: Query = &[("Idempotency-Key", "k1")];

    let monday = |hour, minute| ny_text(2026, 12, 7, hour, minute);

    // In order, each expected status with its request.
    #[rustfmt::skip]
    let rows: Vec<(u16, Call<'_>)> = vec![
        (200, get(deps, haircut, &[])),
        (400, get(deps, haircut, &[("from", "x")])),
        (404, get(deps, Uuid::new_v4(), &[])),
        (200, get(&limited, haircut, &[])),
        (429, get(&limited, haircut, &[])),
        (201, book(haircut, booking_body(&monday(10, 0), "a@example.com"), key)),
        (400, book(haircut, "{".to_owned(), &[])),
        (404, book(Uuid::new_v4(), booking_body(&monday(10, 0), "b@example.com"), &[])),
        (409, book(haircut, booking_body(&monday(10, 0), "b@example.com"), &[])),
        (422, book(haircut, booking_body(&monday(10, 10), "b@example.com"), &[])),
        (422, book(haircut, booking_body(&monday(13, 0), "b@example.com"), key)),
        (200, confirm(Job::Booked, Auth::Bearer(token))),
        (409, confirm(Job::Booked, Auth::Bearer(token))),
        (401, confirm(Job::Booked, Auth::None)),
        (404, confirm(Job::Id("nope"), Auth::Bearer(token))),
        // The pending booking the decline rows act on.
        (201, book(haircut, booking_body(&monday(13, 0), "c@example.com"), &[])),
        (400, decline("{}".to_owned())),
        (200, decline(reason.clone())),
        (409, decline(reason.clone())),
        (201, create(manual.clone())),
        (409, create(manual.clone())),
        (400, create("[]".to_owned())),
        (200, Call { route: Route::Health, deps, request: Box::new(|_| health_request()) }),
        (503, Call { route: Route::Health, deps: &unreachable, request: Box::new(|_| health_request()) }),
    ];
    let mut booked = String::new();
    for (status, call) in rows {
        let route = call.route;
        let reply = call.deps.send(route, (call.request)(&booked)).await;
        assert_eq!(
            reply.status,
            status,
            "{} {}: {reply}",
            route.method(),
            route.path()
        );
        let body = contract.check(route, reply);
        if (route, status) == (Route::Book, 201) {
            booked = body["job"]["id"].as_str().expect("job id").to_owned();
        }
    }

    // The owner's calendar and the transitions.
    let later = {
        let mut later = stack.container();
        later.clock = fixed_clock(ny(2026, 12, 31, 12, 0));
        later
    };
    let bearer = || Auth::Bearer(token);
    let jobs_get = |query: Query| owner_get("/jobs", "/jobs", Value::Null, query, bearer());
    let job_get = |job: &str| {
        owner_get(
            "/jobs/{jobId}",
            &format!("/jobs/{job}"),
            json!({"jobId": job}),
            &[],
            bearer(),
        )
    };
    let contacts_get =
        |query: Query| owner_get("/contacts", "/contacts", Value::Null, query, bearer());
    let contact_get = |id: &str| {
        owner_get(
            "/contacts/{contactId}",
            &format!("/contacts/{id}"),
            json!({"contactId": id}),
            &[],
            bearer(),
        )
    };
    let act = |job: &str, action: &'static str, body: &str| {
        owner_event(
            "POST",
            &format!("POST /jobs/{{jobId}}/{action}"),
            &format!("/jobs/{job}/{action}"),
            json!({"jobId": job}),
            &[],
            body,
            bearer(),
            &[],
        )
    };
    let week: Query = &[("from", "2026-12-07"), ("to", "2026-12-13")];
    let week_jobs = contract
        .expect(deps, Route::ListJobs, jobs_get(week), 200)
        .await;
    // The first row's booking, confirmed since.
    let booked = week_jobs["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|job| job["client"]["email"] == "a@example.com")
        .and_then(|job| job["id"].as_str())
        .expect("a's job")
        .to_owned();
    contract
        .expect(deps, Route::ListJobs, jobs_get(&[("limit", "0")]), 400)
        .await;
    contract
        .expect(
            deps,
            Route::ListJobs,
            owner_get("/jobs", "/jobs", Value::Null, &[], Auth::None),
            401,
        )
        .await;
    contract
        .expect(deps, Route::GetJob, job_get(&booked), 200)
        .await;
    contract
        .expect(deps, Route::GetJob, job_get("nope"), 404)
        .await;
    let listed = contract
        .expect(
            deps,
            Route::ListContacts,
            contacts_get(&[("q", "example")]),
            200,
        )
        .await;
    contract
        .expect(
            deps,
            Route::ListContacts,
            contacts_get(&[("cursor", "x")]),
            400,
        )
        .await;
    let contact = listed["contacts"][0]["id"]
        .as_str()
        .expect("a contact")
        .to_owned();
    contract
        .expect(deps, Route::GetContact, contact_get(&contact), 200)
        .await;
    contract
        .expect(
            deps,
            Route::GetContact,
            contact_get(&Uuid::new_v4().to_string()),
            404,
        )
        .await;

    let pending = contract
        .expect(
            deps,
            Route::Book,
            book_request(haircut, &booking_body(&monday(15, 0), "d@example.com"), &[]),
            201,
        )
        .await["job"]["id"]
        .as_str()
        .expect("job id")
        .to_owned();
    let moved = json!({"start": ny_text(2026, 12, 8, 19, 0)}).to_string();
    contract
        .expect(
            deps,
            Route::Transition("reschedule"),
            act(&pending, "reschedule", "{}"),
            400,
        )
        .await;
    contract
        .expect(
            deps,
            Route::Transition("reschedule"),
            act(&pending, "reschedule", &moved),
            200,
        )
        .await;
    contract
        .expect(
            deps,
            Route::Transition("start"),
            act(&pending, "start", ""),
            409,
        )
        .await;
    contract
        .expect(
            deps,
            Route::Transition("cancel"),
            act(&pending, "cancel", &reason),
            200,
        )
        .await;
    contract
        .expect(
            deps,
            Route::Transition("cancel"),
            act(&pending, "cancel", ""),
            409,
        )
        .await;
    contract
        .expect(
            deps,
            Route::Transition("cancel"),
            act(&Uuid::new_v4().to_string(), "cancel", ""),
            404,
        )
        .await;
    contract
        .expect(
            &later,
            Route::Transition("start"),
            act(&booked, "start", ""),
            200,
        )
        .await;
    contract
        .expect(
            &later,
            Route::Transition("complete"),
            act(&booked, "complete", ""),
            200,
        )
        .await;
    contract
        .expect(
            &later,
            Route::Transition("no-show"),
            act(&booked, "no-show", ""),
            409,
        )
        .await;
    contract
        .expect(
            &later,
            Route::Transition("complete"),
            act(&booked, "complete", ""),
            409,
        )
        .await;
    let manual_job = contract
        .expect(deps, Route::EnterJob, owner_request(None, None, &json!({"serviceId": haircut, "start": ny_text(2026, 12, 10, 9, 0), "name": "N", "email": "n@example.com"}).to_string(), bearer()), 201)
        .await["job"]["id"].as_str().expect("job id").to_owned();
    contract
        .expect(
            &later,
            Route::Transition("no-show"),
            act(&manual_job, "no-show", ""),
            200,
        )
        .await;
    contract
        .expect(
            deps,
            Route::Transition("reschedule"),
            act(&manual_job, "reschedule", &moved),
            409,
        )
        .await;

    // The client's own booking, by the manage token of the 201.
    let token = contract
        .expect(
            deps,
            Route::Book,
            book_request(
                haircut,
                &booking_body(&ny_text(2026, 12, 9, 14, 0), "m@example.com"),
                &[],
            ),
            201,
        )
        .await["manageToken"]
        .as_str()
        .expect("manageToken")
        .to_owned();
    contract
        .expect(
            deps,
            Route::Manage("view"),
            manage_request(&token, None, "", &[]),
            200,
        )
        .await;
    contract
        .expect(
            deps,
            Route::Manage("view"),
            manage_request(&"A".repeat(48), None, "", &[]),
            404,
        )
        .await;
    let odd = json!({"start": ny_text(2026, 12, 10, 14, 10)}).to_string();
    contract
        .expect(
            deps,
            Route::Manage("reschedule"),
            manage_request(&token, Some("reschedule"), &odd, &[]),
            422,
        )
        .await;
    let later_slot = json!({"start": ny_text(2026, 12, 10, 14, 0)}).to_string();
    let token = contract
        .expect(
            deps,
            Route::Manage("reschedule"),
            manage_request(&token, Some("reschedule"), &later_slot, &[]),
            200,
        )
        .await["manageToken"]
        .as_str()
        .expect("the new manageToken")
        .to_owned();
    contract
        .expect(
            deps,
            Route::Manage("cancel"),
            manage_request(&token, Some("cancel"), "", &[]),
            200,
        )
        .await;
    contract
        .expect(
            deps,
            Route::Manage("cancel"),
            manage_request(&token, Some("cancel"), "", &[]),
            409,
        )
        .await;

    // Webhooks: registered (only registered: nothing is sent here), listed, their deliveries,
    // removed; refusals as problems.
    let owner = stack.token();
    let local = stack.container_with(&[("WEBHOOK_ALLOW_LOOPBACK", "true")]);
    let webhook_post = |body: Value| {
        owner_event(
            "POST",
            "POST /webhooks",
            "/webhooks",
            Value::Null,
            &[],
            &body.to_string(),
            Auth::Bearer(&owner),
            &[],
        )
    };
    let created = contract
        .expect(
            &local,
            Route::RegisterWebhook,
            webhook_post(json!({"url": "http://127.0.0.1:9/hook", "events": ["booking.created"]})),
            201,
        )
        .await;
    let webhook = created["webhook"]["id"]
        .as_str()
        .expect("webhook id")
        .to_owned();
    contract
        .expect(
            deps,
            Route::RegisterWebhook,
            webhook_post(json!({"url": "https://169.254.169.254/", "events": ["booking.created"]})),
            400,
        )
        .await;
    contract
        .expect(
            deps,
            Route::ListWebhooks,
            owner_get(
                "/webhooks",
                "/webhooks",
                Value::Null,
                &[],
                Auth::Bearer(&owner),
            ),
            200,
        )
        .await;
    let webhook_at = |method: &str, suffix: &str, id: &str| {
        owner_event(
            method,
            &format!("{method} /webhooks/{{id}}{suffix}"),
            &format!("/webhooks/{id}{suffix}"),
            json!({"id": id}),
            &[],
            "",
            Auth::Bearer(&owner),
            &[],
        )
    };
    contract
        .expect(
            deps,
            Route::WebhookDeliveries,
            webhook_at("GET", "/deliveries", &webhook),
            200,
        )
        .await;
    contract
        .expect(
            deps,
            Route::WebhookDeliveries,
            webhook_at("GET", "/deliveries", &Uuid::new_v4().to_string()),
            404,
        )
        .await;
    contract
        .expect(
            deps,
            Route::DeleteWebhook,
            webhook_at("DELETE", "", &webhook),
            204,
        )
        .await;
    contract
        .expect(
            deps,
            Route::DeleteWebhook,
            webhook_at("DELETE", "", &webhook),
            404,
        )
        .await;

    // The integrations: feeds, statistics, suppressions.
    let owner: &str = &stack.token();
    let owner_call = |method: &str, path: &str, params: Value, query: Query, body: &str| {
        let route_key = format!("{method} {}", path_template(path));
        owner_event(
            method,
            &route_key,
            path,
            params,
            query,
            body,
            owner.into(),
            &[],
        )
    };
    let feed = contract
        .expect(
            deps,
            Route::CreateFeed,
            owner_call("POST", "/calendar-feeds", Value::Null, &[], ""),
            201,
        )
        .await;
    contract
        .expect(
            deps,
            Route::CreateFeed,
            owner_call(
                "POST",
                "/calendar-feeds",
                Value::Null,
                &[],
                r#"{"staffId": 7}"#,
            ),
            400,
        )
        .await;
    let feed_id = feed["id"].as_str().expect("a feed id").to_owned();
    let feed_token = feed["url"]
        .as_str()
        .expect("a url")
        .rsplit('/')
        .next()
        .expect("a token")
        .to_owned();
    let calendar = |headers: &'static [(&'static str, &'static str)], token: &str| {
        owner_event(
            "GET",
            "GET /calendar/{feedToken}",
            &format!("/calendar/{token}"),
            json!({ "feedToken": token }),
            &[],
            "",
            Auth::None,
            headers,
        )
    };
    contract
        .expect(deps, Route::Feed, calendar(&[], &feed_token), 200)
        .await;
    contract
        .expect(
            deps,
            Route::Feed,
            calendar(&[("If-None-Match", "*")], &feed_token),
            304,
        )
        .await;
    contract
        .expect(deps, Route::Feed, calendar(&[], "nope"), 404)
        .await;
    contract
        .expect(
            deps,
            Route::RevokeFeed,
            owner_call(
                "DELETE",
                &format!("/calendar-feeds/{feed_id}"),
                json!({ "id": feed_id }),
                &[],
                "",
            ),
            204,
        )
        .await;
    contract
        .expect(
            deps,
            Route::RevokeFeed,
            owner_call(
                "DELETE",
                &format!("/calendar-feeds/{feed_id}"),
                json!({ "id": feed_id }),
                &[],
                "",
            ),
            404,
        )
        .await;
    contract
        .expect(
            deps,
            Route::Stats,
            owner_call(
                "GET",
                "/stats",
                Value::Null,
                &[("from", "2026-12-01"), ("to", "2026-12-31")],
                "",
            ),
            200,
        )
        .await;
    contract
        .expect(
            deps,
            Route::Stats,
            owner_call(
                "GET",
                "/stats",
                Value::Null,
                &[("from", "2026-12-31"), ("to", "2026-12-01")],
                "",
            ),
            400,
        )
        .await;
    contract
        .expect(
            deps,
            Route::Suppressions,
            owner_call("GET", "/suppressions", Value::Null, &[], ""),
            200,
        )
        .await;
    contract
        .expect(
            deps,
            Route::LiftSuppression,
            owner_call(
                "DELETE",
                "/suppressions/ana%40example.com",
                json!({"email": "ana@example.com"}),
                &[],
                "",
            ),
            404,
        )
        .await;
    {
        let mut conn = stack.db.connection().await;
        diesel::sql_query(format!(
            "INSERT INTO suppressions (tenant_id, address_hash, email, reason, at) \
             VALUES ('{}', sha256('ana@example.com'), 'ana@example.com', 'bounce', now())",
            stack.tenant.tenant_id
        ))
        .execute(&mut conn)
        .await
        .expect("a suppression");
    }
    let listed = contract
        .expect(
            deps,
            Route::Suppressions,
            owner_call("GET", "/suppressions", Value::Null, &[], ""),
            200,
        )
        .await;
    assert_eq!(listed["suppressions"][0]["email"], "ana@example.com");
    contract
        .expect(
            deps,
            Route::LiftSuppression,
            owner_call(
                "DELETE",
                "/suppressions/ana%40example.com",
                json!({"email": "ana@example.com"}),
                &[],
                "",
            ),
            204,
        )
        .await;

    // Every operation's success answer was seen.
    for (route, status) in [
        (Route::Availability, 200),
        (Route::Book, 201),
        (Route::EnterJob, 201),
        (Route::Confirm, 200),
        (Route::Decline, 200),
        (Route::Health, 200),
        (Route::ListJobs, 200),
        (Route::GetJob, 200),
        (Route::ListContacts, 200),
        (Route::GetContact, 200),
        (Route::Transition("start"), 200),
        (Route::Transition("complete"), 200),
        (Route::Transition("no-show"), 200),
        (Route::Transition("cancel"), 200),
        (Route::Transition("reschedule"), 200),
        (Route::Manage("view"), 200),
        (Route::Manage("cancel"), 200),
        (Route::Manage("reschedule"), 200),
        (Route::RegisterWebhook, 201),
        (Route::ListWebhooks, 200),
        (Route::DeleteWebhook, 204),
        (Route::WebhookDeliveries, 200),
        (Route::CreateFeed, 201),
        (Route::RevokeFeed, 204),
        (Route::Feed, 200),
        (Route::Stats, 200),
        (Route::Suppressions, 200),
        (Route::LiftSuppression, 204),
    ] {
        let (method, path) = (route.method(), route.path());
        assert!(
            contract
                .seen
                .contains(&(method.to_owned(), path.to_owned(), status)),
            "{method} {path} {status} not exercised"
        );
    }
    // And every path in the spec is one of the routes above.
    let documented: BTreeSet<&str> = contract.spec["paths"]
        .as_object()
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(documented, Route::ALL.map(Route::path).into());
}

/// A setup row: the status expected, the route, the request's path, path parameters, query and
/// body, and whether it carries the owner's token.
type SetupRow = (u16, Route, String, Value, Query, &'static str, bool);

#[tokio::test(flavor = "multi_thread")]
async fn the_setup_and_contact_data_routes_answer_as_openapi_json_describes() {
    let stack = Stack::default().await;
    let token = stack.token();
    let job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "export@example.com")
        .await;
    let contact = stack
        .get_contacts(&[("q", "export@")], token.as_str())
        .await;
    let contact = contact["contacts"][0]["id"].as_str().unwrap().to_owned();
    let mut contract = Contract::load();
    let haircut = stack.haircut.to_string();
    let nobody = Uuid::nil().to_string();
    let ana = stack
        .owner_send(
            ("post", "/staff"),
            "/staff",
            Value::Null,
            &[],
            &format!(r#"{{"slug": "ana", "name": "Ana", "serviceIds": ["{haircut}"]}}"#),
            token.as_str(),
        )
        .await;
    assert_eq!(ana.status, 201, "{ana}");
    let ana = ana["staff"]["id"].as_str().unwrap().to_owned();
    let staff_rows: Vec<SetupRow> = vec![
        (
            200,
            SETUP_ROUTES[11],
            "/staff".into(),
            Value::Null,
            &[],
            "",
            true,
        ),
        (
            401,
            SETUP_ROUTES[11],
            "/staff".into(),
            Value::Null,
            &[],
            "",
            false,
        ),
        (
            201,
            SETUP_ROUTES[12],
            "/staff".into(),
            Value::Null,
            &[],
            r#"{"slug": "ben", "name": "Ben", "capacity": 2, "workingHours": {"tue": [["09:00", "17:00"]]}, "dateOverrides": {"2026-12-24": []}}"#,
            true,
        ),
        (
            400,
            SETUP_ROUTES[12],
            "/staff".into(),
            Value::Null,
            &[],
            r#"{"slug": "Ben!"}"#,
            true,
        ),
        (
            404,
            SETUP_ROUTES[12],
            "/staff".into(),
            Value::Null,
            &[],
            r#"{"slug": "cleo", "name": "Cleo", "serviceIds": ["00000000-0000-0000-0000-000000000000"]}"#,
            true,
        ),
        (
            200,
            SETUP_ROUTES[13],
            format!("/staff/{ana}"),
            json!({"staffId": ana}),
            &[],
            r#"{"capacity": 3, "email": "ana@salon.example"}"#,
            true,
        ),
        (
            400,
            SETUP_ROUTES[13],
            format!("/staff/{ana}"),
            json!({"staffId": ana}),
            &[],
            r#"{"capacity": 0}"#,
            true,
        ),
        (
            404,
            SETUP_ROUTES[13],
            format!("/staff/{nobody}"),
            json!({"staffId": nobody}),
            &[],
            r#"{"active": false}"#,
            true,
        ),
        (
            200,
            SETUP_ROUTES[14],
            format!("/staff/{ana}/working-hours"),
            json!({"staffId": ana}),
            &[],
            r#"{"mon": [["09:00", "12:00"]]}"#,
            true,
        ),
        (
            400,
            SETUP_ROUTES[14],
            format!("/staff/{ana}/working-hours"),
            json!({"staffId": ana}),
            &[],
            r#"{"mon": [["12:00", "09:00"]]}"#,
            true,
        ),
        (
            404,
            SETUP_ROUTES[14],
            format!("/staff/{nobody}/working-hours"),
            json!({"staffId": nobody}),
            &[],
            r#"{"mon": []}"#,
            true,
        ),
        (
            200,
            SETUP_ROUTES[15],
            format!("/staff/{ana}/date-overrides/2026-12-24"),
            json!({"staffId": ana, "date": "2026-12-24"}),
            &[],
            "[]",
            true,
        ),
        (
            400,
            SETUP_ROUTES[15],
            format!("/staff/{ana}/date-overrides/2030-01-01"),
            json!({"staffId": ana, "date": "2030-01-01"}),
            &[],
            "[]",
            true,
        ),
        (
            404,
            SETUP_ROUTES[15],
            format!("/staff/{nobody}/date-overrides/2026-12-24"),
            json!({"staffId": nobody, "date": "2026-12-24"}),
            &[],
            "[]",
            true,
        ),
        (
            200,
            SETUP_ROUTES[16],
            format!("/staff/{ana}/date-overrides/2026-12-24"),
            json!({"staffId": ana, "date": "2026-12-24"}),
            &[],
            "",
            true,
        ),
        (
            404,
            SETUP_ROUTES[16],
            format!("/staff/{nobody}/date-overrides/2026-12-24"),
            json!({"staffId": nobody, "date": "2026-12-24"}),
            &[],
            "",
            true,
        ),
    ];
    let rows: Vec<SetupRow> = vec![
        (
            200,
            SETUP_ROUTES[0],
            "/tenant".into(),
            Value::Null,
            &[],
            "",
            true,
        ),
        (
            401,
            SETUP_ROUTES[0],
            "/tenant".into(),
            Value::Null,
            &[],
            "",
            false,
        ),
        (
            200,
            SETUP_ROUTES[1],
            "/tenant".into(),
            Value::Null,
            &[],
            r#"{"settings": {"slotIntervalMinutes": 15}}"#,
            true,
        ),
        (
            400,
            SETUP_ROUTES[1],
            "/tenant".into(),
            Value::Null,
            &[],
            r#"{"settings": {"bogus": 1}}"#,
            true,
        ),
        (
            200,
            SETUP_ROUTES[2],
            "/tenant/working-hours".into(),
            Value::Null,
            &[],
            r#"{"mon": [["13:00", "17:00"]]}"#,
            true,
        ),
        (
            400,
            SETUP_ROUTES[2],
            "/tenant/working-hours".into(),
            Value::Null,
            &[],
            r#"{"mon": [["17:00", "13:00"]]}"#,
            true,
        ),
        (
            200,
            SETUP_ROUTES[3],
            "/tenant/date-overrides/2026-12-24".into(),
            json!({"date": "2026-12-24"}),
            &[],
            r#"[["09:00", "13:00"]]"#,
            true,
        ),
        (
            400,
            SETUP_ROUTES[3],
            "/tenant/date-overrides/2030-01-01".into(),
            json!({"date": "2030-01-01"}),
            &[],
            "[]",
            true,
        ),
        (
            200,
            SETUP_ROUTES[4],
            "/tenant/date-overrides/2026-12-24".into(),
            json!({"date": "2026-12-24"}),
            &[],
            "",
            true,
        ),
        (
            200,
            SETUP_ROUTES[5],
            "/tenant/changes".into(),
            Value::Null,
            &[("limit", "5")],
            "",
            true,
        ),
        (
            400,
            SETUP_ROUTES[5],
            "/tenant/changes".into(),
            Value::Null,
            &[("limit", "0")],
            "",
            true,
        ),
        (
            200,
            SETUP_ROUTES[6],
            "/services".into(),
            Value::Null,
            &[],
            "",
            true,
        ),
        (
            201,
            SETUP_ROUTES[7],
            "/services".into(),
            Value::Null,
            &[],
            r#"{"slug": "trim", "name": "Trim", "durationMinutes": 20}"#,
            true,
        ),
        (
            400,
            SETUP_ROUTES[7],
            "/services".into(),
            Value::Null,
            &[],
            r#"{"slug": "Trim!"}"#,
            true,
        ),
        (
            200,
            SETUP_ROUTES[8],
            format!("/services/{haircut}"),
            json!({"serviceId": haircut}),
            &[],
            r#"{"active": false}"#,
            true,
        ),
        (
            404,
            SETUP_ROUTES[8],
            format!("/services/{nobody}"),
            json!({"serviceId": nobody}),
            &[],
            r#"{"active": false}"#,
            true,
        ),
        (
            400,
            SETUP_ROUTES[8],
            format!("/services/{haircut}"),
            json!({"serviceId": haircut}),
            &[],
            r#"{"durationMinutes": 2}"#,
            true,
        ),
        (
            200,
            SETUP_ROUTES[9],
            format!("/contacts/{contact}/export"),
            json!({"contactId": contact}),
            &[],
            "",
            true,
        ),
        (
            404,
            SETUP_ROUTES[9],
            format!("/contacts/{nobody}/export"),
            json!({"contactId": nobody}),
            &[],
            "",
            true,
        ),
        (
            204,
            SETUP_ROUTES[10],
            format!("/contacts/{contact}"),
            json!({"contactId": contact}),
            &[],
            "",
            true,
        ),
        (
            404,
            SETUP_ROUTES[10],
            format!("/contacts/{nobody}"),
            json!({"contactId": nobody}),
            &[],
            "",
            true,
        ),
        // An erased contact's export: no email left to show.
        (
            200,
            SETUP_ROUTES[9],
            format!("/contacts/{contact}/export"),
            json!({"contactId": contact}),
            &[],
            "",
            true,
        ),
    ];
    for (status, route, path, params, query, body, signed) in staff_rows.into_iter().chain(rows) {
        let method = route.method().to_ascii_uppercase();
        let auth = if signed {
            Auth::Bearer(&token)
        } else {
            Auth::None
        };
        let request = owner_event(
            &method,
            &format!("{method} {}", route.path()),
            &path,
            params,
            query,
            body,
            auth,
            &[],
        );
        let reply = stack.deps.send(route, request).await;
        assert_eq!(reply.status, status, "{method} {path}: {reply}");
        if status != 204 {
            contract.check(route, reply);
        }
    }
    let erased = stack.get_job(&job, token.as_str()).await;
    assert_eq!(erased["job"]["client"], json!({"name": "Erased"}));
}
