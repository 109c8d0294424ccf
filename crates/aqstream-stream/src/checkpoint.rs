//! Checkpoints: an operator's state, its input position and the files of its epoch,
//! committed together, once per epoch and owner.
//!
//! ```text
//! <state>/checkpoints/<owner>/epoch-00000042      the committed checkpoint of epoch 42
//! ```
//!
//! The protocol of an epoch (owner = one partition of stage 1, or stage 2):
//! 1. the epoch's files are written to staging and fsync'd;
//! 2. the checkpoint (state + next offset + file list) is written to a private
//!    temporary file, fsync'd, and **committed by hard-linking** it to its epoch's name
//!    — creating a name that exists fails, so of two workers racing for one partition
//!    (a zombie and its successor) exactly one commits each epoch; the other is
//!    [fenced](StreamError::Fenced) and reloads the winner's checkpoint;
//! 3. the files are published (renamed into the history);
//! 4. only then the source's offsets are committed to the log.
//!
//! Recovery loads the newest checkpoint, finishes its renames and deletes staged files
//! of older, uncommitted epochs. A crash anywhere leaves either the old epoch (its files
//! never published, then deleted) or the new one (its files published on recovery):
//! no history row is lost or doubled.

use crate::codec::{Dec, Enc};
use crate::error::{Result, StreamError};
use crate::history::StagedFile;
use crate::history::write::sync_dir;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 6] = b"AQCP1\n";

/// One committed checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// `p003` (stage 1, partition 3) or `city` (stage 2).
    pub owner: String,
    /// The epoch this checkpoint ends.
    pub epoch: u64,
    /// Next offset of the owner's input partition.
    pub offset: i64,
    /// The epoch's files.
    pub files: Vec<StagedFile>,
    /// The operator's state.
    pub state: Vec<u8>,
}

impl Checkpoint {
    fn encode(&self) -> Vec<u8> {
        let mut e = Enc::new();
        e.buf.extend_from_slice(MAGIC);
        e.str(&self.owner);
        e.u64(self.epoch);
        e.i64(self.offset);
        e.len(self.files.len());
        for f in &self.files {
            e.str(&f.staged.to_string_lossy());
            e.str(&f.published.to_string_lossy());
        }
        e.bytes(&self.state);
        let sum = fnv64(&e.buf);
        e.u64(sum);
        e.buf
    }

    fn decode(b: &[u8]) -> Result<Checkpoint> {
        const WHAT: &str = "checkpoint";
        if b.len() < MAGIC.len() + 8 || &b[..MAGIC.len()] != MAGIC {
            return Err(StreamError::corrupt(WHAT, "bad magic"));
        }
        let (body, tail) = b.split_at(b.len() - 8);
        let mut t = Dec::new(tail, WHAT);
        if t.u64()? != fnv64(body) {
            return Err(StreamError::corrupt(WHAT, "checksum mismatch"));
        }
        let mut d = Dec::new(&body[MAGIC.len()..], WHAT);
        let owner = d.str()?.to_string();
        let epoch = d.u64()?;
        let offset = d.i64()?;
        let n = d.len(8)?;
        let mut files = Vec::with_capacity(n);
        for _ in 0..n {
            let staged = PathBuf::from(d.str()?);
            let published = PathBuf::from(d.str()?);
            files.push(StagedFile { staged, published });
        }
        let state = d.bytes()?.to_vec();
        Ok(Checkpoint {
            owner,
            epoch,
            offset,
            files,
            state,
        })
    }
}

fn fnv64(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in b {
        h ^= u64::from(*x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The directory of `owner`'s checkpoints under the state directory `state` (also
/// where its partition lease lives).
pub(crate) fn owner_dir(state: &Path, owner: &str) -> PathBuf {
    state.join("checkpoints").join(owner)
}

/// The checkpoints of one owner.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    dir: PathBuf,
    owner: String,
    token: String,
}

impl CheckpointStore {
    /// The store of `owner` under `state`; `token` is unique to this writer process.
    pub fn new(state: &Path, owner: &str, token: &str) -> CheckpointStore {
        CheckpointStore {
            dir: owner_dir(state, owner),
            owner: owner.to_string(),
            token: token.to_string(),
        }
    }

    /// The owner.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    fn path(&self, epoch: u64) -> PathBuf {
        self.dir.join(format!("epoch-{epoch:08}"))
    }

    /// Epochs committed, ascending.
    fn epochs(&self) -> Result<Vec<u64>> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StreamError::io(&self.dir, e)),
        };
        let mut out: Vec<u64> = rd
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_prefix("epoch-"))
                    .and_then(|n| n.parse().ok())
            })
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// The newest committed checkpoint.
    pub fn latest(&self) -> Result<Option<Checkpoint>> {
        let Some(&e) = self.epochs()?.last() else {
            return Ok(None);
        };
        let p = self.path(e);
        let b = std::fs::read(&p).map_err(|err| StreamError::io(&p, err))?;
        Checkpoint::decode(&b).map(Some)
    }

    /// Commits `c` (its files must be staged and fsync'd). Fails with
    /// [`StreamError::Fenced`] when the epoch was committed by someone else.
    pub fn commit(&self, c: &Checkpoint) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| StreamError::io(&self.dir, e))?;
        let tmp = self
            .dir
            .join(format!(".epoch-{:08}.{}.tmp", c.epoch, self.token));
        {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp).map_err(|e| StreamError::io(&tmp, e))?;
            f.write_all(&c.encode())
                .map_err(|e| StreamError::io(&tmp, e))?;
            f.sync_all().map_err(|e| StreamError::io(&tmp, e))?;
        }
        let dest = self.path(c.epoch);
        let linked = std::fs::hard_link(&tmp, &dest);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StreamError::Fenced {
                    partition: self
                        .owner
                        .strip_prefix('p')
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(-1),
                    epoch: c.epoch,
                });
            }
            Err(e) => return Err(StreamError::io(&dest, e)),
        }
        sync_dir(&self.dir)?;
        // Keep the two newest checkpoints.
        let epochs = self.epochs()?;
        if epochs.len() > 2 {
            for e in &epochs[..epochs.len() - 2] {
                let _ = std::fs::remove_file(self.path(*e));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_once_per_epoch_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let a = CheckpointStore::new(dir.path(), "p003", "worker-a");
        let b = CheckpointStore::new(dir.path(), "p003", "worker-b");
        assert_eq!(a.latest().unwrap(), None);
        let c = Checkpoint {
            owner: "p003".into(),
            epoch: 1,
            offset: 42,
            files: vec![StagedFile {
                staged: "/h/_staging/p003/x".into(),
                published: "/h/readings/date=2026-11-22/p003-e00000001.parquet".into(),
            }],
            state: vec![1, 2, 3],
        };
        a.commit(&c).unwrap();
        assert_eq!(b.latest().unwrap().unwrap(), c);
        let e = b
            .commit(&Checkpoint {
                offset: 43,
                ..c.clone()
            })
            .unwrap_err();
        assert!(
            matches!(
                e,
                StreamError::Fenced {
                    partition: 3,
                    epoch: 1
                }
            ),
            "{e}"
        );
        for epoch in 2..=5 {
            b.commit(&Checkpoint { epoch, ..c.clone() }).unwrap();
        }
        assert_eq!(a.latest().unwrap().unwrap().epoch, 5);
        assert_eq!(a.epochs().unwrap(), vec![4, 5]);
        // A corrupted checkpoint is detected, not misread.
        let p = a.path(5);
        let mut bytes = std::fs::read(&p).unwrap();
        let n = bytes.len();
        bytes[n - 12] ^= 1;
        std::fs::write(&p, bytes).unwrap();
        assert!(matches!(a.latest(), Err(StreamError::Corrupt { .. })));
    }
}
