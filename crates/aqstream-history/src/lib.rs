//! # aqstream-history
//!
//! The Parquet history that analysts query: where it lives and how it is written.
//!
//! * [`layout`] — the tables (`readings`, `aggregates`, `alerts`), their Hive-style
//!   `date=YYYY-MM-DD/` partitions, sort order and duplicate keys;
//! * [`storage`] — a local directory by default, S3-compatible object storage or an
//!   in-memory store by configuration, all through one `object_store` code path;
//! * [`write`] — Parquet files sorted by sensor and time with statistics, page indexes and
//!   bloom filters, so that time and sensor predicates prune files, row groups and pages;
//! * [`compact`] — merges the small files of a partition into large sorted ones and drops
//!   duplicate rows.
//!
//! This crate writes; `aqstream-query` only reads.

pub mod compact;
pub mod layout;
pub mod storage;
pub mod write;

pub use compact::{CompactOptions, CompactionReport, PartitionReport, compact};
pub use layout::HistoryTable;
pub use storage::{HistoryStore, S3Config, StorageConfig};
pub use write::HistoryWriter;

/// Errors of the history crate.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The object store failed (I/O, network, permissions). Usually worth a retry.
    #[error("history storage: {0}")]
    Store(#[from] object_store::Error),
    /// A Parquet file could not be read or written.
    #[error("parquet: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    /// Arrow computation failed (sort, cast, concatenation).
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// The storage configuration is not usable (bad URL, missing feature).
    #[error("history configuration: {0}")]
    Config(String),
    /// A batch does not fit the table it is written to.
    #[error("{table}: {message}")]
    Schema {
        /// The table.
        table: &'static str,
        /// What does not fit.
        message: String,
    },
}

impl HistoryError {
    /// Is the failure transient (worth retrying the operation as a whole)?
    pub fn is_retryable(&self) -> bool {
        matches!(self, HistoryError::Store(e) if !matches!(e, object_store::Error::NotImplemented { .. }))
    }
}
