//! A three-stylist salon through the API: each person's hours, any-available assignment, named
//! bookings, the staff errors, and storms across containers that never put anyone above
//! capacity.

use std::collections::BTreeMap;

use booking_domain::{BookingSettings, Schedule, StaffCapacity};
use booking_email::Mailer;
use booking_repository::diesel_async::RunQueryDsl;
use booking_repository::tenant_setup::{ServiceDefinition, StaffDefinition, TenantDefinition};
use booking_test_support::{TestDb, interval, load, salon, service};
use chrono::{NaiveDate, Weekday};
use futures_util::future::join_all;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

/// A week of one interval on Monday to Friday.
fn weekdays(start: &str, end: &str) -> Schedule {
    let mut week = Schedule::new();
    for day in [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ] {
        week.set_weekday(day, vec![interval(start, end)])
            .expect("hours");
    }
    week
}

fn person(slug: &str, name: &str, hours: Option<Schedule>, services: &[&str]) -> StaffDefinition {
    StaffDefinition {
        slug: slug.to_owned(),
        name: name.to_owned(),
        email: None,
        capacity: StaffCapacity::ONE,
        active: true,
        working_hours: hours,
        date_overrides: Schedule::new(),
        services: services.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Fifi's salon (tenant hours 09–12, 13–17 on weekdays) with three stylists: Ana 09–13 (haircut
/// and colour), Ben 11–17 and off on Tuesday 8 December (haircut), Cleo on the tenant's hours
/// (haircut); and a consultation no one performs (the tenant's capacity, as before staff).
fn three_stylists(settings: BookingSettings) -> TenantDefinition {
    let mut definition = salon("fifi", settings);
    definition.services.push(ServiceDefinition {
        slug: "consult".to_owned(),
        name: "Consultation".to_owned(),
        duration_minutes: 30,
        active: true,
    });
    let mut ben = person("ben", "Ben", Some(weekdays("11:00", "17:00")), &["haircut"]);
    ben.date_overrides
        .set_override(NaiveDate::from_ymd_opt(2026, 12, 8).expect("date"), vec![])
        .expect("day off");
    definition.staff = vec![
        person(
            "ana",
            "Ana",
            Some(weekdays("09:00", "13:00")),
            &["haircut", "colour"],
        ),
        ben,
        person("cleo", "Cleo", None, &["haircut"]),
    ];
    definition
}

struct Salon {
    stack: Stack,
    staff: BTreeMap<String, Uuid>,
    consult: Uuid,
}

impl Salon {
    async fn new(settings: BookingSettings) -> Self {
        let db = TestDb::new().await;
        let tenant = load(&db, &three_stylists(settings)).await;
        let deps = deps_with(&db.url, &[], Mailer::in_memory());
        let stack = Stack {
            haircut: service(&tenant, "haircut"),
            colour: service(&tenant, "colour"),
            retired: service(&tenant, "retired"),
            deps,
            db,
            tenant: tenant.clone(),
        };
        Self {
            consult: service(&tenant, "consult"),
            staff: tenant.staff.clone(),
            stack,
        }
    }

    fn id(&self, slug: &str) -> Uuid {
        self.staff[slug]
    }

    fn name_of(&self, id: &Value) -> String {
        let id: Uuid = id
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("a staff id");
        self.staff
            .iter()
            .find(|(_, known)| **known == id)
            .map(|(slug, _)| slug.clone())
            .expect("a known person")
    }
}

fn body_for(start: &str, email: &str, staff: Option<Uuid>) -> String {
    let mut body: Value = serde_json::from_str(&booking_body(start, email)).expect("json");
    if let Some(staff) = staff {
        body["staffId"] = json!(staff);
    }
    body.to_string()
}

fn slot_at<'a>(reply: &'a Reply, start: &str) -> Option<&'a Value> {
    reply["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .find(|slot| slot["start"] == start)
}

fn staff_at(salon: &Salon, reply: &Reply, start: &str) -> Vec<String> {
    let mut names: Vec<String> = slot_at(reply, start)
        .map(|slot| {
            slot["staffIds"]
                .as_array()
                .expect("staffIds")
                .iter()
                .map(|id| salon.name_of(id))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn a_three_stylist_salon_works_end_to_end_through_the_api() {
    let salon = Salon::new(BookingSettings::default()).await;
    let stack = &salon.stack;
    let monday = [("from", "2026-12-07"), ("to", "2026-12-07")];
    let listed = stack.get_availability(stack.haircut, &monday).await;
    assert_eq!(listed.status, 200, "{listed}");
    // Each person's own hours: Ana from 9, Ben from 11, Cleo on the tenant's (lunch at 12).
    assert_eq!(
        staff_at(&salon, &listed, &ny_text(2026, 12, 7, 9, 0)),
        ["ana", "cleo"]
    );
    assert_eq!(
        staff_at(&salon, &listed, &ny_text(2026, 12, 7, 11, 0)),
        ["ana", "ben", "cleo"]
    );
    assert_eq!(
        slot_at(&listed, &ny_text(2026, 12, 7, 11, 0)).unwrap()["remaining"],
        3
    );
    assert_eq!(
        staff_at(&salon, &listed, &ny_text(2026, 12, 7, 12, 0)),
        ["ana", "ben"]
    );
    assert_eq!(
        staff_at(&salon, &listed, &ny_text(2026, 12, 7, 16, 0)),
        ["ben", "cleo"]
    );
    // Ben is off on Tuesday: none of his starts, while the others keep theirs.
    let tuesday = [("from", "2026-12-08"), ("to", "2026-12-08")];
    let bens = stack
        .get_availability(
            stack.haircut,
            &[
                tuesday[0],
                tuesday[1],
                ("staffId", &salon.id("ben").to_string()),
            ],
        )
        .await;
    assert_eq!(bens.status, 200, "{bens}");
    assert_eq!(bens["slots"], json!([]));
    let everyone = stack.get_availability(stack.haircut, &tuesday).await;
    assert!(!everyone["slots"].as_array().unwrap().is_empty());
    let named_off = stack
        .post_book(
            stack.haircut,
            &body_for(
                &ny_text(2026, 12, 8, 14, 0),
                "off@example.com",
                Some(salon.id("ben")),
            ),
        )
        .await;
    expect_problem(named_off, 422, "outside_working_hours");

    // Any available spreads the day: three bookings at 11:00 land with three people.
    let eleven = ny_text(2026, 12, 7, 11, 0);
    let mut assigned = Vec::new();
    for i in 0..3 {
        let booked = stack
            .post_book(
                stack.haircut,
                &body_for(&eleven, &format!("any{i}@example.com"), None),
            )
            .await;
        assert_eq!(booked.status, 201, "{booked}");
        assigned.push(salon.name_of(&booked["job"]["staff"]["id"]));
    }
    assigned.sort();
    assert_eq!(assigned, ["ana", "ben", "cleo"]);
    let full = stack
        .post_book(stack.haircut, &body_for(&eleven, "late@example.com", None))
        .await;
    let problem = expect_problem(full, 409, "slot_unavailable");
    assert!(!problem["alternatives"].as_array().unwrap().is_empty());
    // The next free start goes to whoever has fewer jobs that day: at 16:00 Ben and Cleo have
    // one each, so the less recently booked of them.
    let first_of_them = assigned_order(&salon, &["ben", "cleo"]).await;
    let sixteen = stack
        .post_book(
            stack.haircut,
            &body_for(&ny_text(2026, 12, 7, 16, 0), "late@example.com", None),
        )
        .await;
    assert_eq!(sixteen.status, 201, "{sixteen}");
    assert_eq!(salon.name_of(&sixteen["job"]["staff"]["id"]), first_of_them);

    // A named booking lands with that person, and the job shows them.
    let named = stack
        .post_book(
            stack.haircut,
            &body_for(
                &ny_text(2026, 12, 9, 15, 0),
                "named@example.com",
                Some(salon.id("ben")),
            ),
        )
        .await;
    assert_eq!(named.status, 201, "{named}");
    assert_eq!(
        named["job"]["staff"],
        json!({"id": salon.id("ben"), "name": "Ben"})
    );
    // The mails name the person.
    let job: Uuid = named["job"]["id"].as_str().unwrap().parse().unwrap();
    let conn = stack.db.connection().await;
    let contexts = booking_repository::outbox::mail_contexts_on(&conn, &[job])
        .await
        .unwrap();
    assert_eq!(contexts[0].1.service_name, "Haircut with Ben");

    // Bad names: unknown or another tenant's → 404; not performing the service → 422.
    let unknown = stack
        .post_book(
            stack.haircut,
            &body_for(
                &ny_text(2026, 12, 9, 10, 0),
                "x@example.com",
                Some(Uuid::new_v4()),
            ),
        )
        .await;
    expect_problem(unknown, 404, "staff_not_found");
    let unqualified = stack
        .post_book(
            stack.colour,
            &body_for(
                &ny_text(2026, 12, 9, 14, 0),
                "x@example.com",
                Some(salon.id("ben")),
            ),
        )
        .await;
    expect_problem(unqualified, 422, "staff_not_qualified");
    let listed_unqualified = stack
        .get_availability(
            stack.colour,
            &[
                monday[0],
                monday[1],
                ("staffId", &salon.id("cleo").to_string()),
            ],
        )
        .await;
    expect_problem(listed_unqualified, 422, "staff_not_qualified");
    assert_eq!(stack.count("jobs").await, 5);

    // A service no one performs keeps the tenant's capacity and shows no staff.
    let consult = stack.get_availability(salon.consult, &monday).await;
    let first = &consult["slots"][0];
    assert_eq!(first["remaining"], 1);
    assert!(first.get("staffIds").is_none(), "{first}");
    let booked = stack
        .post_book(
            salon.consult,
            &body_for(&ny_text(2026, 12, 7, 11, 0), "c@example.com", None),
        )
        .await;
    assert_eq!(booked.status, 201, "{booked}");
    assert!(booked["job"].get("staff").is_none());
}

/// Of `slugs`, the one whose latest job was created first.
async fn assigned_order(salon: &Salon, slugs: &[&str]) -> String {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        staff_id: Uuid,
    }
    let ids: Vec<Uuid> = slugs.iter().map(|slug| salon.id(slug)).collect();
    let mut conn = salon.stack.db.connection().await;
    let row: Row = diesel::sql_query(
        "SELECT staff_id FROM jobs WHERE staff_id = ANY($1) \
         GROUP BY staff_id ORDER BY max(created_at) LIMIT 1",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(ids)
    .get_result(&mut conn)
    .await
    .unwrap();
    salon.name_of(&json!(row.staff_id))
}

#[tokio::test(flavor = "multi_thread")]
async fn owners_enter_jobs_for_a_person_and_confirmations_recheck_that_person() {
    let salon = Salon::new(requiring_confirmation()).await;
    let stack = &salon.stack;
    let token = stack.token();
    let start = ny_text(2026, 12, 7, 10, 0);
    let pending = stack
        .post_book(
            stack.haircut,
            &body_for(&start, "p@example.com", Some(salon.id("ana"))),
        )
        .await;
    assert_eq!(pending.status, 201, "{pending}");
    let pending_id = pending["job"]["id"].as_str().unwrap().to_owned();
    // By hand: Ana is taken at 10:00 (her pending booking holds her), Cleo is not.
    let job = |staff: Option<Uuid>| {
        let mut body = json!({"serviceId": stack.haircut, "start": start, "name": "Walk In",
                              "email": "walk.in@example.com"});
        if let Some(staff) = staff {
            body["staffId"] = json!(staff);
        }
        body.to_string()
    };
    let taken = stack.post_job(&job(Some(salon.id("ana"))), &token).await;
    let problem = expect_problem(taken, 409, "slot_unavailable");
    assert_eq!(problem["conflicts"][0]["id"], pending_id.as_str());
    let cleo = stack.post_job(&job(Some(salon.id("cleo"))), &token).await;
    assert_eq!(cleo.status, 201, "{cleo}");
    assert_eq!(cleo["job"]["staff"]["name"], "Cleo");
    // Any available by hand: Ben does not work at 10 but owners are not bound by hours.
    let any = stack.post_job(&job(None), &token).await;
    assert_eq!(any.status, 201, "{any}");
    assert_eq!(any["job"]["staff"]["name"], "Ben");
    let none_left = stack.post_job(&job(None), &token).await;
    expect_problem(none_left, 409, "slot_unavailable");
    let unknown = stack.post_job(&job(Some(Uuid::new_v4())), &token).await;
    expect_problem(unknown, 404, "staff_not_found");
    // A confirmation re-checks the job's own person: squeeze a second job onto Ana's place.
    let mut conn = stack.db.connection().await;
    diesel::sql_query(
        "INSERT INTO jobs (tenant_id, service_id, contact_id, title, starts_at, ends_at, status, \
                           source, changed_by, client_name, staff_id) \
         SELECT tenant_id, service_id, contact_id, 'Squeezed', starts_at, ends_at, 'scheduled', \
                source, changed_by, client_name, staff_id FROM jobs WHERE id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(pending_id.parse::<Uuid>().unwrap())
    .execute(&mut conn)
    .await
    .unwrap();
    let refused = stack.post_confirm(&pending_id, &token).await;
    let problem = expect_problem(refused, 409, "slot_unavailable");
    assert_eq!(problem["conflicts"][0]["title"], "Squeezed");
}

// --- storms --------------------------------------------------------------------------------

/// Fires one booking per container at once; returns the answers.
async fn storm(salon: &Salon, requests: Vec<(Uuid, String, Option<Uuid>)>) -> Vec<Reply> {
    let containers: Vec<_> = requests.iter().map(|_| salon.stack.container()).collect();
    for deps in &containers {
        drop(deps.connection().await.expect("connect"));
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(requests.len()));
    let tasks = containers.into_iter().zip(requests).enumerate().map(
        |(i, (deps, (service, start, staff)))| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let body = body_for(&start, &format!("client{i}@example.com"), staff);
                barrier.wait().await;
                deps.post_book(service, &body).await
            })
        },
    );
    join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect()
}

/// Each person's most active jobs overlapping at any instant.
async fn peaks_by_person(salon: &Salon) -> BTreeMap<String, i64> {
    #[derive(diesel::QueryableByName)]
    struct Peak {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        staff_id: Uuid,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        peak: i64,
    }
    let mut conn = salon.stack.db.connection().await;
    let rows: Vec<Peak> = diesel::sql_query(
        "SELECT a.staff_id, max((SELECT count(*) FROM jobs b
                   WHERE b.staff_id = a.staff_id
                     AND b.status IN ('pending-confirmation', 'scheduled', 'in-progress')
                     AND b.starts_at <= a.starts_at AND b.ends_at > a.starts_at)) AS peak
         FROM jobs a WHERE a.staff_id IS NOT NULL
           AND a.status IN ('pending-confirmation', 'scheduled', 'in-progress')
         GROUP BY a.staff_id",
    )
    .load(&mut conn)
    .await
    .expect("peaks");
    rows.into_iter()
        .map(|row| (salon.name_of(&json!(row.staff_id)), row.peak))
        .collect()
}

fn won(replies: &[Reply]) -> Vec<&Reply> {
    replies.iter().filter(|r| r.status == 201).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_requests_for_one_persons_last_place_let_exactly_one_win() {
    let salon = Salon::new(BookingSettings::default()).await;
    let start = ny_text(2026, 12, 7, 10, 0);
    let ana = salon.id("ana");
    let replies = storm(
        &salon,
        (0..50)
            .map(|_| (salon.stack.haircut, start.clone(), Some(ana)))
            .collect(),
    )
    .await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(won(&replies).len(), 1, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        49,
        "{statuses:?}"
    );
    assert_eq!(salon.stack.count("jobs").await, 1);
    assert_eq!(peaks_by_person(&salon).await["ana"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_any_available_requests_where_three_are_free_give_each_person_exactly_one() {
    let salon = Salon::new(BookingSettings::default()).await;
    let start = ny_text(2026, 12, 7, 11, 0);
    let replies = storm(
        &salon,
        (0..50)
            .map(|_| (salon.stack.haircut, start.clone(), None))
            .collect(),
    )
    .await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    let mut people: Vec<String> = won(&replies)
        .iter()
        .map(|r| salon.name_of(&r["job"]["staff"]["id"]))
        .collect();
    people.sort();
    assert_eq!(people, ["ana", "ben", "cleo"], "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        47,
        "{statuses:?}"
    );
    assert!(
        peaks_by_person(&salon)
            .await
            .values()
            .all(|peak| *peak == 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_named_and_any_requests_never_put_anyone_above_capacity() {
    let salon = Salon::new(BookingSettings::default()).await;
    let (ana, ben) = (salon.id("ana"), salon.id("ben"));
    // Haircuts at overlapping starts around 11:00, a third for Ana, a third for Ben, a third
    // for anyone, and colours (Ana only) among them.
    let requests: Vec<_> = (0..48)
        .map(|i| {
            let (hour, minute) = [(10, 30), (11, 0), (11, 30), (12, 0)][i % 4];
            let staff = [Some(ana), Some(ben), None][i % 3];
            let service = if i % 8 == 0 {
                salon.stack.colour
            } else {
                salon.stack.haircut
            };
            let staff = if service == salon.stack.colour {
                None
            } else {
                staff
            };
            (service, ny_text(2026, 12, 7, hour, minute), staff)
        })
        .collect();
    let replies = storm(&salon, requests).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert!(
        statuses.iter().all(|s| matches!(s, 201 | 409 | 422)),
        "{statuses:?}"
    );
    let won = won(&replies).len() as i64;
    assert!(won >= 3, "{statuses:?}");
    assert_eq!(won, salon.stack.count("jobs").await);
    let peaks = peaks_by_person(&salon).await;
    assert!(peaks.values().all(|peak| *peak <= 1), "{peaks:?}");
    // Every winner's start was one its person works (no booking outside their hours).
    for reply in won_replies(&replies) {
        let person = salon.name_of(&reply["job"]["staff"]["id"]);
        let start = reply["job"]["start"].as_str().unwrap();
        if person == "ben" {
            assert!(start >= ny_text(2026, 12, 7, 11, 0).as_str(), "{reply}");
        }
    }
}

fn won_replies(replies: &[Reply]) -> impl Iterator<Item = &Reply> {
    replies.iter().filter(|r| r.status == 201)
}

// --- moves of a staffed job ----------------------------------------------------------------------

/// `POST /bookings/{token}/reschedule` to `start`, through the manage route's handler.
async fn client_move(deps: &booking_functions::Deps, token: &str, start: &str) -> Reply {
    let body = json!({ "start": start }).to_string();
    deps.send(
        Route::Manage("reschedule"),
        manage_request(token, Some("reschedule"), &body, &[]),
    )
    .await
}

/// Books `start` with Ana by name: the job id and its manage token.
async fn with_ana(salon: &Salon, start: &str, email: &str) -> (String, String) {
    let stack = &salon.stack;
    let created = stack
        .post_book(
            stack.haircut,
            &body_for(start, email, Some(salon.id("ana"))),
        )
        .await;
    assert_eq!(created.status, 201, "{created}");
    assert_eq!(created["job"]["staff"]["name"], "Ana");
    (
        created["job"]["id"].as_str().unwrap().to_owned(),
        created["manageToken"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn moves_keep_the_person_and_are_judged_by_that_persons_jobs_and_hours() {
    let salon = Salon::new(BookingSettings::default()).await;
    let stack = &salon.stack;
    let token = stack.token();
    let (first, _) = with_ana(&salon, &ny_text(2026, 12, 7, 10, 0), "a@example.com").await;
    let (second, link) = with_ana(&salon, &ny_text(2026, 12, 7, 11, 0), "b@example.com").await;
    // The owner moves the first onto Ana's 11:00: she is taken there, though Ben and Cleo are
    // free and no job without a person is near.
    let onto = json!({"start": ny_text(2026, 12, 7, 11, 0)}).to_string();
    let taken = stack
        .post_transition(&first, "reschedule", &onto, &token)
        .await;
    let problem = expect_problem(taken, 409, "slot_unavailable");
    assert_eq!(problem["conflicts"][0]["id"], second.as_str());
    // After hours is the owner's to choose; the job keeps its person.
    let evening = json!({"start": ny_text(2026, 12, 7, 19, 0)}).to_string();
    let moved = stack
        .post_transition(&first, "reschedule", &evening, &token)
        .await;
    assert_eq!(moved.status, 200, "{moved}");
    assert_eq!(moved["job"]["staff"]["name"], "Ana");
    // The client's move is judged by Ana's own hours (09–13), not the salon's (to 17).
    let afternoon = client_move(&stack.deps, &link, &ny_text(2026, 12, 7, 14, 0)).await;
    expect_problem(afternoon, 422, "outside_working_hours");
    let morning = client_move(&stack.deps, &link, &ny_text(2026, 12, 7, 9, 0)).await;
    assert_eq!(morning.status, 200, "{morning}");
    assert_eq!(morning["booking"]["staff"]["name"], "Ana");
    assert_eq!(peaks_by_person(&salon).await["ana"], 1);
    // The owner's calendar of one person.
    let anas = stack
        .get_jobs(
            &[
                ("from", "2026-12-07"),
                ("staffId", &salon.id("ana").to_string()),
            ],
            &token,
        )
        .await;
    assert_eq!(anas.status, 200, "{anas}");
    assert_eq!(anas["jobs"].as_array().unwrap().len(), 2, "{anas}");
    assert!(
        anas["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|job| job["staff"]["name"] == "Ana")
    );
    let bens = stack
        .get_jobs(
            &[
                ("from", "2026-12-07"),
                ("staffId", &salon.id("ben").to_string()),
            ],
            &token,
        )
        .await;
    assert_eq!(bens["jobs"], json!([]), "{bens}");
    let bad = stack.get_jobs(&[("staffId", "ana")], &token).await;
    expect_problem(bad, 400, "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clients_move_racing_bookings_of_the_same_person_never_puts_them_above_capacity() {
    let salon = Salon::new(BookingSettings::default()).await;
    let stack = &salon.stack;
    let (_, link) = with_ana(&salon, &ny_text(2026, 12, 7, 10, 0), "mover@example.com").await;
    let target = ny_text(2026, 12, 7, 12, 0);
    let (ana, haircut) = (salon.id("ana"), stack.haircut);
    let containers: Vec<_> = (0..21).map(|_| stack.container()).collect();
    for deps in &containers {
        drop(deps.connection().await.expect("connect"));
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(containers.len()));
    let tasks = containers.into_iter().enumerate().map(|(i, deps)| {
        let (barrier, link, target) = (barrier.clone(), link.clone(), target.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            if i == 0 {
                client_move(&deps, &link, &target).await.status
            } else {
                let body = body_for(&target, &format!("rival{i}@example.com"), Some(ana));
                deps.post_book(haircut, &body).await.status
            }
        })
    });
    let statuses: Vec<u16> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let winners = statuses.iter().filter(|s| **s == 200 || **s == 201).count();
    assert_eq!(winners, 1, "{statuses:?}");
    assert_eq!(peaks_by_person(&salon).await["ana"], 1);
    let at_target = stack
        .count(&format!(
            "jobs WHERE starts_at = '{}' AND status <> 'cancelled'",
            "2026-12-07T17:00:00Z"
        ))
        .await;
    assert_eq!(at_target, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persons_calendar_feed_and_the_stats_follow_each_persons_jobs() {
    let salon = Salon::new(BookingSettings::default()).await;
    let stack = &salon.stack;
    let token = stack.token();
    let (anas, _) = with_ana(&salon, &ny_text(2026, 12, 7, 10, 0), "a@example.com").await;
    let ben = stack
        .post_book(
            stack.haircut,
            &body_for(
                &ny_text(2026, 12, 7, 14, 0),
                "b@example.com",
                Some(salon.id("ben")),
            ),
        )
        .await;
    assert_eq!(ben.status, 201, "{ben}");
    let created = stack
        .post_calendar_feed(&json!({"staffId": salon.id("ana")}).to_string(), &token)
        .await;
    assert_eq!(created.status, 201, "{created}");
    let feed_token = created["url"].as_str().unwrap().rsplit('/').next().unwrap();
    let feed = crate::feeds::read_feed(crate::feeds::text(
        &stack.get_calendar(feed_token, &[]).await,
    ));
    let uids: Vec<&str> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids, [format!("{anas}@booking")], "{feed}");
    let stats = crate::stats::get_stats(
        stack,
        &[("from", "2026-12-01"), ("to", "2026-12-31")],
        Auth::Bearer(&token),
    )
    .await;
    assert_eq!(stats.status, 200, "{stats}");
    assert_eq!(stats["byStaff"][salon.id("ana").to_string()], 1, "{stats}");
    assert_eq!(stats["byStaff"][salon.id("ben").to_string()], 1, "{stats}");
}
