//! SES v2 clients of the production configuration (timeouts, retries, TLS stack) aimed at moto
//! or at any endpoint, with test credentials.

use std::io::{Read, Write};
use std::net::TcpStream;

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

/// What moto's SES received for `recipient` (over every test so far: address them uniquely),
/// as (message id, raw message).
pub fn received_by(recipient: &str) -> Vec<(String, String)> {
    let authority = moto_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut stream = TcpStream::connect(&authority).expect("connect to moto");
    write!(
        stream,
        "GET /moto-api/data.json HTTP/1.0\r\nHost: {authority}\r\n\r\n"
    )
    .expect("ask moto");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("ask moto");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{head}"
    );
    let data: serde_json::Value = serde_json::from_str(body).expect("moto's JSON");
    let messages = data["ses"]["RawMessage"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    messages
        .iter()
        .filter(|message| {
            message["destinations"]
                .as_array()
                .is_some_and(|d| d.iter().any(|to| to.as_str() == Some(recipient)))
        })
        .map(|message| {
            (
                message["id"].as_str().unwrap_or_default().to_owned(),
                message["raw_data"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}
