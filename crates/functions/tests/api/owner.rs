use booking_domain::BookingSettings;
use booking_test_support::token::{Algorithm, segment, sign};
use booking_test_support::{load, salon, service};
use futures_util::future::join_all;
use serde_json::json;

use crate::support::*;

fn reason(text: &str) -> String {
    json!({ "reason": text }).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_owner_confirms_a_pending_booking_once() {
    let stack = Stack::pending().await;
    let job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    let token = stack.token();
    let confirmed = stack.post_confirm(&job, &token).await;
    assert_eq!(confirmed.status, 200, "{confirmed}");
    assert_eq!(confirmed["job"]["status"], "scheduled");
    assert!(confirmed["job"]["updatedAt"].as_str() >= confirmed["job"]["createdAt"].as_str());
    let again = stack.post_confirm(&job, &token).await;
    let problem = expect_problem(again, 409, "invalid_transition");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("scheduled")),
        "{problem}"
    );
    assert_eq!(problem["currentStatus"], "scheduled");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declined_booking_keeps_its_reason_and_frees_the_slot() {
    let stack = Stack::pending().await;
    let start = ny_text(2026, 12, 7, 10, 0);
    let job = stack.book(&start, "jane@example.com").await;
    let token = stack.token();
    let declined = stack
        .post_decline(&job, &reason("Fully booked, sorry!"), &token)
        .await;
    assert_eq!(declined.status, 200, "{declined}");
    assert_eq!(
        (
            declined["job"]["status"].as_str(),
            declined["job"]["declineReason"].as_str()
        ),
        (Some("cancelled"), Some("Fully booked, sorry!"))
    );
    let listed = stack
        .get_availability(
            stack.haircut,
            &[("from", "2026-12-07"), ("to", "2026-12-07")],
        )
        .await;
    assert!(
        listed["slots"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["start"] == json!(start))
    );
    let confirm_after = stack.post_confirm(&job, &token).await;
    expect_problem(confirm_after, 409, "invalid_transition");
}

#[tokio::test(flavor = "multi_thread")]
async fn decline_reasons_are_checked_and_bad_ones_change_nothing() {
    let stack = Stack::pending().await;
    let job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    let token = stack.token();
    for body in [
        reason(""),
        reason("   "),
        reason(&"r".repeat(1001)),
        "{}".to_owned(),
        json!({"reason": 42}).to_string(),
        "nope".to_owned(),
    ] {
        let response = stack.post_decline(&job, &body, &token).await;
        expect_problem(response, 400, "invalid_request");
    }
    let declined = stack
        .post_decline(&job, &reason(&"r".repeat(1000)), &token)
        .await;
    assert_eq!(
        (declined.status, declined["job"]["status"].as_str()),
        (200, Some("cancelled"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn owner_routes_refuse_missing_forged_and_expired_tokens() {
    let stack = Stack::pending().await;
    let job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    let tenant = stack.tenant.tenant_id;
    let now = chrono::Utc::now().timestamp();
    let expired = sign(
        &json!({"sub": "o", "tenant_id": tenant, "exp": now - 3600}),
        TEST_SECRET,
        Algorithm::HS256,
    );
    let wrong_secret = sign(
        &json!({"sub": "o", "tenant_id": tenant, "exp": now + 600}),
        "not-the-secret",
        Algorithm::HS256,
    );
    let other_alg = sign(
        &json!({"sub": "o", "tenant_id": tenant, "exp": now + 600}),
        TEST_SECRET,
        Algorithm::HS512,
    );
    let no_exp = sign(
        &json!({"sub": "o", "tenant_id": tenant}),
        TEST_SECRET,
        Algorithm::HS256,
    );
    let no_tenant = sign(
        &json!({"sub": "o", "exp": now + 600}),
        TEST_SECRET,
        Algorithm::HS256,
    );
    let bad_tenant = sign(
        &json!({"sub": "o", "tenant_id": "fifi", "exp": now + 600}),
        TEST_SECRET,
        Algorithm::HS256,
    );
    // `alg: none`: header and claims, no signature.
    let alg_none = format!(
        "{}.{}.",
        segment(&json!({"alg": "none", "typ": "JWT"})),
        segment(&json!({"sub": "o", "tenant_id": tenant, "exp": now + 600}))
    );
    let tampered = {
        let good = stack.token();
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[1] =
            segment(&json!({"sub": "o", "tenant_id": uuid::Uuid::new_v4(), "exp": now + 600}));
        parts.join(".")
    };
    let tokens = [
        expired,
        wrong_secret,
        other_alg,
        no_exp,
        no_tenant,
        bad_tenant,
        alg_none,
        tampered,
        "garbage".to_owned(),
    ];
    for token in &tokens {
        let confirm = stack.post_confirm(&job, token).await;
        expect_problem(confirm, 401, "unauthorized");
        let decline = stack.post_decline(&job, &reason("x"), token).await;
        expect_problem(decline, 401, "unauthorized");
        let create = stack.post_job("{}", token).await;
        expect_problem(create, 401, "unauthorized");
    }
    let anonymous = stack.post_confirm(&job, Auth::None).await;
    expect_problem(anonymous, 401, "unauthorized");
    // Without an authorizer and without a secret, every owner route is closed.
    let mut closed = stack.container();
    closed.config.auth_jwt_secret = None;
    let token = stack.token();
    expect_problem(closed.post_confirm(&job, &token).await, 401, "unauthorized");
    assert_eq!(
        stack
            .count("jobs WHERE status = 'pending-confirmation'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verified_authorizer_claims_are_accepted_without_a_bearer_token() {
    let stack = Stack::pending().await;
    let job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    let rival = load(&stack.db, &salon("rival", requiring_confirmation())).await;
    let mut conn = stack.db.connection().await;
    for (slug, subject) in [("fifi", "cognito-user"), ("rival", "x")] {
        booking_repository::members::add(&mut conn, slug, ISSUER, subject)
            .await
            .unwrap();
    }
    let aws = behind_authorizer(&stack);
    let cognito = json!({"iss": ISSUER, "sub": "cognito-user"});
    let body = aws.post_confirm(&job, Auth::Authorizer(cognito)).await;
    assert_eq!(
        (body.status, body["job"]["status"].as_str()),
        (200, Some("scheduled"))
    );
    let other_tenant = json!({"iss": ISSUER, "sub": "x", "tenant_id": stack.tenant.tenant_id});
    let response = aws
        .post_decline(&job, &reason("x"), Auth::Authorizer(other_tenant))
        .await;
    expect_problem(response, 404, "job_not_found");
    assert_ne!(rival.tenant_id, stack.tenant.tenant_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_tenants_token_finds_no_job_and_no_service() {
    let stack = Stack::pending().await;
    let job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    let rival = load(&stack.db, &salon("rival", requiring_confirmation())).await;
    let rival_token = owner_token(rival.tenant_id, 600);
    let confirm = stack.post_confirm(&job, &rival_token).await;
    let unknown = stack
        .post_confirm(&uuid::Uuid::new_v4().to_string(), &rival_token)
        .await;
    // Indistinguishable from a job that does not exist.
    assert_eq!(
        (confirm.status, confirm.content_type, confirm.body),
        (unknown.status, unknown.content_type, unknown.body)
    );
    let decline = stack
        .post_decline(&job, &reason("mine now"), &rival_token)
        .await;
    expect_problem(decline, 404, "job_not_found");
    let body = json!({"serviceId": stack.haircut, "start": ny_text(2026, 12, 8, 10, 0), "name": "Spy", "email": "spy@example.com"}).to_string();
    let create = stack.post_job(&body, &rival_token).await;
    expect_problem(create, 404, "service_not_found");
    for malformed in ["not-a-uuid", "1; DROP TABLE jobs"] {
        let token = stack.token();
        let response = stack.post_confirm(malformed, &token).await;
        expect_problem(response, 404, "job_not_found");
    }
    assert_eq!(
        stack
            .count("jobs WHERE status = 'pending-confirmation'")
            .await,
        1
    );
    let rival_service = service(&rival, "haircut");
    let own = json!({"serviceId": rival_service, "start": ny_text(2026, 12, 8, 10, 0), "name": "Own", "email": "own@example.com"}).to_string();
    let created = stack.post_job(&own, &rival_token).await;
    assert_eq!(created.status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn confirm_and_decline_racing_for_one_job_let_exactly_one_win() {
    let stack = Stack::pending().await;
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
                let response = if i % 2 == 0 {
                    deps.post_confirm(&job, &token).await
                } else {
                    deps.post_decline(&job, &reason("race"), &token).await
                };
                response.status
            }));
        }
        let statuses: Vec<u16> = join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.expect("task"))
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
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_confirmation_that_would_overbook_is_refused_naming_the_conflict() {
    // Two pending bookings share 10:00 while capacity is two …
    let stack = Stack::new(BookingSettings {
        require_confirmation: true,
        max_bookings_per_slot: 2,
        ..BookingSettings::default()
    })
    .await;
    let first = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "first@example.com")
        .await;
    let _second = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "second@example.com")
        .await;
    // … then the owner lowers capacity to one (Cal.com #10789's gap).
    load(&stack.db, &salon("fifi", requiring_confirmation())).await;
    let token = stack.token();
    let response = stack.post_confirm(&first, &token).await;
    let problem = expect_problem(response, 409, "slot_unavailable");
    assert_eq!(
        problem["conflicts"].as_array().map(Vec::len),
        Some(1),
        "{problem}"
    );
    assert_eq!(problem["conflicts"][0]["title"], "Haircut – Jane Client");
    assert_eq!(
        problem["conflicts"][0]["start"],
        "2026-12-07T10:00:00-05:00"
    );
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Haircut – Jane Client (Mon Dec 7, 10:00 – 10:45 EST)")),
        "{problem}"
    );
    assert_eq!(stack.count("jobs WHERE status = 'scheduled'").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn hand_entered_jobs_may_leave_working_hours_but_never_overbook() {
    let stack = Stack::default().await;
    let token = stack.token();
    let sunday = json!({"serviceId": stack.colour, "start": ny_text(2026, 12, 6, 20, 0), "name": "Late Client",
        "email": "late@example.com", "title": "After-hours colour", "notes": "Side door"}).to_string();
    let created = stack.post_job(&sunday, &token).await;
    assert_eq!(created.status, 201, "{created}");
    assert_eq!(created["job"]["status"], "scheduled");
    assert_eq!(created["job"]["source"], "hand-entered");
    assert_eq!(created["job"]["title"], "After-hours colour");
    assert_eq!(created["job"]["end"], "2026-12-06T21:30:00-05:00");

    stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    let overlapping = json!({"serviceId": stack.haircut, "start": ny_text(2026, 12, 7, 10, 30), "name": "Walk In", "email": "walkin@example.com"}).to_string();
    let problem = expect_problem(
        stack.post_job(&overlapping, &token).await,
        409,
        "slot_unavailable",
    );
    assert_eq!(problem["conflicts"][0]["title"], "Haircut – Jane Client");
    assert_eq!(problem["conflicts"][0]["end"], "2026-12-07T10:45:00-05:00");
    assert_eq!(stack.count("jobs").await, 2);

    for (body, field) in [
        (json!({"start": ny_text(2026, 12, 7, 13, 0), "name": "A", "email": "a@example.com"}).to_string(), "serviceId"),
        (json!({"serviceId": "haircut", "start": ny_text(2026, 12, 7, 13, 0), "name": "A", "email": "a@example.com"}).to_string(), "serviceId"),
        (json!({"serviceId": stack.haircut, "start": "later", "name": "A", "email": "a@example.com"}).to_string(), "start"),
        (json!({"serviceId": stack.haircut, "start": ny_text(2026, 12, 7, 13, 0), "name": "A", "email": "a@"}).to_string(), "email"),
        (json!({"serviceId": stack.haircut, "start": ny_text(2026, 12, 7, 13, 0), "name": "A", "email": "a@example.com", "title": "t".repeat(201)}).to_string(), "title"),
    ] {
        let problem = expect_problem(stack.post_job(&body, &token).await, 400, "invalid_request");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    assert_eq!(stack.count("jobs").await, 2);
}

/// Whoever knows a client's address can book under it, but never rewrite what that client's
/// other jobs (and the contact) show: each job keeps the name and phone it was booked with.
#[tokio::test(flavor = "multi_thread")]
async fn a_public_booking_never_rewrites_another_bookings_client() {
    let stack = Stack::pending().await;
    let job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    let impostor = json!({
        "start": ny_text(2026, 12, 8, 10, 0), "name": "Mallory", "email": "JANE@example.com",
        "phone": "+1 555 0666",
    })
    .to_string();
    let theirs = stack.post_book(stack.haircut, &impostor).await;
    assert_eq!(theirs.status, 201, "{theirs}");
    assert_eq!(theirs["job"]["client"]["name"], "Mallory");
    assert_eq!(theirs["job"]["client"]["phone"], "+1 555 0666");

    let confirmed = stack.post_confirm(&job, &stack.token()).await;
    assert_eq!(confirmed.status, 200, "{confirmed}");
    assert_eq!(confirmed["job"]["client"]["name"], "Jane Client");
    assert_eq!(confirmed["job"]["client"]["phone"], "+1 555 0100");
    let greeted = stack
        .deps
        .mailer
        .sent()
        .into_iter()
        .filter(|mail| mail.kind == booking_domain::MailKind::ClientConfirmed)
        .map(|mail| String::from_utf8_lossy(&mail.raw).into_owned())
        .collect::<Vec<_>>();
    assert_eq!(greeted.len(), 1);
    assert!(
        greeted[0].contains("Jane Client") && !greeted[0].contains("Mallory"),
        "{}",
        greeted[0]
    );

    #[derive(diesel::QueryableByName)]
    struct Contact {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        phone: Option<String>,
    }
    let mut conn = stack.db.connection().await;
    use booking_repository::diesel_async::RunQueryDsl;
    let contact: Contact = diesel::sql_query("SELECT name, phone FROM contacts")
        .get_result(&mut conn)
        .await
        .expect("one contact");
    assert_eq!(
        (contact.name.as_str(), contact.phone.as_deref()),
        ("Jane Client", Some("+1 555 0100"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn authorizer_claims_in_a_raw_event_are_ignored_unless_configured_behind_an_authorizer() {
    let stack = Stack::pending().await;
    let job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    // The default configuration (as locally): claims anybody can write into an event.
    let forged = json!({"sub": "nobody", "tenant_id": stack.tenant.tenant_id.to_string()});
    let response = stack.post_confirm(&job, Auth::Authorizer(forged)).await;
    expect_problem(response, 401, "unauthorized");
    assert_eq!(
        stack
            .count("jobs WHERE status = 'pending-confirmation'")
            .await,
        1
    );
}

const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test";

/// Deps as in AWS: behind the JWT authorizer, no local secret.
fn behind_authorizer(stack: &Stack) -> booking_functions::Deps {
    let mut aws = stack.container();
    aws.config.auth_jwt_secret = None;
    aws.config.auth_trust_authorizer = true;
    aws
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_claiming_another_tenant_acts_only_for_their_own() {
    let stack = Stack::pending().await;
    let own_job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    let rival = load(&stack.db, &salon("rival", requiring_confirmation())).await;
    let rival_haircut = service(&rival, "haircut");
    let body = booking_body(&ny_text(2026, 12, 7, 11, 0), "rick@example.com");
    let booked = stack.post_book(rival_haircut, &body).await;
    assert_eq!(booked.status, 201, "{booked}");
    let rival_job = booked["job"]["id"].as_str().unwrap().to_owned();
    let mut conn = stack.db.connection().await;
    booking_repository::members::add(&mut conn, "fifi", ISSUER, "staff-a")
        .await
        .unwrap();
    let aws = behind_authorizer(&stack);
    // A member of fifi who set their own tenant attribute to the rival's id.
    let claims = json!({
        "iss": ISSUER,
        "sub": "staff-a",
        "custom:tenant_id": rival.tenant_id.to_string(),
        "tenant_id": rival.tenant_id.to_string(),
    });
    let as_member = || Auth::Authorizer(claims.clone());
    let response = aws.post_confirm(&rival_job, as_member()).await;
    expect_problem(response, 404, "job_not_found");
    let on_rival = json!({"serviceId": rival_haircut, "start": ny_text(2026, 12, 8, 10, 0), "name": "Spy", "email": "spy@example.com"});
    let response = aws.post_job(&on_rival.to_string(), as_member()).await;
    expect_problem(response, 404, "service_not_found");
    // Their own tenant's job is theirs to confirm.
    let confirmed = aws.post_confirm(&own_job, as_member()).await;
    assert_eq!(
        (confirmed.status, confirmed["job"]["status"].as_str()),
        (200, Some("scheduled"))
    );
    assert_eq!(
        stack
            .count("jobs WHERE status = 'pending-confirmation'")
            .await,
        1,
        "the rival's job stays pending"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verified_user_who_is_nobodys_member_is_refused() {
    let stack = Stack::pending().await;
    let job = stack
        .book(&ny_text(2026, 12, 7, 10, 0), "jane@example.com")
        .await;
    let mut conn = stack.db.connection().await;
    booking_repository::members::add(&mut conn, "fifi", ISSUER, "staff-a")
        .await
        .unwrap();
    let aws = behind_authorizer(&stack);
    let tenant = stack.tenant.tenant_id.to_string();
    for claims in [
        json!({"iss": ISSUER, "sub": "stranger", "custom:tenant_id": tenant}),
        // The same subject from another issuer is another user.
        json!({"iss": "https://elsewhere.example", "sub": "staff-a", "tenant_id": tenant}),
        json!({"sub": "staff-a", "tenant_id": tenant}),
    ] {
        let response = aws
            .post_decline(&job, &reason("x"), Auth::Authorizer(claims))
            .await;
        expect_problem(response, 401, "unauthorized");
    }
    assert_eq!(
        stack
            .count("jobs WHERE status = 'pending-confirmation'")
            .await,
        1
    );
}
