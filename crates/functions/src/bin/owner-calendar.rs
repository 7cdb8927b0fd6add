//! Lambda: the owner's calendar, read only — `GET /jobs`, `GET /jobs/{jobId}`, `GET /contacts`,
//! `GET /contacts/{contactId}` (owner).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_functions::serve_http(|deps, request| async move {
        booking_functions::owner_calendar::handle(deps, request).await
    })
    .await
}
