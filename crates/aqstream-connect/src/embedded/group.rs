//! Consumer groups of one process: membership, partition assignment and durable
//! committed offsets.
//!
//! A group is tracked per topic (a source reads one topic). Members are kept in join
//! order; member `i` of `n` gets the partitions `p` with `p % n == i`. Every join or
//! leave recomputes the assignment and queues, for each member whose share changed,
//! `Revoked(lost)` then `Assigned(gained)`. Committed offsets live in
//! `<dir>/groups/<group>/<topic>.offsets` (group names escaped), replaced atomically
//! on every commit.

use super::fsutil::{escape_group, lock, sync_dir, unescape_group, write_atomic};
use super::topic::Topic;
use super::{DOMAIN, io_error};
use crate::log::{ConnectError, Rebalance};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const OFFSETS_EXT: &str = "offsets";

/// A member's view of its assignment, filled by the coordinator.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    /// Partitions assigned now.
    pub(crate) assignment: Vec<i32>,
    /// Changes not yet seen by the source.
    pub(crate) events: Vec<Rebalance>,
}

/// One source in a group.
#[derive(Debug)]
pub(crate) struct Member {
    /// Unique in the process.
    pub(crate) id: u64,
    /// Assignment and pending changes.
    pub(crate) inbox: Mutex<Inbox>,
}

#[derive(Debug, Default)]
struct GroupTopic {
    members: Vec<Arc<Member>>,
    committed: BTreeMap<i32, i64>,
    /// Held while a commit writes the file, so commits apply in order.
    file_lock: Arc<Mutex<()>>,
}

/// The coordinator of every group of a log.
#[derive(Debug)]
pub(crate) struct Groups {
    root: PathBuf,
    state: Mutex<HashMap<(String, String), GroupTopic>>,
    next_member: AtomicU64,
}

impl Groups {
    /// Loads the committed offsets under `root` (`<dir>/groups`).
    pub(crate) fn load(root: PathBuf) -> io::Result<Groups> {
        fs::create_dir_all(&root)?;
        let mut state = HashMap::new();
        for entry in fs::read_dir(&root)? {
            let entry = entry?;
            let dir_name = entry.file_name().to_string_lossy().into_owned();
            let Some(group) = unescape_group(&dir_name).filter(|_| entry.path().is_dir()) else {
                tracing::warn!(name = %dir_name, "ignoring unknown entry in the groups directory");
                continue;
            };
            for file in fs::read_dir(entry.path())? {
                let path = file?.path();
                let (Some(stem), Some(ext)) = (path.file_stem(), path.extension()) else {
                    continue;
                };
                if ext == "tmp" {
                    let _ = fs::remove_file(&path);
                    continue;
                }
                if ext != OFFSETS_EXT {
                    continue;
                }
                let topic = stem.to_string_lossy().into_owned();
                let committed = parse_offsets(&fs::read_to_string(&path)?).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: malformed offsets file", path.display()),
                    )
                })?;
                state.insert(
                    (group.clone(), topic),
                    GroupTopic {
                        committed,
                        ..GroupTopic::default()
                    },
                );
            }
        }
        Ok(Groups {
            root,
            state: Mutex::new(state),
            next_member: AtomicU64::new(1),
        })
    }

    fn file_of(&self, group: &str, topic: &str) -> PathBuf {
        self.root
            .join(escape_group(group))
            .join(format!("{topic}.{OFFSETS_EXT}"))
    }

    /// Adds a member to `group` on `topic` and rebalances.
    pub(crate) fn join(&self, group: &str, topic: &Topic) -> Arc<Member> {
        let member = Arc::new(Member {
            id: self.next_member.fetch_add(1, Ordering::Relaxed),
            inbox: Mutex::new(Inbox::default()),
        });
        let mut state = lock(&self.state);
        let gt = state
            .entry((group.to_owned(), topic.name.to_string()))
            .or_default();
        gt.members.push(member.clone());
        rebalance(gt, topic.partitions.len() as i32);
        drop(state);
        topic.changed.send_modify(|v| *v = v.wrapping_add(1));
        tracing::debug!(group, topic = %topic.name, member = member.id, "joined group");
        member
    }

    /// Removes a member and rebalances the rest.
    pub(crate) fn leave(&self, group: &str, topic: &Topic, member: u64) {
        let mut state = lock(&self.state);
        if let Some(gt) = state.get_mut(&(group.to_owned(), topic.name.to_string())) {
            gt.members.retain(|m| m.id != member);
            rebalance(gt, topic.partitions.len() as i32);
        }
        drop(state);
        topic.changed.send_modify(|v| *v = v.wrapping_add(1));
        tracing::debug!(group, topic = %topic.name, member, "left group");
    }

    /// Committed offsets of `partitions`.
    pub(crate) fn committed(
        &self,
        group: &str,
        topic: &str,
        partitions: &[i32],
    ) -> Vec<(i32, Option<i64>)> {
        let state = lock(&self.state);
        let gt = state.get(&(group.to_owned(), topic.to_owned()));
        partitions
            .iter()
            .map(|&p| (p, gt.and_then(|g| g.committed.get(&p).copied())))
            .collect()
    }

    /// Checks that `member` owns every partition of `offsets`; returns the file lock.
    fn check_owner(
        &self,
        group: &str,
        topic: &str,
        member: &Member,
        offsets: &[(i32, i64)],
    ) -> Result<Arc<Mutex<()>>, ConnectError> {
        let state = lock(&self.state);
        let gt = state.get(&(group.to_owned(), topic.to_owned()));
        let inbox = lock(&member.inbox);
        for &(p, _) in offsets {
            if !inbox.assignment.contains(&p) {
                return Err(ConnectError::transient(
                    DOMAIN,
                    format!(
                        "commit of {topic}/{p} for group {group:?} refused: the partition is \
                         no longer assigned to this consumer (rebalanced)"
                    ),
                ));
            }
        }
        Ok(gt.map(|g| g.file_lock.clone()).unwrap_or_default())
    }

    /// Durably commits `offsets` of a member's partitions (blocking: runs on a
    /// blocking thread). Fails without effect if a partition is not assigned to it.
    pub(crate) fn commit(
        &self,
        group: &str,
        topic: &str,
        member: &Member,
        offsets: &[(i32, i64)],
    ) -> Result<(), ConnectError> {
        let file_lock = self.check_owner(group, topic, member, offsets)?;
        let _writing = lock(&file_lock);
        // The assignment may have changed while waiting for the file.
        self.check_owner(group, topic, member, offsets)?;
        let key = (group.to_owned(), topic.to_owned());
        let mut next = lock(&self.state)
            .get(&key)
            .map(|g| g.committed.clone())
            .unwrap_or_default();
        next.extend(offsets.iter().copied());
        let path = self.file_of(group, topic);
        let dir = path.parent().unwrap_or(&self.root);
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(|e| io_error("commit", e))?;
            sync_dir(&self.root).map_err(|e| io_error("commit", e))?;
        }
        write_atomic(&path, render_offsets(group, topic, &next).as_bytes())
            .map_err(|e| io_error("commit", e))?;
        lock(&self.state).entry(key).or_default().committed = next;
        Ok(())
    }
}

/// Member `i` of `n` gets `p % n == i`; queues the differences.
fn rebalance(gt: &mut GroupTopic, partitions: i32) {
    let n = gt.members.len() as i32;
    for (i, m) in gt.members.iter().enumerate() {
        let new: Vec<i32> = (0..partitions).filter(|p| p % n == i as i32).collect();
        let mut inbox = lock(&m.inbox);
        let lost: Vec<i32> = inbox
            .assignment
            .iter()
            .copied()
            .filter(|p| !new.contains(p))
            .collect();
        let gained: Vec<i32> = new
            .iter()
            .copied()
            .filter(|p| !inbox.assignment.contains(p))
            .collect();
        if !lost.is_empty() {
            inbox.events.push(Rebalance::Revoked(lost));
        }
        if !gained.is_empty() {
            inbox.events.push(Rebalance::Assigned(gained));
        }
        inbox.assignment = new;
    }
}

fn render_offsets(group: &str, topic: &str, offsets: &BTreeMap<i32, i64>) -> String {
    let mut s = format!("# committed offsets of group {group:?} on topic {topic}\n");
    for (p, o) in offsets {
        s.push_str(&format!("{p} {o}\n"));
    }
    s
}

fn parse_offsets(text: &str) -> Option<BTreeMap<i32, i64>> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (p, o) = line.split_once(' ')?;
        m.insert(p.parse().ok()?, o.trim().parse().ok()?);
    }
    Some(m)
}

/// The directory of group state under a log directory.
pub(crate) fn groups_dir(log_dir: &Path) -> PathBuf {
    log_dir.join("groups")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_files_round_trip() {
        let m = BTreeMap::from([(0, 17), (2, 0), (11, 123_456_789_012)]);
        let text = render_offsets("g \"x\"", "aq.readings.v1", &m);
        assert_eq!(parse_offsets(&text), Some(m));
        assert_eq!(parse_offsets("0 x\n"), None);
    }

    #[test]
    fn round_robin_assignment_by_member_order() {
        let mk = |id| {
            Arc::new(Member {
                id,
                inbox: Mutex::new(Inbox::default()),
            })
        };
        let mut gt = GroupTopic::default();
        let (a, b) = (mk(1), mk(2));
        gt.members.push(a.clone());
        rebalance(&mut gt, 5);
        assert_eq!(
            std::mem::take(&mut lock(&a.inbox).events),
            vec![Rebalance::Assigned(vec![0, 1, 2, 3, 4])]
        );
        gt.members.push(b.clone());
        rebalance(&mut gt, 5);
        assert_eq!(
            std::mem::take(&mut lock(&a.inbox).events),
            vec![Rebalance::Revoked(vec![1, 3])]
        );
        assert_eq!(
            std::mem::take(&mut lock(&b.inbox).events),
            vec![Rebalance::Assigned(vec![1, 3])]
        );
        gt.members.remove(0);
        rebalance(&mut gt, 5);
        assert_eq!(
            lock(&b.inbox).events,
            vec![Rebalance::Assigned(vec![0, 2, 4])]
        );
        assert_eq!(lock(&b.inbox).assignment, vec![0, 1, 2, 3, 4]);
    }
}
