//! Sensor health: the problems QA finds, as state changes (`raised` / `cleared`).

use aqstream_core::time::EpochMillis;
use std::fmt;
use std::sync::Arc;

/// A problem of a sensor, exposed as `aq_sensor_health{sensor_id,problem}` and as rows
/// of the `sensor_health` history table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Problem {
    /// A pollutant value unchanged for hours (`stuck_value` flag on readings).
    Stuck = 0,
    /// 999 / 1999-style sentinel values (`sentinel_value` flag).
    Sentinel = 1,
    /// Negative, implausible or PM2.5 ≫ PM10 values.
    OutOfRange = 2,
    /// Event times ahead of the other sensors of its partition.
    FastClock = 3,
    /// Drifting away from neighbouring sensors.
    Drift = 4,
}

impl Problem {
    /// Every problem.
    pub const ALL: [Problem; 5] = [
        Problem::Stuck,
        Problem::Sentinel,
        Problem::OutOfRange,
        Problem::FastClock,
        Problem::Drift,
    ];

    /// The `problem` label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Problem::Stuck => "stuck",
            Problem::Sentinel => "sentinel",
            Problem::OutOfRange => "out_of_range",
            Problem::FastClock => "fast_clock",
            Problem::Drift => "drift",
        }
    }

    /// The problem's bit in a mask.
    pub const fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The problems whose sensor-minutes are left out of district aggregates and
    /// detection (the readings themselves carry no flag for them).
    pub const EXCLUDING: u8 = Problem::FastClock.bit() | Problem::Drift.bit();

    /// The problems in `mask`.
    pub fn in_mask(mask: u8) -> impl Iterator<Item = Problem> {
        Problem::ALL
            .into_iter()
            .filter(move |p| mask & p.bit() != 0)
    }

    /// The problem with this name.
    pub fn from_name(s: &str) -> Option<Problem> {
        Problem::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A problem raised or cleared at an event time.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthEvent {
    /// The sensor.
    pub sensor_id: Arc<str>,
    /// Its district.
    pub district: Arc<str>,
    /// The problem.
    pub problem: Problem,
    /// `true` raised, `false` cleared.
    pub raised: bool,
    /// Event time of the change (the reading's `ts`, or the watermark for checks that
    /// run when time advances).
    pub ts: EpochMillis,
    /// What was seen (free text).
    pub detail: String,
}
