//! Shuangbai: the Double Hundred Project (双百工程) progress service.

pub mod auth;
pub mod caller_cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod idempotency;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod policy;
pub mod routes;
pub mod service;
pub mod startup;
pub mod state;
pub mod write;
