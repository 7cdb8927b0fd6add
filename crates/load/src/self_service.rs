//! The client's side at size: one table of 1,000,000 jobs (300,000 past with their reminders
//! taken, 10,000 starting within the day whose day-before reminders are due, 690,000 later
//! ones armed), then
//! - the plan of the relay's claim of due reminders (`EXPLAIN (ANALYZE, BUFFERS)` of the very
//!   statement, for one batch and for all 10,000 at once): only due rows are read, through
//!   `reminders_due`, and each job by its key;
//! - the relay draining the 10,000 (batches as it runs them, mails and history written);
//! - `GET /bookings/{token}` through the real handler, one warm container.

use std::fmt::Write as _;
use std::time::Instant;

use booking_domain::ManageLink;
use booking_functions::manage_booking;
use booking_repository::changes;
use booking_repository::diesel_async::RunQueryDsl;
use booking_test_support::{TestDb, load, service};
use diesel::sql_types::{BigInt, Text, Timestamptz, Uuid as SqlUuid};
use serde_json::json;
use uuid::Uuid;

use crate::Result;
use crate::owner_day::http_request;
use crate::stats::{Report, Samples, ms};
use crate::world::{self, now};

pub const JOBS: i64 = 1_000_000;
pub const PAST: i64 = 300_000;
pub const DUE: i64 = 10_000;
/// The relay's batch (crates/functions/src/email_relay.rs).
const BATCH: i64 = 25;

#[derive(diesel::QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

async fn seed(
    conn: &mut booking_repository::AsyncPgConnection,
    tenant: Uuid,
    service: Uuid,
) -> Result<()> {
    diesel::sql_query(
        "INSERT INTO contacts (tenant_id, email, name) \
         SELECT $1, 'client' || g || '@reminders.example', 'Client ' || g \
         FROM generate_series(1, 1000) g",
    )
    .bind::<SqlUuid, _>(tenant)
    .execute(conn)
    .await?;
    // Past jobs two minutes apart back from now; the due ones 8 s apart over the next 22 hours;
    // the rest a minute apart from a day ahead on.
    diesel::sql_query(
        "INSERT INTO jobs (tenant_id, service_id, contact_id, title, starts_at, ends_at, status, \
                           source, changed_by, client_name) \
         SELECT $1, $2, c.ids[1 + g % array_length(c.ids, 1)], 'Seeded job ' || g, t.s, \
                t.s + interval '45 minutes', \
                CASE WHEN g <= $4 THEN 'completed' ELSE 'scheduled' END, \
                'public', 'seed', 'Seeded client ' || g \
         FROM generate_series(1, $6) g \
         CROSS JOIN (SELECT array_agg(id) AS ids FROM contacts WHERE tenant_id = $1) c \
         CROSS JOIN LATERAL (SELECT CASE \
             WHEN g <= $4 THEN $3 - make_interval(mins => (($4 - g + 1) * 2)::int) \
             WHEN g <= $4 + $5 THEN $3 + make_interval(secs => ((g - $4) * 8)::int) \
             ELSE $3 + interval '1 day' + make_interval(mins => (g - $4 - $5)::int) END AS s) t",
    )
    .bind::<SqlUuid, _>(tenant)
    .bind::<SqlUuid, _>(service)
    .bind::<Timestamptz, _>(now())
    .bind::<BigInt, _>(PAST)
    .bind::<BigInt, _>(DUE)
    .bind::<BigInt, _>(JOBS)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "INSERT INTO reminders (tenant_id, job_id, offset_minutes, due_at, taken_at) \
         SELECT tenant_id, id, 1440, starts_at - interval '1 day', \
                CASE WHEN status = 'completed' THEN starts_at - interval '1 day' END \
         FROM jobs WHERE tenant_id = $1",
    )
    .bind::<SqlUuid, _>(tenant)
    .execute(conn)
    .await?;
    diesel::sql_query("VACUUM ANALYZE").execute(conn).await?;
    Ok(())
}

async fn plan(conn: &mut booking_repository::AsyncPgConnection, limit: i64) -> Result<String> {
    let lines: Vec<PlanLine> = diesel::sql_query(format!(
        "EXPLAIN (ANALYZE, BUFFERS) {}",
        changes::REMINDERS_DUE
    ))
    .bind::<Timestamptz, _>(now())
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(lines
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n"))
}

pub async fn run(
    explain: Option<&std::path::Path>,
    requests: usize,
    report: &mut Report,
) -> Result<()> {
    println!("-- the client's side: {JOBS} jobs, {DUE} reminders due, one warm container");
    let db = TestDb::new().await;
    let started = Instant::now();
    let loaded = load(&db, &world::wide_calendar("reminders")?).await;
    let tenant = loaded.tenant_id;
    let session = service(&loaded, "session");
    let mut conn = db.connection().await;
    seed(&mut conn, tenant, session).await?;
    println!("seeded in {:.1} s", started.elapsed().as_secs_f64());

    let mut text = String::new();
    for limit in [BATCH, DUE] {
        // Twice: the first warms the cache, as the relay's every-minute run keeps it.
        plan(&mut conn, limit).await?;
        let plan = plan(&mut conn, limit).await?;
        writeln!(
            text,
            "#### relay: due reminders claimed, LIMIT {limit} ({JOBS} jobs, {DUE} due)\n\n```text\n{plan}\n```\n"
        )?;
        println!("{plan}");
    }
    match explain {
        Some(out) => {
            std::fs::write(out, &text)?;
            println!("plans written to {}", out.display());
        }
        None => print!("{text}"),
    }

    let drain = Instant::now();
    let (mut mailed, mut batches) = (0, 0);
    loop {
        let batch = changes::remind(&mut conn, now(), BATCH).await?;
        if batch.taken() == 0 {
            break;
        }
        mailed += batch.mailed;
        batches += 1;
    }
    let drained = drain.elapsed();
    println!(
        "relay: {mailed} reminders turned into mails in {batches} batches of {BATCH}, {:.1} ms ({:.3} ms per reminder)",
        ms(drained),
        ms(drained) / mailed.max(1) as f64
    );
    report.record(
        "reminders",
        "relay: due reminders taken (batches of 25)",
        json!({"jobs": JOBS, "due": DUE, "mailed": mailed, "batches": batches, "wall_ms": ms(drained)}),
    )?;

    let mut deps = world::container(&db.url)?;
    // One address asks every time: the limit is counted (its upsert is part of the cost) but
    // set far above what the run sends.
    deps.config.manage_rate_limit_per_minute = 1_000_000;
    let job: Uuid = {
        #[derive(diesel::QueryableByName)]
        struct Id {
            #[diesel(sql_type = SqlUuid)]
            id: Uuid,
        }
        let id: Id = diesel::sql_query(
            "SELECT id FROM jobs WHERE status = 'scheduled' ORDER BY starts_at OFFSET 500000 LIMIT 1",
        )
        .get_result(&mut conn)
        .await?;
        id.id
    };
    let token = deps.config.manage_key.issue(ManageLink {
        job_id: job,
        version: 1,
    });
    let view = || {
        http_request(
            "GET",
            "/bookings/{token}",
            &format!("/bookings/{token}"),
            json!({ "token": token }),
            &[],
            "",
            "",
        )
    };
    for _ in 0..20 {
        manage_booking::handle(&deps, view()?).await;
    }
    let mut samples = Samples::default();
    let wall = Instant::now();
    for _ in 0..requests {
        let at = Instant::now();
        let status = manage_booking::handle(&deps, view()?)
            .await
            .status()
            .as_u16();
        samples.push(at.elapsed(), status);
    }
    samples.wall = wall.elapsed();
    report.latency(
        "client: GET /bookings/{token} (warm)",
        1,
        &samples,
        json!({"section": "self-service", "jobs": JOBS}),
    )?;
    drop(deps);
    drop(conn);
    drop(db);
    Ok(())
}
