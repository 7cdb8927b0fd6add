//! The in-process measurements: real handlers, real `lambda_http::Request`s, one `Deps` (and so
//! one pooled connection) per simulated container, closed-loop clients released together.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use booking_functions::{Deps, availability, book_slot};
use booking_repository::diesel_async::{AsyncConnection, RunQueryDsl};
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::sql_types::Text;
use lambda_http::Request;
use serde_json::json;
use tokio::sync::Barrier;
use tracing::Instrument as _;

use crate::labels;
use crate::stats::{Report, Samples, ms, round};
use crate::world::{self, Bench, World};
use crate::{Error, Result};

/// SES answers in tens of milliseconds from inside AWS: the default latency of the slow mailer.
pub const MAIL_LATENCY: Duration = Duration::from_millis(40);

/// How much of each measurement to run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub availability_requests: usize,
    pub single_client_bookings: usize,
    pub clients: usize,
    pub bookings_per_client: usize,
    pub floor_requests: usize,
    pub floor_per_client: usize,
    pub burst: usize,
    pub profile_requests: usize,
    /// What every SES call waits in the measurements "with a slow mailer": SES over the network.
    pub mail_latency: Duration,
}

impl Plan {
    pub fn full() -> Self {
        Self {
            availability_requests: 400,
            single_client_bookings: 400,
            clients: 40,
            bookings_per_client: 40,
            floor_requests: 1_000,
            floor_per_client: 100,
            burst: 100,
            profile_requests: 200,
            mail_latency: MAIL_LATENCY,
        }
    }

    pub fn quick() -> Self {
        Self {
            availability_requests: 40,
            single_client_bookings: 40,
            clients: 40,
            bookings_per_client: 5,
            floor_requests: 100,
            floor_per_client: 10,
            burst: 100,
            profile_requests: 20,
            mail_latency: MAIL_LATENCY,
        }
    }
}

/// What one simulated client sends, in order.
enum Call {
    Availability(Request),
    Book(Request),
    /// A booking whose response waits for its mails, as before they moved after the response:
    /// the handler, then [`Deps::settle`], both measured.
    BookAwaitingMails(Request),
    Floor,
}

/// Hands out a tenant's free starts, each once.
struct Slots<'a> {
    bench: &'a Bench,
    next: usize,
    client: usize,
    /// Keeps the client addresses of different calendars apart.
    client_base: usize,
}

impl<'a> Slots<'a> {
    fn new(bench: &'a Bench, client_base: usize) -> Self {
        Self {
            bench,
            next: 0,
            client: 0,
            client_base,
        }
    }

    /// A booking of the next free start, by a client never seen before.
    fn booking(&mut self) -> Result<Request> {
        let start = self.bench.slots.get(self.next).ok_or_else(|| {
            Error::from(format!(
                "the calendar ran out of free slots after {} bookings",
                self.next
            ))
        })?;
        self.next += 1;
        self.client += 1;
        let email = format!("client{}-{}@load.example", self.client, self.next);
        world::request(&world::book_event(
            self.bench.service_id,
            start,
            &email,
            self.next + self.client_base,
        ))
    }

    fn bookings(&mut self, count: usize) -> Result<Vec<Call>> {
        (0..count)
            .map(|_| Ok(Call::Book(self.booking()?)))
            .collect()
    }

    fn bookings_awaiting_mails(&mut self, count: usize) -> Result<Vec<Call>> {
        (0..count)
            .map(|_| Ok(Call::BookAwaitingMails(self.booking()?)))
            .collect()
    }
}

/// The floor: one row into an unindexed table, in a transaction of its own.
pub async fn floor_transaction(
    conn: &mut booking_repository::AsyncPgConnection,
    payload: &str,
) -> Result<()> {
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let insert = diesel::sql_query("INSERT INTO bench_floor (payload) VALUES ($1)")
            .bind::<Text, _>(payload);
        // Built inside the span: diesel reports the statement when `execute` is called.
        async { insert.execute(conn).await }
            .instrument(tracing::trace_span!("floor insert"))
            .await?;
        Ok(())
    })
    .await?;
    Ok(())
}

async fn floor_call(deps: &Deps) -> Result<()> {
    let mut conn = deps.pool.get().await?;
    floor_transaction(&mut conn, "floor").await
}

async fn call(deps: &Deps, call: Call) -> u16 {
    match call {
        Call::Availability(request) => availability::handle(deps, request).await.status().as_u16(),
        Call::Book(request) => book_slot::handle(deps, request).await.status().as_u16(),
        Call::BookAwaitingMails(request) => {
            let status = book_slot::handle(deps, request).await.status().as_u16();
            deps.settle().await;
            status
        }
        // 200: committed; 500: failed.
        Call::Floor => match floor_call(deps).await {
            Ok(()) => 200,
            Err(_) => 500,
        },
    }
}

/// Runs each client's calls on its own container, all clients released at once; warm-up calls
/// run first and are not measured. After each call the container does what the invocation owes
/// after its response ([`Deps::settle`]), unmeasured, before its next call — as Lambda hands a
/// container its next event only once the post-response extension is done.
async fn closed_loop(
    containers: Vec<Deps>,
    warmups: Vec<Vec<Call>>,
    work: Vec<Vec<Call>>,
) -> Result<Samples> {
    let barrier = Arc::new(Barrier::new(containers.len()));
    let tasks: Vec<_> = containers
        .into_iter()
        .zip(warmups)
        .zip(work)
        .map(|((deps, warmup), calls)| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                for warm in warmup {
                    call(&deps, warm).await;
                    deps.settle().await;
                }
                barrier.wait().await;
                let started = Instant::now();
                let mut samples = Samples::default();
                for next in calls {
                    let at = Instant::now();
                    let status = call(&deps, next).await;
                    samples.push(at.elapsed(), status);
                    deps.settle().await;
                }
                (started, Instant::now(), samples)
            })
        })
        .collect();
    let mut merged = Samples::default();
    let mut first: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    for task in tasks {
        let (started, ended, samples) = task.await?;
        first = Some(first.map_or(started, |f| f.min(started)));
        last = Some(last.map_or(ended, |l| l.max(ended)));
        merged.merge(samples);
    }
    if let (Some(first), Some(last)) = (first, last) {
        merged.wall = last - first;
    }
    Ok(merged)
}

fn containers(world: &World, count: usize) -> Result<Vec<Deps>> {
    (0..count).map(|_| world.container()).collect()
}

/// [`containers`] whose mailer waits `latency` on every call, as SES over the network does.
fn slow_mail_containers(world: &World, count: usize, latency: Duration) -> Result<Vec<Deps>> {
    (0..count)
        .map(|_| world.container_with_mail_latency(latency))
        .collect()
}

/// Bookings of one tenant's distinct free slots on containers with the slow mailer; `awaiting`:
/// each response waits for its mails (the hand-off before this one).
async fn bookings_with_slow_mail(
    world: &World,
    report: &mut Report,
    slots: &mut Slots<'_>,
    (clients, per_client): (usize, usize),
    latency: Duration,
    awaiting: bool,
) -> Result<Samples> {
    let mut warmups = Vec::with_capacity(clients);
    let mut work = Vec::with_capacity(clients);
    for _ in 0..clients {
        warmups.push(slots.bookings(1)?);
        work.push(if awaiting {
            slots.bookings_awaiting_mails(per_client)?
        } else {
            slots.bookings(per_client)?
        });
    }
    let samples = closed_loop(
        slow_mail_containers(world, clients, latency)?,
        warmups,
        work,
    )
    .await?;
    let name = if awaiting {
        format!(
            "booking, distinct slots, {} ms mailer, response after the mails",
            latency.as_millis()
        )
    } else {
        format!("booking, distinct slots, {} ms mailer", latency.as_millis())
    };
    report.latency(
        &name,
        clients,
        &samples,
        json!({"section": "booking", "tenants": 1, "mail_latency_ms": latency.as_millis() as u64, "response_awaits_mails": awaiting}),
    )?;
    Ok(samples)
}

fn availability_calls(world: &World, count: usize) -> Result<Vec<Call>> {
    calls_of(&world::reference_availability_event(world), count)
}

/// `count` calls of the availability `event`, each from its own client address.
fn calls_of(event: &str, count: usize) -> Result<Vec<Call>> {
    (0..count)
        .map(|client| {
            let event = world::as_client(event, client);
            Ok(Call::Availability(world::request(&event)?))
        })
        .collect()
}

fn floor_calls(count: usize) -> Vec<Call> {
    (0..count).map(|_| Call::Floor).collect()
}

async fn floor(
    world: &World,
    report: &mut Report,
    clients: usize,
    per_client: usize,
    name: &str,
) -> Result<Samples> {
    let samples = closed_loop(
        containers(world, clients)?,
        (0..clients).map(|_| floor_calls(5)).collect(),
        (0..clients).map(|_| floor_calls(per_client)).collect(),
    )
    .await?;
    report.latency(
        name,
        clients,
        &samples,
        json!({"section": "floor", "statement": "BEGIN; INSERT INTO bench_floor (payload) VALUES ($1); COMMIT"}),
    )?;
    Ok(samples)
}

async fn bookings_one_tenant(
    world: &World,
    report: &mut Report,
    slots: &mut Slots<'_>,
    clients: usize,
    per_client: usize,
    name: &str,
) -> Result<Samples> {
    let mut warmups = Vec::with_capacity(clients);
    let mut work = Vec::with_capacity(clients);
    for _ in 0..clients {
        warmups.push(slots.bookings(1)?);
        work.push(slots.bookings(per_client)?);
    }
    let samples = closed_loop(containers(world, clients)?, warmups, work).await?;
    report.latency(
        name,
        clients,
        &samples,
        json!({"section": "booking", "tenants": 1}),
    )?;
    Ok(samples)
}

/// Everything but the cold start, in an order that keeps each comparison close in time.
pub async fn run(world: &World, plan: Plan, report: &mut Report) -> Result<()> {
    let mut conn = world.db.connection().await;
    diesel::sql_query(
        "CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, payload text NOT NULL)",
    )
    .execute(&mut conn)
    .await?;
    let mut slots = Slots::new(&world.booking, 0);

    availability(world, report, plan).await?;

    println!("-- booking against its floor (one-row INSERT transaction), same pool settings");
    floor(
        world,
        report,
        1,
        plan.floor_requests,
        "floor: one-row INSERT transaction",
    )
    .await?;
    bookings_one_tenant(
        world,
        report,
        &mut slots,
        1,
        plan.single_client_bookings,
        "booking, distinct slots",
    )
    .await?;
    floor(
        world,
        report,
        plan.clients,
        plan.floor_per_client,
        "floor: one-row INSERT transaction",
    )
    .await?;
    bookings_one_tenant(
        world,
        report,
        &mut slots,
        plan.clients,
        plan.bookings_per_client,
        "booking, distinct slots",
    )
    .await?;
    bookings_separate_tenants(world, report, plan).await?;
    staffed_bookings(world, report, plan).await?;

    println!(
        "-- booking with a mailer {} ms away (SES over the network), after and before the response",
        plan.mail_latency.as_millis()
    );
    for awaiting in [false, true] {
        bookings_with_slow_mail(
            world,
            report,
            &mut slots,
            (1, plan.single_client_bookings / 4),
            plan.mail_latency,
            awaiting,
        )
        .await?;
    }
    bookings_with_slow_mail(
        world,
        report,
        &mut slots,
        (plan.clients, plan.bookings_per_client),
        plan.mail_latency,
        false,
    )
    .await?;

    println!(
        "-- contention: {} simultaneous requests for one slot",
        plan.burst
    );
    burst(world, report, &mut slots, plan.burst).await?;

    println!("-- where the time goes: statements and round trips per request");
    profile(world, report, &mut slots, plan.profile_requests).await?;

    async_commit(world, report, &mut slots, plan).await?;
    Ok(())
}

/// Availability for one client, then for `plan.clients` at once.
async fn availability(world: &World, report: &mut Report, plan: Plan) -> Result<()> {
    println!("-- availability: 31 days, one service, 2,000 jobs, capacity 3, 30-minute grid");
    let samples = closed_loop(
        containers(world, 1)?,
        vec![availability_calls(world, 5)?],
        vec![availability_calls(world, plan.availability_requests)?],
    )
    .await?;
    report.latency(
        "availability, 31 days",
        1,
        &samples,
        json!({"section": "availability", "jobs": world::JOBS_PER_TENANT, "days": world::AVAILABILITY_DAYS}),
    )?;
    let per_client = (plan.availability_requests / plan.clients).max(5);
    let samples = closed_loop(
        containers(world, plan.clients)?,
        (0..plan.clients)
            .map(|_| availability_calls(world, 2))
            .collect::<Result<_>>()?,
        (0..plan.clients)
            .map(|_| availability_calls(world, per_client))
            .collect::<Result<_>>()?,
    )
    .await?;
    report.latency(
        "availability, 31 days",
        plan.clients,
        &samples,
        json!({"section": "availability", "jobs": world::JOBS_PER_TENANT, "days": world::AVAILABILITY_DAYS}),
    )?;
    println!(
        "-- availability: 31 days, a service of {} staff on their own weeks, {} jobs",
        world::MANY_STAFF,
        world::STAFFED_JOBS
    );
    let event = world::month_of_availability(world.many_staff.service_id);
    let samples = closed_loop(
        containers(world, 1)?,
        vec![calls_of(&event, 5)?],
        vec![calls_of(&event, plan.availability_requests)?],
    )
    .await?;
    report.latency(
        "availability, 31 days, 20 staff",
        1,
        &samples,
        json!({"section": "availability-staffed", "staff": world::MANY_STAFF,
               "jobs": world::STAFFED_JOBS, "days": world::AVAILABILITY_DAYS}),
    )?;
    Ok(())
}

/// The floor and a booking again with commits that do not wait for the WAL flush.
async fn async_commit(
    world: &World,
    report: &mut Report,
    slots: &mut Slots<'_>,
    plan: Plan,
) -> Result<()> {
    println!("-- the same with synchronous_commit = off (commits do not wait for the WAL flush)");
    set_synchronous_commit(world, false).await?;
    floor(
        world,
        report,
        1,
        plan.floor_requests,
        "floor: one-row INSERT transaction, async commit",
    )
    .await?;
    bookings_one_tenant(
        world,
        report,
        slots,
        1,
        plan.single_client_bookings,
        "booking, distinct slots, async commit",
    )
    .await?;
    set_synchronous_commit(world, true).await?;
    Ok(())
}

async fn set_synchronous_commit(world: &World, on: bool) -> Result<()> {
    let mut conn = world.db.connection().await;
    let statement = if on {
        format!("ALTER DATABASE {} RESET synchronous_commit", world.db.name)
    } else {
        format!(
            "ALTER DATABASE {} SET synchronous_commit = off",
            world.db.name
        )
    };
    diesel::sql_query(statement).execute(&mut conn).await?;
    Ok(())
}

/// 40 clients, each on a tenant of its own: no shared tenant lock, only the machine.
async fn bookings_separate_tenants(world: &World, report: &mut Report, plan: Plan) -> Result<()> {
    let mut warmups = Vec::new();
    let mut work = Vec::new();
    for (index, bench) in world.separate.iter().take(plan.clients).enumerate() {
        let mut slots = Slots::new(bench, 20_000 + index * 1_000);
        warmups.push(slots.bookings(1)?);
        work.push(slots.bookings(plan.bookings_per_client)?);
    }
    let clients = work.len();
    let samples = closed_loop(containers(world, clients)?, warmups, work).await?;
    report.latency(
        "booking, distinct slots, one tenant per client",
        clients,
        &samples,
        json!({"section": "booking", "tenants": clients}),
    )?;
    Ok(())
}

/// 40 clients booking a service of [`world::STAFF`] people, each start once per person, under
/// each guard of staffed bookings in turn (alternating, so neither gets the warmer database):
/// "any available", and each client naming person `client % STAFF`.
pub async fn staffed_bookings(world: &World, report: &mut Report, plan: Plan) -> Result<()> {
    use booking_repository::changes::guard_staffed_bookings_with;
    use booking_repository::staff::StaffGuard;
    println!(
        "-- staffed bookings ({} people): the tenant's lock against a lock per person",
        world::STAFF
    );
    let bench = &world.staffed;
    let mut next = 0;
    let mut client = 0;
    for round in 0..2 {
        for guard in [StaffGuard::TenantWide, StaffGuard::PerStaff] {
            for named in [false, true] {
                guard_staffed_bookings_with(guard);
                let mut calls = |count: usize| -> Result<Vec<Call>> {
                    (0..count)
                        .map(|_| {
                            let start = bench
                                .slots
                                .get(next)
                                .ok_or("the staffed calendar ran out")?;
                            // Each start once per person: the person of a named booking is the
                            // start's copy, so no named booking is refused.
                            let person = world.staff[next % world::STAFF];
                            next += 1;
                            client += 1;
                            let email = format!("staffed{client}@load.example");
                            let event = if named {
                                world::book_event_for(
                                    bench.service_id,
                                    start,
                                    &email,
                                    40_000 + client,
                                    person,
                                )
                            } else {
                                world::book_event(bench.service_id, start, &email, 40_000 + client)
                            };
                            Ok(Call::Book(world::request(&event)?))
                        })
                        .collect()
                };
                let mut warmups = Vec::with_capacity(plan.clients);
                let mut work = Vec::with_capacity(plan.clients);
                for _ in 0..plan.clients {
                    warmups.push(calls(1)?);
                    work.push(calls(plan.bookings_per_client)?);
                }
                let samples = closed_loop(containers(world, plan.clients)?, warmups, work).await?;
                let guard_name = match guard {
                    StaffGuard::TenantWide => "tenant lock",
                    StaffGuard::PerStaff => "lock per person",
                };
                let choice = if named { "named" } else { "any available" };
                report.latency(
                    &format!("staffed booking, {choice}, {guard_name}"),
                    plan.clients,
                    &samples,
                    json!({"section": "staffed", "guard": guard_name, "choice": choice,
                           "staff": world::STAFF, "round": round}),
                )?;
            }
        }
    }
    guard_staffed_bookings_with(StaffGuard::PerStaff);
    Ok(())
}

/// `count` warm containers ask for the same free slot at once (capacity 1).
async fn burst(
    world: &World,
    report: &mut Report,
    slots: &mut Slots<'_>,
    count: usize,
) -> Result<()> {
    let containers = containers(world, count)?;
    let mut warmups = Vec::with_capacity(count);
    for _ in 0..count {
        warmups.push(slots.booking()?);
    }
    let contested = slots
        .bench
        .slots
        .get(slots.next)
        .cloned()
        .ok_or("no slot left to contest")?;
    slots.next += 1;
    let barrier = Arc::new(Barrier::new(count));
    let service = world.booking.service_id;
    let tasks: Vec<_> = containers
        .into_iter()
        .zip(warmups)
        .enumerate()
        .map(|(index, (deps, warmup))| {
            let barrier = barrier.clone();
            let event = world::book_event(
                service,
                &contested,
                &format!("rival{index}@load.example"),
                60_000 + index,
            );
            tokio::spawn(async move {
                let warm = book_slot::handle(&deps, warmup).await.status().as_u16();
                deps.settle().await;
                let request = world::request(&event).map_err(|e| e.to_string())?;
                barrier.wait().await;
                let started = Instant::now();
                let status = book_slot::handle(&deps, request).await.status().as_u16();
                let ended = Instant::now();
                deps.settle().await;
                Ok::<_, String>((warm, started, ended, status))
            })
        })
        .collect();
    let mut samples = Samples::default();
    let mut first: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    let mut warm_failures = 0;
    for task in tasks {
        let (warm, started, ended, status) = task.await??;
        if warm != 201 {
            warm_failures += 1;
        }
        first = Some(first.map_or(started, |f| f.min(started)));
        last = Some(last.map_or(ended, |l| l.max(ended)));
        samples.push(ended - started, status);
    }
    if let (Some(first), Some(last)) = (first, last) {
        samples.wall = last - first;
    }
    let winners = samples.status_count(201);
    let refused = samples.status_count(409);
    println!(
        "all {count} answered within {:.3} ms: {winners} winner(s), {refused} refused with 409",
        ms(samples.wall)
    );
    report.latency(
        "contention: one slot, simultaneous requests",
        count,
        &samples,
        json!({
            "section": "contention",
            "all_answered_ms": round(ms(samples.wall)),
            "winners": winners,
            "refused": refused,
            "warmup_failures": warm_failures,
        }),
    )?;
    Ok(())
}

/// Statements seen on one connection: what, how often, how long, and how many round trips
/// (a round trip is a span with at least one statement in flight, so pipelined statements
/// count once).
#[derive(Default)]
struct Profile {
    in_flight: HashMap<String, Vec<Instant>>,
    active: usize,
    round_trips: u64,
    prepares: u64,
    statements: BTreeMap<String, Statement>,
    /// The label each statement's SQL was started under.
    labels: HashMap<String, String>,
}

#[derive(Default, Clone)]
struct Statement {
    order: usize,
    count: u64,
    total: Duration,
    sql: String,
}

struct Recorder(Arc<Mutex<Profile>>);

impl Instrumentation for Recorder {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        let mut profile = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                let sql = query.to_string();
                let key = labels::of(&sql);
                profile
                    .labels
                    .insert(labels::text(&sql).to_owned(), key.clone());
                if profile.active == 0 {
                    profile.round_trips += 1;
                }
                profile.active += 1;
                let order = profile.statements.len();
                profile
                    .statements
                    .entry(key.clone())
                    .or_insert_with(|| Statement {
                        order,
                        sql: labels::text(&sql).to_owned(),
                        ..Statement::default()
                    });
                profile
                    .in_flight
                    .entry(key)
                    .or_default()
                    .push(Instant::now());
            }
            InstrumentationEvent::FinishQuery { query, .. } => {
                let sql = query.to_string();
                // The span of the call site when the statement ends inside it, else the label
                // its start was given.
                let key = match labels::current() {
                    Some(_) => labels::of(&sql),
                    None => profile
                        .labels
                        .get(labels::text(&sql))
                        .cloned()
                        .unwrap_or_else(|| labels::of(&sql)),
                };
                profile.active = profile.active.saturating_sub(1);
                let started = profile.in_flight.get_mut(&key).and_then(Vec::pop);
                if let (Some(started), Some(statement)) =
                    (started, profile.statements.get_mut(&key))
                {
                    statement.count += 1;
                    statement.total += started.elapsed();
                }
            }
            InstrumentationEvent::CacheQuery { .. } => profile.prepares += 1,
            _ => {}
        }
    }
}

async fn profile(
    world: &World,
    report: &mut Report,
    slots: &mut Slots<'_>,
    count: usize,
) -> Result<()> {
    let reference = world::reference_availability_event(world);
    let cases: Vec<(&str, Vec<Call>, Vec<Call>)> = vec![
        ("booking", slots.bookings(2)?, slots.bookings(count)?),
        (
            "availability, 31 days",
            availability_calls(world, 2)?,
            (0..count)
                .map(|client| {
                    let event = world::as_client(&reference, client);
                    Ok(Call::Availability(world::request(&event)?))
                })
                .collect::<Result<_>>()?,
        ),
        {
            let staffed = world::month_of_availability(world.many_staff.service_id);
            (
                "availability, 31 days, 20 staff",
                calls_of(&staffed, 2)?,
                calls_of(&staffed, count)?,
            )
        },
    ];
    for (name, warmup, calls) in cases {
        profile_case(world, report, name, warmup, calls, count).await?;
    }
    Ok(())
}

/// Statements, round trips and time per request of one kind of request.
async fn profile_case(
    world: &World,
    report: &mut Report,
    name: &str,
    warmup: Vec<Call>,
    calls: Vec<Call>,
    count: usize,
) -> Result<()> {
    let deps = world.container()?;
    for warm in warmup {
        call(&deps, warm).await;
        deps.settle().await;
    }
    let shared = Arc::new(Mutex::new(Profile::default()));
    {
        let mut conn = deps.pool.get().await?;
        conn.set_instrumentation(Recorder(shared.clone()));
    }
    let mut handler_time = Duration::ZERO;
    let mut statuses = BTreeMap::<u16, usize>::new();
    let collecting = labels::Collecting::start();
    for next in calls {
        let at = Instant::now();
        let status = call(&deps, next).await;
        handler_time += at.elapsed();
        *statuses.entry(status).or_default() += 1;
        // Its statements count (the mails' record), its time does not: it follows the response.
        deps.settle().await;
    }
    drop(collecting);
    let profile = std::mem::take(&mut *shared.lock().unwrap_or_else(PoisonError::into_inner));
    let n = count.max(1) as f64;
    let mut statements: Vec<(String, Statement)> = profile.statements.into_iter().collect();
    statements.sort_by_key(|(_, s)| s.order);
    let db_time: Duration = statements.iter().map(|(_, s)| s.total).sum();
    let handler_ms = ms(handler_time) / n;
    let db_ms = ms(db_time) / n;
    println!(
        "{name}: {:.1} round trips, {:.1} statements, {:.2} prepares per request; handler {handler_ms:.3} ms, in statements {db_ms:.3} ms ({:.0} %)",
        profile.round_trips as f64 / n,
        statements.iter().map(|(_, s)| s.count).sum::<u64>() as f64 / n,
        profile.prepares as f64 / n,
        100.0 * db_ms / handler_ms,
    );
    let mut rows = Vec::new();
    for (label, statement) in &statements {
        let per_request = statement.count as f64 / n;
        let mean = if statement.count > 0 {
            ms(statement.total) / statement.count as f64
        } else {
            0.0
        };
        println!(
            "    {label:<46} {per_request:>4.1}× per request  mean {mean:>7.3} ms  {share:>5.1} % of handler time",
            share = 100.0 * ms(statement.total) / n / handler_ms,
        );
        rows.push(json!({
            "statement": label,
            "per_request": round(per_request),
            "mean_ms": round(mean),
            "share_of_handler": round(ms(statement.total) / n / handler_ms),
            "sql": statement.sql,
        }));
    }
    report.record(
        "profile",
        name,
        json!({
            "requests": count,
            "statuses": statuses,
            "round_trips_per_request": round(profile.round_trips as f64 / n),
            "statements_per_request": round(statements.iter().map(|(_, s)| s.count).sum::<u64>() as f64 / n),
            "prepares_per_request": round(profile.prepares as f64 / n),
            "handler_ms_mean": round(handler_ms),
            "statements_ms_mean": round(db_ms),
            "statements": rows,
        }),
    )?;
    Ok(())
}
