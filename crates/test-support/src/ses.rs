//! SES v2 clients of the production configuration (timeouts, retries, TLS stack) aimed at moto
//! or at any endpoint, with test credentials.

use aws_sdk_sesv2::config::{Credentials, Region};
use booking_email::{Mailer, sdk_config_loader};

/// The moto server `scripts/test` starts (`MOTO_URL`, or the SDK's own
/// `AWS_ENDPOINT_URL_SESV2`), without a trailing slash.
pub fn moto_url() -> String {
    std::env::var("MOTO_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL_SESV2"))
        .expect("MOTO_URL (or AWS_ENDPOINT_URL_SESV2) must point at a moto server (scripts/test starts one)")
        .trim_end_matches('/')
        .to_owned()
}

/// The SDK configuration the functions build, aimed at `endpoint`.
pub async fn ses_config(endpoint: &str) -> aws_config::SdkConfig {
    sdk_config_loader()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(endpoint)
        .load()
        .await
}

pub async fn ses_client(endpoint: &str) -> aws_sdk_sesv2::Client {
    aws_sdk_sesv2::Client::new(&ses_config(endpoint).await)
}

/// A mailer sending through SES at `endpoint`, without a configuration set.
pub async fn ses_mailer(endpoint: &str) -> Mailer {
    Mailer::ses(&ses_config(endpoint).await, None)
}
