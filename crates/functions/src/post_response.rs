//! Work after the response, the Lambda way. Lambda freezes an environment once its runtime asks
//! for the next event, so work left running after the response (a booking's mails) could sleep
//! until the next invocation. An internal extension registered for `INVOKE` events holds the
//! environment open instead: Lambda returns the response to the caller as soon as the runtime
//! posts it, and the invocation ends only when the extension asks for its next event too —
//! here, once the invocation's owed work is done (after the AWS runtime's
//! `extension-internal-flush` example). The time shows as `PostRuntimeExtensionsDuration`.

use futures_util::future::BoxFuture;
use lambda_extension::{Extension, LambdaEvent, NextEvent, service_fn};
use std::sync::Arc;
use tokio::sync::Mutex;
use tokio::sync::mpsc::UnboundedReceiver;

/// `POST_RESPONSE_EXTENSION=on` (template.yaml sets it; Lambda's OS-only runtimes leave no other
/// sign of running in AWS): off elsewhere — locally nothing freezes a process, so owed work
/// simply runs.
fn wanted() -> bool {
    std::env::var("POST_RESPONSE_EXTENSION").is_ok_and(|value| value == "on")
}

/// Registers the extension (before the runtime's first `next`, as Lambda requires of internal
/// extensions) and returns its run loop: for each invocation it waits for one message on
/// `settled`, sent when the invocation's owed work is done. `None` when not wanted or when
/// registration fails (logged): owed work then runs unguarded, and whatever a freeze cuts
/// short is sent by the relay when its lease runs out.
pub async fn register(
    settled: UnboundedReceiver<()>,
) -> Option<BoxFuture<'static, Result<(), lambda_http::Error>>> {
    if !wanted() {
        return None;
    }
    let settled = Arc::new(Mutex::new(settled));
    let processor = service_fn(move |event: LambdaEvent| {
        let settled = Arc::clone(&settled);
        async move {
            if let NextEvent::Invoke(_) = event.next {
                settled.lock().await.recv().await;
            }
            Ok::<(), lambda_http::Error>(())
        }
    });
    let registered = Extension::new()
        .with_events(&["INVOKE"])
        .with_events_processor(processor)
        .with_extension_name("post-response")
        .register()
        .await;
    match registered {
        Ok(extension) => Some(Box::pin(extension.run())),
        Err(error) => {
            tracing::warn!(%error, "post-response extension not registered; owed work runs unguarded");
            None
        }
    }
}
