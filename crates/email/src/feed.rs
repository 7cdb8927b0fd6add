//! The calendar feed (RFC 5545, published: `METHOD:PUBLISH`) that owners subscribe to from
//! Google, Apple or Outlook. Each job is one VEVENT with the UID and SEQUENCE of its client's
//! mailed invitation ([`crate::ics`]), so a calendar that has both sees one event; a cancelled
//! job stays as `STATUS:CANCELLED` so subscribers drop it.

use booking_domain::{JobStatus, MailKind};
use booking_repository::calendar_feeds::FeedJob;
use icalendar::{Calendar, Component, Event, EventLike, EventStatus, Property};

use crate::ics::{block_text, line_text, sequence, uid};

/// How often subscribers are asked to refresh (RFC 7986 REFRESH-INTERVAL, and the older
/// X-PUBLISHED-TTL some clients read).
const REFRESH: &str = "PT15M";

/// The mail whose invitation describes the job as it stands: its SEQUENCE floor is the feed's.
fn latest_invitation(job: &FeedJob) -> MailKind {
    match job.status {
        JobStatus::Cancelled if job.declined => MailKind::ClientDeclined,
        JobStatus::Cancelled => MailKind::ClientCancelled,
        JobStatus::PendingConfirmation if job.revision == 0 => MailKind::ClientPending,
        _ if job.revision == 0 => MailKind::ClientBooked,
        _ => MailKind::ClientConfirmed,
    }
}

fn status(job: &FeedJob) -> EventStatus {
    match job.status {
        JobStatus::PendingConfirmation => EventStatus::Tentative,
        JobStatus::Cancelled => EventStatus::Cancelled,
        _ => EventStatus::Confirmed,
    }
}

/// The feed's text: one VEVENT per job, in the order given. `calendar_name` names the calendar
/// in the subscriber's list; `dashboard` is `PUBLIC_APP_URL` (each event links to its job).
pub fn calendar_feed(calendar_name: &str, zone: &str, jobs: &[FeedJob], dashboard: &str) -> String {
    let mut calendar = Calendar::empty();
    let mut refresh = Property::new("REFRESH-INTERVAL", REFRESH);
    refresh.add_parameter("VALUE", "DURATION");
    calendar
        .append_property(("PRODID", "-//booking//calendar-feed//EN"))
        .append_property(("VERSION", "2.0"))
        .append_property(("CALSCALE", "GREGORIAN"))
        .append_property(("METHOD", "PUBLISH"))
        .append_property(("X-WR-CALNAME", line_text(calendar_name).as_str()))
        .append_property(("X-WR-TIMEZONE", zone))
        .append_property(("X-PUBLISHED-TTL", REFRESH))
        .append_property(refresh);
    for job in jobs {
        let description = block_text(&format!(
            "{}\nClient: {}\nStatus: {}",
            job.service_name, job.client_name, job.status
        ));
        let event = Event::new()
            .uid(&uid(job.id))
            .sequence(sequence(latest_invitation(job), job.revision))
            .timestamp(job.updated_at)
            .last_modified(job.updated_at)
            .starts(job.starts_at)
            .ends(job.ends_at)
            .summary(&line_text(&job.title))
            .description(&description)
            .status(status(job))
            .url(&format!("{dashboard}/jobs/{}", job.id))
            .done();
        calendar.push(event);
    }
    calendar.done().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

    fn job(status: JobStatus, revision: u32, declined: bool) -> FeedJob {
        let start = Utc.with_ymd_and_hms(2026, 12, 5, 15, 0, 0).unwrap();
        FeedJob {
            id: Uuid::from_u128(7),
            status,
            title: "Haircut: Jane".to_owned(),
            service_name: "Haircut".to_owned(),
            client_name: "Jane".to_owned(),
            starts_at: start,
            ends_at: start + chrono::Duration::minutes(45),
            updated_at: start,
            revision,
            declined,
        }
    }

    #[test]
    fn the_sequence_is_the_one_of_the_jobs_latest_invitation() {
        let cases = [
            (job(JobStatus::Scheduled, 0, false), 0),
            (job(JobStatus::PendingConfirmation, 0, false), 0),
            (job(JobStatus::Scheduled, 1, false), 1),
            (job(JobStatus::Completed, 3, false), 3),
            // A decline of a fresh booking cancels at SEQUENCE 2, as its mail did.
            (job(JobStatus::Cancelled, 1, true), 2),
            (job(JobStatus::Cancelled, 1, false), 1),
            (job(JobStatus::Cancelled, 4, false), 4),
        ];
        for (job, expected) in cases {
            assert_eq!(
                sequence(latest_invitation(&job), job.revision),
                expected,
                "{job:?}"
            );
        }
    }

    #[test]
    fn a_cancelled_job_is_published_as_cancelled_under_the_invitations_uid() {
        let text = calendar_feed(
            "Fifi",
            "America/New_York",
            &[job(JobStatus::Cancelled, 2, false)],
            "https://app.example",
        );
        assert!(text.contains("METHOD:PUBLISH"), "{text}");
        assert!(text.contains("STATUS:CANCELLED"), "{text}");
        assert!(
            text.contains(&format!("UID:{}", uid(Uuid::from_u128(7)))),
            "{text}"
        );
    }
}
