//! Test times in New York, where the reference salon is.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

pub const NEW_YORK: Tz = chrono_tz::America::New_York;

/// The instant of a New York wall time (which must exist and be unambiguous).
pub fn ny(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    NEW_YORK
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("unambiguous test time")
        .with_timezone(&Utc)
}

/// `2026-12-07T10:00:00-05:00` for Monday at ten.
pub fn ny_text(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> String {
    ny(y, mo, d, h, mi).with_timezone(&NEW_YORK).to_rfc3339()
}

/// "Now" in the tests: Friday 2026-12-04 at 09:00 in New York, the Friday before Monday
/// 2026-12-07.
pub fn friday_morning() -> DateTime<Utc> {
    ny(2026, 12, 4, 9, 0)
}
