//! `EXPLAIN (ANALYZE, BUFFERS)` of the hot queries exactly as the repository sends them: a
//! connection with `auto_explain` loaded runs the repository's own functions (availability
//! reads, the booking transaction, the post-commit mail delivery), and the plans come back as
//! notices on that connection.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use booking_email::{MailSettings, Mailer, deliver_leased};
use booking_repository::changes::{self, KeyRef, NewBooking};
use booking_repository::diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};
use booking_repository::rate_limit::RateLimit;
use booking_repository::{AsyncPgConnection, catalog, idempotency};
use chrono::Days;
use diesel::sql_types::Text;
use serde_json::json;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::handlers::label;
use crate::stats::Report;
use crate::world::{self, World};
use crate::{Error, Result};

/// A connection whose server notices (the plans) are kept.
async fn explaining_connection(url: &str) -> Result<(AsyncPgConnection, Arc<Mutex<Vec<String>>>)> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
    let notices = Arc::new(Mutex::new(Vec::new()));
    let kept = notices.clone();
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notice(notice)) => kept
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(notice.message().to_owned()),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    let mut conn = AsyncPgConnection::try_from(client).await?;
    conn.batch_execute(
        "LOAD 'auto_explain'; \
         SET auto_explain.log_min_duration = 0; \
         SET auto_explain.log_analyze = on; \
         SET auto_explain.log_buffers = on; \
         SET auto_explain.log_triggers = on; \
         SET auto_explain.log_format = text; \
         SET client_min_messages = log;",
    )
    .await?;
    Ok((conn, notices))
}

/// One availability read and one booking (its rate-limit hit, an idempotency key, the
/// transaction and its mails), as the handlers run them.
async fn hot_path(conn: &mut AsyncPgConnection, world: &World, round: usize) -> Result<()> {
    let now = world::now();
    let from = world::today();
    let to = from
        .checked_add_days(Days::new(world::AVAILABILITY_DAYS - 1))
        .unwrap_or(from);
    let inputs = catalog::service_with_calendar(conn, world.availability.service_id, (from, to))
        .await?
        .ok_or("the reference service is missing")?;
    let calendar = inputs.calendar();
    let slots = calendar.slots(from, to, now);
    let slot = slots
        .get(round * 7 + 3)
        .ok_or("the reference calendar has no free slot")?;

    let bucket = format!("book:198.51.100.{round}");
    let key = format!("explain-{round}");
    let scope = booking_functions::book_slot::key_scope(inputs.service.id);
    idempotency::claim(conn, &scope, &key, key.as_bytes()).await?;
    let request = NewBooking {
        start: slot.start.with_timezone(&chrono::Utc),
        name: booking_domain::ClientName::parse("Explain Client")?,
        email: booking_domain::ClientEmail::parse(&format!("explain{round}@load.example"))?,
        phone: None,
        notes: None,
    };
    let booked = changes::book(
        conn,
        inputs.service.id,
        &request,
        now,
        Some(KeyRef {
            scope: &scope,
            key: &key,
        }),
        Some(RateLimit {
            bucket: &bucket,
            limit: 20,
            window: chrono::Duration::minutes(1),
        }),
    )
    .await
    .map_err(|e| Error::from(format!("the explained booking failed: {e}")))?;
    let settings = MailSettings {
        from_address: "bookings@example.com".to_owned(),
        public_app_url: "http://localhost:5173".to_owned(),
    };
    deliver_leased(
        conn,
        &Mailer::in_memory(),
        &settings,
        &booked.mails,
        &booked.mail_context(),
        now,
        &mut Vec::new(),
    )
    .await?;

    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        diesel::sql_query("INSERT INTO bench_floor (payload) VALUES ($1)")
            .bind::<Text, _>("explain")
            .execute(conn)
            .await?;
        Ok(())
    })
    .await?;
    Ok(())
}

/// Writes the plans as markdown to `out` and a summary line per statement to the report.
pub async fn run(world: &World, out: &std::path::Path, report: &mut Report) -> Result<()> {
    let (mut conn, notices) = explaining_connection(&world.db.url).await?;
    diesel::sql_query(
        "CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, payload text NOT NULL)",
    )
    .execute(&mut conn)
    .await?;
    // A first round prepares the statements and warms the cache, as a warm container has.
    hot_path(&mut conn, world, 0).await?;
    notices
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    hot_path(&mut conn, world, 1).await?;
    let plans = std::mem::take(&mut *notices.lock().unwrap_or_else(PoisonError::into_inner));

    let mut text = String::new();
    for plan in &plans {
        let query = plan
            .split("Query Text: ")
            .nth(1)
            .and_then(|rest| rest.lines().next())
            .unwrap_or_default();
        let duration = plan
            .strip_prefix("duration: ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|d| d.parse::<f64>().ok())
            .unwrap_or(f64::NAN);
        let name = label(query);
        writeln!(
            text,
            "#### {name} ({duration:.3} ms)\n\n```text\n{plan}\n```\n"
        )?;
        report.record(
            "explain",
            &name,
            json!({"duration_ms": duration, "sql": query}),
        )?;
    }
    std::fs::write(out, text)?;
    println!(
        "{} plans written to {} (reference tenant: {} jobs; {} other tenants with {} jobs each)",
        plans.len(),
        out.display(),
        world::JOBS_PER_TENANT,
        world::OTHER_TENANTS,
        world::JOBS_PER_TENANT,
    );
    Ok(())
}
