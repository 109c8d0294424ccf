//! One sensor's reading for one period, with its quality flags.

use crate::measure::{Measure, N_MEASURES};
use crate::time::EpochMillis;
use std::fmt;

/// The values of one reading, indexed by [`Measure::index`]. `None` is "not measured".
pub type Values = [Option<f64>; N_MEASURES];

/// Why a value is kept but not valid for aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum FlagKind {
    /// A negative concentration.
    NegativeValue = 0,
    /// A 999 / 1999 / 9999-style value failing instruments emit.
    SentinelValue = 1,
    /// PM2.5 larger than PM10 by a wide margin (PM2.5 is a fraction of PM10).
    Pm25ExceedsPm10 = 2,
    /// The terminal itself marked the value as not valid (HJ 212 data flag other than `N`).
    DeviceFlag = 3,
    /// Inside the hard limits but outside the plausible range of the quantity.
    ImplausibleValue = 4,
    /// Unchanged for hours (set by the stream worker's QA).
    StuckValue = 5,
    /// Drifting away from neighbouring sensors (set by the stream worker's QA).
    Drift = 6,
}

impl FlagKind {
    /// Every flag kind.
    pub const ALL: [FlagKind; 7] = [
        FlagKind::NegativeValue,
        FlagKind::SentinelValue,
        FlagKind::Pm25ExceedsPm10,
        FlagKind::DeviceFlag,
        FlagKind::ImplausibleValue,
        FlagKind::StuckValue,
        FlagKind::Drift,
    ];

    /// Stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            FlagKind::NegativeValue => "negative_value",
            FlagKind::SentinelValue => "sentinel_value",
            FlagKind::Pm25ExceedsPm10 => "pm25_exceeds_pm10",
            FlagKind::DeviceFlag => "device_flag",
            FlagKind::ImplausibleValue => "implausible_value",
            FlagKind::StuckValue => "stuck_value",
            FlagKind::Drift => "drift",
        }
    }

    /// The kind with this name.
    pub fn from_name(s: &str) -> Option<FlagKind> {
        FlagKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Per-measure quality flags. A measure with any flag is kept in the history but left
/// out of aggregates. The textual form of one flag is `kind:measure`, e.g.
/// `negative_value:pm25`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct QualityFlags {
    bits: [u8; N_MEASURES],
}

impl QualityFlags {
    /// No flags.
    pub const NONE: QualityFlags = QualityFlags {
        bits: [0; N_MEASURES],
    };

    /// Marks `m` with `kind`.
    pub fn set(&mut self, m: Measure, kind: FlagKind) {
        self.bits[m.index()] |= kind.bit();
    }

    /// Removes `kind` from `m`.
    pub fn clear(&mut self, m: Measure, kind: FlagKind) {
        self.bits[m.index()] &= !kind.bit();
    }

    /// Does `m` carry `kind`?
    pub fn has(&self, m: Measure, kind: FlagKind) -> bool {
        self.bits[m.index()] & kind.bit() != 0
    }

    /// Is `m` free of flags (valid for aggregation)?
    pub fn is_clean(&self, m: Measure) -> bool {
        self.bits[m.index()] == 0
    }

    /// No flag at all?
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|b| *b == 0)
    }

    /// Bit `i` set ⇔ measure `i` is flagged (not valid for aggregation).
    pub fn invalid_mask(&self) -> u16 {
        self.bits.iter().enumerate().fold(
            0u16,
            |acc, (i, b)| if *b != 0 { acc | (1 << i) } else { acc },
        )
    }

    /// All `(measure, kind)` pairs, in measure then kind order.
    pub fn iter(&self) -> impl Iterator<Item = (Measure, FlagKind)> + '_ {
        Measure::ALL.into_iter().flat_map(move |m| {
            FlagKind::ALL
                .into_iter()
                .filter(move |k| self.has(m, *k))
                .map(move |k| (m, k))
        })
    }

    /// Adds a flag from its textual form `kind:measure`; `false` if it is not one.
    pub fn insert_str(&mut self, s: &str) -> bool {
        let Some((kind, measure)) = s.split_once(':') else {
            return false;
        };
        match (FlagKind::from_name(kind), measure.parse::<Measure>()) {
            (Some(k), Ok(m)) => {
                self.set(m, k);
                true
            }
            _ => false,
        }
    }
}

impl fmt::Display for QualityFlags {
    /// Comma-separated `kind:measure` list (empty when clean).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (m, k)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}:{}", k.as_str(), m.field())?;
        }
        Ok(())
    }
}

/// Averaging period of a reading, in seconds: 60 for JSON readings and HJ 212 minute
/// data, 0 for HJ 212 real-time samples, 3600 for hour data and 86 400 for day data.
pub type PeriodSeconds = u32;

/// One accepted (or about-to-be-validated) reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Sensor id (HJ 212 `MN`), as in the registry.
    pub sensor_id: String,
    /// Gateway that delivered the reading (empty until the ingester sets it).
    pub gateway_id: String,
    /// Event time: the end of the measured period, UTC epoch milliseconds.
    pub ts: EpochMillis,
    /// Length of the measured period in seconds (see [`PeriodSeconds`]).
    pub period_s: PeriodSeconds,
    /// The measured values in canonical units.
    pub values: Values,
    /// When the ingester received the message (wall clock), if known.
    pub received_at: Option<EpochMillis>,
    /// Quality flags per measure.
    pub flags: QualityFlags,
}

impl Reading {
    /// An empty reading of `sensor_id` at `ts` (no values, no flags).
    pub fn new(sensor_id: impl Into<String>, ts: EpochMillis, period_s: PeriodSeconds) -> Reading {
        Reading {
            sensor_id: sensor_id.into(),
            gateway_id: String::new(),
            ts,
            period_s,
            values: [None; N_MEASURES],
            received_at: None,
            flags: QualityFlags::NONE,
        }
    }

    /// The raw value of `m` (flagged or not).
    #[inline]
    pub fn get(&self, m: Measure) -> Option<f64> {
        self.values[m.index()]
    }

    /// Sets the value of `m`.
    #[inline]
    pub fn set(&mut self, m: Measure, v: Option<f64>) {
        self.values[m.index()] = v;
    }

    /// Builder-style [`Reading::set`].
    pub fn with(mut self, m: Measure, v: f64) -> Reading {
        self.set(m, Some(v));
        self
    }

    /// The value of `m` if present and not flagged: what aggregates may use.
    #[inline]
    pub fn valid(&self, m: Measure) -> Option<f64> {
        self.get(m).filter(|_| self.flags.is_clean(m))
    }

    /// At least one value present?
    pub fn has_measurement(&self) -> bool {
        self.values.iter().any(Option::is_some)
    }

    /// The duplicate key of the contract: (`sensor_id`, `ts`, `period_s`).
    pub fn dedup_key(&self) -> (&str, EpochMillis, PeriodSeconds) {
        (&self.sensor_id, self.ts, self.period_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_set_query_and_text() {
        let mut f = QualityFlags::NONE;
        assert!(f.is_empty());
        f.set(Measure::Pm25, FlagKind::NegativeValue);
        f.set(Measure::Pm25, FlagKind::Pm25ExceedsPm10);
        f.set(Measure::Co, FlagKind::DeviceFlag);
        assert!(f.has(Measure::Pm25, FlagKind::NegativeValue));
        assert!(!f.has(Measure::Pm10, FlagKind::NegativeValue));
        assert!(!f.is_clean(Measure::Pm25));
        assert!(f.is_clean(Measure::No2));
        assert_eq!(f.invalid_mask(), 0b10_0001);
        let text = f.to_string();
        assert_eq!(
            text,
            "negative_value:pm25,pm25_exceeds_pm10:pm25,device_flag:co"
        );
        let mut g = QualityFlags::NONE;
        for part in text.split(',') {
            assert!(g.insert_str(part));
        }
        assert_eq!(f, g);
        assert!(!g.insert_str("negative_value"));
        assert!(!g.insert_str("nonsense:pm25"));
        g.clear(Measure::Co, FlagKind::DeviceFlag);
        assert!(g.is_clean(Measure::Co));
    }

    #[test]
    fn valid_hides_flagged_values() {
        let mut r = Reading::new("TZ-0001", 0, 60)
            .with(Measure::Pm25, -3.0)
            .with(Measure::Pm10, 40.0);
        r.flags.set(Measure::Pm25, FlagKind::NegativeValue);
        assert_eq!(r.get(Measure::Pm25), Some(-3.0));
        assert_eq!(r.valid(Measure::Pm25), None);
        assert_eq!(r.valid(Measure::Pm10), Some(40.0));
        assert!(r.has_measurement());
        assert_eq!(r.dedup_key(), ("TZ-0001", 0, 60));
    }
}
