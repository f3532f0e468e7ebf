//! The clock: what "now" is for stored timestamps. ("Today" in the bureau's time zone is
//! `domain::today_in`.) One place, so every layer reads time the same way.

use chrono::{NaiveDateTime, Utc};

/// The stored form of "now": UTC, to the microsecond (what both backends keep).
pub fn now() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.with_nanosecond_truncated()
}

trait TruncateNanos {
    fn with_nanosecond_truncated(self) -> Self;
}

impl TruncateNanos for NaiveDateTime {
    fn with_nanosecond_truncated(self) -> Self {
        use chrono::Timelike;
        let micros = self.nanosecond() / 1_000 * 1_000;
        self.with_nanosecond(micros).unwrap_or(self)
    }
}
