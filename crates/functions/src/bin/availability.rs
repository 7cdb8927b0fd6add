//! Lambda: `GET /services/{serviceId}/availability`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_functions::serve_http(|deps, request| async move {
        booking_functions::availability::handle(deps, request).await
    })
    .await
}
