//! Where the pages' data come from: the [`CityData`] trait.
//!
//! [`crate::HistoryCityData`] answers from the Parquet history with SQL; a live worker
//! can implement the same four calls from its in-memory state. Implementations return
//! event-time data as of the newest data they have (a replayed history from last month
//! shows last month), never relative to the wall clock.

use crate::error::WebError;
use crate::model::{CityNow, HourlyHistory, Series};
use aqstream_core::alert::Alert;
use aqstream_core::time::EpochMillis;
use async_trait::async_trait;

/// Window length of a [`CityData::series`] request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// One-minute means.
    Minute,
    /// Five-minute means.
    FiveMinutes,
}

impl Step {
    /// Length in seconds.
    pub const fn seconds(self) -> u32 {
        match self {
            Step::Minute => 60,
            Step::FiveMinutes => 300,
        }
    }

    /// The aggregates' `window` name.
    pub const fn window(self) -> &'static str {
        match self {
            Step::Minute => "1m",
            Step::FiveMinutes => "5m",
        }
    }
}

/// The city's data as the pages need them.
#[async_trait]
pub trait CityData: Send + Sync + 'static {
    /// Every sensor with its latest values, the districts and the wind.
    async fn now(&self) -> Result<CityNow, WebError>;

    /// Hourly PM2.5 of every sensor over the `hours` complete hours before the latest data.
    async fn hourly(&self, hours: u32) -> Result<HourlyHistory, WebError>;

    /// Every state change of the alerts detected in the last `days` days before the
    /// latest data, oldest first.
    async fn alerts(&self, days: u32) -> Result<Vec<Alert>, WebError>;

    /// Every state change of one alert, oldest first (empty: no such alert).
    async fn alert(&self, alert_id: &str) -> Result<Vec<Alert>, WebError>;

    /// PM2.5 means of `sensors` per `step` over `[from, to)` (window starts).
    async fn series(
        &self,
        sensors: &[String],
        from: EpochMillis,
        to: EpochMillis,
        step: Step,
    ) -> Result<Series, WebError>;
}
