//! Lambda, on an EventBridge schedule (every minute): one relay pass per invocation
//! ([`booking_functions::email_relay::run_once`]).
// The relay's future (pipelined reads inside batches inside the runtime's loop) is deeper than
// the compiler's default layout depth in release builds.
#![recursion_limit = "256"]

use std::sync::Arc;

use booking_edge::Config;
use booking_functions::Deps;
use booking_functions::email_relay::run_once;
use chrono::Utc;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    booking_edge::telemetry::init();
    let config = Config::from_env()
        .inspect_err(|error| tracing::error!(%error, "configuration is incomplete"))?;
    let deps = Deps::from_config(config, Arc::new(Utc::now)).await?;
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| {
        run_once(&deps, Utc::now)
    }))
    .await
}
