//! Every mail rendered for bookings on the two DST days of New York, read back with a MIME
//! parser and an iCalendar parser as a mail client would.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: failing loudly is the point.

use booking_domain::{JobStatus, MailContext, MailKind};
use booking_email::{MailSettings, RenderedMail, render};
use chrono::{DateTime, TimeZone, Utc};
use icalendar::{Calendar, CalendarComponent, Component};
use mail_parser::{Message, MessageParser, MimeHeaders};
use uuid::Uuid;

const APP: &str = "https://app.example.com";

fn settings() -> MailSettings {
    MailSettings {
        from_address: "bookings@example.com".to_owned(),
        public_app_url: format!("{APP}/"),
        public_booking_url: "https://book.example.com".to_owned(),
        manage_key: booking_domain::ManageKey::new(vec![7; 32]).unwrap(),
    }
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

/// 1:30 AM EST on 2026-11-01: the second 1:30 of the fall-back night (06:30 UTC).
fn fall_back_booking(status: JobStatus) -> MailContext {
    MailContext {
        job_id: Uuid::from_u128(0x1234),
        tenant_name: "Fifi's Salon & Spa".to_owned(),
        zone: chrono_tz::America::New_York,
        notification_email: "owner@fifi.example".to_owned(),
        service_name: "Haircut".to_owned(),
        title: "Haircut – Jane".to_owned(),
        status,
        starts_at: utc(2026, 11, 1, 6, 30),
        ends_at: utc(2026, 11, 1, 7, 15),
        notes: Some("Short on the sides\nlong on top".to_owned()),
        decline_reason: None,
        cancel_reason: None,
        client_name: "Jane <script>alert(1)</script> O'Brien".to_owned(),
        client_email: "jane@client.example".to_owned(),
        client_phone: Some("+1 555 010 2030".to_owned()),
        changed_at: utc(2026, 10, 20, 12, 0),
        revision: 0,
        manage_version: 1,
        cancelled_by: None,
        previous: None,
    }
}

/// 3:00 AM EDT on 2027-03-14, the first hour after the spring-forward gap (07:00 UTC).
fn spring_forward_booking(status: JobStatus) -> MailContext {
    MailContext {
        starts_at: utc(2027, 3, 14, 7, 0),
        ends_at: utc(2027, 3, 14, 7, 45),
        ..fall_back_booking(status)
    }
}

fn parse(mail: &RenderedMail) -> Message<'_> {
    MessageParser::default()
        .parse(&mail.raw)
        .expect("a parsable MIME message")
}

fn invitation(message: &Message<'_>) -> (String, Calendar) {
    let attachment = message.attachment(0).expect("an .ics attachment");
    let content_type = attachment.content_type().expect("a content type");
    assert_eq!(content_type.ctype(), "text");
    assert_eq!(content_type.subtype(), Some("calendar"));
    let method = content_type
        .attribute("method")
        .expect("a method= parameter")
        .to_owned();
    let text = String::from_utf8(attachment.contents().to_vec()).expect("UTF-8 calendar");
    let calendar: Calendar = text.parse().expect("a valid iCalendar object");
    (method, calendar)
}

fn event_property(calendar: &Calendar, key: &str) -> String {
    let event = calendar
        .components
        .iter()
        .find_map(|c| match c {
            CalendarComponent::Event(event) => Some(event),
            _ => None,
        })
        .expect("one VEVENT");
    event
        .property_value(key)
        .unwrap_or_else(|| panic!("no {key} in the event"))
        .to_owned()
}

/// Decodes the character references an HTML escaper writes (named or numeric).
fn unescape(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|end| *end <= 8) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn bodies(message: &Message<'_>) -> (String, String) {
    (
        message
            .body_text(0)
            .expect("a text part")
            .replace("\r\n", "\n"),
        message.body_html(0).expect("an HTML part").into_owned(),
    )
}

#[test]
fn every_mail_has_a_text_and_an_html_part_with_the_time_in_the_tenants_zone() {
    for kind in MailKind::ALL {
        let status = match kind {
            MailKind::ClientPending => JobStatus::PendingConfirmation,
            MailKind::ClientDeclined => JobStatus::Cancelled,
            _ => JobStatus::Scheduled,
        };
        for (context, when) in [
            (
                fall_back_booking(status),
                "Sunday, November 1, 2026, 1:30 AM – 2:15 AM EST",
            ),
            (
                spring_forward_booking(status),
                "Sunday, March 14, 2027, 3:00 AM – 3:45 AM EDT",
            ),
        ] {
            let mail = render(kind, &context, &settings()).unwrap();
            let message = parse(&mail);
            let (text, html) = bodies(&message);
            assert!(text.contains(when), "{kind} text:\n{text}");
            assert!(html.contains(when), "{kind} html:\n{html}");
            assert!(
                text.contains("Haircut") && html.contains("Haircut"),
                "{kind}"
            );
            assert!(
                !html.contains("Fifi's Salon & Spa"),
                "{kind} escapes:\n{html}"
            );
            assert!(unescape(&html).contains("Fifi's Salon & Spa"), "{kind}");
            assert!(text.contains("Fifi's Salon & Spa"), "{kind}");
            assert_eq!(message.subject(), Some(mail.subject.as_str()));
            let from = message.from().and_then(|a| a.first()).unwrap();
            assert_eq!(from.address(), Some("bookings@example.com"));
            assert_eq!(from.name(), Some("Fifi's Salon & Spa"));
        }
    }
}

#[test]
fn client_mails_go_to_the_client_with_the_owner_as_reply_to() {
    let mail = render(
        MailKind::ClientBooked,
        &fall_back_booking(JobStatus::Scheduled),
        &settings(),
    )
    .unwrap();
    assert_eq!(mail.to, "jane@client.example");
    assert_eq!(mail.from, "bookings@example.com");
    let message = parse(&mail);
    let to = message.to().and_then(|a| a.first()).unwrap();
    assert_eq!(to.address(), Some("jane@client.example"));
    assert_eq!(to.name(), None, "the name is only in the greeting");
    let reply_to = message.reply_to().and_then(|a| a.first()).unwrap();
    assert_eq!(reply_to.address(), Some("owner@fifi.example"));
    assert_eq!(
        mail.subject,
        "Booked: Haircut at Fifi's Salon & Spa, Sun, Nov 1, 1:30 AM EST"
    );
    let root = message.content_type().unwrap();
    assert_eq!((root.ctype(), root.subtype()), ("multipart", Some("mixed")));
}

#[test]
fn client_names_are_escaped_in_html_and_never_reach_a_header_raw() {
    let mut context = fall_back_booking(JobStatus::Scheduled);
    context.notes = Some("<b>bold</b> & \"quoted\"".to_owned());
    for kind in MailKind::ALL {
        let mail = render(kind, &context, &settings()).unwrap();
        let (_, html) = bodies(&parse(&mail));
        assert!(!html.contains("<script>"), "{kind}:\n{html}");
        assert!(!html.contains("<b>bold</b>"), "{kind}:\n{html}");
        assert!(
            unescape(&html).contains("<script>alert(1)</script>"),
            "{kind}"
        );
    }
    // A stray line break (the domain refuses them; this is the second line of defence).
    context.tenant_name = "Evil\r\nBcc: victim@example.com".to_owned();
    context.client_name = "Jane\r\nBcc: victim@example.com".to_owned();
    for kind in MailKind::ALL {
        let mail = render(kind, &context, &settings()).unwrap();
        let raw = String::from_utf8_lossy(&mail.raw);
        let (headers, _) = raw.split_once("\r\n\r\n").unwrap();
        assert!(
            !headers.lines().any(|line| line.starts_with("Bcc:")),
            "{kind}:\n{headers}"
        );
        assert!(parse(&mail).bcc().is_none());
    }
}

#[test]
fn invitations_request_then_confirm_then_cancel_the_same_calendar_entry() {
    let expectations = [
        (
            MailKind::ClientBooked,
            JobStatus::Scheduled,
            "REQUEST",
            "0",
            "CONFIRMED",
        ),
        (
            MailKind::ClientPending,
            JobStatus::PendingConfirmation,
            "REQUEST",
            "0",
            "TENTATIVE",
        ),
        (
            MailKind::ClientConfirmed,
            JobStatus::Scheduled,
            "REQUEST",
            "1",
            "CONFIRMED",
        ),
        (
            MailKind::ClientDeclined,
            JobStatus::Cancelled,
            "CANCEL",
            "2",
            "CANCELLED",
        ),
    ];
    for (kind, status, method, sequence, event_status) in expectations {
        let mut context = fall_back_booking(status);
        if kind == MailKind::ClientDeclined {
            context.decline_reason = Some("Fully booked, sorry".to_owned());
        }
        let mail = render(kind, &context, &settings()).unwrap();
        let message = parse(&mail);
        let (mime_method, calendar) = invitation(&message);
        assert_eq!(mime_method, method, "{kind}");
        assert_eq!(calendar.property_value("METHOD"), Some(method), "{kind}");
        assert_eq!(
            event_property(&calendar, "UID"),
            "00000000-0000-0000-0000-000000001234@booking"
        );
        assert_eq!(event_property(&calendar, "SEQUENCE"), sequence, "{kind}");
        assert_eq!(event_property(&calendar, "STATUS"), event_status, "{kind}");
        // 1:30 AM EST is 06:30 UTC; the event is written in UTC.
        assert_eq!(event_property(&calendar, "DTSTART"), "20261101T063000Z");
        assert_eq!(event_property(&calendar, "DTEND"), "20261101T071500Z");
        assert_eq!(event_property(&calendar, "DTSTAMP"), "20261020T120000Z");
        assert_eq!(
            event_property(&calendar, "SUMMARY"),
            "Haircut at Fifi's Salon & Spa"
        );
        assert_eq!(
            event_property(&calendar, "ORGANIZER"),
            "mailto:bookings@example.com"
        );
    }
}

#[test]
fn the_owner_mail_links_to_the_job_and_says_whether_it_waits_for_confirmation() {
    let pending = render(
        MailKind::OwnerNewBooking,
        &fall_back_booking(JobStatus::PendingConfirmation),
        &settings(),
    )
    .unwrap();
    assert_eq!(pending.to, "owner@fifi.example");
    let message = parse(&pending);
    assert!(
        message.attachment(0).is_none(),
        "the owner mail has no invitation"
    );
    let root = message.content_type().unwrap();
    assert_eq!(
        (root.ctype(), root.subtype()),
        ("multipart", Some("alternative"))
    );
    let reply_to = message.reply_to().and_then(|a| a.first()).unwrap();
    assert_eq!(reply_to.address(), Some("jane@client.example"));
    let link = format!("{APP}/jobs/00000000-0000-0000-0000-000000001234");
    let (text, html) = bodies(&message);
    assert!(text.contains(&link), "{text}");
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
    assert!(text.contains("waits for your confirmation"), "{text}");
    assert!(html.contains("waits for your confirmation"));
    assert!(text.contains("jane@client.example") && text.contains("+1 555 010 2030"));
    assert!(
        pending
            .subject
            .starts_with("New booking to confirm: Haircut")
    );

    let instant = render(
        MailKind::OwnerNewBooking,
        &fall_back_booking(JobStatus::Scheduled),
        &settings(),
    )
    .unwrap();
    let (text, html) = bodies(&parse(&instant));
    assert!(!text.contains("waits for your confirmation"), "{text}");
    assert!(!html.contains("waits for your confirmation"));
    assert!(text.contains(&link));
    assert_eq!(
        instant.subject,
        "New booking: Haircut, Sun, Nov 1, 1:30 AM EST"
    );
}

#[test]
fn the_decline_mail_gives_the_owners_reason() {
    let mut context = fall_back_booking(JobStatus::Cancelled);
    context.decline_reason = Some("We're closed for a <private> event.\nSorry!".to_owned());
    let mail = render(MailKind::ClientDeclined, &context, &settings()).unwrap();
    let (text, html) = bodies(&parse(&mail));
    assert!(
        text.contains("We're closed for a <private> event.\nSorry!"),
        "{text}"
    );
    assert!(!html.contains("<private>"), "{html}");
    assert!(
        unescape(&html).contains("closed for a <private> event"),
        "{html}"
    );
    assert!(mail.subject.starts_with("Declined: Haircut"));
}

#[test]
fn client_mails_show_no_notes_nor_contact_details_and_the_name_only_as_a_short_greeting() {
    let mut context = fall_back_booking(JobStatus::Scheduled);
    context.client_name = format!("Jane {}", "Visit evil.example for a prize ".repeat(6));
    context.decline_reason = Some("Fully booked".to_owned());
    for kind in MailKind::ALL
        .into_iter()
        .filter(|kind| kind.is_for_client())
    {
        let mail = render(kind, &context, &settings()).unwrap();
        let message = parse(&mail);
        let (text, html) = bodies(&message);
        let raw = String::from_utf8_lossy(&mail.raw).replace("\r\n ", " ");
        for shown in [&text, &unescape(&html)] {
            assert!(!shown.contains("Short on the sides"), "{kind}:\n{shown}");
            assert!(!shown.contains("+1 555 010 2030"), "{kind}:\n{shown}");
            assert!(
                shown.contains("Hi Jane Visit evil.example for a prize,"),
                "{kind}:\n{shown}"
            );
            assert_eq!(shown.matches("evil.example").count(), 1, "{kind}:\n{shown}");
        }
        let (_, calendar) = invitation(&message);
        assert!(!calendar.to_string().contains("evil.example"), "{kind}");
        assert!(!raw.contains("Short on the sides"), "{kind}");
    }
    let owner = render(MailKind::OwnerNewBooking, &context, &settings()).unwrap();
    let (text, _) = bodies(&parse(&owner));
    assert!(text.contains("Short on the sides"), "{text}");
    assert!(
        text.contains(&context.client_name.trim().to_owned()),
        "{text}"
    );
}

#[test]
fn an_undeliverable_client_address_is_a_render_error_without_the_address() {
    let mut context = fall_back_booking(JobStatus::Scheduled);
    context.client_email = "not an address".to_owned();
    let error = render(MailKind::ClientBooked, &context, &settings())
        .err()
        .unwrap();
    assert_eq!(
        error.to_string(),
        "the client address is not a deliverable mail address"
    );
}

#[test]
fn a_reply_to_that_does_not_parse_is_left_out_and_the_mail_still_goes() {
    let mut context = fall_back_booking(JobStatus::Scheduled);
    context.client_email = "john..doe@client.example".to_owned();
    let owner = render(MailKind::OwnerNewBooking, &context, &settings()).unwrap();
    assert_eq!(owner.to, "owner@fifi.example");
    assert!(parse(&owner).reply_to().is_none());

    let mut context = fall_back_booking(JobStatus::Scheduled);
    context.notification_email = "owner..desk@fifi.example".to_owned();
    let client = render(MailKind::ClientBooked, &context, &settings()).unwrap();
    assert_eq!(client.to, "jane@client.example");
    assert!(parse(&client).reply_to().is_none());
}
