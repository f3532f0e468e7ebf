//! What every handler can reach: the pool and the settings.

use std::sync::Arc;

use chrono::NaiveDate;

use crate::config::Settings;
use crate::db::DbPool;

#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    pub settings: Arc<Settings>,
}

impl AppState {
    /// Today in the bureau's time zone.
    pub fn today(&self) -> NaiveDate {
        crate::domain::today_in(self.settings.time_zone)
    }
}
