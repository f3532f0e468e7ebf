//! HTTP only: extract, authorise, call the domain and the database, map to responses.
//! Request bodies are `*In`, partial updates `*Patch`, responses `*Out`.

pub mod audit;
pub mod auth;
pub mod changes;
pub mod cities;
pub mod clients;
pub mod common;
pub mod counties;
pub mod funding;
pub mod health;
pub mod provinces;
pub mod reports;
pub mod responses;
pub mod rounds;
pub mod shape;
pub mod staff;
pub mod stations;
pub mod towns;
pub mod trainings;
pub mod updates;
pub mod users;
pub mod webhooks;

use utoipa_actix_web::service_config::ServiceConfig;

/// Everything under `/api/v1` that needs an access token.
pub fn api_v1(cfg: &mut ServiceConfig) {
    cfg.service(auth::revoke).service(auth::me);
    provinces::configure(cfg);
    cities::configure(cfg);
    counties::configure(cfg);
    towns::configure(cfg);
    stations::configure(cfg);
    staff::configure(cfg);
    funding::configure(cfg);
    trainings::configure(cfg);
    updates::configure(cfg);
    reports::configure(cfg);
    rounds::configure(cfg);
    users::configure(cfg);
    clients::configure(cfg);
    audit::configure(cfg);
    changes::configure(cfg);
    webhooks::configure(cfg);
}

/// Operations endpoints at the root.
pub fn operations(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(crate::metrics::get_metrics);
}
