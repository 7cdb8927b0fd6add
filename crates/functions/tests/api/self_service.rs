//! The client's own booking by its manage link: the token from the 201, moving and cancelling,
//! every old link dying, the limits of the tenant, and races over separate connections.

use booking_domain::BookingSettings;
use booking_functions::Deps;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::support::*;

/// `GET /bookings/{token}` or `POST /bookings/{token}/{action}`, through the route's handler.
async fn manage(
    deps: &Deps,
    token: &str,
    action: Option<&str>,
    body: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let route = Route::Manage(match action {
        Some("cancel") => "cancel",
        Some(_) => "reschedule",
        None => "view",
    });
    deps.send(route, manage_request(token, action, body, headers))
        .await
}

async fn view(deps: &Deps, token: &str) -> Reply {
    manage(deps, token, None, "", &[]).await
}

async fn move_to(deps: &Deps, token: &str, start: &str) -> Reply {
    let body = json!({ "start": start }).to_string();
    manage(deps, token, Some("reschedule"), &body, &[]).await
}

async fn cancel(deps: &Deps, token: &str) -> Reply {
    manage(deps, token, Some("cancel"), "", &[]).await
}

/// Books `start` on the haircut; the job id and its manage token.
async fn booked(stack: &Stack, start: &str, email: &str) -> (String, String) {
    let created = stack
        .post_book(stack.haircut, &booking_body(start, email))
        .await;
    assert_eq!(created.status, 201, "{created}");
    let token = created["manageToken"]
        .as_str()
        .expect("manageToken")
        .to_owned();
    (created["job"]["id"].as_str().unwrap().to_owned(), token)
}

/// The kinds of the job's mails, and its history's actions, as the owner sees them.
async fn mails_and_history(stack: &Stack, job: &str) -> (Vec<String>, Vec<String>) {
    let detail = stack.get_job(job, &stack.token()).await;
    assert_eq!(detail.status, 200, "{detail}");
    let list = |v: &Value, field: &str| -> Vec<String> {
        v.as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|item| item[field].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    (
        list(&detail["emails"], "kind"),
        list(&detail["history"], "action"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_moves_their_booking_twice_and_cancels_it_and_every_old_link_dies() {
    let stack = Stack::default().await;
    let (job, first) = booked(&stack, &ny_text(2026, 12, 8, 10, 0), "jane@example.com").await;

    let page = view(&stack.deps, &first).await;
    assert_eq!(page.status, 200, "{page}");
    assert_eq!(page["booking"]["jobId"], json!(job));
    assert_eq!(page["booking"]["status"], json!("scheduled"));
    assert_eq!(page["booking"]["canCancel"], json!(true));
    assert_eq!(page["booking"]["canReschedule"], json!(true));
    assert_eq!(
        page["booking"]["changeableUntil"],
        json!(ny_text(2026, 12, 7, 10, 0))
    );
    assert_eq!(
        page["booking"]["business"]["timeZone"],
        json!("America/New_York")
    );

    let moved = move_to(&stack.deps, &first, &ny_text(2026, 12, 9, 11, 0)).await;
    assert_eq!(moved.status, 200, "{moved}");
    assert_eq!(moved["booking"]["jobId"], json!(job), "the same job");
    assert_eq!(
        moved["booking"]["start"],
        json!(ny_text(2026, 12, 9, 11, 0))
    );
    let second = moved["manageToken"].as_str().unwrap().to_owned();
    assert_ne!(second, first);

    let unknown = view(&stack.deps, &"A".repeat(48)).await;
    let dead = view(&stack.deps, &first).await;
    let malformed = view(&stack.deps, "not-a-token").await;
    let unknown = expect_problem(unknown, 404, "booking_not_found");
    assert_eq!(expect_problem(dead, 404, "booking_not_found"), unknown);
    assert_eq!(expect_problem(malformed, 404, "booking_not_found"), unknown);
    let reused = move_to(&stack.deps, &first, &ny_text(2026, 12, 10, 13, 0)).await;
    assert_eq!(expect_problem(reused, 404, "booking_not_found"), unknown);

    let moved = move_to(&stack.deps, &second, &ny_text(2026, 12, 10, 13, 0)).await;
    assert_eq!(moved.status, 200, "{moved}");
    let third = moved["manageToken"].as_str().unwrap().to_owned();
    expect_problem(cancel(&stack.deps, &second).await, 404, "booking_not_found");

    let cancelled = cancel(&stack.deps, &third).await;
    assert_eq!(cancelled.status, 200, "{cancelled}");
    assert_eq!(cancelled["booking"]["status"], json!("cancelled"));
    assert_eq!(cancelled["booking"]["canCancel"], json!(false));
    // A cancelled booking's page still answers, with its status.
    let page = view(&stack.deps, &third).await;
    assert_eq!(page["booking"]["status"], json!("cancelled"), "{page}");
    let again = cancel(&stack.deps, &third).await;
    expect_problem(again, 409, "invalid_transition");

    let (mut mails, history) = mails_and_history(&stack, &job).await;
    mails.sort();
    assert_eq!(
        mails,
        [
            "client-booked",
            "client-cancelled",
            "client-rescheduled",
            "client-rescheduled",
            "owner-booking-cancelled",
            "owner-booking-rescheduled",
            "owner-booking-rescheduled",
            "owner-new-booking",
        ]
    );
    assert_eq!(
        history,
        ["booked", "rescheduled", "rescheduled", "cancelled"]
    );
    let detail = stack.get_job(&job, &stack.token()).await;
    assert_eq!(detail["job"]["cancelledBy"], json!("client"));
    assert!(
        detail["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == json!("client"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_replay_of_a_booking_carries_the_current_link() {
    let stack = Stack::default().await;
    let body = booking_body(&ny_text(2026, 12, 8, 10, 0), "jane@example.com");
    let first = stack
        .post_book_with(stack.haircut, &body, &[("Idempotency-Key", "key-1")])
        .await;
    assert_eq!(first.status, 201, "{first}");
    let token = first["manageToken"].as_str().unwrap().to_owned();
    let replay = stack
        .post_book_with(stack.haircut, &body, &[("Idempotency-Key", "key-1")])
        .await;
    assert_eq!(replay["manageToken"], json!(token));
    let moved = move_to(&stack.deps, &token, &ny_text(2026, 12, 9, 11, 0)).await;
    assert_eq!(moved.status, 200, "{moved}");
    let replay = stack
        .post_book_with(stack.haircut, &body, &[("Idempotency-Key", "key-1")])
        .await;
    assert_eq!(replay["manageToken"], moved["manageToken"]);
    assert_eq!(
        view(&stack.deps, replay["manageToken"].as_str().unwrap())
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_capacity_one_booking_moves_by_one_slot_into_time_it_overlaps_itself() {
    let stack = Stack::default().await;
    // 45 minutes at 10:00; 10:30 overlaps its own 10:00–10:45.
    let (_, token) = booked(&stack, &ny_text(2026, 12, 8, 10, 0), "jane@example.com").await;
    let moved = move_to(&stack.deps, &token, &ny_text(2026, 12, 8, 10, 30)).await;
    assert_eq!(moved.status, 200, "{moved}");
    assert_eq!(moved["booking"]["end"], json!(ny_text(2026, 12, 8, 11, 15)));
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_answer_their_codes_and_change_nothing() {
    let stack = Stack::default().await;
    let (job, token) = booked(&stack, &ny_text(2026, 12, 8, 10, 0), "jane@example.com").await;
    let (other, _) = booked(&stack, &ny_text(2026, 12, 8, 13, 0), "john@example.com").await;
    let before = mails_and_history(&stack, &job).await;

    // A booking rule: outside working hours, a start that is no slot, the other's place.
    let night = move_to(&stack.deps, &token, &ny_text(2026, 12, 8, 22, 0)).await;
    expect_problem(night, 422, "outside_working_hours");
    let odd = move_to(&stack.deps, &token, &ny_text(2026, 12, 8, 10, 10)).await;
    expect_problem(odd, 422, "not_a_slot");
    let taken = move_to(&stack.deps, &token, &ny_text(2026, 12, 8, 13, 0)).await;
    let taken = expect_problem(taken, 409, "slot_unavailable");
    assert!(
        taken["alternatives"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );

    // Inside the notice window (the day before at 10:00 is the last moment).
    let mut late = stack.container();
    late.clock = fixed_clock(ny(2026, 12, 7, 10, 1));
    let refused = expect_problem(cancel(&late, &token).await, 422, "too_late_to_change");
    assert_eq!(
        refused["changeableUntil"],
        json!(ny_text(2026, 12, 7, 10, 0))
    );
    let page = view(&late, &token).await;
    assert_eq!(page["booking"]["canCancel"], json!(false));
    assert_eq!(page["booking"]["canReschedule"], json!(false));

    let bad = manage(
        &stack.deps,
        &token,
        Some("reschedule"),
        "{\"start\": 5}",
        &[],
    )
    .await;
    expect_problem(bad, 400, "invalid_request");

    assert_eq!(
        mails_and_history(&stack, &job).await,
        before,
        "nothing changed"
    );
    assert_eq!(
        view(&stack.deps, &token).await.status,
        200,
        "the link still works"
    );
    let _ = other;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_that_forbids_client_changes_refuses_them_but_not_the_owner() {
    let stack = Stack::new(BookingSettings {
        client_can_cancel: false,
        client_can_reschedule: false,
        ..BookingSettings::default()
    })
    .await;
    let (job, token) = booked(&stack, &ny_text(2026, 12, 8, 10, 0), "jane@example.com").await;
    expect_problem(cancel(&stack.deps, &token).await, 422, "change_not_allowed");
    let moved = move_to(&stack.deps, &token, &ny_text(2026, 12, 9, 11, 0)).await;
    expect_problem(moved, 422, "change_not_allowed");
    let owner = stack
        .post_transition(&job, "cancel", "", &stack.token())
        .await;
    assert_eq!(owner.status, 200, "owners are exempt: {owner}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_move_under_required_confirmation_waits_for_the_owner_again() {
    let stack = Stack::pending().await;
    let (job, token) = booked(&stack, &ny_text(2026, 12, 8, 10, 0), "jane@example.com").await;
    assert_eq!(stack.post_confirm(&job, &stack.token()).await.status, 200);
    let moved = move_to(&stack.deps, &token, &ny_text(2026, 12, 9, 11, 0)).await;
    assert_eq!(moved.status, 200, "{moved}");
    assert_eq!(moved["booking"]["status"], json!("pending-confirmation"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_simultaneous_moves_of_one_booking_let_exactly_one_land() {
    let stack = Stack::default().await;
    let (job, token) = booked(&stack, &ny_text(2026, 12, 8, 10, 0), "jane@example.com").await;
    let containers: Vec<Deps> = (0..30).map(|_| stack.container()).collect();
    for deps in &containers {
        drop(deps.connection().await.expect("connect"));
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(30));
    let starts = [
        (9, 9),
        (9, 10),
        (9, 11),
        (9, 13),
        (9, 14),
        (10, 9),
        (10, 10),
        (10, 11),
        (10, 13),
        (10, 14),
    ];
    let tasks = containers.into_iter().enumerate().map(|(i, deps)| {
        let (barrier, token) = (barrier.clone(), token.clone());
        let (day, hour) = starts[i % starts.len()];
        tokio::spawn(async move {
            barrier.wait().await;
            move_to(&deps, &token, &ny_text(2026, 12, day, hour, 0)).await
        })
    });
    let replies: Vec<Reply> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let landed = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        landed,
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(
        replies
            .iter()
            .all(|r| r.status == 200 || r["code"] == json!("booking_not_found"))
    );
    assert_eq!(stack.count("jobs").await, 1);
    let (_, history) = mails_and_history(&stack, &job).await;
    assert_eq!(history, ["booked", "rescheduled"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_racing_another_clients_booking_for_the_same_slot_never_overbooks() {
    for round in 0..5 {
        let stack = Stack::default().await;
        let (job, token) = booked(&stack, &ny_text(2026, 12, 8, 10, 0), "jane@example.com").await;
        let target = ny_text(2026, 12, 9, 11, 0);
        let (mover, booker) = (stack.container(), stack.container());
        drop(mover.connection().await.unwrap());
        drop(booker.connection().await.unwrap());
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let (b1, b2, t1, t2) = (barrier.clone(), barrier, target.clone(), target.clone());
        let haircut = stack.haircut;
        let moving = tokio::spawn(async move {
            b1.wait().await;
            move_to(&mover, &token, &t1).await.status
        });
        let booking = tokio::spawn(async move {
            b2.wait().await;
            booker
                .post_book(haircut, &booking_body(&t2, "other@example.com"))
                .await
                .status
        });
        let (moved, booked_status) = (moving.await.unwrap(), booking.await.unwrap());
        let won = [moved == 200, booked_status == 201];
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: {moved} {booked_status}"
        );
        assert!(moved == 200 || moved == 409);
        assert!(booked_status == 201 || booked_status == 409);
        // Never a lost job: the mover's job is still there, at one time or the other.
        let detail = stack.get_job(&job, &stack.token()).await;
        assert_eq!(detail["job"]["status"], json!("scheduled"));
        assert_eq!(
            stack.count("jobs").await,
            1 + i64::from(booked_status == 201)
        );
    }
}

/// The mails the in-memory mailer took, in order: kind, recipient, what a mail client reads.
fn mails_sent(deps: &Deps) -> Vec<(String, String, ReadMail)> {
    deps.mailer
        .sent()
        .into_iter()
        .map(|mail| (mail.kind.as_str().to_owned(), mail.to, read_mail(&mail.raw)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_client_mail_links_the_current_page_and_a_move_updates_the_same_calendar_entry() {
    let stack = Stack::default().await;
    let (job, first) = booked(&stack, &ny_text(2026, 12, 8, 10, 0), "jane@example.com").await;
    let moved = move_to(&stack.deps, &first, &ny_text(2026, 12, 9, 11, 0)).await;
    assert_eq!(moved.status, 200, "{moved}");
    let second = moved["manageToken"].as_str().unwrap().to_owned();
    let cancelled = cancel(&stack.deps, &second).await;
    assert_eq!(cancelled.status, 200, "{cancelled}");

    let mails = mails_sent(&stack.deps);
    let find = |kind: &str| {
        mails.iter().find(|(k, _, _)| k == kind).unwrap_or_else(|| {
            panic!(
                "no {kind} in {:?}",
                mails.iter().map(|m| &m.0).collect::<Vec<_>>()
            )
        })
    };
    let link = |token: &str| format!("http://localhost:5173/manage/{token}");

    let (_, to, booked_mail) = find("client-booked");
    assert_eq!(to, "jane@example.com");
    assert!(
        booked_mail.text.contains(&link(&first)),
        "{}",
        booked_mail.text
    );
    let booked_invite = parse_invitation(&booked_mail.invitation.as_ref().unwrap().1);

    let (_, to, moved_mail) = find("client-rescheduled");
    assert_eq!(to, "jane@example.com");
    assert!(
        moved_mail.text.contains(&link(&second)),
        "the new link: {}",
        moved_mail.text
    );
    assert!(
        !moved_mail.text.contains(&link(&first)),
        "never the dead one"
    );
    let (method, ics) = moved_mail.invitation.as_ref().unwrap();
    assert_eq!(method, "REQUEST");
    let moved_invite = parse_invitation(ics);
    assert_eq!(
        moved_invite.uid, booked_invite.uid,
        "the same calendar entry"
    );
    assert_eq!(moved_invite.uid, format!("{job}@booking"));
    assert!(moved_invite.sequence > booked_invite.sequence);
    assert_ne!(moved_invite.start, booked_invite.start);

    let (_, to, notice) = find("owner-booking-rescheduled");
    assert_eq!(to, "owner@fifi.example");
    assert!(notice.invitation.is_none());
    assert!(
        notice.text.contains("Tuesday, December 8, 2026, 10:00 AM"),
        "old time: {}",
        notice.text
    );
    assert!(
        notice
            .text
            .contains("Wednesday, December 9, 2026, 11:00 AM"),
        "new time: {}",
        notice.text
    );
    assert!(
        notice.text.contains(&format!("/jobs/{job}")),
        "dashboard link"
    );
    assert!(
        !notice.text.contains("/manage/"),
        "the owner gets no client link"
    );

    let (_, to, cancelled_mail) = find("client-cancelled");
    assert_eq!(to, "jane@example.com");
    assert!(
        cancelled_mail.text.contains("as you asked"),
        "{}",
        cancelled_mail.text
    );
    assert!(cancelled_mail.text.contains(&link(&second)));
    let (method, ics) = cancelled_mail.invitation.as_ref().unwrap();
    assert_eq!(method, "CANCEL");
    assert_eq!(parse_invitation(ics).uid, booked_invite.uid);
    let (_, to, _) = find("owner-booking-cancelled");
    assert_eq!(to, "owner@fifi.example");
}
