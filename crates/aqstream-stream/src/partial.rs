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
        unpacked(self.v[k])
    }

    /// Sets slot `k` (a NaN is stored as none).
    pub fn set_slot(&mut self, k: usize, x: Option<f64>) {
        self.v[k] = packed(x);
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
///
/// Packed like [`MinuteValues`]: an absent statistic is stored as NaN (means, minima,
/// maxima and directions of valid values are finite) and an absent AQI as
/// `i32::MIN`, so a row's statistics take 104 bytes instead of the 192 of `Option`s.
/// Every emitted window is one row; rows travel from stage 1 through an epoch's
/// vector to the history writer, and the statistics were 192 of a row's 272 bytes.
#[derive(Clone, Copy)]
pub struct Stats {
    /// PM2.5 mean, min, max; PM10, NO2, SO2, O3, CO means; wind speed mean; wind
    /// direction (from). NaN = none.
    f: [f64; 10],
    pm25_count: i64,
    valid_fraction: f64,
    /// HJ 633 IAQI and US EPA AQI of the PM2.5 mean; `i32::MIN` = none.
    aqi: [i32; 2],
}

const PM25_MEAN: usize = 0;
const PM25_MIN: usize = 1;
const PM25_MAX: usize = 2;
const OTHERS: usize = 3;
const WIND_SPEED: usize = 8;
const WIND_FROM: usize = 9;
const NO_AQI: i32 = i32::MIN;

/// A value or its absence as one `f64` (NaN = absent), as [`MinuteValues`] and
/// [`Stats`] store them.
fn packed(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}

/// The value [`packed`] stored.
fn unpacked(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
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
        let has_pm = p.cnt[0] > 0;
        let aqi_cn = pm.and_then(|c| cn::iaqi(Pollutant::Pm25, period, c).ok().map(to_i32));
        let aqi_us = pm.and_then(|c| {
            us::aqi(Pollutant::Pm25, Some(Period::H24), c)
                .ok()
                .map(to_i32)
        });
        Stats {
            f: [
                packed(pm),
                if has_pm { p.pm_min } else { f64::NAN },
                if has_pm { p.pm_max } else { f64::NAN },
                packed(p.mean(1)),
                packed(p.mean(2)),
                packed(p.mean(3)),
                packed(p.mean(4)),
                packed(p.mean(5)),
                packed(p.mean(9)),
                packed(p.wind_from_deg()),
            ],
            pm25_count: i64::from(p.cnt[0]),
            valid_fraction: valid_fraction.clamp(0.0, 1.0),
            aqi: [aqi_cn.unwrap_or(NO_AQI), aqi_us.unwrap_or(NO_AQI)],
        }
    }

    /// Mean of the valid PM2.5 values.
    pub fn pm25_mean(&self) -> Option<f64> {
        unpacked(self.f[PM25_MEAN])
    }

    /// Smallest valid PM2.5 value.
    pub fn pm25_min(&self) -> Option<f64> {
        unpacked(self.f[PM25_MIN])
    }

    /// Largest valid PM2.5 value.
    pub fn pm25_max(&self) -> Option<f64> {
        unpacked(self.f[PM25_MAX])
    }

    /// Number of valid PM2.5 values.
    pub fn pm25_count(&self) -> i64 {
        self.pm25_count
    }

    /// Valid minutes / minutes in the window (sensor), or valid sensor-minutes /
    /// (pollutant sensors × minutes) (district), capped at 1.
    pub fn valid_fraction(&self) -> f64 {
        self.valid_fraction
    }

    /// Means of PM10, NO2, SO2, O3 and CO.
    pub fn others(&self) -> [Option<f64>; 5] {
        std::array::from_fn(|i| unpacked(self.f[OTHERS + i]))
    }

    /// Mean wind speed.
    pub fn wind_speed_mean(&self) -> Option<f64> {
        unpacked(self.f[WIND_SPEED])
    }

    /// Vector-mean wind direction (from).
    pub fn wind_from_deg(&self) -> Option<f64> {
        unpacked(self.f[WIND_FROM])
    }

    /// HJ 633 IAQI of the PM2.5 mean.
    pub fn aqi_cn(&self) -> Option<i32> {
        (self.aqi[0] != NO_AQI).then_some(self.aqi[0])
    }

    /// US EPA AQI of the PM2.5 mean.
    pub fn aqi_us(&self) -> Option<i32> {
        (self.aqi[1] != NO_AQI).then_some(self.aqi[1])
    }
}

impl PartialEq for Stats {
    /// Equal statistics: the same values, and the same ones absent (bit for bit, so
    /// that an absent value equals an absent one).
    fn eq(&self, o: &Stats) -> bool {
        self.f
            .iter()
            .zip(&o.f)
            .all(|(a, b)| a.to_bits() == b.to_bits())
            && self.pm25_count == o.pm25_count
            && self.valid_fraction.to_bits() == o.valid_fraction.to_bits()
            && self.aqi == o.aqi
    }
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stats")
            .field("pm25_mean", &self.pm25_mean())
            .field("pm25_min", &self.pm25_min())
            .field("pm25_max", &self.pm25_max())
            .field("pm25_count", &self.pm25_count)
            .field("valid_fraction", &self.valid_fraction)
            .field("others", &self.others())
            .field("wind_speed_mean", &self.wind_speed_mean())
            .field("wind_from_deg", &self.wind_from_deg())
            .field("aqi_cn", &self.aqi_cn())
            .field("aqi_us", &self.aqi_us())
            .finish()
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
    fn stats_keep_absent_apart_and_stay_small() {
        assert_eq!(std::mem::size_of::<Stats>(), 104);
        let empty = Stats::of(&Partial::default(), WindowKind::H1, 0.0);
        assert_eq!(empty.pm25_mean(), None);
        assert_eq!((empty.pm25_min(), empty.pm25_max()), (None, None));
        assert_eq!(empty.others(), [None; 5]);
        assert_eq!(
            (empty.wind_speed_mean(), empty.wind_from_deg()),
            (None, None)
        );
        assert_eq!((empty.aqi_cn(), empty.aqi_us()), (None, None));
        assert_eq!(empty, Stats::of(&Partial::default(), WindowKind::H1, 0.0));
        let mut p = Partial::default();
        // A zero and a negative zero are values, not absences.
        p.add(&minute(0.0, Some((2.0, 90.0))));
        p.add(&minute(-0.0, None));
        let mut v = MinuteValues::default();
        v.set_slot(1, Some(-3.5));
        p.add(&v);
        let s = Stats::of(&p, WindowKind::H1, 0.5);
        assert_eq!(s.pm25_mean(), Some(0.0));
        assert_eq!(s.pm25_min(), Some(0.0));
        assert_eq!(s.pm25_max(), Some(0.0));
        assert_eq!(s.pm25_count(), 2);
        assert_eq!(s.valid_fraction(), 0.5);
        assert_eq!(s.others(), [Some(-3.5), None, None, None, None]);
        assert_eq!(s.wind_speed_mean(), Some(2.0));
        assert!((s.wind_from_deg().unwrap() - 90.0).abs() < 1e-9);
        assert_eq!((s.aqi_cn(), s.aqi_us()), (Some(0), Some(0)));
        assert_ne!(s, empty);
        let hazy = {
            let mut p = Partial::default();
            p.add(&minute(80.0, None));
            Stats::of(&p, WindowKind::H1, 1.0)
        };
        // 80 µg/m³: HJ 633 1-h 75–115 → 100–150: 100 + 50·5/40 = 106.25 → 107;
        // EPA 2024 55.5–125.4 → 151–200: 151 + 49·24.5/69.9 = 168.2 → 168.
        assert_eq!(hazy.aqi_cn(), Some(107));
        assert_eq!(hazy.aqi_us(), Some(168));
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
        assert_eq!(s.pm25_count(), 3);
        assert_eq!(s.aqi_cn(), Some(43)); // 30 µg/m³: IAQI 50·30/35 = 42.9 → 43
        assert_eq!(s.aqi_us(), Some(90)); // EPA 2024: 30.0 in 9.1–35.4 → 51 + 49·20.9/26.3 = 89.9
        assert_eq!(s.wind_speed_mean(), Some(2.0));
        let empty = Stats::of(&Partial::default(), WindowKind::M1, 0.0);
        assert_eq!(
            (empty.pm25_mean(), empty.pm25_min(), empty.aqi_us()),
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
