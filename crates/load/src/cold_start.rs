//! Cold starts of the release binaries behind a fake Lambda Runtime API on 127.0.0.1: the time
//! from spawning the process to its first `GET …/invocation/next` (ready), and to the response
//! of its first invocation (which opens the database connection).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
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

/// One HTTP/1.1 request as the runtime client sends it.
struct HttpRequest {
    method: String,
    path: String,
    body: Vec<u8>,
}

async fn read_request(reader: &mut BufReader<TcpStream>) -> Result<Option<HttpRequest>> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut length = 0_usize;
    let mut chunked = false;
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse()?;
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.eq_ignore_ascii_case("chunked")
            {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)?;
            if size == 0 {
                // Trailers end with an empty line.
                loop {
                    line.clear();
                    if reader.read_line(&mut line).await? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).await?;
            let mut crlf = [0_u8; 2];
            reader.read_exact(&mut crlf).await?;
        }
    } else if length > 0 {
        body.resize(length, 0);
        reader.read_exact(&mut body).await?;
    }
    Ok(Some(HttpRequest { method, path, body }))
}

fn response(status: &str, headers: &[(&str, String)], body: &str) -> String {
    let mut text = format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    text
}

/// Serves one connection of the runtime client: the first `next` gets the event, later ones are
/// held open (the process is killed while it waits, as Lambda freezes it).
async fn serve(
    stream: TcpStream,
    event: Arc<String>,
    seen: mpsc::UnboundedSender<Seen>,
    handed_out: Arc<std::sync::atomic::AtomicBool>,
) -> Result<()> {
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader).await? {
        let now = Instant::now();
        let body = String::from_utf8_lossy(&request.body).into_owned();
        if request.method == "GET" && request.path.ends_with("/invocation/next") {
            let _ = seen.send(Seen::NextPoll(now));
            if handed_out.swap(true, std::sync::atomic::Ordering::SeqCst) {
                // The second poll: the function is idle again. Hold it.
                std::future::pending::<()>().await;
            }
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() + 30_000)
                .unwrap_or_default();
            let headers = [
                (
                    "lambda-runtime-aws-request-id",
                    "8476a536-e9f4-11e8-9739-2dfe598c3fcd".to_owned(),
                ),
                ("lambda-runtime-deadline-ms", deadline.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:bench".to_owned(),
                ),
                (
                    "lambda-runtime-trace-id",
                    "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=0"
                        .to_owned(),
                ),
            ];
            reader
                .get_mut()
                .write_all(response("200 OK", &headers, &event).as_bytes())
                .await?;
        } else if request.method == "POST" && request.path.ends_with("/response") {
            let _ = seen.send(Seen::Response(now, body));
            reader
                .get_mut()
                .write_all(response("202 Accepted", &[], r#"{"status":"OK"}"#).as_bytes())
                .await?;
        } else if request.method == "POST" && request.path.ends_with("/error") {
            let _ = seen.send(Seen::Error(body));
            reader
                .get_mut()
                .write_all(response("202 Accepted", &[], r#"{"status":"OK"}"#).as_bytes())
                .await?;
        } else {
            reader
                .get_mut()
                .write_all(response("404 Not Found", &[], "{}").as_bytes())
                .await?;
        }
    }
    Ok(())
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
    let event = Arc::new(event);
    let handed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acceptor = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve(
                stream,
                event.clone(),
                seen_tx.clone(),
                handed_out.clone(),
            ));
        }
    });

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
