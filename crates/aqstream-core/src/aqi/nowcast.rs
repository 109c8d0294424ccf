//! The EPA NowCast for PM2.5 and PM10, and a per-sensor ring of hourly means.
//!
//! The NowCast estimates a 24-hour-equivalent concentration from the last 12 hourly means,
//! weighting recent hours more heavily when the concentration is changing:
//!
//! * `c_min`, `c_max`: minimum and maximum of the valid hours among the 12;
//! * weight `w = max(c_min / c_max, 0.5)` (if `c_max` is 0, the NowCast is 0);
//! * `NowCast = Σ wⁱ·cᵢ / Σ wⁱ` over the valid hours, `i` = hours ago (0 = most recent
//!   complete hour); missing hours are left out of both sums, keeping their exponents;
//! * valid only if at least 2 of the 3 most recent hours are present;
//! * the raw hourly values are used as they are; the result is truncated like an AQI input
//!   (PM2.5 to 0.1 µg/m³, PM10 to 1 µg/m³).
//!
//! Feed the result to [`us::aqi`](super::us::aqi) as the 24-hour concentration (`None` or
//! `Some(Period::H24)`), which is how the EPA reports the hourly PM AQI.

use super::{AqiError, Pollutant, check_concentration, truncate_units};

/// Number of hourly values the NowCast uses.
pub const HOURS: usize = 12;

const SECONDS_PER_HOUR: i64 = 3600;

/// The NowCast concentration (µg/m³) of PM2.5 or PM10.
///
/// `hourly[0]` is the most recent complete hour, `hourly[1]` the hour before, and so on;
/// `None` is a missing hour. Values past the 12th are ignored; a shorter slice means the
/// older hours are missing. Returns `Ok(None)` when fewer than 2 of the 3 most recent hours
/// are present.
///
/// # Errors
/// [`AqiError::NowCastUnsupported`] for a pollutant other than PM2.5 and PM10;
/// [`AqiError::NotFinite`] / [`AqiError::Negative`] if any of the (first 12) values is.
pub fn nowcast(p: Pollutant, hourly: &[Option<f64>]) -> Result<Option<f64>, AqiError> {
    let scale = match p {
        Pollutant::Pm25 => 10.0,
        Pollutant::Pm10 => 1.0,
        _ => return Err(AqiError::NowCastUnsupported(p)),
    };
    let hours = &hourly[..hourly.len().min(HOURS)];
    for &c in hours.iter().flatten() {
        check_concentration(c)?;
    }
    if hours.iter().take(3).flatten().count() < 2 {
        return Ok(None);
    }
    let (mut min, mut max) = (f64::INFINITY, 0.0_f64);
    for &c in hours.iter().flatten() {
        min = min.min(c);
        max = max.max(c);
    }
    if max == 0.0 {
        return Ok(Some(0.0));
    }
    let w = (min / max).max(0.5);
    let (mut num, mut den, mut wi) = (0.0, 0.0, 1.0);
    for c in hours {
        if let Some(c) = c {
            num += wi * c;
            den += wi;
        }
        wi *= w;
    }
    Ok(Some(truncate_units(num / den, scale) as f64 / scale))
}

/// The last 12 hourly means of one sensor and pollutant, keyed by hour start.
///
/// A fixed ring of 12 slots (no allocation) that a stream operator keeps per sensor. Hours
/// are identified by their start in epoch seconds; any timestamp inside an hour maps to
/// that hour. Hours that were never pushed, or that fell out of the window, read as
/// missing, so gaps in the stream become missing values of the NowCast.
///
/// 152 bytes: hour indices are kept as `i32` (epoch hours fit until the year 245 000),
/// which matters when a pipeline holds one per sensor for 100 000 sensors.
#[derive(Debug, Clone)]
pub struct HourlyHistory {
    /// Slot `h mod 12` holds hour index `h` (epoch hours), [`EMPTY`] when it holds none.
    hours: [i32; HOURS],
    /// The mean of the hour in the same slot.
    means: [f64; HOURS],
    /// The newest hour index pushed so far ([`EMPTY`] before the first).
    newest: i32,
}

/// A slot or history without an hour.
const EMPTY: i32 = i32::MIN;

impl Default for HourlyHistory {
    fn default() -> Self {
        HourlyHistory {
            hours: [EMPTY; HOURS],
            means: [0.0; HOURS],
            newest: EMPTY,
        }
    }
}

impl HourlyHistory {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the mean of the hour starting at `hour_start_s` (epoch seconds), replacing
    /// an earlier value for the same hour. Late hours are accepted while they are within
    /// the 12 hours ending at the newest hour pushed.
    ///
    /// Returns `false`, storing nothing, if `mean` is not finite, the hour is 12 or more
    /// hours older than the newest hour pushed, or it is beyond the year 245 000.
    pub fn push(&mut self, hour_start_s: i64, mean: f64) -> bool {
        if !mean.is_finite() {
            return false;
        }
        let Some(h) = hour_index(hour_start_s) else {
            return false;
        };
        if self.newest != EMPTY && i64::from(h) <= i64::from(self.newest) - HOURS as i64 {
            return false;
        }
        let i = slot(h);
        self.hours[i] = h;
        self.means[i] = mean;
        self.newest = self.newest.max(h);
        true
    }

    /// The mean stored for the hour containing `hour_start_s`, if any.
    pub fn get(&self, hour_start_s: i64) -> Option<f64> {
        self.at(hour_index(hour_start_s)?)
    }

    fn at(&self, h: i32) -> Option<f64> {
        let i = slot(h);
        (h != EMPTY && self.hours[i] == h).then(|| self.means[i])
    }

    /// The start (epoch seconds) of the newest hour pushed so far.
    pub fn latest_hour_start_s(&self) -> Option<i64> {
        (self.newest != EMPTY).then(|| i64::from(self.newest) * SECONDS_PER_HOUR)
    }

    /// The 12 hourly values ending at the hour containing `current_hour_start_s`, most
    /// recent first: element `i` is the hour `i` hours before it.
    pub fn hourly(&self, current_hour_start_s: i64) -> [Option<f64>; HOURS] {
        let mut out = [None; HOURS];
        let Some(h) = hour_index(current_hour_start_s) else {
            return out;
        };
        for (i, v) in out.iter_mut().enumerate() {
            *v = h.checked_sub(i as i32).and_then(|hi| self.at(hi));
        }
        out
    }

    /// The NowCast for the hour containing `current_hour_start_s`: that hour is the most
    /// recent complete hour (`hourly[0]` of [`nowcast`]), so pass the start of the hour
    /// just closed (the EPA labels a NowCast with the start of its latest hour).
    ///
    /// # Errors
    /// As [`nowcast`].
    pub fn nowcast(
        &self,
        p: Pollutant,
        current_hour_start_s: i64,
    ) -> Result<Option<f64>, AqiError> {
        nowcast(p, &self.hourly(current_hour_start_s))
    }

    /// Forgets every stored hour.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

/// The hour index (epoch hours) of a time in epoch seconds, if it fits an `i32`.
fn hour_index(t_s: i64) -> Option<i32> {
    i32::try_from(t_s.div_euclid(SECONDS_PER_HOUR))
        .ok()
        .filter(|&h| h != EMPTY)
}

fn slot(hour_index: i32) -> usize {
    // rem_euclid of a positive modulus is in 0..12.
    hour_index.rem_euclid(HOURS as i32) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use Pollutant::*;

    const T0: i64 = 1_700_000_000 - 1_700_000_000 % 3600; // an hour start

    fn hourly(vals: &[f64]) -> Vec<Option<f64>> {
        vals.iter().map(|&v| Some(v)).collect()
    }

    #[test]
    fn epa_example() {
        // Oldest to newest: 50 80 75 90 82 53 64 74 21 10 16 13 → w = 0.5 → 17.4.
        let mut v = [
            50.0, 80.0, 75.0, 90.0, 82.0, 53.0, 64.0, 74.0, 21.0, 10.0, 16.0, 13.0,
        ];
        v.reverse();
        assert_eq!(nowcast(Pm25, &hourly(&v)), Ok(Some(17.4)));
        assert_eq!(nowcast(Pm10, &hourly(&v)), Ok(Some(17.0)));
    }

    #[test]
    fn validity_and_errors() {
        assert_eq!(nowcast(Pm25, &[None, Some(5.0), Some(5.0)]), Ok(Some(5.0)));
        assert_eq!(nowcast(Pm25, &[None, None, Some(5.0), Some(5.0)]), Ok(None));
        assert_eq!(nowcast(Pm25, &[Some(5.0), None, None, Some(5.0)]), Ok(None));
        assert_eq!(nowcast(Pm25, &[Some(5.0)]), Ok(None));
        assert_eq!(nowcast(Pm25, &[]), Ok(None));
        assert_eq!(nowcast(Pm25, &[Some(0.0), Some(0.0)]), Ok(Some(0.0)));
        assert_eq!(
            nowcast(O3, &[Some(1.0), Some(1.0)]),
            Err(AqiError::NowCastUnsupported(O3))
        );
        assert_eq!(
            nowcast(Pm25, &[Some(1.0), Some(-1.0)]),
            Err(AqiError::Negative(-1.0))
        );
        // The 13th value is ignored, even when invalid.
        let mut v = vec![Some(8.0); 12];
        v.push(Some(f64::NAN));
        assert_eq!(nowcast(Pm25, &v), Ok(Some(8.0)));
    }

    #[test]
    fn history_gaps_are_missing_hours() {
        let mut h = HourlyHistory::new();
        assert!(h.push(T0, 10.0));
        // Hour T0+1h missing.
        assert!(h.push(T0 + 2 * 3600 + 59, 20.0)); // inside the hour T0+2h
        assert_eq!(h.latest_hour_start_s(), Some(T0 + 2 * 3600));
        let hours = h.hourly(T0 + 2 * 3600);
        assert_eq!(&hours[..4], &[Some(20.0), None, Some(10.0), None]);
        // At T0+2h the 3 most recent hours are (20, -, 10): 2 of 3, valid.
        // w = 10/20 = 0.5; (20 + 0.25·10) / (1 + 0.25) = 18.
        assert_eq!(h.nowcast(Pm25, T0 + 2 * 3600), Ok(Some(18.0)));
        // One hour later nothing new arrived: (-, 20, -) → invalid.
        assert_eq!(h.nowcast(Pm25, T0 + 3 * 3600), Ok(None));
    }

    #[test]
    fn history_window_and_late_data() {
        let mut h = HourlyHistory::new();
        for i in 0..20 {
            assert!(h.push(T0 + i * 3600, i as f64));
        }
        let newest = T0 + 19 * 3600;
        // Hours 8..=19 are in the window, 7 has been overwritten.
        assert_eq!(h.get(T0 + 8 * 3600), Some(8.0));
        assert_eq!(h.get(T0 + 7 * 3600), None);
        // Too old to accept.
        assert!(!h.push(T0 + 7 * 3600, 1.0));
        assert!(!h.push(newest, f64::NAN));
        // A late value for an hour inside the window replaces the old one.
        assert!(h.push(T0 + 10 * 3600, 100.0));
        assert_eq!(h.get(T0 + 10 * 3600), Some(100.0));
        let hours = h.hourly(newest);
        assert_eq!(hours[0], Some(19.0));
        assert_eq!(hours[9], Some(100.0));
        assert_eq!(hours[11], Some(8.0));
        // Asking about a later hour shifts the window: the newest values become older.
        let later = h.hourly(newest + 3600);
        assert_eq!(later[0], None);
        assert_eq!(later[1], Some(19.0));
        assert_eq!(later[11], Some(9.0));
        h.clear();
        assert_eq!(h.get(newest), None);
        assert_eq!(h.latest_hour_start_s(), None);
    }

    #[test]
    fn history_before_the_epoch() {
        let mut h = HourlyHistory::new();
        assert!(h.push(-3600, 4.0));
        assert!(h.push(-1, 6.0)); // same hour as -3600
        assert_eq!(h.get(-3600), Some(6.0));
        assert_eq!(h.latest_hour_start_s(), Some(-3600));
        assert!(h.push(0, 6.0));
        assert_eq!(h.nowcast(Pm10, 0), Ok(Some(6.0)));
    }

    #[test]
    fn history_outside_the_i32_hours() {
        // 152 bytes: the point of keeping hours as i32.
        assert_eq!(std::mem::size_of::<HourlyHistory>(), 152);
        let mut h = HourlyHistory::new();
        let far = i64::from(i32::MAX) * 3600 + 3600; // the hour after the last one
        assert!(!h.push(far, 1.0));
        assert_eq!(h.get(far), None);
        assert_eq!(h.latest_hour_start_s(), None);
        let first = i64::from(i32::MIN) * 3600; // reserved for "no hour"
        assert!(!h.push(first, 1.0));
        assert!(h.push(first + 3600, 2.0));
        assert_eq!(h.get(first + 3600), Some(2.0));
        assert_eq!(h.hourly(first + 3600)[..2], [Some(2.0), None]);
    }
}
