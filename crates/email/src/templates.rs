//! The bodies (each kind in HTML and plain text), compiled into the binary by askama.
//! HTML templates escape every value; the text templates are sent as `text/plain`, where
//! nothing is interpreted.

use askama::Template;
use booking_domain::{JobStatus, MailContext, MailKind};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// What the templates show, formatted once.
pub(crate) struct View<'a> {
    pub subject: &'a str,
    pub business: &'a str,
    pub service: &'a str,
    /// "Monday, December 7, 2026, 10:00 AM – 10:45 AM EST", in the tenant's zone.
    pub when: String,
    /// The client's full name, for the owner's mail.
    pub client_name: &'a str,
    /// What a client mail calls the client ([`greeting`]).
    pub greeting: String,
    pub client_email: &'a str,
    pub client_phone: Option<&'a str>,
    /// Owner mails only: a client mail never echoes what the booking form was given.
    pub notes: Option<&'a str>,
    /// The notes for the plain-text table: continuation lines indented under the first.
    pub notes_text: Option<String>,
    pub reason: Option<&'a str>,
    /// The owner's dashboard page of the job.
    pub job_url: String,
    /// Whether the job waits for the owner's confirmation.
    pub pending: bool,
    /// Owner mails show the client's contact details.
    pub for_owner: bool,
    /// Client mails: the client's own page of the booking (its manage link).
    pub manage_url: Option<String>,
    /// The client cancelled it themselves.
    pub by_client: bool,
    /// Where a moved job was before its latest move.
    pub previous_when: Option<String>,
}

impl<'a> View<'a> {
    pub fn new(
        kind: MailKind,
        mail: &'a MailContext,
        subject: &'a str,
        public_app_url: &str,
        manage_url: Option<String>,
    ) -> Self {
        let non_empty = |text: &'a Option<String>| {
            text.as_deref()
                .map(str::trim)
                .filter(|value| !value.is_empty())
        };
        let for_owner = !kind.is_for_client();
        let notes = non_empty(&mail.notes).filter(|_| for_owner);
        Self {
            subject,
            business: &mail.tenant_name,
            service: &mail.service_name,
            when: span(mail.starts_at, mail.ends_at, mail.zone),
            client_name: &mail.client_name,
            greeting: greeting(&mail.client_name),
            client_email: &mail.client_email,
            client_phone: non_empty(&mail.client_phone),
            notes,
            notes_text: notes.map(|notes| notes.replace('\n', "\n          ")),
            reason: match kind {
                MailKind::ClientCancelled | MailKind::OwnerBookingCancelled => {
                    non_empty(&mail.cancel_reason)
                }
                _ => non_empty(&mail.decline_reason),
            },
            job_url: format!(
                "{}/jobs/{}",
                public_app_url.trim_end_matches('/'),
                mail.job_id
            ),
            pending: mail.status == JobStatus::PendingConfirmation,
            for_owner,
            manage_url,
            by_client: mail.cancelled_by.as_deref() == Some("client"),
            previous_when: mail
                .previous
                .map(|(start, end)| span(start, end, mail.zone)),
        }
    }
}

/// Longest greeting a client mail shows.
const GREETING_CHARS: usize = 40;

/// The client's name as a client mail greets them: its first words up to [`GREETING_CHARS`]
/// (cut mid-word only for a single long word). The booking form's text reaches the client's
/// inbox only here, so it cannot carry a message of its own.
pub(crate) fn greeting(name: &str) -> String {
    let name = name.trim();
    let mut shown = String::new();
    for word in name.split_whitespace() {
        let needed = shown.chars().count() + usize::from(!shown.is_empty()) + word.chars().count();
        if needed > GREETING_CHARS {
            break;
        }
        if !shown.is_empty() {
            shown.push(' ');
        }
        shown.push_str(word);
    }
    if shown.is_empty() {
        shown = name.chars().take(GREETING_CHARS).collect();
    }
    shown
}

/// A session in the tenant's wall time, its zone abbreviation after each end that needs one:
/// "Monday, December 7, 2026, 10:00 AM – 10:45 AM EST"; across a DST change both ends carry
/// theirs ("1:30 AM EDT – 1:15 AM EST"), and a session past midnight names both dates.
pub(crate) fn span(start: DateTime<Utc>, end: DateTime<Utc>, zone: Tz) -> String {
    let start = start.with_timezone(&zone);
    let end = end.with_timezone(&zone);
    let date = "%A, %B %-d, %Y";
    let time = "%-I:%M %p";
    if start.date_naive() != end.date_naive() {
        return format!(
            "{}, {} {} – {}, {} {}",
            start.format(date),
            start.format(time),
            start.format("%Z"),
            end.format(date),
            end.format(time),
            end.format("%Z")
        );
    }
    let start_zone = start.format("%Z").to_string();
    let end_zone = end.format("%Z").to_string();
    if start_zone == end_zone {
        format!(
            "{}, {} – {} {}",
            start.format(date),
            start.format(time),
            end.format(time),
            end_zone
        )
    } else {
        format!(
            "{}, {} {} – {} {}",
            start.format(date),
            start.format(time),
            start_zone,
            end.format(time),
            end_zone
        )
    }
}

/// The start alone, short, for subjects: "Mon, Dec 7, 10:00 AM EST".
pub(crate) fn short_start(start: DateTime<Utc>, zone: Tz) -> String {
    start
        .with_timezone(&zone)
        .format("%a, %b %-d, %-I:%M %p %Z")
        .to_string()
}

macro_rules! mail_template {
    ($name:ident, $path:literal) => {
        #[derive(Template)]
        #[template(path = $path)]
        struct $name<'a> {
            m: &'a View<'a>,
        }
    };
}

mail_template!(ClientBookedText, "client_booked.txt");
mail_template!(ClientBookedHtml, "client_booked.html");
mail_template!(ClientPendingText, "client_pending.txt");
mail_template!(ClientPendingHtml, "client_pending.html");
mail_template!(ClientConfirmedText, "client_confirmed.txt");
mail_template!(ClientConfirmedHtml, "client_confirmed.html");
mail_template!(ClientDeclinedText, "client_declined.txt");
mail_template!(ClientDeclinedHtml, "client_declined.html");
mail_template!(OwnerNewBookingText, "owner_new_booking.txt");
mail_template!(OwnerNewBookingHtml, "owner_new_booking.html");
mail_template!(ClientCancelledText, "client_cancelled.txt");
mail_template!(ClientCancelledHtml, "client_cancelled.html");
mail_template!(ClientRescheduledText, "client_rescheduled.txt");
mail_template!(ClientRescheduledHtml, "client_rescheduled.html");
mail_template!(OwnerBookingCancelledText, "owner_booking_cancelled.txt");
mail_template!(OwnerBookingCancelledHtml, "owner_booking_cancelled.html");
mail_template!(OwnerBookingRescheduledText, "owner_booking_rescheduled.txt");
mail_template!(
    OwnerBookingRescheduledHtml,
    "owner_booking_rescheduled.html"
);
mail_template!(ClientReminderText, "client_reminder.txt");
mail_template!(ClientReminderHtml, "client_reminder.html");

mail_template!(OwnerClientUnreachableText, "owner_client_unreachable.txt");
mail_template!(OwnerClientUnreachableHtml, "owner_client_unreachable.html");

/// The plain-text and HTML bodies of a mail.
pub(crate) fn bodies(kind: MailKind, m: &View<'_>) -> Result<(String, String), askama::Error> {
    Ok(match kind {
        MailKind::ClientBooked => (
            ClientBookedText { m }.render()?,
            ClientBookedHtml { m }.render()?,
        ),
        MailKind::ClientPending => (
            ClientPendingText { m }.render()?,
            ClientPendingHtml { m }.render()?,
        ),
        MailKind::ClientConfirmed => (
            ClientConfirmedText { m }.render()?,
            ClientConfirmedHtml { m }.render()?,
        ),
        MailKind::ClientDeclined => (
            ClientDeclinedText { m }.render()?,
            ClientDeclinedHtml { m }.render()?,
        ),
        MailKind::OwnerNewBooking => (
            OwnerNewBookingText { m }.render()?,
            OwnerNewBookingHtml { m }.render()?,
        ),
        MailKind::ClientCancelled => (
            ClientCancelledText { m }.render()?,
            ClientCancelledHtml { m }.render()?,
        ),
        MailKind::ClientRescheduled => (
            ClientRescheduledText { m }.render()?,
            ClientRescheduledHtml { m }.render()?,
        ),
        MailKind::OwnerBookingCancelled => (
            OwnerBookingCancelledText { m }.render()?,
            OwnerBookingCancelledHtml { m }.render()?,
        ),
        MailKind::OwnerBookingRescheduled => (
            OwnerBookingRescheduledText { m }.render()?,
            OwnerBookingRescheduledHtml { m }.render()?,
        ),
        MailKind::ClientReminder => (
            ClientReminderText { m }.render()?,
            ClientReminderHtml { m }.render()?,
        ),
        MailKind::OwnerClientUnreachable => (
            OwnerClientUnreachableText { m }.render()?,
            OwnerClientUnreachableHtml { m }.render()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::America::New_York;

    #[test]
    fn a_greeting_keeps_the_first_words_up_to_forty_characters() {
        assert_eq!(greeting("  Jane O'Brien "), "Jane O'Brien");
        assert_eq!(
            greeting("Jane Visit evil.example now for your prize money"),
            "Jane Visit evil.example now for your"
        );
        assert_eq!(greeting(&"x".repeat(60)), "x".repeat(40));
    }

    #[test]
    fn a_session_shows_its_zone_abbreviation_once() {
        let start = Utc.with_ymd_and_hms(2026, 12, 7, 15, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 12, 7, 15, 45, 0).unwrap();
        assert_eq!(
            span(start, end, New_York),
            "Monday, December 7, 2026, 10:00 AM – 10:45 AM EST"
        );
        assert_eq!(short_start(start, New_York), "Mon, Dec 7, 10:00 AM EST");
    }

    #[test]
    fn a_session_across_the_fall_back_hour_names_both_offsets() {
        // 2026-11-01: 01:30 EDT (05:30 UTC), then 01:15 EST (06:15 UTC).
        let start = Utc.with_ymd_and_hms(2026, 11, 1, 5, 30, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 11, 1, 6, 15, 0).unwrap();
        assert_eq!(
            span(start, end, New_York),
            "Sunday, November 1, 2026, 1:30 AM EDT – 1:15 AM EST"
        );
    }

    #[test]
    fn a_session_past_midnight_names_both_dates() {
        let start = Utc.with_ymd_and_hms(2026, 12, 8, 4, 30, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 12, 8, 5, 30, 0).unwrap();
        assert_eq!(
            span(start, end, New_York),
            "Monday, December 7, 2026, 11:30 PM EST – Tuesday, December 8, 2026, 12:30 AM EST"
        );
    }
}
