//! The owner runs a day through the API alone: lists tomorrow, moves one client, cancels another
//! with a reason, starts and completes a third, marks a no-show — and each client got the right
//! mail with the right `.ics`, read back by an independent parser (Python's `icalendar`,
//! scripts/ics_check.py).

use std::path::PathBuf;
use std::process::Command;

use booking_domain::MailKind;
use serde_json::{Value, json};

use crate::support::*;

/// Each `.ics` read by scripts/ics_check.py.
fn read_with_python(calendars: &[String]) -> Vec<Value> {
    let dir = std::env::temp_dir().join(format!("ics-check-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<PathBuf> = calendars
        .iter()
        .enumerate()
        .map(|(i, ics)| {
            let file = dir.join(format!("{i}.ics"));
            std::fs::write(&file, ics).unwrap();
            file
        })
        .collect();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ics_check.py");
    let out = Command::new(python_with_icalendar())
        .arg(script)
        .args(&files)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_owner_runs_a_day_through_the_api_and_every_client_gets_the_right_mail() {
    let stack = Stack::default().await;
    let token = stack.token();
    // Four clients book Saturday (the salon opens 10:00–14:00), on Friday morning.
    let clients = ["ana", "ben", "cat", "dan"];
    let mut jobs = Vec::new();
    for (client, hour) in clients.iter().zip([10, 11, 12, 13]) {
        jobs.push(
            stack
                .book(
                    &ny_text(2026, 12, 5, hour, 0),
                    &format!("{client}@example.com"),
                )
                .await,
        );
    }
    let [ana, ben, cat, dan] = [&jobs[0], &jobs[1], &jobs[2], &jobs[3]];

    // Friday: the owner lists tomorrow.
    let tomorrow = stack
        .get_jobs(&[("from", "2026-12-05"), ("to", "2026-12-05")], &token)
        .await;
    assert_eq!(tomorrow.status, 200, "{tomorrow}");
    let listed: Vec<&str> = tomorrow["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["id"].as_str())
        .collect();
    assert_eq!(listed, jobs.iter().map(String::as_str).collect::<Vec<_>>());

    // Moves Ana to 14:30 (after hours: the owner may) and cancels Ben, saying why.
    let moved = stack
        .post_transition(
            ana,
            "reschedule",
            &json!({"start": ny_text(2026, 12, 5, 14, 30)}).to_string(),
            &token,
        )
        .await;
    assert_eq!(
        (moved.status, moved["job"]["start"].as_str()),
        (200, Some("2026-12-05T14:30:00-05:00")),
        "{moved}"
    );
    let reason = "Our stylist is ill; sorry!";
    let cancelled = stack
        .post_transition(
            ben,
            "cancel",
            &json!({"reason": reason}).to_string(),
            &token,
        )
        .await;
    assert_eq!(cancelled["job"]["status"], "cancelled", "{cancelled}");

    // Saturday 13:20: Cat came and is done; Dan did not come.
    let mut saturday = stack.container();
    saturday.clock = fixed_clock(ny(2026, 12, 5, 13, 20));
    assert_eq!(
        saturday.post_transition(cat, "start", "", &token).await["job"]["status"],
        "in-progress"
    );
    assert_eq!(
        saturday.post_transition(cat, "complete", "", &token).await["job"]["status"],
        "completed"
    );
    assert_eq!(
        saturday.post_transition(dan, "no-show", "", &token).await["job"]["status"],
        "no-show"
    );
    let day = saturday
        .get_jobs(&[("from", "2026-12-05"), ("to", "2026-12-05")], &token)
        .await;
    let statuses: Vec<&str> = day["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["status"].as_str())
        .collect();
    // In start order: Ben (cancelled, 11:00), Cat, Dan, then Ana at 14:30.
    assert_eq!(statuses, ["cancelled", "completed", "no-show", "scheduled"]);

    // The mails: every client their booking; Ana a move, Ben a cancellation; nothing else.
    let sent = stack.deps.mailer.sent();
    let to = |client: &str| -> Vec<(MailKind, ReadMail)> {
        sent.iter()
            .filter(|m| m.to == format!("{client}@example.com"))
            .map(|m| (m.kind, read_mail(&m.raw)))
            .collect()
    };
    let kinds = |client: &str| to(client).iter().map(|(k, _)| *k).collect::<Vec<_>>();
    assert_eq!(
        kinds("ana"),
        [MailKind::ClientBooked, MailKind::ClientRescheduled]
    );
    assert_eq!(
        kinds("ben"),
        [MailKind::ClientBooked, MailKind::ClientCancelled]
    );
    assert_eq!(kinds("cat"), [MailKind::ClientBooked]);
    assert_eq!(kinds("dan"), [MailKind::ClientBooked]);
    let owner_mails = sent
        .iter()
        .filter(|m| m.kind == MailKind::OwnerNewBooking)
        .count();
    assert_eq!(sent.len(), 4 + 2 + owner_mails);

    let ana_mails = to("ana");
    let ben_mails = to("ben");
    let calendars: Vec<String> = [&ana_mails[0], &ana_mails[1], &ben_mails[0], &ben_mails[1]]
        .iter()
        .map(|(_, mail)| mail.invitation.clone().expect("an invitation").1)
        .collect();
    let read = read_with_python(&calendars);
    let (ana_booked, ana_moved, ben_booked, ben_cancelled) =
        (&read[0], &read[1], &read[2], &read[3]);
    assert_eq!(ana_booked["uid"], format!("{ana}@booking"));
    assert_eq!(
        ana_moved["uid"], ana_booked["uid"],
        "the move updates the same entry"
    );
    assert_eq!(
        (ana_booked["method"].as_str(), ana_moved["method"].as_str()),
        (Some("REQUEST"), Some("REQUEST"))
    );
    assert!(
        ana_moved["sequence"].as_i64() > ana_booked["sequence"].as_i64(),
        "{read:?}"
    );
    assert_eq!(ana_booked["start"], "20261205T150000Z");
    assert_eq!(
        (ana_moved["start"].as_str(), ana_moved["end"].as_str()),
        (Some("20261205T193000Z"), Some("20261205T201500Z"))
    );
    assert_eq!(ana_moved["status"], "CONFIRMED");
    assert_eq!(ben_cancelled["uid"], ben_booked["uid"]);
    assert_eq!(
        (
            ben_cancelled["method"].as_str(),
            ben_cancelled["status"].as_str()
        ),
        (Some("CANCEL"), Some("CANCELLED"))
    );
    assert!(ben_cancelled["sequence"].as_i64() > ben_booked["sequence"].as_i64());
    assert!(
        ben_cancelled["description"]
            .as_str()
            .is_some_and(|d| d.contains(reason)),
        "{ben_cancelled}"
    );
    // The mails' own words, in the tenant's zone.
    assert!(
        ana_mails[1]
            .1
            .text
            .contains("Saturday, December 5, 2026, 2:30 PM – 3:15 PM EST"),
        "{}",
        ana_mails[1].1.text
    );
    assert!(
        ben_mails[1].1.text.contains(reason) && ben_mails[1].1.text.contains("cancelled"),
        "{}",
        ben_mails[1].1.text
    );
}
