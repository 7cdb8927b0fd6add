//! Configuration, read and validated once when a container starts.

use std::path::PathBuf;

use booking_domain::{ManageKey, WebhookKey};

/// The key manage links are signed with where `MANAGE_TOKEN_SECRET` is unset and mail is not
/// sent (`SES_ENABLED` false: local runs and tests). With SES on — in AWS — the secret is
/// required, so a deployed stack can never sign links with a key that is public here.
const DEV_MANAGE_TOKEN_SECRET: &str = "local-development-manage-token-secret-not-for-aws";
/// The same for `WEBHOOK_SIGNING_SECRET`, from which every endpoint's signing secret derives.
const DEV_WEBHOOK_SIGNING_SECRET: &str = "local-development-webhook-signing-secret-not-for-aws";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesSettings {
    /// Off: mails are rendered and written locally, never sent.
    pub enabled: bool,
    pub from_address: String,
    pub configuration_set: Option<String>,
    /// Where `SES_ENABLED=false` writes `.eml` files.
    pub outbox_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub database_url: String,
    /// PEM bundle that signs the database's certificate (RDS CA) for `sslmode=require`.
    pub database_ca_bundle: Option<PathBuf>,
    /// Connections per container: one, as a Lambda container serves one request at a time.
    pub database_pool_size: usize,
    /// HS256 secret for owner tokens where no API Gateway authorizer ran (local use).
    pub auth_jwt_secret: Option<String>,
    /// The function runs behind an API Gateway JWT authorizer, so the event's
    /// `requestContext.authorizer` claims were verified. Off: they are ignored (anybody who can
    /// invoke the function can write them).
    pub auth_trust_authorizer: bool,
    /// The value CloudFront puts in `x-origin-verify`: a request carrying it came through
    /// CloudFront, so its `CloudFront-Viewer-Address` names the client. Unset: never trusted.
    pub edge_origin_secret: Option<String>,
    pub ses: SesSettings,
    pub public_app_url: String,
    /// `PUBLIC_BOOKING_URL`: the client pages (manage links); defaults to `PUBLIC_APP_URL`.
    pub public_booking_url: String,
    /// `PUBLIC_API_URL`: the origin the API is reached at from outside (CloudFront or a custom
    /// domain), which calendar-feed URLs start with. Unset: the origin the request itself was
    /// addressed to (API Gateway's domain, or `http://127.0.0.1:9000` locally).
    pub public_api_url: Option<String>,
    /// `MANAGE_TOKEN_SECRET`: signs the clients' manage links.
    pub manage_key: ManageKey,
    /// `WEBHOOK_SIGNING_SECRET`: every webhook endpoint's signing secret is derived from it.
    pub webhook_key: WebhookKey,
    /// `WEBHOOK_ALLOW_LOOPBACK`: webhooks may reach 127.0.0.1 / ::1 (over http), for local
    /// tests only; refused together with SES (in AWS).
    pub webhook_allow_loopback: bool,
    /// Booking attempts one client address may make per minute (0: no app-level limit).
    pub booking_rate_limit_per_minute: u32,
    /// Availability requests one client address may make per minute (0: no app-level limit).
    pub availability_rate_limit_per_minute: u32,
    /// Requests to the client's manage routes one address may make per minute (0: no limit).
    pub manage_rate_limit_per_minute: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set; {1}")]
    Missing(&'static str, &'static str),
    #[error("{0} is invalid: {1}")]
    Invalid(&'static str, String),
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Reads the settings through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let database_url = lookup("DATABASE_URL").ok_or(ConfigError::Missing(
            "DATABASE_URL",
            "set it to the Postgres connection string, e.g. postgres://user:pass@host:5432/booking?sslmode=require",
        ))?;
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(ConfigError::Invalid(
                "DATABASE_URL",
                "must start with postgres:// or postgresql://".to_owned(),
            ));
        }
        let enabled = flag(&lookup, "SES_ENABLED")?;
        let from_address = match lookup("SES_FROM_ADDRESS") {
            Some(address) => address,
            None if enabled => {
                return Err(ConfigError::Missing(
                    "SES_FROM_ADDRESS",
                    "with SES_ENABLED=true it must name a verified SES identity",
                ));
            }
            None => "bookings@example.com".to_owned(),
        };
        if !from_address.contains('@') {
            return Err(ConfigError::Invalid(
                "SES_FROM_ADDRESS",
                "must be an email address".to_owned(),
            ));
        }
        let public_app_url = match lookup("PUBLIC_APP_URL") {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if enabled => {
                return Err(ConfigError::Missing(
                    "PUBLIC_APP_URL",
                    "owner mails link to PUBLIC_APP_URL/jobs/{id}",
                ));
            }
            None => "http://localhost:5173".to_owned(),
        };
        if !(public_app_url.starts_with("https://") || public_app_url.starts_with("http://")) {
            return Err(ConfigError::Invalid(
                "PUBLIC_APP_URL",
                "must start with http:// or https://".to_owned(),
            ));
        }
        let public_booking_url = match lookup("PUBLIC_BOOKING_URL") {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => public_app_url.clone(),
        };
        if !(public_booking_url.starts_with("https://")
            || public_booking_url.starts_with("http://"))
        {
            return Err(ConfigError::Invalid(
                "PUBLIC_BOOKING_URL",
                "must start with http:// or https://".to_owned(),
            ));
        }
        let public_api_url =
            lookup("PUBLIC_API_URL").map(|url| url.trim_end_matches('/').to_owned());
        if public_api_url
            .as_deref()
            .is_some_and(|url| !(url.starts_with("https://") || url.starts_with("http://")))
        {
            return Err(ConfigError::Invalid(
                "PUBLIC_API_URL",
                "must start with http:// or https://".to_owned(),
            ));
        }
        let manage_secret = match lookup("MANAGE_TOKEN_SECRET") {
            Some(secret) => secret,
            None if enabled => {
                return Err(ConfigError::Missing(
                    "MANAGE_TOKEN_SECRET",
                    "with SES_ENABLED=true it must hold at least 32 random bytes (Secrets Manager)",
                ));
            }
            None => DEV_MANAGE_TOKEN_SECRET.to_owned(),
        };
        let manage_key = ManageKey::new(manage_secret.into_bytes())
            .map_err(|weak| ConfigError::Invalid("MANAGE_TOKEN_SECRET", weak.to_string()))?;
        let webhook_secret = match lookup("WEBHOOK_SIGNING_SECRET") {
            Some(secret) => secret,
            None if enabled => {
                return Err(ConfigError::Missing(
                    "WEBHOOK_SIGNING_SECRET",
                    "with SES_ENABLED=true it must hold at least 32 random bytes (Secrets Manager)",
                ));
            }
            None => DEV_WEBHOOK_SIGNING_SECRET.to_owned(),
        };
        let webhook_key = WebhookKey::new(webhook_secret.into_bytes())
            .map_err(|weak| ConfigError::Invalid("WEBHOOK_SIGNING_SECRET", weak.to_string()))?;
        let webhook_allow_loopback = flag(&lookup, "WEBHOOK_ALLOW_LOOPBACK")?;
        if webhook_allow_loopback && enabled {
            return Err(ConfigError::Invalid(
                "WEBHOOK_ALLOW_LOOPBACK",
                "is for local tests only and cannot be set with SES_ENABLED=true".to_owned(),
            ));
        }
        let database_pool_size = match lookup("DATABASE_POOL_SIZE") {
            None => 1,
            Some(size) => size
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or_else(|| {
                    ConfigError::Invalid("DATABASE_POOL_SIZE", format!("`{size}` is not 1–64"))
                })?,
        };
        let booking_rate_limit_per_minute =
            per_minute(&lookup, "BOOKING_RATE_LIMIT_PER_MINUTE", 20)?;
        let availability_rate_limit_per_minute =
            per_minute(&lookup, "AVAILABILITY_RATE_LIMIT_PER_MINUTE", 120)?;
        let manage_rate_limit_per_minute = per_minute(&lookup, "MANAGE_RATE_LIMIT_PER_MINUTE", 30)?;
        Ok(Self {
            webhook_key,
            webhook_allow_loopback,
            manage_rate_limit_per_minute,
            public_booking_url,
            public_api_url,
            manage_key,
            booking_rate_limit_per_minute,
            availability_rate_limit_per_minute,
            database_url,
            database_ca_bundle: lookup("DATABASE_CA_BUNDLE").map(PathBuf::from),
            database_pool_size,
            auth_jwt_secret: lookup("AUTH_JWT_SECRET"),
            auth_trust_authorizer: flag(&lookup, "AUTH_TRUST_AUTHORIZER")?,
            edge_origin_secret: lookup("EDGE_ORIGIN_SECRET"),
            ses: SesSettings {
                enabled,
                from_address,
                configuration_set: lookup("SES_CONFIGURATION_SET"),
                outbox_dir: lookup("MAIL_OUTBOX_DIR")
                    .map_or_else(|| PathBuf::from(".local/mail"), PathBuf::from),
            },
            public_app_url,
        })
    }
}

/// A per-minute limit; unset is `default`.
fn per_minute(
    lookup: impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u32,
) -> Result<u32, ConfigError> {
    match lookup(name) {
        None => Ok(default),
        Some(limit) => limit
            .parse::<u32>()
            .map_err(|_| ConfigError::Invalid(name, format!("`{limit}` is not a whole number"))),
    }
}

/// A boolean setting; unset is false.
fn flag(lookup: impl Fn(&str) -> Option<String>, name: &'static str) -> Result<bool, ConfigError> {
    match lookup(name)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("false" | "0" | "no" | "off") => Ok(false),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some(other) => Err(ConfigError::Invalid(
            name,
            format!("`{other}` is not true or false"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn a_missing_database_url_is_named_with_what_to_do() {
        let error = config(&[]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.starts_with("DATABASE_URL is not set"), "{error}");
    }

    #[test]
    fn sending_mail_requires_a_from_address_and_app_url() {
        let base = ("DATABASE_URL", "postgres://localhost/booking");
        assert_eq!(
            config(&[base, ("SES_ENABLED", "true")]).err(),
            Some(ConfigError::Missing(
                "SES_FROM_ADDRESS",
                "with SES_ENABLED=true it must name a verified SES identity"
            ))
        );
        assert!(config(&[base, ("SES_ENABLED", "maybe")]).is_err());
        let local = config(&[base]).ok();
        assert_eq!(
            local.map(|c| (c.ses.enabled, c.database_pool_size)),
            Some((false, 1))
        );
        let full = config(&[
            base,
            ("SES_ENABLED", "true"),
            ("SES_FROM_ADDRESS", "bookings@fifi.example"),
            ("PUBLIC_APP_URL", "https://app.fifi.example/"),
            ("MANAGE_TOKEN_SECRET", "0123456789abcdef0123456789abcdef"),
            ("WEBHOOK_SIGNING_SECRET", "0123456789abcdef0123456789abcdef"),
        ]);
        assert_eq!(
            full.map(|c| c.public_app_url).ok().as_deref(),
            Some("https://app.fifi.example")
        );
    }

    #[test]
    fn the_manage_secret_has_a_dev_default_only_while_mail_is_not_sent() {
        let base = ("DATABASE_URL", "postgres://localhost/booking");
        let aws = [
            base,
            ("SES_ENABLED", "true"),
            ("SES_FROM_ADDRESS", "bookings@fifi.example"),
            ("PUBLIC_APP_URL", "https://app.fifi.example"),
        ];
        assert!(matches!(
            config(&aws),
            Err(ConfigError::Missing("MANAGE_TOKEN_SECRET", _))
        ));
        let short = [aws.as_slice(), &[("MANAGE_TOKEN_SECRET", "too short")]].concat();
        assert!(matches!(
            config(&short),
            Err(ConfigError::Invalid("MANAGE_TOKEN_SECRET", _))
        ));
        let secret = "0123456789abcdef0123456789abcdef";
        let set = [
            aws.as_slice(),
            &[
                ("MANAGE_TOKEN_SECRET", secret),
                ("WEBHOOK_SIGNING_SECRET", secret),
            ],
        ]
        .concat();
        let set = config(&set).ok();
        assert_eq!(
            set.as_ref().map(|c| c.manage_key.clone()),
            ManageKey::new(secret).ok()
        );
        assert_eq!(
            set.map(|c| c.public_booking_url).as_deref(),
            Some("https://app.fifi.example"),
            "the booking pages default to the app"
        );
        let local = config(&[base, ("PUBLIC_BOOKING_URL", "https://book.fifi.example/")]).ok();
        assert_eq!(
            local.as_ref().map(|c| c.public_booking_url.as_str()),
            Some("https://book.fifi.example")
        );
        assert!(local.is_some_and(|c| c.manage_key
            == ManageKey::new(DEV_MANAGE_TOKEN_SECRET).unwrap_or_else(|_| unreachable!())));
    }

    #[test]
    fn webhooks_need_their_own_secret_in_aws_and_never_reach_loopback_there() {
        let secret = "0123456789abcdef0123456789abcdef";
        let aws = [
            ("DATABASE_URL", "postgres://localhost/booking"),
            ("SES_ENABLED", "true"),
            ("SES_FROM_ADDRESS", "bookings@fifi.example"),
            ("PUBLIC_APP_URL", "https://app.fifi.example"),
            ("MANAGE_TOKEN_SECRET", secret),
        ];
        assert!(matches!(
            config(&aws),
            Err(ConfigError::Missing("WEBHOOK_SIGNING_SECRET", _))
        ));
        let with_secret = [aws.as_slice(), &[("WEBHOOK_SIGNING_SECRET", secret)]].concat();
        assert!(config(&with_secret).is_ok_and(|c| !c.webhook_allow_loopback));
        let loopback = [
            with_secret.as_slice(),
            &[("WEBHOOK_ALLOW_LOOPBACK", "true")],
        ]
        .concat();
        assert!(matches!(
            config(&loopback),
            Err(ConfigError::Invalid("WEBHOOK_ALLOW_LOOPBACK", _))
        ));
        let local = config(&[
            ("DATABASE_URL", "postgres://localhost/booking"),
            ("WEBHOOK_ALLOW_LOOPBACK", "true"),
        ]);
        assert!(local.is_ok_and(|c| c.webhook_allow_loopback));
    }

    #[test]
    fn authorizer_claims_are_trusted_only_when_asked_for() {
        let base = ("DATABASE_URL", "postgres://localhost/booking");
        let trusted = |pairs: &[(&str, &str)]| config(pairs).map(|c| c.auth_trust_authorizer);
        assert_eq!(trusted(&[base]), Ok(false));
        assert_eq!(
            trusted(&[base, ("AUTH_TRUST_AUTHORIZER", "true")]),
            Ok(true)
        );
        assert!(trusted(&[base, ("AUTH_TRUST_AUTHORIZER", "maybe")]).is_err());
    }
}
