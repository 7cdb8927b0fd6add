//! The HTTP edge every function shares: configuration read once at start, request parsing,
//! problem+json errors (the one place outcomes become status codes), JSON views, and logs.

pub mod auth;
pub mod config;
pub mod input;
pub mod problem;
pub mod setup;
pub mod telemetry;
pub mod views;

pub use config::{Config, ConfigError, SesSettings};
pub use problem::ApiError;

use lambda_http::{Body, Response};

/// A JSON response; the body is already serialised.
pub fn json_response(status: u16, body: &serde_json::Value) -> Response<Body> {
    let text = body.to_string();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::Text(text))
        .unwrap_or_else(|_| problem::ApiError::internal().into_response())
}

/// Turns a handler's result into the response Lambda returns.
pub fn respond(result: Result<Response<Body>, ApiError>) -> Response<Body> {
    result.unwrap_or_else(ApiError::into_response)
}
