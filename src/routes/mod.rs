//! HTTP only: extract, authorise, call the domain and the database, map to responses.
//! Request bodies are `*In`, partial updates `*Patch`, responses `*Out`.

pub mod common;
pub mod counties;
pub mod health;

use utoipa_actix_web::service_config::ServiceConfig;

/// Everything under `/api/v1`.
pub fn api_v1(cfg: &mut ServiceConfig) {
    counties::configure(cfg);
}

/// Operations endpoints at the root.
pub fn operations(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz);
}
