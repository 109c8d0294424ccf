//! # aqstream-stream
//!
//! The stream engine of aqstream: validated readings in, event-time aggregates,
//! sensor health and (through the detection hook) alerts out.
//!
//! * [`window`] — window lengths and the cells readings fall in.
//! * [`partial`] — mergeable partial aggregates and the statistics of a row.
//! * [`plan`] — the DataFusion partial-aggregation plan run per segment.
//! * [`rows`] / [`health`] — output rows, as Arrow batches and JSON.
//! * [`config`] — `[stream]` configuration.

pub mod archive;
pub mod checkpoint;
pub mod city;
pub mod codec;
pub mod config;
pub mod detect;
pub mod directory;
pub mod error;
pub mod health;
pub mod history;
pub mod memlog;
pub mod metrics;
pub mod partial;
pub mod plan;
pub mod recycle;
pub mod replay;
pub mod rows;
pub mod stage1;
pub mod stage2;
pub mod window;
pub mod wire;
pub mod worker;

pub use config::{QaConfig, StreamConfig};
pub use error::{Result, Retry, StreamError};
