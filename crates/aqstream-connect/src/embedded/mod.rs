//! The embedded durable log: partitioned, append-only topics with consumer groups and
//! committed offsets, on local disk, behind the same [`LogSink`] / [`LogSource`] /
//! [`LogAdmin`] traits as Kafka, so a one-box `aqstream run` needs no broker.
//!
//! ```text
//! EmbeddedSink::send ──encode frame──▶ channel ──▶ writer thread ──pwrite + fdatasync──▶ segments
//!        ▲                                            │ per batch: publish durable end,
//!        └──────────── oneshot: Delivery ◀────────────┘ wake sources, complete senders
//! EmbeddedSource::poll ──spawn_blocking: pread frames below the durable end──▶ Records
//! ```
//!
//! # Semantics (as Kafka's where the stream worker relies on them)
//!
//! * Topics are created explicitly ([`LogAdmin::ensure_topics`]); sending to an unknown
//!   topic is a permanent error.
//! * A record's partition is `(murmur2(key) & 0x7fffffff) % partitions`, the Kafka Java
//!   client's default partitioner ([`partitioner`]); the mapping never changes between
//!   versions. An empty key means "no key": such records go round-robin and read back
//!   with `key: None`. Keys, headers and payloads round-trip byte for byte.
//! * Offsets are dense per partition from 0; a partition's records are read in offset
//!   order. The timestamp is the append wall-clock time in ms.
//! * [`LogSink::send`] resolves only after the record is fsync'd; sources only ever see
//!   fsync'd records, so an offset a consumer saw can never be reused after a crash.
//! * Consumer groups live in the process: sources of one group on one topic split its
//!   partitions round-robin by join order, get `Revoked` / `Assigned` when a member joins
//!   or leaves (dropping a source leaves), start a newly assigned partition at the
//!   group's committed offset (or the log start), and can commit only partitions they
//!   own. Committed offsets survive restarts.
//!
//! # On-disk format
//!
//! ```text
//! <dir>/LOCK                                  exclusive lock of the opening process
//! <dir>/FORMAT                                "aqstream embedded log, format 1"
//! <dir>/topics/<topic>/topic.meta             "partitions = N"
//! <dir>/topics/<topic>/<p>/<base:020>.log     segment files, named by first offset
//! <dir>/groups/<group>/<topic>.offsets        "partition offset" lines
//! ```
//!
//! A segment is a sequence of frames ([`frame`]): `length u32 | crc32c u32 | body`, the
//! body holding offset, timestamp, key, headers and payload. A partition appends to
//! its last segment until it would exceed `segment_bytes`, then fsyncs it and starts a
//! new one. Retention deletes whole sealed segments, oldest first, whose last write is
//! older than `retention`. Offsets files and topic metadata are replaced atomically
//! (temporary file, fsync, rename, fsync of the directory).
//!
//! # Durability
//!
//! A record is acknowledged after `fdatasync` of its segment (and, for a new segment,
//! an fsync of the directory entry), so every acknowledged record survives a process
//! crash and a power loss (if the disk honours flushes). A crash can leave a torn frame
//! at the end of a partition's active segment, or acknowledged-never records that were
//! written but not yet synced; on open, the active segment is scanned and everything
//! from the first invalid frame (bad length, cut short, CRC mismatch, offset out of
//! sequence) is truncated. Unacknowledged but complete records may survive: at least
//! once, like Kafka.
//!
//! # Group commit
//!
//! One writer thread per log does all appends. It takes every send queued on its
//! channel (up to `max_batch_records` or for at most `fsync_interval`), writes each
//! touched partition's frames with one `pwrite` and syncs it with one `fdatasync`, then
//! completes all those senders. While it syncs, new sends queue up and become the next
//! batch, so a single sender pays one fsync per record, and 1000 concurrent senders
//! share one fsync among hundreds of records. No lock is held across an `.await`;
//! blocking reads run in `spawn_blocking`.
//!
//! # Opening
//!
//! Only each partition's active segment is scanned on open (at most `segment_bytes`
//! per partition), so opening a few GB of log costs a directory listing plus one
//! segment per partition. The trade-off: sealed segments are not verified on open;
//! their in-memory sparse index (one entry per 4 KiB) is built when a reader first
//! seeks into them (one sequential scan of that segment), and every record's CRC is
//! checked when it is read.

mod config;
mod crc32c;
mod frame;
mod fsutil;
mod group;
mod partition;
pub mod partitioner;
mod segment;
mod sink;
mod source;
mod topic;
mod writer;

pub use config::EmbeddedLogConfig;
pub use sink::EmbeddedSink;
pub use source::EmbeddedSource;

use crate::log::{ConnectError, LogAdmin, Record, topics};
use async_trait::async_trait;
use fsutil::{lock, rlock, valid_topic_name, wlock, write_atomic};
use group::Groups;
use partition::Position;
use std::fs::{self, File};
use std::io;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::oneshot;
use topic::{Topic, TopicMap};
use writer::{Command, Counters, Writer};

/// The error domain of the embedded log.
pub(crate) const DOMAIN: &str = "embedded-log";

const FORMAT: &str = "aqstream embedded log, format 1\n";

/// An I/O failure of `op` (transient: the disk may recover, e.g. free space).
pub(crate) fn io_error(op: &str, e: io::Error) -> ConnectError {
    ConnectError::transient(DOMAIN, format!("{op}: {e}"))
}

/// A blocking task that panicked or was cancelled.
pub(crate) fn join_error(e: tokio::task::JoinError) -> ConnectError {
    ConnectError::transient(DOMAIN, format!("blocking task failed: {e}"))
}

/// Counters of the writer thread (see [`EmbeddedLog::write_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Batches written (each ends with the fsyncs of the partitions it touched).
    pub batches: u64,
    /// Records appended.
    pub appends: u64,
    /// `fdatasync` calls of segment files (one per touched partition per batch).
    pub syncs: u64,
}

/// An open embedded log. Share it as `Arc<EmbeddedLog>`; sinks and sources keep it
/// alive. When the last handle is dropped, the writer thread syncs what is queued and
/// stops (the drop waits for it); [`close`](EmbeddedLog::close) does the same
/// explicitly.
pub struct EmbeddedLog {
    cfg: EmbeddedLogConfig,
    topics: Arc<TopicMap>,
    pub(crate) groups: Groups,
    tx: Option<mpsc::Sender<Command>>,
    writer: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    /// Serializes topic creation.
    create: Arc<Mutex<()>>,
}

impl std::fmt::Debug for EmbeddedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedLog")
            .field("dir", &self.cfg.dir)
            .field("topics", &rlock(&self.topics).keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl EmbeddedLog {
    /// Opens (or creates) the log in `cfg.dir`: takes the directory lock, recovers every
    /// partition (truncating torn tails), loads committed offsets and starts the writer
    /// thread.
    pub async fn open(cfg: EmbeddedLogConfig) -> Result<Arc<EmbeddedLog>, ConnectError> {
        if cfg.max_batch_records == 0 || cfg.default_partitions < 1 || cfg.segment_bytes == 0 {
            return Err(ConnectError::permanent(
                DOMAIN,
                "max_batch_records, default_partitions and segment_bytes must be positive",
            ));
        }
        tokio::task::spawn_blocking(move || Self::open_blocking(cfg))
            .await
            .map_err(join_error)?
    }

    fn open_blocking(cfg: EmbeddedLogConfig) -> Result<Arc<EmbeddedLog>, ConnectError> {
        let dir = &cfg.dir;
        let fail = |what: &str, e: io::Error| {
            ConnectError::permanent(DOMAIN, format!("open {}: {what}: {e}", dir.display()))
        };
        fs::create_dir_all(dir).map_err(|e| fail("create directory", e))?;
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))
            .map_err(|e| fail("lock file", e))?;
        lock_file.try_lock().map_err(|e| match e {
            fs::TryLockError::WouldBlock => ConnectError::permanent(
                DOMAIN,
                format!("{} is already open (locked by a process)", dir.display()),
            ),
            fs::TryLockError::Error(e) => fail("lock", e),
        })?;
        let format_file = dir.join("FORMAT");
        match fs::read_to_string(&format_file) {
            Ok(f) if f == FORMAT => {}
            Ok(f) => {
                return Err(ConnectError::permanent(
                    DOMAIN,
                    format!("{}: unsupported log format {f:?}", dir.display()),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_atomic(&format_file, FORMAT.as_bytes()).map_err(|e| fail("FORMAT", e))?;
            }
            Err(e) => return Err(fail("FORMAT", e)),
        }
        let topics_dir = dir.join("topics");
        fs::create_dir_all(&topics_dir).map_err(|e| fail("topics", e))?;
        let topics = Arc::new(TopicMap::new(
            topic::load_all(&topics_dir).map_err(|e| fail("recover topics", e))?,
        ));
        let groups =
            Groups::load(group::groups_dir(dir)).map_err(|e| fail("load group offsets", e))?;
        let (tx, rx) = mpsc::channel();
        let settings = writer::Settings {
            fsync_interval: cfg.fsync_interval,
            max_batch_records: cfg.max_batch_records,
            segment_bytes: cfg.segment_bytes,
            retention: cfg.retention,
        };
        let counters = Arc::new(Counters::default());
        let w = Writer::new(settings, topics.clone(), rx, lock_file, counters.clone());
        let writer = std::thread::Builder::new()
            .name("aqstream-log-writer".into())
            .spawn(move || w.run())
            .map_err(|e| fail("start writer thread", e))?;
        tracing::info!(dir = %dir.display(), topics = rlock(&topics).len(), "embedded log open");
        Ok(Arc::new(EmbeddedLog {
            cfg,
            topics,
            groups,
            tx: Some(tx),
            writer: Some(writer),
            counters,
            create: Arc::new(Mutex::new(())),
        }))
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &EmbeddedLogConfig {
        &self.cfg
    }

    /// A producer handle.
    pub fn sink(self: &Arc<Self>) -> EmbeddedSink {
        EmbeddedSink { log: self.clone() }
    }

    /// A consumer of `topic` in consumer group `group`. Joining rebalances the
    /// partitions among the group's live sources in this process.
    pub fn source(
        self: &Arc<Self>,
        topic: &str,
        group: &str,
    ) -> Result<EmbeddedSource, ConnectError> {
        if group.is_empty() {
            return Err(ConnectError::permanent(DOMAIN, "empty consumer group name"));
        }
        let t = self.topic(topic)?;
        Ok(EmbeddedSource::new(self.clone(), t, group))
    }

    /// Per partition, the offset after the last durable record (Kafka's high
    /// watermark): for lag metrics and tests.
    pub fn end_offsets(&self, topic: &str) -> Result<Vec<i64>, ConnectError> {
        Ok(self
            .topic(topic)?
            .partitions
            .iter()
            .map(|p| p.durable_end())
            .collect())
    }

    /// Per partition, the first offset still stored (after retention).
    pub fn start_offsets(&self, topic: &str) -> Result<Vec<i64>, ConnectError> {
        Ok(self
            .topic(topic)?
            .partitions
            .iter()
            .map(|p| p.start())
            .collect())
    }

    /// What the writer thread has done since the log was opened.
    pub fn write_stats(&self) -> WriteStats {
        use std::sync::atomic::Ordering::Relaxed;
        WriteStats {
            batches: self.counters.batches.load(Relaxed),
            appends: self.counters.appends.load(Relaxed),
            syncs: self.counters.syncs.load(Relaxed),
        }
    }

    /// The number of segment files of each partition.
    pub fn segment_counts(&self, topic: &str) -> Result<Vec<usize>, ConnectError> {
        Ok(self
            .topic(topic)?
            .partitions
            .iter()
            .map(|p| p.segment_count())
            .collect())
    }

    /// Reads up to `max` durable records of one partition from `offset`, outside any
    /// group (like a Kafka fetch). An offset below the log start is an error; at or
    /// past the end, the result is empty.
    pub async fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max: usize,
    ) -> Result<Vec<Record>, ConnectError> {
        let t = self.topic(topic)?;
        let p = t
            .partitions
            .get(usize::try_from(partition).unwrap_or(usize::MAX))
            .cloned()
            .ok_or_else(|| {
                ConnectError::permanent(
                    DOMAIN,
                    format!("topic {topic} has no partition {partition}"),
                )
            })?;
        if offset < p.start() {
            return Err(ConnectError::permanent(
                DOMAIN,
                format!(
                    "{topic}/{partition}: offset {offset} is before the log start {}",
                    p.start()
                ),
            ));
        }
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            p.read(&mut Position::at(offset), max, &mut out)?;
            Ok(out)
        })
        .await
        .map_err(join_error)?
    }

    /// Deletes expired segments now (the writer also does it every 30 s and after
    /// each segment roll); returns how many were deleted. No-op without `retention`.
    pub async fn apply_retention(&self) -> Result<usize, ConnectError> {
        let Some(retention) = self.cfg.retention else {
            return Ok(0);
        };
        let topics = self.topics.clone();
        tokio::task::spawn_blocking(move || topic::apply_retention(&topics, retention))
            .await
            .map_err(join_error)
    }

    /// Creates the contract topics ([`topics`]) with `default_partitions` each.
    pub async fn ensure_contract_topics(&self) -> Result<(), ConnectError> {
        let n = self.cfg.default_partitions;
        self.ensure_topics(&[
            (topics::READINGS, n),
            (topics::DLQ, n),
            (topics::AGGREGATES, n),
            (topics::ALERTS, n),
        ])
        .await
    }

    /// Makes everything appended so far durable and stops the writer; afterwards sends
    /// fail and the directory can be opened again.
    pub async fn close(&self) -> Result<(), ConnectError> {
        let (reply, done) = oneshot::channel();
        if self.send_command(Command::Close(reply)).is_err() {
            return Ok(()); // already closed
        }
        done.await.unwrap_or(Ok(()))
    }

    /// The open topic `name`.
    pub(crate) fn topic(&self, name: &str) -> Result<Arc<Topic>, ConnectError> {
        rlock(&self.topics).get(name).cloned().ok_or_else(|| {
            ConnectError::permanent(DOMAIN, format!("unknown topic {name:?} (create it first)"))
        })
    }

    pub(crate) fn send_command(&self, cmd: Command) -> Result<(), ConnectError> {
        self.tx
            .as_ref()
            .and_then(|tx| tx.send(cmd).ok())
            .ok_or_else(|| ConnectError::permanent(DOMAIN, "the embedded log is closed"))
    }
}

impl Drop for EmbeddedLog {
    fn drop(&mut self) {
        // Disconnecting the channel stops the writer after it synced what is queued.
        self.tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

#[async_trait]
impl LogAdmin for EmbeddedLog {
    /// Creates missing topics (directories, metadata, first segments). An existing
    /// topic keeps its partition count; a different requested count is logged.
    async fn ensure_topics(&self, wanted: &[(&str, i32)]) -> Result<(), ConnectError> {
        let mut missing = Vec::new();
        for &(name, partitions) in wanted {
            if !valid_topic_name(name) {
                return Err(ConnectError::permanent(
                    DOMAIN,
                    format!("invalid topic name {name:?} (1-249 of [A-Za-z0-9._-])"),
                ));
            }
            if !(1..=100_000).contains(&partitions) {
                return Err(ConnectError::permanent(
                    DOMAIN,
                    format!("topic {name}: partition count {partitions} out of 1..=100000"),
                ));
            }
            match rlock(&self.topics).get(name) {
                Some(t) if t.partitions.len() as i32 != partitions => tracing::warn!(
                    topic = name,
                    existing = t.partitions.len(),
                    requested = partitions,
                    "topic exists with another partition count; keeping it"
                ),
                Some(_) => {}
                None => missing.push((name.to_owned(), partitions)),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let root = self.cfg.dir.join("topics");
        let topics = self.topics.clone();
        let create = self.create.clone();
        tokio::task::spawn_blocking(move || {
            let _one_at_a_time = lock(&create);
            for (name, partitions) in missing {
                if rlock(&topics).contains_key(&name) {
                    continue;
                }
                let t = topic::create(&root, &name, partitions)
                    .map_err(|e| io_error(&format!("create topic {name}"), e))?;
                tracing::info!(topic = %name, partitions, "created topic");
                wlock(&topics).insert(name, Arc::new(t));
            }
            Ok(())
        })
        .await
        .map_err(join_error)?
    }
}
