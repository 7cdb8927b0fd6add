//! Where rendered mails go: SES v2 in production, `.eml` files with `SES_ENABLED=false`, memory
//! in tests.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};
use aws_smithy_http_client::tls;
use booking_domain::client::mask_email;

use crate::RenderedMail;

/// A send that did not go through. `permanent`: SES refused this mail's recipient for good (retrying the
/// same mail cannot help); otherwise it is retried after a backoff. The message never holds a
/// full mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub permanent: bool,
    pub message: String,
}

impl SendError {
    fn transient(message: impl AsRef<str>) -> Self {
        Self {
            permanent: false,
            message: mask_addresses(message.as_ref()),
        }
    }

    fn permanent(message: impl AsRef<str>) -> Self {
        Self {
            permanent: true,
            message: mask_addresses(message.as_ref()),
        }
    }
}

/// Masks every mail address in `text` (SES names refused recipients in its messages).
fn mask_addresses(text: &str) -> String {
    let edge = |c: char| !(c.is_alphanumeric() || c == '@');
    text.split(' ')
        .map(|word| {
            if !word.contains('@') {
                return word.to_owned();
            }
            let core = word.trim_matches(edge);
            match word.find(core) {
                Some(at) if !core.is_empty() => format!(
                    "{}{}{}",
                    &word[..at],
                    mask_email(core),
                    &word[at + core.len()..]
                ),
                _ => word.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sends rendered mails. Built once per container and shared by every invocation.
#[derive(Debug, Clone)]
pub enum Mailer {
    /// Amazon SES v2, raw content (the MIME message as rendered).
    Ses {
        client: aws_sdk_sesv2::Client,
        configuration_set: Option<String>,
    },
    /// `SES_ENABLED=false`: each mail becomes `{dir}/{job_id}-{kind}.eml`.
    Local { dir: PathBuf },
    /// Tests: mails are kept for assertions.
    Memory(Arc<Mutex<Vec<RenderedMail>>>),
    /// Benchmarks: `inner` behind a network's worth of waiting on every call, as SES in AWS
    /// answers in tens of milliseconds where moto and memory answer at once.
    Delayed {
        inner: Box<Mailer>,
        latency: Duration,
    },
}

/// The SDK configuration mails are sent with: the standard provider chains (region and
/// credentials from the Lambda environment; the endpoint overridable only through the SDK's own
/// `AWS_ENDPOINT_URL_SESV2` / `AWS_ENDPOINT_URL`), rustls with ring, and short limits so a
/// request path never waits long on SES: 1 s to connect, 3 s per call, one quick retry.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

/// [`sdk_config`] before loading, for a caller (a test) that sets the region, credentials or
/// endpoint itself.
pub fn sdk_config_loader() -> ConfigLoader {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(3))
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(100)),
        )
}

impl Mailer {
    /// The mailer the configuration asks for: SES when `ses_enabled`, else `.eml` files in
    /// `outbox_dir`. Reads the AWS environment but makes no network call.
    pub async fn from_settings(
        ses_enabled: bool,
        configuration_set: Option<String>,
        outbox_dir: PathBuf,
    ) -> Self {
        if ses_enabled {
            Self::ses(&sdk_config().await, configuration_set)
        } else {
            Self::Local { dir: outbox_dir }
        }
    }

    pub fn ses(config: &SdkConfig, configuration_set: Option<String>) -> Self {
        Self::Ses {
            client: aws_sdk_sesv2::Client::new(config),
            configuration_set,
        }
    }

    pub fn in_memory() -> Self {
        Self::Memory(Arc::default())
    }

    /// This mailer with `latency` added to every call ([`Mailer::Delayed`]).
    pub fn with_latency(self, latency: Duration) -> Self {
        Self::Delayed {
            inner: Box::new(self),
            latency,
        }
    }

    /// What a memory mailer holds (nothing for the others).
    pub fn sent(&self) -> Vec<RenderedMail> {
        match self {
            Self::Memory(mails) => mails.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            Self::Delayed { inner, .. } => inner.sent(),
            _ => Vec::new(),
        }
    }

    /// Sends one mail; returns the id its recipient system gave it (SES's message id).
    pub async fn send(&self, mail: &RenderedMail) -> Result<String, SendError> {
        match self {
            Self::Ses {
                client,
                configuration_set,
            } => send_ses(client, configuration_set.as_deref(), mail).await,
            Self::Local { dir } => write_local(dir, mail).await,
            Self::Memory(mails) => {
                let mut mails = mails.lock().unwrap_or_else(PoisonError::into_inner);
                mails.push(mail.clone());
                Ok(format!("memory-{}", mails.len()))
            }
            Self::Delayed { inner, latency } => {
                tokio::time::sleep(*latency).await;
                Box::pin(inner.send(mail)).await
            }
        }
    }
}

async fn send_ses(
    client: &aws_sdk_sesv2::Client,
    configuration_set: Option<&str>,
    mail: &RenderedMail,
) -> Result<String, SendError> {
    let raw = RawMessage::builder()
        .data(Blob::new(mail.raw.clone()))
        .build()
        .map_err(|e| SendError::permanent(e.to_string()))?;
    let kind_tag = MessageTag::builder()
        .name("kind")
        .value(mail.kind.as_str())
        .build()
        .map_err(|e| SendError::permanent(e.to_string()))?;
    let output = client
        .send_email()
        .from_email_address(&mail.from)
        .destination(Destination::builder().to_addresses(&mail.to).build())
        .content(EmailContent::builder().raw(raw).build())
        .email_tags(kind_tag)
        .set_configuration_set_name(configuration_set.map(str::to_owned))
        .send()
        .await
        .map_err(|error| classify(error, mail))?;
    output
        .message_id()
        .map(str::to_owned)
        .ok_or_else(|| SendError::transient("SES accepted the mail without a message id"))
}

/// Timeouts, connection failures, server errors, throttling and refusals of the sender's side
/// pass; only a refusal of `mail`'s recipient stays refused ([`Refusal::is_permanent_for`]).
fn classify(error: SdkError<SendEmailError>, mail: &RenderedMail) -> SendError {
    let detail = DisplayErrorContext(&error).to_string();
    let SdkError::ServiceError(service) = &error else {
        // Timeouts, dispatch (connect) failures, unreadable responses, request construction.
        return SendError::transient(detail);
    };
    let status = service.raw().status().as_u16();
    let cause = service.err();
    let refusal = Refusal {
        code: cause.code().unwrap_or("error"),
        message: cause.message().unwrap_or("no message"),
    };
    let message = format!("SES {} ({status}): {}", refusal.code, refusal.message);
    if refusal.is_permanent_for(&mail.from, &mail.to) {
        SendError::permanent(message)
    } else {
        SendError::transient(message)
    }
}

/// What SES answered when it refused a send.
struct Refusal<'a> {
    code: &'a str,
    message: &'a str,
}

impl Refusal<'_> {
    /// A malformed request or a rejected message that names the recipient, and not the
    /// sender, is about the recipient: retrying cannot help. Everything else is fixed on the
    /// sender's side or passes by itself — the identity, MAIL FROM, the configuration set, the
    /// account paused or suspended, quotas, throttling, SES itself — so the mail is retried at
    /// the capped backoff until it goes out, and the backlog alarm tells the operator. (SES
    /// names the identities it refuses; its codes alone do not tell sender from recipient.)
    fn is_permanent_for(&self, sender: &str, recipient: &str) -> bool {
        let refuses_the_request = matches!(
            self.code,
            "MessageRejected" | "BadRequestException" | "InvalidParameterValue"
        );
        let message = self.message.to_lowercase();
        refuses_the_request
            && message.contains(&recipient.to_lowercase())
            && !message.contains(&sender.to_lowercase())
    }
}

async fn write_local(dir: &std::path::Path, mail: &RenderedMail) -> Result<String, SendError> {
    let name = format!("{}-{}.eml", mail.job_id, mail.kind);
    let path = dir.join(&name);
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| SendError::transient(format!("cannot create {}: {e}", dir.display())))?;
    tokio::fs::write(&path, &mail.raw)
        .await
        .map_err(|e| SendError::transient(format!("cannot write {}: {e}", path.display())))?;
    tracing::info!(
        kind = %mail.kind,
        to = %mask_email(&mail.to),
        subject = %mail.subject,
        path = %path.display(),
        "mail written locally (SES_ENABLED=false)"
    );
    Ok(format!("local-{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENDER: &str = "bookings@example.com";
    const RECIPIENT: &str = "jane@client.example";

    fn permanent(code: &str, message: &str) -> bool {
        Refusal { code, message }.is_permanent_for(SENDER, RECIPIENT)
    }

    #[test]
    fn only_a_refusal_of_the_recipient_is_permanent() {
        let recipient_refused = format!(
            "Email address is not verified. The following identities failed the check in region US-EAST-1: {RECIPIENT}"
        );
        assert!(permanent("MessageRejected", &recipient_refused));
        assert!(permanent(
            "BadRequestException",
            &format!("Illegal address: {RECIPIENT}")
        ));
        assert!(permanent(
            "InvalidParameterValue",
            &format!("Missing domain in <{}>", RECIPIENT.to_uppercase())
        ));
    }

    #[test]
    fn sender_side_and_account_level_refusals_are_retried() {
        let sender_unverified = format!(
            "Email address is not verified. The following identities failed the check in region US-EAST-1: {SENDER}"
        );
        let both = format!("{sender_unverified}, {RECIPIENT}");
        for (code, message) in [
            ("MessageRejected", sender_unverified.as_str()),
            ("MessageRejected", both.as_str()),
            (
                "MessageRejected",
                "Did not have authority to send from email bookings@example.com",
            ),
            ("MessageRejected", "Email address is not verified."),
            (
                "MailFromDomainNotVerifiedException",
                "MAIL FROM domain is not verified",
            ),
            (
                "NotFoundException",
                "Configuration set <transactional> does not exist.",
            ),
            ("AccountSuspendedException", "The account is suspended"),
            (
                "SendingPausedException",
                "Sending is paused for this account",
            ),
            ("TooManyRequestsException", "Too many requests"),
            ("LimitExceededException", "Maximum sending rate exceeded"),
            ("Throttling", "Rate exceeded"),
            (
                "AccessDeniedException",
                "not authorized to perform ses:SendEmail",
            ),
            ("BadRequestException", "Illegal address"),
            ("InternalFailure", "internal error"),
        ] {
            assert!(!permanent(code, message), "{code}: {message}");
        }
    }

    #[test]
    fn addresses_in_error_messages_are_masked() {
        assert_eq!(
            mask_addresses(
                "Email address is not verified. The following identities failed the check in region US-EAST-1: jane@example.com, <bob@x.example>"
            ),
            "Email address is not verified. The following identities failed the check in region US-EAST-1: j***@example.com, <b***@x.example>"
        );
        assert_eq!(mask_addresses("no address here"), "no address here");
    }
}
