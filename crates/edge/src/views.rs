//! The JSON shapes of API.md, one `Serialize` struct each: instants in RFC 3339 with the
//! tenant's offset, camelCase names, optional members left out when empty.

use booking_domain::{Slot, StaffedSlot};
use booking_repository::jobs::JobRecord;
use booking_repository::outbox::MailRecord;
use chrono::{DateTime, SecondsFormat, TimeZone};
use chrono_tz::Tz;
use serde::Serialize;
use uuid::Uuid;

/// `2026-12-01T09:00:00-05:00`.
pub fn local_instant<Z: TimeZone>(at: &DateTime<Z>, zone: Tz) -> String
where
    Z::Offset: Copy,
{
    at.with_timezone(&zone)
        .fixed_offset()
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// A bookable slot: `{"start", "end", "remaining"}`, and `"staffIds"` for a service performed
/// by staff.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlotView {
    start: String,
    end: String,
    remaining: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    staff_ids: Option<Vec<Uuid>>,
}

impl From<&Slot> for SlotView {
    fn from(slot: &Slot) -> Self {
        Self {
            start: local_instant(&slot.start, slot.start.timezone()),
            end: local_instant(&slot.end, slot.end.timezone()),
            remaining: slot.remaining,
            staff_ids: None,
        }
    }
}

pub fn slot(slot: &Slot) -> SlotView {
    SlotView::from(slot)
}

/// A staffed service's slot, with the people free for the whole session.
pub fn staffed_slot(slot: &StaffedSlot) -> SlotView {
    SlotView {
        staff_ids: Some(slot.staff_ids.iter().map(|id| id.as_uuid()).collect()),
        ..SlotView::from(&slot.slot)
    }
}

/// The person a job is assigned to: `{"id", "name"}`.
#[derive(Debug, Serialize)]
pub struct StaffView<'a> {
    id: Uuid,
    name: &'a str,
}

/// API.md's `Job`, with the job's mails where the owner sees them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobView<'a> {
    id: Uuid,
    service_id: Uuid,
    status: &'static str,
    start: String,
    end: String,
    title: &'a str,
    client: ClientView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decline_reason: Option<&'a str>,
    source: &'static str,
    created_at: String,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    staff: Option<StaffView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    emails: Option<Vec<EmailView>>,
}

#[derive(Debug, Serialize)]
pub struct ClientView<'a> {
    name: &'a str,
    email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<&'a str>,
}

impl<'a> From<&'a JobRecord> for JobView<'a> {
    fn from(job: &'a JobRecord) -> Self {
        let at = |t| local_instant(t, job.zone);
        Self {
            id: job.id,
            service_id: job.service_id,
            status: job.status.as_str(),
            start: at(&job.starts_at),
            end: at(&job.ends_at),
            title: &job.title,
            client: ClientView {
                name: &job.client_name,
                email: &job.client_email,
                phone: job.client_phone.as_deref(),
            },
            notes: job.notes.as_deref(),
            decline_reason: job.decline_reason.as_deref(),
            source: job.source.as_str(),
            created_at: at(&job.created_at),
            updated_at: at(&job.updated_at),
            staff: job.staff.as_ref().map(|person| StaffView {
                id: person.id,
                name: &person.name,
            }),
            emails: None,
        }
    }
}

impl JobView<'_> {
    /// The job's mails beside it: kind, status, attempts, and when each went out.
    pub fn with_emails(mut self, emails: &[MailRecord], zone: Tz) -> Self {
        self.emails = Some(
            emails
                .iter()
                .map(|mail| EmailView {
                    kind: mail.kind.as_str(),
                    status: mail.status.as_str(),
                    attempts: mail.attempts,
                    sent_at: mail.sent_at.as_ref().map(|at| local_instant(at, zone)),
                })
                .collect(),
        );
        self
    }
}

pub fn job(job: &JobRecord) -> JobView<'_> {
    JobView::from(job)
}

/// One mail of a job, as the owner's dashboard shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailView {
    kind: &'static str,
    status: &'static str,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    sent_at: Option<String>,
}
