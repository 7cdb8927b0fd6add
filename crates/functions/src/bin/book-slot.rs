//! Lambda: `POST /services/{serviceId}/book`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_functions::serve_http(|deps, request| async move {
        booking_functions::book_slot::handle(deps, request).await
    })
    .await
}
