//! Handler tests: real `lambda_http::Request`s (from API Gateway event fixtures) against the real
//! handlers and a real Postgres database per test.

mod availability;
mod booking;
mod contract;
mod mail;
mod owner;
mod storms;
mod support;
