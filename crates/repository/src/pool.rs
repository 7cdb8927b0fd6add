//! One pooled connection per Lambda container, opened lazily and reused across invocations;
//! TLS (rustls, certificates always verified) whenever the URL asks for it. Every wait on the
//! database is bounded, so an unreachable or stuck one is a 503 within about 3 seconds rather
//! than a function hanging to its Lambda timeout (10 s).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use diesel::ConnectionError;
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::{BuildError, Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

pub type DbPool = Pool<AsyncPgConnection>;
pub type PooledConnection = Object<AsyncPgConnection>;
pub use diesel_async::pooled_connection::deadpool::PoolError;

/// Opening the TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A whole new connection: TCP, TLS, startup and authentication (a server that accepts and
/// never answers is caught here; tokio-postgres bounds only the TCP connect).
pub const CREATE_TIMEOUT: Duration = Duration::from_secs(3);
/// Waiting for the container's connection while another task holds it.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(3);
/// Data sent and not acknowledged for this long (a database gone mid-query) drops the
/// connection (TCP_USER_TIMEOUT, Linux).
pub const TCP_USER_TIMEOUT: Duration = Duration::from_secs(3);
/// Server side: no statement runs longer, and none waits longer for a lock. Queries here take
/// milliseconds; the lock bound is what a request may wait behind another tenant transaction.
pub const STATEMENT_TIMEOUT_MS: u32 = 5_000;
pub const LOCK_TIMEOUT_MS: u32 = 3_000;

/// Whether a pool or query failure means "the database is unreachable" (answer 503, safe to
/// retry) rather than a bug.
pub fn is_unavailable(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
        // diesel-async reports client-side failures without a SQLSTATE as UnableToSendCommand
        // with tokio-postgres' message: a backend killed under an idle or busy connection gives
        // "connection closed" (or "channel closed", when a pipelined statement finds the
        // connection's task already gone). Only the connection-level ones mean "unreachable"; a
        // parameter that cannot be encoded stays a bug (500).
        Error::DatabaseError(DatabaseErrorKind::UnableToSendCommand, info) => {
            let message = info.message();
            [
                "connection closed",
                "channel closed",
                "error communicating with the server",
                "error connecting to server",
                "timeout waiting for server",
                "error performing TLS handshake",
            ]
            .iter()
            .any(|known| message.contains(known))
        }
        Error::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            // admin_shutdown, crash_shutdown, cannot_connect_now, connection failures, and our
            // own bounds: lock_not_available (lock_timeout) and query_canceled
            // (statement_timeout), which diesel reports without their SQLSTATE.
            let message = info.message();
            message.contains("terminating connection")
                || message.contains("connection closed")
                || message.contains("the database system is")
                || message.contains("canceling statement due to lock timeout")
                || message.contains("canceling statement due to statement timeout")
        }
        Error::BrokenTransactionManager => true,
        _ => false,
    }
}

/// Pauses before each try of [`on_fresh_connection`]: about 2.6 s in all, within which a
/// database that just lost its connections (a restart, a failover) is usually back.
pub const FRESH_CONNECTION_PAUSES_MS: [u64; 5] = [0, 100, 300, 700, 1500];

/// Runs `op` on a fresh connection from `pool`, once after each pause in `pauses_ms`, until it
/// succeeds: for work that must outlive a request's own connection after a database failure
/// (freeing an idempotency key, recording mails SES accepted, answering for a committed
/// change). `what` names the work in the logs. `None` when every try failed.
// `op` takes the connection by value: an async closure over `&mut` would need a higher-ranked
// lifetime, and rustc cannot yet prove such futures `Send` (the Lambda runtime needs them so).
pub async fn on_fresh_connection<T, F>(
    pool: &DbPool,
    what: &str,
    pauses_ms: &[u64],
    mut op: impl FnMut(PooledConnection) -> F,
) -> Option<T>
where
    F: std::future::Future<Output = diesel::QueryResult<T>>,
{
    for pause_ms in pauses_ms {
        tokio::time::sleep(std::time::Duration::from_millis(*pause_ms)).await;
        let outcome = match pool.get().await {
            Ok(conn) => op(conn).await.map_err(|error| error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match outcome {
            Ok(value) => return Some(value),
            Err(error) => tracing::warn!(%error, "{what}: not yet, on a fresh connection"),
        }
    }
    tracing::warn!("{what}: gave up after {} tries", pauses_ms.len());
    None
}

#[derive(Debug, thiserror::Error)]
pub enum PoolSetupError {
    #[error("cannot read the database CA bundle at {path}: {source}")]
    CaBundle {
        path: String,
        source: std::io::Error,
    },
    #[error("the database CA bundle at {0} holds no certificate")]
    EmptyCaBundle(String),
    #[error("DATABASE_URL is not a valid Postgres URL: {0}")]
    Url(String),
    #[error("cannot build the connection pool: {0}")]
    Build(#[from] BuildError),
}

/// Builds the pool without connecting. `ca_bundle` (PEM) verifies the server's certificate when
/// the URL has `sslmode=require` (or `verify-full`); without it the Mozilla roots are used.
pub fn build_pool(
    database_url: &str,
    max_size: usize,
    ca_bundle: Option<&Path>,
) -> Result<DbPool, PoolSetupError> {
    let mut config = ManagerConfig::default();
    // A broken connection is dropped on return (`is_broken`), so no test query per checkout.
    config.recycling_method = RecyclingMethod::Fast;
    let tls_url = tls_url(database_url);
    let connection = Arc::new(connection_config(
        tls_url.as_deref().unwrap_or(database_url),
    )?);
    match tls_url {
        Some(_) => {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(ca_bundle)?);
            config.custom_setup = Box::new(move |_| connect(connection.clone(), tls.clone()));
        }
        None => {
            config.custom_setup =
                Box::new(move |_| connect(connection.clone(), tokio_postgres::NoTls));
        }
    }
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, config);
    Ok(Pool::builder(manager)
        .max_size(max_size.max(1))
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(WAIT_TIMEOUT))
        .create_timeout(Some(CREATE_TIMEOUT))
        .build()?)
}

/// The URL's settings with this module's bounds added. The server-side ones travel in the
/// startup packet's `options`, so they cost no round trip; ours come first so that `options`
/// in the URL can still override them (the last `-c` wins).
fn connection_config(url: &str) -> Result<tokio_postgres::Config, PoolSetupError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| PoolSetupError::Url(e.to_string()))?;
    // RDS Proxy refuses startup options ("RDS Proxy currently doesn't support command-line
    // options"); behind it the same bounds come from the proxy's InitQuery
    // (infrastructure/database.yaml), and a SET here would pin the session.
    if !behind_rds_proxy(&config) {
        let bounds = format!(
            "-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS}"
        );
        let options = match config.get_options() {
            Some(given) => format!("{bounds} {given}"),
            None => bounds,
        };
        config.options(options);
    }
    config
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_user_timeout(TCP_USER_TIMEOUT);
    Ok(config)
}

/// Whether the URL names an RDS Proxy endpoint (`NAME.proxy-ID.REGION.rds.amazonaws.com`, or a
/// custom endpoint `NAME.endpoint.proxy-ID...`) rather than a database.
fn behind_rds_proxy(config: &tokio_postgres::Config) -> bool {
    config.get_hosts().iter().any(|host| match host {
        tokio_postgres::config::Host::Tcp(name) => {
            let name = name.to_ascii_lowercase();
            name.contains(".proxy-") && name.ends_with(".rds.amazonaws.com")
        }
        #[cfg(unix)]
        tokio_postgres::config::Host::Unix(_) => false,
    })
}

/// The URL to hand to tokio-postgres when TLS is wanted. tokio-postgres knows `require`, and
/// rustls always verifies the chain and host name, so `verify-full` becomes `require`.
fn tls_url(database_url: &str) -> Option<String> {
    let wants_tls = [
        "sslmode=require",
        "sslmode=verify-full",
        "sslmode=verify-ca",
    ]
    .iter()
    .any(|mode| database_url.contains(mode));
    wants_tls.then(|| {
        database_url
            .replace("sslmode=verify-full", "sslmode=require")
            .replace("sslmode=verify-ca", "sslmode=require")
    })
}

fn tls_config(ca_bundle: Option<&Path>) -> Result<rustls::ClientConfig, PoolSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_bundle {
        Some(path) => {
            let shown = path.display().to_string();
            let pem = std::fs::read(path).map_err(|source| PoolSetupError::CaBundle {
                path: shown.clone(),
                source,
            })?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()).flatten() {
                // A bundle may carry certificates rustls cannot use; the usable ones suffice.
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(PoolSetupError::EmptyCaBundle(shown));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PoolSetupError::CaBundle {
            path: "rustls protocol versions".to_owned(),
            source: std::io::Error::other(e),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

fn connect<T>(
    config: Arc<tokio_postgres::Config>,
    tls: T,
) -> BoxFuture<'static, diesel::ConnectionResult<AsyncPgConnection>>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> + Send + 'static,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<tokio_postgres::Socket>>::Future: Send,
{
    async move {
        let (client, connection) = config
            .connect(tls)
            .await
            .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
        AsyncPgConnection::try_from_client_and_connection(client, connection).await
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_is_used_only_when_the_url_asks_for_it() {
        assert_eq!(tls_url("postgres://u@localhost/db"), None);
        assert_eq!(tls_url("postgres://u@db/x?sslmode=disable"), None);
        assert_eq!(
            tls_url("postgres://u@db.rds.amazonaws.com/x?sslmode=verify-full").as_deref(),
            Some("postgres://u@db.rds.amazonaws.com/x?sslmode=require")
        );
    }

    #[test]
    fn a_lost_connection_is_unavailable_and_a_bad_parameter_is_not() {
        use diesel::result::{DatabaseErrorKind, Error};
        let client_side = |message: &str| {
            Error::DatabaseError(
                DatabaseErrorKind::UnableToSendCommand,
                Box::new(message.to_owned()),
            )
        };
        // What a query on a connection whose backend was terminated returns.
        assert!(is_unavailable(&client_side("connection closed")));
        // A statement pipelined after the connection's task ended (the reliability suite's
        // database kills met it in a booking).
        assert!(is_unavailable(&client_side("channel closed")));
        assert!(is_unavailable(&client_side(
            "error communicating with the server: Connection reset by peer (os error 104)"
        )));
        assert!(!is_unavailable(&client_side(
            "error serializing parameter 0"
        )));
    }

    #[test]
    fn our_own_lock_and_statement_timeouts_are_unavailable() {
        use diesel::result::{DatabaseErrorKind, Error};
        let server = |message: &str| {
            Error::DatabaseError(DatabaseErrorKind::Unknown, Box::new(message.to_owned()))
        };
        assert!(is_unavailable(&server(
            "canceling statement due to lock timeout"
        )));
        assert!(is_unavailable(&server(
            "canceling statement due to statement timeout"
        )));
        assert!(!is_unavailable(&server("division by zero")));
    }

    #[test]
    fn an_rds_proxy_gets_no_startup_options_and_a_database_does() {
        let options = |url: &str| {
            connection_config(url)
                .ok()
                .and_then(|c| c.get_options().map(str::to_owned))
        };
        let proxy = "postgres://u:p@booking-prod.proxy-c0ffee123456.us-east-1.rds.amazonaws.com:5432/booking?sslmode=require";
        assert_eq!(options(proxy), None);
        let database = "postgres://u:p@booking.c0ffee123456.us-east-1.rds.amazonaws.com:5432/booking?sslmode=require";
        assert!(options(database).is_some_and(|o| o.contains("statement_timeout=5000")));
    }

    #[test]
    fn connections_carry_the_bounds_and_the_url_may_override_them() {
        let config = connection_config("postgres://u@db/x?options=-c%20lock_timeout%3D100");
        let options = config.ok().and_then(|c| c.get_options().map(str::to_owned));
        assert_eq!(
            options.as_deref(),
            Some("-c statement_timeout=5000 -c lock_timeout=3000 -c lock_timeout=100")
        );
        assert!(connection_config("postgres://u@db:notaport/x").is_err());
    }

    #[test]
    fn a_missing_ca_bundle_is_a_clear_error() {
        let error = tls_config(Some(Path::new("/nonexistent/rds-ca.pem"))).err();
        assert!(error.is_some_and(|e| e.to_string().contains("/nonexistent/rds-ca.pem")));
    }
}
