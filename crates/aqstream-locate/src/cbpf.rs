//! The conditional bivariate probability function (CBPF) of Uria-Tellaetxe & Carslaw
//! (2014), the statistic behind openair's `polarPlot(statistic = "cpf")`:
//!
//! ```text
//! CBPF(Δθ, Δu) = m(Δθ, Δu | C ≥ x) / n(Δθ, Δu)
//! ```
//!
//! the share of the samples with wind from sector `Δθ` at speed `Δu` whose concentration
//! reaches the threshold `x` (typically a high percentile of the sensor's history). A
//! recurring source shows as a sector (and speed range) of high probability as seen
//! from the sensor. Counts live in fixed bins, so the memory is bounded however long the
//! history; the threshold is either given (a streaming history, e.g. an excess of
//! 15 µg/m³) or taken as a percentile of a batch of samples.

/// Counts per (direction sector, speed bin).
#[derive(Debug, Clone, PartialEq)]
pub struct Cbpf {
    sectors: usize,
    speed_edges: Vec<f64>,
    threshold: f64,
    n: Vec<u32>,
    m: Vec<u32>,
}

/// Speed bin edges used by default, m/s (the last bin is open-ended).
pub const DEFAULT_SPEED_EDGES: [f64; 6] = [0.0, 1.0, 2.0, 4.0, 6.0, 10.0];

/// The `pct` percentile (0–100) of `values` with linear interpolation between order
/// statistics (R's type 7, the default of `quantile`); `None` when empty.
pub fn percentile(values: &mut [f64], pct: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let h = (values.len() - 1) as f64 * (pct / 100.0).clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(values.len() - 1);
    Some(values[lo] + (h - lo as f64) * (values[hi] - values[lo]))
}

impl Cbpf {
    /// An empty CBPF with `sectors` direction sectors (centred on 0°), the given speed
    /// bin edges and concentration threshold.
    pub fn new(sectors: usize, speed_edges: &[f64], threshold: f64) -> Cbpf {
        let sectors = sectors.max(1);
        let bins = sectors * speed_edges.len().max(1);
        Cbpf {
            sectors,
            speed_edges: if speed_edges.is_empty() {
                vec![0.0]
            } else {
                speed_edges.to_vec()
            },
            threshold,
            n: vec![0; bins],
            m: vec![0; bins],
        }
    }

    /// A CBPF over `(wind speed, wind from-direction, concentration)` samples with the
    /// threshold at the `pct` percentile of their concentrations. Samples with a missing
    /// (non-finite) field are skipped.
    pub fn from_samples(
        samples: &[(f64, f64, f64)],
        pct: f64,
        sectors: usize,
        speed_edges: &[f64],
    ) -> Cbpf {
        let ok: Vec<&(f64, f64, f64)> = samples
            .iter()
            .filter(|(u, d, c)| u.is_finite() && d.is_finite() && c.is_finite())
            .collect();
        let mut conc: Vec<f64> = ok.iter().map(|s| s.2).collect();
        let thr = percentile(&mut conc, pct).unwrap_or(f64::INFINITY);
        let mut c = Cbpf::new(sectors, speed_edges, thr);
        for &&(u, d, v) in &ok {
            c.add(u, d, v);
        }
        c
    }

    /// The concentration threshold.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    fn sector(&self, from_deg: f64) -> usize {
        let w = 360.0 / self.sectors as f64;
        (((from_deg + w / 2.0).rem_euclid(360.0)) / w) as usize % self.sectors
    }

    fn speed_bin(&self, speed: f64) -> usize {
        self.speed_edges
            .iter()
            .rposition(|e| speed >= *e)
            .unwrap_or(0)
    }

    /// Adds one sample.
    pub fn add(&mut self, speed_ms: f64, from_deg: f64, conc: f64) {
        if !(speed_ms.is_finite() && from_deg.is_finite() && conc.is_finite()) {
            return;
        }
        let i = self.sector(from_deg) * self.speed_edges.len() + self.speed_bin(speed_ms);
        self.n[i] = self.n[i].saturating_add(1);
        if conc >= self.threshold {
            self.m[i] = self.m[i].saturating_add(1);
        }
    }

    /// Number of samples added.
    pub fn samples(&self) -> u64 {
        self.n.iter().map(|&v| v as u64).sum()
    }

    /// Share of all samples at or above the threshold.
    pub fn base_rate(&self) -> f64 {
        let n = self.samples();
        if n == 0 {
            return 0.0;
        }
        self.m.iter().map(|&v| v as u64).sum::<u64>() as f64 / n as f64
    }

    /// CBPF of the bin of `(from_deg, speed_ms)`; `None` with fewer than `min_count`
    /// samples there.
    pub fn probability(&self, from_deg: f64, speed_ms: f64, min_count: u32) -> Option<f64> {
        let i = self.sector(from_deg) * self.speed_edges.len() + self.speed_bin(speed_ms);
        (self.n[i] >= min_count.max(1)).then(|| self.m[i] as f64 / self.n[i] as f64)
    }

    /// The conditional probability of a direction sector over all speeds (openair's
    /// CPF); `None` with fewer than `min_count` samples.
    pub fn sector_probability(&self, from_deg: f64, min_count: u32) -> Option<f64> {
        let s = self.sector(from_deg) * self.speed_edges.len();
        let k = self.speed_edges.len();
        let n: u64 = self.n[s..s + k].iter().map(|&v| v as u64).sum();
        let m: u64 = self.m[s..s + k].iter().map(|&v| v as u64).sum();
        (n >= min_count.max(1) as u64).then(|| m as f64 / n as f64)
    }

    /// Centre (degrees) and probability of the sector with the highest CPF among those
    /// with at least `min_count` samples.
    pub fn dominant_sector(&self, min_count: u32) -> Option<(f64, f64)> {
        let w = 360.0 / self.sectors as f64;
        (0..self.sectors)
            .filter_map(|s| {
                self.sector_probability(s as f64 * w, min_count)
                    .map(|p| (s as f64 * w, p))
            })
            .fold(None, |best: Option<(f64, f64)>, c| match best {
                Some(b) if b.1 >= c.1 => Some(b),
                _ => Some(c),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_type_7() {
        assert_eq!(percentile(&mut [1.0, 2.0, 3.0, 4.0, 5.0], 90.0), Some(4.6));
        assert_eq!(percentile(&mut [], 90.0), None);
    }

    #[test]
    fn a_source_in_the_east_shows_in_the_east() {
        let mut samples = Vec::new();
        for i in 0..3600 {
            let dir = (i * 7 % 360) as f64;
            let speed = 1.0 + (i % 5) as f64;
            let from_east = (dir - 90.0).abs() < 20.0;
            let conc = if from_east && speed >= 3.0 {
                80.0
            } else {
                10.0 + (i % 13) as f64
            };
            samples.push((speed, dir, conc));
        }
        let c = Cbpf::from_samples(&samples, 90.0, 36, &DEFAULT_SPEED_EDGES);
        let (dir, p) = c.dominant_sector(10).unwrap();
        assert!((80.0..=100.0).contains(&dir), "{dir}");
        assert!(p > 0.5);
        assert!(c.probability(90.0, 4.5, 3).unwrap() > 0.9);
        assert!(c.probability(270.0, 4.5, 3).unwrap() < 0.2);
        assert!((c.base_rate() - 0.1).abs() < 0.05, "{}", c.base_rate());
    }

    #[test]
    fn sectors_wrap_around_north() {
        let mut c = Cbpf::new(36, &DEFAULT_SPEED_EDGES, 1.0);
        c.add(2.0, 358.0, 5.0);
        c.add(2.0, 3.0, 5.0);
        assert_eq!(c.sector_probability(0.0, 2), Some(1.0));
        assert_eq!(c.samples(), 2);
    }
}
