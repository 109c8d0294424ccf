//! Topics: their directories, metadata and partitions.
//!
//! ```text
//! <dir>/topics/<topic>/topic.meta        "partitions = N", written atomically, last
//! <dir>/topics/<topic>/<partition>/      segment files
//! ```
//! A topic directory without `topic.meta` is an interrupted creation: it is ignored
//! and completed by the next `ensure_topics`.

use super::fsutil::{rlock, sync_dir, write_atomic};
use super::partition::{Partition, partition_dir};
use super::partitioner::partition_for_key;
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// File of a topic's metadata.
const META: &str = "topic.meta";

/// Topics by name.
pub(crate) type TopicMap = RwLock<HashMap<String, Arc<Topic>>>;

/// An open topic.
#[derive(Debug)]
pub(crate) struct Topic {
    /// Its name.
    pub(crate) name: Arc<str>,
    /// Partitions `0..n`.
    pub(crate) partitions: Vec<Arc<Partition>>,
    /// Bumped when records become durable or the topic's group assignments change;
    /// waiting sources watch it.
    pub(crate) changed: Arc<watch::Sender<u64>>,
    /// Next partition of a record without key.
    round_robin: AtomicUsize,
}

impl Topic {
    /// The partition of a record: murmur2 of a non-empty key, round-robin otherwise.
    pub(crate) fn partition_for(&self, key: &[u8]) -> &Arc<Partition> {
        let n = self.partitions.len();
        let i = if key.is_empty() {
            self.round_robin.fetch_add(1, Ordering::Relaxed) % n
        } else {
            partition_for_key(key, n as i32) as usize
        };
        &self.partitions[i]
    }

    /// Opens the topic in `dir` if its metadata exists.
    fn load(dir: &Path, name: &str) -> io::Result<Option<Topic>> {
        let meta = match fs::read_to_string(dir.join(META)) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let count = parse_meta(&meta).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: bad topic metadata {meta:?}", dir.join(META).display()),
            )
        })?;
        let name: Arc<str> = Arc::from(name);
        let (changed, _) = watch::channel(0u64);
        let changed = Arc::new(changed);
        let partitions = (0..count)
            .map(|id| {
                Partition::recover(name.clone(), id, partition_dir(dir, id), changed.clone())
                    .map(Arc::new)
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Some(Topic {
            name,
            partitions,
            changed,
            round_robin: AtomicUsize::new(0),
        }))
    }
}

fn parse_meta(text: &str) -> Option<i32> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "partitions")
            .then(|| v.trim().parse::<i32>().ok())
            .flatten()
            .filter(|&n| n > 0)
    })
}

/// Opens every complete topic under `root`.
pub(crate) fn load_all(root: &Path) -> io::Result<HashMap<String, Arc<Topic>>> {
    let mut topics = HashMap::new();
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        match Topic::load(&entry.path(), &name)? {
            Some(t) => {
                topics.insert(name, Arc::new(t));
            }
            None => tracing::warn!(topic = %name, "ignoring a topic whose creation did not finish"),
        }
    }
    Ok(topics)
}

/// Creates topic `name` with `partitions` under `root` (completing an interrupted
/// creation) and opens it.
pub(crate) fn create(root: &Path, name: &str, partitions: i32) -> io::Result<Topic> {
    let dir = root.join(name);
    fs::create_dir_all(&dir)?;
    sync_dir(root)?;
    for id in 0..partitions {
        let pdir = partition_dir(&dir, id);
        fs::create_dir_all(&pdir)?;
    }
    sync_dir(&dir)?;
    write_atomic(
        &dir.join(META),
        format!("partitions = {partitions}\n").as_bytes(),
    )?;
    Topic::load(&dir, name)?
        .ok_or_else(|| io::Error::other("topic metadata vanished after creation"))
}

/// Deletes expired segments of every partition of every topic.
pub(crate) fn apply_retention(topics: &TopicMap, retention: Duration) -> usize {
    let all: Vec<Arc<Topic>> = rlock(topics).values().cloned().collect();
    let mut deleted = 0;
    for t in all {
        for p in &t.partitions {
            match p.apply_retention(retention) {
                Ok(n) => deleted += n,
                Err(e) => tracing::warn!(topic = %t.name, partition = p.id, error = %e,
                    "retention could not delete a segment"),
            }
        }
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_strict() {
        assert_eq!(parse_meta("partitions = 3\n"), Some(3));
        assert_eq!(parse_meta("partitions=12"), Some(12));
        assert_eq!(parse_meta("partitions = 0\n"), None);
        assert_eq!(parse_meta("partitions = x\n"), None);
        assert_eq!(parse_meta(""), None);
    }
}
