//! Per-sensor, per-pollutant state: gain relative to the neighbours, noise level,
//! CUSUM of the excess, stuck-value detection; and the robust regional background.
//!
//! For sensor `i` and pollutant `p` at minute `t`:
//!
//! ```text
//! c_i  = v_i / g_i                         calibrated value (g_i learned gain)
//! b_i  = median{ c_j : j near i, j ≠ i, j usable and not in an episode }
//! e_i  = c_i − b_i                         excess over the regional background
//! S_i  = max(0, S_i + e_i/σ_i − k_i)       one-sided CUSUM, k_i = min_excess / 2σ_i
//! ```
//!
//! While a sensor is quiet, `ln g_i` follows `ln(v_i / b_i)` with time constant
//! `gain_tau_minutes` (innovations clipped to ±0.2) and `σ_i²` follows `e_i²` with
//! `noise_tau_minutes` (clipped to ±4σ): a sensor that reads 20 % high, or drifts
//! slowly, is calibrated against its neighbours instead of raising an alarm, and a city-
//! wide haze lifts the background with the sensors.

/// One-sided CUSUM with the time the sum last left zero (the onset estimate).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cusum {
    s: f64,
    onset: Option<i64>,
}

impl Cusum {
    /// Adds a standardized observation `z` with reference value `k` at minute `t`.
    pub fn update(&mut self, z: f64, k: f64, t: i64) -> f64 {
        let next = (self.s + z - k).max(0.0);
        if next > 0.0 && self.s == 0.0 {
            self.onset = Some(t);
        }
        if next == 0.0 {
            self.onset = None;
        }
        self.s = next;
        next
    }

    /// The current sum.
    pub fn value(&self) -> f64 {
        self.s
    }

    /// End of the first minute of the current run of positive sums.
    pub fn onset(&self) -> Option<i64> {
        self.onset
    }
}

/// State of one sensor for one pollutant.
#[derive(Debug, Clone)]
pub(crate) struct Track {
    pub log_gain: f64,
    pub noise_var: f64,
    pub cusum: Cusum,
    last_raw: Option<f64>,
    repeats: u32,
    /// Excess of the last two minutes (NaN when missing), newest last.
    pub recent: [f64; 2],
}

impl Track {
    pub fn new(noise_floor: f64) -> Track {
        Track {
            log_gain: 0.0,
            noise_var: (1.5 * noise_floor).powi(2),
            cusum: Cusum::default(),
            last_raw: None,
            repeats: 0,
            recent: [f64::NAN; 2],
        }
    }

    /// Records the raw value; true while it has been repeated `stuck_minutes` times.
    pub fn observe_raw(&mut self, v: Option<f64>, stuck_minutes: u32) -> bool {
        match (v, self.last_raw) {
            (Some(v), Some(prev)) if v == prev => self.repeats += 1,
            (Some(_), _) => self.repeats = 0,
            (None, _) => {}
        }
        if v.is_some() {
            self.last_raw = v;
        }
        stuck_minutes > 0 && self.repeats >= stuck_minutes
    }

    pub fn sigma(&self, floor: f64) -> f64 {
        self.noise_var.sqrt().max(floor)
    }

    pub fn push_excess(&mut self, e: f64) {
        self.recent = [self.recent[1], e];
    }

    /// Mean of the last two minutes' excess (one of them may be missing).
    pub fn mean2(&self) -> Option<f64> {
        let [a, b] = self.recent;
        match (a.is_nan(), b.is_nan()) {
            (false, false) => Some((a + b) / 2.0),
            (true, false) => Some(b),
            (false, true) => Some(a),
            (true, true) => None,
        }
    }

    /// Learns gain and noise from a quiet minute.
    pub fn learn(
        &mut self,
        raw: f64,
        background: f64,
        excess: f64,
        floor: f64,
        a_gain: f64,
        a_noise: f64,
    ) {
        if raw > 3.0 * floor && background > 3.0 * floor {
            let innov = ((raw / background).ln() - self.log_gain).clamp(-0.2, 0.2);
            self.log_gain = (self.log_gain + a_gain * innov).clamp(-0.7, 0.7);
        }
        let lim = 4.0 * self.noise_var.sqrt().max(floor);
        let e = excess.clamp(-lim, lim);
        self.noise_var += a_noise * (e * e - self.noise_var);
    }
}

/// Median of `values` (reorders it); `None` when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    let hi = *m;
    if n % 2 == 1 {
        return Some(hi);
    }
    let lo = values[..mid]
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    Some((lo + hi) / 2.0)
}

/// The regional background of every sensor: the median of its usable neighbours'
/// calibrated values, or of the whole network's when fewer than `min_neighbours` of
/// them are usable.
pub fn backgrounds(
    calibrated: &[Option<f64>],
    usable: &[bool],
    neighbours: &[Vec<usize>],
    min_neighbours: usize,
) -> Vec<Option<f64>> {
    let mut all: Vec<f64> = (0..calibrated.len())
        .filter(|&j| usable[j])
        .filter_map(|j| calibrated[j])
        .collect();
    let network = median(&mut all);
    let mut scratch = Vec::new();
    (0..calibrated.len())
        .map(|i| {
            calibrated[i]?;
            scratch.clear();
            scratch.extend(
                neighbours[i]
                    .iter()
                    .filter(|&&j| usable[j])
                    .filter_map(|&j| calibrated[j]),
            );
            if scratch.len() >= min_neighbours {
                median(&mut scratch)
            } else {
                network
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cusum_detects_a_step_and_remembers_its_onset() {
        let mut c = Cusum::default();
        for t in 0..10 {
            c.update(0.3, 1.0, t);
        }
        assert_eq!(c.value(), 0.0);
        assert_eq!(c.onset(), None);
        c.update(4.0, 1.0, 10);
        c.update(4.0, 1.0, 11);
        assert_eq!(c.value(), 6.0);
        assert_eq!(c.onset(), Some(10));
        c.update(-10.0, 1.0, 12);
        assert_eq!((c.value(), c.onset()), (0.0, None));
    }

    #[test]
    fn median_and_background() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
        let vals = [Some(10.0), Some(12.0), Some(500.0), Some(11.0), None];
        let usable = [true, true, true, true, true];
        let nb = vec![
            vec![1, 2, 3],
            vec![0, 2, 3],
            vec![0, 1, 3],
            vec![0, 1, 2],
            vec![0, 1],
        ];
        let b = backgrounds(&vals, &usable, &nb, 3);
        // The plume at sensor 2 does not move its neighbours' background much.
        assert_eq!(b[0], Some(12.0));
        assert_eq!(b[2], Some(11.0));
        assert_eq!(b[4], None);
        // Too few neighbours: the network median.
        let b = backgrounds(&vals, &usable, &nb, 4);
        assert_eq!(b[0], Some(11.5));
    }

    #[test]
    fn stuck_values_and_gain_learning() {
        let mut t = Track::new(2.0);
        let mut stuck = false;
        for _ in 0..16 {
            stuck = t.observe_raw(Some(42.0), 15);
        }
        assert!(stuck);
        assert!(!t.observe_raw(Some(42.5), 15));
        // A sensor reading 20 % high learns its gain.
        for _ in 0..2000 {
            t.learn(
                120.0,
                100.0,
                20.0 - 100.0 * t.log_gain,
                2.0,
                1.0 / 90.0,
                1.0 / 60.0,
            );
        }
        assert!(
            (t.log_gain.exp() - 1.2).abs() < 0.01,
            "{}",
            t.log_gain.exp()
        );
    }
}
