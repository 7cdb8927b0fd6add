//! The email relay's pass, on an EventBridge schedule (every minute): turns the due reminders
//! into mails ([`changes::remind`]), sends every due mail in the outbox — those, those a
//! function could not hand over right after its commit, and retries after failures — with
//! exponential backoff, does the housekeeping, and reports the backlog as a CloudWatch metric
//! (EMF).

use std::time::Duration;

use booking_email::{record_sent, relay};
use booking_repository::changes::{self, Reminded};
use booking_repository::outbox::{self, oldest_pending_age};
use booking_repository::{AsyncPgConnection, idempotency, rate_limit};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::{Deps, webhook_delivery};

/// Work per invocation; the function's timeout leaves room beyond it.
const BUDGET: Duration = Duration::from_secs(40);
const BATCH: i64 = 25;
/// Webhook batches start until this far into the pass (after the mails); a batch takes at
/// most an attempt's 5 s beyond, inside the function's 50 s.
const WEBHOOKS_UNTIL: Duration = Duration::from_secs(44);

/// Takes the due reminders in batches of [`BATCH`] until none is left or `budget` is spent
/// (a reminder left over is taken by the next pass, at most a minute later). A failure is
/// logged and ends the reminders' part of the pass: the mails go out regardless.
async fn remind_due(
    conn: &mut AsyncPgConnection,
    clock: &impl Fn() -> DateTime<Utc>,
    budget: Duration,
) -> Reminded {
    let started = tokio::time::Instant::now();
    let mut total = Reminded::default();
    while started.elapsed() < budget {
        match changes::remind(conn, clock(), BATCH).await {
            Ok(batch) => {
                total.mailed += batch.mailed;
                total.dropped += batch.dropped;
                if (batch.taken() as i64) < BATCH {
                    break;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "could not take the due reminders");
                break;
            }
        }
    }
    total
}

/// Rides along with every pass: rate-limit windows and client-address turns older than an
/// hour, and idempotency keys older than a day, are dropped. A failure is logged; the next pass tries again.
async fn housekeeping(conn: &mut AsyncPgConnection, now: DateTime<Utc>) {
    if let Err(error) = rate_limit::prune(conn, now).await {
        tracing::warn!(%error, "could not prune rate-limit windows");
    }
    if let Err(error) = idempotency::prune(conn, now).await {
        tracing::warn!(%error, "could not prune idempotency keys");
    }
    if let Err(error) = outbox::prune_recipient_turns(conn, now).await {
        tracing::warn!(%error, "could not prune the turns of client addresses");
    }
}

/// One relay pass; `clock` is read before each batch and for the housekeeping.
pub async fn run_once(
    deps: &Deps,
    clock: impl Fn() -> DateTime<Utc>,
) -> Result<Value, lambda_runtime::Error> {
    let started = tokio::time::Instant::now();
    let mut conn = deps.pool.get().await?;
    // Reminders first (a quarter of the budget at most), so their mails go out in this pass.
    let reminded = remind_due(&mut conn, &clock, BUDGET / 4).await;
    let mut accepted = Vec::new();
    let delivery = relay(
        &mut conn,
        &deps.mailer,
        &deps.mail,
        &clock,
        BATCH,
        BUDGET.saturating_sub(started.elapsed()),
        &mut accepted,
    );
    let report = match delivery.await {
        Ok(report) => report,
        Err(error) => {
            // SES has the accepted ones: record them through a fresh connection, then fail the
            // run so it shows (the next run, a minute later, carries on).
            drop(conn);
            record_sent(&deps.pool, &accepted, clock()).await;
            return Err(error.into());
        }
    };
    // Webhooks after the mails, with what is left of the budget (each attempt is at most 5 s,
    // a batch is sent side by side). The timestamp they are signed with is the wall clock:
    // receivers hold it against their own clocks to refuse replays.
    let webhooks = webhook_delivery::relay(
        &mut conn,
        deps,
        &clock,
        &|| Utc::now().timestamp(),
        WEBHOOKS_UNTIL.saturating_sub(started.elapsed()),
    )
    .await?;
    housekeeping(&mut conn, clock()).await;
    let backlog = oldest_pending_age(&mut conn, clock())
        .await?
        .map_or(0, |age| age.num_seconds().max(0));
    // CloudWatch embedded metric format: this log line becomes the `Booking/OutboxOldestPendingSeconds` metric.
    println!(
        "{}",
        json!({
            "_aws": {
                "Timestamp": clock().timestamp_millis(),
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
        reminders = reminded.mailed,
        reminders_dropped = reminded.dropped,
        sent = report.sent,
        retried = report.retried,
        failed = report.failed,
        webhooks_delivered = webhooks.delivered,
        webhooks_retried = webhooks.retried,
        webhooks_failed = webhooks.failed,
        backlog_seconds = backlog,
        "relay pass done"
    );
    Ok(
        json!({"reminded": reminded.mailed, "sent": report.sent, "retried": report.retried, "failed": report.failed, "oldestPendingSeconds": backlog,
               "webhooks": {"delivered": webhooks.delivered, "retried": webhooks.retried, "failed": webhooks.failed}}),
    )
}
