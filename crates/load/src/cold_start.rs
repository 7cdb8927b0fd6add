//! Cold starts of the release binaries behind a fake Lambda Runtime API on 127.0.0.1: the time
//! from spawning the process to its first `GET …/invocation/next` (ready), and to the response
//! of its first invocation (which opens the database connection).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::stats::{Report, Samples, round};
use crate::world::{self, World};
use crate::{Error, Result};

/// How long one cold start may take before it counts as failed.
const RUN_TIMEOUT: Duration = Duration::from_secs(15);

/// What the fake Runtime API saw, with the moment it saw it.
#[derive(Debug)]
enum Seen {
    NextPoll(Instant),
    Response(Instant, String),
    Error(String),
}

/// The fake Runtime API's state for one cold start: the event to hand out once, and where to
/// report what it saw.
#[derive(Clone)]
struct RuntimeApi {
    event: Arc<String>,
    seen: mpsc::UnboundedSender<Seen>,
    handed_out: Arc<AtomicBool>,
}

fn json_response(status: StatusCode, body: String) -> Result<Response<Full<Bytes>>> {
    Ok(Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))?)
}

/// Answers one request of the runtime client: the first `next` gets the event, later ones are
/// held open (the process is killed while it waits, as Lambda freezes it).
async fn answer(api: RuntimeApi, request: Request<Incoming>) -> Result<Response<Full<Bytes>>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let now = Instant::now();
    let path = parts.uri.path();
    let body = String::from_utf8_lossy(&body).into_owned();
    let accepted = || json_response(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_owned());
    if parts.method == Method::GET && path.ends_with("/invocation/next") {
        let _ = api.seen.send(Seen::NextPoll(now));
        if api.handed_out.swap(true, Ordering::SeqCst) {
            // The second poll: the function is idle again. Hold it.
            std::future::pending::<()>().await;
        }
        let deadline = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() + 30_000)
            .unwrap_or_default();
        Ok(Response::builder()
            .status(StatusCode::OK)
            .header(CONTENT_TYPE, "application/json")
            .header(
                "lambda-runtime-aws-request-id",
                "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
            )
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=0",
            )
            .body(Full::new(Bytes::from(api.event.as_bytes().to_vec())))?)
    } else if parts.method == Method::POST && path.ends_with("/response") {
        let _ = api.seen.send(Seen::Response(now, body));
        accepted()
    } else if parts.method == Method::POST && path.ends_with("/error") {
        let _ = api.seen.send(Seen::Error(body));
        accepted()
    } else {
        json_response(StatusCode::NOT_FOUND, "{}".to_owned())
    }
}

/// Serves the runtime client's connections until aborted (which drops every connection).
async fn serve(listener: TcpListener, api: RuntimeApi) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let api = api.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| answer(api.clone(), request));
            // A connection ends when the process is killed; nothing to report.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One cold start: (ready, first response, the response's status code).
async fn cold_start(
    binary: &Path,
    function: &str,
    event: String,
    database_url: &str,
    mail_dir: &Path,
) -> Result<(Duration, Duration, u16)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let api = RuntimeApi {
        event: Arc::new(event),
        seen: seen_tx,
        handed_out: Arc::new(AtomicBool::new(false)),
    };
    let acceptor = tokio::spawn(serve(listener, api));

    let mut command = tokio::process::Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/12/01/[$LATEST]bench")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        )
        .env("AWS_REGION", "us-east-1")
        .env("DATABASE_URL", database_url)
        .env("SES_ENABLED", "false")
        .env("MAIL_OUTBOX_DIR", mail_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let spawned = Instant::now();
    let mut child = command.spawn()?;

    let outcome = tokio::time::timeout(RUN_TIMEOUT, async {
        let mut ready = None;
        while let Some(seen) = seen.recv().await {
            match seen {
                Seen::NextPoll(at) => {
                    ready.get_or_insert(at - spawned);
                }
                Seen::Response(at, body) => {
                    let status = serde_json::from_str::<Value>(&body)
                        .ok()
                        .and_then(|v| v["statusCode"].as_u64())
                        .and_then(|s| u16::try_from(s).ok())
                        .unwrap_or(0);
                    let ready = ready.ok_or("a response before any poll")?;
                    return Ok((ready, at - spawned, status));
                }
                Seen::Error(body) => {
                    return Err(Error::from(format!("{function} reported an error: {body}")));
                }
            }
        }
        Err(Error::from(format!("{function} exited before answering")))
    })
    .await;
    let _ = child.kill().await;
    acceptor.abort();
    outcome.map_err(|_| Error::from(format!("{function}: no answer within {RUN_TIMEOUT:?}")))?
}

/// The time to spawn and reap `/bin/true`: what any process start costs on this machine.
async fn process_floor(runs: usize) -> Result<Samples> {
    let mut samples = Samples::default();
    for _ in 0..runs {
        let at = Instant::now();
        let status = tokio::process::Command::new("true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .await?;
        samples.push(at.elapsed(), if status.success() { 0 } else { 1 });
    }
    Ok(samples)
}

pub async fn run(world: &World, bin_dir: &Path, runs: usize, report: &mut Report) -> Result<()> {
    let mail_dir = std::env::temp_dir().join(format!("booking-load-mail-{}", std::process::id()));
    std::fs::create_dir_all(&mail_dir)?;
    let floor = process_floor(runs).await?;
    println!(
        "process floor (spawn and reap /bin/true): median {:.3} ms, max {:.3} ms",
        floor.percentile(50.0),
        floor.percentile(100.0)
    );
    report.record(
        "cold_start",
        "process floor: spawn and reap /bin/true",
        json!({"runs": runs, "ready_p50_ms": round(floor.percentile(50.0)), "ready_max_ms": round(floor.percentile(100.0))}),
    )?;

    let to = world::today()
        .checked_add_days(chrono::Days::new(world::AVAILABILITY_DAYS - 1))
        .unwrap_or(world::today());
    // Book from the far end of the wide calendar: the handler measurements use the near end.
    let mut slots = world.booking.slots.iter().rev();
    let functions: [(&str, PathBuf); 2] = [
        ("availability", bin_dir.join("availability")),
        ("book-slot", bin_dir.join("book-slot")),
    ];
    for (function, binary) in functions {
        if !binary.is_file() {
            return Err(Error::from(format!(
                "{} is missing: build it with `cargo build --release -p booking-functions --bins`",
                binary.display()
            )));
        }
        let mut ready = Samples::default();
        let mut first = Samples::default();
        for run in 0..runs {
            let event = if function == "book-slot" {
                let start = slots.next().ok_or("no slot left for cold starts")?;
                world::book_event(
                    world.booking.service_id,
                    start,
                    &format!("cold{run}@load.example"),
                    70_000 + run,
                )
            } else {
                world::availability_event(world.availability.service_id, world::today(), to)
            };
            let (to_ready, to_response, status) =
                cold_start(&binary, function, event, &world.db.url, &mail_dir).await?;
            ready.push(to_ready, status);
            first.push(to_response, status);
        }
        println!(
            "{function:<14} ready: median {:.3} ms, max {:.3} ms; first response: median {:.3} ms, max {:.3} ms; statuses {:?}",
            ready.percentile(50.0),
            ready.percentile(100.0),
            first.percentile(50.0),
            first.percentile(100.0),
            first.statuses,
        );
        let size = std::fs::metadata(&binary)?.len();
        report.record(
            "cold_start",
            function,
            json!({
                "runs": runs,
                "binary_bytes": size,
                "ready_p50_ms": round(ready.percentile(50.0)),
                "ready_max_ms": round(ready.percentile(100.0)),
                "first_response_p50_ms": round(first.percentile(50.0)),
                "first_response_max_ms": round(first.percentile(100.0)),
                "statuses": first.statuses.iter().map(|(s, c)| (s.to_string(), json!(c))).collect::<serde_json::Map<_, _>>(),
            }),
        )?;
    }
    let _ = std::fs::remove_dir_all(&mail_dir);
    Ok(())
}
