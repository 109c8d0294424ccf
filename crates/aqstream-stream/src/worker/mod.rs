//! The worker: stage 1 as a member of the consumer group on `aq.readings.v1`, and
//! stage 2 either in-process (one-process deployments) or, with several workers, on
//! the worker that owns partition 0 of `aq.readings.v1`, reading the single-partition
//! internal topic (when that worker dies, the group hands partition 0 — and with it
//! stage 2 — to another one).
//!
//! ```text
//!             aq.readings.v1 (partitions spread over workers)
//!                   │ poll
//!                   ▼
//!   ┌── worker ─────────────────────────────────────────────────────────────┐
//!   │ stage 1 per owned partition (spawn_blocking: decode, QA, DataFusion)  │
//!   │   ├─▶ aq.aggregates.v1 (sensor rows, at least once)                   │
//!   │   ├─▶ aq.internal.sensor-minutes.v1 (sensor-minutes, watermarks)  ──┐ │
//!   │   └─▶ history files, checkpoint, then offsets commit                │ │
//!   │ stage 2 (if this worker owns partition 0 of aq.readings.v1)    ◀────┘ │
//!   │   ├─▶ aq.aggregates.v1 (district rows), aq.alerts.v1                  │
//!   │   └─▶ history files, checkpoint, then offsets commit                  │
//!   └───────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Exactly-once effect on the history: every output file is part of an epoch that a
//! checkpoint (state + input offset) commits atomically ([`crate::checkpoint`]); the log
//! offsets are committed after. Kafka outputs (`aq.aggregates.v1`, `aq.alerts.v1`,
//! the internal topic) are at least once with deterministic content: after a restart
//! the same messages are produced again, and consumers recognise them by their
//! identity (aggregates: scope, key, window, window start, revision; internal: partition
//! and sequence number).

mod city;
mod lease;
mod partitions;
mod watchdog;

pub use city::{OpenInternal, run_stage2};
pub use partitions::{InProcessCity, run_stage1};

use crate::StreamConfig;
use crate::archive::Archive;
use crate::directory::SensorDirectory;
use crate::error::{Result, StreamError};
use crate::history::ParquetArchive;
use crate::metrics::StreamMetrics;
use crate::plan::SegmentPlan;
use crate::rows::AggregateRow;
use aqstream_connect::log::{ConnectError, LogSink, OutRecord, topics};
use aqstream_core::alert::Alert;
use aqstream_core::registry::SensorRegistry;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a worker keeps things and how it behaves.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The stream configuration.
    pub config: StreamConfig,
    /// Root of the Parquet history (shared by all workers).
    pub history_dir: PathBuf,
    /// Root of checkpoints and stage 2's ledger (shared by all workers, so another one
    /// can take a partition over).
    pub state_dir: PathBuf,
    /// Unique per worker process (names of staged files and temporary checkpoints).
    pub token: String,
    /// Publish rows to `aq.aggregates.v1` and alerts to `aq.alerts.v1`.
    pub publish_topics: bool,
}

/// What every task of a worker shares.
#[derive(Clone)]
pub struct Shared {
    /// Options.
    pub opts: Arc<WorkerOptions>,
    /// Configuration.
    pub cfg: Arc<StreamConfig>,
    /// Registry view.
    pub dir: Arc<SensorDirectory>,
    /// The registry.
    pub registry: Arc<SensorRegistry>,
    /// The compiled aggregation plan.
    pub plan: Arc<SegmentPlan>,
    /// The published history.
    pub archive: Arc<dyn Archive>,
    /// Metrics.
    pub metrics: Arc<StreamMetrics>,
    /// Output log.
    pub sink: Arc<dyn LogSink>,
    /// Whether stage 1 of this worker owns partition 0 of `aq.readings.v1`: the owner
    /// of partition 0 also runs stage 2 (see [`run_stage2`]).
    pub partition0: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Shared {
    /// Prepares the shared parts (call inside a tokio runtime).
    pub fn new(
        opts: WorkerOptions,
        registry: Arc<SensorRegistry>,
        sink: Arc<dyn LogSink>,
        metrics: Arc<StreamMetrics>,
    ) -> Result<Shared> {
        opts.config.validate().map_err(StreamError::Invalid)?;
        for d in [&opts.history_dir, &opts.state_dir] {
            std::fs::create_dir_all(d).map_err(|e| StreamError::io(d, e))?;
        }
        let archive = ParquetArchive::open(
            &opts.history_dir,
            &opts.state_dir,
            tokio::runtime::Handle::current(),
        )?;
        Ok(Shared {
            cfg: Arc::new(opts.config.clone()),
            dir: Arc::new(SensorDirectory::new(Arc::clone(&registry))),
            registry,
            plan: Arc::new(SegmentPlan::new()?),
            archive: Arc::new(archive),
            metrics,
            sink,
            partition0: Arc::new(tokio::sync::watch::Sender::new(false)),
            opts: Arc::new(opts),
        })
    }

    /// Sends rows to `aq.aggregates.v1` and alerts to `aq.alerts.v1`, waiting for the
    /// acknowledgements.
    pub async fn publish(&self, rows: &[AggregateRow], alerts: &[Alert]) -> Result<()> {
        if !self.opts.publish_topics {
            return Ok(());
        }
        let rows: Vec<(String, String)> =
            rows.iter().map(|r| (r.topic_key(), r.to_json())).collect();
        let alerts: Vec<(String, String)> = alerts
            .iter()
            .map(|a| (a.alert_id.clone(), a.to_json()))
            .collect();
        let mut sends = Vec::with_capacity(rows.len() + alerts.len());
        for (k, v) in &rows {
            sends.push(self.sink.send(OutRecord {
                topic: topics::AGGREGATES,
                key: k.as_bytes(),
                payload: v.as_bytes(),
                headers: &[],
            }));
        }
        for (k, v) in &alerts {
            sends.push(self.sink.send(OutRecord {
                topic: topics::ALERTS,
                key: k.as_bytes(),
                payload: v.as_bytes(),
                headers: &[],
            }));
        }
        futures::future::try_join_all(sends)
            .await
            .map_err(log_err)?;
        Ok(())
    }
}

/// A log error as a stream error (keeping the retry hint).
pub(crate) fn log_err(e: ConnectError) -> StreamError {
    StreamError::Log(
        e.to_string(),
        if e.is_transient() {
            crate::Retry::Transient
        } else {
            crate::Retry::Permanent
        },
    )
}

/// Wall clock, epoch ms (only for the lag metric).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The owner name of a stage-1 partition.
pub fn owner_of(partition: i32) -> String {
    format!("p{partition:03}")
}

/// A blocking closure on the blocking pool, its panics turned into errors.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StreamError::Invalid(format!("operator task failed: {e}")))
}
