//! `GET /health`: 200 only when the database answers and has every migration this build
//! embeds; otherwise 503 `unavailable` naming nothing of the database behind it.

use booking_email::Mailer;
use booking_repository::diesel;
use booking_repository::diesel_async::RunQueryDsl;
use booking_repository::embedded_versions;
use booking_test_support::TestDb;
use serde_json::json;

use crate::support::*;

/// Nothing in a 503 body may tell a stranger what runs behind it.
fn assert_names_no_internals(body: &serde_json::Value, db: &TestDb) {
    let text = body.to_string().to_lowercase();
    let latest = embedded_versions().pop().expect("migrations are embedded");
    for internal in [
        "diesel",
        "schema_migrations",
        "postgres",
        "relation",
        "127.0.0.1",
        "sql",
        latest.as_str(),
        db.name.as_str(),
    ] {
        assert!(!text.contains(internal), "{internal:?} leaked: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migrated_database_is_healthy() {
    let db = TestDb::new().await;
    let deps = deps_with(&db.url, &[], Mailer::in_memory());
    let reply = deps.send(Route::Health, health_request()).await;
    assert_eq!(reply.status, 200, "{reply}");
    assert_eq!(reply.content_type, "application/json");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(
        reply.body,
        json!({"database": "ok", "migrations": "current"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_missing_the_latest_migration_is_unavailable() {
    let db = TestDb::new().await;
    let latest = embedded_versions().pop().expect("migrations are embedded");
    let mut conn = db.connection().await;
    diesel::sql_query(format!(
        "DELETE FROM __diesel_schema_migrations WHERE version = '{latest}'"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let deps = deps_with(&db.url, &[], Mailer::in_memory());
    let reply = deps.send(Route::Health, health_request()).await;
    assert!(reply.header("retry-after").is_some());
    let body = expect_problem(reply, 503, "unavailable");
    assert_eq!(body["migrations"], "pending");
    assert_names_no_internals(&body, &db);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_never_migrated_is_unavailable() {
    let db = TestDb::new().await;
    let mut conn = db.connection().await;
    diesel::sql_query("DROP TABLE __diesel_schema_migrations")
        .execute(&mut conn)
        .await
        .unwrap();
    let deps = deps_with(&db.url, &[], Mailer::in_memory());
    let body = expect_problem(
        deps.send(Route::Health, health_request()).await,
        503,
        "unavailable",
    );
    assert_names_no_internals(&body, &db);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_database_is_unavailable() {
    let db = TestDb::new().await;
    // A port that was just free: nothing listens there, the connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/{}", db.name);
    let deps = deps_with(&url, &[], Mailer::in_memory());
    let body = expect_problem(
        deps.send(Route::Health, health_request()).await,
        503,
        "unavailable",
    );
    assert!(body.get("migrations").is_none(), "{body}");
    assert_names_no_internals(&body, &db);
}
