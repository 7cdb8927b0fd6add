//! Lambda: the owner's changes of a job — `POST /jobs/{jobId}/start`, `/complete`, `/no-show`,
//! `/cancel`, `/reschedule` (owner).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_functions::serve_http(|deps, request| async move {
        booking_functions::job_transitions::handle(deps, request).await
    })
    .await
}
