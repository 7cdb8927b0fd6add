//! The owner's day at size: a tenant with a year of data (15,000 jobs, 40 a day, each with its
//! booking in the history and a sent mail), read and changed through the real handlers by one
//! warm container — `GET /jobs` for a month (default page), `GET /jobs/{id}`, a start, a
//! cancellation (with its mail), `GET /stats` over the year — beside a booking into the same
//! tenant and the floor, in the same run; and a calendar feed of 1,000 events (another tenant,
//! 25 days of 40 jobs), read by a calendar app's `GET /calendar/{token}`.

use std::time::Instant;

use booking_functions::{
    Deps, book_slot, calendar_feed, job_transitions, owner_calendar, owner_insights,
};
use booking_repository::diesel_async::RunQueryDsl;
use booking_test_support::load;
use booking_test_support::token::{TEST_SECRET, owner_token};
use chrono::{Days, TimeZone, Utc};
use diesel::sql_types::{Integer, Timestamptz, Uuid as SqlUuid};
use lambda_http::Request;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Result;
use crate::handlers::floor_transaction;
use crate::stats::{Report, Samples};
use crate::world::{self, World, ZONE};

/// A year of the seed salon's days.
pub const JOBS: i32 = 15_000;
pub const JOBS_PER_DAY: i32 = 40;

const OWNER_EVENT: &str = include_str!("../events/http-v2-owner.json");

/// An owner request as the HTTP API (v2) delivers it.
fn owner_request(
    method: &str,
    route: &str,
    path: &str,
    params: Value,
    query: &[(&str, &str)],
    body: &str,
    token: &str,
) -> Result<Request> {
    let authorization = format!(", \"authorization\": {}", json!(format!("Bearer {token}")));
    http_request(method, route, path, params, query, body, &authorization)
}

/// Any request of the HTTP API (v2) shape, `headers` spliced in as JSON members (`, "k": "v"`).
pub(crate) fn http_request(
    method: &str,
    route: &str,
    path: &str,
    params: Value,
    query: &[(&str, &str)],
    body: &str,
    headers: &str,
) -> Result<Request> {
    let raw_query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let single: serde_json::Map<String, Value> = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let query_value = if single.is_empty() {
        Value::Null
    } else {
        Value::Object(single)
    };
    let event = OWNER_EVENT
        .replace("ROUTE_KEY", &format!("{method} {route}"))
        .replace("RAW_PATH", path)
        .replace("METHOD", method)
        .replace("RAW_QUERY", &json!(raw_query.join("&")).to_string())
        .replace(
            "\"queryStringParameters\": QUERY",
            &format!("\"queryStringParameters\": {query_value}"),
        )
        .replace("PATH_PARAMETERS", &params.to_string())
        .replace("AUTHORIZER", "null")
        .replace("HEADERS", headers)
        .replace("BODY", &json!(body).to_string());
    world::request(&event)
}

/// Events in the measured calendar feed.
pub const FEED_EVENTS: i32 = 1_000;

/// The tenant `slug`: wide hours, room for its 40 jobs a day, `jobs` of them from today on.
async fn seed(world: &World, slug: &str, jobs: i32) -> Result<(Uuid, Uuid, Vec<String>)> {
    let mut definition = world::wide_calendar(slug)?;
    definition.settings.max_bookings_per_slot = 50;
    let loaded = load(&world.db, &definition).await;
    let service_id = booking_test_support::service(&loaded, "session");
    let tenant_id = loaded.tenant_id;
    let origin = ZONE
        .from_local_datetime(&world::today().and_time(chrono::NaiveTime::MIN))
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(world::now);
    let mut conn = world.db.connection().await;
    diesel::sql_query(
        "INSERT INTO contacts (tenant_id, email, name) \
         SELECT $1, 'regular' || g || '@' || $2 || '.example', 'Regular ' || g \
         FROM generate_series(1, 2000) g",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<diesel::sql_types::Text, _>(slug)
    .execute(&mut conn)
    .await?;
    // 40 a day, 06:00–22:00 local (a 24-minute grid), 30 minutes each.
    diesel::sql_query(
        "INSERT INTO jobs (tenant_id, service_id, contact_id, title, starts_at, ends_at, status, \
                           source, changed_by, client_name) \
         SELECT $1, $2, c.ids[1 + g % array_length(c.ids, 1)], 'Day job ' || g, t.s, \
                t.s + interval '30 minutes', 'scheduled', 'public', 'public-booking', 'Client ' || g \
         FROM generate_series(0, $4 - 1) g \
         CROSS JOIN (SELECT array_agg(id ORDER BY email) AS ids FROM contacts WHERE tenant_id = $1) c \
         CROSS JOIN LATERAL (SELECT $3 + make_interval(days => g / $5, \
                                 mins => 360 + (g % $5) * 24) AS s) t",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<SqlUuid, _>(service_id)
    .bind::<Timestamptz, _>(origin)
    .bind::<Integer, _>(jobs)
    .bind::<Integer, _>(JOBS_PER_DAY)
    .execute(&mut conn)
    .await?;
    diesel::sql_query(
        "INSERT INTO job_events (id, tenant_id, job_id, at, actor, action, to_status, to_start, to_end) \
         SELECT id, tenant_id, id, created_at, 'client', 'booked', status, starts_at, ends_at \
         FROM jobs WHERE tenant_id = $1",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .execute(&mut conn)
    .await?;
    diesel::sql_query(
        "INSERT INTO emails (tenant_id, job_id, kind, status, attempts, ses_message_id, sent_at) \
         SELECT tenant_id, id, kind, 'sent', 1, 'seed-' || id || kind, now() \
         FROM jobs CROSS JOIN unnest(ARRAY['client-booked', 'owner-new-booking']) kind \
         WHERE tenant_id = $1",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .execute(&mut conn)
    .await?;
    diesel::sql_query("VACUUM ANALYZE")
        .execute(&mut conn)
        .await?;
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    // Jobs from the second month on, for the changes (none of them in the month read).
    let ids: Vec<Id> = diesel::sql_query(
        "SELECT id FROM jobs WHERE tenant_id = $1 AND starts_at >= $2 ORDER BY starts_at, id",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<Timestamptz, _>(origin + chrono::Duration::days(40))
    .load(&mut conn)
    .await?;
    Ok((
        tenant_id,
        service_id,
        ids.into_iter().map(|row| row.id.to_string()).collect(),
    ))
}

/// A calendar app reading a feed of [`FEED_EVENTS`] events (a tenant of its own).
async fn feed(world: &World, requests: usize, report: &mut Report) -> Result<()> {
    let (tenant_id, _, _) = seed(world, "feed", FEED_EVENTS).await?;
    let mut deps = owner_container(world)?;
    // The per-feed limit is counted (its statement is part of the cost), never reached.
    deps.config.manage_rate_limit_per_minute = 1_000_000;
    let token = owner_token(tenant_id, 24 * 3600);
    let created = owner_insights::handle(
        &deps,
        owner_request(
            "POST",
            "/calendar-feeds",
            "/calendar-feeds",
            Value::Null,
            &[],
            "",
            &token,
        )?,
    )
    .await;
    let body: Value = match created.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text)?,
        _ => Value::Null,
    };
    let feed_token = body["url"]
        .as_str()
        .and_then(|url| url.rsplit('/').next())
        .ok_or_else(|| format!("POST /calendar-feeds answered {}: {body}", created.status()))?
        .to_owned();
    let read = || {
        let event = OWNER_EVENT
            .replace("ROUTE_KEY", "GET /calendar/{feedToken}")
            .replace("RAW_PATH", &format!("/calendar/{feed_token}"))
            .replace("METHOD", "GET")
            .replace("RAW_QUERY", "\"\"")
            .replace(
                "\"queryStringParameters\": QUERY",
                "\"queryStringParameters\": null",
            )
            .replace(
                "PATH_PARAMETERS",
                &json!({ "feedToken": feed_token }).to_string(),
            )
            .replace("AUTHORIZER", "null")
            .replace("HEADERS", "")
            .replace("BODY", "\"\"");
        world::request(&event)
    };
    let first = calendar_feed::handle(&deps, read()?).await;
    let events = match first.body() {
        lambda_http::Body::Text(text) => text.matches("BEGIN:VEVENT").count(),
        _ => 0,
    };
    if first.status() != 200 || events != FEED_EVENTS as usize {
        return Err(format!("the feed answered {} with {events} events", first.status()).into());
    }
    for _ in 0..10.min(requests) {
        calendar_feed::handle(&deps, read()?).await;
    }
    let samples = measure(&deps, requests, |_| async {
        Ok(calendar_feed::handle(&deps, read()?)
            .await
            .status()
            .as_u16())
    })
    .await?;
    report.latency(
        "public: GET /calendar/{token}, 1,000 events",
        1,
        &samples,
        json!({"section": "owner", "events": events}),
    )?;
    Ok(())
}

/// One warm container that owner tokens open (a local secret, as `scripts/dev` has it).
fn owner_container(world: &World) -> Result<Deps> {
    let mut deps = world.container()?;
    deps.config.auth_jwt_secret = Some(TEST_SECRET.to_owned());
    Ok(deps)
}

async fn measure<F, Fut>(deps: &Deps, count: usize, mut next: F) -> Result<Samples>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<u16>>,
{
    let mut samples = Samples::default();
    let started = Instant::now();
    for i in 0..count {
        let at = Instant::now();
        let status = next(i).await?;
        samples.push(at.elapsed(), status);
        // What the invocation owes after its response (a change's mails), unmeasured, as a
        // container does before its next request.
        deps.settle().await;
    }
    samples.wall = started.elapsed();
    Ok(samples)
}

pub async fn run(world: &World, requests: usize, report: &mut Report) -> Result<()> {
    println!(
        "-- the owner's day: one tenant, {JOBS} jobs ({JOBS_PER_DAY} a day for a year), one warm container"
    );
    let (tenant_id, service_id, changeable) = seed(world, "owner-day", JOBS).await?;
    let mut conn = world.db.connection().await;
    diesel::sql_query(
        "CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, payload text NOT NULL)",
    )
    .execute(&mut conn)
    .await?;
    let token = owner_token(tenant_id, 24 * 3600);
    let deps = owner_container(world)?;
    let from = world::today();
    let to = from.checked_add_days(Days::new(30)).unwrap_or(from);
    let (from, to) = (from.to_string(), to.to_string());
    let month = || {
        owner_request(
            "GET",
            "/jobs",
            "/jobs",
            Value::Null,
            &[("from", &from), ("to", &to)],
            "",
            &token,
        )
    };
    let first = owner_calendar::handle(&deps, month()?).await;
    let body: Value = match first.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text)?,
        _ => Value::Null,
    };
    let listed = body["jobs"].as_array().map_or(0, Vec::len);
    let job_ids: Vec<String> = body["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|job| job["id"].as_str().map(str::to_owned))
        .collect();
    if first.status() != 200 || job_ids.is_empty() {
        return Err(format!("GET /jobs answered {}: {body}", first.status()).into());
    }
    let warm = 10.min(requests);
    for _ in 0..warm {
        owner_calendar::handle(&deps, month()?).await;
    }

    let samples = measure(&deps, requests, |_| async {
        Ok(owner_calendar::handle(&deps, month()?)
            .await
            .status()
            .as_u16())
    })
    .await?;
    report.latency(
        "owner: GET /jobs, a month (default page)",
        1,
        &samples,
        json!({"section": "owner", "jobs_in_tenant": JOBS, "listed": listed}),
    )?;

    let samples = measure(&deps, requests, |i| {
        let job = job_ids[i % job_ids.len()].clone();
        let token = token.clone();
        let deps = &deps;
        async move {
            let request = owner_request(
                "GET",
                "/jobs/{jobId}",
                &format!("/jobs/{job}"),
                json!({"jobId": job}),
                &[],
                "",
                &token,
            )?;
            Ok(owner_calendar::handle(deps, request)
                .await
                .status()
                .as_u16())
        }
    })
    .await?;
    report.latency(
        "owner: GET /jobs/{id} (mails, history)",
        1,
        &samples,
        json!({"section": "owner", "jobs_in_tenant": JOBS}),
    )?;

    // The year's statistics (every job of the tenant starts in it).
    let year_end = world::today()
        .checked_add_days(Days::new(364))
        .unwrap_or_else(world::today)
        .to_string();
    let year = || {
        owner_request(
            "GET",
            "/stats",
            "/stats",
            Value::Null,
            &[("from", &from), ("to", &year_end)],
            "",
            &token,
        )
    };
    let first = owner_insights::handle(&deps, year()?).await;
    if first.status() != 200 {
        return Err(format!("GET /stats answered {}", first.status()).into());
    }
    for _ in 0..warm {
        owner_insights::handle(&deps, year()?).await;
    }
    let samples = measure(&deps, requests, |_| async {
        Ok(owner_insights::handle(&deps, year()?)
            .await
            .status()
            .as_u16())
    })
    .await?;
    report.latency(
        "owner: GET /stats, a year",
        1,
        &samples,
        json!({"section": "owner", "jobs_in_tenant": JOBS, "jobs_in_range": JOBS}),
    )?;
    feed(world, requests, report).await?;

    // Changes: distinct jobs, each changed once.
    let (starts, cancels) = changeable.split_at(changeable.len() / 2);
    let count = requests.min(starts.len()).min(cancels.len());
    for (name, action, jobs, body) in [
        (
            "owner: POST /jobs/{id}/start (no mail)",
            "start",
            starts,
            "",
        ),
        (
            "owner: POST /jobs/{id}/cancel (client mail, sent after the response)",
            "cancel",
            cancels,
            r#"{"reason":"Closed for the day"}"#,
        ),
    ] {
        let samples = measure(&deps, count, |i| {
            let job = jobs[i].clone();
            let token = token.clone();
            let deps = &deps;
            async move {
                let request = owner_request(
                    "POST",
                    &format!("/jobs/{{jobId}}/{action}"),
                    &format!("/jobs/{job}/{action}"),
                    json!({"jobId": job}),
                    &[],
                    body,
                    &token,
                )?;
                Ok(job_transitions::handle(deps, request)
                    .await
                    .status()
                    .as_u16())
            }
        })
        .await?;
        report.latency(
            name,
            1,
            &samples,
            json!({"section": "owner", "jobs_in_tenant": JOBS}),
        )?;
    }

    // The booking's own time, in this tenant, and the floor, in the same run.
    let definition = world::wide_calendar("owner-day")?;
    let slots = world::free_slots(&definition, 30, 30);
    let samples = measure(&deps, requests.min(slots.len()), |i| {
        let event = world::book_event(
            service_id,
            &slots[i],
            &format!("day{i}@load.example"),
            60_000 + i,
        );
        let deps = &deps;
        async move {
            Ok(book_slot::handle(deps, world::request(&event)?)
                .await
                .status()
                .as_u16())
        }
    })
    .await?;
    report.latency(
        "owner-day tenant: booking (for comparison)",
        1,
        &samples,
        json!({"section": "owner", "jobs_in_tenant": JOBS}),
    )?;
    let samples = measure(&deps, requests, |_| async {
        let mut conn = deps.pool.get().await?;
        floor_transaction(&mut conn, "floor").await?;
        Ok(200)
    })
    .await?;
    report.latency(
        "floor: one-row INSERT transaction (owner-day run)",
        1,
        &samples,
        json!({"section": "floor"}),
    )?;
    Ok(())
}
