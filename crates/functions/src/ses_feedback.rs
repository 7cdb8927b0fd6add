//! SES's reports of bounces and complaints, through SNS: the configuration set publishes
//! `Bounce` and `Complaint` events to a topic that invokes this function (`ses-feedback`).
//! A permanent bounce or a complaint suppresses the reported addresses for the tenant whose
//! client mail it was (found by the mail's SES message id); a transient bounce changes nothing.
//! A message that is not such a report is logged and dropped, never failing the batch; a
//! database failure fails the invocation, so Lambda retries it (then its on-failure
//! destination keeps it).

use booking_domain::client::mask_email;
use booking_repository::suppressions::{self, Feedback, Recorded, SuppressionReason};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Deps;

/// An SNS delivery to Lambda: its records, each carrying one message.
#[derive(Deserialize)]
struct SnsEvent {
    #[serde(rename = "Records", default)]
    records: Vec<SnsRecord>,
}

#[derive(Deserialize)]
struct SnsRecord {
    #[serde(rename = "Sns")]
    sns: SnsMessage,
}

#[derive(Deserialize)]
struct SnsMessage {
    #[serde(rename = "MessageId", default)]
    message_id: String,
    #[serde(rename = "Message")]
    message: String,
}

/// SES's notification, in its documented shape: `eventType` for configuration-set event
/// publishing, `notificationType` for identity notifications.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    #[serde(alias = "notificationType")]
    event_type: String,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
    mail: Mail,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    bounced_recipients: Vec<Recipient>,
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    complained_recipients: Vec<Recipient>,
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mail {
    message_id: String,
}

/// What a report asks for: suppress these addresses for this reason, or nothing.
fn judge(
    notification: &Notification,
) -> Option<(SuppressionReason, Vec<String>, Option<DateTime<Utc>>)> {
    let addresses =
        |recipients: &[Recipient]| recipients.iter().map(|r| r.email_address.clone()).collect();
    match notification.event_type.as_str() {
        // Transient (mailbox full, …) and undetermined bounces may go through later.
        "Bounce" => notification
            .bounce
            .as_ref()
            .filter(|bounce| bounce.bounce_type == "Permanent")
            .map(|bounce| {
                (
                    SuppressionReason::Bounce,
                    addresses(&bounce.bounced_recipients),
                    bounce.timestamp,
                )
            }),
        "Complaint" => notification.complaint.as_ref().map(|complaint| {
            (
                SuppressionReason::Complaint,
                addresses(&complaint.complained_recipients),
                complaint.timestamp,
            )
        }),
        _ => None,
    }
}

/// What one invocation did, for its log and its result.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FeedbackReport {
    pub suppressed: usize,
    pub ignored: usize,
    pub malformed: usize,
    pub unknown: usize,
}

/// Handles one SNS delivery. `Err` only when the database fails (the invocation is retried:
/// recording a report twice changes nothing).
pub async fn handle(deps: &Deps, event: Value) -> Result<Value, lambda_runtime::Error> {
    let report = process(deps, event).await?;
    tracing::info!(
        suppressed = report.suppressed,
        ignored = report.ignored,
        malformed = report.malformed,
        unknown = report.unknown,
        "ses feedback handled"
    );
    Ok(json!({
        "suppressed": report.suppressed,
        "ignored": report.ignored,
        "malformed": report.malformed,
        "unknown": report.unknown,
    }))
}

async fn process(deps: &Deps, event: Value) -> Result<FeedbackReport, lambda_runtime::Error> {
    let mut report = FeedbackReport::default();
    let event: SnsEvent = match serde_json::from_value(event) {
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(%error, "not an SNS event; dropped");
            report.malformed += 1;
            return Ok(report);
        }
    };
    let mut conn = None;
    for record in event.records {
        let sns_id = record.sns.message_id;
        let notification: Notification = match serde_json::from_str(&record.sns.message) {
            Ok(notification) => notification,
            Err(error) => {
                tracing::warn!(%sns_id, %error, "not an SES notification; dropped");
                report.malformed += 1;
                continue;
            }
        };
        let Some((reason, recipients, at)) = judge(&notification) else {
            tracing::info!(%sns_id, event_type = %notification.event_type, "nothing to suppress");
            report.ignored += 1;
            continue;
        };
        if conn.is_none() {
            conn = Some(deps.pool.get().await?);
        }
        let Some(conn) = conn.as_mut() else {
            continue;
        };
        let now = deps.now();
        let feedback = Feedback {
            ses_message_id: &notification.mail.message_id,
            reason,
            recipients,
            at: at.unwrap_or(now),
        };
        match suppressions::record(conn, &feedback, now).await? {
            Recorded::UnknownMail => {
                tracing::warn!(%sns_id, ses_message_id = %feedback.ses_message_id, "report of no client mail of ours; dropped");
                report.unknown += 1;
            }
            Recorded::Suppressed { added, owner_told } => {
                let masked: Vec<String> =
                    feedback.recipients.iter().map(|a| mask_email(a)).collect();
                tracing::info!(%sns_id, reason = reason.as_str(), recipients = ?masked, added, owner_told, "addresses suppressed");
                report.suppressed += 1;
            }
        }
    }
    Ok(report)
}
