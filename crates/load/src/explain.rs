//! `EXPLAIN (ANALYZE, BUFFERS)` of the hot queries exactly as the handlers send them: a
//! container whose one connection has `auto_explain` loaded runs the real handlers (an
//! availability read, then a booking with an `Idempotency-Key`, its rate-limit hit and its
//! post-commit mail delivery), and the plans come back as notices on that connection. Each plan
//! is labelled by the call site that issued its statement ([`crate::labels`]).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use booking_functions::{Deps, availability, book_slot};
use booking_repository::diesel_async::pooled_connection::deadpool::Pool;
use booking_repository::diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use booking_repository::diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};
use booking_repository::{AsyncPgConnection, DbPool};
use diesel::ConnectionError;
use diesel::connection::{Instrumentation, InstrumentationEvent};
use futures_util::FutureExt;
use serde_json::{Value, json};
use tokio_postgres::{AsyncMessage, NoTls};

use crate::labels;
use crate::stats::Report;
use crate::world::{self, World};
use crate::{Error, Result};

type Shared<T> = Arc<Mutex<T>>;

fn take<T: Default>(shared: &Shared<T>) -> T {
    std::mem::take(&mut *shared.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Remembers the label each statement was issued under, by its SQL text.
struct Labeller(Shared<HashMap<String, String>>);

impl Instrumentation for Labeller {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            let sql = query.to_string();
            let label = labels::of(&sql);
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(labels::text(&sql).to_owned(), label);
        }
    }
}

/// A connection that keeps its server notices (the plans) and the labels of its statements.
async fn explaining_connection(
    url: &str,
    notices: Shared<Vec<String>>,
    labels: Shared<HashMap<String, String>>,
) -> Result<AsyncPgConnection> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notice(notice)) => notices
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
    conn.set_instrumentation(Labeller(labels));
    Ok(conn)
}

/// A one-connection pool over [`explaining_connection`], for a container's `Deps`.
fn explaining_pool(
    url: &str,
    notices: &Shared<Vec<String>>,
    labels: &Shared<HashMap<String, String>>,
) -> Result<DbPool> {
    let mut config = ManagerConfig::default();
    // As the functions' pool: no test query per checkout.
    config.recycling_method = RecyclingMethod::Fast;
    let (notices, labels) = (notices.clone(), labels.clone());
    config.custom_setup = Box::new(move |url| {
        let (url, notices, labels) = (url.to_owned(), notices.clone(), labels.clone());
        async move {
            explaining_connection(&url, notices, labels)
                .await
                .map_err(|e| ConnectionError::BadConnection(e.to_string()))
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    Ok(Pool::builder(manager).max_size(1).build()?)
}

/// The status and JSON body of a handler's answer.
fn answer(response: &lambda_http::Response<lambda_http::Body>) -> (u16, Value) {
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (response.status().as_u16(), body)
}

/// One availability read and one booking of a slot it lists (with an idempotency key, counted
/// against the rate limit, its mails delivered after the commit), through the real handlers;
/// then the floor insert.
async fn hot_path(deps: &Deps, world: &World, round: usize) -> Result<()> {
    let request = world::request(&world::reference_availability_event(world))?;
    let (status, body) = answer(&availability::handle(deps, request).await);
    if status != 200 {
        return Err(Error::from(format!(
            "the explained availability read answered {status}: {body}"
        )));
    }
    let start = body["slots"]
        .get(round * 7 + 3)
        .and_then(|slot| slot["start"].as_str())
        .ok_or("the reference calendar has no free slot")?
        .to_owned();

    let event = world::book_event_with_key(
        world.availability.service_id,
        &start,
        &format!("explain{round}@load.example"),
        80_000 + round,
        &format!("explain-{round}"),
    );
    let (status, body) = answer(&book_slot::handle(deps, world::request(&event)?).await);
    // The mails, after the response, as the container sends them.
    deps.settle().await;
    if status != 201 {
        return Err(Error::from(format!(
            "the explained booking answered {status}: {body}"
        )));
    }

    let mut conn = deps.pool.get().await?;
    crate::handlers::floor_transaction(&mut conn, "explain").await
}

/// Writes the plans as markdown to `out` and a summary line per statement to the report.
pub async fn run(world: &World, out: &std::path::Path, report: &mut Report) -> Result<()> {
    let notices = Shared::default();
    let labels = Shared::default();
    let mut deps = world.container()?;
    deps.pool = explaining_pool(&world.db.url, &notices, &labels)?;
    {
        let mut conn = deps.pool.get().await?;
        diesel::sql_query(
            "CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, payload text NOT NULL)",
        )
        .execute(&mut conn)
        .await?;
    }
    let collecting = labels::Collecting::start();
    // A first round prepares the statements and warms the cache, as a warm container has.
    hot_path(&deps, world, 0).await?;
    take(&notices);
    hot_path(&deps, world, 1).await?;
    drop(collecting);
    let plans = take(&notices);
    let labels = take(&labels);

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
        let name = labels
            .iter()
            .find(|(sql, _)| sql.lines().next() == Some(query))
            .map(|(_, label)| label.clone())
            .unwrap_or_else(|| labels::of(query));
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
