//! Moving in from another system: existing appointments imported into a tenant, in one
//! transaction under the tenant guard. Each row names its old system's id (`external_id`), so a
//! re-run skips what is already in; a row whose service is unknown, or that would overbook (an
//! active job beyond capacity), is reported with its line — and the import stops unless bad
//! rows are to be skipped. An active job of a service with staff goes to its named person (or
//! whoever is free, as an owner's entry does) beside their other jobs, never beyond their
//! capacity; an unknown person is a bad row. Imported jobs are hand-entered jobs whose history begins with an
//! `entered` by `system`; no mail or webhook is enqueued for them, and the future scheduled
//! ones get the tenant's reminders.

use std::collections::BTreeMap;

use booking_domain::{ClientEmail, ClientName, JobStatus, Notes, Phone};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{OwnerError, guard_capacity, staffed};
use crate::catalog::{self, Service};
use crate::contacts::{self, GivenClient};
use crate::events::NewEvent;
use crate::guard;
use crate::jobs::{self, InsertJob};
use crate::reminders::{self, Armed};
use crate::schema::{job_events, jobs as jobs_table};
use crate::setup::SetupChange;

/// Who an import's jobs and history entries name.
const IMPORTER: &str = "system";

/// One appointment of the old system, parsed.
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// Where it stands in the file, to report it.
    pub line: u64,
    pub external_id: String,
    pub service_slug: String,
    pub name: ClientName,
    pub email: ClientEmail,
    pub phone: Option<Phone>,
    pub notes: Option<Notes>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: JobStatus,
    /// The staff member who does it, by slug.
    pub staff_slug: Option<String>,
}

/// What an import did, for a person to check against the old system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: u32,
    /// Rows whose external id was imported before (a re-run).
    pub already_imported: u32,
    /// Imported jobs by status.
    pub by_status: BTreeMap<&'static str, u32>,
    /// Bad rows skipped (with `skip_bad`): line and why.
    pub skipped: Vec<(u64, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("no tenant with that slug")]
    TenantNotFound,
    /// Bad rows, by line; nothing was imported.
    #[error("{} bad row(s)", .0.len())]
    BadRows(Vec<(u64, String)>),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// Imports `rows` into the tenant `slug` as of `now`.
pub async fn import(
    conn: &mut AsyncPgConnection,
    slug: &str,
    rows: &[ImportRow],
    skip_bad: bool,
    now: DateTime<Utc>,
) -> Result<ImportReport, ImportError> {
    conn.transaction::<_, ImportError, _>(async move |conn| {
        let tenant_id = catalog::tenant_by_slug(conn, slug)
            .await?
            .ok_or(ImportError::TenantNotFound)?
            .id;
        let tenant = guard::tenant(conn, tenant_id)
            .await?
            .ok_or(ImportError::TenantNotFound)?;
        let services: BTreeMap<String, Service> = catalog::services_of(conn, tenant.id)
            .await?
            .into_iter()
            .map(|service| (service.slug.clone(), service))
            .collect();
        let staff: BTreeMap<String, Uuid> = crate::setup::staff_of(conn, tenant.id)
            .await?
            .into_iter()
            .map(|person| (person.slug, person.id))
            .collect();
        let mut report = ImportReport::default();
        let mut bad = Vec::new();
        for row in rows {
            let known: Option<Uuid> = jobs_table::table
                .filter(jobs_table::tenant_id.eq(tenant.id))
                .filter(jobs_table::external_id.eq(&row.external_id))
                .select(jobs_table::id)
                .first(conn)
                .await
                .optional()?;
            if known.is_some() {
                report.already_imported += 1;
                continue;
            }
            let Some(service) = services.get(&row.service_slug) else {
                bad.push((row.line, format!("unknown service `{}`", row.service_slug)));
                continue;
            };
            let named = match &row.staff_slug {
                None => None,
                Some(slug) => match staff.get(slug) {
                    Some(id) => Some(*id),
                    None => {
                        bad.push((row.line, format!("unknown staff member `{slug}`")));
                        continue;
                    }
                },
            };
            let mut staff_id = named;
            if row.status.is_active() {
                let placed = match staffed::assign_by_owner(
                    conn,
                    &tenant,
                    service,
                    (row.start, row.end),
                    named,
                    None,
                )
                .await
                {
                    // A service without staff: the tenant's capacity.
                    Ok(None) => guard_capacity(conn, &tenant, row.start, row.end, None).await,
                    Ok(Some(person)) => {
                        staff_id = Some(person.id);
                        Ok(())
                    }
                    Err(error) => Err(error),
                };
                match placed {
                    Ok(()) => {}
                    Err(OwnerError::StaffNotFound | OwnerError::StaffNotQualified) => {
                        bad.push((
                            row.line,
                            format!(
                                "`{}` is not an active staff member who performs `{}`",
                                row.staff_slug.as_deref().unwrap_or("?"),
                                service.slug
                            ),
                        ));
                        continue;
                    }
                    Err(OwnerError::Conflict { conflicts, .. }) => {
                        let titles: Vec<&str> =
                            conflicts.iter().map(|c| c.title.as_str()).collect();
                        bad.push((
                            row.line,
                            format!("would overbook (conflicts with: {})", titles.join(", ")),
                        ));
                        continue;
                    }
                    Err(OwnerError::Database(error)) => return Err(error.into()),
                    Err(other) => {
                        return Err(ImportError::BadRows(vec![(row.line, other.to_string())]));
                    }
                }
            }
            let client = GivenClient {
                email: &row.email,
                name: &row.name,
                phone: row.phone.as_ref(),
            };
            let contact = contacts::upsert(conn, tenant.id, client).await?;
            let insert = InsertJob {
                tenant_id: tenant.id,
                service_id: service.id,
                title: booking_domain::JobTitle::for_booking(&service.name, &row.name).into_inner(),
                starts_at: row.start,
                ends_at: row.end,
                status: row.status.as_str(),
                notes: row.notes.as_ref().map(|n| n.as_str().to_owned()),
                source: booking_domain::JobSource::HandEntered.as_str(),
                changed_by: IMPORTER.to_owned(),
                client_name: row.name.as_str().to_owned(),
                client_phone: row.phone.as_ref().map(|p| p.as_str().to_owned()),
                staff_id,
            };
            let job = jobs::insert(conn, &insert, contact, tenant.zone).await?;
            diesel::update(jobs_table::table.find(job.id))
                .set(jobs_table::external_id.eq(&row.external_id))
                .execute(conn)
                .await?;
            let event = NewEvent::first(
                tenant.id, job.id, now, IMPORTER, "entered", row.status, row.start, row.end,
            );
            // Inserted as history only: moving in is no news for the tenant's webhooks.
            diesel::insert_into(job_events::table)
                .values(&event)
                .execute(conn)
                .await?;
            // A future scheduled job is reminded as any other (a past or cancelled one never).
            reminders::arm_new(
                conn,
                Armed {
                    tenant_id: tenant.id,
                    job_id: job.id,
                    status: row.status,
                    start: row.start,
                    offsets: &tenant.settings.reminder_minutes_before,
                    now,
                },
            )
            .await?;
            report.imported += 1;
            *report.by_status.entry(row.status.as_str()).or_default() += 1;
        }
        if !bad.is_empty() && !skip_bad {
            return Err(ImportError::BadRows(bad));
        }
        report.skipped = bad;
        let detail = serde_json::json!({
            "imported": report.imported,
            "alreadyImported": report.already_imported,
            "skipped": report.skipped.len(),
        });
        let change = SetupChange {
            tenant_id: tenant.id,
            actor: IMPORTER,
            now,
            detail: &detail,
        };
        crate::setup::record_other(conn, &change, "import").await?;
        Ok(report)
    })
    .await
}
