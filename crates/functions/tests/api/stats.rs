//! `GET /stats`: counts over the tenant's jobs of every status starting in the range, with
//! cancellations by who from the jobs' history, the no-show rate, the median lead time, the
//! busiest local hours and the utilisation of the open hours.

use booking_repository::diesel_async::RunQueryDsl;
use booking_test_support::{load, salon};
use serde_json::{Value, json};

use crate::support::*;

pub(crate) fn get_stats<'a>(
    api: &'a impl Api,
    query: &[(&str, &str)],
    auth: Auth<'_>,
) -> futures_util::future::BoxFuture<'a, Reply> {
    let request = owner_get("/stats", "/stats", Value::Null, query, auth);
    api.send(Route::Stats, request)
}

/// Books `start` on `service` as a client would: the job's id and its manage token.
async fn book_on(stack: &Stack, service: uuid::Uuid, start: &str, email: &str) -> (String, String) {
    let reply = stack.post_book(service, &booking_body(start, email)).await;
    assert_eq!(reply.status, 201, "{reply}");
    (
        reply["job"]["id"].as_str().unwrap().to_owned(),
        reply["manageToken"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stats_count_a_range_of_jobs_by_status_service_and_who_cancelled() {
    let stack = Stack::default().await;
    let token = stack.token();
    let (ana, _) = book_on(
        &stack,
        stack.haircut,
        &ny_text(2026, 12, 5, 10, 0),
        "ana@example.com",
    )
    .await;
    let (ben, ben_link) = book_on(
        &stack,
        stack.haircut,
        &ny_text(2026, 12, 5, 11, 0),
        "ben@example.com",
    )
    .await;
    let (cat, _) = book_on(
        &stack,
        stack.haircut,
        &ny_text(2026, 12, 5, 12, 0),
        "cat@example.com",
    )
    .await;
    let (dan, _) = book_on(
        &stack,
        stack.haircut,
        &ny_text(2026, 12, 7, 10, 0),
        "dan@example.com",
    )
    .await;
    let (eve, _) = book_on(
        &stack,
        stack.colour,
        &ny_text(2026, 12, 7, 13, 0),
        "eve@example.com",
    )
    .await;
    // Outside the range, and another tenant's job: not counted.
    book_on(
        &stack,
        stack.haircut,
        &ny_text(2026, 12, 8, 10, 0),
        "far@example.com",
    )
    .await;
    let other = load(&stack.db, &salon("other", Default::default())).await;
    let other_haircut = booking_test_support::service(&other, "haircut");
    let theirs = stack
        .post_book(
            other_haircut,
            &booking_body(&ny_text(2026, 12, 5, 10, 0), "x@example.com"),
        )
        .await;
    assert_eq!(theirs.status, 201, "{theirs}");

    let cancelled = stack
        .send(
            Route::Manage("cancel"),
            manage_request(&ben_link, Some("cancel"), "", &[]),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{cancelled}");
    assert_eq!(
        stack
            .post_transition(&cat, "cancel", "{}", &token)
            .await
            .status,
        200
    );
    let mut later = stack.container();
    later.clock = fixed_clock(ny(2026, 12, 8, 9, 0));
    assert_eq!(
        later
            .post_transition(&ana, "no-show", "{}", &token)
            .await
            .status,
        200
    );
    assert_eq!(
        later
            .post_transition(&dan, "complete", "{}", &token)
            .await
            .status,
        200
    );
    // Booked 1 to 5 hours ahead (created_at is the database's clock: set it).
    let mut conn = stack.db.connection().await;
    for (hours, job) in [(1, &ana), (2, &ben), (3, &cat), (4, &dan), (5, &eve)] {
        diesel::sql_query(format!(
            "UPDATE jobs SET created_at = starts_at - interval '{hours} hours' WHERE id = '{job}'"
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    }

    let reply = get_stats(
        &stack,
        &[("from", "2026-12-05"), ("to", "2026-12-07")],
        (&token).into(),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(
        reply["byStatus"],
        json!({"no-show": 1, "cancelled": 2, "completed": 1, "scheduled": 1})
    );
    let mut by_service = serde_json::Map::new();
    by_service.insert(stack.haircut.to_string(), json!(4));
    by_service.insert(stack.colour.to_string(), json!(1));
    assert_eq!(reply["byService"], Value::Object(by_service));
    assert_eq!(reply["byStaff"], json!({}));
    assert_eq!(reply["cancelledBy"], json!({"client": 1, "owner": 1}));
    assert_eq!(reply["noShowRate"], json!(0.5));
    assert_eq!(reply["leadTimeMinutesMedian"], json!(180.0));
    assert_eq!(
        reply["busiest"],
        json!([
            {"weekday": "mon", "hour": 10, "jobs": 1},
            {"weekday": "mon", "hour": 13, "jobs": 1},
            {"weekday": "sat", "hour": 10, "jobs": 1}
        ])
    );
    // Open: Saturday 10–14 (240 min), Sunday closed, Monday 9–12 and 13–17 (420 min); booked by
    // the jobs not cancelled: 45 + 45 + 90 minutes.
    assert_eq!(reply["openMinutes"], json!(660));
    let utilisation = reply["utilisation"].as_f64().unwrap();
    assert!((utilisation - 180.0 / 660.0).abs() < 1e-9, "{utilisation}");

    // An empty range: zeros and nulls, not errors.
    let empty = get_stats(
        &stack,
        &[("from", "2026-12-06"), ("to", "2026-12-06")],
        (&token).into(),
    )
    .await;
    assert_eq!(empty.status, 200, "{empty}");
    assert_eq!(empty["byStatus"], json!({}));
    assert_eq!(empty["noShowRate"], json!(0.0));
    assert_eq!(empty["leadTimeMinutesMedian"], Value::Null);
    assert_eq!(empty["busiest"], json!([]));
    assert_eq!(empty["utilisation"], json!(0.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stats_range_is_read_as_get_jobs_reads_it_up_to_a_year() {
    let stack = Stack::default().await;
    let token = stack.token();
    for (query, field) in [
        (vec![("from", "2026-12-07"), ("to", "2026-12-05")], "to"),
        (vec![("from", "2026-13-01")], "from"),
        (vec![("from", "2026-12-01"), ("to", "2027-12-02")], "to"),
        (vec![("to", "tomorrow")], "to"),
    ] {
        let body = expect_problem(
            get_stats(&stack, &query, (&token).into()).await,
            400,
            "invalid_request",
        );
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    expect_problem(
        get_stats(&stack, &[], Auth::None).await,
        401,
        "unauthorized",
    );
    let year = get_stats(
        &stack,
        &[("from", "2026-01-01"), ("to", "2026-12-31")],
        (&token).into(),
    )
    .await;
    assert_eq!(year.status, 200, "{year}");
    let week = get_stats(&stack, &[], (&token).into()).await;
    assert_eq!(
        (week["from"].as_str(), week["to"].as_str()),
        (Some("2026-12-04"), Some("2026-12-10"))
    );
}
