use booking_domain::BookingSettings;
use booking_functions::availability;
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn availability_defaults_to_the_week_starting_on_the_tenants_today() {
    let stack = Stack::default().await;
    let response =
        availability::handle(&stack.deps, availability_request(stack.haircut, &[])).await;
    let (status, content_type, body) = read(response);
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "application/json");
    assert_eq!(body["timeZone"], "America/New_York");
    assert_eq!(body["durationMinutes"], 45);
    assert_eq!(
        (body["from"].as_str(), body["to"].as_str()),
        (Some("2026-12-04"), Some("2026-12-10"))
    );
    let slots = body["slots"].as_array().cloned().unwrap_or_default();
    // Friday from 10:00 (an hour's notice), Saturday 10:00–13:15, Monday to Thursday full days.
    assert_eq!(slots[0]["start"], "2026-12-04T10:00:00-05:00");
    assert_eq!(slots[0]["end"], "2026-12-04T10:45:00-05:00");
    assert_eq!(slots[0]["remaining"], 1);
    let on = |date: &str| {
        slots
            .iter()
            .filter(|s| s["start"].as_str().is_some_and(|t| t.starts_with(date)))
            .count()
    };
    assert_eq!(on("2026-12-04"), 10);
    assert_eq!(on("2026-12-05"), 7);
    assert_eq!(on("2026-12-06"), 0);
    assert_eq!(on("2026-12-07"), 12);
    let starts: Vec<&str> = slots.iter().filter_map(|s| s["start"].as_str()).collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted);
}

#[tokio::test(flavor = "multi_thread")]
async fn availability_answers_an_explicit_range_and_shows_the_dst_offset_change() {
    let stack = Stack::new(BookingSettings {
        max_advance_days: 365,
        ..BookingSettings::default()
    })
    .await;
    // Around 2027-03-14, when New York springs forward.
    let response = availability::handle(
        &stack.deps,
        availability_request(
            stack.haircut,
            &[("from", "2027-03-12"), ("to", "2027-03-15")],
        ),
    )
    .await;
    let (status, _, body) = read(response);
    assert_eq!(status, 200, "{body}");
    let slots = body["slots"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        slots.first().map(|s| s["start"].clone()),
        Some(json!("2027-03-12T09:00:00-05:00"))
    );
    assert_eq!(
        slots.last().map(|s| s["start"].clone()),
        Some(json!("2027-03-15T16:00:00-04:00"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_ranges_and_dates_are_refused_with_the_field_named() {
    let stack = Stack::default().await;
    for query in [
        vec![("from", "2026-12-10"), ("to", "2026-12-01")],
        vec![("from", "2026-12-01"), ("to", "2027-02-01")],
        vec![("from", "12/01/2026")],
        vec![("from", "2026-02-30")],
        vec![("to", "tomorrow")],
    ] {
        let response =
            availability::handle(&stack.deps, availability_request(stack.haircut, &query)).await;
        let body = expect_problem(response, 400, "invalid_request");
        assert!(body["errors"][0]["field"].is_string(), "{body}");
    }
    // 62 days inclusive is the most one request may ask for.
    let response = availability::handle(
        &stack.deps,
        availability_request(
            stack.haircut,
            &[("from", "2026-12-04"), ("to", "2027-02-03")],
        ),
    )
    .await;
    assert_eq!(read(response).0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_inactive_and_malformed_services_are_not_found() {
    let stack = Stack::default().await;
    for service in [
        uuid::Uuid::new_v4().to_string(),
        stack.retired.to_string(),
        "not-a-uuid".to_owned(),
        "1 OR 1=1".to_owned(),
    ] {
        let response = availability::handle(&stack.deps, availability_request(&service, &[])).await;
        expect_problem(response, 404, "service_not_found");
    }
}
