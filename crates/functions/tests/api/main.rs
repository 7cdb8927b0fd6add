//! Handler tests: real `lambda_http::Request`s (from API Gateway event fixtures) against the real
//! handlers and a real Postgres database per test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A failing test should panic.

mod availability;
mod booking;
mod business;
mod calendar;
mod contract;
mod day;
mod feeds;
mod health;
mod mail;
mod owner;
mod post_response;
mod reminders;
mod self_service;
mod staff;
mod staff_setup;
mod stats;
mod statuses;
mod storms;
mod support;
mod suppressions;
mod timeouts;
mod transitions;
mod webhooks;
