//! Configuration of the detector (TOML section `[detector]` of a worker's config).

use crate::plume::{Stability, Terrain};
use aqstream_core::Measure;
use serde::{Deserialize, Serialize};

/// A level per detection pollutant, in canonical units (µg/m³; CO mg/m³).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollutantLevels {
    /// PM2.5, µg/m³.
    pub pm25: f64,
    /// PM10, µg/m³.
    pub pm10: f64,
    /// NO2, µg/m³.
    pub no2: f64,
    /// SO2, µg/m³.
    pub so2: f64,
    /// CO, mg/m³.
    pub co: f64,
}

impl PollutantLevels {
    /// The pollutants the detector watches, in this order everywhere.
    pub const MEASURES: [Measure; 5] = [
        Measure::Pm25,
        Measure::Pm10,
        Measure::No2,
        Measure::So2,
        Measure::Co,
    ];

    /// The levels in [`PollutantLevels::MEASURES`] order.
    pub fn as_array(&self) -> [f64; 5] {
        [self.pm25, self.pm10, self.no2, self.so2, self.co]
    }
}

/// Everything the detector can be tuned by. The defaults suit a city network of
/// low-cost sensors a few hundred metres apart reporting one-minute means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// Smallest excess over the regional background that counts as a plume (a sensor is
    /// "hot" when its two-minute mean excess reaches this, or `hot_z` noise deviations
    /// if its noise is larger). `0` disables a pollutant.
    pub min_excess: PollutantLevels,
    /// Lowest noise standard deviation assumed for a sensor's excess.
    pub noise_floor: PollutantLevels,
    /// A hot sensor's two-minute mean excess is at least this many noise deviations.
    pub hot_z: f64,
    /// CUSUM decision interval `h` in noise deviations (reference value `k` is half the
    /// minimum excess).
    pub cusum_h: f64,
    /// A sensor stays "warm" (keeps its episode alive) while its excess is at least this
    /// fraction of the minimum excess: the lower threshold of the hysteresis.
    pub off_fraction: f64,
    /// Consecutive hot minutes before an episode fires.
    pub confirm_minutes: u32,
    /// An episode seen by one sensor only fires when that sensor's excess reaches this
    /// multiple of the minimum excess (one sensor alone is weaker evidence).
    pub single_sensor_factor: f64,
    /// Minutes without any warm sensor after which an episode resolves.
    pub resolve_after_minutes: u32,
    /// Sensors within this distance form the regional background of a sensor, metres.
    pub background_radius_m: f64,
    /// Fewer neighbours than this within the radius: use the whole network instead.
    pub background_min_neighbours: usize,
    /// Time constant of each sensor's gain relative to its neighbours, minutes (learns
    /// gain errors and slow drift; frozen while the sensor sees an episode).
    pub gain_tau_minutes: f64,
    /// Time constant of each sensor's noise estimate, minutes.
    pub noise_tau_minutes: f64,
    /// A value repeated exactly this many minutes in a row is treated as stuck and
    /// ignored until it changes.
    pub stuck_minutes: u32,
    /// Hot sensors closer than this join the same episode, metres.
    pub group_link_m: f64,
    /// Minutes of excess averaged as evidence for localization.
    pub evidence_minutes: u32,
    /// Re-run the localization every this many minutes while an episode is open.
    pub relocate_every_minutes: u32,
    /// An `updated` alert needs the source to move at least this far (metres) …
    pub update_move_m: f64,
    /// … or the peak to grow by this factor …
    pub update_peak_ratio: f64,
    /// … and at least this many minutes since the previous transition of the alert.
    pub update_min_interval_minutes: u32,
    /// A wind observation older than this is not used, minutes.
    pub wind_max_age_minutes: u32,
    /// Uncertainty of the interpolated wind direction, degrees (widens the plume).
    pub wind_dir_uncertainty_deg: f64,
    /// Wind speeds below this are treated as this, m/s (the plume model fails in calm).
    pub min_wind_ms: f64,
    /// Dispersion curves.
    pub terrain: Terrain,
    /// Fixed stability class; absent: from wind speed and solar elevation.
    pub stability: Option<Stability>,
    /// Height of the sensors' inlets, metres.
    pub receptor_height_m: f64,
    /// Effective source heights tried by the inversion, metres.
    pub source_heights_m: Vec<f64>,
    /// Candidate sources are searched up to this far beyond the sensors that saw the
    /// episode, metres (sources outside the network are allowed).
    pub search_margin_m: f64,
    /// Cell size of the coarse search grid, metres.
    pub coarse_cell_m: f64,
    /// Cell size of the refinement grid around the best coarse cells, metres.
    pub fine_cell_m: f64,
    /// Sensors farther than this from a candidate are not used to score it, metres.
    pub max_range_m: f64,
    /// Relative error of the plume model (factor on the predicted excess).
    pub model_error: f64,
    /// The uncertainty radius holds this share of the posterior probability.
    pub uncertainty_mass: f64,
    /// Lowest temperature of the posterior (`exp(−χ²/2T)`): above 1 it widens the
    /// posterior for model errors the misfit cannot show (calibrated on the benchmark
    /// so that the radius holds the source about as often as it claims).
    pub min_temperature: f64,
    /// Confidence is the posterior probability within this distance of the estimate
    /// (times the goodness of fit), metres.
    pub confidence_radius_m: f64,
    /// A source type needs at least this posterior probability, otherwise `unknown`.
    pub type_min_confidence: f64,
    /// Weight of the long-term CBPF prior (0 disables it).
    pub cbpf_prior_weight: f64,
    /// Hours of history a sensor's CBPF needs before it is used as a prior.
    pub cbpf_min_hours: f64,
    /// A stretch without any data longer than this (minutes) is skipped, not stepped.
    pub max_gap_minutes: u32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            min_excess: PollutantLevels {
                pm25: 15.0,
                pm10: 25.0,
                no2: 20.0,
                so2: 15.0,
                co: 0.4,
            },
            noise_floor: PollutantLevels {
                pm25: 2.0,
                pm10: 3.0,
                no2: 3.0,
                so2: 2.0,
                co: 0.05,
            },
            hot_z: 3.5,
            cusum_h: 5.0,
            off_fraction: 0.5,
            confirm_minutes: 2,
            single_sensor_factor: 1.5,
            resolve_after_minutes: 10,
            background_radius_m: 3000.0,
            background_min_neighbours: 4,
            gain_tau_minutes: 90.0,
            noise_tau_minutes: 60.0,
            stuck_minutes: 15,
            group_link_m: 1500.0,
            evidence_minutes: 10,
            relocate_every_minutes: 2,
            update_move_m: 200.0,
            update_peak_ratio: 1.25,
            update_min_interval_minutes: 5,
            wind_max_age_minutes: 10,
            wind_dir_uncertainty_deg: 10.0,
            min_wind_ms: 0.5,
            terrain: Terrain::Urban,
            stability: None,
            receptor_height_m: 3.0,
            source_heights_m: vec![3.0, 30.0, 60.0],
            search_margin_m: 3000.0,
            coarse_cell_m: 100.0,
            fine_cell_m: 20.0,
            max_range_m: 5000.0,
            model_error: 0.5,
            uncertainty_mass: 0.8,
            min_temperature: 3.0,
            confidence_radius_m: 300.0,
            type_min_confidence: 0.55,
            cbpf_prior_weight: 1.0,
            cbpf_min_hours: 24.0,
            max_gap_minutes: 60,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_overrides_and_rejects_unknown_keys() {
        let c: DetectorConfig = toml::from_str(
            "hot_z = 4.0\n[min_excess]\npm25 = 20\npm10 = 30\nno2 = 20\nso2 = 15\nco = 0.5\n",
        )
        .unwrap();
        assert_eq!(c.hot_z, 4.0);
        assert_eq!(c.min_excess.pm25, 20.0);
        assert_eq!(c.confirm_minutes, DetectorConfig::default().confirm_minutes);
        assert!(toml::from_str::<DetectorConfig>("hot_zz = 4.0\n").is_err());
        let c: DetectorConfig =
            toml::from_str("terrain = \"open_country\"\nstability = \"D\"\n").unwrap();
        assert_eq!(
            (c.terrain, c.stability),
            (Terrain::OpenCountry, Some(Stability::D))
        );
    }
}
