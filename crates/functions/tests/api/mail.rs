//! The five mail flows as the functions produce them: recorded with the state change, handed to
//! the sender right after commit, and never able to fail or undo the change.

use booking_domain::BookingSettings;
use booking_functions::Deps;
use booking_repository::diesel_async::RunQueryDsl;
use booking_test_support::ses::{moto_url, ses_mailer};
use chrono::Duration;
use serde_json::json;
use std::time::Duration as StdDuration;

use crate::support::*;

fn sent(deps: &Deps) -> Vec<(String, String, String)> {
    deps.mailer
        .sent()
        .into_iter()
        .map(|mail| (mail.kind.as_str().to_owned(), mail.to, mail.subject))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instant_booking_mails_the_client_and_the_owner_once() {
    let stack = Stack::default().await;
    let body = booking_body(&ny_text(2026, 12, 7, 10, 0), "jane@example.com");
    let key = [("Idempotency-Key", "once")];
    assert_eq!(
        stack
            .post_book_with(stack.haircut, &body, &key)
            .await
            .status,
        201
    );
    // A replay sends nothing more.
    assert_eq!(
        stack
            .post_book_with(stack.haircut, &body, &key)
            .await
            .status,
        201
    );
    let mails = sent(&stack.deps);
    let kinds: Vec<(&str, &str)> = mails
        .iter()
        .map(|(k, to, _)| (k.as_str(), to.as_str()))
        .collect();
    assert_eq!(kinds.len(), 2, "{mails:?}");
    assert!(kinds.contains(&("client-booked", "jane@example.com")));
    assert!(kinds.contains(&("owner-new-booking", "owner@fifi.example")));
    assert_eq!(stack.count("emails WHERE status = 'sent'").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_confirmed_and_declined_bookings_each_send_their_mail() {
    let stack = Stack::pending().await;
    let confirmed = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "carla@example.com")
        .await;
    let declined = stack
        .book(&ny_text(2026, 12, 7, 13, 0), "dora@example.com")
        .await;
    let token = stack.token();
    let body = stack.post_confirm(&confirmed, &token).await;
    // The dashboard sees which mails went out.
    let emails = body["job"]["emails"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let seen: Vec<(&str, &str)> = emails
        .iter()
        .filter_map(|e| Some((e["kind"].as_str()?, e["status"].as_str()?)))
        .collect();
    assert!(
        seen.contains(&("client-pending", "sent")) && seen.contains(&("client-confirmed", "sent")),
        "{body}"
    );
    let reason = json!({"reason": "We are closed that afternoon."}).to_string();
    assert_eq!(
        stack.post_decline(&declined, &reason, &token).await.status,
        200
    );
    // An invalid transition sends nothing.
    assert_eq!(
        stack.post_decline(&declined, &reason, &token).await.status,
        409
    );

    let mut kinds: Vec<String> = sent(&stack.deps)
        .into_iter()
        .map(|(kind, to, _)| format!("{kind} {to}"))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "client-confirmed carla@example.com",
            "client-declined dora@example.com",
            "client-pending carla@example.com",
            "client-pending dora@example.com",
            "owner-new-booking owner@fifi.example",
            "owner-new-booking owner@fifi.example",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_bookings_and_hand_entered_jobs_send_no_mail() {
    let stack = Stack::default().await;
    let token = stack.token();
    let manual = json!({"serviceId": stack.haircut, "start": ny_text(2026, 12, 7, 10, 0), "name": "Walk In", "email": "walkin@example.com"}).to_string();
    assert_eq!(stack.post_job(&manual, &token).await.status, 201);
    let taken = booking_body(&ny_text(2026, 12, 7, 10, 0), "late@example.com");
    assert_eq!(stack.post_book(stack.haircut, &taken).await.status, 409);
    assert!(sent(&stack.deps).is_empty());
    assert_eq!(stack.count("emails").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_ses_unreachable_the_booking_lands_and_the_relay_delivers_later() {
    let stack = Stack::default().await;
    // SES behind a closed port: every send fails fast with a connection error.
    let outage = deps_with(&stack.db.url, &[], ses_mailer("http://127.0.0.1:9").await);
    let body = booking_body(&ny_text(2026, 12, 7, 10, 0), "jane@example.com");
    let created = outage.post_book(stack.haircut, &body).await;
    assert_eq!(created.status, 201, "{created}");
    assert_eq!(
        stack
            .count("emails WHERE status = 'pending' AND attempts = 1 AND last_error IS NOT NULL")
            .await,
        2
    );

    // SES is back; an hour later the relay finds both mails due and sends each exactly once.
    let later = friday_morning() + Duration::hours(1);
    let mut conn = stack.deps.pool.get().await.expect("connection");
    let report = relay_mails_at(&mut conn, &stack.deps, later).await;
    assert_eq!((report.sent, report.failed), (2, 0));
    let again = relay_mails_at(&mut conn, &stack.deps, later).await;
    assert_eq!(again.sent, 0);
    assert_eq!(sent(&stack.deps).len(), 2);
    assert_eq!(
        stack
            .count("emails WHERE status = 'sent' AND attempts = 2")
            .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_relays_housekeeping_drops_idempotency_keys_older_than_a_day() {
    let stack = Stack::default().await;
    let mut conn = stack.db.connection().await;
    diesel::sql_query(
        "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES \
         ('book:x', 'stale', 'h', now() - interval '25 hours'), \
         ('book:x', 'fresh', 'h', now() - interval '23 hours')",
    )
    .execute(&mut conn)
    .await
    .expect("insert keys");
    booking_functions::email_relay::run_once(&stack.deps, chrono::Utc::now)
        .await
        .expect("relay pass");
    assert_eq!(stack.count("idempotency_keys WHERE key = 'stale'").await, 0);
    assert_eq!(stack.count("idempotency_keys WHERE key = 'fresh'").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotency_keys_are_indexed_by_job_for_the_cascade_from_jobs() {
    let stack = Stack::default().await;
    assert_eq!(
        stack
            .count(
                "pg_indexes WHERE tablename = 'idempotency_keys' \
                 AND indexdef LIKE '%USING btree (job_id)%'"
            )
            .await,
        1
    );
}

/// What the stalling SES in front of moto does with a request naming its recipient.
#[derive(Clone)]
enum Stall {
    /// Never answers (a slow SES call): the connection is dropped after a while.
    Hang,
    /// Kills every connection to this database first, then drops the request: the sender's
    /// next statement fails.
    KillDatabase(String),
}

/// An SES endpoint that forwards to moto every request but those to `recipient`, which it
/// stalls as `stall` says. Returns its URL.
async fn stalling_ses(recipient: &str, stall: Stall) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let upstream = moto_url().trim_start_matches("http://").to_owned();
    let needle = recipient.as_bytes().to_vec();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (upstream, needle, stall) = (upstream.clone(), needle.clone(), stall.clone());
            tokio::spawn(async move {
                let server = tokio::net::TcpStream::connect(&upstream)
                    .await
                    .expect("moto");
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let answers =
                    tokio::spawn(
                        async move { tokio::io::copy(&mut from_server, &mut to_client).await },
                    );
                let mut seen = Vec::new();
                let mut chunk = vec![0; 64 * 1024];
                while let Ok(read) = from_client.read(&mut chunk).await {
                    if read == 0 {
                        break;
                    }
                    seen.extend_from_slice(&chunk[..read]);
                    if seen.windows(needle.len()).any(|w| w == needle.as_slice()) {
                        match &stall {
                            Stall::Hang => tokio::time::sleep(StdDuration::from_secs(6)).await,
                            Stall::KillDatabase(url) => kill_connections(url).await,
                        }
                        break;
                    }
                    if to_server.write_all(&chunk[..read]).await.is_err() {
                        break;
                    }
                }
                answers.abort();
            });
        }
    });
    format!("http://{address}")
}

async fn kill_connections(url: &str) {
    use booking_repository::diesel_async::AsyncConnection;
    let mut conn = booking_repository::AsyncPgConnection::establish(url)
        .await
        .expect("connect");
    diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut conn)
    .await
    .expect("terminate backends");
}

/// Deps whose mailer reaches SES at `endpoint`.
async fn deps_with_ses(stack: &Stack, endpoint: &str) -> Deps {
    deps_with(&stack.db.url, &[], ses_mailer(endpoint).await)
}

/// Books Monday 10:00 for `client` through `deps` and answers the job's mails as
/// (kind, status) once the handler is done.
async fn book_and_read_mails(stack: &Stack, deps: &Deps, client: &str) -> Vec<(String, String)> {
    let body = booking_body(&ny_text(2026, 12, 7, 10, 0), client);
    let created = deps.post_book(stack.haircut, &body).await;
    assert_eq!(created.status, 201, "{created}");
    #[derive(diesel::QueryableByName)]
    struct Mail {
        #[diesel(sql_type = diesel::sql_types::Text)]
        kind: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        status: String,
    }
    let mut conn = stack.db.connection().await;
    let mails: Vec<Mail> = diesel::sql_query("SELECT kind, status FROM emails ORDER BY kind")
        .load(&mut conn)
        .await
        .expect("mails");
    mails.into_iter().map(|m| (m.kind, m.status)).collect()
}

fn unique_client(who: &str) -> String {
    format!("{who}-{}@client.example", uuid::Uuid::new_v4().simple())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mail_ses_accepted_before_the_budget_ran_out_is_recorded_as_sent() {
    let stack = Stack::default().await;
    // The client's mail goes out at once; the owner's hangs past the delivery budget.
    let slow = deps_with_ses(
        &stack,
        &stalling_ses("owner@fifi.example", Stall::Hang).await,
    )
    .await;
    let client = unique_client("slow");
    let started = std::time::Instant::now();
    let mails = book_and_read_mails(&stack, &slow, &client).await;
    assert!(
        started.elapsed() < StdDuration::from_secs(4),
        "the budget holds"
    );
    assert_eq!(
        mails,
        [
            ("client-booked".to_owned(), "sent".to_owned()),
            ("owner-new-booking".to_owned(), "pending".to_owned()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_failure_mid_delivery_still_records_the_mails_ses_accepted() {
    let stack = Stack::default().await;
    // The owner's mail fails to send and the connection dies under it, so recording that
    // failure fails too: the client's mail, accepted before, must still be recorded.
    let stall = Stall::KillDatabase(stack.db.url.clone());
    let deps = deps_with_ses(&stack, &stalling_ses("owner@fifi.example", stall).await).await;
    let client = unique_client("dying");
    let mails = book_and_read_mails(&stack, &deps, &client).await;
    assert_eq!(
        mails,
        [
            ("client-booked".to_owned(), "sent".to_owned()),
            ("owner-new-booking".to_owned(), "pending".to_owned()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sixth_booking_mail_to_one_address_within_an_hour_waits_for_the_relay() {
    let stack = Stack::default().await;
    let other = booking_test_support::load(
        &stack.db,
        &booking_test_support::salon("other", BookingSettings::default()),
    )
    .await;
    let other_haircut = booking_test_support::service(&other, "haircut");
    let client = "many@example.com";
    for hour in [9, 10, 11, 13, 14] {
        stack.book(&ny_text(2026, 12, 7, hour, 0), client).await;
    }
    // The sixth, at another business: the booking lands, its client mail waits.
    let body = booking_body(&ny_text(2026, 12, 7, 10, 0), client);
    let created = stack.post_book(other_haircut, &body).await;
    assert_eq!(created.status, 201, "{created}");
    let to_client = |deps: &Deps| {
        sent(deps)
            .into_iter()
            .filter(|(_, to, _)| to == client)
            .count()
    };
    assert_eq!(to_client(&stack.deps), 5);
    assert_eq!(
        stack
            .count("emails WHERE kind = 'owner-new-booking' AND status = 'sent'")
            .await,
        6
    );
    let an_hour_later = friday_morning() + Duration::hours(1);
    assert_eq!(
        stack
            .count(&format!(
                "emails WHERE status = 'pending' AND attempts = 0 \
                 AND next_attempt_at = '{}'",
                an_hour_later.to_rfc3339()
            ))
            .await,
        1
    );
    let mut conn = stack.deps.pool.get().await.expect("connection");
    // A mail that waits its turn on purpose is no backlog: the alarm counts from its turn.
    for (at, backlog) in [
        (an_hour_later - Duration::seconds(1), None),
        (
            an_hour_later + Duration::minutes(2),
            Some(Duration::minutes(2)),
        ),
    ] {
        let age = booking_repository::outbox::oldest_pending_age(&mut conn, at)
            .await
            .expect("backlog age");
        assert_eq!(age, backlog, "at {at}");
    }
    for (at, expected) in [
        (an_hour_later - Duration::seconds(1), 0),
        (an_hour_later, 1),
    ] {
        let report = relay_mails_at(&mut conn, &stack.deps, at).await;
        assert_eq!(report.sent, expected, "at {at}");
    }
    assert_eq!(to_client(&stack.deps), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn simultaneous_bookings_for_one_address_at_five_businesses_share_its_five_turns() {
    let stack = Stack::default().await;
    let mut services = vec![stack.haircut];
    for slug in ["b", "c", "d", "e"] {
        let loaded = booking_test_support::load(
            &stack.db,
            &booking_test_support::salon(slug, BookingSettings::default()),
        )
        .await;
        services.push(booking_test_support::service(&loaded, "haircut"));
    }
    let client = "storm@example.com";
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(10));
    let mut bookings = Vec::new();
    for (service, hour) in services
        .into_iter()
        .flat_map(|service| [9, 13].map(|hour| (service, hour)))
    {
        // A container each, connected before the start, as simultaneous requests in AWS.
        let deps = stack.container();
        drop(deps.connection().await.expect("warm connection"));
        let body = booking_body(&ny_text(2026, 12, 7, hour, 0), client);
        let start = start.clone();
        bookings.push(tokio::spawn(async move {
            start.wait().await;
            deps.post_book(service, &body).await.status
        }));
    }
    for booking in bookings {
        assert_eq!(booking.await.expect("booking task"), 201);
    }
    let due = |at: chrono::DateTime<chrono::Utc>| {
        format!(
            "emails WHERE kind LIKE 'client-%' AND next_attempt_at = '{}'",
            at.to_rfc3339()
        )
    };
    assert_eq!(
        stack
            .count("emails WHERE kind LIKE 'client-%' AND status = 'sent'")
            .await,
        5
    );
    assert_eq!(
        stack
            .count(&due(friday_morning() + Duration::hours(1)))
            .await,
        5
    );
}
