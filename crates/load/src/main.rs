//! `booking-load`: where the booking backend stands against its physical floor.
//!
//! Drives the real handlers in-process the way Lambda does — N containers, each with its own
//! `Deps` and one-connection pool, fed real API Gateway v2 events — against a fresh database
//! (booking-test-support's `TestDb`, on the server `DATABASE_URL` names) with realistic data.
//! Beside them it measures the floor (a bare one-row INSERT transaction on the same pool
//! settings), the contention burst, the statements and round trips per request, the plans of
//! the hot queries, and the cold start of the release binaries behind a fake Runtime API.
//!
//! ```text
//! booking-load [--quick] [--json FILE] [--explain FILE] [--bin-dir DIR] [--cold-runs N]
//!              [--skip-handlers] [--staffed-only] [--mail-latency-ms MS] [--owner-day-only]
//!              [--self-service-only]
//! ```
//! Mails go to an in-memory mailer; the "slow mailer" measurements put `--mail-latency-ms` (40 by
//! default: SES from inside AWS) in front of every call, as SES over the network would.

mod cold_start;
mod explain;
mod handlers;
mod labels;
mod owner_day;
mod self_service;
mod stats;
mod world;

use std::path::PathBuf;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

/// Where the booking backend stands against its physical floor.
#[derive(Debug, clap::Parser)]
#[command(name = "booking-load", after_help = ENVIRONMENT)]
struct Options {
    /// Few requests per measurement (a smoke run).
    #[arg(long)]
    quick: bool,
    /// Append one JSON object per measurement to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write EXPLAIN (ANALYZE, BUFFERS) of the hot queries to FILE (markdown).
    #[arg(long, value_name = "FILE")]
    explain: Option<PathBuf>,
    /// Measure cold starts of DIR/availability and DIR/book-slot (release builds).
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// Cold starts per binary.
    #[arg(long, value_name = "N", default_value_t = 20)]
    cold_runs: usize,
    /// Only the cold start and/or the plans.
    #[arg(long)]
    skip_handlers: bool,
    /// Of the handler measurements, only the staffed bookings (both guards).
    #[arg(long)]
    staffed_only: bool,
    /// What each SES call waits in the "slow mailer" measurements (SES over the network).
    #[arg(long, value_name = "MS", default_value_t = 40)]
    mail_latency_ms: u64,
    /// Only the owner's day (calendar reads and transitions on a year of data).
    #[arg(long)]
    owner_day_only: bool,
    /// Only the client's side on a table of 1,000,000 jobs: the plan of the relay's claim of
    /// due reminders (to --explain FILE, else printed), the relay draining 10,000 due
    /// reminders, and `GET /bookings/{token}` warm.
    #[arg(long)]
    self_service_only: bool,
}

const ENVIRONMENT: &str =
    "DATABASE_URL must name a Postgres server where a database may be created.";

async fn run(options: Options) -> Result<()> {
    if std::env::var_os("DATABASE_URL").is_none() {
        return Err(format!("DATABASE_URL is not set\n{ENVIRONMENT}").into());
    }
    let mut plan = if options.quick {
        handlers::Plan::quick()
    } else {
        handlers::Plan::full()
    };
    plan.mail_latency = std::time::Duration::from_millis(options.mail_latency_ms);
    let mut report = stats::Report::new(options.json.as_deref())?;
    if options.self_service_only {
        let requests = if options.quick { 200 } else { 2_000 };
        return self_service::run(options.explain.as_deref(), requests, &mut report).await;
    }
    let started = std::time::Instant::now();
    let world = world::World::create(plan.clients).await?;
    println!(
        "database {} ready in {:.1} s: {} other tenants with {} jobs each; the reference tenant has {} jobs in {} days",
        world.db.name,
        started.elapsed().as_secs_f64(),
        world::OTHER_TENANTS,
        world::JOBS_PER_TENANT,
        world::JOBS_PER_TENANT,
        world::AVAILABILITY_DAYS,
    );
    let outcome = async {
        if options.staffed_only {
            handlers::staffed_bookings(&world, &mut report, plan).await?;
        } else if !options.skip_handlers && !options.owner_day_only {
            handlers::run(&world, plan, &mut report).await?;
        }
        if !options.skip_handlers && !options.staffed_only {
            owner_day::run(&world, plan.single_client_bookings, &mut report).await?;
        }
        if let Some(bin_dir) = &options.bin_dir {
            println!("-- cold starts of the release binaries behind a fake Runtime API");
            cold_start::run(&world, bin_dir, options.cold_runs, &mut report).await?;
        }
        if let Some(out) = &options.explain {
            println!("-- plans of the hot queries");
            explain::run(&world, out, &mut report).await?;
        }
        Ok::<_, Error>(())
    }
    .await;
    world.drop_database().await;
    outcome
}

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("booking-load: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let options = <Options as clap::Parser>::parse();
    if let Err(error) = labels::install() {
        eprintln!("booking-load: cannot install the statement labeller: {error}");
        return std::process::ExitCode::FAILURE;
    }
    match runtime.block_on(run(options)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("booking-load: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
