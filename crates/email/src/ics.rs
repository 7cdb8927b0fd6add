//! The calendar invitation client mails carry (RFC 5546 iTIP over RFC 5545). One UID per job,
//! so each later mail updates the same calendar entry: the SEQUENCE grows with every state
//! change (it follows the job's revision), and a decline or a cancellation cancels the entry.

use booking_domain::{JobStatus, MailContext, MailKind};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus, Property};

/// An iTIP message: its METHOD (also the MIME `method=` parameter) and the iCalendar text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invitation {
    pub method: &'static str,
    pub text: String,
}

/// Where a client mail stands in the job's calendar history: its METHOD, event STATUS and
/// SEQUENCE. The SEQUENCE is the job's revision (it counts every change), never below the
/// kind's place in the booking's first steps, so each later mail supersedes the earlier ones.
/// `None` for the owner mail, which carries no invitation.
fn itip(kind: MailKind, mail: &MailContext) -> Option<(&'static str, EventStatus, u32)> {
    let tentative = if mail.status == JobStatus::PendingConfirmation {
        EventStatus::Tentative
    } else {
        EventStatus::Confirmed
    };
    let (method, status) = match kind {
        MailKind::ClientBooked => ("REQUEST", EventStatus::Confirmed),
        MailKind::ClientPending => ("REQUEST", EventStatus::Tentative),
        MailKind::ClientConfirmed => ("REQUEST", EventStatus::Confirmed),
        MailKind::ClientDeclined => ("CANCEL", EventStatus::Cancelled),
        MailKind::ClientRescheduled => ("REQUEST", tentative),
        MailKind::ClientCancelled => ("CANCEL", EventStatus::Cancelled),
        // The entry as it stands (same SEQUENCE as the last change's mail): a calendar that
        // lost it gets it back, one that has it changes nothing.
        MailKind::ClientReminder => ("REQUEST", EventStatus::Confirmed),
        MailKind::OwnerNewBooking
        | MailKind::OwnerBookingCancelled
        | MailKind::OwnerBookingRescheduled
        | MailKind::OwnerClientUnreachable => return None,
    };
    Some((method, status, sequence(kind, mail.revision)))
}

/// The SEQUENCE of `kind`'s invitation for a job at `revision`: the revision, never below the
/// kind's place in the booking's first steps (booked or pending 0, then confirmed, moved or
/// cancelled 1, declined 2). The calendar feed uses it too, so a subscribed calendar and the
/// client's mails agree on which version of the event is the latest.
pub(crate) fn sequence(kind: MailKind, revision: u32) -> u32 {
    let floor = match kind {
        MailKind::ClientConfirmed | MailKind::ClientRescheduled | MailKind::ClientCancelled => 1,
        MailKind::ClientDeclined => 2,
        _ => 0,
    };
    floor.max(revision)
}

/// The calendar UID of a job: stable across all its mails and the calendar feed.
pub(crate) fn uid(job_id: uuid::Uuid) -> String {
    format!("{job_id}@booking")
}

/// A parameter value may not hold a double quote or control characters (RFC 5545 §3.2).
fn parameter_text(text: &str) -> String {
    text.chars()
        .map(|c| if c == '"' { '\'' } else { c })
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Text values on one line (SUMMARY); the escaper handles line breaks but not other controls.
pub(crate) fn line_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Text values that may span lines (DESCRIPTION): line breaks kept, other controls dropped.
pub(crate) fn block_text(text: &str) -> String {
    text.chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .collect()
}

pub(crate) fn invitation(
    kind: MailKind,
    mail: &MailContext,
    organizer_address: &str,
) -> Option<Invitation> {
    let (method, status, sequence) = itip(kind, mail)?;
    let mut organizer = Property::new("ORGANIZER", format!("mailto:{organizer_address}"));
    organizer.add_parameter("CN", &parameter_text(&mail.tenant_name));
    let mut attendee = Property::new("ATTENDEE", format!("mailto:{}", mail.client_email));
    // No CN: the client's name reaches a client mail only as its greeting.
    attendee
        .add_parameter("ROLE", "REQ-PARTICIPANT")
        .add_parameter("PARTSTAT", "ACCEPTED")
        .add_parameter("RSVP", "FALSE");
    let summary = line_text(&format!("{} at {}", mail.service_name, mail.tenant_name));
    let mut description = summary.clone();
    if kind == MailKind::ClientDeclined
        && let Some(reason) = &mail.decline_reason
    {
        description.push_str("\n\nDeclined: ");
        description.push_str(reason);
    }
    if kind == MailKind::ClientCancelled
        && let Some(reason) = &mail.cancel_reason
    {
        description.push_str("\n\nCancelled: ");
        description.push_str(reason);
    }
    let description = block_text(&description);
    let event = Event::new()
        .uid(&uid(mail.job_id))
        .sequence(sequence)
        .timestamp(mail.changed_at)
        .starts(mail.starts_at)
        .ends(mail.ends_at)
        .summary(&summary)
        .description(&description)
        .status(status)
        .append_property(organizer)
        .append_multi_property(attendee)
        .done();
    let mut calendar = Calendar::empty();
    calendar
        .append_property(("PRODID", "-//booking//booking-email//EN"))
        .append_property(("VERSION", "2.0"))
        .append_property(("CALSCALE", "GREGORIAN"))
        .append_property(("METHOD", method))
        .push(event);
    Some(Invitation {
        method,
        text: calendar.done().to_string(),
    })
}
