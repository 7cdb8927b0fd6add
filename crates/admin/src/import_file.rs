//! The appointments file of `scripts/tenant import SLUG FILE.csv`: a header line, then one
//! appointment per line. Columns (by name, any order; `end` or `duration_minutes`, not both):
//!
//! | column | |
//! |---|---|
//! | `external_id` | the old system's id of the appointment (a re-run skips it) |
//! | `client_name`, `email`, `phone`? | the client |
//! | `service` | the service's slug in this tenant |
//! | `start` | RFC 3339 with offset, `2026-12-07T10:00:00-05:00` |
//! | `end` or `duration_minutes` | RFC 3339, or minutes |
//! | `status` | `scheduled`, `pending-confirmation`, `in-progress`, `completed`, `cancelled`, `no-show` |
//! | `notes`? | free text |
//! | `staff`? | the slug of the staff member who does it (none: an active job of a service with
//! staff goes to whoever is free, as an owner's entry does) |
//!
//! Read with the `csv` crate (BurntSushi's, the Rust ecosystem's standard reader: quoting,
//! embedded newlines and line positions done right).

use booking_domain::{ClientEmail, ClientName, JobStatus, Notes, Phone};
use booking_repository::changes::ImportRow;
use chrono::{DateTime, Duration, Utc};

#[derive(Debug, serde::Deserialize)]
struct Record {
    external_id: String,
    client_name: String,
    email: String,
    #[serde(default)]
    phone: Option<String>,
    service: String,
    start: String,
    #[serde(default)]
    end: Option<String>,
    #[serde(default)]
    duration_minutes: Option<String>,
    status: String,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    staff: Option<String>,
}

fn instant(what: &str, raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{what} `{raw}` is not an RFC 3339 instant with offset"))
}

fn blank(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

fn row(line: u64, record: Record) -> Result<ImportRow, String> {
    let external_id = record.external_id.trim().to_owned();
    if external_id.is_empty() || external_id.chars().count() > 200 {
        return Err("external_id must be 1–200 characters".to_owned());
    }
    let start = instant("start", &record.start)?;
    let end = match (blank(record.end), blank(record.duration_minutes)) {
        (Some(end), None) => instant("end", &end)?,
        (None, Some(minutes)) => {
            let minutes: i64 = minutes
                .trim()
                .parse()
                .map_err(|_| format!("duration_minutes `{minutes}` is not a number"))?;
            booking_domain::setup::duration_minutes(minutes)?;
            start + Duration::minutes(minutes)
        }
        _ => return Err("give exactly one of end and duration_minutes".to_owned()),
    };
    if end <= start || end - start > Duration::days(1) {
        return Err("end must be after start, at most a day later".to_owned());
    }
    let status = JobStatus::parse(record.status.trim())
        .ok_or_else(|| format!("status `{}` is not a job status", record.status))?;
    let field = |e: booking_domain::FieldError| e.to_string();
    Ok(ImportRow {
        line,
        external_id,
        service_slug: record.service.trim().to_owned(),
        name: ClientName::parse(&record.client_name).map_err(field)?,
        email: ClientEmail::parse(&record.email).map_err(field)?,
        phone: blank(record.phone)
            .map(|p| Phone::parse(&p))
            .transpose()
            .map_err(field)?,
        notes: blank(record.notes)
            .map(|n| Notes::parse(&n))
            .transpose()
            .map_err(field)?,
        start,
        end,
        status,
        staff_slug: blank(record.staff).map(|slug| slug.trim().to_owned()),
    })
}

/// The file's rows, or every line that cannot be read, with its number.
pub fn parse(text: &str) -> Result<Vec<ImportRow>, Vec<(u64, String)>> {
    let (rows, bad) = read(text);
    if bad.is_empty() { Ok(rows) } else { Err(bad) }
}

/// The rows that can be read (the others are reported by [`parse`]).
pub fn parse_lenient(text: &str) -> Vec<ImportRow> {
    read(text).0
}

fn read(text: &str) -> (Vec<ImportRow>, Vec<(u64, String)>) {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::Headers)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(headers) => headers.clone(),
        Err(error) => return (Vec::new(), vec![(1, error.to_string())]),
    };
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    for result in reader.records() {
        match result {
            Ok(record) => {
                // The line the record starts on (the header is line 1).
                let line = record.position().map(|p| p.line()).unwrap_or_default();
                match record
                    .deserialize::<Record>(Some(&headers))
                    .map_err(|e| e.to_string())
                    .and_then(|parsed| row(line, parsed))
                {
                    Ok(parsed) => rows.push(parsed),
                    Err(why) => bad.push((line, why)),
                }
            }
            Err(error) => {
                let line = error.position().map(|p| p.line()).unwrap_or_default();
                bad.push((line, error.to_string()));
            }
        }
    }
    (rows, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_by_header_and_bad_lines_are_named() {
        let file = "external_id,client_name,email,phone,service,start,duration_minutes,status,notes\n\
                    a1,Jane Roe,jane@x.io,,haircut,2026-12-07T10:00:00-05:00,45,scheduled,\n\
                    a2,Joe,joe@x.io,+1 555,haircut,2026-11-07T10:00:00-05:00,45,finished,\n";
        let bad = parse(file).err().unwrap_or_default();
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 3);
        assert!(bad[0].1.contains("finished"));
        let good = parse(&file.replace("finished", "completed")).unwrap_or_default();
        assert_eq!(good.len(), 2);
        assert_eq!((good[0].end - good[0].start).num_minutes(), 45);
    }
}
