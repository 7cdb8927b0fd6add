//! `GET /health` (public): 200 when the database answers and has every migration this code
//! was built with, else 503. One query does both; the answer names no host, version or error.

use booking_edge::{ApiError, json_response, respond};
use booking_repository::{is_unavailable, migrations_current};
use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::Deps;

pub async fn handle(deps: &Deps, _request: Request) -> Response<Body> {
    respond(health(deps).await)
}

async fn health(deps: &Deps) -> Result<Response<Body>, ApiError> {
    let mut conn = deps.connection().await?;
    match migrations_current(&mut conn).await {
        Ok(true) => Ok(json_response(
            200,
            &json!({"database": "ok", "migrations": "current"}),
        )),
        Ok(false) => {
            tracing::warn!("health: the database lacks migrations this code was built with");
            Err(not_migrated())
        }
        Err(error) if is_unavailable(&error) => {
            tracing::warn!(%error, "health: database unavailable");
            Err(ApiError::unavailable())
        }
        Err(error) => {
            // A database never migrated has no bookkeeping table; anything else unexpected is
            // as unhealthy, and logged with its cause.
            tracing::error!(%error, "health: cannot read the applied migrations");
            Err(not_migrated())
        }
    }
}

/// 503 `unavailable`: the database answers but is not ready for this code (a deploy whose
/// migrate step has not run yet, or failed).
fn not_migrated() -> ApiError {
    let mut error = ApiError::unavailable().with("migrations", json!("pending"));
    error.detail = "The service is being updated; please retry shortly.".to_owned();
    error.retry_after = Some(30);
    error
}
