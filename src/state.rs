//! What every handler can reach: the pool and the settings.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;

use crate::auth::Tokens;
use crate::caller_cache::CallerCache;
use crate::config::Settings;
use crate::db::DbPool;
use crate::service::tables::Keeper;

/// Token requests per client address (this instance); failed logins per username are counted
/// in the database instead, so that limit holds across instances. Addresses whose allowance is
/// full again are forgotten once a minute, so the map does not grow with every address seen.
pub struct LoginLimiter {
    limiter: governor::DefaultKeyedRateLimiter<IpAddr>,
    swept: Mutex<Instant>,
    sweep_every: Duration,
}

impl LoginLimiter {
    /// `burst` requests at once, then one per `period`; idle addresses forgotten every
    /// `sweep_every`.
    pub fn new(period: Duration, burst: u32, sweep_every: Duration) -> LoginLimiter {
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = governor::Quota::with_period(period)
            .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        LoginLimiter {
            limiter: governor::RateLimiter::keyed(quota),
            swept: Mutex::new(Instant::now()),
            sweep_every,
        }
    }

    /// `Err(seconds to wait)` when this address has asked too often.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        use governor::clock::{Clock, DefaultClock};
        let outcome = self.limiter.check_key(&ip).map_err(|not_until| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        });
        self.forget_idle_when_due();
        outcome
    }

    fn forget_idle_when_due(&self) {
        let Ok(mut swept) = self.swept.try_lock() else {
            return; // another request is sweeping
        };
        if swept.elapsed() >= self.sweep_every {
            *swept = Instant::now();
            self.forget_idle();
        }
    }

    /// Forgets every address whose allowance is full again (as if never seen).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// How many addresses are remembered.
    pub fn addresses(&self) -> usize {
        self.limiter.len()
    }
}

/// Password checks in progress per username (by its hash), on this instance. A failure is
/// recorded only once its check is done, so attempts in flight are counted here: a username
/// has no more checks running at once than failures it may still have before the lock-out.
#[derive(Default)]
pub struct AttemptsInFlight {
    counts: Mutex<std::collections::HashMap<String, Attempts>>,
}

/// A username's attempts: how many are running, and how many have ended since the first of
/// them started (kept while any runs, so an attempt sees every one that ended during it).
#[derive(Default)]
struct Attempts {
    running: u32,
    ended: u64,
}

/// One attempt in flight; dropping it ends it.
pub struct InFlight<'a> {
    attempts: &'a AttemptsInFlight,
    key: String,
    /// Whether it went on to check the password (and so may record a failure).
    checking: bool,
}

impl InFlight<'_> {
    /// The attempt goes on to check the password: its end is counted in `ended`. One that gives
    /// up before recorded nothing, so others need not read again for it.
    pub fn checking(mut self) -> Self {
        self.checking = true;
        self
    }
}

impl AttemptsInFlight {
    /// Starts an attempt on `key` if fewer than `budget` are running, else `None` (wait).
    pub fn start(&self, key: &str, budget: i64) -> Option<InFlight<'_>> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let attempts = counts.entry(key.to_string()).or_default();
        if i64::from(attempts.running) >= budget {
            if attempts.running == 0 {
                counts.remove(key);
            }
            return None;
        }
        attempts.running += 1;
        Some(InFlight {
            attempts: self,
            key: key.to_string(),
            checking: false,
        })
    }
}

impl AttemptsInFlight {
    /// How many attempts on `key` are running, and how many have ended while one of them ran.
    /// An attempt that read the failures and then finds `ended` changed must read them again:
    /// the one that ended may have recorded its failure after the read.
    pub fn running(&self, key: &str) -> (i64, u64) {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts
            .get(key)
            .map(|a| (i64::from(a.running), a.ended))
            .unwrap_or((0, 0))
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut counts = self
            .attempts
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(attempts) = counts.get_mut(&self.key) {
            attempts.running = attempts.running.saturating_sub(1);
            attempts.ended += u64::from(self.checking);
            if attempts.running == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    pub settings: Arc<Settings>,
    pub tokens: Tokens,
    pub login_limiter: Arc<LoginLimiter>,
    pub logins_in_flight: Arc<AttemptsInFlight>,
    /// Access tokens' recent checks, kept for at most a second (`caller_cache.rs`).
    pub callers: Arc<CallerCache>,
    /// Keeps the progress table's counts in the background (`service::tables`).
    pub keeper: Keeper,
}

impl AppState {
    pub fn new(pool: DbPool, settings: Settings) -> Result<AppState, String> {
        Ok(AppState {
            keeper: Keeper::start(pool.clone(), settings.keeping),
            pool,
            tokens: Tokens::new(&settings.jwt_secret, settings.access_ttl_secs)?,
            login_limiter: Arc::new(LoginLimiter::new(
                Duration::from_secs(3),
                settings.login_burst_per_ip,
                Duration::from_secs(60),
            )),
            logins_in_flight: Arc::default(),
            callers: Arc::new(CallerCache::new(settings.auth_cache)),
            settings: Arc::new(settings),
        })
    }

    /// `Err(seconds to wait)` when this address has asked for too many tokens.
    pub fn check_login_rate(&self, addr: Option<IpAddr>) -> Result<(), u64> {
        match addr {
            Some(ip) => self.login_limiter.check(ip),
            None => Ok(()),
        }
    }

    /// Today in the bureau's time zone.
    pub fn today(&self) -> NaiveDate {
        crate::domain::today_in(self.settings.time_zone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_refuses_past_the_burst_and_forgets_idle_addresses() {
        let limiter = LoginLimiter::new(Duration::from_millis(20), 2, Duration::from_millis(1));
        let a = IpAddr::from([10, 0, 0, 1]);
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_err(), "past the burst");
        for i in 0..100u8 {
            let _ = limiter.check(IpAddr::from([10, 0, 1, i]));
        }
        assert!(limiter.addresses() > 1);
        // Once every allowance is full again, a check sweeps them all away.
        std::thread::sleep(Duration::from_millis(100));
        let _ = limiter.check(IpAddr::from([10, 0, 2, 1]));
        assert!(
            limiter.addresses() <= 1,
            "{} remembered",
            limiter.addresses()
        );
        assert!(
            limiter.check(a).is_ok(),
            "a forgotten address starts afresh"
        );
    }
}
