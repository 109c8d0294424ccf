//! Ingest: from field terminals' messages to the readings log.
//!
//! * [`topic`] — the MQTT topics of the contract;
//! * [`pipeline`] — decoding and validation into readings and dead letters (no I/O);
//! * [`deliver`] — appending them to the log with retries;
//! * [`metrics`] — what ingest exposes on `/metrics`.
//!
//! The transports ([`crate::mqtt`], [`crate::hj212_tcp`]) share one [`IngestContext`]:
//! they receive, hand the bytes to the pipeline, deliver the outputs, and acknowledge
//! to the sender only after the log has acknowledged every output.

pub mod deliver;
pub mod metrics;
pub mod pipeline;
pub mod service;
pub mod topic;

#[cfg(test)]
mod tests;

pub use deliver::{Backoff, Deliverer};
pub use metrics::{IngestMetrics, Transport};
pub use pipeline::{Limits, Origin, Output, Pipeline, Processed};
pub use service::{Ingester, IngesterConfig};

use crate::log::ConnectError;
use aqstream_core::time::{EpochMillis, MINUTE_MS};
use aqstream_core::validate::ValidationPolicy;
use aqstream_runtime::Shutdown;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Settings shared by every transport of the ingester.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Most messages held at once (received, not yet acknowledged to the sender). When
    /// the log is slow or down, receiving stops here: memory stays bounded. Keep the
    /// MQTT broker's per-client in-flight limit at or below this.
    pub max_in_flight: usize,
    /// On SIGTERM/SIGINT, how long to wait for in-flight messages to become durable
    /// and be acknowledged before exiting anyway (unacknowledged messages are
    /// redelivered by the broker or resent by the terminal), in milliseconds.
    pub drain_timeout_ms: u64,
    /// First delay before re-sending a record the log refused (doubles up to
    /// `retry_max_ms`), in milliseconds.
    pub retry_initial_ms: u64,
    /// Largest delay between re-sends, in milliseconds.
    pub retry_max_ms: u64,
    /// How far ahead of the receive time an event time may be, in seconds (contract:
    /// 10 minutes).
    pub max_future_s: u32,
    /// Size limits.
    pub limits: Limits,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_in_flight: 1000,
            drain_timeout_ms: 30_000,
            retry_initial_ms: 100,
            retry_max_ms: 5_000,
            max_future_s: (10 * MINUTE_MS / 1000) as u32,
            limits: Limits::default(),
        }
    }
}

impl IngestConfig {
    /// The validation policy these settings imply.
    pub fn policy(&self) -> ValidationPolicy {
        ValidationPolicy {
            max_future_ms: i64::from(self.max_future_s) * 1000,
            ..ValidationPolicy::default()
        }
    }

    /// The retry backoff.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            initial: Duration::from_millis(self.retry_initial_ms.max(1)),
            max: Duration::from_millis(self.retry_max_ms.max(self.retry_initial_ms).max(1)),
        }
    }

    /// The drain timeout.
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_timeout_ms)
    }
}

/// Errors that stop a transport.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The transport's configuration is unusable (bad URL, unreadable certificate…).
    #[error("{transport} configuration: {message}")]
    Config {
        /// `mqtt`, `hj212-tcp` or `broker`.
        transport: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A socket could not be bound or accepted.
    #[error("{transport}: {source}")]
    Io {
        /// `mqtt`, `hj212-tcp` or `broker`.
        transport: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The log failed permanently.
    #[error(transparent)]
    Log(#[from] ConnectError),
}

/// What every transport shares: the pipeline, the deliverer, the in-flight window,
/// metrics and the two shutdown signals. Cheap to clone.
#[derive(Debug, Clone)]
pub struct IngestContext {
    /// Decoding and validation.
    pub pipeline: Arc<Pipeline>,
    /// Appending to the log.
    pub deliverer: Deliverer,
    /// Metrics.
    pub metrics: IngestMetrics,
    /// Permits for messages in flight (`IngestConfig::max_in_flight`).
    pub window: Arc<Semaphore>,
    /// Graceful shutdown: stop taking new messages, drain the in-flight ones.
    pub shutdown: Shutdown,
    /// Hard stop: abandon in-flight deliveries (the drain timed out).
    pub abort: Shutdown,
    /// How long a graceful shutdown may take.
    pub drain_timeout: Duration,
}

impl IngestContext {
    /// Appends the outputs of a processed message and accounts for them in the metrics.
    pub async fn deliver(
        &self,
        processed: &Processed,
        received_at: EpochMillis,
    ) -> Result<(), ConnectError> {
        self.deliverer.deliver(&processed.outputs).await?;
        self.metrics.processed(processed, received_at);
        Ok(())
    }
}

/// Wall-clock time in epoch milliseconds (for `received_at`).
pub fn now_ms() -> EpochMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as EpochMillis)
}
