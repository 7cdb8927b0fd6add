//! The booking rules, free of I/O: what a tenant's calendar offers, whether a booking may land,
//! and how a job moves between states. Every input — including `now` — is an argument, so
//! availability and booking are one function and tests state the moment they run at.

pub mod availability;
pub mod client;
pub mod feed_token;
pub mod job;
pub mod mail;
pub mod manage_token;
pub mod reminder;
pub mod schedule;
pub mod self_service;
pub mod settings;
pub mod setup;
pub mod staff;
pub mod webhook;

pub use availability::{BookingRejected, Calendar, Occupancy, OccupiedPeriod, Slot, has_room};
pub use client::{
    ClientEmail, ClientName, DeclineReason, FieldError, IdempotencyKey, JobTitle, MailAddress,
    Notes, Phone, display_name,
};
pub use feed_token::FeedToken;
pub use job::{InvalidTransition, JobAction, JobSource, JobStatus, MOVES, decide};
pub use mail::{MailContext, MailKind, MailStatus, backoff};
pub use manage_token::{ManageKey, ManageLink};
pub use reminder::{ReminderOffsets, still_remindable};
pub use schedule::{
    Schedule, ScheduleError, WEEK, WorkingInterval, day_start, format_minute, written_intervals,
};
pub use self_service::{ClientChangeRefused, changeable_until, decide_for_client};
pub use settings::{BookingSettings, SettingsError, SettingsPatch};
pub use setup::{Hours, no_longer_fitting, wall_time_moved};
pub use staff::{
    AssignedPeriod, FreeStaff, StaffCapacity, StaffCapacityError, StaffChoice, StaffHours, StaffId,
    StaffMember, StaffRefusal, StaffedCalendar, StaffedSlot, performed_by_staff,
    pick_any_available,
};
pub use webhook::{
    EndpointSecret, EventsRefused, UrlRefused, WebhookEvent, WebhookKey, WebhookUrl,
    next_delivery_attempt, refused_address,
};
