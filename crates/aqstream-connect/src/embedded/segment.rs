//! Segment files: one file of consecutive frames per offset range, named by the
//! offset of its first record, with an in-memory sparse index.

use super::frame::{self, FrameError, HEADER_LEN};
use super::fsutil::{rlock, sync_dir, wlock};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// Extension of segment files.
pub(crate) const SEGMENT_EXT: &str = "log";
/// One index entry per this many bytes of frames.
pub(crate) const INDEX_INTERVAL: u64 = 4096;
/// Bytes read from a file at a time.
const CHUNK: usize = 256 << 10;

/// One segment file.
#[derive(Debug)]
pub(crate) struct Segment {
    /// Offset of the first record.
    pub(crate) base: i64,
    /// The file.
    pub(crate) path: PathBuf,
    /// Read-write handle: the writer appends with `pwrite`, readers use `pread`.
    pub(crate) file: File,
    /// Sparse index `(offset, byte position)`, ascending; `None` until built. The active
    /// segment's is built by the recovery scan and extended by the writer; a sealed
    /// segment's is built by its first random-access read.
    index: RwLock<Option<Vec<(i64, u64)>>>,
}

/// The name of the segment file starting at `base`.
pub(crate) fn file_name(base: i64) -> String {
    format!("{base:020}.{SEGMENT_EXT}")
}

/// The base offset of a segment file name, if it is one.
pub(crate) fn parse_name(name: &str) -> Option<i64> {
    let stem = name.strip_suffix(".log")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Result of reading a segment from its start.
#[derive(Debug)]
pub(crate) struct Scan {
    /// Bytes of valid frames from the start.
    pub(crate) valid_len: u64,
    /// Size of the file.
    pub(crate) file_len: u64,
    /// Offset after the last valid record.
    pub(crate) end_offset: i64,
    /// Sparse index of the valid part.
    pub(crate) index: Vec<(i64, u64)>,
    /// Why the scan stopped before the end of the file, if it did.
    pub(crate) stop: Option<&'static str>,
}

/// One step of a [`FrameCursor`].
pub(crate) enum Step {
    /// A valid frame at `pos`; its bytes are [`FrameCursor::frame`].
    Frame {
        /// Byte position.
        pos: u64,
        /// Its record offset.
        offset: i64,
    },
    /// Clean end of the file.
    Eof,
    /// Invalid or cut bytes at `pos`.
    Bad {
        /// Byte position.
        pos: u64,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Sequential frame reader over a file from a position, with its own buffer.
pub(crate) struct FrameCursor<'f> {
    file: &'f File,
    /// Position of the next frame.
    pub(crate) pos: u64,
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    buf_start: u64,
    /// The last frame returned, as a range of `buf`.
    last: (usize, usize),
}

impl<'f> FrameCursor<'f> {
    /// A cursor at byte `pos` of `file`.
    pub(crate) fn new(file: &'f File, pos: u64) -> FrameCursor<'f> {
        FrameCursor {
            file,
            pos,
            buf: Vec::new(),
            buf_start: pos,
            last: (0, 0),
        }
    }

    /// Makes at least `need` bytes from `pos` available if the file has them; returns
    /// how many are available.
    fn fill(&mut self, need: usize) -> io::Result<usize> {
        let off = (self.pos - self.buf_start) as usize;
        if self.buf.len() - off >= need {
            return Ok(self.buf.len() - off);
        }
        self.buf.drain(..off);
        self.buf_start = self.pos;
        let want = need.max(CHUNK);
        while self.buf.len() < want {
            let have = self.buf.len();
            self.buf.resize(want, 0);
            let n = self
                .file
                .read_at(&mut self.buf[have..], self.buf_start + have as u64);
            match n {
                Ok(0) => {
                    self.buf.truncate(have);
                    break;
                }
                Ok(n) => self.buf.truncate(have + n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.buf.truncate(have),
                Err(e) => {
                    self.buf.truncate(have);
                    return Err(e);
                }
            }
        }
        Ok(self.buf.len())
    }

    /// The next frame.
    pub(crate) fn next_frame(&mut self) -> io::Result<Step> {
        let mut need = HEADER_LEN;
        loop {
            let avail = self.fill(need)?;
            let off = (self.pos - self.buf_start) as usize;
            if avail == 0 {
                return Ok(Step::Eof);
            }
            match frame::check(&self.buf[off..]) {
                Ok((len, offset)) => {
                    let pos = self.pos;
                    self.last = (off, off + len);
                    self.pos += len as u64;
                    return Ok(Step::Frame { pos, offset });
                }
                Err(FrameError::Incomplete { need: n }) => {
                    if n <= need {
                        // `fill` read up to the end of the file: it ends inside the frame.
                        return Ok(Step::Bad {
                            pos: self.pos,
                            reason: "record cut short by the end of the file",
                        });
                    }
                    need = n;
                }
                Err(FrameError::Corrupt(reason)) => {
                    return Ok(Step::Bad {
                        pos: self.pos,
                        reason,
                    });
                }
            }
        }
    }

    /// The bytes of the frame last returned by [`next_frame`](Self::next_frame).
    pub(crate) fn frame(&self) -> &[u8] {
        &self.buf[self.last.0..self.last.1]
    }
}

impl Segment {
    /// Creates an empty segment file starting at `base` (durably: the directory entry
    /// is fsync'd).
    pub(crate) fn create(dir: &Path, base: i64) -> io::Result<Segment> {
        let path = dir.join(file_name(base));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        file.sync_all()?;
        sync_dir(dir)?;
        Ok(Segment {
            base,
            path,
            file,
            index: RwLock::new(Some(vec![])),
        })
    }

    /// Opens an existing segment file; its index is built on demand.
    pub(crate) fn open(path: PathBuf, base: i64) -> io::Result<Segment> {
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        Ok(Segment {
            base,
            path,
            file,
            index: RwLock::new(None),
        })
    }

    /// Reads every frame from the start, stopping at the first invalid one.
    pub(crate) fn scan(&self) -> io::Result<Scan> {
        let file_len = self.file.metadata()?.len();
        let mut cur = FrameCursor::new(&self.file, 0);
        let mut index = Vec::new();
        let mut expected = self.base;
        let mut stop = None;
        loop {
            match cur.next_frame()? {
                Step::Frame { pos, offset, .. } => {
                    if offset != expected {
                        stop = Some("record offset out of sequence");
                        cur.pos = pos;
                        break;
                    }
                    if index
                        .last()
                        .is_none_or(|&(_, p): &(i64, u64)| pos >= p + INDEX_INTERVAL)
                    {
                        index.push((offset, pos));
                    }
                    expected += 1;
                }
                Step::Eof => break,
                Step::Bad { reason, .. } => {
                    stop = Some(reason);
                    break;
                }
            }
        }
        Ok(Scan {
            valid_len: cur.pos,
            file_len,
            end_offset: expected,
            index,
            stop,
        })
    }

    /// Installs the index (after a scan of the active segment).
    pub(crate) fn set_index(&self, index: Vec<(i64, u64)>) {
        *wlock(&self.index) = Some(index);
    }

    /// Adds entries written by the writer (ascending, after the existing ones).
    pub(crate) fn extend_index(&self, entries: &[(i64, u64)]) {
        if let Some(ix) = wlock(&self.index).as_mut() {
            ix.extend_from_slice(entries);
        }
    }

    /// Position of the newest index entry, if any.
    pub(crate) fn last_index_pos(&self) -> Option<u64> {
        rlock(&self.index)
            .as_ref()
            .and_then(|ix| ix.last().map(|&(_, p)| p))
    }

    /// Byte position of record `offset`, which must be in this segment.
    pub(crate) fn position_of(&self, offset: i64) -> io::Result<Option<u64>> {
        let start = {
            let ix = rlock(&self.index);
            ix.as_ref().map(|ix| nearest(ix, offset))
        };
        let start = match start {
            Some(s) => s,
            None => {
                let mut ix = wlock(&self.index);
                if ix.is_none() {
                    *ix = Some(self.scan()?.index);
                }
                nearest(ix.as_deref().unwrap_or_default(), offset)
            }
        };
        let mut cur = FrameCursor::new(&self.file, start);
        loop {
            match cur.next_frame()? {
                Step::Frame { pos, offset: o, .. } if o == offset => return Ok(Some(pos)),
                Step::Frame { offset: o, .. } if o < offset => continue,
                _ => return Ok(None),
            }
        }
    }
}

/// The position of the last index entry at or before `offset` (0 if none).
fn nearest(index: &[(i64, u64)], offset: i64) -> u64 {
    match index.partition_point(|&(o, _)| o <= offset) {
        0 => 0,
        i => index[i - 1].1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_offset() {
        assert_eq!(file_name(42), "00000000000000000042.log");
        assert_eq!(parse_name("00000000000000000042.log"), Some(42));
        assert_eq!(parse_name("42.log"), None);
        assert_eq!(parse_name("00000000000000000042.tmp"), None);
        assert!(file_name(9) < file_name(10));
    }
}
