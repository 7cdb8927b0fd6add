//! The tenant guard: the one lock every change of a tenant's jobs takes first.
//!
//! A booking, a confirmation, a decline, a hand-entered job (and every later change) takes its
//! tenant's lock before it reads capacity, so capacity checks and inserts of one tenant never
//! interleave, across any number of Lambda containers. The lock is a transaction-level advisory
//! lock on the tenant's key (class [`TENANT_LOCK_CLASS`], the hash of its id), not a row lock,
//! for one reason: a request that finds it taken can wait for the holder to finish *without
//! queueing behind it* ([`wait_for_holder`], a shared lock the holders of which never exclude
//! one another), then judge its request from what the holder committed — so a storm's refusals
//! are decided side by side instead of one after another. Advisory locks write nothing and need
//! no transaction id.
//!
//! Until no function of the release before this one can run, the guard also locks the tenant's
//! row `FOR NO KEY UPDATE` (that release's guard) once it holds the advisory lock, so during a
//! rolling deploy an old and a new function never judge one tenant under different locks. Both
//! are always taken in that order — the advisory lock, then the row; a tenant load takes the
//! advisory lock before it writes the tenant row — so nothing waits on the two in opposite orders.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::catalog::{Service, Tenant, TenantRow, bookable_service_on};
use crate::schema::tenants;

/// The advisory-lock class of tenant locks (two-key form: never overlaps the one-key locks).
pub const TENANT_LOCK_CLASS: i32 = 0x7465_6e74;

/// Takes the tenant's lock (and its row's, see the module) until the transaction ends.
#[tracing::instrument(level = "trace", name = "tenant guard", skip_all)]
pub(crate) async fn lock(mut conn: &AsyncPgConnection, tenant_id: Uuid) -> QueryResult<()> {
    diesel::sql_query(
        "SELECT tenants.id FROM pg_advisory_xact_lock($1, hashtext($2::text)) AS advisory, tenants \
         WHERE tenants.id = $2 FOR NO KEY UPDATE OF tenants",
    )
    .bind::<Integer, _>(TENANT_LOCK_CLASS)
    .bind::<SqlUuid, _>(tenant_id)
    .execute(&mut conn)
    .await
    .map(drop)
}

/// [`lock`] by the tenant's slug, for a tenant load (nothing when there is no such tenant yet).
pub(crate) async fn lock_by_slug(conn: &mut AsyncPgConnection, slug: &str) -> QueryResult<()> {
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock($1, hashtext(id::text)) FROM tenants WHERE slug = $2",
    )
    .bind::<Integer, _>(TENANT_LOCK_CLASS)
    .bind::<diesel::sql_types::Text, _>(slug)
    .execute(conn)
    .await
    .map(drop)
}

/// The tenant, its lock held until the transaction ends: the lock and the read in one pipeline
/// (Postgres runs them in order, so the read sees what the last holder committed).
pub(crate) async fn tenant(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> QueryResult<Option<Tenant>> {
    let shared: &AsyncPgConnection = conn;
    let mut reader = shared;
    let read = async move {
        tenants::table
            .find(tenant_id)
            .select(TenantRow::as_select())
            .first::<TenantRow>(&mut reader)
            .await
            .optional()
    };
    let ((), row) = futures_util::future::try_join(lock(shared, tenant_id), read).await?;
    row.map(Tenant::try_from).transpose()
}

/// A service of the given tenant (active or not) with the tenant, locking the tenant's row (and
/// only that row).
pub(crate) async fn tenant_service(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    service_id: Uuid,
) -> QueryResult<Option<(Tenant, Service)>> {
    if tenant(conn, tenant_id).await?.is_none() {
        return Ok(None);
    }
    crate::catalog::tenant_and_service(conn, tenant_id, service_id).await
}

/// How a request asks for the lock of the tenant owning a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ask {
    /// Wait for it.
    Wait,
    /// Take it only if free at once ([`Locked::Busy`] otherwise).
    Try,
}

/// What asking for a tenant's lock found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locked {
    Held,
    /// Another transaction holds it (only when asked with [`Ask::Try`]).
    Busy,
    /// No such service.
    NoService,
}

/// As [`bookable_service_on`], under the guard. On a shared connection, to pipeline it with the
/// reads that must follow the lock ([`crate::catalog::service_calendar_inputs`]): the lock, then
/// the reads, run in this order, so the reads see what the last holder committed — when the
/// lock was [`Locked::Held`]; otherwise what they read is not to be acted on.
pub(crate) async fn bookable_service(
    conn: &AsyncPgConnection,
    service_id: Uuid,
    ask: Ask,
) -> QueryResult<(Locked, Option<(Tenant, Service)>)> {
    futures_util::future::try_join(
        lock_tenant_of_service(conn, service_id, ask),
        bookable_service_on(conn, service_id),
    )
    .await
}

/// Takes (or tries) the lock of the tenant that owns `service_id`.
#[tracing::instrument(level = "trace", name = "tenant guard", skip_all)]
async fn lock_tenant_of_service(
    mut conn: &AsyncPgConnection,
    service_id: Uuid,
    ask: Ask,
) -> QueryResult<Locked> {
    // The row is locked only once the advisory lock is held: a try that finds it taken returns
    // no row at once instead of queueing for the row. A service performed by staff takes no lock
    // here (its bookings guard their person, crate::changes::staffed): the caller tells it
    // apart by [`crate::staff::performed_by_staff`] pipelined after this.
    let statement = match ask {
        Ask::Wait => {
            "WITH owner AS MATERIALIZED (SELECT tenant_id FROM services WHERE id = $2 \
             AND NOT EXISTS (SELECT 1 FROM staff_services WHERE service_id = $2)) \
             SELECT true AS held FROM owner, \
             pg_advisory_xact_lock($1, hashtext(owner.tenant_id::text)) AS advisory, tenants \
             WHERE tenants.id = owner.tenant_id FOR NO KEY UPDATE OF tenants"
        }
        // The try is a condition on the one materialised row: never evaluated for another tenant.
        Ask::Try => {
            "WITH owner AS MATERIALIZED (SELECT tenant_id FROM services WHERE id = $2 \
             AND NOT EXISTS (SELECT 1 FROM staff_services WHERE service_id = $2)) \
             SELECT true AS held FROM owner JOIN tenants ON tenants.id = owner.tenant_id \
             WHERE pg_try_advisory_xact_lock($1, hashtext(owner.tenant_id::text)) \
             FOR NO KEY UPDATE OF tenants"
        }
    };
    let held: Option<Held> = diesel::sql_query(statement)
        .bind::<Integer, _>(TENANT_LOCK_CLASS)
        .bind::<SqlUuid, _>(service_id)
        .get_result(&mut conn)
        .await
        .optional()?;
    Ok(match (held, ask) {
        (Some(_), _) => Locked::Held,
        // The service's own read, pipelined beside this, tells a missing service apart.
        (None, Ask::Try) => Locked::Busy,
        (None, Ask::Wait) => Locked::NoService,
    })
}

#[derive(QueryableByName)]
struct Held {
    #[diesel(sql_type = Bool)]
    #[allow(dead_code)] // Its row is the answer.
    held: bool,
}

/// Waits until no transaction holds the lock of the tenant owning `service_id`, without taking
/// it: a session-level shared lock taken and dropped at once (shared holders never wait for one
/// another, only for the holder of the lock itself). Outside any transaction, so the reads
/// pipelined after it see what the holder committed.
#[tracing::instrument(level = "trace", name = "wait for the tenant guard's holder", skip_all)]
pub(crate) async fn wait_for_holder(
    mut conn: &AsyncPgConnection,
    service_id: Uuid,
) -> QueryResult<()> {
    diesel::sql_query(
        "SELECT pg_advisory_lock_shared($1, key), pg_advisory_unlock_shared($1, key) \
         FROM (SELECT hashtext(tenant_id::text) AS key FROM services WHERE id = $2) AS tenant",
    )
    .bind::<Integer, _>(TENANT_LOCK_CLASS)
    .bind::<SqlUuid, _>(service_id)
    .execute(&mut conn)
    .await
    .map(drop)
}
