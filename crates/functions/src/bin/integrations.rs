//! Lambda: the owner's integrations — `POST /webhooks`, `GET /webhooks`,
//! `DELETE /webhooks/{id}`, `GET /webhooks/{id}/deliveries` (owner).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_functions::serve_http(|deps, request| async move {
        booking_functions::integrations::handle(deps, request).await
    })
    .await
}
