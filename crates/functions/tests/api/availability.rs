use booking_domain::BookingSettings;
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn availability_defaults_to_the_week_starting_on_the_tenants_today() {
    let stack = Stack::default().await;
    let body = stack.get_availability(stack.haircut, &[]).await;
    assert_eq!(body.status, 200, "{body}");
    assert_eq!(body.content_type, "application/json");
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
    let body = stack
        .get_availability(
            stack.haircut,
            &[("from", "2027-03-12"), ("to", "2027-03-15")],
        )
        .await;
    assert_eq!(body.status, 200, "{body}");
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
        let response = stack.get_availability(stack.haircut, &query).await;
        let body = expect_problem(response, 400, "invalid_request");
        assert!(body["errors"][0]["field"].is_string(), "{body}");
    }
    // 62 days inclusive is the most one request may ask for.
    let response = stack
        .get_availability(
            stack.haircut,
            &[("from", "2026-12-04"), ("to", "2027-02-03")],
        )
        .await;
    assert_eq!(response.status, 200);
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
        let response = stack.get_availability(&service, &[]).await;
        expect_problem(response, 404, "service_not_found");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_client_asking_too_often_is_told_to_wait_and_others_are_not() {
    let stack = Stack::default().await;
    let limited = stack.container_with(&[("AVAILABILITY_RATE_LIMIT_PER_MINUTE", "3")]);
    let week = [("from", "2026-12-07")];
    let ask = |ip: &str| {
        limited.send(
            Route::Availability,
            availability_request_from(stack.haircut, &week, ip, &[]),
        )
    };
    // One IPv6 client owns its /64: every address in it shares one allowance.
    for ip in [
        "2001:db8:1:2::1",
        "2001:db8:1:2::ffff",
        "2001:db8:1:2:abcd::9",
    ] {
        assert_eq!(ask(ip).await.status, 200, "{ip}");
    }
    let response = ask("2001:db8:1:2:ffff:ffff:ffff:ffff").await;
    expect_rate_limited(response);
    // The next /64 and an IPv4 client have their own.
    assert_eq!(ask("2001:db8:1:3::1").await.status, 200);
    assert_eq!(ask("198.51.100.4").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_cloudfront_each_viewer_has_its_own_allowance_and_forged_headers_count_for_nothing()
{
    let stack = Stack::default().await;
    let limited = stack.container_with(&[
        ("AVAILABILITY_RATE_LIMIT_PER_MINUTE", "2"),
        ("EDGE_ORIGIN_SECRET", "edge-secret"),
    ]);
    let week = [("from", "2026-12-07")];
    // Every request reaches API Gateway from a CloudFront address.
    let via_edge = |secret: &str, viewer: &str| {
        let headers = [
            ("x-origin-verify", secret),
            ("cloudfront-viewer-address", viewer),
        ];
        let request = availability_request_from(stack.haircut, &week, "130.176.0.1", &headers);
        limited.send(Route::Availability, request)
    };
    for viewer in [
        "198.51.100.1:50001",
        "198.51.100.2:50002",
        "198.51.100.3:50003",
    ] {
        for _ in 0..2 {
            assert_eq!(
                via_edge("edge-secret", viewer).await.status,
                200,
                "{viewer}"
            );
        }
    }
    expect_problem(
        via_edge("edge-secret", "198.51.100.1:50009").await,
        429,
        "rate_limited",
    );
    // Without the secret the viewer header is anybody's: the request counts for its source.
    for viewer in ["192.0.2.1:1", "192.0.2.2:2"] {
        assert_eq!(via_edge("guess", viewer).await.status, 200);
    }
    expect_problem(via_edge("guess", "192.0.2.3:3").await, 429, "rate_limited");
}
