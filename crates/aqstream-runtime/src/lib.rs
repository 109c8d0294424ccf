//! # aqstream-runtime
//!
//! What every long-running aqstream service shares:
//! * [`shutdown`] — one cancellation signal for all tasks, wired to SIGINT/SIGTERM;
//! * [`metrics`] — the Prometheus registry and the `/metrics` + `/healthz` endpoint;
//! * [`config`] — TOML configuration files with strict keys.

pub mod config;
pub mod metrics;
pub mod shutdown;

pub use metrics::MetricsRegistry;
pub use shutdown::Shutdown;
