//! The consuming side: [`KafkaSource`].

use super::{DOMAIN, TracingContext, map_err};
use crate::kafka::KafkaConfig;
use crate::log::{ConnectError, LogSource, Rebalance, Record};
use async_trait::async_trait;
use futures::FutureExt as _;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance as KRebalance, StreamConsumer,
};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long `seek` keeps retrying while a fresh assignment is not fetchable yet.
const SEEK_PATIENCE: Duration = Duration::from_secs(15);
/// Timeout of metadata, commit and committed-offset requests.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Records partition assignment changes as librdkafka reports them.
struct SourceContext {
    topic: String,
    events: Arc<Mutex<Vec<Rebalance>>>,
}

impl ClientContext for SourceContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
        TracingContext.log(level, fac, msg);
    }
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        TracingContext.error(error, reason);
    }
}

impl SourceContext {
    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        let mut p: Vec<i32> = tpl
            .elements()
            .iter()
            .filter(|e| e.topic() == self.topic)
            .map(|e| e.partition())
            .collect();
        p.sort_unstable();
        p
    }

    fn push(&self, ev: Rebalance) {
        if let Ok(mut v) = self.events.lock() {
            v.push(ev);
        }
    }
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &KRebalance<'_>) {
        // Revocation is reported before the partitions go, so the reader can drop its
        // uncommitted state of them first.
        match rebalance {
            KRebalance::Revoke(tpl) => {
                let p = self.partitions(tpl);
                tracing::info!(topic = %self.topic, partitions = ?p, "partitions revoked");
                self.push(Rebalance::Revoked(p));
            }
            KRebalance::Assign(_) => {}
            KRebalance::Error(e) => tracing::warn!(topic = %self.topic, "rebalance error: {e}"),
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &KRebalance<'_>) {
        if let KRebalance::Assign(tpl) = rebalance {
            let p = self.partitions(tpl);
            tracing::info!(topic = %self.topic, partitions = ?p, "partitions assigned");
            self.push(Rebalance::Assigned(p));
        }
    }
}

/// One topic read as a member of a Kafka consumer group. Offsets are committed only
/// when the reader says so ([`LogSource::commit`]); a group without committed offsets
/// starts at the earliest record.
pub struct KafkaSource {
    consumer: Arc<StreamConsumer<SourceContext>>,
    topic: String,
    partitions: i32,
    events: Arc<Mutex<Vec<Rebalance>>>,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("topic", &self.topic)
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

fn detach(m: &BorrowedMessage<'_>) -> Record {
    let headers = m
        .headers()
        .map(|h| {
            h.iter()
                .map(|x| (x.key.to_string(), x.value.unwrap_or_default().to_vec()))
                .collect()
        })
        .unwrap_or_default();
    Record {
        topic: m.topic().to_string(),
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(<[u8]>::to_vec),
        payload: m.payload().unwrap_or_default().to_vec(),
        headers,
        timestamp_ms: m.timestamp().to_millis(),
    }
}

impl KafkaSource {
    /// Joins `group_id` and subscribes to `topic`, which must exist. Async because it
    /// asks the brokers for the topic's partition count.
    pub async fn new(
        cfg: &KafkaConfig,
        topic: &str,
        group_id: &str,
    ) -> Result<KafkaSource, ConnectError> {
        let src = KafkaSource::open(cfg, topic, group_id).await?;
        src.consumer
            .subscribe(&[topic])
            .map_err(|e| map_err(&format!("subscribe to {topic}"), &e))?;
        Ok(src)
    }

    /// Reads one `partition` of `topic` from `offset`, without joining a group: the
    /// caller decides who reads it. Offsets are still committed under `group_id`
    /// (for lag tools). Never reports rebalances.
    pub async fn assigned(
        cfg: &KafkaConfig,
        topic: &str,
        group_id: &str,
        partition: i32,
        offset: i64,
    ) -> Result<KafkaSource, ConnectError> {
        let src = KafkaSource::open(cfg, topic, group_id).await?;
        let mut tpl = TopicPartitionList::with_capacity(1);
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
            .map_err(|e| map_err("assign", &e))?;
        src.consumer
            .assign(&tpl)
            .map_err(|e| map_err(&format!("assign {topic}/{partition}"), &e))?;
        Ok(src)
    }

    /// A consumer in `group_id` that knows `topic`'s partition count, reading nothing yet.
    async fn open(
        cfg: &KafkaConfig,
        topic: &str,
        group_id: &str,
    ) -> Result<KafkaSource, ConnectError> {
        let events = Arc::new(Mutex::new(Vec::new()));
        let ctx = SourceContext {
            topic: topic.to_string(),
            events: events.clone(),
        };
        let consumer: StreamConsumer<SourceContext> = cfg
            .consumer_config(group_id)
            .create_with_context(ctx)
            .map_err(|e| map_err("cannot create consumer", &e))?;
        let consumer = Arc::new(consumer);
        let c = consumer.clone();
        let t = topic.to_string();
        let partitions = blocking(move || {
            let md = c
                .fetch_metadata(Some(&t), REQUEST_TIMEOUT)
                .map_err(|e| map_err(&format!("metadata of {t}"), &e))?;
            let n = md
                .topics()
                .iter()
                .find(|x| x.name() == t && x.error().is_none())
                .map_or(0, |x| x.partitions().len());
            if n == 0 {
                return Err(ConnectError::transient(
                    DOMAIN,
                    format!("topic {t} does not exist (create it first)"),
                ));
            }
            Ok(n as i32)
        })
        .await?;
        Ok(KafkaSource {
            consumer,
            topic: topic.to_string(),
            partitions,
            events,
        })
    }

    /// The topic read.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    fn tpl(&self, partitions: &[i32]) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::with_capacity(partitions.len());
        for &p in partitions {
            tpl.add_partition(&self.topic, p);
        }
        tpl
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ConnectError> + Send + 'static,
) -> Result<T, ConnectError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ConnectError::permanent(DOMAIN, format!("blocking task failed: {e}")))?
}

#[async_trait]
impl LogSource for KafkaSource {
    async fn poll(&mut self, max: usize, timeout: Duration) -> Result<Vec<Record>, ConnectError> {
        let mut out = Vec::new();
        if max == 0 {
            return Ok(out);
        }
        match tokio::time::timeout(timeout, self.consumer.recv()).await {
            Err(_) => return Ok(out),
            Ok(Err(e)) => return Err(map_err(&format!("poll {}", self.topic), &e)),
            Ok(Ok(m)) => out.push(detach(&m)),
        }
        while out.len() < max {
            match self.consumer.recv().now_or_never() {
                Some(Ok(m)) => out.push(detach(&m)),
                Some(Err(e)) => {
                    tracing::warn!(topic = %self.topic, "consumer error: {e}");
                    break;
                }
                None => break,
            }
        }
        Ok(out)
    }

    fn take_rebalances(&mut self) -> Vec<Rebalance> {
        self.events
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    fn assignment(&self) -> Vec<i32> {
        let mut p: Vec<i32> = self
            .consumer
            .assignment()
            .map(|tpl| {
                tpl.elements()
                    .iter()
                    .filter(|e| e.topic() == self.topic)
                    .map(|e| e.partition())
                    .collect()
            })
            .unwrap_or_default();
        p.sort_unstable();
        p
    }

    fn partition_count(&self) -> i32 {
        self.partitions
    }

    async fn seek(&mut self, partition: i32, offset: i64) -> Result<(), ConnectError> {
        // A partition that was just assigned is not fetchable for a moment
        // (librdkafka answers "Erroneous state"): retry until it is.
        let deadline = tokio::time::Instant::now() + SEEK_PATIENCE;
        loop {
            let c = self.consumer.clone();
            let topic = self.topic.clone();
            let r = blocking(move || {
                c.seek(
                    &topic,
                    partition,
                    Offset::Offset(offset),
                    Duration::from_secs(5),
                )
                .map_err(|e| map_err(&format!("seek {topic}/{partition} to {offset}"), &e))
            })
            .await;
            match r {
                Ok(()) => return Ok(()),
                Err(e) if e.is_transient() && tokio::time::Instant::now() < deadline => {
                    tracing::debug!("{e}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn commit(&mut self, offsets: &[(i32, i64)]) -> Result<(), ConnectError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::with_capacity(offsets.len());
        for &(p, o) in offsets {
            tpl.add_partition_offset(&self.topic, p, Offset::Offset(o))
                .map_err(|e| map_err("commit offsets", &e))?;
        }
        let c = self.consumer.clone();
        blocking(move || {
            c.commit(&tpl, CommitMode::Sync)
                .map_err(|e| map_err("commit", &e))
        })
        .await
    }

    async fn watermarks(
        &mut self,
        partitions: &[i32],
    ) -> Result<Vec<(i32, i64, i64)>, ConnectError> {
        let c = self.consumer.clone();
        let (topic, parts) = (self.topic.clone(), partitions.to_vec());
        blocking(move || {
            parts
                .into_iter()
                .map(|p| {
                    let (lo, hi) = c
                        .fetch_watermarks(&topic, p, REQUEST_TIMEOUT)
                        .map_err(|e| map_err(&format!("watermarks of {topic}/{p}"), &e))?;
                    Ok((p, lo, hi))
                })
                .collect()
        })
        .await
    }

    async fn rejoin(&mut self) -> Result<(), ConnectError> {
        // Unsubscribing revokes the assignment (reported on the next poll) and leaves
        // the group once it is given up, which also forgets the member id; the new
        // subscription waits for that and joins as a new member.
        let c = self.consumer.clone();
        let topic = self.topic.clone();
        blocking(move || {
            c.unsubscribe();
            c.subscribe(&[&topic])
                .map_err(|e| map_err(&format!("subscribe to {topic}"), &e))
        })
        .await
    }

    async fn committed(
        &mut self,
        partitions: &[i32],
    ) -> Result<Vec<(i32, Option<i64>)>, ConnectError> {
        let tpl = self.tpl(partitions);
        let c = self.consumer.clone();
        let got = blocking(move || {
            c.committed_offsets(tpl, REQUEST_TIMEOUT)
                .map_err(|e| map_err("committed offsets", &e))
        })
        .await?;
        Ok(partitions
            .iter()
            .map(|&p| {
                let o = got
                    .find_partition(&self.topic, p)
                    .and_then(|e| match e.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    });
                (p, o)
            })
            .collect())
    }
}
