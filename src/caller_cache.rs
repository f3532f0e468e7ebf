//! Callers recently authenticated on this instance, so that most requests check their access
//! token without a round trip to the database.
//!
//! What a token's check found (the caller's role, county and principal, and a user's session's
//! end) is kept for at most `SHUANGBAI_AUTH_CACHE_MS` (default and most 1000 ms), keyed by the
//! token's subject, session and `auth_version`. A deactivation, a password change or a logout
//! therefore ends access within a second on every instance, and at once on the instance that
//! made it: that one forgets everything it kept ([`CallerCache::forget_all`]). Password hashes
//! are never read for this, let alone kept.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use crate::policy::Caller;

/// The longest a check is kept: the bound the README promises.
pub const MOST_KEPT_FOR: Duration = Duration::from_secs(1);
/// Callers kept at most; past it, those kept longest ago go first (all of them, if need be), so
/// a flood of distinct tokens costs bounded memory.
const MOST_KEPT: usize = 10_000;

/// Whose token it is: a user's (with its session) or an integration client's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    User { id: i32, session: String },
    Client { id: i32 },
}

/// A token's subject and the `auth_version` it was issued under: a password change makes a new
/// key, so an old token never finds the check made for a new one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    pub subject: Subject,
    pub auth_version: i32,
}

struct Kept {
    caller: Caller,
    /// A user's session ends then, whatever else happens.
    session_ends: Option<NaiveDateTime>,
    at: Instant,
    /// [`CallerCache::forget_all`] calls before the check was read: one made meanwhile voids it.
    epoch: u64,
}

pub struct CallerCache {
    kept: Mutex<HashMap<TokenKey, Kept>>,
    epoch: AtomicU64,
    keep_for: Duration,
}

impl std::fmt::Debug for CallerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerCache")
            .field("keep_for", &self.keep_for)
            .finish_non_exhaustive()
    }
}

impl CallerCache {
    /// Keeps checks for `keep_for`, at most [`MOST_KEPT_FOR`]; zero keeps none.
    pub fn new(keep_for: Duration) -> CallerCache {
        CallerCache {
            kept: Mutex::default(),
            epoch: AtomicU64::new(0),
            keep_for: keep_for.min(MOST_KEPT_FOR),
        }
    }

    /// To be read before the database is, and given to [`keep`](Self::keep) with what was read.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The caller a recent check found for this token, if it still holds at `now`.
    pub fn get(&self, key: &TokenKey, now: NaiveDateTime) -> Option<Caller> {
        if self.keep_for.is_zero() {
            return None;
        }
        let epoch = self.epoch();
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(key)
            .filter(|k| {
                k.epoch == epoch
                    && k.at.elapsed() < self.keep_for
                    && k.session_ends.is_none_or(|end| end > now)
            })
            .map(|k| k.caller.clone())
    }

    /// Keeps what a check read, having read [`epoch`](Self::epoch) before it.
    pub fn keep(
        &self,
        key: TokenKey,
        caller: Caller,
        session_ends: Option<NaiveDateTime>,
        epoch: u64,
    ) {
        if self.keep_for.is_zero() || epoch != self.epoch() {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= MOST_KEPT {
            kept.retain(|_, k| k.at.elapsed() < self.keep_for);
            if kept.len() >= MOST_KEPT {
                kept.clear();
            }
        }
        kept.insert(
            key,
            Kept {
                caller,
                session_ends,
                at: Instant::now(),
                epoch,
            },
        );
    }

    /// Forgets every kept check: called once an account or session change has committed here.
    pub fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// How many checks are kept.
    pub fn len(&self) -> usize {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::auth::Role;
    use crate::policy::Principal;

    fn caller() -> Caller {
        Caller {
            principal: Principal::User {
                id: 7,
                username: "u".into(),
            },
            role: Role::Viewer,
            county_id: None,
            city_id: None,
        }
    }

    fn key(auth_version: i32) -> TokenKey {
        TokenKey {
            subject: Subject::User {
                id: 7,
                session: "s".into(),
            },
            auth_version,
        }
    }

    fn at(h: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
            .and_then(|d| d.and_hms_opt(h, 0, 0))
            .unwrap_or_default()
    }

    #[test]
    fn a_check_is_kept_for_its_time_and_only_for_its_own_token() {
        let cache = CallerCache::new(Duration::from_millis(50));
        cache.keep(key(1), caller(), Some(at(12)), cache.epoch());
        assert!(cache.get(&key(1), at(10)).is_some());
        assert!(cache.get(&key(2), at(10)).is_none(), "another auth_version");
        assert!(
            cache.get(&key(1), at(12)).is_none(),
            "the session has ended"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get(&key(1), at(10)).is_none(), "kept too long");
    }

    #[test]
    fn forgetting_voids_what_was_kept_and_what_was_read_before_it() {
        let cache = CallerCache::new(Duration::from_secs(5));
        cache.keep(key(1), caller(), None, cache.epoch());
        let read_before = cache.epoch();
        cache.forget_all();
        assert!(cache.get(&key(1), at(10)).is_none());
        cache.keep(key(1), caller(), None, read_before);
        assert!(
            cache.get(&key(1), at(10)).is_none(),
            "a check read before the change is not kept"
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn no_check_is_kept_longer_than_a_second_or_at_all_when_zero() {
        assert_eq!(
            CallerCache::new(Duration::from_secs(60)).keep_for,
            MOST_KEPT_FOR
        );
        let none = CallerCache::new(Duration::ZERO);
        none.keep(key(1), caller(), None, none.epoch());
        assert!(none.get(&key(1), at(10)).is_none());
    }

    #[test]
    fn the_cache_holds_a_bounded_number_of_callers() {
        let cache = CallerCache::new(Duration::from_secs(1));
        for id in 0..(MOST_KEPT as i32 + 10) {
            let k = TokenKey {
                subject: Subject::Client { id },
                auth_version: 1,
            };
            cache.keep(k, caller(), None, cache.epoch());
        }
        assert!(cache.len() <= MOST_KEPT);
    }
}
