//! # aqstream-sim
//!
//! The synthetic city: a Tongzhou-like network of low-cost sensors, reference and met
//! stations; wind that changes; regional haze; per-sensor noise and gain errors;
//! missing, duplicated and late readings; faulty sensors; point sources of every type
//! dispersing as Gaussian plumes with transport delay. Seeded and deterministic. It
//! writes readings and a ground truth, publishes live over MQTT or HJ 212 TCP, and
//! drives the localization quality benchmark.
//!
//! * [`scenario`] — what a run depends on, and the named presets.
//! * [`city`] — the network (`sensors.csv`).
//! * [`weather`] — wind and background.
//! * [`source`] — sources, their emissions and plumes.
//! * [`faults`] — imperfections and failures.
//! * [`generate`] — running a scenario; readings in arrival order; ground truth.
//! * [`output`] — files; [`publish`] — MQTT and TCP.
//! * [`quality`] — the benchmark.
//! * [`rng`] — the seeded generator.

pub mod city;
pub mod faults;
pub mod generate;
pub mod output;
pub mod publish;
pub mod quality;
pub mod rng;
pub mod scenario;
pub mod source;
pub mod weather;

pub use generate::{Arrival, GroundTruth, SimOutput, Simulation};
pub use scenario::{PRESETS, Scenario, SimError, preset};
