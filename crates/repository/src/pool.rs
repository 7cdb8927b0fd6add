//! One pooled connection per Lambda container, opened lazily and reused across invocations;
//! TLS (rustls, certificates always verified) whenever the URL asks for it.

use std::path::Path;
use std::sync::Arc;

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

/// Whether a pool or query failure means "the database is unreachable" (answer 503, safe to
/// retry) rather than a bug.
pub fn is_unavailable(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
        // diesel-async reports client-side failures without a SQLSTATE as UnableToSendCommand
        // with tokio-postgres' message: a backend killed under an idle or busy connection gives
        // "connection closed". Only the connection-level ones mean "unreachable"; a parameter
        // that cannot be encoded stays a bug (500).
        Error::DatabaseError(DatabaseErrorKind::UnableToSendCommand, info) => {
            let message = info.message();
            [
                "connection closed",
                "error communicating with the server",
                "error connecting to server",
                "timeout waiting for server",
                "error performing TLS handshake",
            ]
            .iter()
            .any(|known| message.contains(known))
        }
        Error::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            // admin_shutdown, crash_shutdown, cannot_connect_now, connection failures.
            let message = info.message();
            message.contains("terminating connection")
                || message.contains("connection closed")
                || message.contains("the database system is")
        }
        Error::BrokenTransactionManager => true,
        _ => false,
    }
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
    if let Some(url) = tls_url(database_url) {
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(ca_bundle)?);
        let url = Arc::new(url);
        config.custom_setup = Box::new(move |_| connect_tls(url.clone(), tls.clone()));
    }
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, config);
    Ok(Pool::builder(manager).max_size(max_size.max(1)).build()?)
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

fn connect_tls(
    url: Arc<String>,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
) -> BoxFuture<'static, diesel::ConnectionResult<AsyncPgConnection>> {
    async move {
        let (client, connection) = tokio_postgres::connect(&url, tls)
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
        assert!(is_unavailable(&client_side(
            "error communicating with the server: Connection reset by peer (os error 104)"
        )));
        assert!(!is_unavailable(&client_side(
            "error serializing parameter 0"
        )));
    }

    #[test]
    fn a_missing_ca_bundle_is_a_clear_error() {
        let error = tls_config(Some(Path::new("/nonexistent/rds-ca.pem"))).err();
        assert!(error.is_some_and(|e| e.to_string().contains("/nonexistent/rds-ca.pem")));
    }
}
