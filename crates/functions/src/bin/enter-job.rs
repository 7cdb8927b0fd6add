//! Lambda: `POST /jobs` (owner).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_functions::serve_http(|deps, request| async move {
        booking_functions::owner_routes::enter_by_hand(deps, request).await
    })
    .await
}
