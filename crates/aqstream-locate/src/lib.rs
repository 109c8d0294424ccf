//! # aqstream-locate
//!
//! Detection of pollution episodes and localization of their sources, from one-minute
//! sensor means. Pure: no I/O, no clocks, no async runtime, no randomness; the same
//! inputs give the same alerts.
//!
//! * [`detector`] — [`Detector`]: observe sensor-minutes, advance the watermark, get
//!   alert transitions (`firing` → `updated` → `resolved`).
//! * [`track`] — per-sensor gain, noise, CUSUM and stuck detection; the robust
//!   regional background.
//! * [`episode`] — spatial grouping of hot sensors and the alert lifecycle.
//! * [`invert`] — the search for the source location, scored against the sensors that
//!   saw the plume and those that did not.
//! * [`plume`] — the Gaussian plume with Pasquill–Gifford stability classes.
//! * [`wind`] — wind vector means and interpolation from stations.
//! * [`classify`] — source type from co-pollutant excess ratios.
//! * [`cbpf`] — the conditional bivariate probability function over long histories.
//! * `metrics` (feature `metrics`) — the contract's alert gauges kept from transitions.
//!
//! The method, its equations, assumptions and failure modes are described in
//! `docs/localization.md`.

pub mod cbpf;
pub mod classify;
pub mod config;
pub mod detector;
pub mod episode;
pub mod invert;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod plume;
pub mod track;
pub mod wind;

pub use config::{DetectorConfig, PollutantLevels};
pub use detector::{Detector, DetectorStats, SensorMinute};
