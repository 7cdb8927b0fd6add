//! SES bounces and complaints: fed to the `ses-feedback` handler as SNS delivers them, in SES's
//! documented notification format. A permanent bounce or a complaint suppresses the address for
//! the tenant; the next mail to it is `suppressed`, and the owner is told once per job; a
//! transient bounce suppresses nothing; a malformed message is dropped without failing.

use booking_domain::MailKind;
use booking_functions::ses_feedback;
use booking_repository::diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::support::*;

/// SES's notification of `event_type` about the mail `message_id`, as event publishing sends it.
fn notification(event_type: &str, message_id: &str, detail: Value) -> Value {
    let mut message = json!({
        "eventType": event_type,
        "mail": {
            "timestamp": "2026-12-04T14:00:00.000Z",
            "source": "bookings@example.com",
            "messageId": message_id,
            "destination": ["ana@example.com"],
            "tags": {"ses:configuration-set": ["booking"], "ses:caller-identity": ["booking"]}
        }
    });
    message[event_type.to_ascii_lowercase()] = detail;
    message
}

fn bounce(kind: &str, message_id: &str, address: &str) -> Value {
    notification(
        "Bounce",
        message_id,
        json!({
            "bounceType": kind,
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": address, "action": "failed", "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
            "timestamp": "2026-12-04T14:00:01.000Z",
            "feedbackId": "0100017-feedback"
        }),
    )
}

fn complaint(message_id: &str, address: &str) -> Value {
    notification(
        "Complaint",
        message_id,
        json!({
            "complainedRecipients": [{"emailAddress": address}],
            "timestamp": "2026-12-04T14:00:02.000Z",
            "feedbackId": "0100017-complaint",
            "complaintFeedbackType": "abuse"
        }),
    )
}

/// An SNS delivery of `messages` (each an SES notification, or raw text).
fn sns(messages: &[Value]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, message)| {
            let text = match message {
                Value::String(raw) => raw.clone(),
                other => other.to_string(),
            };
            json!({
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:ses-feedback:1",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": format!("sns-{i}"),
                    "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-feedback",
                    "Subject": null,
                    "Message": text,
                    "Timestamp": "2026-12-04T14:00:03.000Z",
                    "MessageAttributes": {}
                }
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The SES message id the outbox kept for `job`'s mail of `kind`.
async fn message_id(stack: &Stack, job: &str, kind: MailKind) -> String {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        ses_message_id: String,
    }
    let mut conn = stack.db.connection().await;
    let row: Row = diesel::sql_query(
        "SELECT ses_message_id FROM emails WHERE job_id = $1::uuid AND kind = $2",
    )
    .bind::<diesel::sql_types::Text, _>(job)
    .bind::<diesel::sql_types::Text, _>(kind.as_str())
    .get_result(&mut conn)
    .await
    .unwrap();
    row.ses_message_id
}

/// `job`'s mails as the owner's `GET /jobs/{id}` shows them: (kind, status).
async fn mails_of(stack: &Stack, job: &str, token: &str) -> Vec<(String, String)> {
    let reply = stack.get_job(job, token).await;
    assert_eq!(reply.status, 200, "{reply}");
    reply["emails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap().to_owned(),
                m["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn get_suppressions<'a>(
    api: &'a impl Api,
    token: &str,
) -> futures_util::future::BoxFuture<'a, Reply> {
    let request = owner_get(
        "/suppressions",
        "/suppressions",
        Value::Null,
        &[],
        token.into(),
    );
    api.send(Route::Suppressions, request)
}

fn delete_suppression<'a>(
    api: &'a impl Api,
    raw: &str,
    token: &str,
) -> futures_util::future::BoxFuture<'a, Reply> {
    let request = owner_event(
        "DELETE",
        "DELETE /suppressions/{email}",
        &format!("/suppressions/{raw}"),
        Value::Null,
        &[],
        "",
        token.into(),
        &[],
    );
    api.send(Route::LiftSuppression, request)
}

async fn relay(stack: &Stack) {
    booking_functions::email_relay::run_once(&stack.deps, friday_morning)
        .await
        .unwrap();
}

fn sent_to<'a>(stack: &'a Stack, address: &'a str) -> impl Fn(MailKind) -> usize + 'a {
    move |kind| {
        stack
            .deps
            .mailer
            .sent()
            .iter()
            .filter(|m| m.to == address && m.kind == kind)
            .count()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_bounce_suppresses_the_address_and_its_next_mails_while_the_owner_is_told_once_per_job()
 {
    let stack = Stack::pending().await;
    let token = stack.token();
    let first = stack
        .book(&ny_text(2026, 12, 5, 10, 0), "ana@example.com")
        .await;
    let bounced = message_id(&stack, &first, MailKind::ClientPending).await;

    let handled = ses_feedback::handle(
        &stack.deps,
        sns(&[bounce("Permanent", &bounced, "Ana@Example.com")]),
    )
    .await
    .unwrap();
    assert_eq!(handled["suppressed"], 1, "{handled}");
    let listed = get_suppressions(&stack, &token).await;
    assert_eq!(listed.status, 200, "{listed}");
    assert_eq!(
        listed["suppressions"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
    assert_eq!(listed["suppressions"][0]["email"], "ana@example.com");
    assert_eq!(listed["suppressions"][0]["reason"], "bounce");
    assert_eq!(listed["suppressions"][0]["at"], "2026-12-04T09:00:01-05:00");

    // The owner confirms: the client's confirmation is not sent but recorded `suppressed`.
    assert_eq!(stack.post_confirm(&first, &token).await.status, 200);
    relay(&stack).await;
    let mails = mails_of(&stack, &first, &token).await;
    assert!(
        mails.contains(&("client-confirmed".to_owned(), "suppressed".to_owned())),
        "{mails:?}"
    );
    assert!(
        mails.contains(&("owner-client-unreachable".to_owned(), "sent".to_owned())),
        "{mails:?}"
    );
    let to_ana = sent_to(&stack, "ana@example.com");
    assert_eq!(to_ana(MailKind::ClientConfirmed), 0);
    let to_owner = sent_to(&stack, "owner@fifi.example");
    assert_eq!(to_owner(MailKind::OwnerClientUnreachable), 1);

    // The same report again changes nothing; a later change of the job tells the owner no more.
    ses_feedback::handle(
        &stack.deps,
        sns(&[bounce("Permanent", &bounced, "ana@example.com")]),
    )
    .await
    .unwrap();
    let cancel = stack.post_transition(&first, "cancel", "{}", &token).await;
    assert_eq!(cancel.status, 200, "{cancel}");
    relay(&stack).await;
    assert_eq!(to_ana(MailKind::ClientCancelled), 0);
    assert_eq!(
        to_owner(MailKind::OwnerClientUnreachable),
        1,
        "once per job"
    );

    // A new booking by the same address: its client mail is suppressed at once, the owner's
    // new-booking mail goes out, and the owner hears about this job too.
    let second = stack
        .book(&ny_text(2026, 12, 5, 11, 0), "ANA@example.com")
        .await;
    relay(&stack).await;
    let mails = mails_of(&stack, &second, &token).await;
    assert!(
        mails.contains(&("client-pending".to_owned(), "suppressed".to_owned())),
        "{mails:?}"
    );
    assert_eq!(
        to_ana(MailKind::ClientPending),
        1,
        "only the first job's, before the bounce"
    );
    assert_eq!(to_owner(MailKind::OwnerNewBooking), 2);
    assert_eq!(to_owner(MailKind::OwnerClientUnreachable), 2);

    // Another client of the tenant is not affected.
    let other = stack
        .book(&ny_text(2026, 12, 5, 12, 0), "ben@example.com")
        .await;
    relay(&stack).await;
    assert_eq!(
        sent_to(&stack, "ben@example.com")(MailKind::ClientPending),
        1
    );
    assert!(
        !mails_of(&stack, &other, &token)
            .await
            .iter()
            .any(|m| m.1 == "suppressed")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transient_bounce_suppresses_nothing_and_a_malformed_message_is_dropped_without_failing()
{
    let stack = Stack::default().await;
    let job = stack
        .book(&ny_text(2026, 12, 5, 10, 0), "ana@example.com")
        .await;
    let sent = message_id(&stack, &job, MailKind::ClientBooked).await;
    let owner_mail = message_id(&stack, &job, MailKind::OwnerNewBooking).await;
    let handled = ses_feedback::handle(
        &stack.deps,
        sns(&[
            bounce("Transient", &sent, "ana@example.com"),
            bounce("Undetermined", &sent, "ana@example.com"),
            json!("not json at all"),
            json!({"eventType": "Bounce"}),
            notification(
                "Delivery",
                &sent,
                json!({"recipients": ["ana@example.com"]}),
            ),
            bounce("Permanent", "0100-not-ours", "ana@example.com"),
            // The owner's own address bouncing is no client's suppression.
            bounce("Permanent", &owner_mail, "owner@fifi.example"),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(
        handled,
        json!({"suppressed": 0, "ignored": 3, "malformed": 2, "unknown": 2})
    );
    // Not even an SNS event: dropped, not failed.
    let odd = ses_feedback::handle(&stack.deps, json!([1, 2]))
        .await
        .unwrap();
    assert_eq!(odd["malformed"], 1);
    assert_eq!(stack.count("suppressions").await, 0);
    let unreachable = stack
        .count("emails WHERE kind = 'owner-client-unreachable'")
        .await;
    assert_eq!(unreachable, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_complaint_suppresses_the_address_until_the_owner_lifts_it() {
    let stack = Stack::default().await;
    let token = stack.token();
    let job = stack
        .book(&ny_text(2026, 12, 5, 10, 0), "ana@example.com")
        .await;
    let sent = message_id(&stack, &job, MailKind::ClientBooked).await;
    ses_feedback::handle(&stack.deps, sns(&[complaint(&sent, "ana@example.com")]))
        .await
        .unwrap();
    let listed = get_suppressions(&stack, &token).await;
    assert_eq!(listed["suppressions"][0]["reason"], "complaint", "{listed}");

    // Another tenant sees none of it and cannot lift it.
    let other = owner_token(uuid::Uuid::new_v4(), 600);
    let theirs = delete_suppression(&stack, "ana%40example.com", &other).await;
    assert!(matches!(theirs.status, 401 | 404), "{theirs}");
    expect_problem(
        delete_suppression(&stack, "ben%40example.com", &token).await,
        404,
        "not_found",
    );
    expect_problem(
        get_suppressions(&stack, "not-a-token").await,
        401,
        "unauthorized",
    );
    assert_eq!(
        stack.count("suppressions").await,
        1,
        "refusals change nothing"
    );

    let lifted = delete_suppression(&stack, "ANA%40example.com", &token).await;
    assert_eq!(lifted.status, 204, "{lifted}");
    assert_eq!(
        get_suppressions(&stack, &token).await["suppressions"],
        json!([])
    );
    expect_problem(
        delete_suppression(&stack, "ana%40example.com", &token).await,
        404,
        "not_found",
    );
    let moved = stack
        .post_transition(
            &job,
            "reschedule",
            &json!({"start": ny_text(2026, 12, 5, 11, 0)}).to_string(),
            &token,
        )
        .await;
    assert_eq!(moved.status, 200, "{moved}");
    assert_eq!(
        sent_to(&stack, "ana@example.com")(MailKind::ClientRescheduled),
        1
    );
}
