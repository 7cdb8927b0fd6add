//! Handler tests: real `lambda_http::Request`s (from API Gateway event fixtures) against the real
//! handlers and a real Postgres database per test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing test should panic.

mod availability;
mod booking;
mod business;
mod calendar;
mod contract;
mod day;
mod health;
mod mail;
mod owner;
mod post_response;
mod self_service;
mod statuses;
mod storms;
mod support;
mod timeouts;
mod transitions;
