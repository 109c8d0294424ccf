//! # aqstream-core
//!
//! The pure domain core of aqstream. Everything here is deterministic and free of I/O:
//! no sockets, no files, no clocks, no async runtime. Callers pass "now" explicitly.
//!
//! * [`measure`] — the measured quantities and their canonical units.
//! * [`reading`] — one sensor's reading for one period, with quality flags.
//! * [`registry`] — the sensor registry (`sensors.csv`).
//! * [`reject`] — typed reasons an input is refused.
//! * [`validate`] — turning decoded input into accepted readings or typed rejects.
//! * [`json`] — the JSON reading codec (gateway payloads and canonical Kafka values).
//! * [`hj212`] — the HJ 212-2017 frame codec.
//! * [`arrow`] — the Arrow schema of readings and a `RecordBatch` builder.
//! * [`geo`] — distances, bearings and a local metric plane.
//! * [`alert`] — the alert state changes officers receive.
//! * [`aqi`] — China HJ 633-2012 and US EPA AQI, and NowCast.
//! * [`time`] — RFC 3339 and calendar arithmetic without a time-zone database.

pub mod alert;
pub mod aqi;
pub mod arrow;
pub mod geo;
pub mod hj212;
pub mod json;
pub mod measure;
mod num;
pub mod reading;
pub mod registry;
pub mod reject;
pub mod time;
pub mod validate;

pub use measure::Measure;
pub use reading::{FlagKind, QualityFlags, Reading};
pub use registry::{SensorInfo, SensorKind, SensorRegistry};
pub use reject::{Reject, RejectReason};
