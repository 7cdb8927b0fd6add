//! Running the business through the API: settings, hours, overrides and services changed by
//! the owner (each under the tenant guard, answering `outsideHours`), the audit list, and a
//! client's data exported and erased.

use booking_domain::BookingSettings;
use booking_test_support::{load, salon};
use serde_json::{Value, json};

use crate::support::*;

const TENANT: (&str, &str) = ("get", "/tenant");
const PATCH_TENANT: (&str, &str) = ("patch", "/tenant");
const HOURS: (&str, &str) = ("put", "/tenant/working-hours");
const PUT_OVERRIDE: (&str, &str) = ("put", "/tenant/date-overrides/{date}");
const DELETE_OVERRIDE: (&str, &str) = ("delete", "/tenant/date-overrides/{date}");
const CHANGES: (&str, &str) = ("get", "/tenant/changes");
const SERVICES: (&str, &str) = ("get", "/services");
const NEW_SERVICE: (&str, &str) = ("post", "/services");
const PATCH_SERVICE: (&str, &str) = ("patch", "/services/{serviceId}");
const EXPORT: (&str, &str) = ("get", "/contacts/{contactId}/export");
const ERASE: (&str, &str) = ("delete", "/contacts/{contactId}");

fn ids(jobs: &Value) -> Vec<String> {
    jobs.as_array()
        .map(|list| {
            list.iter()
                .filter_map(|job| job["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn starts(stack: &impl Api, service: impl ToString, date: &str) -> Vec<String> {
    let reply = stack
        .get_availability(service, &[("from", date), ("to", date)])
        .await;
    assert_eq!(reply.status, 200, "{reply}");
    reply["slots"]
        .as_array()
        .map(|slots| {
            slots
                .iter()
                .filter_map(|s| s["start"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_owner_sets_up_a_service_hours_and_a_holiday_and_availability_follows_at_once() {
    let stack = Stack::default().await;
    let token = stack.token();
    let t = token.as_str();

    let tenant = stack
        .owner_send(TENANT, "/tenant", Value::Null, &[], "", t)
        .await;
    assert_eq!(tenant.status, 200, "{tenant}");
    assert_eq!(tenant["tenant"]["slug"], "fifi");
    assert_eq!(
        tenant["tenant"]["workingHours"]["sat"],
        json!([["10:00", "14:00"]])
    );
    assert_eq!(tenant["tenant"]["settings"]["maxBookingsPerSlot"], 1);

    let created = stack
        .owner_send(
            NEW_SERVICE,
            "/services",
            Value::Null,
            &[],
            r#"{"slug": "beard", "name": "Beard trim", "durationMinutes": 30}"#,
            t,
        )
        .await;
    assert_eq!(created.status, 201, "{created}");
    assert_eq!(created["service"]["active"], true);
    assert_eq!(created["outsideHours"], json!([]));
    let beard = created["service"]["id"].as_str().unwrap().to_owned();
    let listed = stack
        .owner_send(SERVICES, "/services", Value::Null, &[], "", t)
        .await;
    assert_eq!(
        listed["services"].as_array().map(Vec::len),
        Some(4),
        "inactive too"
    );

    // Monday 2026-12-07: open 09:00–12:00 and 13:00–17:00.
    let monday = starts(&stack, &beard, "2026-12-07").await;
    assert_eq!(
        monday.first().map(String::as_str),
        Some("2026-12-07T09:00:00-05:00")
    );

    // A holiday closes it; the very next request sees it.
    let closed = stack
        .owner_send(
            PUT_OVERRIDE,
            "/tenant/date-overrides/2026-12-07",
            json!({"date": "2026-12-07"}),
            &[],
            "[]",
            t,
        )
        .await;
    assert_eq!(closed.status, 200, "{closed}");
    assert_eq!(closed["tenant"]["dateOverrides"]["2026-12-07"], json!([]));
    assert!(starts(&stack, &beard, "2026-12-07").await.is_empty());
    let reopened = stack
        .owner_send(
            DELETE_OVERRIDE,
            "/tenant/date-overrides/2026-12-07",
            json!({"date": "2026-12-07"}),
            &[],
            "",
            t,
        )
        .await;
    assert_eq!(reopened.status, 200, "{reopened}");
    assert_eq!(starts(&stack, &beard, "2026-12-07").await, monday);

    // A booking at 10:00, then Mondays become afternoons only: the booking is answered.
    let booked = stack
        .book("2026-12-07T10:00:00-05:00", "early@client.example")
        .await;
    let hours = stack
        .owner_send(
            HOURS,
            "/tenant/working-hours",
            Value::Null,
            &[],
            r#"{"mon": [["13:00", "17:00"]], "tue": [["09:00", "17:00"]]}"#,
            t,
        )
        .await;
    assert_eq!(hours.status, 200, "{hours}");
    assert_eq!(ids(&hours["outsideHours"]), std::slice::from_ref(&booked));
    assert_eq!(
        hours["tenant"]["workingHours"],
        json!({"mon": [["13:00", "17:00"]], "tue": [["09:00", "17:00"]]})
    );
    let monday = starts(&stack, &beard, "2026-12-07").await;
    assert_eq!(
        monday.first().map(String::as_str),
        Some("2026-12-07T13:00:00-05:00")
    );
    assert!(
        starts(&stack, &beard, "2026-12-05").await.is_empty(),
        "Saturday closed now"
    );

    // A longer service and a coarser grid: the next listing has them.
    let longer = stack
        .owner_send(
            PATCH_SERVICE,
            &format!("/services/{beard}"),
            json!({"serviceId": beard}),
            &[],
            r#"{"durationMinutes": 60, "name": "Beard & moustache"}"#,
            t,
        )
        .await;
    assert_eq!(longer.status, 200, "{longer}");
    assert_eq!(longer["service"]["durationMinutes"], 60);
    let patched = stack
        .owner_send(
            PATCH_TENANT,
            "/tenant",
            Value::Null,
            &[],
            r#"{"settings": {"slotIntervalMinutes": 60}, "name": "Fifi & Co"}"#,
            t,
        )
        .await;
    assert_eq!(patched.status, 200, "{patched}");
    assert_eq!(patched["tenant"]["name"], "Fifi & Co");
    assert_eq!(patched["tenant"]["settings"]["slotIntervalMinutes"], 60);
    assert_eq!(
        patched["tenant"]["settings"]["minNoticeMinutes"], 60,
        "merged key by key"
    );
    let slots = stack
        .get_availability(&beard, &[("from", "2026-12-08"), ("to", "2026-12-08")])
        .await;
    assert_eq!(slots["durationMinutes"], 60);
    assert_eq!(slots["slots"][1]["start"], "2026-12-08T10:00:00-05:00");
    assert_eq!(slots["slots"][0]["end"], "2026-12-08T10:00:00-05:00");

    // Every change is in the audit list, newest first, with who made it.
    let changes = stack
        .owner_send(
            CHANGES,
            "/tenant/changes",
            Value::Null,
            &[("limit", "10")],
            "",
            t,
        )
        .await;
    assert_eq!(changes.status, 200, "{changes}");
    let what: Vec<&str> = changes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["what"].as_str().unwrap())
        .collect();
    assert_eq!(
        what,
        [
            "tenant",
            "service",
            "working-hours",
            "date-override",
            "date-override",
            "service-created"
        ]
    );
    assert!(
        changes["changes"][0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("owner:")
    );
    assert_eq!(
        changes["changes"][2]["detail"]["workingHours"]["mon"],
        json!([["13:00", "17:00"]])
    );
}

/// A refused request: its route, path, path parameters, body, and what its error says.
type BadCase = (
    (&'static str, &'static str),
    String,
    Value,
    &'static str,
    &'static str,
);

#[tokio::test]
async fn bad_setup_values_are_refused_per_field_and_change_nothing() {
    use booking_repository::diesel_async::RunQueryDsl;
    let stack = Stack::default().await;
    let other = load(&stack.db, &salon("other", BookingSettings::default())).await;
    let token = stack.token();
    let t = token.as_str();
    let before = stack
        .owner_send(TENANT, "/tenant", Value::Null, &[], "", t)
        .await;
    let changes_before = stack.count("tenant_changes").await;

    let cases: Vec<BadCase> = vec![
        (
            HOURS,
            "/tenant/working-hours".into(),
            Value::Null,
            r#"{"mon": [["13:00", "17:00"], ["09:00", "12:00"]]}"#,
            "time order",
        ),
        (
            HOURS,
            "/tenant/working-hours".into(),
            Value::Null,
            r#"{"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}"#,
            "overlap",
        ),
        (
            HOURS,
            "/tenant/working-hours".into(),
            Value::Null,
            r#"{"mon": [["24:00", "24:00"]]}"#,
            "24:00",
        ),
        (
            HOURS,
            "/tenant/working-hours".into(),
            Value::Null,
            r#"{"mon": [["17:00", "09:00"]]}"#,
            "end after",
        ),
        (
            HOURS,
            "/tenant/working-hours".into(),
            Value::Null,
            r#"{"funday": []}"#,
            "not a weekday",
        ),
        (
            PATCH_TENANT,
            "/tenant".into(),
            Value::Null,
            r#"{"settings": {"colour": "red"}}"#,
            "unknown setting `colour`",
        ),
        (
            PATCH_TENANT,
            "/tenant".into(),
            Value::Null,
            r#"{"settings": {"maxBookingsPerSlot": 0}}"#,
            "maxBookingsPerSlot",
        ),
        (
            PATCH_TENANT,
            "/tenant".into(),
            Value::Null,
            r#"{"timeZone": "Mars/Olympus"}"#,
            "IANA",
        ),
        (
            PATCH_TENANT,
            "/tenant".into(),
            Value::Null,
            r#"{"notificationEmail": "owner"}"#,
            "deliverable",
        ),
        (
            NEW_SERVICE,
            "/services".into(),
            Value::Null,
            r#"{"slug": "tiny", "name": "Tiny", "durationMinutes": 4}"#,
            "5–1440",
        ),
        (
            NEW_SERVICE,
            "/services".into(),
            Value::Null,
            r#"{"slug": "huge", "name": "Huge", "durationMinutes": 1441}"#,
            "5–1440",
        ),
        (
            NEW_SERVICE,
            "/services".into(),
            Value::Null,
            r#"{"slug": "haircut", "name": "Again", "durationMinutes": 30}"#,
            "already used",
        ),
        (
            PUT_OVERRIDE,
            "/tenant/date-overrides/2029-01-01".into(),
            json!({"date": "2029-01-01"}),
            "[]",
            "two years",
        ),
        (
            PUT_OVERRIDE,
            "/tenant/date-overrides/2026-02-30".into(),
            json!({"date": "2026-02-30"}),
            "[]",
            "YYYY-MM-DD",
        ),
        (
            PUT_OVERRIDE,
            "/tenant/date-overrides/2026-12-24".into(),
            json!({"date": "2026-12-24"}),
            r#"[["09:00"]]"#,
            "pairs",
        ),
    ];
    for (route, path, params, body, says) in cases {
        let reply = stack.owner_send(route, &path, params, &[], body, t).await;
        let problem = expect_problem(reply, 400, "invalid_request");
        let errors = problem["errors"].to_string();
        assert!(errors.contains(says), "{path} {body}: {problem}");
    }
    // Another tenant's service is not found, as an unknown one.
    let theirs = booking_test_support::service(&other, "haircut");
    for id in [theirs.to_string(), "not-a-uuid".to_owned()] {
        let reply = stack
            .owner_send(
                PATCH_SERVICE,
                &format!("/services/{id}"),
                json!({"serviceId": id}),
                &[],
                r#"{"active": false}"#,
                t,
            )
            .await;
        expect_problem(reply, 404, "service_not_found");
    }
    let after = stack
        .owner_send(TENANT, "/tenant", Value::Null, &[], "", t)
        .await;
    assert_eq!(before.body, after.body, "nothing changed");
    assert_eq!(stack.count("tenant_changes").await, changes_before);
    let mut conn = stack.db.connection().await;
    #[derive(diesel::QueryableByName)]
    struct Active {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        active: bool,
    }
    let row: Active =
        diesel::sql_query(format!("SELECT active FROM services WHERE id = '{theirs}'"))
            .get_result(&mut conn)
            .await
            .unwrap();
    assert!(row.active);
}

#[tokio::test]
async fn a_new_time_zone_keeps_jobs_as_instants_and_names_those_whose_wall_time_moved() {
    let stack = Stack::default().await;
    let token = stack.token();
    let job = stack
        .book("2026-12-07T10:00:00-05:00", "zone@client.example")
        .await;
    let moved = stack
        .owner_send(
            PATCH_TENANT,
            "/tenant",
            Value::Null,
            &[],
            r#"{"timeZone": "America/Chicago"}"#,
            token.as_str(),
        )
        .await;
    assert_eq!(moved.status, 200, "{moved}");
    assert_eq!(ids(&moved["wallTimeChanged"]), std::slice::from_ref(&job));
    // The same instant, shown in the new zone: 09:00 Chicago, still inside Monday's hours.
    assert_eq!(
        moved["wallTimeChanged"][0]["start"],
        "2026-12-07T09:00:00-06:00"
    );
    assert_eq!(moved["outsideHours"], json!([]));
    // Back to New York by way of a zone with New York's offsets: no wall time moves.
    let back = stack
        .owner_send(
            PATCH_TENANT,
            "/tenant",
            Value::Null,
            &[],
            r#"{"timeZone": "America/New_York"}"#,
            token.as_str(),
        )
        .await;
    assert_eq!(ids(&back["wallTimeChanged"]), [job]);
    let same = stack
        .owner_send(
            PATCH_TENANT,
            "/tenant",
            Value::Null,
            &[],
            r#"{"timeZone": "America/Toronto"}"#,
            token.as_str(),
        )
        .await;
    assert_eq!(same["wallTimeChanged"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_racing_a_change_of_hours_is_judged_wholly_by_the_old_or_the_new_hours() {
    use booking_repository::diesel_async::RunQueryDsl;
    let stack = Stack::default().await;
    let token = stack.token();
    let (booker, owner) = (stack.container(), stack.container());
    let mut landed = 0;
    let mut refused = 0;
    // Two rounds line both up behind a held guard; the others start the booking a little
    // ahead of the change (0 to 80 ms), so either may take the guard first.
    let mondays = [
        "2026-12-07",
        "2026-12-14",
        "2026-12-21",
        "2026-12-28",
        "2027-01-04",
        "2027-01-11",
        "2027-01-18",
        "2027-01-25",
    ];
    let head_starts = [
        None,
        None,
        Some(0),
        Some(1),
        Some(3),
        Some(10),
        Some(30),
        Some(80),
    ];
    for (round, (date, head_start)) in mondays.into_iter().zip(head_starts).enumerate() {
        let reset = stack
            .owner_send(
                HOURS,
                "/tenant/working-hours",
                Value::Null,
                &[],
                r#"{"mon": [["09:00", "17:00"]]}"#,
                token.as_str(),
            )
            .await;
        assert_eq!(reset.status, 200, "{reset}");
        let holder = match head_start {
            None => Some(stack.hold_the_guard().await),
            Some(_) => None,
        };
        let start = format!("{date}T10:00:00-05:00");
        let body = booking_body(&start, &format!("racer{round}@client.example"));
        let booking = {
            let booker = booker.clone();
            let service = stack.haircut;
            tokio::spawn(async move { booker.post_book(service, &body).await })
        };
        if let Some(ms) = head_start {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        let change = {
            let owner = owner.clone();
            let token = token.clone();
            tokio::spawn(async move {
                owner
                    .owner_send(
                        HOURS,
                        "/tenant/working-hours",
                        Value::Null,
                        &[],
                        r#"{"mon": [["13:00", "17:00"]]}"#,
                        token.as_str(),
                    )
                    .await
            })
        };
        if let Some(mut holder) = holder {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            diesel::sql_query("ROLLBACK")
                .execute(&mut holder)
                .await
                .unwrap();
        }
        let (booking, change) = (booking.await.unwrap(), change.await.unwrap());
        assert_eq!(change.status, 200, "{change}");
        // This round's date only: earlier rounds' jobs fit the reset hours again and may be
        // answered again.
        let outside: Vec<String> = change["outsideHours"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|job| job["start"].as_str().is_some_and(|s| s.starts_with(date)))
            .filter_map(|job| job["id"].as_str().map(str::to_owned))
            .collect();
        match booking.status {
            // Landed under the old hours: the change saw it and answers it.
            201 => {
                landed += 1;
                let job = booking["job"]["id"].as_str().unwrap().to_owned();
                assert_eq!(outside, [job], "round {round}: {change}");
            }
            // Judged by the new hours: nothing of it for the change to see.
            422 => {
                refused += 1;
                assert_eq!(booking["code"], "outside_working_hours", "{booking}");
                assert!(outside.is_empty(), "round {round}: {change}");
            }
            other => panic!("round {round}: {other} {booking}"),
        }
    }
    eprintln!("races: {landed} bookings landed first, {refused} judged by the new hours");
    assert_eq!(landed + refused, mondays.len());
}

/// Every row of every table whose text, varchar, jsonb or bytea columns hold `needle` (any
/// case), by table and column: the catalog is read, so tables added later are searched too.
async fn rows_holding(stack: &Stack, needle: &str) -> Vec<String> {
    use booking_repository::diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Column {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        column_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        data_type: String,
    }
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = stack.db.connection().await;
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT table_name::text, column_name::text, data_type::text \
         FROM information_schema.columns \
         WHERE table_schema = 'public' \
           AND data_type IN ('text', 'character varying', 'character', 'jsonb', 'json', 'bytea', 'ARRAY', 'USER-DEFINED')",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert!(columns.len() > 20, "the catalog lists the columns");
    let mut found = Vec::new();
    for column in columns {
        let value = if column.data_type == "bytea" {
            format!("encode(\"{}\", 'escape')", column.column_name)
        } else {
            format!("\"{}\"::text", column.column_name)
        };
        let count: Count = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM \"{}\" WHERE strpos(lower({value}), lower($1)) > 0",
            column.table_name
        ))
        .bind::<diesel::sql_types::Text, _>(needle)
        .get_result(&mut conn)
        .await
        .unwrap();
        if count.n > 0 {
            found.push(format!(
                "{}.{} ({})",
                column.table_name, column.column_name, count.n
            ));
        }
    }
    found
}

#[tokio::test]
async fn an_erased_client_leaves_nothing_personal_in_any_table_and_can_book_again() {
    let stack = Stack::default().await;
    let token = stack.token();
    let t = token.as_str();
    let (name, email, phone, notes, reason) = (
        "Marguerite Quux",
        "Marguerite.Quux@client.example",
        "+1 212 555 0199",
        "allergic to lavender oil",
        "Marguerite has the flu",
    );
    let body = |start: &str| {
        json!({"start": start, "name": name, "email": email, "phone": phone, "notes": notes})
            .to_string()
    };
    // An endpoint that wants every event: each change leaves a payload naming the client.
    let mut conn = stack.db.connection().await;
    {
        use booking_repository::diesel_async::RunQueryDsl;
        diesel::sql_query(
            "INSERT INTO webhooks (tenant_id, url, events) \
             SELECT id, 'https://hooks.example/in', ARRAY['booking.created', 'booking.cancelled', \
                 'booking.completed'] FROM tenants",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    }
    // A future booking (with its manage token), a past hand-entered job, a cancelled one.
    let future = stack
        .post_book(stack.haircut, &body("2026-12-07T10:00:00-05:00"))
        .await;
    assert_eq!(future.status, 201, "{future}");
    let future_id = future["job"]["id"].as_str().unwrap().to_owned();
    let manage = future["manageToken"].as_str().unwrap().to_owned();
    let past = stack
        .post_job(
            &json!({"serviceId": stack.haircut, "start": "2026-12-03T10:00:00-05:00", "name": name, "email": email, "phone": phone, "notes": notes, "title": format!("Walk-in {name}")}).to_string(),
            t,
        )
        .await;
    assert_eq!(past.status, 201, "{past}");
    let past_id = past["job"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        stack
            .post_transition(&past_id, "complete", "", t)
            .await
            .status,
        200
    );
    let cancelled = stack
        .post_book(stack.haircut, &body("2026-12-08T10:00:00-05:00"))
        .await;
    let cancelled_id = cancelled["job"]["id"].as_str().unwrap().to_owned();
    let cancel = stack
        .post_transition(
            &cancelled_id,
            "cancel",
            &json!({"reason": reason}).to_string(),
            t,
        )
        .await;
    assert_eq!(cancel.status, 200, "{cancel}");
    let contact = stack.get_contacts(&[("q", "quux")], t).await;
    let contact_id = contact["contacts"][0]["id"].as_str().unwrap().to_owned();
    // A receiver that quoted the client back, and the address bouncing since.
    {
        use booking_repository::diesel_async::RunQueryDsl;
        let quoted = diesel::sql_query(format!(
            "UPDATE webhook_deliveries SET last_response = 'thanks, {name}'"
        ))
        .execute(&mut conn)
        .await
        .unwrap();
        assert!(quoted >= 4, "a delivery per event: {quoted}");
        diesel::sql_query(
            "INSERT INTO suppressions (tenant_id, address_hash, email, reason, at) \
             SELECT id, sha256(convert_to(lower($1), 'UTF8')), lower($1), 'bounce', now() \
             FROM tenants",
        )
        .bind::<diesel::sql_types::Text, _>(email)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    assert!(
        !rows_holding(&stack, email).await.is_empty(),
        "the scan finds what is there"
    );

    // Export: one document with the contact, every job, its history and its mails.
    let path = format!("/contacts/{contact_id}");
    let params = json!({"contactId": contact_id});
    let export = stack
        .owner_send(
            EXPORT,
            &format!("{path}/export"),
            params.clone(),
            &[],
            "",
            t,
        )
        .await;
    assert_eq!(export.status, 200, "{export}");
    assert_eq!(export["contact"]["email"], email);
    assert_eq!(export["suppressed"]["reason"], "bounce", "{export}");
    assert_eq!(export["jobs"].as_array().map(Vec::len), Some(3));
    assert!(
        export["jobs"][0]["history"]
            .as_array()
            .is_some_and(|h| !h.is_empty())
    );
    assert!(
        export["jobs"][1]["emails"]
            .as_array()
            .is_some_and(|m| !m.is_empty())
    );

    let mails_before = stack.count("emails").await;
    let erased = stack
        .owner_send(ERASE, &path, params.clone(), &[], "", t)
        .await;
    assert_eq!(erased.status, 204, "{erased}");
    assert_eq!(
        stack.count("emails").await,
        mails_before,
        "no mail for the cancellation"
    );
    for needle in [
        name,
        "Marguerite",
        "Quux",
        email,
        phone,
        "555 0199",
        notes,
        reason,
    ] {
        assert_eq!(
            rows_holding(&stack, needle).await,
            Vec::<String>::new(),
            "{needle}"
        );
    }

    // The payloads stay (scrubbed), and so does the address's suppression, as its hash alone.
    assert!(stack.count("webhook_events").await >= 4);
    {
        use booking_repository::diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Left {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let left: Left = diesel::sql_query(
            "SELECT count(*) AS n FROM suppressions \
             WHERE email IS NULL AND address_hash = sha256(convert_to(lower($1), 'UTF8'))",
        )
        .bind::<diesel::sql_types::Text, _>(email)
        .get_result(&mut conn)
        .await
        .unwrap();
        assert_eq!(left.n, 1, "still suppressed");
    }
    // Counts, times and statuses stay; the future booking was cancelled first, in its history.
    let job = stack.get_job(&future_id, t).await;
    assert_eq!(job["job"]["status"], "cancelled");
    assert_eq!(job["job"]["client"], json!({"name": "Erased"}));
    assert_eq!(job["job"]["start"], "2026-12-07T10:00:00-05:00");
    assert_eq!(
        job["history"].as_array().unwrap().last().unwrap()["action"],
        "cancelled"
    );
    assert_eq!(
        stack.get_job(&past_id, t).await["job"]["status"],
        "completed"
    );
    let after = stack.get_contact(&contact_id, t).await;
    assert_eq!(after["contact"]["jobCount"], 3);
    assert!(after["contact"].get("email").is_none(), "{after}");
    // The manage link is dead, as an unknown one.
    let page = stack
        .send(
            Route::Manage("view"),
            manage_request(&manage, None, "", &[]),
        )
        .await;
    expect_problem(page, 404, "booking_not_found");
    // Erasing again is a no-op; the same address books again as somebody new.
    assert_eq!(
        stack
            .owner_send(ERASE, &path, params, &[], "", t)
            .await
            .status,
        204
    );
    let again = stack
        .post_book(stack.haircut, &body("2026-12-09T10:00:00-05:00"))
        .await;
    assert_eq!(again.status, 201, "{again}");
    assert_eq!(again["job"]["client"]["name"], name);
    let found = stack.get_contacts(&[("q", "quux")], t).await;
    assert_eq!(found["contacts"].as_array().map(Vec::len), Some(1));
    assert_ne!(found["contacts"][0]["id"], contact_id);
    let changes = stack
        .owner_send(CHANGES, "/tenant/changes", Value::Null, &[], "", t)
        .await;
    assert_eq!(changes["changes"][0]["what"], "contact-erased");
}

/// An erasure racing the client's own move of the booking (separate containers): whichever
/// takes the guard first, the job ends cancelled by the erasure, the client's link is dead and
/// nothing personal is left — the move never writes after the scrub.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_erasure_racing_the_clients_own_move_leaves_nothing_personal_behind() {
    let stack = Stack::default().await;
    let token = stack.token();
    let (client, owner) = (stack.container(), stack.container());
    let (mut moved_first, mut erased_first) = (0, 0);
    let head_starts = [None, Some(0), Some(2), Some(10), Some(40)];
    for (round, head_start) in head_starts.into_iter().enumerate() {
        let email = format!("racer{round}@client.example");
        // Monday 7 to Friday 11 December 2026, one booking a day, moved from 10:00 to 11:00.
        let day = 7 + round;
        let booked = stack
            .post_book(
                stack.haircut,
                &booking_body(&format!("2026-12-{day:02}T10:00:00-05:00"), &email),
            )
            .await;
        assert_eq!(booked.status, 201, "{booked}");
        let job = booked["job"]["id"].as_str().unwrap().to_owned();
        let manage = booked["manageToken"].as_str().unwrap().to_owned();
        let found = stack.get_contacts(&[("q", &email)], token.as_str()).await;
        let contact = found["contacts"][0]["id"].as_str().unwrap().to_owned();
        let holder = match head_start {
            None => Some(stack.hold_the_guard().await),
            Some(_) => None,
        };
        let moving = {
            let client = client.clone();
            let body = json!({"start": format!("2026-12-{day:02}T11:00:00-05:00")}).to_string();
            tokio::spawn(async move {
                client
                    .send(
                        Route::Manage("reschedule"),
                        manage_request(&manage, Some("reschedule"), &body, &[]),
                    )
                    .await
            })
        };
        if let Some(ms) = head_start {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        let erasing = {
            let (owner, token) = (owner.clone(), token.clone());
            tokio::spawn(async move {
                owner
                    .owner_send(
                        ERASE,
                        &format!("/contacts/{contact}"),
                        json!({"contactId": contact}),
                        &[],
                        "",
                        token.as_str(),
                    )
                    .await
            })
        };
        if let Some(mut holder) = holder {
            use booking_repository::diesel_async::RunQueryDsl;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            diesel::sql_query("ROLLBACK")
                .execute(&mut holder)
                .await
                .unwrap();
        }
        let (moved, erased) = (moving.await.unwrap(), erasing.await.unwrap());
        assert_eq!(erased.status, 204, "round {round}: {erased}");
        match moved.status {
            200 => moved_first += 1,
            // The erasure came first: the link died with the contact.
            404 => {
                erased_first += 1;
                assert_eq!(moved["code"], "booking_not_found", "{moved}");
            }
            other => panic!("round {round}: {other} {moved}"),
        }
        let after = stack.get_job(&job, token.as_str()).await;
        assert_eq!(
            after["job"]["status"], "cancelled",
            "round {round}: {after}"
        );
        assert_eq!(after["job"]["client"], json!({"name": "Erased"}));
        assert_eq!(
            rows_holding(&stack, &email).await,
            Vec::<String>::new(),
            "round {round}"
        );
    }
    eprintln!("races: {moved_first} moves landed first, {erased_first} erasures first");
    assert_eq!(moved_first + erased_first, head_starts.len());
}
