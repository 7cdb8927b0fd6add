//! `booking-admin tenant import`: the real binary against a database of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing test should panic.

use std::process::Output;

use booking_domain::BookingSettings;
use booking_test_support::{TestDb, load, salon};
use diesel_async::RunQueryDsl;

fn import(db: &TestDb, file: &std::path::Path, skip_bad: bool) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_booking-admin"));
    command
        .args(["tenant", "import", "fifi"])
        .arg(file)
        .env("DATABASE_URL", &db.url);
    if skip_bad {
        command.arg("--skip-bad");
    }
    command.output().expect("booking-admin runs")
}

async fn count(db: &TestDb, query: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = db.connection().await;
    let row: Count = diesel::sql_query(query)
        .get_result(&mut conn)
        .await
        .unwrap();
    row.n
}

#[tokio::test]
async fn an_import_reports_bad_lines_stops_unless_told_and_a_rerun_adds_nothing() {
    let db = TestDb::new().await;
    load(&db, &salon("fifi", BookingSettings::default())).await;
    let file = std::env::temp_dir().join(format!("import-{}.csv", db.name));
    std::fs::write(
        &file,
        "external_id,client_name,email,phone,service,start,end,duration_minutes,status,notes\n\
         old-1,Jane Roe,jane@client.example,+1 555 0100,haircut,2027-01-04T10:00:00-05:00,,45,scheduled,\"likes tea, no sugar\"\n\
         old-2,Joe Doe,joe@client.example,,colour,2026-11-02T13:00:00-05:00,2026-11-02T14:30:00-05:00,,completed,\n\
         old-3,Ann Poe,ann@client.example,,nails,2027-01-04T13:00:00-05:00,,30,scheduled,\n\
         old-4,Bob Moe,bob@client.example,,haircut,2027-01-04T10:15:00-05:00,,45,scheduled,\n",
    )
    .unwrap();

    let refused = import(&db, &file, false);
    let errors = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{errors}");
    assert!(errors.contains(":4: unknown service `nails`"), "{errors}");
    assert!(errors.contains(":5: would overbook"), "{errors}");
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM jobs").await,
        0,
        "nothing imported"
    );

    let imported = import(&db, &file, true);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&imported.stdout).unwrap();
    assert_eq!(summary["imported"], 2, "{summary}");
    assert_eq!(summary["skipped"], 2, "{summary}");
    assert_eq!(summary["byStatus"]["completed"], 1, "{summary}");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM jobs WHERE external_id IS NOT NULL"
        )
        .await,
        2
    );
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM emails").await,
        0,
        "no mails"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM job_events WHERE action = 'entered' AND actor = 'system'"
        )
        .await,
        2
    );

    // The future scheduled job gets the tenant's reminder (the day before); the past one none.
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM reminders").await,
        1,
        "reminders apply to future jobs"
    );

    let again = import(&db, &file, true);
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["imported"], 0, "{summary}");
    assert_eq!(summary["alreadyImported"], 2, "{summary}");
    assert_eq!(count(&db, "SELECT count(*) AS n FROM jobs").await, 2);
    let _ = std::fs::remove_file(&file);
}

#[tokio::test]
async fn imported_jobs_of_a_service_with_staff_go_to_their_person_never_beyond_capacity() {
    use booking_domain::{Schedule, StaffCapacity};
    use booking_repository::tenant_setup::StaffDefinition;
    let db = TestDb::new().await;
    let mut definition = salon("fifi", BookingSettings::default());
    let person = |slug: &str| StaffDefinition {
        slug: slug.to_owned(),
        name: slug.to_uppercase(),
        email: None,
        capacity: StaffCapacity::ONE,
        active: true,
        working_hours: None,
        date_overrides: Schedule::new(),
        services: vec!["haircut".to_owned()],
    };
    definition.staff = vec![person("ana"), person("ben")];
    load(&db, &definition).await;
    let file = std::env::temp_dir().join(format!("import-staff-{}.csv", db.name));
    // Three at 10:00 on Monday 4 January 2027 with two stylists: Ana's, then anyone's (Ben is
    // free), then Ana's again — she is taken. And a person the salon does not have.
    std::fs::write(
        &file,
        "external_id,client_name,email,service,start,duration_minutes,status,staff\n\
         s-1,Jane Roe,jane@client.example,haircut,2027-01-04T10:00:00-05:00,45,scheduled,ana\n\
         s-2,Joe Doe,joe@client.example,haircut,2027-01-04T10:00:00-05:00,45,scheduled,\n\
         s-3,Ann Poe,ann@client.example,haircut,2027-01-04T10:15:00-05:00,45,scheduled,ana\n\
         s-4,Bob Moe,bob@client.example,haircut,2027-01-05T10:00:00-05:00,45,scheduled,zed\n",
    )
    .unwrap();
    let refused = import(&db, &file, false);
    let errors = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{errors}");
    assert!(errors.contains(":4: would overbook"), "{errors}");
    assert!(
        errors.contains(":5: unknown staff member `zed`"),
        "{errors}"
    );
    assert!(
        !errors.contains(":2:") && !errors.contains(":3:"),
        "{errors}"
    );
    let imported = import(&db, &file, true);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM jobs j JOIN staff s ON s.id = j.staff_id \
             WHERE (j.external_id, s.slug) IN (('s-1', 'ana'), ('s-2', 'ben'))"
        )
        .await,
        2,
        "each job with its person"
    );
    let _ = std::fs::remove_file(&file);
}
