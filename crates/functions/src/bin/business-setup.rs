//! Lambda: running the business (owner) — `GET`/`PATCH /tenant`, `PUT /tenant/working-hours`,
//! `PUT`/`DELETE /tenant/date-overrides/{date}`, `GET /tenant/changes`, `GET`/`POST /services`,
//! `PATCH /services/{serviceId}`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    booking_functions::serve_http(|deps, request| async move {
        booking_functions::business_setup::handle(deps, request).await
    })
    .await
}
