//! An in-memory log behind the [`LogSink`] / [`LogSource`] traits, for tests and
//! examples: partitioned topics, a key hash partitioner, one consumer per group that
//! owns every partition, committed offsets. Waiting uses tokio's clock, so tests can run
//! it under `tokio::time::pause()`.

use aqstream_connect::log::{
    ConnectError, Delivery, LogSink, LogSource, OutRecord, Rebalance, Record,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Default)]
struct Inner {
    topics: HashMap<String, Vec<Vec<Record>>>,
    committed: HashMap<(String, String), HashMap<i32, i64>>,
}

/// The log (cheap to clone).
#[derive(Clone, Default)]
pub struct MemLog {
    inner: Arc<Mutex<Inner>>,
    notify: Arc<Notify>,
}

impl std::fmt::Debug for MemLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemLog").finish_non_exhaustive()
    }
}

const DOMAIN: &str = "memlog";

impl MemLog {
    /// An empty log.
    pub fn new() -> MemLog {
        MemLog::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates `topic` with `partitions` partitions (no-op if it exists).
    pub fn create(&self, topic: &str, partitions: i32) {
        self.lock()
            .topics
            .entry(topic.to_string())
            .or_insert_with(|| vec![Vec::new(); partitions.max(1) as usize]);
    }

    /// The partition a key goes to (FNV-1a modulo the partition count).
    pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
        let mut h: u32 = 0x811c_9dc5;
        for b in key {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
        (h % partitions.max(1) as u32) as i32
    }

    /// Appends a record to an explicit partition.
    pub fn append(&self, topic: &str, partition: i32, key: &[u8], payload: &[u8]) -> i64 {
        let mut g = self.lock();
        let parts = g.topics.get_mut(topic).expect("topic exists");
        let p = &mut parts[partition as usize];
        let offset = p.len() as i64;
        p.push(Record {
            topic: topic.to_string(),
            partition,
            offset,
            key: Some(key.to_vec()),
            payload: payload.to_vec(),
            headers: Vec::new(),
            timestamp_ms: None,
        });
        drop(g);
        self.notify.notify_waiters();
        offset
    }

    /// Every record of a topic, partition by partition.
    pub fn records(&self, topic: &str) -> Vec<Record> {
        self.lock()
            .topics
            .get(topic)
            .map(|ps| ps.iter().flatten().cloned().collect())
            .unwrap_or_default()
    }

    /// A consumer of `topic` in `group`, owning all its partitions.
    pub fn source(&self, topic: &str, group: &str) -> MemSource {
        let n = self.lock().topics.get(topic).map_or(1, |p| p.len()) as i32;
        let committed = self
            .lock()
            .committed
            .get(&(group.to_string(), topic.to_string()))
            .cloned()
            .unwrap_or_default();
        MemSource {
            log: self.clone(),
            topic: topic.to_string(),
            group: group.to_string(),
            positions: (0..n)
                .map(|p| (p, committed.get(&p).copied().unwrap_or(0)))
                .collect(),
            rebalances: vec![Rebalance::Assigned((0..n).collect())],
            partitions: n,
        }
    }
}

#[async_trait]
impl LogSink for MemLog {
    async fn send(&self, r: OutRecord<'_>) -> Result<Delivery, ConnectError> {
        let n = match self.lock().topics.get(r.topic) {
            Some(p) => p.len() as i32,
            None => {
                return Err(ConnectError::permanent(
                    DOMAIN,
                    format!("unknown topic {}", r.topic),
                ));
            }
        };
        let partition = MemLog::partition_for(r.key, n);
        let offset = self.append(r.topic, partition, r.key, r.payload);
        Ok(Delivery { partition, offset })
    }

    async fn flush(&self, _timeout: Duration) -> Result<(), ConnectError> {
        Ok(())
    }
}

/// A consumer of one topic.
pub struct MemSource {
    log: MemLog,
    topic: String,
    group: String,
    positions: HashMap<i32, i64>,
    rebalances: Vec<Rebalance>,
    partitions: i32,
}

impl MemSource {
    fn take(&mut self, max: usize) -> Vec<Record> {
        let g = self.log.lock();
        let Some(parts) = g.topics.get(&self.topic) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut ps: Vec<i32> = self.positions.keys().copied().collect();
        ps.sort_unstable();
        for p in ps {
            let pos = self.positions[&p];
            let recs = &parts[p as usize];
            let take = recs.len().saturating_sub(pos as usize).min(max - out.len());
            out.extend(recs[pos as usize..pos as usize + take].iter().cloned());
            self.positions.insert(p, pos + take as i64);
            if out.len() >= max {
                break;
            }
        }
        out
    }
}

#[async_trait]
impl LogSource for MemSource {
    async fn poll(&mut self, max: usize, timeout: Duration) -> Result<Vec<Record>, ConnectError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let notify = Arc::clone(&self.log.notify);
        loop {
            let notified = notify.notified();
            let got = self.take(max.max(1));
            if !got.is_empty() {
                return Ok(got);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    fn take_rebalances(&mut self) -> Vec<Rebalance> {
        std::mem::take(&mut self.rebalances)
    }

    fn assignment(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.positions.keys().copied().collect();
        v.sort_unstable();
        v
    }

    fn partition_count(&self) -> i32 {
        self.partitions
    }

    async fn seek(&mut self, partition: i32, offset: i64) -> Result<(), ConnectError> {
        self.positions.insert(partition, offset);
        Ok(())
    }

    async fn commit(&mut self, offsets: &[(i32, i64)]) -> Result<(), ConnectError> {
        let mut g = self.log.lock();
        let c = g
            .committed
            .entry((self.group.clone(), self.topic.clone()))
            .or_default();
        for (p, o) in offsets {
            c.insert(*p, *o);
        }
        Ok(())
    }

    async fn watermarks(
        &mut self,
        partitions: &[i32],
    ) -> Result<Vec<(i32, i64, i64)>, ConnectError> {
        let g = self.log.lock();
        let parts = g.topics.get(&self.topic);
        Ok(partitions
            .iter()
            .map(|&p| {
                let end = parts.and_then(|t| t.get(p as usize)).map_or(0, Vec::len);
                (p, 0, end as i64)
            })
            .collect())
    }

    /// The only member of its group: gives every partition up and takes it back
    /// from the committed offsets, as a new member would.
    async fn rejoin(&mut self) -> Result<(), ConnectError> {
        let all: Vec<i32> = (0..self.partitions).collect();
        let committed = self.committed(&all).await?;
        self.rebalances.push(Rebalance::Revoked(self.assignment()));
        self.positions = committed
            .into_iter()
            .map(|(p, c)| (p, c.unwrap_or(0)))
            .collect();
        self.rebalances.push(Rebalance::Assigned(all));
        Ok(())
    }

    async fn committed(
        &mut self,
        partitions: &[i32],
    ) -> Result<Vec<(i32, Option<i64>)>, ConnectError> {
        let g = self.log.lock();
        let c = g.committed.get(&(self.group.clone(), self.topic.clone()));
        Ok(partitions
            .iter()
            .map(|p| (*p, c.and_then(|c| c.get(p).copied())))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rejoin_takes_every_partition_back_from_the_committed_offsets() {
        let log = MemLog::new();
        log.create("t", 2);
        for i in 0..6 {
            log.append("t", i % 2, b"k", format!("r{i}").as_bytes());
        }
        let mut src = log.source("t", "g");
        assert_eq!(src.take_rebalances(), vec![Rebalance::Assigned(vec![0, 1])]);
        assert_eq!(
            src.poll(10, Duration::from_millis(10)).await.unwrap().len(),
            6
        );
        src.commit(&[(0, 2)]).await.unwrap();
        assert_eq!(
            src.watermarks(&[0, 1]).await.unwrap(),
            vec![(0, 0, 3), (1, 0, 3)]
        );
        src.rejoin().await.unwrap();
        assert_eq!(
            src.take_rebalances(),
            vec![
                Rebalance::Revoked(vec![0, 1]),
                Rebalance::Assigned(vec![0, 1])
            ]
        );
        let again: Vec<(i32, i64)> = src
            .poll(10, Duration::from_millis(10))
            .await
            .unwrap()
            .iter()
            .map(|r| (r.partition, r.offset))
            .collect();
        assert_eq!(again, vec![(0, 2), (1, 0), (1, 1), (1, 2)]);
    }
}
