//! Lambda: `GET /calendar/{feedToken}` (public; the token is the credential) — the calendar
//! feed that owners' calendar apps subscribe to.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_functions::serve_http(|deps, request| async move {
        booking_functions::calendar_feed::handle(deps, request).await
    })
    .await
}
