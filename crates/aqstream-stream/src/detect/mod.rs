//! The detection hook of stage 2: every closed sensor-minute goes to a detector, which
//! turns the city's minutes into alerts as the watermark advances.
//!
//! The detector itself (episode detection, source localization) lives in its own
//! crate (`aqstream-locate`); [`detector`] is the one place that chooses it, and
//! [`locate::LocateDetector`] adapts it to this hook, including checkpoints (see there).

pub mod locate;

use crate::partial::MinuteValues;
use aqstream_core::Measure;
use aqstream_core::alert::Alert;
use aqstream_core::measure::N_MEASURES as N_MEASURES_PUB;
use aqstream_core::registry::SensorRegistry;
use aqstream_core::time::EpochMillis;
use std::sync::Arc;

/// One closed sensor-minute, as detection sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorMinute {
    /// The sensor (see the registry for its position, district and kind).
    pub sensor_id: Arc<str>,
    /// End of the minute (event time).
    pub ts: EpochMillis,
    /// Valid means of each measure ([`Measure::index`] order); the wind direction is
    /// the direction of the mean wind vector (degrees, from).
    pub values: [Option<f64>; N_MEASURES_PUB],
    /// QA wants this minute ignored (fast clock, drift); flagged readings are already
    /// left out of the means.
    pub qa_excluded: bool,
    /// 0 when the minute closed; 1, 2, … when late readings corrected it.
    pub revision: i32,
}

impl SensorMinute {
    /// A sensor-minute from its means.
    pub fn new(
        sensor_id: Arc<str>,
        minute_start: EpochMillis,
        v: &MinuteValues,
        qa_excluded: bool,
        revision: i32,
    ) -> SensorMinute {
        let mut values = [None; N_MEASURES_PUB];
        for m in Measure::ALL {
            values[m.index()] = v.get(m);
        }
        SensorMinute {
            sensor_id,
            ts: minute_start + aqstream_core::time::MINUTE_MS,
            values,
            qa_excluded,
            revision,
        }
    }

    /// The value of `m`.
    pub fn get(&self, m: Measure) -> Option<f64> {
        self.values[m.index()]
    }
}

/// Turns sensor-minutes into alert state changes.
pub trait Detect: Send {
    /// A sensor-minute closed (or was corrected). Minutes come in event-time order,
    /// all sensors of a minute before the next minute, except corrections.
    fn observe(&mut self, minute: &SensorMinute);

    /// The stream's watermark reached `watermark`: the alert transitions up to it.
    fn advance(&mut self, watermark: EpochMillis) -> Vec<Alert>;

    /// The detector's state for a checkpoint.
    fn snapshot(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Restores a state from [`Detect::snapshot`].
    fn restore(&mut self, _state: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

/// A detector that never alerts.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDetector;

impl Detect for NoDetector {
    fn observe(&mut self, _minute: &SensorMinute) {}

    fn advance(&mut self, _watermark: EpochMillis) -> Vec<Alert> {
        Vec::new()
    }
}

/// The detector of the pipeline: `aqstream-locate`'s, with its default configuration,
/// remembering `cfg.detector_memory_min` minutes of input for checkpoints.
pub fn detector(registry: &SensorRegistry, cfg: &crate::StreamConfig) -> Box<dyn Detect> {
    Box::new(locate::LocateDetector::new(
        Arc::new(registry.clone()),
        aqstream_locate::DetectorConfig::default(),
        i64::from(cfg.detector_memory_min) * aqstream_core::time::MINUTE_MS,
    ))
}
