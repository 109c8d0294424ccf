//! The writer thread: the only code that appends to segment files.
//!
//! Sends arrive over a channel. The thread takes everything that is queued (up to
//! `max_batch_records`, for at most `fsync_interval`), assigns offsets and timestamps,
//! seals the frames, then writes each touched partition's frames with one `pwrite` and
//! one `fdatasync`, publishes the new durable end to readers and completes the senders'
//! oneshot channels. While it syncs, new sends queue up and form the next batch: the
//! more senders wait, the more records share one fsync (group commit).

use super::frame;
use super::fsutil::lock;
use super::partition::{Partition, PartitionWriter};
use super::segment::{INDEX_INTERVAL, Segment};
use super::topic::TopicMap;
use super::{DOMAIN, io_error};
use crate::log::{ConnectError, Delivery};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

/// How often retention runs when nothing rolls.
const RETENTION_EVERY: Duration = Duration::from_secs(30);

/// Completes a send.
type Reply = oneshot::Sender<Result<Delivery, ConnectError>>;

/// A request to the writer thread.
pub(crate) enum Command {
    /// Append a frame (encoded, not sealed) and reply once it is durable.
    Append {
        /// Destination.
        partition: Arc<Partition>,
        /// The frame from [`frame::encode`].
        frame: Vec<u8>,
        /// Completed after the fsync.
        reply: Reply,
    },
    /// Reply once everything queued before is durable.
    Flush(oneshot::Sender<()>),
    /// Make everything durable, release the directory lock and stop.
    Close(oneshot::Sender<Result<(), ConnectError>>),
}

/// The writer's settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Longest batch collection time.
    pub(crate) fsync_interval: Duration,
    /// Most appends per batch.
    pub(crate) max_batch_records: usize,
    /// Segment roll size.
    pub(crate) segment_bytes: u64,
    /// Segment retention.
    pub(crate) retention: Option<Duration>,
}

/// Counters of the writer, readable through
/// [`EmbeddedLog::write_stats`](super::EmbeddedLog::write_stats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Batches written.
    pub(crate) batches: AtomicU64,
    /// Records appended.
    pub(crate) appends: AtomicU64,
    /// `fdatasync` calls of segment files.
    pub(crate) syncs: AtomicU64,
}

/// A partition touched by the current batch.
struct Slot {
    partition: Arc<Partition>,
    error: Option<ConnectError>,
}

/// The writer thread's state.
pub(crate) struct Writer {
    settings: Settings,
    topics: Arc<TopicMap>,
    rx: Receiver<Command>,
    /// Held while the thread runs: the directory's exclusive lock.
    lock_file: Option<File>,
    slots: Vec<Slot>,
    /// Senders of the batch: reply channel, slot, offset.
    acks: Vec<(Reply, usize, i64)>,
    flushes: Vec<oneshot::Sender<()>>,
    rolled: bool,
    last_retention: Instant,
    /// Appends of the previous batch: their senders are likely to send again.
    prev_batch: usize,
    /// Smoothed duration of a batch's write + fsync phase.
    sync_time: Duration,
    counters: Arc<Counters>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Writer {
    /// A writer over `rx`; `lock_file` is released when the thread ends.
    pub(crate) fn new(
        settings: Settings,
        topics: Arc<TopicMap>,
        rx: Receiver<Command>,
        lock_file: File,
        counters: Arc<Counters>,
    ) -> Writer {
        Writer {
            settings,
            topics,
            rx,
            lock_file: Some(lock_file),
            slots: Vec::new(),
            acks: Vec::new(),
            flushes: Vec::new(),
            rolled: false,
            last_retention: Instant::now(),
            prev_batch: 0,
            sync_time: Duration::from_millis(1),
            counters,
        }
    }

    /// The thread's body: runs until `Close` or until every sender is gone.
    pub(crate) fn run(mut self) {
        self.retention();
        loop {
            let first = match self.rx.recv_timeout(RETENTION_EVERY) {
                Ok(c) => c,
                Err(RecvTimeoutError::Timeout) => {
                    self.retention();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let started = Instant::now();
            let mut appended = 0;
            let mut close = self.handle(first, &mut appended);
            let mut disconnected = false;
            // Linger: when the queue runs dry before the batch is as large as the last
            // one, the senders just acknowledged are probably about to send again;
            // wait for them a fraction of an fsync, so they share the next one instead
            // of splitting into a small and a large batch.
            let quiet = (self.sync_time / 2)
                .clamp(Duration::from_micros(50), Duration::from_millis(2))
                .min(self.settings.fsync_interval);
            while close.is_none() && appended < self.settings.max_batch_records {
                let left = self
                    .settings
                    .fsync_interval
                    .saturating_sub(started.elapsed());
                if left.is_zero() {
                    break;
                }
                let next = match self.rx.try_recv() {
                    Ok(c) => Ok(c),
                    Err(TryRecvError::Empty) if appended < self.prev_batch => {
                        self.rx.recv_timeout(quiet.min(left))
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
                };
                match next {
                    Ok(c) => close = self.handle(c, &mut appended),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => {
                        disconnected = true;
                        break;
                    }
                }
            }
            self.prev_batch = appended;
            if appended > 0 {
                // counted before the batch's senders are acknowledged, so a sender
                // that got its acknowledgement sees its append in the statistics
                self.counters.batches.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .appends
                    .fetch_add(appended as u64, Ordering::Relaxed);
            }
            let sync_started = Instant::now();
            self.finish_batch();
            if appended > 0 {
                self.sync_time = (self.sync_time * 3 + sync_started.elapsed()) / 4;
            }
            if self.rolled || self.last_retention.elapsed() >= RETENTION_EVERY {
                self.retention();
            }
            if let Some(reply) = close {
                self.lock_file = None;
                let _ = reply.send(Ok(()));
                return;
            }
            if disconnected {
                break;
            }
        }
        tracing::debug!("embedded log writer stopped");
    }

    /// Handles one command; returns the reply channel of a `Close`.
    fn handle(
        &mut self,
        cmd: Command,
        appended: &mut usize,
    ) -> Option<oneshot::Sender<Result<(), ConnectError>>> {
        match cmd {
            Command::Append {
                partition,
                frame,
                reply,
            } => {
                self.append(partition, frame, reply);
                *appended += 1;
                None
            }
            Command::Flush(reply) => {
                self.flushes.push(reply);
                None
            }
            Command::Close(reply) => Some(reply),
        }
    }

    fn append(&mut self, p: Arc<Partition>, mut frame: Vec<u8>, reply: Reply) {
        let mut w = lock(&p.writer);
        if let Some(why) = &w.broken {
            let _ = reply.send(Err(ConnectError::permanent(
                DOMAIN,
                format!("{}/{} is unusable until reopened: {why}", p.topic, p.id),
            )));
            return;
        }
        let slot = match w.slot {
            Some(s) => s,
            None => {
                self.slots.push(Slot {
                    partition: p.clone(),
                    error: None,
                });
                w.slot = Some(self.slots.len() - 1);
                self.slots.len() - 1
            }
        };
        if let Some(e) = &self.slots[slot].error {
            let _ = reply.send(Err(e.clone()));
            return;
        }
        let used = w.synced_len + w.buf.len() as u64;
        if used > 0
            && used + frame.len() as u64 > self.settings.segment_bytes
            && let Err(e) = self.roll(&p, &mut w)
        {
            // Records written before the failure may be durable; their senders get
            // the error too and retry (at-least-once).
            self.slots[slot].error = Some(e.clone());
            let _ = reply.send(Err(e));
            return;
        }
        let offset = w.next_offset;
        let pos = w.synced_len + w.buf.len() as u64;
        frame::seal(&mut frame, offset, now_ms());
        if w.last_index_pos.is_none_or(|at| pos >= at + INDEX_INTERVAL) {
            w.pending_index.push((offset, pos));
            w.last_index_pos = Some(pos);
        }
        w.buf.extend_from_slice(&frame);
        w.next_offset += 1;
        self.acks.push((reply, slot, offset));
    }

    /// Seals the active segment (durably) and starts a new one at the next offset.
    fn roll(&mut self, p: &Partition, w: &mut PartitionWriter) -> Result<(), ConnectError> {
        sync_partition(p, w)?;
        let seg =
            Arc::new(Segment::create(&p.dir, w.next_offset).map_err(|e| io_error("roll", e))?);
        p.push_segment(seg.clone());
        w.active = seg;
        w.synced_len = 0;
        w.last_index_pos = None;
        self.rolled = true;
        Ok(())
    }

    /// Syncs every touched partition, wakes readers, completes the senders.
    fn finish_batch(&mut self) {
        // Partitions sync in parallel: the disk can serve their flushes together.
        let results: Vec<Result<(), ConnectError>> = match self.slots.as_slice() {
            [] => Vec::new(),
            [one] => vec![sync_slot(one)],
            [first, rest @ ..] => std::thread::scope(|scope| {
                let others: Vec<_> = rest
                    .iter()
                    .map(|slot| scope.spawn(move || sync_slot(slot)))
                    .collect();
                let mut results = vec![sync_slot(first)];
                for h in others {
                    results.push(h.join().unwrap_or_else(|_| {
                        Err(ConnectError::transient(DOMAIN, "partition sync panicked"))
                    }));
                }
                results
            }),
        };
        for (slot, result) in self.slots.iter_mut().zip(results) {
            if let Err(e) = result {
                slot.error.get_or_insert(e);
            }
        }
        let synced = self.slots.iter().filter(|s| s.error.is_none()).count();
        self.counters
            .syncs
            .fetch_add(synced as u64, Ordering::Relaxed);
        let mut woken: Vec<*const ()> = Vec::new();
        for slot in &self.slots {
            let notify = &slot.partition.changed;
            let id = Arc::as_ptr(notify) as *const ();
            if !woken.contains(&id) {
                woken.push(id);
                notify.send_modify(|v| *v = v.wrapping_add(1));
            }
        }
        for (reply, slot, offset) in self.acks.drain(..) {
            let slot = &self.slots[slot];
            let result = match &slot.error {
                Some(e) => Err(e.clone()),
                None => Ok(Delivery {
                    partition: slot.partition.id,
                    offset,
                }),
            };
            let _ = reply.send(result);
        }
        for reply in self.flushes.drain(..) {
            let _ = reply.send(());
        }
        self.slots.clear();
    }

    fn retention(&mut self) {
        self.rolled = false;
        self.last_retention = Instant::now();
        if let Some(retention) = self.settings.retention {
            super::topic::apply_retention(&self.topics, retention);
        }
    }
}

/// Ends a slot's batch: syncs its partition unless it already failed.
fn sync_slot(slot: &Slot) -> Result<(), ConnectError> {
    let mut w = lock(&slot.partition.writer);
    w.slot = None;
    match &slot.error {
        Some(e) => Err(e.clone()),
        None => sync_partition(&slot.partition, &mut w),
    }
}

/// Writes and fsyncs the partition's pending frames, then publishes them. On failure
/// the unsynced part is cut off again, so the file never holds records whose senders
/// were told they failed, and offsets stay dense.
fn sync_partition(p: &Partition, w: &mut PartitionWriter) -> Result<(), ConnectError> {
    if w.buf.is_empty() {
        return Ok(());
    }
    let written = w
        .active
        .file
        .write_all_at(&w.buf, w.synced_len)
        .and_then(|()| w.active.file.sync_data());
    match written {
        Ok(()) => {
            w.synced_len += w.buf.len() as u64;
            w.buf.clear();
            w.active.extend_index(&w.pending_index);
            w.pending_index.clear();
            p.publish(w.next_offset);
            Ok(())
        }
        Err(e) => {
            tracing::error!(topic = %p.topic, partition = p.id, error = %e, "append failed");
            w.buf.clear();
            w.pending_index.clear();
            w.next_offset = p.durable_end();
            w.last_index_pos = w.active.last_index_pos();
            if let Err(e2) = w
                .active
                .file
                .set_len(w.synced_len)
                .and_then(|()| w.active.file.sync_all())
            {
                w.broken = Some(format!(
                    "append failed ({e}) and could not be undone ({e2})"
                ));
            }
            Err(io_error("append", e))
        }
    }
}
