//! One partition: its segments, its durable end, recovery on open, reads and
//! retention. Everything here is blocking I/O; callers run it on the writer thread or
//! in `spawn_blocking`.

use super::frame;
use super::fsutil::{rlock, sync_dir, wlock};
use super::segment::{self, FrameCursor, Segment, Step};
use super::{DOMAIN, io_error};
use crate::log::{ConnectError, Record};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// A partition of a topic.
#[derive(Debug)]
pub(crate) struct Partition {
    /// Topic name.
    pub(crate) topic: Arc<str>,
    /// Partition number.
    pub(crate) id: i32,
    /// Directory of its segments.
    pub(crate) dir: PathBuf,
    /// Segments by ascending base offset; the last one is active.
    segments: RwLock<Vec<Arc<Segment>>>,
    /// Offset after the last fsync'd record: readers see records below it only.
    durable_end: AtomicI64,
    /// First offset still on disk (advanced by retention).
    start: AtomicI64,
    /// Append state, used by the writer thread only.
    pub(crate) writer: Mutex<PartitionWriter>,
    /// The topic's change signal, bumped when records become durable.
    pub(crate) changed: Arc<watch::Sender<u64>>,
}

/// The writer thread's state of a partition.
#[derive(Debug)]
pub(crate) struct PartitionWriter {
    /// The segment appended to.
    pub(crate) active: Arc<Segment>,
    /// Offset the next append gets.
    pub(crate) next_offset: i64,
    /// Bytes of the active segment that are written and fsync'd.
    pub(crate) synced_len: u64,
    /// Frames appended since the last sync, not yet written.
    pub(crate) buf: Vec<u8>,
    /// Index entries of `buf`, published after the sync.
    pub(crate) pending_index: Vec<(i64, u64)>,
    /// Position of the newest index entry of the active segment.
    pub(crate) last_index_pos: Option<u64>,
    /// Slot of this partition in the writer's current batch.
    pub(crate) slot: Option<usize>,
    /// Set after an I/O error that could not be rolled back: appends fail until the
    /// log is reopened.
    pub(crate) broken: Option<String>,
}

/// Where a reader is in a partition: the next offset, and where its frame is if known.
#[derive(Debug, Clone)]
pub(crate) struct Position {
    /// Next offset to read.
    pub(crate) next: i64,
    /// The segment and byte position of `next`, if known.
    at: Option<(Arc<Segment>, u64)>,
}

impl Position {
    /// A position at `offset`, to be located on the first read.
    pub(crate) fn at(offset: i64) -> Position {
        Position {
            next: offset,
            at: None,
        }
    }
}

fn corrupt(p: &Partition, offset: i64, what: &str) -> ConnectError {
    ConnectError::permanent(
        DOMAIN,
        format!("{}/{} offset {offset}: corrupt log: {what}", p.topic, p.id),
    )
}

impl Partition {
    /// Opens the partition in `dir` (creating its first segment if it has none),
    /// scanning the active segment and truncating a torn tail.
    pub(crate) fn recover(
        topic: Arc<str>,
        id: i32,
        dir: PathBuf,
        changed: Arc<watch::Sender<u64>>,
    ) -> io::Result<Partition> {
        fs::create_dir_all(&dir)?;
        let mut bases = Vec::new();
        for entry in fs::read_dir(&dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            match segment::parse_name(&name) {
                Some(base) => bases.push(base),
                None if name.ends_with(".tmp") => {
                    let _ = fs::remove_file(dir.join(&*name));
                }
                None => {
                    tracing::warn!(dir = %dir.display(), file = %name, "ignoring unknown file in a partition directory")
                }
            }
        }
        bases.sort_unstable();
        let mut segments = Vec::with_capacity(bases.len().max(1));
        for &base in &bases {
            segments.push(Arc::new(Segment::open(
                dir.join(segment::file_name(base)),
                base,
            )?));
        }
        if segments.is_empty() {
            segments.push(Arc::new(Segment::create(&dir, 0)?));
        }
        let active = segments[segments.len() - 1].clone();
        let scan = active.scan()?;
        if scan.valid_len < scan.file_len {
            tracing::warn!(
                topic = %topic,
                partition = id,
                segment = %active.path.display(),
                kept_bytes = scan.valid_len,
                dropped_bytes = scan.file_len - scan.valid_len,
                reason = scan.stop.unwrap_or("unknown"),
                "truncating the torn tail of the active segment"
            );
            active.file.set_len(scan.valid_len)?;
            active.file.sync_all()?;
        }
        let last_index_pos = scan.index.last().map(|&(_, p)| p);
        active.set_index(scan.index);
        let start = segments[0].base;
        Ok(Partition {
            topic,
            id,
            dir,
            segments: RwLock::new(segments),
            durable_end: AtomicI64::new(scan.end_offset),
            start: AtomicI64::new(start),
            writer: Mutex::new(PartitionWriter {
                active,
                next_offset: scan.end_offset,
                synced_len: scan.valid_len,
                buf: Vec::new(),
                pending_index: Vec::new(),
                last_index_pos,
                slot: None,
                broken: None,
            }),
            changed,
        })
    }

    /// Offset after the last durable record.
    pub(crate) fn durable_end(&self) -> i64 {
        self.durable_end.load(Ordering::Acquire)
    }

    /// First offset still on disk.
    pub(crate) fn start(&self) -> i64 {
        self.start.load(Ordering::Acquire)
    }

    /// Makes records below `end` visible to readers (after their fsync).
    pub(crate) fn publish(&self, end: i64) {
        self.durable_end.store(end, Ordering::Release);
    }

    /// Adds a new active segment (the writer rolled).
    pub(crate) fn push_segment(&self, seg: Arc<Segment>) {
        wlock(&self.segments).push(seg);
    }

    /// The number of segment files.
    pub(crate) fn segment_count(&self) -> usize {
        rlock(&self.segments).len()
    }

    /// Finds the segment and byte position of `offset` (which is below the durable
    /// end and at or above the start).
    fn locate(&self, offset: i64) -> Result<(Arc<Segment>, u64), ConnectError> {
        let seg = {
            let segs = rlock(&self.segments);
            match segs.partition_point(|s| s.base <= offset) {
                0 => return Err(corrupt(self, offset, "no segment holds the offset")),
                i => segs[i - 1].clone(),
            }
        };
        match seg.position_of(offset).map_err(|e| io_error("read", e))? {
            Some(pos) => Ok((seg, pos)),
            None => Err(corrupt(
                self,
                offset,
                &format!("not found in {}", seg.path.display()),
            )),
        }
    }

    /// Appends up to `max` records from `pos` to `out` (only durable ones), advancing
    /// `pos`. A position below the start (records deleted by retention) first moves to
    /// the start, like Kafka's `auto.offset.reset=earliest`.
    pub(crate) fn read(
        &self,
        pos: &mut Position,
        max: usize,
        out: &mut Vec<Record>,
    ) -> Result<(), ConnectError> {
        // Load the end before reading any byte: every frame below it is fully written.
        let end = self.durable_end();
        let start = self.start();
        if pos.next < start {
            tracing::warn!(topic = %self.topic, partition = self.id, from = pos.next, to = start,
                "records before the log start were deleted by retention; skipping ahead");
            *pos = Position::at(start);
        }
        let mut taken = 0;
        while taken < max && pos.next < end {
            let (seg, byte) = match pos.at.take() {
                Some(at) => at,
                None => self.locate(pos.next)?,
            };
            let mut cur = FrameCursor::new(&seg.file, byte);
            loop {
                if taken >= max || pos.next >= end {
                    let at = cur.pos;
                    pos.at = Some((seg, at));
                    return Ok(());
                }
                match cur.next_frame().map_err(|e| io_error("read", e))? {
                    Step::Frame { offset, .. } if offset == pos.next => {
                        let rec = frame::decode(&self.topic, self.id, cur.frame())
                            .map_err(|e| corrupt(self, offset, &format!("{e:?}")))?;
                        out.push(rec);
                        pos.next += 1;
                        taken += 1;
                    }
                    Step::Frame { offset, .. } => {
                        return Err(corrupt(
                            self,
                            pos.next,
                            &format!("found offset {offset} instead"),
                        ));
                    }
                    // The rest is in the next segment.
                    Step::Eof => break,
                    Step::Bad { pos: at, reason } => {
                        return Err(corrupt(
                            self,
                            pos.next,
                            &format!("{reason} at byte {at} of {}", seg.path.display()),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Deletes the oldest sealed segments whose last write is older than `retention`;
    /// returns how many were deleted.
    pub(crate) fn apply_retention(&self, retention: Duration) -> io::Result<usize> {
        let now = SystemTime::now();
        let sealed: Vec<Arc<Segment>> = {
            let segs = rlock(&self.segments);
            segs[..segs.len().saturating_sub(1)].to_vec()
        };
        let mut expired = 0;
        for seg in &sealed {
            let modified = fs::metadata(&seg.path)?.modified()?;
            match now.duration_since(modified) {
                Ok(age) if age > retention => expired += 1,
                _ => break,
            }
        }
        if expired == 0 {
            return Ok(0);
        }
        let removed: Vec<Arc<Segment>> = {
            let mut segs = wlock(&self.segments);
            // Another retention run may have removed some meanwhile; never the last.
            let n = segs
                .iter()
                .zip(&sealed[..expired])
                .take(segs.len() - 1)
                .take_while(|(a, b)| Arc::ptr_eq(a, b))
                .count();
            let removed: Vec<_> = segs.drain(..n).collect();
            self.start.store(segs[0].base, Ordering::Release);
            removed
        };
        for seg in &removed {
            fs::remove_file(&seg.path)?;
            tracing::info!(topic = %self.topic, partition = self.id, segment = %seg.path.display(),
                "retention deleted a segment");
        }
        sync_dir(&self.dir)?;
        Ok(removed.len())
    }
}

/// The directory of partition `id` of the topic in `topic_dir`.
pub(crate) fn partition_dir(topic_dir: &Path, id: i32) -> PathBuf {
    topic_dir.join(id.to_string())
}
