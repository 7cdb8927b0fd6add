//! The tenant guard: the one lock every change of a tenant's jobs takes first.
//!
//! A booking, a confirmation, a decline, a hand-entered job (and every later change) locks its
//! tenant's row `FOR NO KEY UPDATE` before it reads capacity, so capacity checks and inserts of
//! one tenant never interleave, across any number of Lambda containers. Only the tenant's row is
//! locked (never a service's, never in a join), and a tenant load writes the tenant row before
//! its services: locks are always taken tenant first, so two transactions can never wait on
//! each other in opposite orders (no deadlock).

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::catalog::{Service, ServiceRow, Tenant, TenantRow, bookable_service_on, pair};
use crate::schema::{services, tenants};

/// The tenant, its row locked until the transaction ends.
pub(crate) async fn tenant(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> QueryResult<Option<Tenant>> {
    tenants::table
        .find(tenant_id)
        .select(TenantRow::as_select())
        .for_no_key_update()
        .first::<TenantRow>(conn)
        .await
        .optional()?
        .map(Tenant::try_from)
        .transpose()
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
    services::table
        .inner_join(tenants::table)
        .filter(services::id.eq(service_id))
        .filter(services::tenant_id.eq(tenant_id))
        .select((TenantRow::as_select(), ServiceRow::as_select()))
        .first::<(TenantRow, ServiceRow)>(conn)
        .await
        .optional()?
        .map(pair)
        .transpose()
}

/// As [`bookable_service_on`], under the guard. On a shared connection, to pipeline it with the
/// reads that must follow the lock ([`crate::catalog::service_calendar_inputs`]).
pub(crate) async fn bookable_service(
    conn: &AsyncPgConnection,
    service_id: Uuid,
) -> QueryResult<Option<(Tenant, Service)>> {
    // The lock, then the read: one pipeline, run in this order, so the read sees what the last
    // holder of the lock committed.
    let (_, found) = futures_util::future::try_join(
        lock_tenant_of_service(conn, service_id),
        bookable_service_on(conn, service_id),
    )
    .await?;
    Ok(found)
}

/// Locks the row of the tenant that owns `service_id`.
#[tracing::instrument(level = "trace", name = "tenant guard (FOR NO KEY UPDATE)", skip_all)]
async fn lock_tenant_of_service(
    mut conn: &AsyncPgConnection,
    service_id: Uuid,
) -> QueryResult<Option<Uuid>> {
    let owner = services::table
        .filter(services::id.eq(service_id))
        .select(services::tenant_id)
        .single_value();
    tenants::table
        .filter(tenants::id.nullable().eq(owner))
        .select(tenants::id)
        .for_no_key_update()
        .first(&mut conn)
        .await
        .optional()
}
