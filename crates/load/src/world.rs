//! The database the measurements run against: a fresh migrated database (booking-test-support's
//! `TestDb`), a wide booking calendar, the availability reference tenant with 2,000 jobs, and
//! twenty other tenants with data, so the hot queries meet realistic table sizes.

use std::sync::Arc;

use booking_domain::{BookingSettings, Calendar, Schedule, StaffCapacity, WorkingInterval};
use booking_edge::Config;
use booking_email::Mailer;
use booking_functions::Deps;
use booking_repository::diesel_async::RunQueryDsl;
use booking_repository::tenant_setup::{ServiceDefinition, StaffDefinition, TenantDefinition};
use booking_test_support::{TestDb, load, salon, service, with_database};
use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use diesel::sql_types::{Bool, Integer, Timestamptz, Uuid as SqlUuid};
use lambda_http::Request;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Result;

pub const ZONE: Tz = chrono_tz::America::New_York;
/// Other tenants sharing the tables.
pub const OTHER_TENANTS: usize = 20;
/// Jobs per other tenant, and for the availability tenant within its 31 days.
pub const JOBS_PER_TENANT: i32 = 2_000;
/// The availability reference range: December 2026, 31 days.
pub const AVAILABILITY_DAYS: u64 = 31;
/// Staff members of the staffed calendar.
pub const STAFF: usize = 3;

/// The fixed moment every container's clock shows: Tuesday 2026-12-01, 06:00 in New York.
pub fn now() -> DateTime<Utc> {
    ZONE.with_ymd_and_hms(2026, 12, 1, 6, 0, 0)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

pub fn today() -> NaiveDate {
    now().with_timezone(&ZONE).date_naive()
}

/// A tenant whose calendar the measurements book or read.
#[derive(Debug, Clone)]
pub struct Bench {
    pub tenant_id: Uuid,
    pub service_id: Uuid,
    /// Free starts (RFC 3339 with offset), in time order.
    pub slots: Vec<String>,
}

pub struct World {
    pub db: TestDb,
    /// Capacity 1, 30-minute slots 06:00–22:00 every day, a year ahead.
    pub booking: Bench,
    /// The engine's reference case: capacity 3, 45-minute service on a 30-minute grid,
    /// Mon–Sat 08–12 and 13–20, 2,000 active jobs in the 31 days.
    pub availability: Bench,
    /// One more wide calendar per concurrent client, to book without sharing a tenant lock.
    pub separate: Vec<Bench>,
    /// A wide calendar performed by [`STAFF`] staff members (capacity 1 each, the tenant's
    /// hours): each start listed once per person.
    pub staffed: Bench,
    pub staff: Vec<Uuid>,
    /// The reference calendar performed by [`MANY_STAFF`] people, each on their own week (a
    /// six-hour day starting between 08:00 and 11:00), with [`STAFFED_JOBS`] active jobs in the
    /// 31 days spread over them: #16's availability case.
    pub many_staff: Bench,
}

/// People of [`World::many_staff`].
pub const MANY_STAFF: usize = 20;
/// Active jobs of [`World::many_staff`] in the 31 days.
pub const STAFFED_JOBS: i32 = 5_000;

/// The reference calendar with [`MANY_STAFF`] people on weeks of their own.
fn many_staff_calendar() -> Result<TenantDefinition> {
    let mut definition = reference_calendar()?;
    definition.slug = "many-staff".to_owned();
    definition.staff = (0..MANY_STAFF)
        .map(|index| {
            let start = 8 + index % 4;
            let mut week = Schedule::new();
            for day in booking_domain::WEEK.into_iter().take(6) {
                week.set_weekday(
                    day,
                    vec![hours(
                        &format!("{start:02}:00"),
                        &format!("{:02}:00", start + 6),
                    )?],
                )?;
            }
            Ok(StaffDefinition {
                slug: format!("person-{index}"),
                name: format!("Person {index}"),
                email: None,
                capacity: StaffCapacity::ONE,
                active: true,
                working_hours: Some(week),
                date_overrides: Schedule::new(),
                services: vec!["haircut".to_owned()],
            })
        })
        .collect::<Result<_>>()?;
    Ok(definition)
}

fn hours(start: &str, end: &str) -> Result<WorkingInterval> {
    Ok(WorkingInterval::parse(start, end)?)
}

pub fn wide_calendar(slug: &str) -> Result<TenantDefinition> {
    let mut schedule = Schedule::new();
    for day in booking_domain::WEEK {
        schedule.set_weekday(day, vec![hours("06:00", "22:00")?])?;
    }
    Ok(TenantDefinition {
        slug: slug.to_owned(),
        name: format!("Bench {slug}"),
        zone: ZONE,
        notification_email: format!("owner@{slug}.example"),
        settings: BookingSettings {
            min_notice_minutes: 0,
            max_advance_days: 400,
            max_bookings_per_slot: 1,
            slot_interval_minutes: 30,
            ..BookingSettings::default()
        }
        .validate()?,
        schedule,
        services: vec![ServiceDefinition {
            slug: "session".to_owned(),
            name: "Session".to_owned(),
            duration_minutes: 30,
            active: true,
        }],
        staff: Vec::new(),
    })
}

fn reference_calendar() -> Result<TenantDefinition> {
    let mut schedule = Schedule::new();
    // Monday to Saturday.
    for day in booking_domain::WEEK.into_iter().take(6) {
        schedule.set_weekday(
            day,
            vec![hours("08:00", "12:00")?, hours("13:00", "20:00")?],
        )?;
    }
    Ok(TenantDefinition {
        slug: "reference".to_owned(),
        name: "Reference salon".to_owned(),
        zone: ZONE,
        notification_email: "owner@reference.example".to_owned(),
        settings: BookingSettings {
            min_notice_minutes: 0,
            max_advance_days: 90,
            max_bookings_per_slot: 3,
            slot_interval_minutes: 30,
            ..BookingSettings::default()
        }
        .validate()?,
        schedule,
        services: vec![ServiceDefinition {
            slug: "haircut".to_owned(),
            name: "Haircut".to_owned(),
            duration_minutes: 45,
            active: true,
        }],
        staff: Vec::new(),
    })
}

/// The free starts of an empty calendar from today on (as the availability handler would list
/// them before any booking).
pub fn free_slots(definition: &TenantDefinition, duration: u32, days: u64) -> Vec<String> {
    let calendar = Calendar::new(
        definition.zone,
        definition.settings,
        &definition.schedule,
        duration,
        &[],
    );
    let to = today().checked_add_days(Days::new(days)).unwrap_or(today());
    calendar
        .slots(today(), to, now())
        .iter()
        .map(|slot| slot.start.to_rfc3339())
        .collect()
}

impl World {
    /// Creates the database and everything in it. `separate` wide calendars are added for the
    /// run without a shared tenant lock.
    pub async fn create(separate: usize) -> Result<Self> {
        let db = TestDb::new().await;
        let mut conn = db.connection().await;

        let wide = wide_calendar("wide")?;
        let loaded = load(&db, &wide).await;
        let booking = Bench {
            tenant_id: loaded.tenant_id,
            service_id: service(&loaded, "session"),
            slots: free_slots(&wide, 30, 380),
        };

        let reference = reference_calendar()?;
        let loaded = load(&db, &reference).await;
        let availability = Bench {
            tenant_id: loaded.tenant_id,
            service_id: service(&loaded, "haircut"),
            slots: Vec::new(),
        };
        seed(
            &mut conn,
            &availability,
            JOBS_PER_TENANT,
            AVAILABILITY_DAYS as i32,
            true,
        )
        .await?;

        for index in 0..OTHER_TENANTS {
            let loaded = load(
                &db,
                &salon(&format!("other-{index:02}"), BookingSettings::default()),
            )
            .await;
            let other = Bench {
                tenant_id: loaded.tenant_id,
                service_id: service(&loaded, "haircut"),
                slots: Vec::new(),
            };
            seed(&mut conn, &other, JOBS_PER_TENANT, 180, false).await?;
        }

        let mut tenants = Vec::with_capacity(separate);
        for index in 0..separate {
            let definition = wide_calendar(&format!("wide-{index:02}"))?;
            let loaded = load(&db, &definition).await;
            tenants.push(Bench {
                tenant_id: loaded.tenant_id,
                service_id: service(&loaded, "session"),
                slots: free_slots(&definition, 30, 60),
            });
        }
        let mut definition = wide_calendar("staffed")?;
        definition.staff = (0..STAFF)
            .map(|index| StaffDefinition {
                slug: format!("person-{index}"),
                name: format!("Person {index}"),
                email: None,
                capacity: StaffCapacity::ONE,
                active: true,
                working_hours: None,
                date_overrides: Schedule::new(),
                services: vec!["session".to_owned()],
            })
            .collect();
        let loaded = load(&db, &definition).await;
        let staffed = Bench {
            tenant_id: loaded.tenant_id,
            service_id: service(&loaded, "session"),
            slots: free_slots(&definition, 30, 380)
                .into_iter()
                .flat_map(|start| std::iter::repeat_n(start, STAFF))
                .collect(),
        };
        let staff = loaded.staff.values().copied().collect();

        let loaded = load(&db, &many_staff_calendar()?).await;
        let many_staff = Bench {
            tenant_id: loaded.tenant_id,
            service_id: service(&loaded, "haircut"),
            slots: Vec::new(),
        };
        seed(
            &mut conn,
            &many_staff,
            STAFFED_JOBS,
            AVAILABILITY_DAYS as i32,
            true,
        )
        .await?;
        // Each seeded job to one of the people, evenly.
        diesel::sql_query(
            "UPDATE jobs SET staff_id = people.ids[1 + abs(hashtext(jobs.id::text)) % $2] \
             FROM (SELECT array_agg(id ORDER BY slug) AS ids FROM staff WHERE tenant_id = $1) people \
             WHERE jobs.tenant_id = $1",
        )
        .bind::<SqlUuid, _>(many_staff.tenant_id)
        .bind::<Integer, _>(MANY_STAFF as i32)
        .execute(&mut conn)
        .await?;
        // As a live table is: statistics current, visibility map set (index-only scans possible).
        diesel::sql_query("VACUUM ANALYZE")
            .execute(&mut conn)
            .await?;
        Ok(Self {
            db,
            booking,
            availability,
            separate: tenants,
            staffed,
            staff,
            many_staff,
        })
    }

    /// One Lambda container: its own deps, its own one-connection pool, the fixed clock, and an
    /// in-memory mailer (SES is not part of any measurement).
    pub fn container(&self) -> Result<Deps> {
        container(&self.db.url)
    }

    /// [`World::container`] whose in-memory mailer waits `latency` on every call.
    pub fn container_with_mail_latency(&self, latency: std::time::Duration) -> Result<Deps> {
        container_with(&self.db.url, Mailer::in_memory().with_latency(latency))
    }

    /// Drops the database (best effort: the throwaway cluster goes anyway).
    pub async fn drop_database(self) {
        let server = with_database(&self.db.url, "postgres");
        if let Ok(mut admin) =
            <booking_repository::AsyncPgConnection as booking_repository::diesel_async::AsyncConnection>::establish(&server).await
        {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.db.name
            ))
            .execute(&mut admin)
            .await;
        }
    }
}

pub fn config(url: &str) -> Result<Config> {
    let url = url.to_owned();
    Ok(Config::from_lookup(move |name| match name {
        "DATABASE_URL" => Some(url.clone()),
        _ => None,
    })?)
}

pub fn container(url: &str) -> Result<Deps> {
    container_with(url, Mailer::in_memory())
}

fn container_with(url: &str, mailer: Mailer) -> Result<Deps> {
    let at = now();
    Ok(Deps::new(config(url)?, Arc::new(move || at), mailer)?)
}

/// `count` jobs (45 minutes each, on a 15-minute grid, spread by a hash) over `days` days from
/// today, with 200 contacts and one sent mail per job. `active_only`: all scheduled; otherwise
/// a mix of the five statuses.
async fn seed(
    conn: &mut booking_repository::AsyncPgConnection,
    tenant: &Bench,
    count: i32,
    days: i32,
    active_only: bool,
) -> Result<()> {
    let origin = ZONE
        .from_local_datetime(&today().and_time(chrono::NaiveTime::MIN))
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(now);
    diesel::sql_query(
        "INSERT INTO contacts (tenant_id, email, name, phone) \
         SELECT $1, 'client' || g || '@seed-' || left($1::text, 8) || '.example', 'Client ' || g, \
                '+1 555 ' || lpad(g::text, 4, '0') \
         FROM generate_series(1, 200) g",
    )
    .bind::<SqlUuid, _>(tenant.tenant_id)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "INSERT INTO jobs (tenant_id, service_id, contact_id, title, starts_at, ends_at, status, \
                           source, changed_by, client_name) \
         SELECT $1, $2, c.ids[1 + g % array_length(c.ids, 1)], 'Seeded job ' || g, t.s, \
                t.s + interval '45 minutes', \
                CASE WHEN $5 THEN 'scheduled' \
                     ELSE (ARRAY['scheduled', 'completed', 'cancelled', 'pending-confirmation', \
                                 'scheduled', 'completed'])[1 + g % 6] END, \
                'hand-entered', 'seed', 'Seeded client ' || g \
         FROM generate_series(1, $6) g \
         CROSS JOIN (SELECT array_agg(id ORDER BY email) AS ids FROM contacts WHERE tenant_id = $1) c \
         CROSS JOIN LATERAL (SELECT $3 + make_interval(mins => \
                                 (abs(hashint4(g + hashtext($1::text))) % ($4 * 96)) * 15) AS s) t",
    )
    .bind::<SqlUuid, _>(tenant.tenant_id)
    .bind::<SqlUuid, _>(tenant.service_id)
    .bind::<Timestamptz, _>(origin)
    .bind::<Integer, _>(days)
    .bind::<Bool, _>(active_only)
    .bind::<Integer, _>(count)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "INSERT INTO emails (tenant_id, job_id, kind, status, attempts, ses_message_id, sent_at) \
         SELECT tenant_id, id, 'client-booked', 'sent', 1, 'seed-' || id, now() \
         FROM jobs WHERE tenant_id = $1",
    )
    .bind::<SqlUuid, _>(tenant.tenant_id)
    .execute(conn)
    .await?;
    Ok(())
}

const BOOK_EVENT: &str = include_str!("../events/http-v2-book.json");
const AVAILABILITY_EVENT: &str = include_str!("../events/http-v2-availability.json");

/// `POST /services/{id}/book` as API Gateway's HTTP API (v2) delivers it, as JSON. Every
/// client comes from an address of its own (`client` numbers it), as distinct people do: the
/// per-address rate limit then counts, but never refuses.
pub fn book_event(service: Uuid, start: &str, email: &str, client: usize) -> String {
    book_event_with_headers(service, start, email, client, "")
}

/// [`book_event`] naming a staff member.
pub fn book_event_for(
    service: Uuid,
    start: &str,
    email: &str,
    client: usize,
    staff: Uuid,
) -> String {
    let body = json!({
        "start": start,
        "name": "Load Client",
        "email": email,
        "staffId": staff,
    })
    .to_string();
    BOOK_EVENT
        .replace("SERVICE_ID", &service.to_string())
        .replace("HEADERS", "")
        .replace("BODY", &Value::String(body).to_string())
        .replace("203.0.113.7", &client_address(client))
}

/// [`book_event`] with an `Idempotency-Key` header.
pub fn book_event_with_key(
    service: Uuid,
    start: &str,
    email: &str,
    client: usize,
    key: &str,
) -> String {
    let header = format!(
        ",\n    \"idempotency-key\": {}",
        Value::String(key.to_owned())
    );
    book_event_with_headers(service, start, email, client, &header)
}

fn book_event_with_headers(
    service: Uuid,
    start: &str,
    email: &str,
    client: usize,
    headers: &str,
) -> String {
    let body = json!({
        "start": start,
        "name": "Load Client",
        "email": email,
        "phone": "+1 555 0100",
    })
    .to_string();
    BOOK_EVENT
        .replace("SERVICE_ID", &service.to_string())
        .replace("HEADERS", headers)
        .replace("BODY", &Value::String(body).to_string())
        .replace("203.0.113.7", &client_address(client))
}

/// A distinct address per client, from the benchmarking range (198.18.0.0/15); nothing is sent
/// to it, it only keys the rate limit.
fn client_address(client: usize) -> String {
    format!(
        "198.{}.{}.{}",
        18 + (client >> 16) % 2,
        (client >> 8) % 256,
        client % 256
    )
}

/// `GET /services/{id}/availability?from&to` as the HTTP API (v2) delivers it, as JSON.
pub fn availability_event(service: Uuid, from: NaiveDate, to: NaiveDate) -> String {
    let (from, to) = (from.to_string(), to.to_string());
    AVAILABILITY_EVENT
        .replace("SERVICE_ID", &service.to_string())
        .replace("RAW_QUERY", &format!("from={from}&to={to}"))
        .replace("QUERY", &json!({"from": from, "to": to}).to_string())
}

pub fn request(event: &str) -> Result<Request> {
    Ok(lambda_http::request::from_str(event)?)
}

/// `event` sent by the `client`th distinct client, so the per-address limits count but never
/// refuse (as with [`book_event`]).
pub fn as_client(event: &str, client: usize) -> String {
    event.replace("203.0.113.7", &client_address(client))
}

/// The reference availability request: 31 days from today.
pub fn reference_availability_event(world: &World) -> String {
    month_of_availability(world.availability.service_id)
}

/// `GET /services/{service}/availability` over [`AVAILABILITY_DAYS`] from today.
pub fn month_of_availability(service: Uuid) -> String {
    let to = today()
        .checked_add_days(Days::new(AVAILABILITY_DAYS - 1))
        .unwrap_or(today());
    availability_event(service, today(), to)
}
