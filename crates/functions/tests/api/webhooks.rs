//! Webhooks end to end: registered through the owner routes, recorded by the job changes, sent
//! by the relay to a real HTTP receiver on loopback in this process, and verified by the
//! Standard Webhooks reference library (Python's `standardwebhooks`, scripts/webhook_check.py).
//! The refusal tests only ever register or resolve: nothing is sent to a refused address.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use booking_functions::Deps;
use booking_functions::email_relay::run_once;
use booking_repository::changes::{self, OwnerChange, Requester};
use booking_repository::diesel::connection::{Instrumentation, InstrumentationEvent};
use booking_repository::diesel_async::{AsyncConnection, RunQueryDsl};
use booking_test_support::{load, salon};
use chrono::{DateTime, Duration, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::support::*;

const LOOPBACK: &[(&str, &str)] = &[("WEBHOOK_ALLOW_LOOPBACK", "true")];

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Captured {
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
    /// The status the receiver answered it with.
    answered: u16,
}

/// A tiny HTTP receiver on 127.0.0.1 (hyper's server connection): records every request and
/// answers with the status it is set to. Stopping it closes the port (connections refused)
/// until it is started again on the same port.
struct Receiver {
    addr: SocketAddr,
    answer: Arc<AtomicU16>,
    captured: Arc<Mutex<Vec<Captured>>>,
    task: Option<JoinHandle<()>>,
}

impl Receiver {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut receiver = Self {
            addr: listener.local_addr().unwrap(),
            answer: Arc::new(AtomicU16::new(200)),
            captured: Arc::default(),
            task: None,
        };
        receiver.serve(listener);
        receiver
    }

    fn serve(&mut self, listener: TcpListener) {
        let (answer, captured) = (self.answer.clone(), self.captured.clone());
        self.task = Some(tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (answer, captured) = (answer.clone(), captured.clone());
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                            let (answer, captured) = (answer.clone(), captured.clone());
                            async move {
                                let path = request.uri().path().to_owned();
                                let headers = request
                                    .headers()
                                    .iter()
                                    .map(|(k, v)| {
                                        (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                                    })
                                    .collect();
                                let body = request.into_body().collect().await.unwrap().to_bytes();
                                let status = AtomicU16::load(&answer, Ordering::SeqCst);
                                captured.lock().unwrap().push(Captured {
                                    path,
                                    headers,
                                    body: String::from_utf8(body.to_vec()).unwrap(),
                                    answered: status,
                                });
                                Ok::<_, Infallible>(
                                    hyper::Response::builder()
                                        .status(status)
                                        .body(Full::new(Bytes::from("x".repeat(1000))))
                                        .unwrap(),
                                )
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }));
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn answer_with(&self, status: u16) {
        self.answer.store(status, Ordering::SeqCst);
    }

    /// Closes the port: connections are refused from now on.
    async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same port.
    async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    fn captured(&self) -> Vec<Captured> {
        self.captured.lock().unwrap().clone()
    }
}

/// A Python that has `standardwebhooks`: `WEBHOOK_PYTHON`, else the active venv's, else the
/// repo's `.venv` (scripts/lib.sh installs it there).
fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    [
        std::env::var_os("WEBHOOK_PYTHON").map(PathBuf::from),
        std::env::var_os("VIRTUAL_ENV").map(|venv| PathBuf::from(venv).join("bin/python3")),
        Some(root.join(".venv/bin/python3")),
    ]
    .into_iter()
    .flatten()
    .find(|python| {
        Command::new(python)
            .args(["-c", "import standardwebhooks"])
            .output()
            .is_ok_and(|out| out.status.success())
    })
    .expect(
        "a Python with the standardwebhooks package: run through scripts/test (it installs it \
         in .venv), or set WEBHOOK_PYTHON",
    )
}

/// Each request as the reference library sees it: `{"verified", "id", "payload"}`.
fn verify_with_reference_library(secret: &str, requests: &[Captured]) -> Vec<Value> {
    use std::io::Write;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/webhook_check.py");
    let input = json!({
        "secret": secret,
        "requests": requests
            .iter()
            .map(|r| json!({"headers": r.headers, "body": r.body}))
            .collect::<Vec<_>>(),
    });
    let mut child = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn register_request(body: &Value, token: &str) -> lambda_http::Request {
    owner_event(
        "POST",
        "POST /webhooks",
        "/webhooks",
        Value::Null,
        &[],
        &body.to_string(),
        Auth::Bearer(token),
        &[],
    )
}

async fn register(deps: &Deps, url: &str, events: &[&str], token: &str) -> Reply {
    deps.send(
        Route::RegisterWebhook,
        register_request(&json!({"url": url, "events": events}), token),
    )
    .await
}

async fn deliveries(deps: &Deps, webhook: &str, token: &str) -> Reply {
    let request = owner_get(
        "/webhooks/{id}/deliveries",
        &format!("/webhooks/{webhook}/deliveries"),
        json!({"id": webhook}),
        &[],
        Auth::Bearer(token),
    );
    deps.send(Route::WebhookDeliveries, request).await
}

async fn delete(deps: &Deps, webhook: &str, token: &str) -> Reply {
    let request = owner_event(
        "DELETE",
        "DELETE /webhooks/{id}",
        &format!("/webhooks/{webhook}"),
        json!({"id": webhook}),
        &[],
        "",
        Auth::Bearer(token),
        &[],
    );
    deps.send(Route::DeleteWebhook, request).await
}

async fn enter(deps: &Deps, stack: &Stack, start: &str, email: &str, token: &str) -> String {
    let body =
        json!({"serviceId": stack.haircut, "start": start, "name": "Walk In", "email": email});
    let entered = deps
        .send(
            Route::EnterJob,
            owner_request(None, None, &body.to_string(), token.into()),
        )
        .await;
    assert_eq!(entered.status, 201, "{entered}");
    entered["job"]["id"].as_str().unwrap().to_owned()
}

async fn book(deps: &Deps, stack: &Stack, start: &str, email: &str) -> String {
    let created = deps
        .post_book(stack.haircut, &booking_body(start, email))
        .await;
    assert_eq!(created.status, 201, "{created}");
    created["job"]["id"].as_str().unwrap().to_owned()
}

/// One relay pass as of `at`.
async fn relay(deps: &Deps, at: DateTime<Utc>) -> Value {
    run_once(deps, move || at).await.unwrap()
}

const ALL_EVENTS: [&str; 7] = [
    "booking.created",
    "booking.confirmed",
    "booking.declined",
    "booking.cancelled",
    "booking.rescheduled",
    "booking.completed",
    "booking.no_show",
];

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_gets_every_event_of_a_day_once_and_the_reference_library_verifies_each() {
    let stack = Stack::pending().await;
    let deps = stack.container_with(LOOPBACK);
    let token = stack.token();
    let receiver = Receiver::start().await;
    let registered = register(&deps, &receiver.url("/hooks"), &ALL_EVENTS, &token).await;
    assert_eq!(registered.status, 201, "{registered}");
    let secret = registered["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(registered["webhook"]["events"], json!(ALL_EVENTS));

    // Friday 09:00: Ana books (pending), is confirmed, moved; Ben books and is declined;
    // Cat is entered by hand and cancelled; Dan was entered for 08:00 and did not come.
    let ana = book(
        &deps,
        &stack,
        &ny_text(2026, 12, 7, 10, 0),
        "ana@example.com",
    )
    .await;
    assert_eq!(deps.post_confirm(&ana, &token).await.status, 200);
    let moved = json!({"start": ny_text(2026, 12, 7, 11, 0)}).to_string();
    assert_eq!(
        deps.post_transition(&ana, "reschedule", &moved, &token)
            .await
            .status,
        200
    );
    let ben = book(
        &deps,
        &stack,
        &ny_text(2026, 12, 7, 13, 0),
        "ben@example.com",
    )
    .await;
    let declined = deps
        .post_decline(&ben, &json!({"reason": "Fully booked"}).to_string(), &token)
        .await;
    assert_eq!(declined.status, 200, "{declined}");
    let cat = enter(
        &deps,
        &stack,
        &ny_text(2026, 12, 8, 10, 0),
        "cat@example.com",
        &token,
    )
    .await;
    assert_eq!(
        deps.post_transition(&cat, "cancel", "", &token)
            .await
            .status,
        200
    );
    let dan = enter(
        &deps,
        &stack,
        &ny_text(2026, 12, 4, 8, 0),
        "dan@example.com",
        &token,
    )
    .await;
    assert_eq!(
        deps.post_transition(&dan, "no-show", "", &token)
            .await
            .status,
        200
    );
    // Monday: Ana comes and is done (a start sends no event: PRODUCT.md lists none for it).
    let mut monday = stack.container_with(LOOPBACK);
    monday.clock = fixed_clock(ny(2026, 12, 7, 11, 50));
    assert_eq!(
        monday
            .post_transition(&ana, "start", "", &token)
            .await
            .status,
        200
    );
    assert_eq!(
        monday
            .post_transition(&ana, "complete", "", &token)
            .await
            .status,
        200
    );

    // Nothing is sent before the relay runs (after commit); two passes send each once.
    assert!(receiver.captured().is_empty());
    relay(&deps, ny(2026, 12, 7, 11, 51)).await;
    relay(&deps, ny(2026, 12, 7, 11, 52)).await;

    let got = receiver.captured();
    let mut seen: Vec<(String, String)> = got
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).unwrap();
            (
                body["type"].as_str().unwrap().to_owned(),
                body["data"]["job"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let mut expected: Vec<(String, String)> = [
        ("booking.created", &ana),
        ("booking.confirmed", &ana),
        ("booking.rescheduled", &ana),
        ("booking.completed", &ana),
        ("booking.created", &ben),
        ("booking.declined", &ben),
        ("booking.created", &cat),
        ("booking.cancelled", &cat),
        ("booking.created", &dan),
        ("booking.no_show", &dan),
    ]
    .into_iter()
    .map(|(kind, job)| (kind.to_owned(), job.clone()))
    .collect();
    expected.sort();
    assert_eq!(
        seen, expected,
        "each event exactly once (a decline sends only itself)"
    );
    assert!(got.iter().all(|r| r.path == "/hooks"));
    let ids: std::collections::BTreeSet<&str> = got
        .iter()
        .map(|r| r.headers["webhook-id"].as_str())
        .collect();
    assert_eq!(ids.len(), got.len(), "one webhook-id per event");

    // The reference library verifies every request, and refuses a tampered one.
    let verified = verify_with_reference_library(&secret, &got);
    assert!(
        verified.iter().all(|v| v["verified"] == true),
        "{verified:?}"
    );
    let mut tampered = got[0].clone();
    tampered.body = tampered.body.replace("\"type\"", "\"type\" ");
    let refused = verify_with_reference_library(&secret, &[tampered]);
    assert_eq!(refused[0]["verified"], false, "{refused:?}");
    let wrong = register(&deps, &receiver.url("/other"), &["booking.created"], &token).await;
    let other_secret = wrong["secret"].as_str().unwrap();
    assert_ne!(other_secret, secret);
    assert!(
        verify_with_reference_library(other_secret, &got[..1])[0]["verified"] == false,
        "another endpoint's secret does not verify this one's requests"
    );

    // Each body carries the job as its change left it, as the API shows jobs.
    let payload = |kind: &str, job: &str| -> Value {
        verified
            .iter()
            .map(|v| v["payload"].clone())
            .find(|p| p["type"] == kind && p["data"]["job"]["id"] == job)
            .unwrap()
    };
    assert_eq!(
        payload("booking.created", &ana)["data"]["job"]["status"],
        "pending-confirmation"
    );
    assert_eq!(
        payload("booking.confirmed", &ana)["data"]["job"]["status"],
        "scheduled"
    );
    let rescheduled = payload("booking.rescheduled", &ana);
    assert_eq!(
        rescheduled["data"]["job"]["start"],
        "2026-12-07T11:00:00-05:00"
    );
    assert_eq!(rescheduled["timestamp"], "2026-12-04T09:00:00-05:00");
    assert_eq!(
        payload("booking.completed", &ana)["data"]["job"]["status"],
        "completed"
    );
    let declined = payload("booking.declined", &ben);
    assert_eq!(declined["data"]["job"]["status"], "cancelled");
    assert_eq!(declined["data"]["job"]["declineReason"], "Fully booked");
    assert_eq!(
        payload("booking.created", &cat)["data"]["job"]["source"],
        "hand-entered"
    );
    assert_eq!(
        payload("booking.cancelled", &cat)["data"]["job"]["cancelledBy"],
        "owner"
    );
    assert_eq!(
        payload("booking.no_show", &dan)["data"]["job"]["status"],
        "no-show"
    );
    let now_shown = deps.get_job(&ben, &token).await;
    assert_eq!(
        declined["data"]["job"]["client"],
        now_shown["job"]["client"]
    );

    // The owner sees every delivery delivered at the first attempt.
    let webhook = registered["webhook"]["id"].as_str().unwrap();
    let listed = deliveries(&deps, webhook, &token).await;
    assert_eq!(listed.status, 200, "{listed}");
    let listed = listed["deliveries"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 10);
    for delivery in &listed {
        assert_eq!(
            (
                &delivery["status"],
                &delivery["attempts"],
                &delivery["lastStatusCode"]
            ),
            (&json!("delivered"), &json!(1), &json!(200)),
            "{delivery}"
        );
        assert!(delivery.get("nextAttemptAt").is_none());
        assert!(ids.contains(delivery["eventId"].as_str().unwrap()));
    }
    // The secret is shown once: never in the list.
    let all = deps
        .send(
            Route::ListWebhooks,
            owner_get(
                "/webhooks",
                "/webhooks",
                Value::Null,
                &[],
                Auth::Bearer(&token),
            ),
        )
        .await;
    assert_eq!(all.status, 200);
    assert_eq!(all["webhooks"].as_array().unwrap().len(), 2);
    assert!(!all.body.to_string().contains(&secret[6..]), "{all}");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_receiver_was_down_the_retries_deliver_once_with_the_same_webhook_id() {
    let stack = Stack::default().await;
    let deps = stack.container_with(LOOPBACK);
    let token = stack.token();
    let mut receiver = Receiver::start().await;
    let registered = register(&deps, &receiver.url("/in"), &["booking.created"], &token).await;
    let secret = registered["secret"].as_str().unwrap().to_owned();
    let webhook = registered["webhook"]["id"].as_str().unwrap().to_owned();
    let job = book(
        &deps,
        &stack,
        &ny_text(2026, 12, 7, 10, 0),
        "ana@example.com",
    )
    .await;
    let t0 = friday_morning();

    // It answers 500: the delivery stays pending, tried again later.
    receiver.answer_with(500);
    relay(&deps, t0).await;
    let listed = deliveries(&deps, &webhook, &token).await;
    let first = &listed["deliveries"][0];
    assert_eq!(
        (
            &first["status"],
            &first["attempts"],
            &first["lastStatusCode"]
        ),
        (&json!("pending"), &json!(1), &json!(500)),
        "{listed}"
    );
    assert!(first["nextAttemptAt"].is_string());
    // Not due yet: a pass a second later sends nothing.
    relay(&deps, t0 + Duration::seconds(1)).await;
    assert_eq!(receiver.captured().len(), 1);

    // Then it is gone for ten minutes (connections refused): tried, still pending.
    receiver.stop().await;
    for minute in 1..=10 {
        relay(&deps, t0 + Duration::minutes(minute)).await;
    }
    let listed = deliveries(&deps, &webhook, &token).await;
    let attempts = listed["deliveries"][0]["attempts"].as_u64().unwrap();
    assert!(attempts >= 3, "{listed}");
    assert_eq!(listed["deliveries"][0]["status"], "pending");
    // The excerpt kept says why, briefly.
    #[derive(diesel::QueryableByName)]
    struct Kept {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        last_response: Option<String>,
    }
    let mut conn = stack.db.connection().await;
    let kept: Kept = diesel::sql_query("SELECT last_response FROM webhook_deliveries")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert!(kept.last_response.unwrap().starts_with("connect:"));

    // Back, answering 200: the next due pass delivers it, and none after sends it again.
    receiver.restart().await;
    receiver.answer_with(200);
    for hours in [1, 2, 5, 10, 20] {
        relay(&deps, t0 + Duration::hours(hours)).await;
    }
    let got = receiver.captured();
    assert_eq!(
        got.iter().filter(|r| r.answered == 200).count(),
        1,
        "delivered once"
    );
    assert_eq!(
        got.len(),
        2,
        "the 500 and the delivery: refused connections reach nothing"
    );
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    assert_eq!(got[0].body, got[1].body, "the same body on every attempt");
    let verified = verify_with_reference_library(&secret, &got);
    assert!(
        verified.iter().all(|v| v["verified"] == true),
        "{verified:?}"
    );
    assert_eq!(verified[1]["payload"]["data"]["job"]["id"], json!(job));
    let listed = deliveries(&deps, &webhook, &token).await;
    assert_eq!(listed["deliveries"][0]["status"], "delivered", "{listed}");
    // The whole 1000-byte answer is not kept, only an excerpt.
    let kept: Kept = diesel::sql_query("SELECT last_response FROM webhook_deliveries")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(kept.last_response.unwrap().len(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_refused_for_a_day_is_given_up_as_failed() {
    let stack = Stack::default().await;
    let deps = stack.container_with(LOOPBACK);
    let token = stack.token();
    let receiver = Receiver::start().await;
    receiver.answer_with(503);
    let registered = register(&deps, &receiver.url("/in"), &["booking.created"], &token).await;
    let webhook = registered["webhook"]["id"].as_str().unwrap().to_owned();
    book(
        &deps,
        &stack,
        &ny_text(2026, 12, 7, 10, 0),
        "ana@example.com",
    )
    .await;
    let t0 = friday_morning();
    // A pass every 30 minutes for 23 hours: still pending.
    for half_hours in 0..46 {
        relay(&deps, t0 + Duration::minutes(30 * half_hours)).await;
    }
    let listed = deliveries(&deps, &webhook, &token).await;
    assert_eq!(listed["deliveries"][0]["status"], "pending", "{listed}");
    for half_hours in 46..60 {
        relay(&deps, t0 + Duration::minutes(30 * half_hours)).await;
    }
    let listed = deliveries(&deps, &webhook, &token).await;
    let delivery = &listed["deliveries"][0];
    assert_eq!(delivery["status"], "failed", "{listed}");
    assert_eq!(delivery["lastStatusCode"], 503);
    assert!(delivery.get("nextAttemptAt").is_none());
    let tried = delivery["attempts"].as_u64().unwrap();
    assert_eq!(receiver.captured().len() as u64, tried);
    relay(&deps, t0 + Duration::days(3)).await;
    assert_eq!(
        receiver.captured().len() as u64,
        tried,
        "nothing after giving up"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_urls_and_unknown_events_are_400_and_store_nothing() {
    let stack = Stack::default().await;
    let token = stack.token();
    let strict = stack.container();
    let loopback = stack.container_with(LOOPBACK);
    let long = format!("https://hooks.example.com/{}", "a".repeat(2000));
    for (deps, url) in [
        (&strict, "http://10.0.0.1/hook"),
        (&strict, "https://10.0.0.1/hook"),
        (&strict, "https://169.254.169.254/latest/meta-data/"),
        (&strict, "https://[fd00:ec2::254]/"),
        (&strict, "https://100.64.0.1/"),
        (&strict, "https://192.168.0.10/"),
        (&strict, "https://[::ffff:10.0.0.1]/"),
        // A name that resolves to loopback, without the setting.
        (&strict, "https://localhost/hook"),
        (&strict, "http://127.0.0.1:9/hook"),
        (&strict, "https://127.0.0.1/hook"),
        (&strict, "http://hooks.example.com/"),
        (&strict, "/relative"),
        (&strict, "hooks.example.com/in"),
        (&strict, long.as_str()),
        // The setting allows loopback only.
        (&loopback, "http://10.0.0.1/hook"),
        (&loopback, "https://169.254.169.254/"),
        (&loopback, "http://169.254.169.254/"),
        (&loopback, "https://172.16.0.1/"),
        (&loopback, "http://localhost:9/hook"),
    ] {
        let reply = register(deps, url, &["booking.created"], &token).await;
        let problem = expect_problem(reply, 400, "invalid_request");
        assert_eq!(problem["errors"][0]["field"], "url", "{url}: {problem}");
    }
    let reply = register(
        &strict,
        "https://hooks.example.com/in",
        &["booking.created", "booking.exploded", "job.done"],
        &token,
    )
    .await;
    let problem = expect_problem(reply, 400, "invalid_request");
    let detail = problem.to_string();
    assert!(
        detail.contains("booking.exploded") && detail.contains("job.done"),
        "{problem}"
    );
    expect_problem(
        register(&strict, "https://hooks.example.com/in", &[], &token).await,
        400,
        "invalid_request",
    );
    let no_events = strict
        .send(
            Route::RegisterWebhook,
            register_request(
                &json!({"url": "https://hooks.example.com/in", "events": "booking.created"}),
                &token,
            ),
        )
        .await;
    expect_problem(no_events, 400, "invalid_request");
    assert_eq!(stack.count("webhooks").await, 0);
    // Without a token: 401 before anything else.
    let anonymous = strict
        .send(
            Route::RegisterWebhook,
            owner_event(
                "POST",
                "POST /webhooks",
                "/webhooks",
                Value::Null,
                &[],
                "{}",
                Auth::None,
                &[],
            ),
        )
        .await;
    expect_problem(anonymous, 401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_address_is_checked_again_at_send_time() {
    // Registered where loopback was allowed, sent where it is not (as a name whose answer
    // changed to a refused address would be): the relay refuses before connecting.
    let stack = Stack::default().await;
    let token = stack.token();
    let receiver = Receiver::start().await;
    let local = stack.container_with(LOOPBACK);
    let registered = register(&local, &receiver.url("/in"), &["booking.created"], &token).await;
    assert_eq!(registered.status, 201, "{registered}");
    book(
        &local,
        &stack,
        &ny_text(2026, 12, 7, 10, 0),
        "ana@example.com",
    )
    .await;
    let strict = stack.container();
    relay(&strict, friday_morning()).await;
    assert!(
        receiver.captured().is_empty(),
        "nothing reached the refused address"
    );
    #[derive(diesel::QueryableByName)]
    struct Kept {
        #[diesel(sql_type = diesel::sql_types::Text)]
        status: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        last_response: Option<String>,
    }
    let mut conn = stack.db.connection().await;
    let kept: Kept = diesel::sql_query("SELECT status, last_response FROM webhook_deliveries")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(kept.status, "pending");
    assert!(
        kept.last_response.unwrap().starts_with("refused"),
        "why is kept"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_relays_at_once_deliver_each_event_to_each_endpoint_once() {
    let stack = Stack::default().await;
    let deps = stack.container_with(LOOPBACK);
    let token = stack.token();
    let receiver = Receiver::start().await;
    for path in ["/a", "/b"] {
        let registered = register(&deps, &receiver.url(path), &ALL_EVENTS, &token).await;
        assert_eq!(registered.status, 201);
    }
    for (i, hour) in [10, 11, 13, 14, 15, 16].into_iter().enumerate() {
        let job = book(
            &deps,
            &stack,
            &ny_text(2026, 12, 7, hour, 0),
            &format!("c{i}@example.com"),
        )
        .await;
        if i % 2 == 0 {
            assert_eq!(
                deps.post_transition(&job, "cancel", "", &token)
                    .await
                    .status,
                200
            );
        }
    }
    let (one, two) = (
        stack.container_with(LOOPBACK),
        stack.container_with(LOOPBACK),
    );
    let at = friday_morning();
    let (a, b) = tokio::join!(run_once(&one, move || at), run_once(&two, move || at));
    a.unwrap();
    b.unwrap();
    let got = receiver.captured();
    let mut pairs: Vec<(String, String)> = got
        .iter()
        .map(|r| (r.path.clone(), r.headers["webhook-id"].clone()))
        .collect();
    pairs.sort();
    let before = pairs.len();
    pairs.dedup();
    assert_eq!(before, pairs.len(), "no event sent twice to one endpoint");
    assert_eq!(
        pairs.len(),
        2 * 9,
        "six bookings and three cancellations, to each endpoint"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_relays_claiming_at_once_never_lease_the_same_delivery() {
    let stack = Stack::default().await;
    let deps = stack.container_with(LOOPBACK);
    let token = stack.token();
    let receiver = Receiver::start().await;
    for path in ["/a", "/b", "/c", "/d"] {
        let registered = register(&deps, &receiver.url(path), &ALL_EVENTS, &token).await;
        assert_eq!(registered.status, 201);
    }
    for (i, hour) in [10, 11, 13, 14, 15, 16].into_iter().enumerate() {
        let job = book(
            &deps,
            &stack,
            &ny_text(2026, 12, 7, hour, 0),
            &format!("c{i}@example.com"),
        )
        .await;
        assert_eq!(
            deps.post_transition(&job, "cancel", "", &token)
                .await
                .status,
            200
        );
    }
    // 12 events × 4 endpoints, leased one at a time by two relays on their own connections.
    let claim_all = async || {
        let mut conn = stack.db.connection().await;
        let mut leased = Vec::new();
        loop {
            let batch = booking_repository::webhooks::claim_due(&mut conn, friday_morning(), 1)
                .await
                .unwrap();
            if batch.is_empty() {
                return leased;
            }
            leased.extend(batch.into_iter().map(|d| (d.webhook_id, d.event_id)));
        }
    };
    let (one, two) = tokio::join!(claim_all(), claim_all());
    let mut all: Vec<_> = one.iter().chain(&two).copied().collect();
    all.sort();
    let leased = all.len();
    all.dedup();
    assert_eq!(
        leased,
        all.len(),
        "a delivery leased by both: {} and {}",
        one.len(),
        two.len()
    );
    assert_eq!(all.len(), 48);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_tenants_webhook_is_not_found_and_removing_one_stops_its_deliveries() {
    let stack = Stack::default().await;
    let deps = stack.container_with(LOOPBACK);
    let token = stack.token();
    let receiver = Receiver::start().await;
    let registered = register(&deps, &receiver.url("/in"), &["booking.created"], &token).await;
    let webhook = registered["webhook"]["id"].as_str().unwrap().to_owned();
    let other = load(&stack.db, &salon("other", Default::default())).await;
    let stranger = owner_token(other.tenant_id, 600);
    expect_problem(
        deliveries(&deps, &webhook, &stranger).await,
        404,
        "not_found",
    );
    expect_problem(delete(&deps, &webhook, &stranger).await, 404, "not_found");
    let theirs = deps
        .send(
            Route::ListWebhooks,
            owner_get(
                "/webhooks",
                "/webhooks",
                Value::Null,
                &[],
                Auth::Bearer(&stranger),
            ),
        )
        .await;
    assert_eq!(theirs["webhooks"], json!([]));
    expect_problem(
        deliveries(&deps, "not-a-uuid", &token).await,
        404,
        "not_found",
    );
    // Another tenant's bookings do not reach this tenant's endpoint.
    let other_deps = stack.container_with(LOOPBACK);
    let other_service = booking_test_support::service(&other, "haircut");
    let booked = other_deps
        .post_book(
            other_service,
            &booking_body(&ny_text(2026, 12, 7, 10, 0), "x@example.com"),
        )
        .await;
    assert_eq!(booked.status, 201);
    // Removed: its pending delivery goes with it, nothing is sent.
    book(
        &deps,
        &stack,
        &ny_text(2026, 12, 7, 11, 0),
        "ana@example.com",
    )
    .await;
    let removed = delete(&deps, &webhook, &token).await;
    assert_eq!(removed.status, 204);
    expect_problem(delete(&deps, &webhook, &token).await, 404, "not_found");
    relay(&deps, friday_morning()).await;
    assert!(receiver.captured().is_empty());
    assert_eq!(stack.count("webhook_deliveries").await, 0);
}

/// Counts the statements a connection runs.
struct Statements(Arc<Mutex<usize>>);

impl Instrumentation for Statements {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { .. } = event {
            *self.0.lock().unwrap() += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_with_three_endpoints_runs_no_more_statements_than_one_without() {
    let stack = Stack::default().await;
    let deps = stack.container_with(LOOPBACK);
    let token = stack.token();
    let first = book(&deps, &stack, &ny_text(2026, 12, 7, 10, 0), "a@example.com").await;
    let second = book(&deps, &stack, &ny_text(2026, 12, 7, 11, 0), "b@example.com").await;
    let cancel = async |job: &str| {
        let counted = Arc::new(Mutex::new(0));
        let mut conn = booking_repository::AsyncPgConnection::establish(&stack.db.url)
            .await
            .unwrap();
        conn.set_instrumentation(Statements(counted.clone()));
        let change = OwnerChange {
            tenant_id: stack.tenant.tenant_id,
            job_id: Uuid::parse_str(job).unwrap(),
            actor: "owner:test",
            now: friday_morning(),
            key: None,
            by: Requester::Owner,
        };
        changes::cancel(&mut conn, change, None).await.unwrap();
        *counted.lock().unwrap()
    };
    let without = cancel(&first).await;
    let receiver = Receiver::start().await;
    for path in ["/a", "/b", "/c"] {
        assert_eq!(
            register(&deps, &receiver.url(path), &ALL_EVENTS, &token)
                .await
                .status,
            201
        );
    }
    let with_three = cancel(&second).await;
    println!("cancel: {without} statements without webhooks, {with_three} with three endpoints");
    assert_eq!(
        with_three, without,
        "the deliveries ride in the history statement"
    );
    assert_eq!(stack.count("webhook_deliveries").await, 3);
    assert_eq!(stack.count("webhook_events").await, 1);
}
