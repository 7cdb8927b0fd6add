//! The JSON shapes of API.md: instants in RFC 3339 with the tenant's offset, camelCase names.

use booking_domain::Slot;
use booking_repository::jobs::JobRecord;
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

/// `2026-12-01T09:00:00-05:00`.
pub fn local_instant<Z: TimeZone>(at: &DateTime<Z>, zone: Tz) -> String
where
    Z::Offset: Copy,
{
    at.with_timezone(&zone)
        .fixed_offset()
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

pub fn slot(slot: &Slot) -> Value {
    json!({
        "start": slot.start.fixed_offset().to_rfc3339_opts(SecondsFormat::Secs, false),
        "end": slot.end.fixed_offset().to_rfc3339_opts(SecondsFormat::Secs, false),
        "remaining": slot.remaining,
    })
}

pub fn job(job: &JobRecord) -> Value {
    let at = |t: &DateTime<Utc>| local_instant(t, job.zone);
    let mut client = Map::new();
    client.insert("name".to_owned(), json!(job.client_name));
    client.insert("email".to_owned(), json!(job.client_email));
    if let Some(phone) = &job.client_phone {
        client.insert("phone".to_owned(), json!(phone));
    }
    let mut body = Map::new();
    body.insert("id".to_owned(), json!(job.id));
    body.insert("serviceId".to_owned(), json!(job.service_id));
    body.insert("status".to_owned(), json!(job.status.as_str()));
    body.insert("start".to_owned(), json!(at(&job.starts_at)));
    body.insert("end".to_owned(), json!(at(&job.ends_at)));
    body.insert("title".to_owned(), json!(job.title));
    body.insert("client".to_owned(), Value::Object(client));
    if let Some(notes) = &job.notes {
        body.insert("notes".to_owned(), json!(notes));
    }
    if let Some(reason) = &job.decline_reason {
        body.insert("declineReason".to_owned(), json!(reason));
    }
    body.insert("source".to_owned(), json!(job.source.as_str()));
    body.insert("createdAt".to_owned(), json!(at(&job.created_at)));
    body.insert("updatedAt".to_owned(), json!(at(&job.updated_at)));
    Value::Object(body)
}

/// A job's mails: kind, status, attempts, and when each went out.
pub fn emails(emails: &[booking_repository::outbox::EmailStatus], zone: Tz) -> Value {
    Value::Array(
        emails
            .iter()
            .map(|mail| {
                let mut view = Map::new();
                view.insert("kind".to_owned(), json!(mail.kind.as_str()));
                view.insert("status".to_owned(), json!(mail.status.as_str()));
                view.insert("attempts".to_owned(), json!(mail.attempts));
                if let Some(sent_at) = &mail.sent_at {
                    view.insert("sentAt".to_owned(), json!(local_instant(sent_at, zone)));
                }
                Value::Object(view)
            })
            .collect(),
    )
}
