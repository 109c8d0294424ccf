//! # aqstream-query
//!
//! SQL over the aqstream history with DataFusion: the session with aqstream's tables
//! (`readings`, `aggregates`, `alerts`, `sensors`) and functions ([`udf`]), and result
//! formatting ([`format`]). The same engine serves the CLI, HTTP and Postgres surfaces.

pub mod engine;
pub mod format;
pub mod udf;

pub use engine::{EngineOptions, QueryEngine, QueryError};
pub use format::OutputFormat;
