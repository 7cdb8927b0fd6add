//! Lambda: `POST /jobs/{jobId}/decline` (owner).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_functions::serve_http(|deps, request| async move {
        booking_functions::owner_routes::decline(deps, request).await
    })
    .await
}
