//! The outbox end to end: bookings in a real Postgres, mails enqueued as the transactions do,
//! delivered through the SES v2 wire protocol to moto (`MOTO_URL` / `AWS_ENDPOINT_URL_SESV2`,
//! as `scripts/test` sets them), and read back from what moto received.
//!
//! Tests run in parallel processes against one moto, so none resets it: each test uses its own
//! tenant and client addresses and only looks at mails to them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: failing loudly is the point.

use std::path::PathBuf;
use std::time::{Duration as StdDuration, Instant};

use booking_domain::{
    BookingSettings, ClientEmail, ClientName, DeclineReason, MailKind, MailStatus, backoff,
};
use booking_email::{
    DeliveryReport, MailSettings, Mailer, deliver_due, record_delivery, relay, send_leased,
};
use booking_repository::AsyncPgConnection;
use booking_repository::changes::{self, Booked, NewBooking};
use booking_repository::diesel_async::RunQueryDsl;
use booking_repository::outbox::{self, LEASE};
use booking_test_support::ses::{moto_url, received_by, ses_client, ses_mailer};
use booking_test_support::{TestDb, load, ny, salon, service};
use chrono::{DateTime, Duration, TimeZone, Utc};
use icalendar::Calendar;
use mail_parser::{MessageParser, MimeHeaders};
use uuid::Uuid;

const FROM: &str = "bookings@example.com";

/// A mailer on moto, with the sender verified (moto refuses unverified senders, like SES in
/// its sandbox).
async fn moto_mailer() -> Mailer {
    let client = ses_client(&moto_url()).await;
    client
        .create_email_identity()
        .email_identity(FROM)
        .send()
        .await
        .expect("verify the sender on moto");
    Mailer::Ses {
        client,
        configuration_set: None,
    }
}

fn settings() -> MailSettings {
    MailSettings {
        from_address: FROM.to_owned(),
        public_app_url: "https://app.example.com".to_owned(),
        public_booking_url: "https://book.example.com".to_owned(),
        manage_key: booking_domain::ManageKey::new(vec![7; 32]).unwrap(),
    }
}

struct Received {
    subject: String,
    /// The invitation's MIME `method=` and its parsed calendar.
    invitation: Option<(String, Calendar)>,
    text: String,
}

fn read(raw: &str) -> Received {
    let message = MessageParser::default().parse(raw.as_bytes()).unwrap();
    let invitation = message.attachment(0).map(|part| {
        let method = part
            .content_type()
            .and_then(|ct| ct.attribute("method"))
            .unwrap()
            .to_owned();
        let text = String::from_utf8(part.contents().to_vec()).unwrap();
        (method, text.parse::<Calendar>().unwrap())
    });
    Received {
        subject: message.subject().unwrap_or_default().to_owned(),
        invitation,
        text: message
            .body_text(0)
            .unwrap_or_default()
            .replace("\r\n", "\n"),
    }
}

/// Monday 2026-12-07 in New York, a week ahead of [`now`].
fn on_monday(hour: u32, minute: u32) -> DateTime<Utc> {
    ny(2026, 12, 7, hour, minute)
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 14, 0, 0).unwrap()
}

/// Fields drop in order: the connection closes before the database is dropped.
struct Salon {
    conn: AsyncPgConnection,
    tenant_id: Uuid,
    haircut: Uuid,
    owner: String,
    /// Makes client addresses unique across the tests sharing moto.
    tag: String,
    db: TestDb,
}

async fn open_salon(require_confirmation: bool) -> Salon {
    let db = TestDb::new().await;
    let tag = Uuid::new_v4().simple().to_string()[..12].to_owned();
    let definition = salon(
        &format!("s{tag}"),
        BookingSettings {
            require_confirmation,
            ..BookingSettings::default()
        },
    );
    let loaded = load(&db, &definition).await;
    let conn = db.connection().await;
    Salon {
        haircut: service(&loaded, "haircut"),
        tenant_id: loaded.tenant_id,
        owner: definition.notification_email.clone(),
        conn,
        db,
        tag,
    }
}

impl Salon {
    fn client(&self, who: &str) -> String {
        format!("{who}-{}@client.example", self.tag)
    }

    /// A public booking with its mails enqueued, as the booking transaction does. The booking
    /// leases its mails to the booker; here the lease is handed back at once, so the tests
    /// below see mails no sender has tried yet (the senders under test are the outbox's).
    async fn book(&mut self, who: &str, start: DateTime<Utc>) -> Uuid {
        let booked = self.book_leased(who, start).await;
        diesel::sql_query(
            "UPDATE emails SET attempts = 0, next_attempt_at = created_at WHERE job_id = $1",
        )
        .bind::<diesel::sql_types::Uuid, _>(booked.job.id)
        .execute(&mut self.conn)
        .await
        .unwrap();
        booked.job.id
    }

    /// A public booking as the booking function makes it: its mails leased to the booker.
    async fn book_leased(&mut self, who: &str, start: DateTime<Utc>) -> Booked {
        let request = NewBooking {
            start,
            name: ClientName::parse(&format!("{who} <b>Client</b>")).unwrap(),
            email: ClientEmail::parse(&self.client(who)).unwrap(),
            phone: None,
            notes: None,
        };
        let booked = changes::book(&mut self.conn, self.haircut, &request, now(), None, None)
            .await
            .unwrap();
        // The booking recorded its two mails in its own transaction.
        let queued = outbox::for_job(&mut self.conn, self.tenant_id, booked.job.id)
            .await
            .unwrap();
        assert_eq!(queued.len(), 2);
        booked
    }

    /// The owner's confirm or decline: the status change and its mail, in one transaction.
    async fn decide(&mut self, job: Uuid, decline_reason: Option<&str>) {
        match decline_reason {
            Some(reason) => {
                let reason = DeclineReason::parse(reason).unwrap();
                changes::decline(
                    &mut self.conn,
                    self.tenant_id,
                    job,
                    &reason,
                    "owner:test",
                    now(),
                )
                .await
                .unwrap();
            }
            None => {
                changes::confirm(&mut self.conn, self.tenant_id, job, "owner:test", now())
                    .await
                    .unwrap();
            }
        }
    }

    async fn mails(&mut self, job: Uuid) -> Vec<outbox::MailRecord> {
        outbox::for_job(&mut self.conn, self.tenant_id, job)
            .await
            .unwrap()
    }

    async fn deliver(
        &mut self,
        mailer: &Mailer,
        at: DateTime<Utc>,
        job: Option<Uuid>,
    ) -> DeliveryReport {
        deliver_due(
            &mut self.conn,
            mailer,
            &settings(),
            at,
            job,
            10,
            &mut Vec::new(),
        )
        .await
        .unwrap()
    }
}

fn sent(count: usize) -> DeliveryReport {
    DeliveryReport {
        sent: count,
        ..DeliveryReport::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instant_booking_mails_the_client_an_invitation_and_the_owner_a_link() {
    let mut salon = open_salon(false).await;
    let mailer = moto_mailer().await;
    let started = Instant::now();
    let job = salon.book("ada", on_monday(10, 0)).await;
    let delivering = Instant::now();
    let report = salon.deliver(&mailer, now(), Some(job)).await;
    eprintln!(
        "2 mails: booked and enqueued to accepted by moto and recorded in {:?} (delivery alone {:?})",
        started.elapsed(),
        delivering.elapsed()
    );
    assert_eq!(report, sent(2));

    let to_client = received_by(&salon.client("ada"));
    assert_eq!(to_client.len(), 1, "exactly one mail to the client");
    let mail = read(&to_client[0].1);
    assert!(
        mail.subject.starts_with("Booked: Haircut at Salon "),
        "{}",
        mail.subject
    );
    assert!(
        mail.subject.ends_with("Mon, Dec 7, 10:00 AM EST"),
        "{}",
        mail.subject
    );
    let (method, calendar) = mail.invitation.expect("an invitation");
    assert_eq!(method, "REQUEST");
    assert_eq!(calendar.property_value("METHOD"), Some("REQUEST"));

    let to_owner = received_by(&salon.owner);
    assert_eq!(to_owner.len(), 1, "exactly one mail to the owner");
    let mail = read(&to_owner[0].1);
    assert!(
        mail.subject.starts_with("New booking: Haircut"),
        "{}",
        mail.subject
    );
    assert!(mail.invitation.is_none());
    assert!(
        mail.text
            .contains(&format!("https://app.example.com/jobs/{job}"))
    );

    let mails = salon.mails(job).await;
    assert_eq!(mails.len(), 2);
    for mail in &mails {
        assert_eq!(mail.status, MailStatus::Sent, "{mail:?}");
        assert_eq!(mail.attempts, 1);
        assert_eq!(mail.sent_at, Some(now()));
        let id = mail.ses_message_id.as_deref().unwrap();
        let received = if mail.kind == MailKind::OwnerNewBooking {
            &to_owner
        } else {
            &to_client
        };
        assert_eq!(id, received[0].0, "the SES message id is kept");
    }
    // Nothing left to send.
    assert_eq!(
        salon
            .deliver(&mailer, now() + Duration::hours(2), None)
            .await,
        DeliveryReport::default()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_booking_and_its_confirmation_update_the_same_calendar_entry() {
    let mut salon = open_salon(true).await;
    let mailer = moto_mailer().await;
    let job = salon.book("bea", on_monday(13, 0)).await;
    assert_eq!(salon.deliver(&mailer, now(), Some(job)).await, sent(2));
    let owner = received_by(&salon.owner);
    assert_eq!(owner.len(), 1);
    let owner = read(&owner[0].1);
    assert!(
        owner.subject.starts_with("New booking to confirm: Haircut"),
        "{}",
        owner.subject
    );
    assert!(owner.text.contains("waits for your confirmation"));

    salon.decide(job, None).await;
    assert_eq!(salon.deliver(&mailer, now(), Some(job)).await, sent(1));

    let mut to_client: Vec<Received> = received_by(&salon.client("bea"))
        .iter()
        .map(|(_, raw)| read(raw))
        .collect();
    assert_eq!(
        to_client.len(),
        2,
        "the pending notice and the confirmation"
    );
    to_client.sort_by_key(|mail| !mail.subject.starts_with("Request received"));
    let sequences: Vec<(String, String, String)> = to_client
        .iter()
        .map(|mail| {
            let (method, calendar) = mail.invitation.as_ref().expect("an invitation");
            let event = calendar
                .components
                .iter()
                .find_map(|c| c.as_event())
                .unwrap();
            use icalendar::Component;
            (
                method.clone(),
                event.property_value("UID").unwrap().to_owned(),
                event.property_value("SEQUENCE").unwrap().to_owned(),
            )
        })
        .collect();
    let uid = format!("{job}@booking");
    assert_eq!(
        sequences,
        vec![
            ("REQUEST".to_owned(), uid.clone(), "0".to_owned()),
            ("REQUEST".to_owned(), uid, "1".to_owned()),
        ]
    );
    assert!(to_client[1].subject.starts_with("Confirmed: Haircut"));
    assert_eq!(
        received_by(&salon.owner).len(),
        1,
        "the owner is not mailed again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declined_booking_cancels_the_invitation_and_gives_the_reason() {
    let mut salon = open_salon(true).await;
    let mailer = moto_mailer().await;
    let job = salon.book("cy", on_monday(15, 0)).await;
    salon
        .decide(job, Some("Our stylist is ill that day."))
        .await;
    assert_eq!(salon.deliver(&mailer, now(), Some(job)).await, sent(3));

    let to_client: Vec<Received> = received_by(&salon.client("cy"))
        .iter()
        .map(|(_, raw)| read(raw))
        .collect();
    assert_eq!(to_client.len(), 2);
    let declined = to_client
        .iter()
        .find(|mail| mail.subject.starts_with("Declined: Haircut"))
        .expect("the decline mail");
    assert!(
        declined.text.contains("Our stylist is ill that day."),
        "{}",
        declined.text
    );
    let (method, calendar) = declined.invitation.as_ref().unwrap();
    assert_eq!(method, "CANCEL");
    assert_eq!(calendar.property_value("METHOD"), Some("CANCEL"));
    let kinds: Vec<MailKind> = salon.mails(job).await.iter().map(|m| m.kind).collect();
    assert_eq!(kinds.len(), 3);
    assert!(kinds.contains(&MailKind::ClientDeclined));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_ses_keeps_the_mail_pending_until_a_later_run_sends_it_once() {
    let mut salon = open_salon(false).await;
    let job = salon.book("dee", on_monday(11, 0)).await;
    // Port 9 (discard) is closed: every connection is refused.
    let unreachable = ses_mailer("http://127.0.0.1:9").await;
    let report = salon.deliver(&unreachable, now(), Some(job)).await;
    assert_eq!(
        report,
        DeliveryReport {
            retried: 2,
            ..DeliveryReport::default()
        }
    );
    for mail in salon.mails(job).await {
        assert_eq!(mail.status, MailStatus::Pending);
        assert_eq!(mail.attempts, 1);
        assert!(mail.last_error.as_deref().is_some_and(|e| !e.is_empty()));
        assert_eq!(mail.next_attempt_at, now() + backoff(1));
        assert_eq!(mail.ses_message_id, None);
    }

    let mailer = moto_mailer().await;
    // Not before the backoff has passed.
    assert_eq!(
        salon
            .deliver(&mailer, now() + Duration::seconds(29), None)
            .await,
        DeliveryReport::default()
    );
    let later = now() + backoff(1) + Duration::seconds(1);
    assert_eq!(salon.deliver(&mailer, later, None).await, sent(2));
    assert_eq!(
        salon
            .deliver(&mailer, later + Duration::hours(3), None)
            .await,
        DeliveryReport::default()
    );
    let to_client = received_by(&salon.client("dee"));
    assert_eq!(to_client.len(), 1, "sent exactly once");
    let mails = salon.mails(job).await;
    let client_mail = mails
        .iter()
        .find(|m| m.kind == MailKind::ClientBooked)
        .unwrap();
    assert_eq!(client_mail.status, MailStatus::Sent);
    assert_eq!(client_mail.attempts, 2);
    assert_eq!(
        client_mail.ses_message_id.as_deref(),
        Some(to_client[0].0.as_str())
    );
}

impl Salon {
    /// Pretends the job's mails were tried `attempts` times already.
    async fn tried(&mut self, job: Uuid, attempts: i32) {
        diesel::sql_query("UPDATE emails SET attempts = $2 WHERE job_id = $1")
            .bind::<diesel::sql_types::Uuid, _>(job)
            .bind::<diesel::sql_types::Integer, _>(attempts)
            .execute(&mut self.conn)
            .await
            .unwrap();
    }
}

fn retried(count: usize) -> DeliveryReport {
    DeliveryReport {
        retried: count,
        ..DeliveryReport::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unverified_sender_keeps_mails_pending_however_many_attempts() {
    let mut salon = open_salon(false).await;
    let job = salon.book("eve", on_monday(9, 0)).await;
    salon.tried(job, 40).await;
    let mailer = moto_mailer().await;
    let unverified = MailSettings {
        from_address: format!("nobody@unverified-{}.example", salon.tag),
        ..settings()
    };
    let report = deliver_due(
        &mut salon.conn,
        &mailer,
        &unverified,
        now(),
        Some(job),
        10,
        &mut Vec::new(),
    )
    .await
    .unwrap();
    assert_eq!(report, retried(2));
    for mail in salon.mails(job).await {
        assert_eq!(mail.status, MailStatus::Pending, "{mail:?}");
        assert_eq!(mail.attempts, 41);
        assert_eq!(
            mail.next_attempt_at,
            now() + Duration::hours(1),
            "the capped backoff"
        );
        let error = mail.last_error.unwrap_or_default();
        assert!(error.contains("MessageRejected"), "{error}");
        assert!(!error.contains("nobody@"), "addresses are masked: {error}");
    }
    assert!(received_by(&salon.client("eve")).is_empty());
    // Once the sender is fixed, the next run after the backoff sends them.
    let later = now() + Duration::hours(1);
    assert_eq!(salon.deliver(&mailer, later, None).await, sent(2));
    assert_eq!(received_by(&salon.client("eve")).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_ses_never_gives_a_mail_up() {
    let mut salon = open_salon(false).await;
    let job = salon.book("ian", on_monday(9, 30)).await;
    salon.tried(job, 11).await;
    let unreachable = ses_mailer("http://127.0.0.1:9").await;
    let mut at = now();
    for attempt in 12..=14 {
        assert_eq!(
            salon.deliver(&unreachable, at, None).await,
            retried(2),
            "attempt {attempt}"
        );
        for mail in salon.mails(job).await {
            assert_eq!((mail.status, mail.attempts), (MailStatus::Pending, attempt));
        }
        at += Duration::hours(1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_mails_redriven_are_sent_by_the_next_run() {
    let mut salon = open_salon(false).await;
    let job = salon.book("rae", on_monday(10, 30)).await;
    diesel::sql_query("UPDATE emails SET status = 'failed' WHERE job_id = $1")
        .bind::<diesel::sql_types::Uuid, _>(job)
        .execute(&mut salon.conn)
        .await
        .unwrap();
    let mailer = Mailer::in_memory();
    assert_eq!(
        salon.deliver(&mailer, now(), None).await,
        DeliveryReport::default()
    );
    // `since` is compared with when the mail was given up (the database's clock).
    let after_the_failure = Utc::now() + Duration::minutes(5);
    let requeued = outbox::redrive_failed(&mut salon.conn, Some(after_the_failure), now())
        .await
        .unwrap();
    assert_eq!(requeued, 0);
    let before_the_failure = Utc::now() - Duration::minutes(5);
    let requeued = outbox::redrive_failed(&mut salon.conn, Some(before_the_failure), now())
        .await
        .unwrap();
    assert_eq!(requeued, 2);
    assert_eq!(salon.deliver(&mailer, now(), None).await, sent(2));
    assert_eq!(
        outbox::redrive_failed(&mut salon.conn, None, now())
            .await
            .unwrap(),
        0,
        "nothing left to redrive"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_address_the_mailer_refuses_fails_only_the_client_mail() {
    let mut salon = open_salon(false).await;
    let job = salon.book("zed", on_monday(13, 30)).await;
    // Recorded before addresses were checked with the mailer's parser.
    diesel::sql_query("UPDATE contacts SET email = 'zed..old@client.example'")
        .execute(&mut salon.conn)
        .await
        .unwrap();
    let mailer = Mailer::in_memory();
    let report = salon.deliver(&mailer, now(), Some(job)).await;
    assert_eq!(
        report,
        DeliveryReport {
            sent: 1,
            failed: 1,
            ..DeliveryReport::default()
        }
    );
    let owner_mail = mailer.sent();
    assert_eq!(owner_mail.len(), 1);
    assert_eq!(owner_mail[0].to, salon.owner);
    for mail in salon.mails(job).await {
        let expected = if mail.kind == MailKind::OwnerNewBooking {
            MailStatus::Sent
        } else {
            MailStatus::Failed
        };
        assert_eq!(mail.status, expected, "{mail:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_senders_at_once_send_each_mail_once() {
    let mut salon = open_salon(false).await;
    let mut jobs = Vec::new();
    for (who, hour) in [("fay", 9), ("gus", 10), ("hal", 11), ("ivy", 13)] {
        jobs.push(salon.book(who, on_monday(hour, 0)).await);
    }
    let mailer = moto_mailer().await;
    let mut first = salon.db.connection().await;
    let mut second = salon.db.connection().await;
    let settings = settings();
    let (mut accepted_a, mut accepted_b) = (Vec::new(), Vec::new());
    let (a, b) = tokio::join!(
        relay(
            &mut first,
            &mailer,
            &settings,
            now,
            1,
            StdDuration::from_secs(30),
            &mut accepted_a
        ),
        relay(
            &mut second,
            &mailer,
            &settings,
            now,
            1,
            StdDuration::from_secs(30),
            &mut accepted_b
        ),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    eprintln!("first sender {a:?}, second sender {b:?}");
    assert_eq!(a.sent + b.sent, 8, "{a:?} {b:?}");
    assert_eq!(a.retried + a.failed + b.retried + b.failed, 0);
    for who in ["fay", "gus", "hal", "ivy"] {
        assert_eq!(received_by(&salon.client(who)).len(), 1, "{who}");
    }
    assert_eq!(received_by(&salon.owner).len(), 4);
    for job in jobs {
        for mail in salon.mails(job).await {
            assert_eq!((mail.status, mail.attempts), (MailStatus::Sent, 1));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_senders_mail_is_sent_when_its_lease_runs_out() {
    let mut salon = open_salon(false).await;
    let job = salon.book("jo", on_monday(14, 0)).await;
    // A sender leases the mails and dies before sending.
    let leased = outbox::claim_due(&mut salon.conn, now(), 10, Some(job))
        .await
        .unwrap();
    assert_eq!(leased.len(), 2);
    let mailer = Mailer::in_memory();
    assert_eq!(
        salon
            .deliver(&mailer, now() + LEASE - Duration::seconds(1), None)
            .await,
        DeliveryReport::default(),
        "a leased mail is not taken while the lease holds"
    );
    assert_eq!(salon.deliver(&mailer, now() + LEASE, None).await, sent(2));
    assert_eq!(mailer.sent().len(), 2);
    // The dead sender's late report changes nothing.
    let stale = &leased[0];
    let status = outbox::mark_failed(&mut salon.conn, stale, "late", false, now())
        .await
        .unwrap();
    assert_eq!(status, MailStatus::Pending, "reported as not recorded");
    let mails = salon.mails(job).await;
    assert!(
        mails
            .iter()
            .all(|m| m.status == MailStatus::Sent && m.attempts == 2)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_enqueue_never_doubles_a_mail_and_mails_stay_with_their_tenant() {
    let mut salon = open_salon(false).await;
    let job = salon.book("kit", on_monday(16, 0)).await;
    // The booking's change is the job's first event, whose id is the job's.
    let booked = outbox::QueuedBy {
        tenant_id: salon.tenant_id,
        job_id: job,
        event_id: job,
        revision: 0,
    };
    let again = outbox::enqueue(
        &salon.conn,
        booked,
        &MailKind::for_new_booking(false),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(again, 0);
    assert_eq!(salon.mails(job).await.len(), 2);
    let other_tenant = outbox::for_job(&mut salon.conn, Uuid::new_v4(), job)
        .await
        .unwrap();
    assert!(other_tenant.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_backlog_age_is_the_wait_of_the_oldest_unsent_mail() {
    let mut salon = open_salon(false).await;
    assert_eq!(
        outbox::oldest_pending_age(&mut salon.conn, now())
            .await
            .unwrap(),
        None
    );
    salon.book("lu", on_monday(9, 30)).await;
    let later = now() + Duration::minutes(5);
    assert_eq!(
        outbox::oldest_pending_age(&mut salon.conn, later)
            .await
            .unwrap(),
        Some(Duration::minutes(5))
    );
    salon.deliver(&Mailer::in_memory(), later, None).await;
    assert_eq!(
        outbox::oldest_pending_age(&mut salon.conn, later)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_ses_disabled_mails_are_written_as_eml_files() {
    let mut salon = open_salon(false).await;
    let job = salon.book("mo", on_monday(10, 30)).await;
    let dir: PathBuf = std::env::temp_dir().join(format!("booking-mail-{}", salon.tag));
    let mailer = Mailer::from_settings(false, None, dir.clone()).await;
    assert_eq!(salon.deliver(&mailer, now(), Some(job)).await, sent(2));
    for kind in ["client-booked", "owner-new-booking"] {
        let path = dir.join(format!("{job}-{kind}.eml"));
        let raw = std::fs::read_to_string(&path).unwrap();
        assert!(read(&raw).subject.contains("Haircut"), "{kind}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_production_mailer_finds_ses_through_the_sdks_own_endpoint_variable() {
    // What a container builds at start: no endpoint in code, only the SDK's environment.
    let configured = ["AWS_ENDPOINT_URL_SESV2", "AWS_REGION", "AWS_ACCESS_KEY_ID"]
        .iter()
        .all(|name| std::env::var(name).is_ok_and(|v| !v.is_empty()));
    if !configured {
        eprintln!(
            "skipped: set AWS_ENDPOINT_URL_SESV2, AWS_REGION and credentials (scripts/test does)"
        );
        return;
    }
    moto_mailer().await; // verifies the sender
    let mut salon = open_salon(false).await;
    let job = salon.book("ned", on_monday(15, 30)).await;
    let mailer = Mailer::from_settings(true, None, PathBuf::from("unused")).await;
    assert!(matches!(mailer, Mailer::Ses { .. }));
    assert_eq!(salon.deliver(&mailer, now(), Some(job)).await, sent(2));
    assert_eq!(received_by(&salon.client("ned")).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_booking_leases_its_mails_to_the_booker_who_sends_them_once() {
    let mut salon = open_salon(false).await;
    let booked = salon.book_leased("lea", on_monday(9, 0)).await;
    assert_eq!(booked.mails.len(), 2);
    assert!(booked.mails.iter().all(|mail| mail.attempts == 1));
    // Leased: no other sender takes them while the booker holds them.
    let relay_mailer = Mailer::in_memory();
    assert_eq!(
        salon.deliver(&relay_mailer, now(), None).await,
        DeliveryReport::default()
    );
    let mailer = Mailer::in_memory();
    let context = booked.mail_context();
    let mut accepted = Vec::new();
    let unsent = send_leased(&mailer, &settings(), &booked.mails, &context, &mut accepted).await;
    let report = record_delivery(&mut salon.conn, unsent, &mut accepted, now())
        .await
        .unwrap();
    assert_eq!(report, sent(2));
    let recipients: Vec<String> = mailer.sent().iter().map(|mail| mail.to.clone()).collect();
    assert!(recipients.contains(&salon.client("lea")));
    let mails = salon.mails(booked.job.id).await;
    assert!(
        mails
            .iter()
            .all(|m| m.status == MailStatus::Sent && m.attempts == 1)
    );
    // Recorded as sent: nothing is due again once the lease would have run out.
    assert_eq!(
        salon.deliver(&relay_mailer, now() + LEASE, None).await,
        DeliveryReport::default()
    );
    assert!(relay_mailer.sent().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_booker_that_never_sends_leaves_its_mails_to_the_relay_after_the_lease() {
    let mut salon = open_salon(false).await;
    let booked = salon.book_leased("ned", on_monday(10, 0)).await;
    let mailer = Mailer::in_memory();
    assert_eq!(
        salon
            .deliver(&mailer, now() + LEASE - Duration::seconds(1), None)
            .await,
        DeliveryReport::default()
    );
    assert_eq!(salon.deliver(&mailer, now() + LEASE, None).await, sent(2));
    let mails = salon.mails(booked.job.id).await;
    assert!(
        mails
            .iter()
            .all(|m| m.status == MailStatus::Sent && m.attempts == 2)
    );
}
