//! The owner completes a job: scheduled or in-progress → completed; the place it held is no
//! longer counted. No mail.

use booking_domain::JobAction;
use diesel_async::AsyncPgConnection;

use super::{OwnerChange, OwnerError, change_status};
use crate::jobs::JobRecord;

pub async fn complete(
    conn: &mut AsyncPgConnection,
    change: OwnerChange<'_>,
) -> Result<JobRecord, OwnerError> {
    change_status(conn, change, JobAction::Complete).await
}
