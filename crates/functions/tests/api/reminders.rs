//! Reminders: armed by the booking's own transaction, re-armed by a move, disarmed by a cancel,
//! and sent once by the relay when due — also with two relays at once and a relay that dies.
//! The relay runs as its Lambda does ([`run_once`]), with the clock the test says.

use booking_domain::BookingSettings;
use booking_functions::Deps;
use booking_functions::email_relay::run_once;
use booking_repository::diesel_async::RunQueryDsl;
use booking_repository::{changes, reminders};
use booking_test_support::ses::{received_by, ses_mailer};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::support::*;

/// A week ahead of the stack's clock ([`friday_morning`]): Friday 2026-12-11, 10:00 New York.
fn week_ahead() -> DateTime<Utc> {
    ny(2026, 12, 11, 10, 0)
}

fn text(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::America::New_York).to_rfc3339()
}

/// Books `start` on the haircut for `email`: the job id and its manage token.
async fn booked(deps: &Deps, stack: &Stack, start: DateTime<Utc>, email: &str) -> (String, String) {
    let created = deps
        .post_book(stack.haircut, &booking_body(&text(start), email))
        .await;
    assert_eq!(created.status, 201, "{created}");
    (
        created["job"]["id"].as_str().unwrap().to_owned(),
        created["manageToken"].as_str().unwrap().to_owned(),
    )
}

/// One relay pass at `at`, as the scheduled Lambda runs it.
async fn relay_at(deps: &Deps, at: DateTime<Utc>) -> Value {
    run_once(deps, move || at).await.expect("relay pass")
}

/// The reminders the mailer took so far: (recipient, plain text, raw message).
fn reminders_sent(deps: &Deps) -> Vec<(String, String, String)> {
    deps.mailer
        .sent()
        .into_iter()
        .filter(|mail| mail.kind.as_str() == "client-reminder")
        .map(|mail| {
            let raw = String::from_utf8_lossy(&mail.raw).into_owned();
            (mail.to, read_mail(&mail.raw).text, raw)
        })
        .collect()
}

fn link(token: &str) -> String {
    format!("http://localhost:5173/manage/{token}")
}

async fn manage_post(deps: &Deps, token: &str, action: &'static str, body: &str) -> Reply {
    deps.send(
        Route::Manage(action),
        manage_request(token, Some(action), body, &[]),
    )
    .await
}

async fn armed(stack: &Stack, job: &str) -> Vec<reminders::Reminder> {
    let mut conn = stack.db.connection().await;
    reminders::for_job(&mut conn, job.parse().unwrap())
        .await
        .expect("reminders")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_booking_made_a_week_ahead_is_reminded_once_a_day_before_with_its_link_and_reply_to() {
    let stack = Stack::default().await;
    let (job, token) = booked(&stack.deps, &stack, week_ahead(), "jane@example.com").await;
    let due = week_ahead() - Duration::days(1);
    assert_eq!(
        armed(&stack, &job)
            .await
            .iter()
            .map(|r| (r.offset_minutes, r.due_at))
            .collect::<Vec<_>>(),
        [(1440, due)],
        "armed by the booking's transaction"
    );

    relay_at(&stack.deps, due - Duration::minutes(1)).await;
    assert!(
        reminders_sent(&stack.deps).is_empty(),
        "not before its moment"
    );

    let pass = relay_at(&stack.deps, due + Duration::seconds(20)).await;
    assert_eq!(pass["reminded"], json!(1), "{pass}");
    for later in [1, 2, 60, 23 * 60] {
        relay_at(&stack.deps, due + Duration::minutes(later)).await;
    }
    let sent = reminders_sent(&stack.deps);
    assert_eq!(sent.len(), 1, "exactly once");
    let (to, body, raw) = &sent[0];
    assert_eq!(to, "jane@example.com");
    assert!(body.contains(&link(&token)), "the manage link: {body}");
    assert!(
        body.contains("Friday, December 11, 2026, 10:00 AM"),
        "{body}"
    );
    let reply_to = raw
        .lines()
        .find(|line| line.to_ascii_lowercase().starts_with("reply-to:"))
        .unwrap_or_default();
    assert!(reply_to.contains("owner@fifi.example"), "{reply_to}");

    let detail = stack.get_job(&job, &stack.token()).await;
    let kinds: Vec<&str> = detail["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["kind"].as_str())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "client-reminder").count(), 1);
    let history = detail["history"].as_array().unwrap();
    let reminded = history.last().unwrap();
    assert_eq!(
        (reminded["action"].as_str(), reminded["actor"].as_str()),
        (Some("reminded"), Some("system")),
        "{detail}"
    );
    assert!(armed(&stack, &job).await[0].taken_at.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_booking_made_an_hour_ahead_gets_no_day_before_reminder() {
    let stack = Stack::default().await;
    // The stack's clock stands at 09:00: 10:00 is just past the one-hour notice.
    let start = friday_morning() + Duration::hours(1);
    let (job, _) = booked(&stack.deps, &stack, start, "late@example.com").await;
    assert!(armed(&stack, &job).await.is_empty());
    for minutes in [1, 30, 59] {
        relay_at(&stack.deps, friday_morning() + Duration::minutes(minutes)).await;
    }
    assert!(reminders_sent(&stack.deps).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_booking_is_not_reminded() {
    let stack = Stack::default().await;
    let (by_client, token) = booked(&stack.deps, &stack, week_ahead(), "one@example.com").await;
    let cancelled = manage_post(&stack.deps, &token, "cancel", "").await;
    assert_eq!(cancelled.status, 200, "{cancelled}");
    let (by_owner, _) = booked(
        &stack.deps,
        &stack,
        week_ahead() + Duration::hours(3),
        "two@example.com",
    )
    .await;
    let owner_cancel = stack
        .post_transition(&by_owner, "cancel", "", &stack.token())
        .await;
    assert_eq!(owner_cancel.status, 200, "{owner_cancel}");
    assert!(armed(&stack, &by_client).await.is_empty(), "disarmed");
    assert!(armed(&stack, &by_owner).await.is_empty(), "disarmed");
    relay_at(&stack.deps, week_ahead() - Duration::hours(23)).await;
    assert!(reminders_sent(&stack.deps).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_re_arms_the_reminder_for_the_new_time_with_the_new_link() {
    let stack = Stack::default().await;
    let (job, first) = booked(&stack.deps, &stack, week_ahead(), "mover@example.com").await;
    let new_start = ny(2026, 12, 14, 11, 0);
    let moved = manage_post(
        &stack.deps,
        &first,
        "reschedule",
        &json!({ "start": text(new_start) }).to_string(),
    )
    .await;
    assert_eq!(moved.status, 200, "{moved}");
    let second = moved["manageToken"].as_str().unwrap().to_owned();
    assert_eq!(
        armed(&stack, &job)
            .await
            .iter()
            .map(|r| r.due_at)
            .collect::<Vec<_>>(),
        [new_start - Duration::days(1)],
        "the old moment's reminder replaced"
    );

    relay_at(&stack.deps, week_ahead() - Duration::days(1)).await;
    relay_at(&stack.deps, week_ahead() - Duration::hours(1)).await;
    assert!(
        reminders_sent(&stack.deps).is_empty(),
        "the old moment gets nothing"
    );
    relay_at(&stack.deps, new_start - Duration::days(1)).await;
    relay_at(&stack.deps, new_start - Duration::hours(12)).await;
    let sent = reminders_sent(&stack.deps);
    assert_eq!(sent.len(), 1, "the new moment gets one");
    let body = &sent[0].1;
    assert!(body.contains(&link(&second)), "the new link: {body}");
    assert!(!body.contains(&link(&first)), "never the dead one");
    assert!(
        body.contains("Monday, December 14, 2026, 11:00 AM"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_booking_waiting_for_confirmation_is_armed_when_confirmed() {
    let stack = Stack::pending().await;
    let (job, _) = booked(&stack.deps, &stack, week_ahead(), "waits@example.com").await;
    assert!(armed(&stack, &job).await.is_empty(), "pending: not yet");
    let confirmed = stack.post_confirm(&job, &stack.token()).await;
    assert_eq!(confirmed.status, 200, "{confirmed}");
    assert_eq!(armed(&stack, &job).await.len(), 1);
    relay_at(&stack.deps, week_ahead() - Duration::days(1)).await;
    assert_eq!(reminders_sent(&stack.deps).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_entered_by_hand_for_later_is_reminded_and_one_for_the_past_is_not() {
    let stack = Stack::default().await;
    let token = stack.token();
    let enter = |start: DateTime<Utc>, email: &str| {
        json!({"serviceId": stack.haircut, "start": text(start), "name": "Walk In", "email": email})
            .to_string()
    };
    let later = stack
        .post_job(&enter(week_ahead(), "later@example.com"), &token)
        .await;
    assert_eq!(later.status, 201, "{later}");
    let past = stack
        .post_job(
            &enter(friday_morning() - Duration::hours(3), "past@example.com"),
            &token,
        )
        .await;
    assert_eq!(past.status, 201, "{past}");
    assert_eq!(
        armed(&stack, later["job"]["id"].as_str().unwrap())
            .await
            .len(),
        1
    );
    assert!(
        armed(&stack, past["job"]["id"].as_str().unwrap())
            .await
            .is_empty()
    );
}

/// Far longer than any pass takes: a relay still running then is waiting for a lock (a hang
/// guard, not a speed check).
const HANG: std::time::Duration = std::time::Duration::from_secs(60);

/// `n` bookings for the same start (capacity `n`), each for its own address.
async fn crowd(n: u32) -> Stack {
    let stack = Stack::new(BookingSettings {
        max_bookings_per_slot: n,
        ..BookingSettings::default()
    })
    .await;
    for i in 0..n {
        booked(
            &stack.deps,
            &stack,
            week_ahead(),
            &format!("c{i}@example.com"),
        )
        .await;
    }
    stack
}

/// Each job's reminder mails, as the outbox holds them.
async fn reminder_mails_per_job(stack: &Stack) -> Vec<i64> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = stack.db.connection().await;
    let counts: Vec<Count> = diesel::sql_query(
        "SELECT count(emails.id) AS n FROM jobs \
         LEFT JOIN emails ON emails.job_id = jobs.id AND emails.kind = 'client-reminder' \
         GROUP BY jobs.id",
    )
    .load(&mut conn)
    .await
    .expect("counts");
    counts.into_iter().map(|c| c.n).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_at_once_send_each_reminder_once() {
    // More than two batches' worth, so the relays overlap batch after batch.
    let stack = crowd(60).await;
    let (one, two) = (stack.container(), stack.container());
    let at = week_ahead() - Duration::days(1) + Duration::seconds(5);
    let (a, b) = tokio::join!(relay_at(&one, at), relay_at(&two, at));
    assert_eq!(
        a["reminded"].as_u64().unwrap() + b["reminded"].as_u64().unwrap(),
        60,
        "{a} {b}"
    );
    relay_at(&stack.deps, at + Duration::minutes(1)).await;
    assert_eq!(reminders_sent(&stack.deps).len(), 60);
    let mut to: Vec<String> = reminders_sent(&stack.deps)
        .into_iter()
        .map(|m| m.0)
        .collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 60, "one each");
    assert!(reminder_mails_per_job(&stack).await.iter().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_skips_the_reminders_another_is_taking_and_takes_the_rest() {
    use booking_repository::diesel_async::AsyncConnection;
    let stack = crowd(60).await;
    let at = week_ahead() - Duration::days(1);
    let (mut first, mut second) = (stack.db.connection().await, stack.db.connection().await);
    // The first relay has taken a batch and not committed yet when the second runs.
    let (a, b) = first
        .transaction::<_, diesel::result::Error, _>(async |first| {
            let a = changes::remind(first, at, 25).await?;
            let b = tokio::time::timeout(HANG, changes::remind(&mut second, at, 100))
                .await
                .expect("the second relay never waits for the first's reminders")
                .expect("nor fails on them");
            Ok((a, b))
        })
        .await
        .unwrap();
    assert_eq!((a.mailed, b.mailed), (25, 35));
    let again = changes::remind(&mut second, at + Duration::minutes(1), 100)
        .await
        .unwrap();
    assert_eq!(again.taken(), 0, "nothing is left to take twice");
    assert!(reminder_mails_per_job(&stack).await.iter().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_killed_inside_its_reminder_transaction_leaves_them_to_the_next_relay() {
    let stack = crowd(3).await;
    let at = week_ahead() - Duration::days(1);
    // A relay in the middle of its transaction: the due reminders are locked, nothing committed.
    let mut dying = stack.db.connection().await;
    diesel::sql_query("BEGIN")
        .execute(&mut dying)
        .await
        .unwrap();
    diesel::sql_query("SELECT id FROM reminders WHERE taken_at IS NULL FOR UPDATE")
        .execute(&mut dying)
        .await
        .unwrap();
    // Another relay meanwhile skips them: it takes nothing, and neither waits for the lock nor
    // fails on it (a wait would end in the pool's lock timeout, an error).
    let mut other = stack.db.connection().await;
    let meanwhile = tokio::time::timeout(HANG, changes::remind(&mut other, at, 25))
        .await
        .expect("a relay never waits for another's reminders")
        .expect("nor fails on them");
    assert_eq!(meanwhile, changes::Reminded::default());
    let pass = relay_at(&stack.container(), at).await;
    assert_eq!(pass["reminded"], json!(0), "{pass}");
    // The first relay dies: its backend is killed, its transaction rolled back.
    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let pid: Pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result(&mut dying)
        .await
        .unwrap();
    let mut killer = stack.db.connection().await;
    diesel::sql_query("SELECT pg_terminate_backend($1)")
        .bind::<diesel::sql_types::Integer, _>(pid.pid)
        .execute(&mut killer)
        .await
        .unwrap();
    drop(dying);
    let next = relay_at(&stack.container(), at + Duration::minutes(1)).await;
    assert_eq!(next["reminded"], json!(3), "{next}");
    relay_at(&stack.deps, at + Duration::minutes(2)).await;
    assert_eq!(reminders_sent(&stack.deps).len(), 3);
    assert!(reminder_mails_per_job(&stack).await.iter().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_killed_after_taking_the_reminders_leaves_their_mails_to_the_outbox() {
    let stack = crowd(2).await;
    let at = week_ahead() - Duration::days(1);
    // Dies right after the reminders' transaction committed, before any mail went out.
    let mut conn = stack.db.connection().await;
    let taken = changes::remind(&mut conn, at, 25).await.expect("remind");
    assert_eq!(taken.mailed, 2);
    drop(conn);
    // Dies while SES holds its first mail: the lease is taken, nothing recorded.
    let slow = deps_with(
        &stack.db.url,
        &[],
        booking_email::Mailer::in_memory().with_latency(std::time::Duration::from_secs(30)),
    );
    let cut = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        relay_at(&slow, at + Duration::seconds(30)),
    )
    .await;
    assert!(cut.is_err(), "the relay was cut mid-send");
    // Within the lease nobody sends them; once it runs out the next relay sends each once.
    relay_at(&stack.deps, at + Duration::minutes(1)).await;
    assert!(reminders_sent(&stack.deps).is_empty(), "leased");
    relay_at(&stack.deps, at + Duration::minutes(3)).await;
    relay_at(&stack.deps, at + Duration::minutes(4)).await;
    assert_eq!(reminders_sent(&stack.deps).len(), 2);
    assert!(slow.mailer.sent().is_empty());
    assert!(reminder_mails_per_job(&stack).await.iter().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reminder_goes_out_over_ses_once() {
    let stack = Stack::default().await;
    let client = format!("remind-{}@client.example", uuid::Uuid::new_v4().simple());
    let (_, token) = booked(&stack.deps, &stack, week_ahead(), &client).await;
    let over_ses = deps_with(
        &stack.db.url,
        &[],
        ses_mailer(&booking_test_support::ses::moto_url()).await,
    );
    let due = week_ahead() - Duration::days(1);
    relay_at(&over_ses, due).await;
    relay_at(&over_ses, due + Duration::minutes(5)).await;
    let received: Vec<String> = received_by(&client)
        .into_iter()
        .map(|(_, raw)| raw)
        .filter(|raw| raw.contains("Subject: Reminder:"))
        .collect();
    assert_eq!(received.len(), 1, "one reminder reached SES");
    let text = read_mail(received[0].as_bytes()).text;
    assert!(text.contains(&link(&token)), "{text}");
}

// --- the client routes' idempotency and rate limit ------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_move_or_cancel_with_its_idempotency_key_replays_the_first_answer() {
    let stack = Stack::default().await;
    let (job, first) = booked(&stack.deps, &stack, week_ahead(), "keys@example.com").await;
    let body = json!({ "start": text(ny(2026, 12, 14, 11, 0)) }).to_string();
    let key = [("Idempotency-Key", "move-1")];
    let post = |token: &str, action: &'static str, body: &str| {
        stack.deps.send(
            Route::Manage(action),
            manage_request(token, Some(action), body, &key),
        )
    };
    let moved = post(&first, "reschedule", &body).await;
    assert_eq!(moved.status, 200, "{moved}");
    // The replay comes with the link it was first sent with, dead since the move.
    let replay = post(&first, "reschedule", &body).await;
    assert_eq!((replay.status, &replay.body), (200, &moved.body));
    let other = json!({ "start": text(ny(2026, 12, 15, 11, 0)) }).to_string();
    expect_problem(
        post(&first, "reschedule", &other).await,
        422,
        "idempotency_key_reused",
    );

    let second = moved["manageToken"].as_str().unwrap().to_owned();
    let cancelled = post(&second, "cancel", "").await;
    assert_eq!(cancelled.status, 200, "{cancelled}");
    let again = post(&second, "cancel", "").await;
    assert_eq!((again.status, &again.body), (200, &cancelled.body));

    let detail = stack.get_job(&job, &stack.token()).await;
    let actions: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["booked", "rescheduled", "cancelled"]);
    let mails: Vec<&str> = detail["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for kind in ["client-rescheduled", "client-cancelled"] {
        assert_eq!(mails.iter().filter(|k| **k == kind).count(), 1, "{mails:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_routes_limit_each_address_and_a_refused_change_changes_nothing() {
    let stack = Stack::default().await;
    let (job, token) = booked(&stack.deps, &stack, week_ahead(), "limited@example.com").await;
    let limited = stack.container_with(&[
        ("MANAGE_RATE_LIMIT_PER_MINUTE", "2"),
        ("EDGE_ORIGIN_SECRET", "edge-secret"),
    ]);
    let from = |viewer: &str, action: Option<&'static str>, body: &str| {
        let headers = [
            ("x-origin-verify", "edge-secret"),
            ("cloudfront-viewer-address", viewer),
        ];
        let route = Route::Manage(action.unwrap_or("view"));
        limited.send(route, manage_request(&token, action, body, &headers))
    };
    let move_body = json!({ "start": text(ny(2026, 12, 14, 11, 0)) }).to_string();
    assert_eq!(from("198.51.100.1:1", None, "").await.status, 200);
    assert_eq!(from("198.51.100.1:2", None, "").await.status, 200);
    expect_rate_limited(from("198.51.100.1:3", Some("reschedule"), &move_body).await);
    expect_rate_limited(from("198.51.100.1:4", Some("cancel"), "").await);
    let detail = stack.get_job(&job, &stack.token()).await;
    assert_eq!(detail["job"]["status"], json!("scheduled"));
    assert_eq!(detail["history"].as_array().unwrap().len(), 1, "unchanged");
    // Another address has its own allowance.
    assert_eq!(from("198.51.100.2:1", Some("cancel"), "").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn new_offsets_in_the_tenant_file_re_arm_the_future_jobs() {
    let stack = Stack::default().await;
    let (job, _) = booked(&stack.deps, &stack, week_ahead(), "offsets@example.com").await;
    let settings = BookingSettings {
        reminder_minutes_before: booking_domain::ReminderOffsets::parse(&[60, 2880]).unwrap(),
        ..BookingSettings::default()
    };
    booking_test_support::load(&stack.db, &booking_test_support::salon("fifi", settings)).await;
    let offsets: Vec<i32> = armed(&stack, &job)
        .await
        .iter()
        .map(|r| r.offset_minutes)
        .collect();
    assert_eq!(offsets, [2880, 60]);
    let none = BookingSettings {
        reminder_minutes_before: booking_domain::ReminderOffsets::none(),
        ..BookingSettings::default()
    };
    booking_test_support::load(&stack.db, &booking_test_support::salon("fifi", none)).await;
    assert!(armed(&stack, &job).await.is_empty());
}

#[tokio::test]
async fn new_offsets_by_patch_tenant_re_arm_the_future_jobs_and_are_shown_as_set() {
    let stack = Stack::default().await;
    let (job, _) = booked(&stack.deps, &stack, week_ahead(), "patched@example.com").await;
    let token = stack.token();
    let patch = |offsets: &str| {
        let body = format!(r#"{{"settings": {{"reminderMinutesBefore": {offsets}}}}}"#);
        let (stack, token) = (&stack, token.clone());
        async move {
            stack
                .owner_send(
                    ("patch", "/tenant"),
                    "/tenant",
                    serde_json::Value::Null,
                    &[],
                    &body,
                    token.as_str(),
                )
                .await
        }
    };
    let two = patch("[60, 2880]").await;
    assert_eq!(two.status, 200, "{two}");
    assert_eq!(
        two["tenant"]["settings"]["reminderMinutesBefore"],
        serde_json::json!([2880, 60])
    );
    let offsets: Vec<i32> = armed(&stack, &job)
        .await
        .iter()
        .map(|r| r.offset_minutes)
        .collect();
    assert_eq!(offsets, [2880, 60]);
    // A bad list is refused by the file's own message and changes nothing.
    let bad = patch("[10]").await;
    assert_eq!(bad.status, 400, "{bad}");
    assert!(
        bad.body.to_string().contains("reminderMinutesBefore"),
        "{bad}"
    );
    assert_eq!(armed(&stack, &job).await.len(), 2);
    let none = patch("[]").await;
    assert_eq!(none.status, 200, "{none}");
    assert!(armed(&stack, &job).await.is_empty());
}
