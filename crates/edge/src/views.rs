//! The JSON shapes of API.md, one `Serialize` struct each: instants in RFC 3339 with the
//! tenant's offset, camelCase names, optional members left out when empty.

use booking_domain::{JobAction, Slot, StaffedSlot, changeable_until, decide_for_client};
use booking_repository::contacts::ContactSummary;
use booking_repository::events::JobEvent;
use booking_repository::jobs::ClientBooking;
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
    #[serde(skip_serializing_if = "Option::is_none")]
    cancelled_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cancel_reason: Option<&'a str>,
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
    /// Left out for an erased client (`{"name": "Erased"}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
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
                email: (!job.client_erased).then_some(job.client_email.as_str()),
                phone: job.client_phone.as_deref().filter(|_| !job.client_erased),
            },
            notes: job.notes.as_deref(),
            decline_reason: job.decline_reason.as_deref(),
            cancelled_by: job.cancelled_by.as_deref(),
            cancel_reason: job.cancel_reason.as_deref(),
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
    pub fn with_emails(mut self, mails: &[MailRecord], zone: Tz) -> Self {
        self.emails = Some(emails(mails, zone));
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

/// One of the mails of a job, for `GET /jobs/{jobId}`'s `emails`.
pub fn emails(emails: &[MailRecord], zone: Tz) -> Vec<EmailView> {
    emails
        .iter()
        .map(|mail| EmailView {
            kind: mail.kind.as_str(),
            status: mail.status.as_str(),
            attempts: mail.attempts,
            sent_at: mail.sent_at.as_ref().map(|at| local_instant(at, zone)),
        })
        .collect()
}

/// One entry of a job's history: when, who, what.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryView<'a> {
    at: String,
    actor: &'a str,
    action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

/// The history, oldest first. Times are shown where they changed (and for the booking, where
/// they were set); a change of status alone shows none.
pub fn history(events: &[JobEvent], zone: Tz) -> Vec<HistoryView<'_>> {
    events
        .iter()
        .map(|event| {
            let moved = event.from_start != event.to_start;
            let shown = |t: &Option<chrono::DateTime<chrono::Utc>>| {
                t.as_ref().filter(|_| moved).map(|t| local_instant(t, zone))
            };
            HistoryView {
                at: local_instant(&event.at, zone),
                actor: &event.actor,
                action: &event.action,
                from_status: event.from_status.map(|s| s.as_str()),
                to_status: event.to_status.map(|s| s.as_str()),
                from_start: shown(&event.from_start),
                to_start: shown(&event.to_start),
                reason: event.reason.as_deref(),
            }
        })
        .collect()
}

/// A booking as its client sees it by the manage link (`GET /bookings/{token}`): what, when,
/// where, and what the client may still do.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingView<'a> {
    job_id: Uuid,
    status: &'static str,
    start: String,
    end: String,
    service: BookedServiceView<'a>,
    business: BusinessView<'a>,
    /// The person who performs it, for a service performed by staff.
    #[serde(skip_serializing_if = "Option::is_none")]
    staff: Option<StaffView<'a>>,
    can_cancel: bool,
    can_reschedule: bool,
    changeable_until: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookedServiceView<'a> {
    id: Uuid,
    name: &'a str,
    duration_minutes: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BusinessView<'a> {
    name: &'a str,
    time_zone: &'static str,
}

/// The client's view of `booking` as of `now`.
pub fn booking(booking: &ClientBooking, now: chrono::DateTime<chrono::Utc>) -> BookingView<'_> {
    let ClientBooking {
        job,
        tenant,
        service,
    } = booking;
    let may = |action| {
        decide_for_client(job.status, action, &tenant.settings, job.starts_at, now).is_ok()
    };
    BookingView {
        job_id: job.id,
        status: job.status.as_str(),
        start: local_instant(&job.starts_at, job.zone),
        end: local_instant(&job.ends_at, job.zone),
        service: BookedServiceView {
            id: service.id,
            name: &service.name,
            duration_minutes: service.duration_minutes,
        },
        business: BusinessView {
            name: &tenant.name,
            time_zone: tenant.zone.name(),
        },
        staff: job.staff.as_ref().map(|person| StaffView {
            id: person.id,
            name: &person.name,
        }),
        can_cancel: may(JobAction::Cancel),
        can_reschedule: may(JobAction::Reschedule),
        changeable_until: local_instant(
            &changeable_until(&tenant.settings, job.starts_at),
            job.zone,
        ),
    }
}

/// A contact in the owner's address book.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactView<'a> {
    id: Uuid,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<&'a str>,
    job_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_start: Option<String>,
}

pub fn contact(contact: &ContactSummary, zone: Tz) -> ContactView<'_> {
    ContactView {
        id: contact.id,
        name: &contact.name,
        email: (!contact.erased).then_some(contact.email.as_str()),
        phone: contact.phone.as_deref(),
        job_count: contact.job_count,
        last_start: contact.last_start.as_ref().map(|t| local_instant(t, zone)),
    }
}

/// A service as the owner's setup shows it, with the staff who perform it.
pub fn service(
    service: &booking_repository::catalog::Service,
    staff_ids: &[Uuid],
) -> serde_json::Value {
    serde_json::json!({
        "id": service.id,
        "slug": service.slug,
        "name": service.name,
        "durationMinutes": service.duration_minutes,
        "active": service.active,
        "staffIds": staff_ids,
    })
}

/// A staff member as the owner's setup shows them: `workingHours` is `null` for someone who
/// works the tenant's hours.
pub fn staff_member(person: &booking_repository::setup::StaffSetup) -> serde_json::Value {
    let own = person.hours.schedule();
    serde_json::json!({
        "id": person.id,
        "slug": person.slug,
        "name": person.name,
        "email": person.email,
        "capacity": person.capacity.get(),
        "active": person.active,
        "serviceIds": person.services,
        "workingHours": person
            .hours
            .has_own_week()
            .then(|| crate::setup::written_week(own)),
        "dateOverrides": crate::setup::written_overrides(own),
    })
}

/// The tenant as its tenant file (API.md "Tenant setup"), with its id and ids on its services
/// and staff (a person's services by slug, as the file has them, and by id).
pub fn tenant_setup(setup: &booking_repository::setup::TenantSetup) -> serde_json::Value {
    let tenant = &setup.tenant;
    let staff: Vec<serde_json::Value> = setup
        .staff
        .iter()
        .map(|person| {
            let mut view = staff_member(person);
            let slugs: Vec<&str> = setup
                .services
                .iter()
                .filter(|service| person.services.contains(&service.id))
                .map(|service| service.slug.as_str())
                .collect();
            view["services"] = serde_json::json!(slugs);
            if !person.hours.has_own_week()
                && let Some(object) = view.as_object_mut()
            {
                // The file leaves the week out for someone who works the tenant's.
                object.remove("workingHours");
            }
            view
        })
        .collect();
    serde_json::json!({
        "id": tenant.id,
        "slug": tenant.slug,
        "name": tenant.name,
        "timeZone": tenant.zone.name(),
        "notificationEmail": tenant.notification_email,
        "settings": crate::setup::written_settings(&tenant.settings),
        "workingHours": crate::setup::written_week(&setup.schedule),
        "dateOverrides": crate::setup::written_overrides(&setup.schedule),
        "services": setup
            .services
            .iter()
            .map(|s| service(s, &setup.staff_of_service(s.id)))
            .collect::<Vec<_>>(),
        "staff": staff,
    })
}

/// A change of the setup: the changed object under its name (`tenant`, `service`), the future
/// jobs that no longer fit the hours, and those whose local wall time moved with the zone.
pub fn setup_change<T>(
    name: &str,
    changed: &booking_repository::setup::Changed<T>,
    view: impl Fn(&T) -> serde_json::Value,
) -> serde_json::Value {
    let mut body = serde_json::Map::new();
    body.insert(name.to_owned(), view(&changed.value));
    body.insert(
        "outsideHours".to_owned(),
        serde_json::json!(changed.outside_hours.iter().map(job).collect::<Vec<_>>()),
    );
    body.insert(
        "wallTimeChanged".to_owned(),
        serde_json::json!(
            changed
                .wall_time_changed
                .iter()
                .map(job)
                .collect::<Vec<_>>()
        ),
    );
    serde_json::Value::Object(body)
}

/// One entry of the tenant's audit list.
pub fn tenant_change(
    change: &booking_repository::setup::TenantChange,
    zone: Tz,
) -> serde_json::Value {
    serde_json::json!({
        "id": change.id,
        "at": local_instant(&change.at, zone),
        "actor": change.actor,
        "what": change.what,
        "detail": change.detail,
    })
}
