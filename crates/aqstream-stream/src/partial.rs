//! Mergeable partial aggregates: what a window (or a cell of a segment) knows about
//! its readings, and the statistics of an aggregate row derived from it.

use aqstream_core::Measure;
use aqstream_core::aqi::{Period, Pollutant, cn, us};

/// Number of measures aggregated by their mean: every measure but the wind direction
/// (indices 0–9 of [`Measure`]), which is averaged as a vector.
pub const NS: usize = 10;

/// The measures aggregated by their mean, in index order.
pub const SCALARS: [Measure; NS] = [
    Measure::Pm25,
    Measure::Pm10,
    Measure::No2,
    Measure::So2,
    Measure::O3,
    Measure::Co,
    Measure::TempC,
    Measure::Rh,
    Measure::PressureHpa,
    Measure::WindSpeed,
];

/// Sums, counts and extremes of valid values, mergeable in any grouping. For a sensor
/// window the inputs are readings; for a district window they are sensor-minute means.
#[derive(Debug, Clone, PartialEq)]
pub struct Partial {
    /// Inputs counted (readings or sensor-minutes), valid or not.
    pub n: u32,
    /// Sum of the valid values of each scalar measure.
    pub sum: [f64; NS],
    /// Number of valid values of each scalar measure.
    pub cnt: [u32; NS],
    /// Smallest valid PM2.5 value (`+∞` when none).
    pub pm_min: f64,
    /// Largest valid PM2.5 value (`−∞` when none).
    pub pm_max: f64,
    /// Sum of the wind vectors' east components (`speed · sin(from)`, speed 1 when
    /// only the direction is known).
    pub wx: f64,
    /// Sum of the wind vectors' north components (`speed · cos(from)`).
    pub wy: f64,
    /// Number of wind vectors.
    pub wn: u32,
    /// Union of the per-reading problems seen ([`crate::qa::Problem`] bits).
    pub problems: u8,
}

impl Default for Partial {
    fn default() -> Self {
        Partial {
            n: 0,
            sum: [0.0; NS],
            cnt: [0; NS],
            pm_min: f64::INFINITY,
            pm_max: f64::NEG_INFINITY,
            wx: 0.0,
            wy: 0.0,
            wn: 0,
            problems: 0,
        }
    }
}

impl Partial {
    /// Adds everything `o` counted.
    pub fn merge(&mut self, o: &Partial) {
        self.n += o.n;
        for i in 0..NS {
            self.sum[i] += o.sum[i];
            self.cnt[i] += o.cnt[i];
        }
        self.pm_min = self.pm_min.min(o.pm_min);
        self.pm_max = self.pm_max.max(o.pm_max);
        self.wx += o.wx;
        self.wy += o.wy;
        self.wn += o.wn;
        self.problems |= o.problems;
    }

    /// Counts one input with these valid values (`None` = absent or not valid).
    pub fn add(&mut self, values: &MinuteValues) {
        self.n += 1;
        for i in 0..NS {
            if let Some(v) = values.mean(i) {
                self.sum[i] += v;
                self.cnt[i] += 1;
            }
        }
        if let Some(v) = values.mean(0) {
            self.pm_min = self.pm_min.min(v);
            self.pm_max = self.pm_max.max(v);
        }
        if let (Some(x), Some(y)) = (values.wx(), values.wy()) {
            self.wx += x;
            self.wy += y;
            self.wn += 1;
        }
    }

    /// Mean of scalar measure `i` (index into [`SCALARS`]).
    pub fn mean(&self, i: usize) -> Option<f64> {
        (self.cnt[i] > 0).then(|| self.sum[i] / f64::from(self.cnt[i]))
    }

    /// Direction the mean wind vector blows from, degrees in [0, 360).
    pub fn wind_from_deg(&self) -> Option<f64> {
        if self.wn == 0 || (self.wx == 0.0 && self.wy == 0.0) {
            return None;
        }
        Some(self.wx.atan2(self.wy).to_degrees().rem_euclid(360.0))
    }

    /// The means of this partial, as one sensor-minute.
    pub fn minute_values(&self) -> MinuteValues {
        let mut v = MinuteValues::default();
        for i in 0..NS {
            v.set_slot(i, self.mean(i));
        }
        let w = (self.wn > 0).then(|| f64::from(self.wn));
        v.set_slot(NS, w.map(|w| self.wx / w));
        v.set_slot(NS + 1, w.map(|w| self.wy / w));
        v
    }
}

/// The valid means of one sensor over one minute (what stage 2 and detection see).
///
/// Packed: an absent value is stored as NaN (a mean of valid values is always
/// finite), so a sensor-minute takes 96 bytes instead of the 192 of twelve
/// `Option<f64>`s. Stage 2 holds every sensor's minutes for the allowed lateness, and
/// every minute travels from stage 1 to stage 2 in one of these.
#[derive(Clone, Copy)]
pub struct MinuteValues {
    /// Slots `0..NS`: means in [`SCALARS`] order; `NS`, `NS + 1`: mean east and
    /// north components of the wind vector. NaN = none.
    v: [f64; MinuteValues::SLOTS],
}

impl Default for MinuteValues {
    fn default() -> Self {
        MinuteValues {
            v: [f64::NAN; MinuteValues::SLOTS],
        }
    }
}

impl PartialEq for MinuteValues {
    fn eq(&self, other: &Self) -> bool {
        (0..Self::SLOTS).all(|k| self.slot(k) == other.slot(k))
    }
}

impl std::fmt::Debug for MinuteValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MinuteValues")
            .field("mean", &(0..NS).map(|k| self.slot(k)).collect::<Vec<_>>())
            .field("wx", &self.wx())
            .field("wy", &self.wy())
            .finish()
    }
}

impl MinuteValues {
    /// Number of slots: the [`NS`] scalar means, then the wind vector's east and north
    /// components.
    pub const SLOTS: usize = NS + 2;

    /// Slot `k` (see [`MinuteValues::SLOTS`]); `None` when there is no valid value.
    pub fn slot(&self, k: usize) -> Option<f64> {
        let x = self.v[k];
        (!x.is_nan()).then_some(x)
    }

    /// Sets slot `k` (a NaN is stored as none).
    pub fn set_slot(&mut self, k: usize, x: Option<f64>) {
        self.v[k] = x.unwrap_or(f64::NAN);
    }

    /// Mean of scalar measure `i` (index into [`SCALARS`]).
    pub fn mean(&self, i: usize) -> Option<f64> {
        debug_assert!(i < NS);
        self.slot(i)
    }

    /// Mean east component of the wind vector.
    pub fn wx(&self) -> Option<f64> {
        self.slot(NS)
    }

    /// Mean north component of the wind vector.
    pub fn wy(&self) -> Option<f64> {
        self.slot(NS + 1)
    }

    /// The mean of `m` (the wind direction from the vector mean).
    pub fn get(&self, m: Measure) -> Option<f64> {
        match m {
            Measure::WindDir => match (self.wx(), self.wy()) {
                (Some(x), Some(y)) if x != 0.0 || y != 0.0 => {
                    Some(x.atan2(y).to_degrees().rem_euclid(360.0))
                }
                _ => None,
            },
            m => self.mean(m.index()),
        }
    }

    /// Whether no slot has a value (the minute is kept but contributes nothing).
    pub fn is_empty(&self) -> bool {
        self.v.iter().all(|x| x.is_nan())
    }
}

/// The statistics of one aggregate row.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Mean of the valid PM2.5 values.
    pub pm25_mean: Option<f64>,
    /// Smallest valid PM2.5 value.
    pub pm25_min: Option<f64>,
    /// Largest valid PM2.5 value.
    pub pm25_max: Option<f64>,
    /// Number of valid PM2.5 values.
    pub pm25_count: i64,
    /// Valid minutes / minutes in the window (sensor), or valid sensor-minutes /
    /// (pollutant sensors × minutes) (district), capped at 1.
    pub valid_fraction: f64,
    /// Means of PM10, NO2, SO2, O3 and CO.
    pub others: [Option<f64>; 5],
    /// Mean wind speed.
    pub wind_speed_mean: Option<f64>,
    /// Vector-mean wind direction (from).
    pub wind_from_deg: Option<f64>,
    /// HJ 633 IAQI of the PM2.5 mean.
    pub aqi_cn: Option<i32>,
    /// US EPA AQI of the PM2.5 mean.
    pub aqi_us: Option<i32>,
}

impl Stats {
    /// The statistics of `p` for a window of `kind`, with `valid_fraction` given.
    pub fn of(p: &Partial, kind: crate::window::WindowKind, valid_fraction: f64) -> Stats {
        let pm = p.mean(0);
        let period = if kind == crate::window::WindowKind::D1 {
            Period::H24
        } else {
            Period::H1
        };
        Stats {
            pm25_mean: pm,
            pm25_min: (p.cnt[0] > 0).then_some(p.pm_min),
            pm25_max: (p.cnt[0] > 0).then_some(p.pm_max),
            pm25_count: i64::from(p.cnt[0]),
            valid_fraction: valid_fraction.clamp(0.0, 1.0),
            others: [p.mean(1), p.mean(2), p.mean(3), p.mean(4), p.mean(5)],
            wind_speed_mean: p.mean(9),
            wind_from_deg: p.wind_from_deg(),
            aqi_cn: pm.and_then(|c| cn::iaqi(Pollutant::Pm25, period, c).ok().map(to_i32)),
            aqi_us: pm.and_then(|c| {
                us::aqi(Pollutant::Pm25, Some(Period::H24), c)
                    .ok()
                    .map(to_i32)
            }),
        }
    }
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::WindowKind;

    fn minute(pm: f64, wind: Option<(f64, f64)>) -> MinuteValues {
        let mut v = MinuteValues::default();
        v.set_slot(0, Some(pm));
        if let Some((speed, from)) = wind {
            let r = from.to_radians();
            v.set_slot(NS, Some(speed * r.sin()));
            v.set_slot(NS + 1, Some(speed * r.cos()));
            v.set_slot(9, Some(speed));
        }
        v
    }

    #[test]
    fn minute_values_keep_absent_apart_from_every_value() {
        // Twelve slots in 96 bytes: the packing is the point of the type.
        assert_eq!(std::mem::size_of::<MinuteValues>(), 96);
        let mut v = MinuteValues::default();
        assert!(v.is_empty());
        assert_eq!((0..MinuteValues::SLOTS).find_map(|k| v.slot(k)), None);
        for (k, x) in [(0, 0.0), (1, -0.0), (5, f64::MIN_POSITIVE), (NS, -1e300)] {
            v.set_slot(k, Some(x));
            assert_eq!(v.slot(k).map(f64::to_bits), Some(x.to_bits()));
        }
        assert!(!v.is_empty());
        assert_eq!(v.mean(1), Some(-0.0));
        assert_eq!((v.wx(), v.wy()), (Some(-1e300), None));
        // A NaN is not a value: stored as absent.
        v.set_slot(5, Some(f64::NAN));
        assert_eq!(v.slot(5), None);
        v.set_slot(0, None);
        assert_eq!(v.get(Measure::Pm25), None);
        let mut w = MinuteValues::default();
        w.set_slot(1, Some(0.0));
        w.set_slot(NS, Some(-1e300));
        assert_eq!(v, w, "equal when the same slots hold the same values");
        w.set_slot(NS + 1, Some(1.0));
        assert_ne!(v, w);
    }

    #[test]
    fn merge_is_the_sum_of_its_parts() {
        let mut a = Partial::default();
        a.add(&minute(10.0, Some((2.0, 270.0))));
        a.add(&minute(30.0, None));
        let mut b = Partial::default();
        b.add(&minute(50.0, Some((2.0, 270.0))));
        let mut all = a.clone();
        all.merge(&b);
        assert_eq!(all.n, 3);
        assert_eq!(all.mean(0), Some(30.0));
        assert_eq!((all.pm_min, all.pm_max), (10.0, 50.0));
        let dir = all.wind_from_deg().unwrap();
        assert!((dir - 270.0).abs() < 1e-9, "{dir}");
        let s = Stats::of(&all, WindowKind::H1, 0.5);
        assert_eq!(s.pm25_count, 3);
        assert_eq!(s.aqi_cn, Some(43)); // 30 µg/m³: IAQI 50·30/35 = 42.9 → 43
        assert_eq!(s.aqi_us, Some(90)); // EPA 2024: 30.0 in 9.1–35.4 → 51 + 49·20.9/26.3 = 89.9
        assert_eq!(s.wind_speed_mean, Some(2.0));
        let empty = Stats::of(&Partial::default(), WindowKind::M1, 0.0);
        assert_eq!(
            (empty.pm25_mean, empty.pm25_min, empty.aqi_us),
            (None, None, None)
        );
    }

    #[test]
    fn minute_values_round_trip_the_wind() {
        let mut p = Partial::default();
        p.add(&minute(5.0, Some((3.0, 90.0))));
        p.add(&minute(7.0, Some((1.0, 90.0))));
        let v = p.minute_values();
        assert_eq!(v.get(Measure::Pm25), Some(6.0));
        assert!((v.get(Measure::WindDir).unwrap() - 90.0).abs() < 1e-9);
        assert_eq!(v.get(Measure::WindSpeed), Some(2.0));
        assert!(!v.is_empty());
        assert!(MinuteValues::default().is_empty());
    }
}
