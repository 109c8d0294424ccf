//! [`EmbeddedSource`]: one topic read as a member of a consumer group.

use super::fsutil::lock;
use super::group::Member;
use super::partition::{Partition, Position};
use super::topic::Topic;
use super::{DOMAIN, EmbeddedLog, join_error};
use crate::log::{ConnectError, LogSource, Rebalance, Record};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// A consumer of one topic in a consumer group of an [`EmbeddedLog`]; implements
/// [`LogSource`]. Created by [`EmbeddedLog::source`]; dropping it leaves the group.
///
/// A newly assigned partition is read from the group's committed offset, or from the
/// log start if the group never committed one (Kafka's `auto.offset.reset=earliest`).
pub struct EmbeddedSource {
    log: Arc<EmbeddedLog>,
    topic: Arc<Topic>,
    group: String,
    member: Arc<Member>,
    /// Read positions of the assigned partitions.
    positions: BTreeMap<i32, Position>,
    /// Rebalances seen but not yet taken.
    events: Vec<Rebalance>,
    changed: watch::Receiver<u64>,
    /// First partition of the next poll, so no partition starves.
    rotate: usize,
}

impl std::fmt::Debug for EmbeddedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedSource")
            .field("topic", &self.topic.name)
            .field("group", &self.group)
            .field("member", &self.member.id)
            .field("assignment", &self.positions.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl EmbeddedSource {
    pub(crate) fn new(log: Arc<EmbeddedLog>, topic: Arc<Topic>, group: &str) -> EmbeddedSource {
        let changed = topic.changed.subscribe();
        let member = log.groups.join(group, &topic);
        let mut source = EmbeddedSource {
            log,
            topic,
            group: group.to_owned(),
            member,
            positions: BTreeMap::new(),
            events: Vec::new(),
            changed,
            rotate: 0,
        };
        source.sync();
        source
    }

    /// The topic read.
    pub fn topic(&self) -> &str {
        &self.topic.name
    }

    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The next offset this source reads from each assigned partition.
    pub fn positions(&mut self) -> Vec<(i32, i64)> {
        self.sync();
        self.positions
            .iter()
            .map(|(&p, pos)| (p, pos.next))
            .collect()
    }

    /// Applies assignment changes queued by the group coordinator.
    fn sync(&mut self) {
        let events = std::mem::take(&mut lock(&self.member.inbox).events);
        if events.is_empty() {
            return;
        }
        for ev in &events {
            match ev {
                Rebalance::Revoked(ps) => {
                    for p in ps {
                        self.positions.remove(p);
                    }
                }
                Rebalance::Assigned(ps) => {
                    let committed = self.log.groups.committed(&self.group, &self.topic.name, ps);
                    for (p, c) in committed {
                        let part = &self.topic.partitions[p as usize];
                        let start = c.unwrap_or(part.start());
                        let end = part.durable_end();
                        let start = if start > end {
                            tracing::warn!(topic = %self.topic.name, partition = p, committed = start, end,
                                "committed offset is beyond the end of the partition; reading from the end");
                            end
                        } else {
                            start
                        };
                        self.positions.insert(p, Position::at(start));
                    }
                }
            }
        }
        self.events.extend(events);
    }

    fn partition(&self, p: i32) -> Result<&Arc<Partition>, ConnectError> {
        self.topic.partitions.get(p as usize).ok_or_else(|| {
            ConnectError::permanent(
                DOMAIN,
                format!("topic {} has no partition {p}", self.topic.name),
            )
        })
    }

    fn ensure_assigned(&self, p: i32) -> Result<(), ConnectError> {
        self.partition(p)?;
        if self.positions.contains_key(&p) {
            Ok(())
        } else {
            Err(ConnectError::transient(
                DOMAIN,
                format!(
                    "{}/{p} is not assigned to this consumer of group {:?}",
                    self.topic.name, self.group
                ),
            ))
        }
    }

    /// Reads what is available now from the assigned partitions.
    async fn read_available(&mut self, max: usize) -> Result<Vec<Record>, ConnectError> {
        let ready: Vec<(Arc<Partition>, Position)> = self
            .positions
            .iter()
            .filter(|&(&p, pos)| pos.next < self.topic.partitions[p as usize].durable_end())
            .map(|(&p, pos)| (self.topic.partitions[p as usize].clone(), pos.clone()))
            .collect();
        if ready.is_empty() || max == 0 {
            return Ok(Vec::new());
        }
        let rotate = self.rotate % ready.len();
        self.rotate = self.rotate.wrapping_add(1);
        let (records, moved) = tokio::task::spawn_blocking(move || {
            let share = max.div_ceil(ready.len());
            let mut out = Vec::new();
            let mut moved = Vec::with_capacity(ready.len());
            let n = ready.len();
            let mut ready = ready;
            ready.rotate_left(rotate);
            for (i, (part, mut pos)) in ready.into_iter().enumerate() {
                let room = (max - out.len()).min(if i + 1 == n { max } else { share });
                if room > 0 {
                    part.read(&mut pos, room, &mut out)?;
                }
                moved.push((part.id, pos));
            }
            Ok::<_, ConnectError>((out, moved))
        })
        .await
        .map_err(join_error)??;
        for (p, pos) in moved {
            if let Some(slot) = self.positions.get_mut(&p) {
                *slot = pos;
            }
        }
        Ok(records)
    }
}

impl Drop for EmbeddedSource {
    fn drop(&mut self) {
        self.log
            .groups
            .leave(&self.group, &self.topic, self.member.id);
    }
}

#[async_trait]
impl LogSource for EmbeddedSource {
    async fn poll(&mut self, max: usize, timeout: Duration) -> Result<Vec<Record>, ConnectError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Mark the current version seen before looking, so a change made while we
            // look wakes the wait below.
            self.changed.borrow_and_update();
            self.sync();
            let records = self.read_available(max).await?;
            if !records.is_empty() {
                return Ok(records);
            }
            match tokio::time::timeout_at(deadline, self.changed.changed()).await {
                Ok(Ok(())) => continue,
                // Deadline passed, or the log is gone.
                Ok(Err(_)) | Err(_) => return Ok(Vec::new()),
            }
        }
    }

    fn take_rebalances(&mut self) -> Vec<Rebalance> {
        self.sync();
        std::mem::take(&mut self.events)
    }

    /// The assignment as of the last `poll`, `take_rebalances`, `seek` or `positions`
    /// (changes are picked up there, like a Kafka consumer notices them in `poll`).
    fn assignment(&self) -> Vec<i32> {
        self.positions.keys().copied().collect()
    }

    fn partition_count(&self) -> i32 {
        self.topic.partitions.len() as i32
    }

    async fn seek(&mut self, partition: i32, offset: i64) -> Result<(), ConnectError> {
        self.sync();
        self.ensure_assigned(partition)?;
        let part = self.partition(partition)?;
        let (start, end) = (part.start(), part.durable_end());
        if !(start..=end).contains(&offset) {
            return Err(ConnectError::permanent(
                DOMAIN,
                format!(
                    "seek {}/{partition} to {offset}: out of range {start}..={end}",
                    self.topic.name
                ),
            ));
        }
        self.positions.insert(partition, Position::at(offset));
        Ok(())
    }

    async fn commit(&mut self, offsets: &[(i32, i64)]) -> Result<(), ConnectError> {
        for &(p, o) in offsets {
            self.partition(p)?;
            if o < 0 {
                return Err(ConnectError::permanent(
                    DOMAIN,
                    format!("commit of a negative offset {o} for partition {p}"),
                ));
            }
        }
        let log = self.log.clone();
        let member = self.member.clone();
        let (group, topic) = (self.group.clone(), self.topic.name.to_string());
        let offsets = offsets.to_vec();
        tokio::task::spawn_blocking(move || log.groups.commit(&group, &topic, &member, &offsets))
            .await
            .map_err(join_error)?
    }

    async fn watermarks(
        &mut self,
        partitions: &[i32],
    ) -> Result<Vec<(i32, i64, i64)>, ConnectError> {
        partitions
            .iter()
            .map(|&p| {
                let part = self.partition(p)?;
                Ok((p, part.start(), part.durable_end()))
            })
            .collect()
    }

    async fn rejoin(&mut self) -> Result<(), ConnectError> {
        self.sync();
        let held: Vec<i32> = std::mem::take(&mut self.positions).into_keys().collect();
        if !held.is_empty() {
            self.events.push(Rebalance::Revoked(held));
        }
        self.log
            .groups
            .leave(&self.group, &self.topic, self.member.id);
        self.member = self.log.groups.join(&self.group, &self.topic);
        self.sync();
        Ok(())
    }

    async fn committed(
        &mut self,
        partitions: &[i32],
    ) -> Result<Vec<(i32, Option<i64>)>, ConnectError> {
        for &p in partitions {
            self.partition(p)?;
        }
        Ok(self
            .log
            .groups
            .committed(&self.group, &self.topic.name, partitions))
    }
}
