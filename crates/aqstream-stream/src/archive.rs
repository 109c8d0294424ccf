//! What the operators ask of the history when data arrives later than the allowed
//! lateness and the window state is gone: the published readings of a sensor and the
//! latest published revision of a window.

use crate::error::Result;
use crate::rows::Scope;
use crate::window::WindowId;
use aqstream_core::Reading;
use aqstream_core::time::EpochMillis;
use std::collections::HashMap;
use std::sync::Arc;

/// Published history (everything up to the previous checkpoint of the caller).
pub trait Archive: Send + Sync {
    /// Readings of these sensors with `from ≤ ts < to`.
    fn readings(
        &self,
        sensors: &[&str],
        from: EpochMillis,
        to: EpochMillis,
    ) -> Result<Vec<Reading>>;

    /// The highest published revision of each window of these keys (absent: never
    /// published).
    fn revisions(
        &self,
        scope: Scope,
        keys: &[(&str, WindowId)],
    ) -> Result<HashMap<(String, WindowId), i32>>;

    /// Stage 2's ledger: the final sensor-minutes of these districts with
    /// `from ≤ minute_start < to`.
    fn ledger(
        &self,
        districts: &[&str],
        from: EpochMillis,
        to: EpochMillis,
    ) -> Result<Vec<LedgerEntry>>;
}

/// One sensor-minute as stage 2 finalised it (its private ledger).
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    /// The sensor.
    pub sensor_id: Arc<str>,
    /// Its district.
    pub district: Arc<str>,
    /// Start of the minute.
    pub minute_start: EpochMillis,
    /// Left out of district aggregates (fast clock, drift).
    pub excluded: bool,
    /// Order of finalisation: of two entries for one sensor-minute the higher wins.
    pub version: i64,
    /// The valid means.
    pub values: crate::partial::MinuteValues,
}

/// No history at all (tests, or the first epoch of a replay).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoArchive;

impl Archive for NoArchive {
    fn readings(&self, _: &[&str], _: EpochMillis, _: EpochMillis) -> Result<Vec<Reading>> {
        Ok(Vec::new())
    }

    fn revisions(
        &self,
        _: Scope,
        _: &[(&str, WindowId)],
    ) -> Result<HashMap<(String, WindowId), i32>> {
        Ok(HashMap::new())
    }

    fn ledger(&self, _: &[&str], _: EpochMillis, _: EpochMillis) -> Result<Vec<LedgerEntry>> {
        Ok(Vec::new())
    }
}
