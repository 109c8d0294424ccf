//! Source type from the excess ratios of co-pollutants.
//!
//! Inert pollutants emitted together keep their ratio while the plume dilutes, so the
//! ratio of the *excesses* (over the regional background) at the sensors is the ratio
//! of the emissions. With PM10 as the reference (every source type emits it), each
//! pollutant `p` gets a regression slope through the origin over the episode's
//! sensor-minutes where both were measured:
//!
//! ```text
//! R_p = Σ e_pm10 · e_p / Σ e_pm10²        se_p² = Σ (e_p − R_p e_pm10)² / ((n − 1) Σ e_pm10²)
//! ```
//!
//! Each type has a signature `ρ_T,p` (mass ratios to PM10; CO in mg/m³ per µg/m³ of
//! PM10), and
//!
//! ```text
//! χ²_T = Σ_p (R_p − ρ_T,p)² / (se_p² + (0.3 ρ_T,p)² + f_p²)      P(T) ∝ exp(−χ²_T / 2)
//! ```
//!
//! where 30 % is the spread of real emission ratios within a type and `f_p` a floor
//! for ratios near zero. The type with the highest probability is reported when that
//! probability reaches `type_min_confidence`; otherwise, or when the sensors lack the
//! pollutants that separate the types, the type is `unknown`.
//!
//! Signatures (ratio to PM10; from typical emission factors: construction and road dust
//! is coarse; open biomass burning ≈ 10 g CO and 0.3 g NOx-as-NO2 per g PM2.5; a
//! vehicle fleet ≈ 3 g NO2 and 30 g CO per g PM2.5 with brake/tyre wear in PM10;
//! small coal boilers ≈ 2 g SO2 per g PM2.5; industrial stacks with desulphurised,
//! filtered flue gas ≈ NOx and SO2 dominated, little CO):
//!
//! | type | PM2.5 | NO2 | SO2 | CO (mg/µg) |
//! |---|---|---|---|---|
//! | dust | 0.20 | 0.01 | 0.00 | 0.00004 |
//! | combustion | 0.87 | 0.26 | 0.04 | 0.0087 |
//! | traffic | 0.62 | 1.9 | 0.03 | 0.019 |
//! | coal | 0.71 | 0.36 | 1.43 | 0.0036 |
//! | industrial | 0.67 | 1.0 | 0.67 | 0.00033 |

use aqstream_core::Measure;
use aqstream_core::alert::SourceType;

/// Pollutants compared against PM10, in this order.
pub const RATIO_MEASURES: [Measure; 4] = [Measure::Pm25, Measure::No2, Measure::So2, Measure::Co];

/// Signature of each type: ratios of [`RATIO_MEASURES`] to PM10.
pub const SIGNATURES: [(SourceType, [f64; 4]); 5] = [
    (SourceType::Dust, [0.20, 0.01, 0.0, 0.00004]),
    (SourceType::Combustion, [0.87, 0.26, 0.04, 0.0087]),
    (SourceType::Traffic, [0.62, 1.9, 0.03, 0.019]),
    (SourceType::Coal, [0.71, 0.36, 1.43, 0.0036]),
    (SourceType::Industrial, [0.67, 1.0, 0.67, 0.00033]),
];

/// Floors of the ratio uncertainty (a ratio near zero is "near zero", not exactly).
const FLOORS: [f64; 4] = [0.05, 0.06, 0.06, 0.0012];
/// Relative spread of emission ratios within a type.
const SPREAD: f64 = 0.3;

/// Accumulates excess pairs (PM10, other) over an episode. Bounded: a few sums.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RatioAccumulator {
    sxy: [f64; 4],
    sxx: [f64; 4],
    syy: [f64; 4],
    n: [u32; 4],
}

/// The fitted ratios of an episode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratios {
    /// Ratio to PM10 per [`RATIO_MEASURES`], with its standard error; `None` when that
    /// pollutant was not measured together with PM10.
    pub ratio: [Option<(f64, f64)>; 4],
}

impl RatioAccumulator {
    /// Adds one sensor-minute: `pm10` excess and the excesses of [`RATIO_MEASURES`].
    pub fn add(&mut self, pm10: f64, others: [Option<f64>; 4]) {
        for (k, o) in others.iter().enumerate() {
            if let Some(y) = o {
                self.sxy[k] += pm10 * y;
                self.sxx[k] += pm10 * pm10;
                self.syy[k] += y * y;
                self.n[k] += 1;
            }
        }
    }

    /// The regression slopes and their standard errors.
    pub fn ratios(&self) -> Ratios {
        let mut ratio = [None; 4];
        for (k, r) in ratio.iter_mut().enumerate() {
            if self.n[k] < 3 || self.sxx[k] <= 0.0 {
                continue;
            }
            let b = self.sxy[k] / self.sxx[k];
            let rss = (self.syy[k] - 2.0 * b * self.sxy[k] + b * b * self.sxx[k]).max(0.0);
            let se = (rss / ((self.n[k] - 1) as f64 * self.sxx[k])).sqrt();
            *r = Some((b, se));
        }
        Ratios { ratio }
    }
}

/// The most likely source type, its probability, and the probability of every type.
pub fn classify(r: &Ratios, min_confidence: f64) -> (SourceType, f64, [f64; 5]) {
    let mut logp = [0.0f64; 5];
    let mut informative = 0;
    for (k, ratio) in r.ratio.iter().enumerate() {
        let Some((obs, se)) = *ratio else { continue };
        informative += 1;
        for (t, (_, sig)) in SIGNATURES.iter().enumerate() {
            let var = se * se + (SPREAD * sig[k]).powi(2) + FLOORS[k].powi(2);
            logp[t] -= (obs - sig[k]).powi(2) / (2.0 * var) + 0.5 * var.ln();
        }
    }
    let max = logp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut p = logp.map(|l| (l - max).exp());
    let sum: f64 = p.iter().sum();
    for v in &mut p {
        *v /= sum;
    }
    if informative == 0 {
        return (SourceType::Unknown, 0.0, [0.2; 5]);
    }
    let (best, pb) = p.iter().enumerate().fold(
        (0, 0.0),
        |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
    );
    if pb < min_confidence {
        return (SourceType::Unknown, pb, p);
    }
    (SIGNATURES[best].0, pb, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn episode(sig: [f64; 4], noise: [f64; 4], measured: [bool; 4]) -> Ratios {
        let mut acc = RatioAccumulator::default();
        // Sensor-minutes with PM10 excess 20..120 and a deterministic wobble.
        for i in 0..40 {
            let pm10 = 20.0 + (i as f64 * 7.3) % 100.0;
            let wob = ((i as f64) * 1.7).sin();
            let o = std::array::from_fn(|k| measured[k].then(|| sig[k] * pm10 + noise[k] * wob));
            acc.add(pm10, o);
        }
        acc.ratios()
    }

    const NOISE: [f64; 4] = [3.0, 4.0, 3.0, 0.08];

    #[test]
    fn every_signature_classifies_as_itself() {
        for (t, sig) in SIGNATURES {
            let (got, p, _) = classify(&episode(sig, NOISE, [true; 4]), 0.55);
            assert_eq!(got, t, "p = {p}");
            assert!(p > 0.8, "{t}: {p}");
        }
    }

    #[test]
    fn ratios_off_by_a_quarter_still_classify() {
        // Real sources scatter around the signature.
        let (t, _) = (SourceType::Coal, 0);
        let sig = [0.71 * 0.8, 0.36 * 1.25, 1.43 * 0.75, 0.0036 * 1.25];
        assert_eq!(classify(&episode(sig, NOISE, [true; 4]), 0.55).0, t);
        let traffic = [0.62 * 1.2, 1.9 * 0.75, 0.03, 0.019 * 0.8];
        assert_eq!(
            classify(&episode(traffic, NOISE, [true; 4]), 0.55).0,
            SourceType::Traffic
        );
    }

    #[test]
    fn missing_pollutants_give_unknown() {
        // Only PM: combustion, traffic, coal and industrial look alike.
        let only_pm = [true, false, false, false];
        let (t, p, _) = classify(&episode(SIGNATURES[3].1, NOISE, only_pm), 0.55);
        assert_eq!(t, SourceType::Unknown, "{p}");
        // But coarse dust is told apart by PM alone.
        assert_eq!(
            classify(&episode(SIGNATURES[0].1, NOISE, only_pm), 0.55).0,
            SourceType::Dust
        );
        // Nothing measured with PM10.
        assert_eq!(
            classify(&RatioAccumulator::default().ratios(), 0.55).0,
            SourceType::Unknown
        );
    }
}
