//! A job's due reminders (the `reminders` table): written by the job's own changes, in their
//! transactions, under the guard and with the job locked. Every change that leaves a job
//! `scheduled` at some start (a booking, an entry by hand, a confirmation, a move) replaces
//! the reminders not yet taken with those of the tenant's offsets still ahead
//! ([`ReminderOffsets::due_times`]); every other change (cancel, decline, start, complete,
//! no-show) leaves none. A reminder the relay already took stays as the record that it was.
//! The relay's side is [`crate::changes::remind`].

use booking_domain::{JobStatus, ReminderOffsets};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Integer, Nullable, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::try_join;
use uuid::Uuid;

use crate::catalog::stored_offsets;
use crate::schema::reminders;

/// The job whose reminders a change writes, as the change leaves it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Armed<'a> {
    pub tenant_id: Uuid,
    pub job_id: Uuid,
    pub status: JobStatus,
    pub start: DateTime<Utc>,
    pub offsets: &'a ReminderOffsets,
    pub now: DateTime<Utc>,
}

/// One reminder to insert.
type ReminderRow = (
    diesel::dsl::Eq<reminders::tenant_id, Uuid>,
    diesel::dsl::Eq<reminders::job_id, Uuid>,
    diesel::dsl::Eq<reminders::offset_minutes, i32>,
    diesel::dsl::Eq<reminders::due_at, DateTime<Utc>>,
);

impl Armed<'_> {
    fn rows(&self) -> Vec<ReminderRow> {
        self.offsets
            .due_times(self.status, self.start, self.now)
            .into_iter()
            .map(|(offset, due)| {
                (
                    reminders::tenant_id.eq(self.tenant_id),
                    reminders::job_id.eq(self.job_id),
                    reminders::offset_minutes.eq(i32::from(offset)),
                    reminders::due_at.eq(due),
                )
            })
            .collect()
    }
}

/// Arms the reminders of a job that has just landed (it has none yet). One statement (none for
/// a job that gets no reminder), on a shared connection to pipeline with the landing's writes.
#[tracing::instrument(level = "trace", name = "reminders insert", skip_all)]
pub(crate) async fn arm_new(mut conn: &AsyncPgConnection, armed: Armed<'_>) -> QueryResult<()> {
    let rows = armed.rows();
    if rows.is_empty() {
        return Ok(());
    }
    diesel::insert_into(reminders::table)
        .values(&rows)
        .on_conflict_do_nothing()
        .execute(&mut conn)
        .await
        .map(drop)
}

/// Replaces the job's reminders not yet taken with those `armed` gives (none unless it is
/// scheduled): two statements, pipelined (Postgres runs the delete first). A reminder already
/// taken for the same moment is not armed again.
#[tracing::instrument(level = "trace", name = "reminders replaced", skip_all)]
pub(crate) async fn rearm(conn: &AsyncPgConnection, armed: Armed<'_>) -> QueryResult<()> {
    let delete = async {
        let mut conn = conn;
        diesel::delete(
            reminders::table
                .filter(reminders::job_id.eq(armed.job_id))
                .filter(reminders::taken_at.is_null()),
        )
        .execute(&mut conn)
        .await
    };
    let ((), ()) = try_join(async { delete.await.map(drop) }, arm_new(conn, armed)).await?;
    Ok(())
}

/// Replaces the reminders of every scheduled job of the tenant starting after `now` by those of
/// `offsets` (after the tenant's offsets changed; `None`: the transaction's start, for a tenant
/// file loaded by an operator). Two statements; call it under the tenant's guard. Jobs that
/// already started keep what they have. Returns how many reminders are armed.
pub async fn rearm_tenant(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    offsets: &ReminderOffsets,
    now: Option<DateTime<Utc>>,
) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM reminders USING jobs \
         WHERE reminders.tenant_id = $1 AND reminders.taken_at IS NULL \
           AND jobs.id = reminders.job_id AND jobs.starts_at > coalesce($2, now())",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<Nullable<Timestamptz>, _>(now)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "INSERT INTO reminders (tenant_id, job_id, offset_minutes, due_at) \
         SELECT jobs.tenant_id, jobs.id, offsets.minutes, \
                jobs.starts_at - make_interval(mins => offsets.minutes) \
         FROM jobs CROSS JOIN unnest($3::int[]) AS offsets(minutes) \
         WHERE jobs.tenant_id = $1 AND jobs.status = 'scheduled' \
           AND jobs.starts_at - make_interval(mins => offsets.minutes) > coalesce($2, now()) \
         ON CONFLICT DO NOTHING",
    )
    .bind::<SqlUuid, _>(tenant_id)
    .bind::<Nullable<Timestamptz>, _>(now)
    .bind::<Array<Integer>, _>(stored_offsets(offsets))
    .execute(conn)
    .await
}

/// One reminder as the tables hold it (for tests and the owner's tools).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = reminders, check_for_backend(diesel::pg::Pg))]
pub struct Reminder {
    pub offset_minutes: i32,
    pub due_at: DateTime<Utc>,
    pub taken_at: Option<DateTime<Utc>>,
}

/// The job's reminders, armed and taken, by due time.
pub async fn for_job(conn: &mut AsyncPgConnection, job_id: Uuid) -> QueryResult<Vec<Reminder>> {
    reminders::table
        .filter(reminders::job_id.eq(job_id))
        .order((reminders::due_at, reminders::offset_minutes))
        .select(Reminder::as_select())
        .load(conn)
        .await
}
