//! The error type of the stream engine, with a retry hint.

use std::path::PathBuf;

/// Whether retrying the failed operation can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// A transient condition (broker down, disk briefly full, lost a race for an epoch):
    /// retry, usually after reloading the partition's last checkpoint.
    Transient,
    /// Retrying will fail the same way (corrupt checkpoint, bad configuration).
    Permanent,
}

/// An error of the stream engine.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Reading from or writing to the log failed.
    #[error("{0}")]
    Log(String, Retry),
    /// A file of the history or of a checkpoint could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// DataFusion failed to plan or run an aggregation or a history query.
    #[error("datafusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Arrow failed to build or convert a batch.
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// Writing or reading Parquet failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A checkpoint or an internal message is malformed.
    #[error("corrupt {what}: {message}")]
    Corrupt {
        /// What was being decoded (`checkpoint`, `internal message`, …).
        what: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Another worker committed this epoch of the partition first: this worker lost
    /// ownership and must reload the partition from the newest checkpoint.
    #[error("partition {partition}: epoch {epoch} was committed by another worker")]
    Fenced {
        /// The partition (of `aq.readings.v1`, or `-1` for stage 2).
        partition: i32,
        /// The epoch that could not be committed.
        epoch: u64,
    },
    /// The configuration or the input is not usable.
    #[error("{0}")]
    Invalid(String),
}

impl StreamError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> StreamError {
        StreamError::Io {
            path: path.into(),
            source,
        }
    }

    /// A corrupt `what`.
    pub fn corrupt(what: &'static str, message: impl Into<String>) -> StreamError {
        StreamError::Corrupt {
            what,
            message: message.into(),
        }
    }

    /// Can a retry help?
    pub fn retry(&self) -> Retry {
        match self {
            StreamError::Log(_, r) => *r,
            StreamError::Io { .. } | StreamError::Fenced { .. } => Retry::Transient,
            _ => Retry::Permanent,
        }
    }
}

/// Result of the stream engine.
pub type Result<T, E = StreamError> = std::result::Result<T, E>;
