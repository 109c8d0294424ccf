//! The log abstraction: partitioned, append-only topics with consumer offsets.
//!
//! Kafka implements it for deployments, the embedded durable log for one-box runs; the
//! worker and the ingester do not care which one they talk to.

use async_trait::async_trait;
use std::time::Duration;

/// Topic names of the contract.
pub mod topics {
    /// Validated readings, key `sensor_id`, value canonical JSON.
    pub const READINGS: &str = "aq.readings.v1";
    /// Rejected messages: raw bytes with `reason`, `topic`, `gateway_id`, `received_at`
    /// headers.
    pub const DLQ: &str = "aq.readings.dlq.v1";
    /// Window aggregates.
    pub const AGGREGATES: &str = "aq.aggregates.v1";
    /// Alert state changes, key `alert_id`.
    pub const ALERTS: &str = "aq.alerts.v1";
}

/// Whether retrying the failed operation can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// A transient condition (broker down, timeout, rebalance): retry with backoff.
    Transient,
    /// Retrying the same call will fail the same way (bad config, message too large).
    Permanent,
}

/// An error of a log operation, with its retry hint.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{domain}: {message}")]
pub struct ConnectError {
    /// Which component failed (`kafka`, `embedded-log`, `mqtt`, `hj212-tcp`).
    pub domain: &'static str,
    /// What happened.
    pub message: String,
    /// Whether to retry.
    pub retry: Retry,
}

impl ConnectError {
    /// A transient error of `domain`.
    pub fn transient(domain: &'static str, message: impl Into<String>) -> ConnectError {
        ConnectError {
            domain,
            message: message.into(),
            retry: Retry::Transient,
        }
    }

    /// A permanent error of `domain`.
    pub fn permanent(domain: &'static str, message: impl Into<String>) -> ConnectError {
        ConnectError {
            domain,
            message: message.into(),
            retry: Retry::Permanent,
        }
    }

    /// Can a retry help?
    pub fn is_transient(&self) -> bool {
        self.retry == Retry::Transient
    }
}

/// A record to append.
#[derive(Debug, Clone, Copy)]
pub struct OutRecord<'a> {
    /// Destination topic.
    pub topic: &'a str,
    /// Partitioning key (`sensor_id`, `alert_id`, …).
    pub key: &'a [u8],
    /// The value.
    pub payload: &'a [u8],
    /// Headers (the dead-letter stream's `reason`, `topic`, …).
    pub headers: &'a [(&'a str, &'a [u8])],
}

/// Where an appended record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Partition of the topic.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

/// A record read from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Topic it was read from.
    pub topic: String,
    /// Partition of the topic.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// Partitioning key, if any.
    pub key: Option<Vec<u8>>,
    /// The value.
    pub payload: Vec<u8>,
    /// Headers in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Append time (broker or log clock), epoch ms, if known.
    pub timestamp_ms: Option<i64>,
}

impl Record {
    /// The first header named `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// The producing side of a log.
#[async_trait]
pub trait LogSink: Send + Sync + 'static {
    /// Appends one record. Resolves only when the log has durably acknowledged it
    /// (Kafka: `acks=all`; embedded log: fsync'd). Many sends may be in flight at once.
    async fn send(&self, record: OutRecord<'_>) -> Result<Delivery, ConnectError>;

    /// Waits until every record sent so far is acknowledged, or the timeout passes.
    async fn flush(&self, timeout: Duration) -> Result<(), ConnectError>;
}

/// A partition assignment change of a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebalance {
    /// These partitions are now read by this consumer.
    Assigned(Vec<i32>),
    /// These partitions were taken away; their uncommitted work must be dropped.
    Revoked(Vec<i32>),
}

/// The consuming side of a log: one topic, read as a member of a consumer group.
#[async_trait]
pub trait LogSource: Send + 'static {
    /// The next records of the assigned partitions, at most `max`, waiting at most
    /// `timeout` for the first one (an empty vector means nothing arrived). Records of
    /// one partition come in offset order.
    async fn poll(&mut self, max: usize, timeout: Duration) -> Result<Vec<Record>, ConnectError>;

    /// Assignment changes since the last call, oldest first.
    fn take_rebalances(&mut self) -> Vec<Rebalance>;

    /// Partitions currently assigned to this consumer.
    fn assignment(&self) -> Vec<i32>;

    /// Number of partitions of the topic.
    fn partition_count(&self) -> i32;

    /// Moves the read position of an assigned partition (next offset to read).
    async fn seek(&mut self, partition: i32, offset: i64) -> Result<(), ConnectError>;

    /// Commits the group's position per partition (next offset to read).
    async fn commit(&mut self, offsets: &[(i32, i64)]) -> Result<(), ConnectError>;

    /// The group's committed position for each partition (`None` if never committed).
    async fn committed(
        &mut self,
        partitions: &[i32],
    ) -> Result<Vec<(i32, Option<i64>)>, ConnectError>;

    /// The readable range of each partition, assigned to this consumer or not:
    /// `(partition, first offset, next offset to be written)`.
    async fn watermarks(
        &mut self,
        partitions: &[i32],
    ) -> Result<Vec<(i32, i64, i64)>, ConnectError>;

    /// Leaves the consumer group and joins it again as a new member. The current
    /// assignment is revoked first (reported by [`LogSource::take_rebalances`]), and
    /// the group hands out its partitions anew. For a member whose group stopped
    /// making progress on partitions it does not own (see the worker's
    /// `group_stall_timeout_s`).
    async fn rejoin(&mut self) -> Result<(), ConnectError>;
}

/// Topic administration.
#[async_trait]
pub trait LogAdmin: Send + Sync + 'static {
    /// Creates each topic with its partition count, if it does not exist yet.
    async fn ensure_topics(&self, topics: &[(&str, i32)]) -> Result<(), ConnectError>;
}
