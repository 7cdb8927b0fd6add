//! One list of statuses (and of mail kinds): the domain's, which every SQL check and the OpenAPI
//! file must spell exactly alike.

use booking_domain::{JobStatus, MailKind};
use booking_repository::diesel_async::RunQueryDsl;
use booking_test_support::TestDb;

#[derive(diesel::QueryableByName)]
struct Definition {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    definition: String,
}

/// The quoted literals of a check constraint's definition, in order.
fn literals(definition: &str) -> Vec<String> {
    definition
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

async fn checks(db: &TestDb, names: &[&str]) -> Vec<Definition> {
    let mut conn = db.connection().await;
    let listed = names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    diesel::sql_query(format!(
        "SELECT conname::text AS name, pg_get_constraintdef(oid) AS definition \
         FROM pg_constraint WHERE contype = 'c' AND conname IN ({listed}) ORDER BY conname"
    ))
    .load(&mut conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sql_check_and_the_openapi_file_list_exactly_the_domains_statuses() {
    let db = TestDb::new().await;
    let statuses: Vec<String> = JobStatus::ALL
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    let found = checks(
        &db,
        &[
            "jobs_status_check",
            "job_events_from_status_check",
            "job_events_to_status_check",
        ],
    )
    .await;
    assert_eq!(found.len(), 3);
    for check in &found {
        assert_eq!(literals(&check.definition), statuses, "{}", check.name);
    }
    let kinds: Vec<String> = MailKind::ALL
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect();
    let mail = checks(&db, &["emails_kind_check"]).await;
    assert_eq!(literals(&mail[0].definition), kinds);

    let path = format!("{}/../../openapi.json", env!("CARGO_MANIFEST_DIR"));
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let documented: Vec<String> = spec["components"]["schemas"]["JobStatus"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(documented, statuses);
    let documented: Vec<String> =
        spec["components"]["schemas"]["Email"]["properties"]["kind"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect();
    assert_eq!(documented, kinds);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_active_jobs_index_holds_exactly_the_active_statuses() {
    let db = TestDb::new().await;
    #[derive(diesel::QueryableByName)]
    struct Index {
        #[diesel(sql_type = diesel::sql_types::Text)]
        definition: String,
    }
    let mut conn = db.connection().await;
    let index: Index =
        diesel::sql_query("SELECT pg_get_indexdef('jobs_active_by_start'::regclass) AS definition")
            .get_result(&mut conn)
            .await
            .unwrap();
    let active: Vec<String> = JobStatus::ALL
        .iter()
        .filter(|s| s.is_active())
        .map(|s| s.as_str().to_owned())
        .collect();
    assert_eq!(literals(&index.definition), active);
    assert!(!JobStatus::NoShow.is_active());
}
