//! Calendar feeds: a subscribed calendar reads the tenant's jobs under the UIDs and SEQUENCEs of
//! the clients' invitations (read back by an independent parser, Python's `icalendar`, as a
//! client would: scripts/ics_feed_check.py), revalidates with its ETag, and loses the feed
//! when the owner revokes it.

use std::path::PathBuf;
use std::process::Command;

use booking_repository::diesel_async::RunQueryDsl;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::support::*;

/// The feed's text read by scripts/ics_feed_check.py.
pub(crate) fn read_feed(text: &str) -> Value {
    let file = std::env::temp_dir().join(format!("feed-{}.ics", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, text).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ics_feed_check.py");
    let out = Command::new(python_with_icalendar())
        .arg(script)
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_file(&file).ok();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A new feed of the stack's tenant: its id and the token at the end of its URL.
async fn new_feed(api: &impl Api, token: &str) -> (String, String) {
    let created = api.post_calendar_feed("", token).await;
    assert_eq!(created.status, 201, "{created}");
    let url = created["url"].as_str().unwrap();
    let feed_token = url.rsplit('/').next().unwrap().to_owned();
    (created["id"].as_str().unwrap().to_owned(), feed_token)
}

pub(crate) fn text(reply: &Reply) -> &str {
    reply.body.as_str().expect("a text body")
}

/// The feed's events by UID.
fn events(feed: &Value) -> Vec<(String, i64, String)> {
    feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["uid"].as_str().unwrap().to_owned(),
                e["sequence"].as_i64().unwrap(),
                e["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_calendar_app_reads_every_job_under_the_uid_and_sequence_of_its_latest_invitation() {
    let stack = Stack::pending().await;
    let token = stack.token();
    let confirmed = stack
        .book(&ny_text(2026, 12, 5, 10, 0), "ana@example.com")
        .await;
    let declined = stack
        .book(&ny_text(2026, 12, 5, 11, 0), "ben@example.com")
        .await;
    let pending = stack
        .book(&ny_text(2026, 12, 5, 12, 0), "cat@example.com")
        .await;
    assert_eq!(stack.post_confirm(&confirmed, &token).await.status, 200);
    let decline = stack
        .post_decline(&declined, &json!({"reason": "Closed"}).to_string(), &token)
        .await;
    assert_eq!(decline.status, 200);

    let created = stack.post_calendar_feed("", &token).await;
    assert_eq!(created.status, 201, "{created}");
    let url = created["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://abc123.execute-api.us-east-1.amazonaws.com/calendar/"),
        "{url}"
    );
    let feed_token = url.rsplit('/').next().unwrap();
    assert_eq!(feed_token.len(), 43, "256 bits, base64url");

    let reply = stack.get_calendar(feed_token, &[]).await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.content_type, "text/calendar; charset=utf-8");
    assert!(reply.header("etag").is_some_and(|t| t.starts_with('"')));
    let feed = read_feed(text(&reply));
    assert_eq!(feed["method"], "PUBLISH");
    assert_eq!(feed["name"], "Salon fifi");

    // Each job's event is its client's latest invitation: same UID, same SEQUENCE.
    let sent = stack.deps.mailer.sent();
    let latest = |job: &str| {
        let mail = sent
            .iter()
            .filter(|m| m.job_id.to_string() == job)
            .filter_map(|m| read_mail(&m.raw).invitation)
            .next_back()
            .expect("an invitation");
        parse_invitation(&mail.1)
    };
    let expected: Vec<(String, i64, String)> = [
        (&confirmed, "CONFIRMED"),
        (&declined, "CANCELLED"),
        (&pending, "TENTATIVE"),
    ]
    .iter()
    .map(|(job, status)| {
        let invitation = latest(job);
        assert_eq!(invitation.status, *status);
        (
            invitation.uid,
            i64::from(invitation.sequence),
            status.to_string(),
        )
    })
    .collect();
    assert_eq!(events(&feed), expected);
    // The owner's calendar shows who comes, not how to reach them.
    assert!(!text(&reply).contains("ana@example.com"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_feed_answers_304_to_its_etag_and_a_change_gives_a_new_one() {
    let stack = Stack::pending().await;
    let token = stack.token();
    let job = stack
        .book(&ny_text(2026, 12, 5, 10, 0), "ana@example.com")
        .await;
    let (_, feed) = new_feed(&stack, &token).await;
    let first = stack.get_calendar(&feed, &[]).await;
    let tag = first.header("etag").unwrap().to_owned();
    assert_eq!(
        stack.get_calendar(&feed, &[]).await.header("etag"),
        Some(tag.as_str())
    );

    let again = stack.get_calendar(&feed, &[("If-None-Match", &tag)]).await;
    assert_eq!(again.status, 304);
    assert_eq!(again.header("etag"), Some(tag.as_str()));
    assert_eq!(again.body, Value::Null, "no body");
    let weak = format!("\"other\", W/{tag}");
    assert_eq!(
        stack
            .get_calendar(&feed, &[("If-None-Match", &weak)])
            .await
            .status,
        304
    );
    let other = stack
        .get_calendar(&feed, &[("If-None-Match", "\"other\"")])
        .await;
    assert_eq!(other.status, 200);

    assert_eq!(stack.post_confirm(&job, &token).await.status, 200);
    let changed = stack.get_calendar(&feed, &[("If-None-Match", &tag)]).await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), Some(tag.as_str()));
    assert_eq!(events(&read_feed(text(&changed)))[0].2, "CONFIRMED");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_unknown_or_malformed_token_gets_the_same_404() {
    let stack = Stack::default().await;
    let token = stack.token();
    let (id, feed) = new_feed(&stack, &token).await;
    assert_eq!(stack.get_calendar(&feed, &[]).await.status, 200);

    // Another tenant cannot revoke it, nor can anybody without a token.
    let other = owner_token(uuid::Uuid::new_v4(), 600);
    let theirs = stack.delete_calendar_feed(&id, &other).await;
    assert!(matches!(theirs.status, 401 | 404), "{theirs}");
    expect_problem(
        stack.delete_calendar_feed(&id, Auth::None).await,
        401,
        "unauthorized",
    );
    assert_eq!(stack.get_calendar(&feed, &[]).await.status, 200);

    let revoked = stack.delete_calendar_feed(&id, &token).await;
    assert_eq!(revoked.status, 204, "{revoked}");
    expect_problem(
        stack.delete_calendar_feed(&id, &token).await,
        404,
        "not_found",
    );
    expect_problem(
        stack.delete_calendar_feed("nope", &token).await,
        404,
        "not_found",
    );

    let unknown = booking_domain::FeedToken::from_random([9; 32]);
    let mut bodies = Vec::new();
    for token in [feed.as_str(), unknown.as_str(), "nope", &feed[1..]] {
        bodies.push(expect_problem(
            stack.get_calendar(token, &[]).await,
            404,
            "not_found",
        ));
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
}

/// Moves a job's times (and its last change) where the test needs them, past the trigger that
/// stamps `updated_at` with the database's clock.
async fn set_job_times(stack: &Stack, job: &str, start: DateTime<Utc>, changed: DateTime<Utc>) {
    let mut conn = stack.db.connection().await;
    diesel::sql_query("ALTER TABLE jobs DISABLE TRIGGER jobs_updated_at")
        .execute(&mut conn)
        .await
        .unwrap();
    diesel::sql_query(
        "UPDATE jobs SET starts_at = $2, ends_at = $2 + interval '45 minutes', updated_at = $3 \
         WHERE id = $1::uuid",
    )
    .bind::<diesel::sql_types::Text, _>(job)
    .bind::<diesel::sql_types::Timestamptz, _>(start)
    .bind::<diesel::sql_types::Timestamptz, _>(changed)
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query("ALTER TABLE jobs ENABLE TRIGGER jobs_updated_at")
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_feed_spans_thirty_days_back_to_a_year_ahead_and_shows_cancellations_for_thirty_days() {
    let stack = Stack::default().await;
    let token = stack.token();
    let now = friday_morning();
    let mut jobs = Vec::new();
    for (day, hour, client) in [
        (5, 10, "a"),
        (5, 11, "b"),
        (5, 12, "c"),
        (5, 13, "d"),
        (7, 10, "e"),
        (7, 11, "f"),
    ] {
        jobs.push(
            stack
                .book(
                    &ny_text(2026, 12, day, hour, 0),
                    &format!("{client}@example.com"),
                )
                .await,
        );
    }
    for job in &jobs[4..] {
        let cancel = stack.post_transition(job, "cancel", "{}", &token).await;
        assert_eq!(cancel.status, 200, "{cancel}");
    }
    let day = Duration::days(1);
    let placed = [
        (now - day * 29, now, true),            // 29 days back
        (now - day * 31, now, false),           // 31 days back
        (now + day * 364, now, true),           // 364 days ahead
        (now + day * 366, now, false),          // 366 days ahead
        (now + day * 2, now - day * 29, true),  // cancelled 29 days ago
        (now + day * 2, now - day * 31, false), // cancelled 31 days ago
    ];
    for (job, (start, changed, _)) in jobs.iter().zip(placed) {
        set_job_times(&stack, job, start, changed).await;
    }
    let (_, feed) = new_feed(&stack, &token).await;
    let shown = read_feed(text(&stack.get_calendar(&feed, &[]).await));
    let uids: Vec<String> = events(&shown).into_iter().map(|e| e.0).collect();
    for (job, (_, _, expected)) in jobs.iter().zip(placed) {
        assert_eq!(
            uids.contains(&format!("{job}@booking")),
            expected,
            "{job}: {shown}"
        );
    }
    let cancelled = events(&shown)
        .into_iter()
        .find(|e| e.0 == format!("{}@booking", jobs[4]))
        .unwrap();
    assert_eq!(cancelled.2, "CANCELLED");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_staff_feed_takes_a_uuid_and_the_url_starts_with_the_configured_api_origin() {
    let stack = Stack::default().await;
    let token = stack.token();
    stack
        .book(&ny_text(2026, 12, 5, 10, 0), "ana@example.com")
        .await;
    let before = stack.count("calendar_feeds").await;
    let bad = stack
        .post_calendar_feed(&json!({"staffId": "ana"}).to_string(), &token)
        .await;
    let body = expect_problem(bad, 400, "invalid_request");
    assert_eq!(body["errors"][0]["field"], "staffId", "{body}");
    expect_problem(
        stack.post_calendar_feed("[]", &token).await,
        400,
        "invalid_request",
    );
    expect_problem(
        stack.post_calendar_feed("", Auth::None).await,
        401,
        "unauthorized",
    );
    assert_eq!(
        stack.count("calendar_feeds").await,
        before,
        "a refusal changes nothing"
    );

    // A person's feed names an active staff member of the tenant: any other id is 404.
    let unknown = json!({"staffId": uuid::Uuid::new_v4()}).to_string();
    expect_problem(
        stack.post_calendar_feed(&unknown, &token).await,
        404,
        "staff_not_found",
    );
    assert_eq!(stack.count("calendar_feeds").await, before);

    let api = stack.container_with(&[("PUBLIC_API_URL", "https://api.fifi.example/")]);
    let created = api.post_calendar_feed("", &token).await;
    assert_eq!(created.status, 201, "{created}");
    let url = created["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://api.fifi.example/calendar/"),
        "{url}"
    );
}

/// Not a test: prints how long the feed of 1,000 events and the stats of a year of 15,000 jobs
/// take through the real handlers (`cargo nextest run -p booking-functions --run-ignored only
/// -E 'test(measure_)' --no-capture`). scripts/bench's booking-load measures the same in a
/// release build; nothing here asserts a time.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn measure_the_feed_of_a_thousand_events_and_the_stats_of_a_busy_year() {
    let stack = Stack::default().await;
    let token = stack.token();
    // The stack has no contact yet: book one first, then seed.
    stack
        .book(&ny_text(2026, 12, 5, 10, 0), "seed@example.com")
        .await;
    let mut conn = stack.db.connection().await;
    diesel::sql_query(format!(
        "INSERT INTO jobs (tenant_id, service_id, contact_id, title, starts_at, ends_at, status, \
                           source, changed_by, client_name) \
         SELECT '{tenant}', '{service}', c.id, 'Job ' || g, t.s, t.s + interval '30 minutes', \
                (ARRAY['scheduled','completed','cancelled','no-show'])[1 + g % 4], 'public', 'x', 'Client ' || g \
         FROM generate_series(1, 14999) g \
         CROSS JOIN (SELECT id FROM contacts LIMIT 1) c \
         CROSS JOIN LATERAL (SELECT timestamptz '2026-12-05 11:00Z' \
                             + make_interval(days => g / 40, mins => (g % 40) * 24) AS s) t",
        tenant = stack.tenant.tenant_id,
        service = stack.haircut,
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query("VACUUM ANALYZE")
        .execute(&mut conn)
        .await
        .unwrap();
    let (_, feed) = new_feed(&stack, &token).await;
    let mut quiet = stack.container_with(&[("MANAGE_RATE_LIMIT_PER_MINUTE", "1000000")]);
    // A feed of 1,000 events: the window ends 25 days after the first jobs.
    quiet.clock = fixed_clock(ny(2026, 12, 5, 0, 0) - Duration::days(365 - 25));
    let events = read_feed(text(&quiet.get_calendar(&feed, &[]).await))["events"]
        .as_array()
        .unwrap()
        .len();
    let time = |samples: &mut Vec<f64>| {
        samples.sort_by(f64::total_cmp);
        (
            samples[samples.len() / 2],
            samples[samples.len() * 95 / 100],
        )
    };
    let mut samples = Vec::new();
    for _ in 0..60 {
        let at = std::time::Instant::now();
        let reply = quiet.get_calendar(&feed, &[]).await;
        samples.push(at.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(reply.status, 200);
    }
    let (p50, p95) = time(&mut samples);
    println!("feed of {events} events: p50 {p50:.2} ms, p95 {p95:.2} ms (60 requests)");
    let mut samples = Vec::new();
    for _ in 0..30 {
        let at = std::time::Instant::now();
        let request = owner_get(
            "/stats",
            "/stats",
            Value::Null,
            &[("from", "2026-12-05"), ("to", "2027-12-04")],
            (&token).into(),
        );
        let reply = quiet.send(Route::Stats, request).await;
        samples.push(at.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(reply.status, 200, "{reply}");
    }
    let (p50, p95) = time(&mut samples);
    println!("stats of a year of 15,000 jobs: p50 {p50:.2} ms, p95 {p95:.2} ms (30 requests)");
}
