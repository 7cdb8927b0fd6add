//! The `book-slot` binary behind a fake Lambda Runtime and Extensions API, as AWS runs it: the
//! post-response extension registers before the runtime's first `next`, the response is posted
//! before the booking's mails are sent, and the extension asks for its next event only once they
//! are — so Lambda keeps the environment awake until the mails are out, while the client already
//! has its answer.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Notify, mpsc};

use crate::support::*;

/// What the fake API saw, in order.
#[derive(Debug)]
enum Seen {
    Registered,
    RuntimeNext,
    ExtensionNext {
        at: Instant,
        mails_written: usize,
    },
    Response(Instant, Value),
    /// What the function reported as its error (shown when the test fails).
    Error(#[allow(dead_code)] String),
}

struct Api {
    event: String,
    mail_dir: PathBuf,
    seen: mpsc::UnboundedSender<Seen>,
    invoked: Notify,
    runtime_polls: Mutex<usize>,
    extension_polls: Mutex<usize>,
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

fn mails_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| entries.count())
}

async fn answer(
    api: Arc<Api>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let at = Instant::now();
    let path = parts.uri.path().to_owned();
    let deadline = (chrono::Utc::now().timestamp_millis() + 30_000).to_string();
    let request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:book-slot";
    if parts.method == Method::POST && path == "/2020-01-01/extension/register" {
        let _ = api.seen.send(Seen::Registered);
        let mut response = reply(
            StatusCode::OK,
            json!({"functionName": "book-slot", "functionVersion": "$LATEST", "handler": "bootstrap"})
                .to_string(),
        );
        response.headers_mut().insert(
            "lambda-extension-identifier",
            hyper::header::HeaderValue::from_static("extension-1"),
        );
        return Ok(response);
    }
    if parts.method == Method::GET && path == "/2020-01-01/extension/event/next" {
        let poll = {
            let mut polls = api.extension_polls.lock().await;
            *polls += 1;
            *polls
        };
        if poll > 1 {
            let _ = api.seen.send(Seen::ExtensionNext {
                at,
                mails_written: mails_in(&api.mail_dir),
            });
            std::future::pending::<()>().await;
        }
        // Lambda hands an extension the INVOKE event when the invocation starts.
        api.invoked.notified().await;
        return Ok(reply(
            StatusCode::OK,
            json!({"eventType": "INVOKE", "deadlineMs": deadline.parse::<u64>().unwrap_or(0),
                   "requestId": request_id, "invokedFunctionArn": arn,
                   "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700"}})
                .to_string(),
        ));
    }
    if parts.method == Method::GET && path.ends_with("/runtime/invocation/next") {
        let _ = api.seen.send(Seen::RuntimeNext);
        let poll = {
            let mut polls = api.runtime_polls.lock().await;
            *polls += 1;
            *polls
        };
        if poll > 1 {
            std::future::pending::<()>().await;
        }
        api.invoked.notify_one();
        let mut response = reply(StatusCode::OK, api.event.clone());
        let headers = response.headers_mut();
        for (name, value) in [
            ("lambda-runtime-aws-request-id", request_id.to_owned()),
            ("lambda-runtime-deadline-ms", deadline),
            ("lambda-runtime-invoked-function-arn", arn.to_owned()),
            (
                "lambda-runtime-trace-id",
                "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=0".to_owned(),
            ),
        ] {
            if let Ok(value) = hyper::header::HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        return Ok(response);
    }
    if parts.method == Method::POST && path.ends_with("/response") {
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let _ = api.seen.send(Seen::Response(at, body));
        return Ok(reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_owned()));
    }
    if parts.method == Method::POST && path.ends_with("/error") {
        let _ = api
            .seen
            .send(Seen::Error(String::from_utf8_lossy(&body).into_owned()));
        return Ok(reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_owned()));
    }
    Ok(reply(StatusCode::NOT_FOUND, "{}".to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_binary_answers_first_and_its_extension_holds_the_invocation_until_the_mails_are_out() {
    let stack = Stack::default().await;
    let mail_dir = tempfile_dir();
    let event = book_event(
        stack.haircut,
        &booking_body(&ny_text(2026, 12, 7, 10, 0), "lambda@example.com"),
        &[],
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let api = Arc::new(Api {
        event,
        mail_dir: mail_dir.clone(),
        seen: seen_tx,
        invoked: Notify::new(),
        runtime_polls: Mutex::new(0),
        extension_polls: Mutex::new(0),
    });
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let api = Arc::clone(&api);
            tokio::spawn(async move {
                let service = service_fn(move |request| answer(Arc::clone(&api), request));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_book-slot"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "book-slot")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("DATABASE_URL", &stack.db.url)
        .env("SES_ENABLED", "false")
        .env("MAIL_OUTBOX_DIR", &mail_dir)
        .env("POST_RESPONSE_EXTENSION", "on")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut timeline = Vec::new();
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(event) = seen.recv().await {
            let done = matches!(event, Seen::ExtensionNext { .. } | Seen::Error(_));
            timeline.push(event);
            if done {
                break;
            }
        }
    })
    .await;
    let _ = child.kill().await;
    server.abort();
    assert!(outcome.is_ok(), "no second extension poll: {timeline:?}");
    let registered = timeline
        .iter()
        .position(|e| matches!(e, Seen::Registered))
        .expect("the extension registered");
    let first_next = timeline
        .iter()
        .position(|e| matches!(e, Seen::RuntimeNext))
        .expect("the runtime polled");
    assert!(
        registered < first_next,
        "registered after the runtime's first next: {timeline:?}"
    );
    let (responded, body) = timeline
        .iter()
        .find_map(|e| match e {
            Seen::Response(at, body) => Some((*at, body.clone())),
            _ => None,
        })
        .expect("a response");
    assert_eq!(body["statusCode"], 201, "{body}");
    let Some(Seen::ExtensionNext { at, mails_written }) = timeline.last() else {
        panic!("the timeline ends without the extension's poll: {timeline:?}");
    };
    assert!(*at >= responded, "{timeline:?}");
    // Both mails were out before the extension let the invocation end.
    assert_eq!(*mails_written, 2, "{timeline:?}");
    assert_eq!(
        stack.count("emails WHERE status = 'sent'").await,
        2,
        "recorded as sent by the binary itself"
    );
    let _ = std::fs::remove_dir_all(&mail_dir);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("post-response-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
