//! Postgres through diesel-async: the schema, the rows, and every query the functions run.
//! Functions here return Diesel results (or a small error enum where a transaction also carries
//! a domain decision); the edge maps them to HTTP.

pub mod catalog;
pub mod changes;
mod contacts;
mod guard;
pub mod idempotency;
pub mod jobs;
pub mod members;
mod migrations;
pub mod outbox;
mod pool;
pub mod rate_limit;
pub mod schema;
pub mod tenant_setup;

pub use diesel;
pub use diesel_async;
pub use diesel_async::AsyncPgConnection;
pub use migrations::run_migrations;
pub use pool::{
    DbPool, FRESH_CONNECTION_PAUSES_MS, PoolError, PoolSetupError, PooledConnection, build_pool,
    is_unavailable, on_fresh_connection,
};
