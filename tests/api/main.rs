//! One integration-test binary: the real server over real HTTP, on both backends.

// Helper code outside #[test] functions (clippy.toml covers those) fails loudly and may print.
#![allow(clippy::expect_used, clippy::print_stdout)]

#[macro_use]
mod helpers;

mod audit;
mod auth;
mod bad_input;
mod bulletins;
mod changes;
mod cities;
mod counties;
mod funding;
mod idempotency;
mod kept;
mod layers;
mod levels;
mod migrations;
mod operations;
mod outage;
mod report;
mod rounds;
mod security;
mod spec;
mod staff;
mod stations;
mod towns;
mod trainings;
mod updates;
mod webhooks;
