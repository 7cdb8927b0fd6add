//! Lambda: a client's data (owner) — `GET /contacts/{contactId}/export` and `DELETE
//! /contacts/{contactId}` (erase).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_functions::serve_http(|deps, request| async move {
        booking_functions::contact_data::handle(deps, request).await
    })
    .await
}
