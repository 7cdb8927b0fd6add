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
//!              [--skip-handlers] [--skip-cold-start]
//! ```
//! Mails go to an in-memory mailer: SES is never part of a measurement.

mod cold_start;
mod explain;
mod handlers;
mod stats;
mod world;

use std::path::PathBuf;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug)]
struct Options {
    quick: bool,
    json: Option<String>,
    explain: Option<PathBuf>,
    bin_dir: Option<PathBuf>,
    cold_runs: usize,
    handlers: bool,
}

const USAGE: &str = "usage: booking-load [--quick] [--json FILE] [--explain FILE] \
[--bin-dir DIR] [--cold-runs N] [--skip-handlers]

  --quick          few requests per measurement (a smoke run)
  --json FILE      append one JSON object per measurement to FILE
  --explain FILE   write EXPLAIN (ANALYZE, BUFFERS) of the hot queries to FILE (markdown)
  --bin-dir DIR    measure cold starts of DIR/availability and DIR/book-slot (release builds)
  --cold-runs N    cold starts per binary (default 20)
  --skip-handlers  only the cold start and/or the plans

DATABASE_URL must name a Postgres server where a database may be created.";

fn options() -> Result<Options> {
    let mut options = Options {
        quick: false,
        json: None,
        explain: None,
        bin_dir: None,
        cold_runs: 20,
        handlers: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--json" => options.json = Some(value()?),
            "--explain" => options.explain = Some(PathBuf::from(value()?)),
            "--bin-dir" => options.bin_dir = Some(PathBuf::from(value()?)),
            "--cold-runs" => options.cold_runs = value()?.parse()?,
            "--skip-handlers" => options.handlers = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`\n{USAGE}").into()),
        }
    }
    Ok(options)
}

async fn run(options: Options) -> Result<()> {
    if std::env::var("DATABASE_URL").is_err() {
        return Err(format!("DATABASE_URL is not set\n{USAGE}").into());
    }
    let plan = if options.quick {
        handlers::Plan::quick()
    } else {
        handlers::Plan::full()
    };
    let mut report = stats::Report::new(options.json.as_deref())?;
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
        if options.handlers {
            handlers::run(&world, plan, &mut report).await?;
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
    match options().and_then(|options| runtime.block_on(run(options))) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("booking-load: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
