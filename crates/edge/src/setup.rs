//! A business's setup read from JSON into checked values: the tenant file of `scripts/tenant
//! load` and the bodies of the owner's setup routes (`PATCH /tenant`, `PUT
//! /tenant/working-hours`, `PUT /tenant/date-overrides/{date}`, `POST`/`PATCH /services`,
//! `POST`/`PATCH /staff`, `PUT /staff/{id}/working-hours` and its date overrides) go through
//! these same functions, so a value one refuses the other refuses with the same message. The rules themselves are the domain's ([`booking_domain::setup`]).
//!
//! Every function reports every problem it finds (a list of [`FieldError`]s, `field` as the API
//! spells it), never only the first.

use booking_domain::setup::{self as rules, weekday};
use booking_domain::{
    BookingSettings, FieldError, MailAddress, ReminderOffsets, Schedule, SettingsPatch,
    StaffCapacity, WEEK, WorkingInterval, display_name, written_intervals,
};
use booking_repository::tenant_setup::{ServiceDefinition, StaffDefinition, TenantDefinition};
use chrono::{DateTime, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;
use serde_json::{Map, Value};

/// The settings a tenant has, as the file and the API spell them.
pub const SETTING_KEYS: [&str; 12] = [
    "requireConfirmation",
    "allowSameDay",
    "minNoticeMinutes",
    "maxAdvanceDays",
    "maxBookingsPerSlot",
    "slotIntervalMinutes",
    "bufferBeforeMinutes",
    "bufferAfterMinutes",
    "changeNoticeMinutes",
    "clientCanCancel",
    "clientCanReschedule",
    "reminderMinutesBefore",
];

/// Collects errors while values are read.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn keep<T>(&mut self, field: &'static str, result: Result<T, String>) -> Option<T> {
        result
            .map_err(|message| self.0.push(FieldError::new(field, message)))
            .ok()
    }

    fn keep_all<T>(&mut self, result: Result<T, Vec<FieldError>>) -> Option<T> {
        result.map_err(|errors| self.0.extend(errors)).ok()
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, Vec<FieldError>> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ if self.0.is_empty() => Err(vec![FieldError::new("body", "is incomplete")]),
            _ => Err(self.0),
        }
    }
}

fn text<'v>(field: &str, value: &'v Value) -> Result<&'v str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{field} must be a string"))
}

/// Refuses the keys of `object` that are not in `known`, naming each.
fn known_keys(
    problems: &mut Problems,
    field: &'static str,
    object: &Map<String, Value>,
    known: &[&str],
) {
    for key in object.keys().filter(|key| !known.contains(&key.as_str())) {
        problems.0.push(FieldError::new(
            field,
            format!("unknown field `{key}` (known: {})", known.join(", ")),
        ));
    }
}

/// A business's or a service's name.
pub fn name(field: &'static str, value: &Value) -> Result<String, String> {
    display_name(field, text(field, value)?).map_err(|e| format!("{field} {}", e.message))
}

/// The address owner mails go to.
pub fn notification_email(value: &Value) -> Result<String, String> {
    let raw = text("notificationEmail", value)?;
    MailAddress::parse(raw)
        .map(MailAddress::into_inner)
        .map_err(|_| format!("notificationEmail `{raw}` is not a deliverable mail address"))
}

pub fn time_zone(value: &Value) -> Result<Tz, String> {
    rules::time_zone(text("timeZone", value)?)
}

fn flag(key: &str, value: &Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| format!("setting `{key}` must be true or false"))
}

fn number(key: &str, value: &Value) -> Result<u32, String> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("setting `{key}` must be a whole number of at least 0"))
}

/// `reminderMinutesBefore`: a list of up to three offsets in minutes (`[]`: no reminders).
fn offsets(key: &str, value: &Value) -> Result<ReminderOffsets, String> {
    let minutes = value
        .as_array()
        .map(|list| {
            list.iter()
                .map(|v| number(key, v))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_or_else(|| Err(format!("setting `{key}` must be a list of minutes")))?;
    ReminderOffsets::parse(&minutes).map_err(|e| e.to_string())
}

/// `settings` as a patch: each key checked by itself (its type, its bounds), an unknown key
/// refused by name.
pub fn settings_patch(value: &Value) -> Result<SettingsPatch, Vec<FieldError>> {
    let mut problems = Problems::default();
    let Some(object) = value.as_object() else {
        return Err(vec![FieldError::new(
            "settings",
            "settings must be an object",
        )]);
    };
    let mut patch = SettingsPatch::default();
    for (key, value) in object {
        let p = &mut patch;
        let set = match key.as_str() {
            "requireConfirmation" => flag(key, value).map(|v| p.require_confirmation = Some(v)),
            "allowSameDay" => flag(key, value).map(|v| p.allow_same_day = Some(v)),
            "clientCanCancel" => flag(key, value).map(|v| p.client_can_cancel = Some(v)),
            "clientCanReschedule" => flag(key, value).map(|v| p.client_can_reschedule = Some(v)),
            "minNoticeMinutes" => number(key, value).map(|v| p.min_notice_minutes = Some(v)),
            "maxAdvanceDays" => number(key, value).map(|v| p.max_advance_days = Some(v)),
            "maxBookingsPerSlot" => number(key, value).map(|v| p.max_bookings_per_slot = Some(v)),
            "slotIntervalMinutes" => number(key, value).map(|v| p.slot_interval_minutes = Some(v)),
            "bufferBeforeMinutes" => number(key, value).map(|v| p.buffer_before_minutes = Some(v)),
            "bufferAfterMinutes" => number(key, value).map(|v| p.buffer_after_minutes = Some(v)),
            "changeNoticeMinutes" => number(key, value).map(|v| p.change_notice_minutes = Some(v)),
            "reminderMinutesBefore" => {
                offsets(key, value).map(|v| p.reminder_minutes_before = Some(v))
            }
            _ => Err(format!(
                "unknown setting `{key}` (known: {})",
                SETTING_KEYS.join(", ")
            )),
        };
        problems.keep("settings", set);
    }
    if !problems.0.is_empty() {
        return Err(problems.0);
    }
    // Each bound concerns one setting: checked over the defaults, it holds over any base.
    let checked = patch
        .apply(BookingSettings::default())
        .map(|_| patch)
        .map_err(|e| e.to_string());
    let checked = problems.keep("settings", checked);
    problems.finish(checked)
}

/// `settings` merged key by key over `base` (the defaults for a new tenant, the tenant's
/// settings for a `PATCH`), then checked.
pub fn settings(base: BookingSettings, value: &Value) -> Result<BookingSettings, Vec<FieldError>> {
    let patch = settings_patch(value)?;
    patch
        .apply(base)
        .map_err(|e| vec![FieldError::new("settings", e.to_string())])
}

/// One day's intervals, `[["09:00", "12:00"], ["13:00", "17:00"]]`: each a pair of times, in
/// time order, none overlapping, `24:00` only as an end. `day` names the day in the messages.
pub fn intervals(
    field: &'static str,
    day: &str,
    value: &Value,
) -> Result<Vec<WorkingInterval>, FieldError> {
    let fail = |message: String| FieldError::new(field, message);
    let shape = || {
        fail(format!(
            "{day}: intervals must be a list of pairs of times like [[\"09:00\", \"17:00\"]]"
        ))
    };
    let pairs = value.as_array().ok_or_else(shape)?;
    let mut parsed = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let (Some(start), Some(end)) = (
            pair.get(0).and_then(Value::as_str),
            pair.get(1).and_then(Value::as_str),
        ) else {
            return Err(shape());
        };
        if pair.as_array().map(Vec::len) != Some(2) {
            return Err(shape());
        }
        parsed.push(WorkingInterval::parse(start, end).map_err(|e| fail(format!("{day}: {e}")))?);
    }
    written_intervals(day, parsed).map_err(|e| fail(e.to_string()))
}

/// A week of hours, `{"mon": [...], "tue": [...]}`: a day left out is closed.
pub fn week(
    field: &'static str,
    value: &Value,
) -> Result<Vec<(Weekday, Vec<WorkingInterval>)>, Vec<FieldError>> {
    let Some(object) = value.as_object() else {
        return Err(vec![FieldError::new(
            field,
            format!("{field} must be an object of weekdays (mon … sun)"),
        )]);
    };
    let mut problems = Problems::default();
    let mut days: Vec<(Weekday, Vec<WorkingInterval>)> = Vec::new();
    for (key, value) in object {
        let Some(day) = problems.keep(field, weekday(key)) else {
            continue;
        };
        if days.iter().any(|(seen, _)| *seen == day) {
            problems
                .0
                .push(FieldError::new(field, format!("{day} is given twice")));
            continue;
        }
        if let Some(list) = problems.keep_all(intervals(field, key, value).map_err(|e| vec![e])) {
            days.push((day, list));
        }
    }
    problems.finish(Some(days))
}

/// A week as the schedule's weekly part (every day of `WEEK` set; a day left out is closed).
pub fn schedule_of_week(days: &[(Weekday, Vec<WorkingInterval>)]) -> Result<Schedule, FieldError> {
    let mut schedule = Schedule::new();
    for day in WEEK {
        let list = days
            .iter()
            .find(|(d, _)| *d == day)
            .map(|(_, l)| l.clone())
            .unwrap_or_default();
        schedule
            .set_weekday(day, list)
            .map_err(|e| FieldError::new("workingHours", e.to_string()))?;
    }
    Ok(schedule)
}

/// An override's date, within two years of `today`.
pub fn override_date(
    field: &'static str,
    raw: &str,
    today: NaiveDate,
) -> Result<NaiveDate, FieldError> {
    rules::override_date(raw, today).map_err(|message| FieldError::new(field, message))
}

/// `{"2026-12-24": [["09:00", "13:00"]], "2026-12-25": []}`.
pub fn date_overrides(
    value: &Value,
    today: NaiveDate,
) -> Result<Vec<(NaiveDate, Vec<WorkingInterval>)>, Vec<FieldError>> {
    let Some(object) = value.as_object() else {
        return Err(vec![FieldError::new(
            "dateOverrides",
            "dateOverrides must be an object of dates",
        )]);
    };
    let mut problems = Problems::default();
    let mut overrides = Vec::new();
    for (key, value) in object {
        let date = override_date("dateOverrides", key, today).map_err(|e| vec![e]);
        let list = intervals("dateOverrides", key, value).map_err(|e| vec![e]);
        if let (Some(date), Some(list)) = (problems.keep_all(date), problems.keep_all(list)) {
            overrides.push((date, list));
        }
    }
    problems.finish(Some(overrides))
}

fn duration(value: &Value) -> Result<u32, String> {
    match value.as_i64() {
        Some(minutes) => rules::duration_minutes(minutes),
        None => Err("durationMinutes must be a whole number".to_owned()),
    }
}

fn active(value: &Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| "active must be true or false".to_owned())
}

/// A new service: `{"slug", "name", "durationMinutes", "active"?}` (`extra` keys are the
/// caller's to read, e.g. the routes' `staffIds`).
pub fn service(value: &Value, extra: &[&str]) -> Result<ServiceDefinition, Vec<FieldError>> {
    let Some(object) = value.as_object() else {
        return Err(vec![FieldError::new(
            "services",
            "a service must be an object",
        )]);
    };
    let mut problems = Problems::default();
    let mut known = vec!["slug", "name", "durationMinutes", "active"];
    known.extend_from_slice(extra);
    known_keys(&mut problems, "service", object, &known);
    let required = |problems: &mut Problems, field: &'static str| {
        let found = object.get(field).filter(|v| !v.is_null());
        if found.is_none() {
            problems
                .0
                .push(FieldError::new(field, format!("{field} is required")));
        }
        found
    };
    let slug = required(&mut problems, "slug").and_then(|v| {
        problems.keep(
            "slug",
            text("slug", v).and_then(|s| rules::slug("service slug", s)),
        )
    });
    let name = required(&mut problems, "name").and_then(|v| problems.keep("name", name("name", v)));
    let duration_minutes = required(&mut problems, "durationMinutes")
        .and_then(|v| problems.keep("durationMinutes", duration(v)));
    let active = match object.get("active").filter(|v| !v.is_null()) {
        None => Some(true),
        Some(v) => problems.keep("active", active(v)),
    };
    let service = match (slug, name, duration_minutes, active) {
        (Some(slug), Some(name), Some(duration_minutes), Some(active)) => Some(ServiceDefinition {
            slug,
            name,
            duration_minutes,
            active,
        }),
        _ => None,
    };
    problems.finish(service)
}

/// What a `PATCH /services/{id}` changes (absent: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicePatch {
    pub name: Option<String>,
    pub duration_minutes: Option<u32>,
    pub active: Option<bool>,
}

/// `{"name"?, "durationMinutes"?, "active"?}` (and the caller's `extra` keys).
pub fn service_patch(value: &Value, extra: &[&str]) -> Result<ServicePatch, Vec<FieldError>> {
    let Some(object) = value.as_object() else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    let mut problems = Problems::default();
    let mut known = vec!["name", "durationMinutes", "active"];
    known.extend_from_slice(extra);
    known_keys(&mut problems, "body", object, &known);
    let field = |key: &str| object.get(key).filter(|v| !v.is_null());
    let patch = ServicePatch {
        name: field("name").and_then(|v| problems.keep("name", name("name", v))),
        duration_minutes: field("durationMinutes")
            .and_then(|v| problems.keep("durationMinutes", duration(v))),
        active: field("active").and_then(|v| problems.keep("active", active(v))),
    };
    problems.finish(Some(patch))
}

/// How a staff member names the services they perform: the tenant file by slug, the routes by
/// id.
#[derive(Debug, Clone, Copy)]
pub struct StaffKeys {
    pub services: &'static str,
    /// Whether `active` may be given (the file; `POST /staff` creates active people).
    pub active: bool,
}

pub const STAFF_FILE_KEYS: StaffKeys = StaffKeys {
    services: "services",
    active: true,
};
pub const STAFF_ROUTE_KEYS: StaffKeys = StaffKeys {
    services: "serviceIds",
    active: false,
};

/// A staff member's capacity: 1–[`StaffCapacity::MAX`] parallel jobs.
fn capacity(value: &Value) -> Result<StaffCapacity, String> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| "capacity must be a whole number".to_owned())
        .and_then(|n| StaffCapacity::new(n).map_err(|e| e.to_string()))
}

/// A staff member's address (mails about their jobs may go there one day; checked as any).
fn staff_email(value: &Value) -> Result<String, String> {
    let raw = text("email", value)?;
    MailAddress::parse(raw)
        .map(MailAddress::into_inner)
        .map_err(|_| format!("email `{raw}` is not a mail address"))
}

fn service_refs(key: &'static str, value: &Value) -> Result<Vec<String>, String> {
    let fail = || format!("{key} must be a list of strings");
    let list = value.as_array().ok_or_else(fail)?;
    let mut refs: Vec<String> = Vec::with_capacity(list.len());
    for item in list {
        let item = item.as_str().ok_or_else(fail)?;
        if !refs.iter().any(|seen| seen == item) {
            refs.push(item.to_owned());
        }
    }
    Ok(refs)
}

/// A staff member: `{"slug", "name", "email"?, "capacity"?, services?, "workingHours"?,
/// "dateOverrides"?}` (and `active`? in the file). Without `workingHours` they work the
/// tenant's hours; `services` (by `keys.services`) are returned as written, for the caller to
/// resolve.
pub fn staff_member(
    value: &Value,
    keys: StaffKeys,
    today: NaiveDate,
) -> Result<StaffDefinition, Vec<FieldError>> {
    let Some(object) = value.as_object() else {
        return Err(vec![FieldError::new(
            "staff",
            "a staff member must be an object",
        )]);
    };
    let mut problems = Problems::default();
    let mut known = vec![
        "slug",
        "name",
        "email",
        "capacity",
        keys.services,
        "workingHours",
        "dateOverrides",
    ];
    if keys.active {
        known.push("active");
    }
    known_keys(&mut problems, "staff", object, &known);
    let field = |key: &str| object.get(key).filter(|v| !v.is_null());
    let mut required = |field_name: &'static str| {
        let found = field(field_name);
        if found.is_none() {
            problems.0.push(FieldError::new(
                field_name,
                format!("{field_name} is required"),
            ));
        }
        found
    };
    let slug = required("slug");
    let person_name = required("name");
    let slug = slug.and_then(|v| {
        problems.keep(
            "slug",
            text("slug", v).and_then(|s| rules::slug("staff slug", s)),
        )
    });
    let person_name = person_name.and_then(|v| problems.keep("name", name("name", v)));
    let email = match field("email") {
        None => Some(None),
        Some(v) => problems.keep("email", staff_email(v)).map(Some),
    };
    let capacity = match field("capacity") {
        None => Some(StaffCapacity::ONE),
        Some(v) => problems.keep("capacity", capacity(v)),
    };
    let active = match field("active") {
        None => Some(true),
        Some(v) => problems.keep("active", active(v)),
    };
    let services = match field(keys.services) {
        None => Some(Vec::new()),
        Some(v) => problems.keep(keys.services, service_refs(keys.services, v)),
    };
    let working_hours = match field("workingHours") {
        None => Some(None),
        Some(v) => problems
            .keep_all(week("workingHours", v))
            .and_then(|days| problems.keep_all(schedule_of_week(&days).map_err(|e| vec![e])))
            .map(Some),
    };
    let date_overrides = match field("dateOverrides") {
        None => Some(Schedule::new()),
        Some(v) => problems
            .keep_all(date_overrides(v, today))
            .and_then(|list| {
                let mut schedule = Schedule::new();
                for (date, intervals) in list {
                    let set = schedule
                        .set_override(date, intervals)
                        .map_err(|e| e.to_string());
                    problems.keep("dateOverrides", set)?;
                }
                Some(schedule)
            }),
    };
    let person = match (
        slug,
        person_name,
        email,
        capacity,
        active,
        services,
        working_hours,
        date_overrides,
    ) {
        (
            Some(slug),
            Some(name),
            Some(email),
            Some(capacity),
            Some(active),
            Some(services),
            Some(working_hours),
            Some(date_overrides),
        ) => Some(StaffDefinition {
            slug,
            name,
            email,
            capacity,
            active,
            working_hours,
            date_overrides,
            services,
        }),
        _ => None,
    };
    problems.finish(person)
}

/// What a `PATCH /staff/{id}` changes (absent: unchanged; `email: Some(None)` clears it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffPatch {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub capacity: Option<StaffCapacity>,
    pub active: Option<bool>,
    /// The services they perform, replaced (ids as written).
    pub service_ids: Option<Vec<String>>,
}

/// `{"name"?, "email"?, "capacity"?, "active"?, "serviceIds"?}`.
pub fn staff_patch(value: &Value) -> Result<StaffPatch, Vec<FieldError>> {
    let Some(object) = value.as_object() else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    let mut problems = Problems::default();
    known_keys(
        &mut problems,
        "body",
        object,
        &["name", "email", "capacity", "active", "serviceIds"],
    );
    let field = |key: &str| object.get(key).filter(|v| !v.is_null());
    let patch = StaffPatch {
        name: field("name").and_then(|v| problems.keep("name", name("name", v))),
        email: match object.get("email") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v) => problems.keep("email", staff_email(v)).map(Some),
        },
        capacity: field("capacity").and_then(|v| problems.keep("capacity", capacity(v))),
        active: field("active").and_then(|v| problems.keep("active", active(v))),
        service_ids: field("serviceIds")
            .and_then(|v| problems.keep("serviceIds", service_refs("serviceIds", v))),
    };
    problems.finish(Some(patch))
}

/// What a `PATCH /tenant` changes (absent: unchanged); `settings` already merged over the
/// tenant's own.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantPatch {
    pub name: Option<String>,
    pub notification_email: Option<String>,
    pub zone: Option<Tz>,
    pub settings: Option<SettingsPatch>,
}

/// `{"name"?, "notificationEmail"?, "timeZone"?, "settings"?}` (the settings as a patch,
/// applied under the tenant guard).
pub fn tenant_patch(value: &Value) -> Result<TenantPatch, Vec<FieldError>> {
    let Some(object) = value.as_object() else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    let mut problems = Problems::default();
    known_keys(
        &mut problems,
        "body",
        object,
        &["name", "notificationEmail", "timeZone", "settings"],
    );
    let field = |key: &str| object.get(key).filter(|v| !v.is_null());
    let patch = TenantPatch {
        name: field("name").and_then(|v| problems.keep("name", name("name", v))),
        notification_email: field("notificationEmail")
            .and_then(|v| problems.keep("notificationEmail", notification_email(v))),
        zone: field("timeZone").and_then(|v| problems.keep("timeZone", time_zone(v))),
        settings: field("settings").and_then(|v| problems.keep_all(settings_patch(v))),
    };
    problems.finish(Some(patch))
}

/// The tenant file of API.md ("Tenant setup"); override dates are judged against the
/// tenant's local date at `now`.
pub fn tenant_file(file: &str, now: DateTime<Utc>) -> Result<TenantDefinition, Vec<FieldError>> {
    let value: Value = serde_json::from_str(file)
        .map_err(|e| vec![FieldError::new("file", format!("not valid JSON: {e}"))])?;
    let Some(object) = value.as_object() else {
        return Err(vec![FieldError::new(
            "file",
            "the file must be a JSON object",
        )]);
    };
    let mut problems = Problems::default();
    known_keys(
        &mut problems,
        "file",
        object,
        &[
            "slug",
            "name",
            "timeZone",
            "notificationEmail",
            "settings",
            "workingHours",
            "dateOverrides",
            "services",
            "staff",
        ],
    );
    let required = |problems: &mut Problems, field: &'static str| {
        let found = object.get(field).filter(|v| !v.is_null());
        if found.is_none() {
            problems
                .0
                .push(FieldError::new(field, format!("{field} is required")));
        }
        found
    };
    let field = |key: &str| object.get(key).filter(|v| !v.is_null());
    let slug = required(&mut problems, "slug")
        .and_then(|v| problems.keep("slug", text("slug", v).and_then(|s| rules::slug("slug", s))));
    let name = required(&mut problems, "name").and_then(|v| problems.keep("name", name("name", v)));
    let zone =
        required(&mut problems, "timeZone").and_then(|v| problems.keep("timeZone", time_zone(v)));
    let notification_email = required(&mut problems, "notificationEmail")
        .and_then(|v| problems.keep("notificationEmail", notification_email(v)));
    let settings = match field("settings") {
        None => Some(BookingSettings::default()),
        Some(v) => problems.keep_all(settings(BookingSettings::default(), v)),
    };
    let weekly = match field("workingHours") {
        None => Some(Vec::new()),
        Some(v) => problems.keep_all(week("workingHours", v)),
    };
    let today = now
        .with_timezone(&zone.unwrap_or(chrono_tz::UTC))
        .date_naive();
    let overrides = match field("dateOverrides") {
        None => Some(Vec::new()),
        Some(v) => problems.keep_all(date_overrides(v, today)),
    };
    let services = match field("services") {
        None => Some(Vec::new()),
        Some(Value::Array(list)) => {
            let parsed: Vec<_> = list
                .iter()
                .filter_map(|v| problems.keep_all(service(v, &[])))
                .collect();
            Some(parsed)
        }
        Some(_) => {
            problems
                .0
                .push(FieldError::new("services", "services must be a list"));
            None
        }
    };
    let staff = match field("staff") {
        None => Some(Vec::new()),
        Some(Value::Array(list)) => {
            // A file names each person's mistakes with their slug.
            let parsed: Vec<_> = list
                .iter()
                .filter_map(|v| {
                    let slug = v.get("slug").and_then(Value::as_str).unwrap_or("?");
                    let named = |errors: Vec<FieldError>| {
                        errors
                            .into_iter()
                            .map(|e| {
                                let what = match e.field {
                                    "workingHours" | "dateOverrides" => format!("{}: ", e.field),
                                    _ => String::new(),
                                };
                                FieldError::new(
                                    "staff",
                                    format!("staff `{slug}`: {what}{}", e.message),
                                )
                            })
                            .collect()
                    };
                    problems.keep_all(staff_member(v, STAFF_FILE_KEYS, today).map_err(named))
                })
                .collect();
            (parsed.len() == list.len()).then_some(parsed)
        }
        Some(_) => {
            problems
                .0
                .push(FieldError::new("staff", "staff must be a list"));
            None
        }
    };
    if let (Some(services), Some(staff)) = (&services, &staff) {
        let mut seen = std::collections::BTreeSet::new();
        for person in staff {
            if !seen.insert(person.slug.as_str()) {
                problems.0.push(FieldError::new(
                    "staff",
                    format!("staff `{}`: appears twice", person.slug),
                ));
            }
            for slug in &person.services {
                if !services.iter().any(|s: &ServiceDefinition| s.slug == *slug) {
                    problems.0.push(FieldError::new(
                        "staff",
                        format!(
                            "staff `{}`: performs `{slug}`, which is not a service of this file",
                            person.slug
                        ),
                    ));
                }
            }
        }
    }
    let schedule = weekly.and_then(|weekly| {
        let mut schedule = problems.keep_all(schedule_of_week(&weekly).map_err(|e| vec![e]))?;
        for (date, list) in overrides? {
            let set = schedule.set_override(date, list).map_err(|e| e.to_string());
            problems.keep("dateOverrides", set)?;
        }
        Some(schedule)
    });
    let definition = match (
        slug,
        name,
        zone,
        notification_email,
        settings,
        schedule,
        services,
        staff,
    ) {
        (
            Some(slug),
            Some(name),
            Some(zone),
            Some(notification_email),
            Some(settings),
            Some(schedule),
            Some(services),
            Some(staff),
        ) => Some(TenantDefinition {
            slug,
            name,
            zone,
            notification_email,
            settings,
            schedule,
            services,
            staff,
        }),
        _ => None,
    };
    problems.finish(definition)
}

/// A week as a file writes it: `{"mon": [["09:00", "17:00"]], …}`, closed days left out.
pub fn written_week(schedule: &Schedule) -> Map<String, Value> {
    WEEK.into_iter()
        .filter(|day| !schedule.weekday(*day).is_empty())
        .map(|day| {
            (
                rules::weekday_key(day).to_owned(),
                serde_json::json!(rules::written(schedule.weekday(day))),
            )
        })
        .collect()
}

/// The overrides as a file writes them: `{"2026-12-25": [], …}`.
pub fn written_overrides(schedule: &Schedule) -> Map<String, Value> {
    schedule
        .overrides()
        .map(|(date, list)| (date.to_string(), serde_json::json!(rules::written(list))))
        .collect()
}

/// Settings as a file writes them (every key).
pub fn written_settings(s: &BookingSettings) -> Value {
    serde_json::json!({
        "requireConfirmation": s.require_confirmation,
        "allowSameDay": s.allow_same_day,
        "minNoticeMinutes": s.min_notice_minutes,
        "maxAdvanceDays": s.max_advance_days,
        "maxBookingsPerSlot": s.max_bookings_per_slot,
        "slotIntervalMinutes": s.slot_interval_minutes,
        "bufferBeforeMinutes": s.buffer_before_minutes,
        "bufferAfterMinutes": s.buffer_after_minutes,
        "changeNoticeMinutes": s.change_notice_minutes,
        "clientCanCancel": s.client_can_cancel,
        "clientCanReschedule": s.client_can_reschedule,
        "reminderMinutesBefore": s.reminder_minutes_before.minutes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(result: Result<impl std::fmt::Debug, Vec<FieldError>>) -> Vec<String> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    #[test]
    fn settings_merge_key_by_key_and_an_unknown_key_is_refused_by_name() {
        let base = BookingSettings {
            min_notice_minutes: 15,
            ..BookingSettings::default()
        };
        let merged = settings(base, &json!({"allowSameDay": false}));
        assert!(
            merged
                .as_ref()
                .is_ok_and(|s| !s.allow_same_day && s.min_notice_minutes == 15)
        );
        let unknown = messages(settings(base, &json!({"allowSameDays": false})));
        assert_eq!(unknown.len(), 1);
        assert!(unknown[0].starts_with("settings: unknown setting `allowSameDays`"));
        let range = messages(settings(base, &json!({"maxBookingsPerSlot": 0})));
        assert_eq!(
            range,
            ["settings: setting `maxBookingsPerSlot` must be between 1 and 1000, got 0"]
        );
    }

    #[test]
    fn intervals_must_be_ordered_apart_and_end_after_they_start() {
        let ok = intervals(
            "workingHours",
            "mon",
            &json!([["09:00", "12:00"], ["12:00", "24:00"]]),
        );
        assert!(ok.is_ok());
        for (bad, says) in [
            (
                json!([["13:00", "17:00"], ["09:00", "12:00"]]),
                "time order",
            ),
            (json!([["09:00", "13:00"], ["12:00", "17:00"]]), "overlap"),
            (json!([["17:00", "09:00"]]), "end after it starts"),
            (json!([["24:00", "24:00"]]), "24:00 can only end"),
            (json!([["09:00"]]), "pairs of times"),
            (json!([["9am", "5pm"]]), "not a time of day"),
        ] {
            let error = intervals("workingHours", "mon", &bad).err();
            assert!(
                error.as_ref().is_some_and(|e| e.message.contains(says)),
                "{bad}: {error:?}"
            );
        }
    }

    #[test]
    fn a_patch_reports_every_bad_field_at_once() {
        let errors = messages(tenant_patch(
            &json!({"timeZone": "Mars/Olympus", "notificationEmail": "owner", "slug": "x"}),
        ));
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e == "timeZone: `Mars/Olympus` is not an IANA time zone")
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("body: unknown field `slug`"))
        );
    }
}
