//! What every handler can reach: the pool and the settings.

use std::sync::Arc;

use chrono::NaiveDate;

use crate::auth::Tokens;
use crate::config::Settings;
use crate::db::DbPool;

/// Token requests per client address (this instance); failed logins per username are counted
/// in the database instead, so that limit holds across instances.
pub type LoginLimiter = governor::DefaultKeyedRateLimiter<std::net::IpAddr>;

#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    pub settings: Arc<Settings>,
    pub tokens: Tokens,
    pub login_limiter: Arc<LoginLimiter>,
}

impl AppState {
    pub fn new(pool: DbPool, settings: Settings) -> Result<AppState, String> {
        let burst = std::num::NonZeroU32::new(settings.login_burst_per_ip.max(1))
            .unwrap_or(std::num::NonZeroU32::MIN);
        let quota = governor::Quota::with_period(std::time::Duration::from_secs(3))
            .unwrap_or_else(|| governor::Quota::per_second(std::num::NonZeroU32::MIN))
            .allow_burst(burst);
        Ok(AppState {
            pool,
            tokens: Tokens::new(&settings.jwt_secret, settings.access_ttl_secs)?,
            login_limiter: Arc::new(governor::RateLimiter::keyed(quota)),
            settings: Arc::new(settings),
        })
    }

    /// `Err(seconds to wait)` when this address has asked for too many tokens.
    pub fn check_login_rate(&self, addr: Option<std::net::IpAddr>) -> Result<(), u64> {
        use governor::clock::{Clock, DefaultClock};
        let Some(ip) = addr else { return Ok(()) };
        self.login_limiter.check_key(&ip).map_err(|not_until| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        })
    }

    /// Today in the bureau's time zone.
    pub fn today(&self) -> NaiveDate {
        crate::domain::today_in(self.settings.time_zone)
    }
}
