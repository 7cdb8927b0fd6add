//! The owner starts a job: scheduled → in-progress (also before its start time). No mail.

use booking_domain::JobAction;
use diesel_async::AsyncPgConnection;

use super::{OwnerChange, OwnerError, change_status};
use crate::jobs::JobRecord;

pub async fn start(
    conn: &mut AsyncPgConnection,
    change: OwnerChange<'_>,
) -> Result<JobRecord, OwnerError> {
    change_status(conn, change, JobAction::Start).await
}
