use booking_domain::BookingSettings;
use booking_functions::book_slot;
use booking_repository::idempotency;
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_booking_lands_scheduled_and_its_slot_leaves_availability() {
    let stack = Stack::default().await;
    let start = ny_text(2026, 12, 7, 10, 0);
    let body = json!({"start": start, "name": "Jane Client", "email": "Jane@Example.com", "phone": "+1 555 0100", "notes": "Short on the sides"}).to_string();
    let created = stack.post_book(stack.haircut, &body).await;
    assert_eq!(created.status, 201, "{created}");
    assert_eq!(created.content_type, "application/json");
    let job = &created["job"];
    assert_eq!(job["status"], "scheduled");
    assert_eq!(job["serviceId"], json!(stack.haircut));
    assert_eq!(job["start"], "2026-12-07T10:00:00-05:00");
    assert_eq!(job["end"], "2026-12-07T10:45:00-05:00");
    assert_eq!(job["title"], "Haircut – Jane Client");
    assert_eq!(
        job["client"],
        json!({"name": "Jane Client", "email": "Jane@Example.com", "phone": "+1 555 0100"})
    );
    assert_eq!(job["notes"], "Short on the sides");
    assert!(
        job["id"]
            .as_str()
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok())
    );
    assert!(
        job["createdAt"]
            .as_str()
            .is_some_and(|t| t.ends_with("-05:00"))
    );

    let monday = [("from", "2026-12-07"), ("to", "2026-12-07")];
    let listed = stack.get_availability(stack.haircut, &monday).await;
    let starts: Vec<&str> = listed["slots"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["start"].as_str())
        .collect();
    // 09:30 (runs into 10:00), 10:00 and 10:30 are gone; 09:00 and 11:00 remain.
    assert_eq!(
        &starts[..2],
        ["2026-12-07T09:00:00-05:00", "2026-12-07T11:00:00-05:00"]
    );

    // The colour service (90 min) shares the calendar: 09:00 would overlap, 11:00 passes noon.
    let colour = stack.get_availability(stack.colour, &monday).await;
    assert_eq!(colour["slots"][0]["start"], "2026-12-07T13:00:00-05:00");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_requiring_confirmation_gets_pending_bookings() {
    let stack = Stack::pending().await;
    let body = booking_body(&ny_text(2026, 12, 7, 13, 0), "jane@example.com");
    let created = stack.post_book(stack.haircut, &body).await;
    assert_eq!(
        (created.status, created["job"]["status"].as_str()),
        (201, Some("pending-confirmation"))
    );
    // A pending booking holds its place.
    let again = booking_body(&ny_text(2026, 12, 7, 13, 0), "other@example.com");
    expect_problem(
        stack.post_book(stack.haircut, &again).await,
        409,
        "slot_unavailable",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_booking_rule_refuses_with_its_own_code_and_writes_nothing() {
    let stack = Stack::new(BookingSettings {
        allow_same_day: false,
        max_advance_days: 30,
        ..BookingSettings::default()
    })
    .await;
    let cases = [
        (ny_text(2026, 12, 3, 10, 0), "slot_in_past"),
        (ny_text(2026, 12, 4, 9, 30), "too_short_notice"),
        (ny_text(2026, 12, 4, 13, 0), "same_day_not_allowed"),
        (ny_text(2027, 1, 11, 10, 0), "beyond_booking_window"),
        (ny_text(2026, 12, 6, 10, 0), "outside_working_hours"),
        (ny_text(2026, 12, 7, 11, 30), "outside_working_hours"),
        (ny_text(2026, 12, 7, 10, 10), "not_a_slot"),
        ("2026-12-07T15:00:30Z".to_owned(), "not_a_slot"),
    ];
    for (start, code) in cases {
        let body = booking_body(&start, "jane@example.com");
        let problem = expect_problem(stack.post_book(stack.haircut, &body).await, 422, code);
        assert!(problem.get("alternatives").is_none());
    }
    assert_eq!(
        (stack.count("jobs").await, stack.count("contacts").await),
        (0, 0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_slot_is_a_409_offering_the_next_three_free_slots() {
    let stack = Stack::default().await;
    let first = booking_body(&ny_text(2026, 12, 7, 16, 0), "first@example.com");
    assert_eq!(stack.post_book(stack.haircut, &first).await.status, 201);
    let second = booking_body(&ny_text(2026, 12, 7, 16, 0), "second@example.com");
    let problem = expect_problem(
        stack.post_book(stack.haircut, &second).await,
        409,
        "slot_unavailable",
    );
    let alternatives: Vec<&str> = problem["alternatives"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["start"].as_str())
        .collect();
    assert_eq!(
        alternatives,
        [
            "2026-12-08T09:00:00-05:00",
            "2026-12-08T09:30:00-05:00",
            "2026-12-08T10:00:00-05:00"
        ]
    );
    assert_eq!(stack.count("jobs").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_a_clear_400_and_changes_nothing() {
    let stack = Stack::default().await;
    let start = ny_text(2026, 12, 7, 10, 0);
    let long_name = "n".repeat(201);
    let long_notes = "x".repeat(2001);
    let huge = json!({"start": start, "name": "Jane", "email": "jane@example.com", "notes": "y".repeat(17 * 1024)}).to_string();
    let cases: Vec<(String, Option<&str>)> = vec![
        ("{not json".to_owned(), None),
        ("[]".to_owned(), None),
        (String::new(), None),
        (json!({"name": "Jane", "email": "jane@example.com"}).to_string(), Some("start")),
        (json!({"start": start, "email": "jane@example.com"}).to_string(), Some("name")),
        (json!({"start": start, "name": "Jane"}).to_string(), Some("email")),
        (json!({"start": 1765119600, "name": "Jane", "email": "jane@example.com"}).to_string(), Some("start")),
        (json!({"start": "2026-12-07 10:00", "name": "Jane", "email": "jane@example.com"}).to_string(), Some("start")),
        (json!({"start": "2026-12-07T10:00:00", "name": "Jane", "email": "jane@example.com"}).to_string(), Some("start")),
        (json!({"start": start, "name": ["Jane"], "email": "jane@example.com"}).to_string(), Some("name")),
        (json!({"start": start, "name": long_name, "email": "jane@example.com"}).to_string(), Some("name")),
        (json!({"start": start, "name": "Jane", "email": "jane@example.com", "notes": long_notes}).to_string(), Some("notes")),
        (json!({"start": start, "name": "Jane", "email": "not-an-email"}).to_string(), Some("email")),
        (json!({"start": start, "name": "Jane", "email": "john..doe@example.com"}).to_string(), Some("email")),
        (json!({"start": start, "name": "Jane", "email": "a:b@x.com"}).to_string(), Some("email")),
        (json!({"start": start, "name": "Jane\u{202E}moc.live", "email": "jane@example.com"}).to_string(), Some("name")),
        (json!({"start": start, "name": "Jane", "email": "jane@example.com", "notes": "a\u{200B}b"}).to_string(), Some("notes")),
        (json!({"start": start, "name": "Jane\r\nBcc: x@evil.example", "email": "jane@example.com"}).to_string(), Some("name")),
        (json!({"start": start, "name": "Jane", "email": "jane@example.com", "phone": "call me"}).to_string(), Some("phone")),
        (huge, Some("body")),
    ];
    for (body, field) in cases {
        let problem = expect_problem(
            stack.post_book(stack.haircut, &body).await,
            400,
            "invalid_request",
        );
        if let Some(field) = field {
            let fields: Vec<&str> = problem["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["field"].as_str())
                .collect();
            assert!(fields.contains(&field), "expected {field} in {problem}");
        }
    }
    // Several problems are reported together.
    let many = json!({"start": "soon", "name": "", "email": "@"}).to_string();
    let problem = expect_problem(
        stack.post_book(stack.haircut, &many).await,
        400,
        "invalid_request",
    );
    assert_eq!(problem["errors"].as_array().map(Vec::len), Some(3));
    // A body that is not JSON by its content type.
    let plain = book_request(
        stack.haircut,
        &booking_body(&start, "jane@example.com"),
        &[],
    );
    let (mut parts, body) = plain.into_parts();
    parts.headers.insert(
        "content-type",
        lambda_http::http::HeaderValue::from_static("text/plain"),
    );
    let plain = lambda_http::Request::from_parts(parts, body);
    expect_problem(stack.send(Route::Book, plain).await, 400, "invalid_request");
    // An unknown service with a good body is a 404.
    let good = booking_body(&start, "jane@example.com");
    expect_problem(
        stack.post_book(uuid::Uuid::new_v4(), &good).await,
        404,
        "service_not_found",
    );
    expect_problem(
        stack.post_book(stack.retired, &good).await,
        404,
        "service_not_found",
    );
    assert_eq!(
        (
            stack.count("jobs").await,
            stack.count("contacts").await,
            stack.count("idempotency_keys").await
        ),
        (0, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_metacharacters_and_unicode_are_stored_and_returned_verbatim() {
    let stack = Stack::default().await;
    let name = "Robert'); DROP TABLE jobs;-- Ñandú 李 🎉";
    let notes = "line one\nline two: 100% \"quoted\" \\ back";
    let body = json!({"start": ny_text(2026, 12, 7, 9, 0), "name": name, "email": "o'brien+x@example.com", "notes": notes}).to_string();
    let created = stack.post_book(stack.haircut, &body).await;
    assert_eq!(created.status, 201, "{created}");
    assert_eq!(created["job"]["client"]["name"], name);
    assert_eq!(created["job"]["client"]["email"], "o'brien+x@example.com");
    assert_eq!(created["job"]["notes"], notes);
    assert_eq!(stack.count("jobs").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_contact_per_email_whatever_its_case() {
    let stack = Stack::default().await;
    for (hour, email, name) in [
        (9, "jane@example.com", "Jane"),
        (13, "JANE@Example.COM", "Jane Doe"),
    ] {
        let body = json!({"start": ny_text(2026, 12, 7, hour, 0), "name": name, "email": email})
            .to_string();
        assert_eq!(stack.post_book(stack.haircut, &body).await.status, 201);
    }
    assert_eq!(
        (stack.count("contacts").await, stack.count("jobs").await),
        (1, 2)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_router_shape_without_path_parameters_books_too() {
    let stack = Stack::default().await;
    let body = booking_body(&ny_text(2026, 12, 8, 9, 0), "jane@example.com");
    let created = stack
        .send(Route::Book, local_book_request(stack.haircut, &body))
        .await;
    assert_eq!(
        (created.status, created["job"]["serviceId"].clone()),
        (201, json!(stack.haircut))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let stack = Stack::default().await;
    let body = booking_body(&ny_text(2026, 12, 7, 9, 0), "jane@example.com");
    let key = [("Idempotency-Key", "order-7f3a")];
    let created = stack.post_book_with(stack.haircut, &body, &key).await;
    assert_eq!(created.status, 201);
    let again = stack.post_book_with(stack.haircut, &body, &key).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        (again.status, &again["job"]["id"]),
        (201, &created["job"]["id"])
    );
    assert_eq!(stack.count("jobs").await, 1);

    let other = booking_body(&ny_text(2026, 12, 7, 13, 0), "jane@example.com");
    expect_problem(
        stack.post_book_with(stack.haircut, &other, &key).await,
        422,
        "idempotency_key_reused",
    );

    // A refusal is replayed as well, and a fresh key is a fresh request.
    let taken = booking_body(&ny_text(2026, 12, 7, 9, 0), "late@example.com");
    let late_key = [("Idempotency-Key", "order-late")];
    expect_problem(
        stack.post_book_with(stack.haircut, &taken, &late_key).await,
        409,
        "slot_unavailable",
    );
    expect_problem(
        stack.post_book_with(stack.haircut, &taken, &late_key).await,
        409,
        "slot_unavailable",
    );
    assert_eq!(stack.count("jobs").await, 1);

    // Malformed keys are refused before anything happens.
    for bad in ["has space", &"k".repeat(256)] {
        let problem = expect_problem(
            stack
                .post_book_with(stack.haircut, &other, &[("Idempotency-Key", bad)])
                .await,
            400,
            "invalid_request",
        );
        assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    }
    assert_eq!(stack.count("jobs").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_still_being_processed_answers_request_in_progress() {
    let stack = Stack::default().await;
    let body = booking_body(&ny_text(2026, 12, 7, 9, 0), "jane@example.com");
    // Another container has claimed the key and not finished.
    let mut conn = stack.db.connection().await;
    let scope = book_slot::key_scope(stack.haircut);
    let claim = idempotency::claim(&mut conn, &scope, "busy-key", body.as_bytes())
        .await
        .expect("claim");
    assert_eq!(claim, idempotency::Claim::Fresh);
    let response = stack
        .post_book_with(stack.haircut, &body, &[("Idempotency-Key", "busy-key")])
        .await;
    expect_problem(response, 409, "request_in_progress");
    assert_eq!(stack.count("jobs").await, 0);
    let _: Value = json!(null);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_address_booking_too_often_is_told_to_wait_and_others_are_not() {
    let stack = Stack::default().await;
    let mut limited = stack.container();
    limited.config.booking_rate_limit_per_minute = 3;
    for hour in [9, 13, 14] {
        let body = booking_body(&ny_text(2026, 12, 7, hour, 0), "jane@example.com");
        assert_eq!(limited.post_book(stack.haircut, &body).await.status, 201);
    }
    let body = booking_body(&ny_text(2026, 12, 7, 15, 0), "jane@example.com");
    let response = limited.post_book(stack.haircut, &body).await;
    expect_rate_limited(response);
    assert_eq!(stack.count("jobs").await, 3);
    // Another client address has its own allowance.
    let elsewhere = local_book_request(stack.haircut, &body);
    assert_eq!(limited.send(Route::Book, elsewhere).await.status, 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_count_against_the_limit_and_a_limited_key_can_be_used_again() {
    let stack = Stack::default().await;
    let mut limited = stack.container();
    limited.config.booking_rate_limit_per_minute = 2;
    // Two refusals use up the allowance: probing costs as much as booking.
    let sunday = booking_body(&ny_text(2026, 12, 6, 10, 0), "jane@example.com");
    for _ in 0..2 {
        let response = limited.post_book(stack.haircut, &sunday).await;
        expect_problem(response, 422, "outside_working_hours");
    }
    let body = booking_body(&ny_text(2026, 12, 7, 9, 0), "jane@example.com");
    let keyed = [("Idempotency-Key", "limited-key")];
    let response = limited.post_book_with(stack.haircut, &body, &keyed).await;
    expect_problem(response, 429, "rate_limited");
    assert_eq!(stack.count("jobs").await, 0);
    // "Not now" is not the key's answer: once allowed, the same key books.
    limited.config.booking_rate_limit_per_minute = 10;
    let response = limited.post_book_with(stack.haircut, &body, &keyed).await;
    assert_eq!(response.status, 201);
    let replay = limited.post_book_with(stack.haircut, &body, &keyed).await;
    assert_eq!(
        replay
            .headers
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    assert_eq!(stack.count("jobs").await, 1);
}
