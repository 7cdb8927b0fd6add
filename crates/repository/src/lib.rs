//! Postgres through diesel-async: the schema, the rows, and every query the functions run.
//! Functions here return Diesel results (or a small error enum where a transaction also carries
//! a domain decision); the edge maps them to HTTP.
//!
//! The function (or future) that issues a statement runs in a `trace`-level span named for that
//! statement ("weekly hours", "job insert", …): off in the functions (their logs stop at `info`),
//! collected by `booking-load` to label the statements of its profile and plans.

pub mod calendar_feeds;
pub mod catalog;
pub mod changes;
pub mod contacts;
pub mod events;
pub mod guard;
pub mod idempotency;
pub mod jobs;
pub mod members;
mod migrations;
pub mod outbox;
mod pool;
pub mod rate_limit;
pub mod reminders;
pub mod schema;
pub mod setup;
pub mod staff;
pub mod stats;
pub mod suppressions;
pub mod tenant_setup;
pub mod webhooks;

pub use diesel;
pub use diesel_async;
pub use diesel_async::AsyncPgConnection;
pub use migrations::{embedded_versions, migrations_current, run_migrations};
pub use pool::{
    DbPool, FRESH_CONNECTION_PAUSES_MS, PoolError, PoolSetupError, PooledConnection, build_pool,
    is_unavailable, on_fresh_connection,
};
