//! The owner's transitions through the API: every status × every transition, the refusals
//! (which change nothing and write no history), races between separate containers, and the
//! mails of a cancellation and of each move.

use booking_domain::{JobAction, JobStatus, MOVES, MailKind};
use booking_functions::Deps;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::support::*;

const TRANSITIONS: [&str; 5] = ["start", "complete", "no-show", "cancel", "reschedule"];

/// Deps of another container whose clock stands at `at`.
fn at_time(stack: &Stack, at: chrono::DateTime<chrono::Utc>) -> Deps {
    let mut deps = stack.container();
    deps.clock = fixed_clock(at);
    deps
}

/// The job's history as `GET /jobs/{id}` shows it.
async fn history(deps: &Deps, job: &str, token: &str) -> Vec<Value> {
    let detail = deps.get_job(job, token).await;
    assert_eq!(detail.status, 200, "{detail}");
    detail["history"].as_array().cloned().unwrap_or_default()
}

/// A job booked at `start` and brought into `status` through the API.
async fn job_in(stack: &Stack, status: JobStatus, start: &str, n: usize) -> String {
    let token = stack.token();
    let job = stack.book(start, &format!("c{n}@example.com")).await;
    let later = at_time(stack, ny(2026, 12, 31, 12, 0));
    let steps: &[(&str, &str)] = match status {
        JobStatus::PendingConfirmation => &[],
        JobStatus::Scheduled => &[("confirm", "")],
        JobStatus::InProgress => &[("confirm", ""), ("start", "")],
        JobStatus::Completed => &[("confirm", ""), ("complete", "")],
        JobStatus::Cancelled => &[("cancel", "")],
        JobStatus::NoShow => &[("confirm", ""), ("no-show", "")],
    };
    for (action, body) in steps {
        let reply = if *action == "confirm" {
            later.post_confirm(&job, &token).await
        } else {
            later.post_transition(&job, action, body, &token).await
        };
        assert_eq!(reply.status, 200, "{action}: {reply}");
    }
    job
}

#[tokio::test(flavor = "multi_thread")]
async fn every_transition_from_every_status_is_allowed_or_refused_as_the_table_says() {
    let stack = Stack::pending().await;
    let token = stack.token();
    // After every start: a no-show is judged by its status alone.
    let later = at_time(&stack, ny(2026, 12, 31, 12, 0));
    let mut n = 0;
    for status in JobStatus::ALL {
        for action in TRANSITIONS {
            let (day, hour) = (7 + (n / 7) as u32, [9, 10, 11, 13, 14, 15, 16][n % 7]);
            let job = job_in(&stack, status, &ny_text(2026, 12, day, hour, 0), n).await;
            let before = later.get_job(&job, &token).await;
            let body = match action {
                "reschedule" => {
                    json!({"start": ny_text(2026, 12, 13, n as u32 % 20, 0)}).to_string()
                }
                "cancel" => json!({"reason": "Closed"}).to_string(),
                _ => String::new(),
            };
            let reply = later.post_transition(&job, action, &body, &token).await;
            let parsed = JobAction::parse(action).unwrap();
            let allowed = MOVES
                .iter()
                .find(|(from, act, _)| *from == status && *act == parsed)
                .map(|(_, _, to)| *to);
            let after = later.get_job(&job, &token).await;
            match allowed {
                Some(to) => {
                    assert_eq!(reply.status, 200, "{status} × {action}: {reply}");
                    assert_eq!(reply["job"]["status"], to.as_str(), "{status} × {action}");
                    let entries = after["history"].as_array().unwrap();
                    assert_eq!(
                        entries.len(),
                        before["history"].as_array().unwrap().len() + 1
                    );
                    let last = entries.last().unwrap();
                    assert_eq!(last["action"], parsed.past(), "{last}");
                    assert_eq!(
                        (last["fromStatus"].as_str(), last["toStatus"].as_str()),
                        (Some(status.as_str()), Some(to.as_str()))
                    );
                    assert!(
                        last["actor"]
                            .as_str()
                            .is_some_and(|a| a.starts_with("owner:"))
                    );
                }
                None => {
                    let problem = expect_problem(reply, 409, "invalid_transition");
                    assert_eq!(problem["currentStatus"], status.as_str(), "{problem}");
                    assert!(
                        problem["detail"]
                            .as_str()
                            .is_some_and(|d| d.contains(status.as_str())),
                        "{problem}"
                    );
                    // A refusal changes nothing and writes no history.
                    assert_eq!(after.body, before.body, "{status} × {action}");
                }
            }
            n += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_no_show_waits_for_the_start_but_a_job_may_start_early() {
    let stack = Stack::default().await;
    let token = stack.token();
    let job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    // Friday morning, before Monday's start.
    let early = stack.post_transition(&job, "no-show", "", &token).await;
    let problem = expect_problem(early, 409, "invalid_transition");
    assert_eq!(problem["currentStatus"], "scheduled");
    assert_eq!(history(&stack.deps, &job, &token).await.len(), 1);
    let at_ten_past = at_time(&stack, ny(2026, 12, 7, 10, 10));
    let marked = at_ten_past
        .post_transition(&job, "no-show", "", &token)
        .await;
    assert_eq!(
        (marked.status, marked["job"]["status"].as_str()),
        (200, Some("no-show"))
    );
    // No-show mails nobody.
    assert_eq!(
        stack.deps.mailer.sent().len(),
        2,
        "the booking's two mails only"
    );

    let other = stack
        .book(&ny_text(2026, 12, 8, 10, 0), "kim@example.com")
        .await;
    let started = stack.post_transition(&other, "start", "", &token).await;
    assert_eq!(
        (started.status, started["job"]["status"].as_str()),
        (200, Some("in-progress"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_transition_input_is_refused_and_changes_nothing() {
    let stack = Stack::default().await;
    let token = stack.token();
    let job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    for body in [
        json!({"start": "Monday at ten"}).to_string(),
        json!({"start": "2026-12-07T10:00:00"}).to_string(),
        json!({"start": 42}).to_string(),
        "{}".to_owned(),
        "not json".to_owned(),
    ] {
        let reply = stack
            .post_transition(&job, "reschedule", &body, &token)
            .await;
        expect_problem(reply, 400, "invalid_request");
    }
    for body in [
        json!({"reason": "r".repeat(1001)}).to_string(),
        json!({"reason": 7}).to_string(),
        "[]".to_owned(),
    ] {
        let reply = stack.post_transition(&job, "cancel", &body, &token).await;
        expect_problem(reply, 400, "invalid_request");
    }
    // Unknown, malformed and another tenant's jobs are all the same 404.
    let rival = booking_test_support::load(
        &stack.db,
        &booking_test_support::salon("rival", Default::default()),
    )
    .await;
    let rival_token = owner_token(rival.tenant_id, 600);
    let theirs = stack
        .post_transition(&job, "cancel", "", &rival_token)
        .await;
    let unknown = stack
        .post_transition(
            &uuid::Uuid::new_v4().to_string(),
            "cancel",
            "",
            &rival_token,
        )
        .await;
    assert_eq!(
        (theirs.status, &theirs.body),
        (unknown.status, &unknown.body)
    );
    expect_problem(theirs, 404, "job_not_found");
    expect_problem(
        stack.post_transition("nope", "start", "", &token).await,
        404,
        "job_not_found",
    );
    expect_problem(
        stack.post_transition(&job, "start", "", Auth::None).await,
        401,
        "unauthorized",
    );
    assert_eq!(stack.count("job_events").await, 1);
    assert_eq!(stack.count("jobs WHERE status = 'scheduled'").await, 1);
    assert_eq!(stack.count("emails").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_and_complete_racing_for_one_job_let_exactly_one_win() {
    let stack = Stack::default().await;
    let token = stack.token();
    for hour in [9, 10, 11] {
        let job = stack
            .book(
                &ny_text(2026, 12, 8, hour, 0),
                &format!("c{hour}@example.com"),
            )
            .await;
        let mut tasks = Vec::new();
        for i in 0..10 {
            let deps = stack.container();
            let (job, token) = (job.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let action = if i % 2 == 0 { "cancel" } else { "complete" };
                deps.post_transition(&job, action, "", &token).await.status
            }));
        }
        let statuses: Vec<u16> = join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 409).count(),
            9,
            "{statuses:?}"
        );
        let entries = history(&stack.deps, &job, &token).await;
        assert_eq!(entries.len(), 2, "one booking, one change: {entries:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moves_racing_into_the_last_place_never_overbook() {
    let stack = Stack::default().await;
    let token = stack.token();
    let mut jobs = Vec::new();
    for hour in [9, 10, 11, 13, 14, 15] {
        jobs.push(
            stack
                .book(
                    &ny_text(2026, 12, 9, hour, 0),
                    &format!("m{hour}@example.com"),
                )
                .await,
        );
    }
    // All six want Thursday 19:00 (after hours: owners may), where one fits.
    let target = json!({"start": ny_text(2026, 12, 10, 19, 0)}).to_string();
    let mut tasks = Vec::new();
    for job in jobs.clone() {
        let deps = stack.container();
        let (token, target) = (token.clone(), target.clone());
        tasks.push(tokio::spawn(async move {
            deps.post_transition(&job, "reschedule", &target, &token)
                .await
                .status
        }));
    }
    let statuses: Vec<u16> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        stack
            .count("jobs WHERE starts_at = '2026-12-11T00:00:00Z'")
            .await,
        1
    );
    assert_eq!(
        stack.count("job_events WHERE action = 'rescheduled'").await,
        1
    );
    assert_eq!(
        stack
            .count("emails WHERE kind = 'client-rescheduled'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_that_would_overbook_names_the_conflict_and_its_own_place_counts_as_free() {
    let stack = Stack::default().await;
    let token = stack.token();
    let first = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "a@example.com")
        .await;
    let _second = stack
        .book(&ny_text(2026, 12, 7, 11, 0), "b@example.com")
        .await;
    let onto = json!({"start": ny_text(2026, 12, 7, 11, 30)}).to_string();
    let problem = expect_problem(
        stack
            .post_transition(&first, "reschedule", &onto, &token)
            .await,
        409,
        "slot_unavailable",
    );
    assert_eq!(
        problem["conflicts"][0]["start"],
        "2026-12-07T11:00:00-05:00"
    );
    // Fifteen minutes later overlaps only itself: allowed.
    let nudge = json!({"start": ny_text(2026, 12, 7, 10, 15)}).to_string();
    let moved = stack
        .post_transition(&first, "reschedule", &nudge, &token)
        .await;
    assert_eq!(moved.status, 200, "{moved}");
    assert_eq!(moved["job"]["start"], "2026-12-07T10:15:00-05:00");
    assert_eq!(moved["job"]["end"], "2026-12-07T11:00:00-05:00");
    assert_eq!(history(&stack.deps, &first, &token).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_move_mails_once_with_a_higher_sequence_and_a_cancel_cancels_the_invitation() {
    let stack = Stack::default().await;
    let token = stack.token();
    let job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    let key = [("Idempotency-Key", "move-1")];
    let to_eleven = json!({"start": ny_text(2026, 12, 7, 11, 0)}).to_string();
    let first = stack
        .post_transition_with(&job, "reschedule", &to_eleven, &token, &key)
        .await;
    assert_eq!(first.status, 200, "{first}");
    // The same request again: replayed, nothing changes, nothing is mailed.
    let again = stack
        .post_transition_with(&job, "reschedule", &to_eleven, &token, &key)
        .await;
    assert_eq!(
        (again.status, again.header("idempotent-replayed")),
        (200, Some("true"))
    );
    assert_eq!(again["job"]["start"], first["job"]["start"]);
    // Without a key, a move to where the job already is changes nothing either.
    let same = stack
        .post_transition(&job, "reschedule", &to_eleven, &token)
        .await;
    assert_eq!(same.status, 200);
    let to_two = json!({"start": ny_text(2026, 12, 7, 14, 0)}).to_string();
    assert_eq!(
        stack
            .post_transition(&job, "reschedule", &to_two, &token)
            .await
            .status,
        200
    );
    let cancel = json!({"reason": "The salon floods on Mondays"}).to_string();
    let cancelled = stack.post_transition(&job, "cancel", &cancel, &token).await;
    assert_eq!(cancelled.status, 200, "{cancelled}");
    assert_eq!(cancelled["job"]["cancelledBy"], "owner");
    assert_eq!(
        cancelled["job"]["cancelReason"],
        "The salon floods on Mondays"
    );

    let sent = stack.deps.mailer.sent();
    let to_client: Vec<_> = sent
        .iter()
        .filter(|m| m.to == "jane@example.com")
        .map(|m| {
            let read = read_mail(&m.raw);
            let (method, ics) = read.invitation.expect("client mails carry an invitation");
            let invitation = parse_invitation(&ics);
            assert_eq!(invitation.method, method, "the MIME method= matches METHOD");
            (m.kind, invitation, read.text)
        })
        .collect();
    let kinds: Vec<MailKind> = to_client.iter().map(|(k, _, _)| *k).collect();
    assert_eq!(
        kinds,
        [
            MailKind::ClientBooked,
            MailKind::ClientRescheduled,
            MailKind::ClientRescheduled,
            MailKind::ClientCancelled
        ]
    );
    let uid = format!("{job}@booking");
    let sequences: Vec<u32> = to_client.iter().map(|(_, ics, _)| ics.sequence).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    for (kind, ics, _) in &to_client {
        assert_eq!(ics.uid, uid);
        let expected = if *kind == MailKind::ClientCancelled {
            ("CANCEL", "CANCELLED")
        } else {
            ("REQUEST", "CONFIRMED")
        };
        assert_eq!(
            (ics.method.as_str(), ics.status.as_str()),
            expected,
            "{kind}"
        );
    }
    // Each move's mail shows its own new time; the cancellation carries the reason.
    assert_eq!(to_client[1].1.start, "20261207T160000Z");
    assert_eq!(to_client[2].1.start, "20261207T190000Z");
    assert!(to_client[3].2.contains("The salon floods on Mondays"));
    assert!(
        sent.iter()
            .all(|m| m.to == "jane@example.com" || m.kind == MailKind::OwnerNewBooking),
        "owners' own actions mail only the client"
    );
    let detail = stack.get_job(&job, &token).await;
    let actions: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["booked", "rescheduled", "rescheduled", "cancelled"]
    );
    assert_eq!(detail["history"][0]["actor"], "client");
    assert_eq!(
        detail["history"][1]["fromStart"],
        "2026-12-07T10:00:00-05:00"
    );
    assert_eq!(detail["history"][1]["toStart"], "2026-12-07T11:00:00-05:00");
    assert_eq!(
        detail["history"][3]["reason"],
        "The salon floods on Mondays"
    );
    assert_eq!(detail["emails"].as_array().map(Vec::len), Some(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_owners_change_answers_before_its_mail_goes_out_which_the_container_sends_after() {
    let stack = Stack::default().await;
    let token = stack.token();
    let job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    let cancelled = |deps: &Deps| {
        deps.mailer
            .sent()
            .into_iter()
            .filter(|m| m.kind == MailKind::ClientCancelled)
            .count()
    };
    // The handler alone, as the runtime sees it: the answer is built before any mail is tried.
    let request = owner_event(
        "POST",
        "POST /jobs/{jobId}/cancel",
        &format!("/jobs/{job}/cancel"),
        json!({"jobId": job}),
        &[],
        r#"{"reason": "Closed"}"#,
        token.as_str().into(),
        &[],
    );
    let reply = read(booking_functions::job_transitions::handle(&stack.deps, request).await);
    assert_eq!(reply.status, 200, "{reply}");
    // (status, attempts) of the cancellation's mail in a list of the job's mails.
    let cancel_mail = |mails: &Value| {
        mails
            .as_array()
            .and_then(|mails| mails.iter().find(|m| m["kind"] == "client-cancelled"))
            .map(|m| (m["status"].clone(), m["attempts"].clone()))
            .expect("the cancellation's mail is recorded with the change")
    };
    assert_eq!(
        cancel_mail(&reply["job"]["emails"]),
        (json!("pending"), json!(0))
    );
    assert_eq!(cancelled(&stack.deps), 0);
    // Then the container does what the invocation owes (serve_http, held open in AWS by the
    // post-response extension): the mail goes out once.
    stack.deps.settle().await;
    stack.deps.settle().await;
    assert_eq!(cancelled(&stack.deps), 1);
    let detail = stack.get_job(&job, &token).await;
    assert_eq!(cancel_mail(&detail["emails"]), (json!("sent"), json!(1)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_mailed_late_after_a_cancellation_never_outranks_the_cancellation() {
    let stack = Stack::default().await;
    let token = stack.token();
    let job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    // SES is unreachable while the owner moves the job and then cancels it: both client mails
    // wait in the outbox and go out together, in no particular order, once SES is back.
    let outage = deps_with(
        &stack.db.url,
        &[],
        booking_test_support::ses::ses_mailer("http://127.0.0.1:9").await,
    );
    let to_eleven = json!({"start": ny_text(2026, 12, 7, 11, 0)}).to_string();
    let moved = outage
        .post_transition(&job, "reschedule", &to_eleven, &token)
        .await;
    assert_eq!(moved.status, 200, "{moved}");
    let cancel = json!({"reason": "Closed for the day"}).to_string();
    let cancelled = outage
        .post_transition(&job, "cancel", &cancel, &token)
        .await;
    assert_eq!(cancelled.status, 200, "{cancelled}");
    assert_eq!(
        stack
            .count("emails WHERE kind IN ('client-rescheduled', 'client-cancelled') AND status = 'pending'")
            .await,
        2
    );

    let later = friday_morning() + chrono::Duration::hours(1);
    let mut conn = stack.deps.pool.get().await.expect("connection");
    let report = relay_mails_at(&mut conn, &stack.deps, later).await;
    assert_eq!(report.sent, 2, "{report:?}");
    let invitation = |kind: MailKind| {
        let mail = stack
            .deps
            .mailer
            .sent()
            .into_iter()
            .find(|m| m.kind == kind)
            .expect("the mail went out");
        let (_, ics) = read_mail(&mail.raw).invitation.expect("an invitation");
        parse_invitation(&ics)
    };
    let (booked, moved, cancelled) = (
        invitation(MailKind::ClientBooked),
        invitation(MailKind::ClientRescheduled),
        invitation(MailKind::ClientCancelled),
    );
    assert_eq!(
        (moved.uid.as_str(), cancelled.uid.as_str()),
        (booked.uid.as_str(), booked.uid.as_str())
    );
    assert_eq!(
        (moved.method.as_str(), cancelled.method.as_str()),
        ("REQUEST", "CANCEL")
    );
    // RFC 5546: a calendar applies the higher SEQUENCE, whatever order the two arrive in, so
    // the late move's invitation must rank below the cancellation — each carries its change's.
    assert!(
        booked.sequence < moved.sequence && moved.sequence < cancelled.sequence,
        "booked {}, moved {}, cancelled {}",
        booked.sequence,
        moved.sequence,
        cancelled.sequence
    );
}
