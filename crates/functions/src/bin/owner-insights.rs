//! Lambda: the owner's feeds, statistics and suppressions — `POST /calendar-feeds`,
//! `DELETE /calendar-feeds/{id}`, `GET /stats`, `GET /suppressions`,
//! `DELETE /suppressions/{email}` (owner).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_functions::serve_http(|deps, request| async move {
        booking_functions::owner_insights::handle(deps, request).await
    })
    .await
}
