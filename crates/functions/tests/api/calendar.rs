//! The owner's calendar and contacts: `GET /jobs` by local dates with filters and keyset pages,
//! `GET /jobs/{jobId}` with mails and history, `GET /contacts` and `GET /contacts/{id}`; bad
//! input is a 400 and another tenant's rows are a 404 like missing ones.

use booking_test_support::{load, salon};
use serde_json::{Value, json};

use crate::support::*;

fn ids(reply: &Reply, list: &str) -> Vec<String> {
    reply[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_calendar_lists_every_status_on_local_dates_in_start_order() {
    let stack = Stack::default().await;
    let token = stack.token();
    // Monday's last job ends after midnight UTC (17:00 EST is 22:00 UTC): it is Monday's.
    let nine = stack
        .book(&ny_text(2026, 12, 7, 9, 0), "a@example.com")
        .await;
    let four = stack
        .book(&ny_text(2026, 12, 7, 16, 0), "b@example.com")
        .await;
    let tuesday = stack
        .book(&ny_text(2026, 12, 8, 10, 0), "c@example.com")
        .await;
    let evening = json!({"serviceId": stack.colour, "start": ny_text(2026, 12, 7, 20, 30), "name": "Late", "email": "late@example.com"}).to_string();
    let late = stack.post_job(&evening, &token).await["job"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled = stack.post_transition(&four, "cancel", "", &token).await;
    assert_eq!(cancelled.status, 200);

    let monday = stack
        .get_jobs(&[("from", "2026-12-07"), ("to", "2026-12-07")], &token)
        .await;
    assert_eq!(monday.status, 200, "{monday}");
    assert_eq!(
        ids(&monday, "jobs"),
        [nine.clone(), four.clone(), late.clone()]
    );
    assert_eq!(monday["nextCursor"], Value::Null);
    assert_eq!(monday["jobs"][1]["status"], "cancelled");
    // Defaults: the tenant's today (Friday) and six days after.
    let week = stack.get_jobs(&[], &token).await;
    assert_eq!(
        ids(&week, "jobs"),
        [nine.clone(), four.clone(), late.clone(), tuesday.clone()]
    );
    assert_eq!(
        (week["from"].as_str(), week["to"].as_str()),
        (Some("2026-12-04"), Some("2026-12-10"))
    );
    let active = stack
        .get_jobs(
            &[
                ("from", "2026-12-07"),
                ("to", "2026-12-08"),
                ("status", "scheduled,in-progress"),
            ],
            &token,
        )
        .await;
    assert_eq!(
        ids(&active, "jobs"),
        [nine.clone(), late.clone(), tuesday.clone()]
    );
    let colour = stack.colour.to_string();
    let by_service = stack
        .get_jobs(
            &[
                ("from", "2026-12-07"),
                ("to", "2026-12-08"),
                ("serviceId", &colour),
            ],
            &token,
        )
        .await;
    assert_eq!(ids(&by_service, "jobs"), [late]);
    let none = stack
        .get_jobs(
            &[
                ("from", "2026-12-07"),
                ("to", "2026-12-08"),
                ("status", "no-show"),
            ],
            &token,
        )
        .await;
    assert_eq!(ids(&none, "jobs"), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_follow_the_cursor_without_gaps_or_repeats() {
    let stack = Stack::new(booking_domain::BookingSettings {
        max_bookings_per_slot: 3,
        ..Default::default()
    })
    .await;
    let token = stack.token();
    let mut booked = Vec::new();
    for (n, hour) in [9, 9, 9, 10, 10, 11, 13].into_iter().enumerate() {
        booked.push(
            stack
                .book(&ny_text(2026, 12, 7, hour, 0), &format!("p{n}@example.com"))
                .await,
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = vec![("from", "2026-12-07"), ("to", "2026-12-07"), ("limit", "2")];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.as_str()));
        }
        let page = stack.get_jobs(&query, &token).await;
        assert_eq!(page.status, 200, "{page}");
        assert!(page["jobs"].as_array().unwrap().len() <= 2);
        seen.extend(ids(&page, "jobs"));
        pages += 1;
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    let mut expected = booked.clone();
    expected.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, expected, "every job once");
    // In start order, ties by id.
    let listed = stack
        .get_jobs(&[("from", "2026-12-07"), ("to", "2026-12-07")], &token)
        .await;
    assert_eq!(ids(&listed, "jobs"), seen);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_calendar_queries_are_refused_naming_the_field() {
    let stack = Stack::default().await;
    let token = stack.token();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("from", "2026-12-01"), ("to", "2027-02-01")], "to"),
        (&[("from", "2026-12-08"), ("to", "2026-12-07")], "to"),
        (&[("from", "12/07/2026")], "from"),
        (&[("status", "scheduled,confirmed")], "status"),
        (&[("status", "No-Show")], "status"),
        (&[("serviceId", "haircut")], "serviceId"),
        (&[("limit", "0")], "limit"),
        (&[("limit", "501")], "limit"),
        (&[("limit", "ten")], "limit"),
        (&[("cursor", "not-a-cursor")], "cursor"),
        (&[("cursor", "6a00")], "cursor"),
    ];
    for (query, field) in cases {
        let problem = expect_problem(stack.get_jobs(query, &token).await, 400, "invalid_request");
        assert_eq!(
            problem["errors"][0]["field"], *field,
            "{query:?}: {problem}"
        );
    }
    // 62 dates is the most; limit 500 too.
    let widest = stack
        .get_jobs(
            &[
                ("from", "2026-12-01"),
                ("to", "2027-01-31"),
                ("limit", "500"),
            ],
            &token,
        )
        .await;
    assert_eq!(widest.status, 200, "{widest}");
    expect_problem(stack.get_jobs(&[], Auth::None).await, 401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn another_tenants_job_and_contact_are_not_found_like_missing_ones() {
    let stack = Stack::default().await;
    let job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    let rival = load(&stack.db, &salon("rival", Default::default())).await;
    let rival_token = owner_token(rival.tenant_id, 600);
    let theirs = stack.get_job(&job, &rival_token).await;
    let missing = stack
        .get_job(&uuid::Uuid::new_v4().to_string(), &rival_token)
        .await;
    assert_eq!(
        (theirs.status, &theirs.body),
        (missing.status, &missing.body)
    );
    expect_problem(theirs, 404, "job_not_found");
    expect_problem(
        stack.get_job("not-a-uuid", &stack.token()).await,
        404,
        "job_not_found",
    );
    let listed = stack
        .get_jobs(
            &[("from", "2026-12-07"), ("to", "2026-12-07")],
            &rival_token,
        )
        .await;
    assert_eq!(listed["jobs"], json!([]));

    let contacts = stack.get_contacts(&[], &stack.token()).await;
    let contact = contacts["contacts"][0]["id"].as_str().unwrap().to_owned();
    let theirs = stack.get_contact(&contact, &rival_token).await;
    let missing = stack
        .get_contact(&uuid::Uuid::new_v4().to_string(), &rival_token)
        .await;
    assert_eq!(
        (theirs.status, &theirs.body),
        (missing.status, &missing.body)
    );
    expect_problem(theirs, 404, "not_found");
    expect_problem(stack.get_contact("x", &rival_token).await, 404, "not_found");
    assert_eq!(
        stack.get_contacts(&[], &rival_token).await["contacts"],
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_job_shows_its_mails_and_its_history_from_the_booking_on() {
    let stack = Stack::pending().await;
    let token = stack.token();
    let job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    assert_eq!(stack.post_confirm(&job, &token).await.status, 200);
    let detail = stack.get_job(&job, &token).await;
    assert_eq!(detail.status, 200, "{detail}");
    assert_eq!(detail["job"]["status"], "scheduled");
    let kinds: Vec<&str> = detail["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["kind"].as_str())
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(kinds.contains(&"client-pending") && kinds.contains(&"client-confirmed"));
    let history = detail["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        (
            history[0]["action"].as_str(),
            history[0]["actor"].as_str(),
            history[0]["toStatus"].as_str()
        ),
        (Some("booked"), Some("client"), Some("pending-confirmation"))
    );
    assert_eq!(history[0]["toStart"], "2026-12-07T10:00:00-05:00");
    assert_eq!(
        (
            history[1]["action"].as_str(),
            history[1]["fromStatus"].as_str(),
            history[1]["toStatus"].as_str()
        ),
        (
            Some("confirmed"),
            Some("pending-confirmation"),
            Some("scheduled")
        )
    );
    assert!(
        history[1]["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("owner:"))
    );
    // A change of status alone shows no times.
    assert!(history[1].get("toStart").is_none() && history[1].get("fromStart").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn contacts_are_searched_by_name_or_email_in_any_case_and_show_their_jobs() {
    let stack = Stack::default().await;
    let token = stack.token();
    let first = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    let second = stack
        .book(&ny_text(2026, 12, 8, 10, 0), "JANE@example.com")
        .await;
    stack
        .book(&ny_text(2026, 12, 9, 10, 0), "bob_100%@example.com")
        .await;
    let walk_in = json!({"serviceId": stack.haircut, "start": ny_text(2026, 12, 9, 19, 0), "name": "Zed Walker", "email": "zed@example.org"}).to_string();
    assert_eq!(stack.post_job(&walk_in, &token).await.status, 201);

    let all = stack.get_contacts(&[], &token).await;
    assert_eq!(all.status, 200, "{all}");
    assert_eq!(all["contacts"].as_array().map(Vec::len), Some(3));
    let jane = stack.get_contacts(&[("q", "JaNe@")], &token).await;
    assert_eq!(jane["contacts"].as_array().map(Vec::len), Some(1), "{jane}");
    assert_eq!(jane["contacts"][0]["jobCount"], 2);
    assert_eq!(
        jane["contacts"][0]["lastStart"],
        "2026-12-08T10:00:00-05:00"
    );
    let by_name = stack.get_contacts(&[("q", "walk")], &token).await;
    assert_eq!(by_name["contacts"][0]["email"], "zed@example.org");
    // Wildcards are literal.
    assert_eq!(
        stack.get_contacts(&[("q", "%")], &token).await["contacts"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        stack.get_contacts(&[("q", "_")], &token).await["contacts"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let page = stack.get_contacts(&[("limit", "2")], &token).await;
    let next = page["nextCursor"].as_str().unwrap().to_owned();
    let rest = stack
        .get_contacts(&[("limit", "2"), ("cursor", &next)], &token)
        .await;
    assert_eq!(rest["contacts"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["nextCursor"], Value::Null);
    for query in [
        [("limit", "0")],
        [("cursor", "zz")],
        [("q", &*"x".repeat(201))],
    ] {
        expect_problem(
            stack.get_contacts(&query, &token).await,
            400,
            "invalid_request",
        );
    }

    let contact = jane["contacts"][0]["id"].as_str().unwrap().to_owned();
    let detail = stack.get_contact(&contact, &token).await;
    assert_eq!(detail.status, 200, "{detail}");
    assert_eq!(detail["contact"]["email"], "jane@example.com");
    assert_eq!(ids(&detail, "jobs"), [first, second]);
}
