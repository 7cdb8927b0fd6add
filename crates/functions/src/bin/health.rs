//! Lambda: `GET /health` (public).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_functions::serve_http(|deps, request| async move {
        booking_functions::health::handle(deps, request).await
    })
    .await
}
