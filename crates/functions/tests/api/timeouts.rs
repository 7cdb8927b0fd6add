//! A database that does not answer fails fast with 503 `unavailable`, never hangs the function
//! to its Lambda timeout. Bounds are hang detectors, not performance checks.

use std::time::{Duration, Instant};

use booking_email::Mailer;
use booking_repository::diesel;
use booking_repository::diesel_async::RunQueryDsl;
use serde_json::json;

use crate::support::*;

/// Well beyond the pool's timeouts, well within anything a test runner would call a hang.
const HANG: Duration = Duration::from_secs(10);

/// A "database" on loopback that takes connections and never says a word.
async fn silent_server() -> (tokio::task::JoinHandle<()>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (
        server,
        format!("postgres://postgres@127.0.0.1:{port}/booking"),
    )
}

/// A listener nobody accepts on: connections wait in its backlog, unanswered.
fn unaccepted_server() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (
        listener,
        format!("postgres://postgres@127.0.0.1:{port}/booking"),
    )
}

async fn availability_against(url: &str) -> (Duration, Reply) {
    let deps = deps_with(url, &[], Mailer::in_memory());
    let availability = deps.get_availability(uuid::Uuid::new_v4(), &[("from", "2026-12-07")]);
    let started = Instant::now();
    let response = tokio::time::timeout(HANG * 2, availability)
        .await
        .expect("the handler hung on a silent database");
    (started.elapsed(), response)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_accepts_and_never_answers_is_unavailable_within_seconds() {
    let (server, url) = silent_server().await;
    let (elapsed, response) = availability_against(&url).await;
    expect_problem(response, 503, "unavailable");
    assert!(elapsed < HANG, "took {elapsed:?}");
    server.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_never_accepts_is_unavailable_within_seconds() {
    let (_listener, url) = unaccepted_server();
    let (elapsed, response) = availability_against(&url).await;
    expect_problem(response, 503, "unavailable");
    assert!(elapsed < HANG, "took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_statement_waiting_on_a_lock_gives_up_with_unavailable() {
    let stack = Stack::pending().await;
    let job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    // Somebody else holds the tenant's guard (a stuck change, an operator's open transaction).
    let mut holder = stack.hold_the_guard().await;
    let token = stack.token();
    let started = Instant::now();
    let confirm = stack.post_confirm(&job, &token);
    let response = tokio::time::timeout(HANG * 2, confirm)
        .await
        .expect("the confirmation waited on the lock without end");
    let elapsed = started.elapsed();
    expect_problem(response, 503, "unavailable");
    assert!(elapsed < HANG, "took {elapsed:?}");
    diesel::sql_query("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
    assert_eq!(
        stack
            .count("jobs WHERE status = 'pending-confirmation'")
            .await,
        1
    );
    let _ = json!(null);
}
