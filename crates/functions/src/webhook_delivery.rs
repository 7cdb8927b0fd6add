//! Webhook deliveries leave here: after commit, on the relay's schedule (every minute), each
//! due delivery is leased, signed as Standard Webhooks specifies and POSTed; the outcome is
//! recorded for the owner to see ([`booking_repository::webhooks`]).
//!
//! The request goes over hyper's bare client connection (already in the tree through the AWS
//! SDK and the Lambda runtime): it never follows a redirect, and we pick the address it
//! connects to. The endpoint's name is resolved here, every address checked
//! ([`refused_address`]), and the connection made to a checked address — no second lookup
//! between the check and the connect, so a name that changes its answer cannot slip through.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use booking_domain::webhook::AddressRefused;
use booking_domain::{WebhookUrl, refused_address};
use booking_edge::views::{self, JobView, local_instant};
use booking_repository::AsyncPgConnection;
use booking_repository::webhooks::{
    self, AttemptOutcome, ClaimedDelivery, DeliveryStatus, EXCERPT_CHARS,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::Deps;

/// Longest one attempt may take, from resolving the name to the end of the answer's excerpt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Deliveries leased (and sent side by side) at a time.
const BATCH: i64 = 25;

/// Why an endpoint cannot be reached from here, before any byte is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreachable {
    /// Its name resolves to no address.
    Unresolvable,
    /// Its name resolves (or its literal is) to an address webhooks may not reach.
    Refused(AddressRefused),
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unresolvable => f.write_str("its host name does not resolve"),
            Self::Refused(why) => write!(f, "its host resolves to {why}"),
        }
    }
}

/// The addresses `url`'s host resolves to, every one of which webhooks may reach; refused if
/// any is not (a name that answers with one private address among public ones is refused).
pub async fn resolve_checked(
    url: &WebhookUrl,
    allow_loopback: bool,
) -> Result<Vec<SocketAddr>, Unreachable> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((url.host(), url.port()))
        .await
        .map_err(|_| Unreachable::Unresolvable)?
        .collect();
    if found.is_empty() {
        return Err(Unreachable::Unresolvable);
    }
    for address in &found {
        if let Some(why) = refused_address(address.ip(), allow_loopback) {
            return Err(Unreachable::Refused(why));
        }
    }
    Ok(found)
}

/// The body of every attempt of one event: `{"type", "timestamp", "data": {"job": Job}}`.
#[derive(Serialize)]
struct EventBody<'a> {
    r#type: &'static str,
    timestamp: String,
    data: EventData<'a>,
}

#[derive(Serialize)]
struct EventData<'a> {
    job: JobView<'a>,
}

/// The body of `delivery`'s event: the same bytes on every attempt.
pub fn event_body(delivery: &ClaimedDelivery) -> Vec<u8> {
    let body = EventBody {
        r#type: delivery.event.as_str(),
        timestamp: local_instant(&delivery.at, delivery.job.zone),
        data: EventData {
            job: views::job(&delivery.job),
        },
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// What one attempt got back: the status code if the receiver answered, and an excerpt of its
/// answer or of what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status_code: Option<u16>,
    pub excerpt: String,
}

impl Answer {
    fn failed(why: impl std::fmt::Display) -> Self {
        Self {
            status_code: None,
            excerpt: excerpt(why.to_string().as_bytes()),
        }
    }
}

fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .take(EXCERPT_CHARS)
        .collect()
}

/// A signed request to one endpoint.
pub struct Signed<'a> {
    pub url: &'a str,
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`, Unix seconds.
    pub timestamp: i64,
    /// `webhook-signature`.
    pub signature: String,
    pub body: Vec<u8>,
}

/// Sends `request` once, within [`ATTEMPT_TIMEOUT`]: the URL and every address its host
/// resolves to are checked again now, then the connection goes to a checked address.
pub async fn send(request: &Signed<'_>, allow_loopback: bool) -> Answer {
    match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt(request, allow_loopback)).await {
        Ok(answer) => answer,
        Err(_) => Answer::failed(format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())),
    }
}

async fn attempt(request: &Signed<'_>, allow_loopback: bool) -> Answer {
    let url = match WebhookUrl::parse(request.url, allow_loopback) {
        Ok(url) => url,
        Err(refused) => return Answer::failed(format!("refused: the URL {refused}")),
    };
    let addresses = match resolve_checked(&url, allow_loopback).await {
        Ok(addresses) => addresses,
        Err(why) => return Answer::failed(format!("refused: {why}")),
    };
    let mut last_error = String::from("no address");
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => {
                return if url.is_https() {
                    match tls(stream, url.host()).await {
                        Ok(stream) => exchange(stream, &url, request).await,
                        Err(error) => Answer::failed(format!("TLS: {error}")),
                    }
                } else {
                    exchange(stream, &url, request).await
                };
            }
            Err(error) => last_error = format!("connect: {error}"),
        }
    }
    Answer::failed(last_error)
}

/// The TLS client settings: the Mozilla roots, ring (as the database pool).
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = match rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
            {
                Ok(builder) => builder,
                // ring supports the default versions; fall back to rustls' own defaults.
                Err(_) => rustls::ClientConfig::builder(),
            };
            Arc::new(config.with_root_certificates(roots).with_no_client_auth())
        })
        .clone()
}

async fn tls(
    stream: TcpStream,
    host: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|error| error.to_string())?;
    tokio_rustls::TlsConnector::from(tls_config())
        .connect(name, stream)
        .await
        .map_err(|error| error.to_string())
}

/// One HTTP/1.1 POST over `stream`, reading the status and at most an excerpt of the body.
async fn exchange<S>(stream: S, url: &WebhookUrl, request: &Signed<'_>) -> Answer
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(error) => return Answer::failed(format!("HTTP: {error}")),
        };
    let connection = tokio::spawn(connection);
    let built = hyper::Request::post(url.target())
        .header(hyper::header::HOST, url.host_header())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "booking-webhooks/1")
        .header("webhook-id", &request.id)
        .header("webhook-timestamp", request.timestamp.to_string())
        .header("webhook-signature", &request.signature)
        .body(Full::new(Bytes::from(request.body.clone())));
    let answer = match built {
        Err(error) => Answer::failed(format!("request: {error}")),
        Ok(built) => match sender.send_request(built).await {
            Err(error) => Answer::failed(format!("HTTP: {error}")),
            Ok(response) => {
                let status_code = Some(response.status().as_u16());
                let mut body = response.into_body();
                let mut read = Vec::new();
                while read.len() < EXCERPT_CHARS * 4 {
                    match body.frame().await {
                        Some(Ok(frame)) => {
                            if let Some(data) = frame.data_ref() {
                                read.extend_from_slice(data);
                            }
                        }
                        _ => break,
                    }
                }
                Answer {
                    status_code,
                    excerpt: excerpt(&read),
                }
            }
        },
    };
    drop(sender);
    connection.abort();
    answer
}

/// What a relay pass did with webhooks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WebhookReport {
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
}

/// Sends due deliveries until none is due or `budget` is spent. `clock` is the business clock
/// (what is due, backoff); `wall` gives the `webhook-timestamp` in Unix seconds — the moment
/// the request leaves, which receivers check against their own clocks.
pub async fn relay(
    conn: &mut AsyncPgConnection,
    deps: &Deps,
    clock: &impl Fn() -> DateTime<Utc>,
    wall: &impl Fn() -> i64,
    budget: Duration,
) -> Result<WebhookReport, booking_repository::diesel::result::Error> {
    let started = Instant::now();
    let mut report = WebhookReport::default();
    while started.elapsed() < budget {
        let claimed = webhooks::claim_due(conn, clock(), BATCH).await?;
        if claimed.is_empty() {
            break;
        }
        let answers = futures_util::future::join_all(
            claimed
                .iter()
                .map(|delivery| deliver(deps, delivery, wall())),
        )
        .await;
        let outcomes: Vec<AttemptOutcome> = claimed
            .iter()
            .zip(answers)
            .map(|(delivery, answer)| AttemptOutcome {
                webhook_id: delivery.webhook_id,
                event_id: delivery.event_id,
                attempts: delivery.attempts,
                created_at: delivery.created_at,
                status_code: answer.status_code,
                excerpt: answer.excerpt,
            })
            .collect();
        let statuses = webhooks::record_outcomes(conn, &outcomes, clock()).await?;
        for (outcome, status) in outcomes.iter().zip(statuses) {
            tracing::info!(
                webhook_id = %outcome.webhook_id,
                event_id = %outcome.event_id,
                attempt = outcome.attempts,
                status_code = outcome.status_code,
                status = status.as_str(),
                "webhook attempt"
            );
            match status {
                DeliveryStatus::Delivered => report.delivered += 1,
                DeliveryStatus::Pending => report.retried += 1,
                DeliveryStatus::Failed => report.failed += 1,
            }
        }
        if claimed.len() < usize::try_from(BATCH).unwrap_or(usize::MAX) {
            break;
        }
    }
    Ok(report)
}

async fn deliver(deps: &Deps, delivery: &ClaimedDelivery, timestamp: i64) -> Answer {
    let body = event_body(delivery);
    let id = delivery.event_id.to_string();
    let secret = deps.config.webhook_key.endpoint_secret(delivery.webhook_id);
    let signed = Signed {
        url: &delivery.url,
        signature: secret.sign(&id, timestamp, &body),
        id,
        timestamp,
        body,
    };
    send(&signed, deps.config.webhook_allow_loopback).await
}
