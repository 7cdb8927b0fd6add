//! The owner records that the client did not come: scheduled or in-progress → no-show, only
//! once the job's start has passed (the domain judges that against `now`). Terminal; no mail.

use booking_domain::JobAction;
use diesel_async::AsyncPgConnection;

use super::{OwnerChange, OwnerError, change_status};
use crate::jobs::JobRecord;

pub async fn no_show(
    conn: &mut AsyncPgConnection,
    change: OwnerChange<'_>,
) -> Result<JobRecord, OwnerError> {
    change_status(conn, change, JobAction::NoShow).await
}
