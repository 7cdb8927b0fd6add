//! Tenant membership: which tenant a user of an external identity provider acts for.

use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{tenant_members, tenants};

/// The tenant the user `subject` of `issuer` belongs to, if any (one primary-key lookup).
pub async fn tenant_of(
    conn: &mut AsyncPgConnection,
    issuer: &str,
    subject: &str,
) -> QueryResult<Option<Uuid>> {
    tenant_members::table
        .find((issuer, subject))
        .select(tenant_members::tenant_id)
        .first(conn)
        .await
        .optional()
}

/// Makes the user a member of the tenant `slug` (moving them if they belonged to another).
/// `None` when no tenant has that slug.
pub async fn add(
    conn: &mut AsyncPgConnection,
    slug: &str,
    issuer: &str,
    subject: &str,
) -> QueryResult<Option<Uuid>> {
    let tenant = tenants::table.filter(tenants::slug.eq(slug)).select((
        tenants::id,
        issuer.into_sql::<diesel::sql_types::Text>(),
        subject.into_sql::<diesel::sql_types::Text>(),
    ));
    diesel::insert_into(tenant_members::table)
        .values(tenant)
        .into_columns((
            tenant_members::tenant_id,
            tenant_members::issuer,
            tenant_members::subject,
        ))
        .on_conflict((tenant_members::issuer, tenant_members::subject))
        .do_update()
        .set(tenant_members::tenant_id.eq(excluded(tenant_members::tenant_id)))
        .returning(tenant_members::tenant_id)
        .get_result(conn)
        .await
        .optional()
}

/// Ends the user's membership; `false` when they had none.
pub async fn remove(
    conn: &mut AsyncPgConnection,
    issuer: &str,
    subject: &str,
) -> QueryResult<bool> {
    let removed = diesel::delete(tenant_members::table.find((issuer, subject)))
        .execute(conn)
        .await?;
    Ok(removed > 0)
}
