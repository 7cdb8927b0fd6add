//! Clients of a tenant, one per case-insensitive email.

use booking_domain::{ClientEmail, ClientName, Phone};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use diesel::upsert::on_constraint;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::jobs::ContactRow;
use crate::schema::contacts;

/// The client a new job is for, as given with it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GivenClient<'a> {
    pub email: &'a ClientEmail,
    pub name: &'a ClientName,
    pub phone: Option<&'a Phone>,
}

/// Finds or creates the contact of `client`. Anybody can type an address, so this never
/// rewrites what the contact holds: it only fills a phone the contact lacks (a job keeps its own
/// copy of the name and phone it was made with). Returns the contact's id and what a job shows
/// of it; on a shared connection, to pipeline it with the job's insert.
#[tracing::instrument(level = "trace", name = "contact upsert", skip_all)]
pub(crate) async fn upsert(
    mut conn: &AsyncPgConnection,
    tenant_id: Uuid,
    client: GivenClient<'_>,
) -> QueryResult<(Uuid, ContactRow)> {
    diesel::insert_into(contacts::table)
        .values((
            contacts::tenant_id.eq(tenant_id),
            contacts::email.eq(client.email.as_str()),
            contacts::name.eq(client.name.as_str()),
            contacts::phone.eq(client.phone.map(Phone::as_str)),
        ))
        .on_conflict(on_constraint("contacts_tenant_email_key"))
        .do_update()
        .set(contacts::phone.eq(sql::<Nullable<Text>>(
            "coalesce(contacts.phone, excluded.phone)",
        )))
        .returning((contacts::id, ContactRow::as_returning()))
        .get_result(&mut conn)
        .await
}

/// A contact as the owner's address book shows it: who, and how many jobs they have had.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct ContactSummary {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub email: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub phone: Option<String>,
    /// Jobs of any status.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub job_count: i64,
    /// The latest job start.
    #[diesel(sql_type = Nullable<diesel::sql_types::Timestamptz>)]
    pub last_start: Option<chrono::DateTime<chrono::Utc>>,
    /// Erased at the person's request: the name is a placeholder and the address nobody's.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub erased: bool,
}

/// The contacts columns and their job counts, for a `FROM contacts` in `$1`'s tenant.
const SUMMARY: &str = "\
    SELECT contacts.id, contacts.name, contacts.email, contacts.phone, \
           held.job_count, held.last_start, contacts.erased_at IS NOT NULL AS erased \
    FROM contacts \
    CROSS JOIN LATERAL (SELECT count(*) AS job_count, max(jobs.starts_at) AS last_start \
                        FROM jobs WHERE jobs.contact_id = contacts.id) AS held \
    WHERE contacts.tenant_id = $1";

/// `text` as a LIKE pattern matching itself anywhere (its `%`, `_` and `\` taken literally).
fn substring_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A page of the tenant's contacts whose name or email holds `search` (any case), in (lower
/// name, id) order, strictly after the contact `after`; at most `limit + 1` (the extra one tells
/// the caller there is a next page).
#[tracing::instrument(level = "trace", name = "contact list", skip_all)]
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    search: Option<&str>,
    after: Option<Uuid>,
    limit: u32,
) -> QueryResult<Vec<ContactSummary>> {
    let query = format!(
        "{SUMMARY} \
         AND ($2::text IS NULL OR contacts.name ILIKE $2 OR contacts.email ILIKE $2) \
         AND ($3::uuid IS NULL OR (lower(contacts.name), contacts.id) > \
              (SELECT lower(c.name), c.id FROM contacts c WHERE c.id = $3 AND c.tenant_id = $1)) \
         ORDER BY lower(contacts.name), contacts.id LIMIT $4"
    );
    diesel::sql_query(query)
        .bind::<diesel::sql_types::Uuid, _>(tenant_id)
        .bind::<Nullable<Text>, _>(search.map(substring_pattern))
        .bind::<Nullable<diesel::sql_types::Uuid>, _>(after)
        .bind::<diesel::sql_types::BigInt, _>(i64::from(limit) + 1)
        .load(conn)
        .await
}

/// One of the tenant's contacts; another tenant's is `None`, exactly as a missing one.
pub async fn find(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    contact_id: Uuid,
) -> QueryResult<Option<ContactSummary>> {
    diesel::sql_query(format!("{SUMMARY} AND contacts.id = $2"))
        .bind::<diesel::sql_types::Uuid, _>(tenant_id)
        .bind::<diesel::sql_types::Uuid, _>(contact_id)
        .get_result(conn)
        .await
        .optional()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_search_matches_its_wildcards_literally() {
        assert_eq!(super::substring_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
