//! Many containers, one slot: exactly capacity wins, across separate connections.

use booking_domain::BookingSettings;
use booking_repository::diesel_async::RunQueryDsl;
use futures_util::future::join_all;

use crate::support::*;

/// Fires one booking per container at once; returns the statuses.
async fn storm(stack: &Stack, requests: Vec<(uuid::Uuid, String)>) -> Vec<u16> {
    let containers: Vec<_> = requests.iter().map(|_| stack.container()).collect();
    // Open every connection first, so the race is between bookings, not between connects.
    for deps in &containers {
        drop(deps.connection().await.expect("connect"));
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(requests.len()));
    let tasks =
        containers
            .into_iter()
            .zip(requests)
            .enumerate()
            .map(|(i, (deps, (service, start)))| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    let body = booking_body(&start, &format!("client{i}@example.com"));
                    barrier.wait().await;
                    deps.post_book(service, &body).await.status
                })
            });
    join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect()
}

/// The most active jobs that overlap at any instant (the peak is at some job's start).
async fn peak_overlap(stack: &Stack) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Peak {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        peak: i64,
    }
    let mut conn = stack.db.connection().await;
    let row: Peak = diesel::sql_query(
        "SELECT coalesce(max(n), 0) AS peak FROM (
           SELECT (SELECT count(*) FROM jobs b
                   WHERE b.status IN ('pending-confirmation', 'scheduled', 'in-progress')
                     AND b.starts_at <= a.starts_at AND b.ends_at > a.starts_at) AS n
           FROM jobs a WHERE a.status IN ('pending-confirmation', 'scheduled', 'in-progress')) counts",
    )
    .get_result(&mut conn)
    .await
    .expect("peak");
    row.peak
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn booking_the_last_place_fifty_times_at_once_lets_exactly_one_win() {
    let stack = Stack::default().await;
    let start = ny_text(2026, 12, 7, 10, 0);
    let statuses = storm(
        &stack,
        (0..50).map(|_| (stack.haircut, start.clone())).collect(),
    )
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        49,
        "{statuses:?}"
    );
    assert_eq!(stack.count("jobs").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_capacity_three_exactly_three_of_forty_win() {
    let stack = Stack::new(BookingSettings {
        max_bookings_per_slot: 3,
        ..BookingSettings::default()
    })
    .await;
    let start = ny_text(2026, 12, 7, 13, 0);
    let statuses = storm(
        &stack,
        (0..40).map(|_| (stack.haircut, start.clone())).collect(),
    )
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(peak_overlap(&stack).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_starts_on_two_services_never_overbook() {
    for capacity in [1, 2] {
        let stack = Stack::new(BookingSettings {
            max_bookings_per_slot: capacity,
            ..BookingSettings::default()
        })
        .await;
        // Haircuts (45 min) and colours (90 min) at every half hour of one morning.
        let requests: Vec<_> = (0..48)
            .map(|i| {
                let service = if i % 3 == 0 {
                    stack.colour
                } else {
                    stack.haircut
                };
                let (hour, minute) = [(9, 0), (9, 30), (10, 0), (10, 30)][i % 4];
                (service, ny_text(2026, 12, 7, hour, minute))
            })
            .collect();
        let statuses = storm(&stack, requests).await;
        assert!(
            statuses.iter().all(|s| *s == 201 || *s == 409),
            "{statuses:?}"
        );
        let won = statuses.iter().filter(|s| **s == 201).count() as i64;
        assert!(won >= 1);
        assert_eq!(won, stack.count("jobs").await);
        let peak = peak_overlap(&stack).await;
        assert!(
            peak <= i64::from(capacity),
            "capacity {capacity}, peak {peak}"
        );
    }
}

/// Tenant loads (tenant row, then its services) racing bookings and hand-entered jobs (which
/// lock the tenant through one of its services): one lock order everywhere, so no deadlock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tenant_loads_racing_bookings_never_deadlock() {
    use booking_domain::{ClientEmail, ClientName};
    use booking_repository::changes::{self, HandEnteredJob};
    use booking_repository::tenant_setup::load_tenant;

    let stack = Stack::default().await;
    let definition = booking_test_support::salon("fifi", BookingSettings::default());
    let mut tasks = Vec::new();
    for loader in 0..3 {
        let (db_url, definition) = (stack.db.url.clone(), definition.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = connect(&db_url).await;
            let mut failures = Vec::new();
            for _ in 0..15 {
                if let Err(e) = load_tenant(&mut conn, &definition).await {
                    failures.push(format!("load {loader}: {e}"));
                }
            }
            failures
        }));
    }
    for booker in 0..6 {
        let deps = stack.container();
        let (haircut, colour) = (stack.haircut, stack.colour);
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for round in 0..15 {
                let start = ny_text(2026, 12, 7 + round % 5, 9 + booker % 2, 0);
                let email = format!("b{booker}r{round}@example.com");
                let service = if round % 2 == 0 { haircut } else { colour };
                let status = deps
                    .post_book(service, &booking_body(&start, &email))
                    .await
                    .status;
                if status != 201 && status != 409 {
                    failures.push(format!("booking {booker}/{round}: {status}"));
                }
            }
            failures
        }));
    }
    for owner_task in 0..2 {
        let (db_url, tenant_id, service_id) =
            (stack.db.url.clone(), stack.tenant.tenant_id, stack.haircut);
        tasks.push(tokio::spawn(async move {
            let mut conn = connect(&db_url).await;
            let mut failures = Vec::new();
            for round in 0..15 {
                let job = HandEnteredJob {
                    service_id,
                    start: ny(2026, 12, 14 + owner_task, 8, 0) + chrono::Duration::hours(round),
                    name: ClientName::parse("Walk In").expect("name"),
                    email: ClientEmail::parse("walk.in@example.com").expect("email"),
                    phone: None,
                    notes: None,
                    title: None,
                };
                match changes::enter_by_hand(
                    &mut conn,
                    tenant_id,
                    &job,
                    "owner:test",
                    friday_morning(),
                )
                .await
                {
                    Ok(_) | Err(changes::OwnerError::Conflict { .. }) => {}
                    Err(e) => failures.push(format!("hand-entered {owner_task}/{round}: {e}")),
                }
            }
            failures
        }));
    }
    let failures: Vec<String> = join_all(tasks)
        .await
        .into_iter()
        .flat_map(|r| r.expect("task"))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

async fn connect(url: &str) -> booking_repository::AsyncPgConnection {
    use booking_repository::diesel_async::AsyncConnection;
    booking_repository::AsyncPgConnection::establish(url)
        .await
        .expect("connect")
}

/// Locks waited for by this test's own backends (tests run side by side on one server).
const OWN_WAITS: &str = "pg_locks WHERE NOT granted AND pid IN \
     (SELECT pid FROM pg_stat_activity WHERE datname = current_database())";

/// How many of this test's backends wait for an advisory lock right now.
async fn waiting_for_the_guard(stack: &Stack) -> i64 {
    stack
        .count(&format!("{OWN_WAITS} AND locktype = 'advisory'"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_slot_is_refused_while_the_guard_is_held_and_a_free_one_waits_for_the_holder() {
    let stack = Stack::default().await;
    let full = ny_text(2026, 12, 7, 10, 0);
    stack.book(&full, "first@example.com").await;
    let mut holder = stack.hold_the_guard().await;
    // Refusing needs no lock: decided from a snapshot while the guard is held (waiting for it
    // would end in the lock timeout's 503).
    let refused = stack
        .post_book(stack.haircut, &booking_body(&full, "second@example.com"))
        .await;
    let problem = expect_problem(refused, 409, "slot_unavailable");
    assert!(!problem["alternatives"].as_array().unwrap().is_empty());
    assert_eq!(waiting_for_the_guard(&stack).await, 0);
    // Granting does: a free slot waits for the holder, then lands.
    let other = stack.container();
    let free = ny_text(2026, 12, 7, 11, 0);
    let body = booking_body(&free, "third@example.com");
    let haircut = stack.haircut;
    let booking = tokio::spawn(async move { other.post_book(haircut, &body).await.status });
    let mut waited = false;
    for _ in 0..200 {
        if waiting_for_the_guard(&stack).await > 0 {
            waited = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(waited, "the grant never waited for the guard");
    assert!(!booking.is_finished());
    diesel::sql_query("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
    assert_eq!(booking.await.unwrap(), 201);
    assert_eq!(stack.count("jobs").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_waits_for_the_previous_releases_guard_during_a_rolling_deploy() {
    let stack = Stack::default().await;
    // The release before this one guarded a tenant by its row alone.
    let mut old_release = stack.db.connection().await;
    diesel::sql_query("BEGIN")
        .execute(&mut old_release)
        .await
        .unwrap();
    diesel::sql_query("SELECT id FROM tenants FOR NO KEY UPDATE")
        .execute(&mut old_release)
        .await
        .unwrap();
    let other = stack.container();
    let body = booking_body(&ny_text(2026, 12, 7, 10, 0), "new@example.com");
    let haircut = stack.haircut;
    let booking = tokio::spawn(async move { other.post_book(haircut, &body).await.status });
    let mut waited = false;
    for _ in 0..200 {
        if stack.count(OWN_WAITS).await > 0 {
            waited = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(
        waited,
        "the booking did not wait for the old release's guard"
    );
    assert!(!booking.is_finished());
    diesel::sql_query("ROLLBACK")
        .execute(&mut old_release)
        .await
        .unwrap();
    assert_eq!(booking.await.unwrap(), 201);
}
