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
