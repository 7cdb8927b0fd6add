//! Lambda, on an EventBridge schedule (every minute): sends every due mail in the outbox — those
//! a function could not hand over right after its commit, and retries after failures — with
//! exponential backoff, and reports the backlog as a CloudWatch metric (EMF).
// The relay's future (pipelined reads inside batches inside the runtime's loop) is deeper than
// the compiler's default layout depth in release builds.
#![recursion_limit = "256"]

use std::sync::Arc;
use std::time::Duration;

use booking_edge::Config;
use booking_email::{DeliveryError, record_sent, relay};
use booking_functions::Deps;
use booking_repository::outbox::oldest_pending_age;
use chrono::Utc;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// Work per invocation; the function's timeout leaves room beyond it.
const BUDGET: Duration = Duration::from_secs(40);
const BATCH: i64 = 25;

#[tokio::main]
async fn main() -> Result<(), Error> {
    booking_edge::telemetry::init();
    let config = Config::from_env()
        .inspect_err(|error| tracing::error!(%error, "configuration is incomplete"))?;
    let deps = Deps::from_config(config, Arc::new(Utc::now)).await?;
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| run_once(&deps))).await
}

async fn run_once(deps: &Deps) -> Result<Value, Error> {
    let mut conn = deps.pool.get().await?;
    let report = match relay(&mut conn, &deps.mailer, &deps.mail, Utc::now, BATCH, BUDGET).await {
        Ok(report) => report,
        Err(DeliveryError::Unrecorded { source, sent, .. }) => {
            // SES has these: record them through a fresh connection, then fail the run so it
            // shows (the next run, a minute later, carries on).
            drop(conn);
            record_sent(&deps.pool, &sent, Utc::now()).await;
            return Err(source.into());
        }
        Err(DeliveryError::Database(error)) => return Err(error.into()),
    };
    // Housekeeping rides along: rate-limit windows older than an hour are dropped.
    if let Err(error) = booking_repository::rate_limit::prune(&mut conn, Utc::now()).await {
        tracing::warn!(%error, "could not prune rate-limit windows");
    }
    let backlog = oldest_pending_age(&mut conn, Utc::now())
        .await?
        .map_or(0, |age| age.num_seconds().max(0));
    // CloudWatch embedded metric format: this log line becomes the `Booking/OutboxOldestPendingSeconds` metric.
    println!(
        "{}",
        json!({
            "_aws": {
                "Timestamp": Utc::now().timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": "Booking",
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [{"Name": "OutboxOldestPendingSeconds", "Unit": "Seconds"}, {"Name": "MailsSent", "Unit": "Count"}, {"Name": "MailsFailed", "Unit": "Count"}]
                }]
            },
            "FunctionName": std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "email-relay".to_owned()),
            "OutboxOldestPendingSeconds": backlog,
            "MailsSent": report.sent,
            "MailsFailed": report.failed,
        })
    );
    tracing::info!(
        sent = report.sent,
        retried = report.retried,
        failed = report.failed,
        backlog_seconds = backlog,
        "relay pass done"
    );
    Ok(
        json!({"sent": report.sent, "retried": report.retried, "failed": report.failed, "oldestPendingSeconds": backlog}),
    )
}
