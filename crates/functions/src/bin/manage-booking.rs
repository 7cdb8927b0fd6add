//! Lambda: the client's own booking by its manage link — `GET /bookings/{token}`,
//! `POST /bookings/{token}/cancel`, `POST /bookings/{token}/reschedule` (public).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_functions::serve_http(|deps, request| async move {
        booking_functions::manage_booking::handle(deps, request).await
    })
    .await
}
