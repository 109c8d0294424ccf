//! What goes wrong in a real network: gain errors and noise on every low-cost sensor,
//! missing minutes, duplicates, late and out-of-order arrival, and a few sensors that
//! fail outright (stuck, 999 sentinels, drifting, a fast clock).

use serde::{Deserialize, Serialize};

/// Imperfections of every sensor and of the transport.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Imperfections {
    /// Log-standard deviation of each low-cost sensor's gain per pollutant.
    pub gain_sigma: f64,
    /// Additive noise per pollutant `[pm25, pm10, no2, so2, o3, co]` (standard deviation).
    pub noise_abs: [f64; 6],
    /// Multiplicative noise (relative standard deviation).
    pub noise_rel: f64,
    /// Probability that a sensor-minute is never sent.
    pub missing: f64,
    /// Probability that a reading is sent twice.
    pub duplicate: f64,
    /// Mean delay between the end of a minute and the reading's arrival, seconds.
    pub delay_mean_s: f64,
    /// Probability that a reading arrives late (30 s to `late_max_s` after the minute).
    pub late: f64,
    /// Longest late arrival, seconds.
    pub late_max_s: f64,
}

impl Default for Imperfections {
    fn default() -> Self {
        Imperfections {
            gain_sigma: 0.15,
            noise_abs: [2.5, 4.0, 4.0, 2.5, 4.0, 0.05],
            noise_rel: 0.05,
            missing: 0.02,
            duplicate: 0.01,
            delay_mean_s: 4.0,
            late: 0.02,
            late_max_s: 150.0,
        }
    }
}

/// How many low-cost sensors fail, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultMix {
    /// Sensors that freeze and repeat their last reading.
    pub stuck: usize,
    /// Sensors that send 999 instead of PM values most minutes.
    pub sentinel: usize,
    /// Sensors whose gain drifts upward.
    pub drift: usize,
    /// Sensors whose clock runs ahead.
    pub fast_clock: usize,
    /// Minute at which the faults begin.
    pub from_min: f64,
    /// Gain drift per hour of a drifting sensor (relative).
    pub drift_per_hour: f64,
    /// Clock lead of a fast-clock sensor at the start, seconds; it grows by the same
    /// amount every hour.
    pub clock_ahead_s: f64,
}

impl Default for FaultMix {
    fn default() -> Self {
        FaultMix {
            stuck: 0,
            sentinel: 0,
            drift: 0,
            fast_clock: 0,
            from_min: 45.0,
            drift_per_hour: 0.1,
            clock_ahead_s: 40.0,
        }
    }
}

/// A failure mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Repeats its last reading.
    Stuck,
    /// Sends 999 for PM.
    Sentinel,
    /// Gain drifts upward.
    Drift,
    /// Clock runs ahead.
    FastClock,
}

impl FaultKind {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Stuck => "stuck",
            FaultKind::Sentinel => "sentinel",
            FaultKind::Drift => "drift",
            FaultKind::FastClock => "fast_clock",
        }
    }
}

/// One faulty sensor of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// The sensor.
    pub sensor_id: String,
    /// How it fails.
    pub kind: FaultKind,
    /// Minute since the start at which it begins.
    pub from_min: f64,
}
