//! Lambda, invoked by the SNS topic SES publishes bounces and complaints to: suppresses the
//! reported addresses ([`booking_functions::ses_feedback::handle`]).

use std::sync::Arc;

use booking_edge::Config;
use booking_email::Mailer;
use booking_functions::Deps;
use chrono::Utc;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    booking_edge::telemetry::init();
    let config = Config::from_env()
        .inspect_err(|error| tracing::error!(%error, "configuration is incomplete"))?;
    // It sends no mail itself (the owner's notice goes through the outbox and the relay), so
    // no SES client is built.
    let deps = Deps::new(config, Arc::new(Utc::now), Mailer::in_memory())?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        booking_functions::ses_feedback::handle(&deps, event.payload)
    }))
    .await
}
