//! The producing side: [`KafkaSink`].

use super::{DOMAIN, TracingContext, map_err};
use crate::kafka::KafkaConfig;
use crate::log::{ConnectError, Delivery, LogSink, OutRecord};
use async_trait::async_trait;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use std::time::Duration;

/// An idempotent Kafka producer (`enable.idempotence`, `acks=all`): at most one copy of
/// each record per successful send, in order per partition, even across broker
/// failovers. Cheap to clone; clones share one librdkafka producer.
#[derive(Clone)]
pub struct KafkaSink {
    producer: FutureProducer<TracingContext>,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink").finish_non_exhaustive()
    }
}

impl KafkaSink {
    /// A producer for `cfg`. Does not wait for the brokers: the first sends do.
    pub fn new(cfg: &KafkaConfig) -> Result<KafkaSink, ConnectError> {
        let producer = cfg
            .producer_config()
            .create_with_context(TracingContext)
            .map_err(|e| map_err("cannot create producer", &e))?;
        Ok(KafkaSink { producer })
    }
}

#[async_trait]
impl LogSink for KafkaSink {
    async fn send(&self, record: OutRecord<'_>) -> Result<Delivery, ConnectError> {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (key, value) in record.headers {
            headers = headers.insert(Header {
                key,
                value: Some(*value),
            });
        }
        let r = FutureRecord::to(record.topic)
            .key(record.key)
            .payload(record.payload)
            .headers(headers);
        // A full local queue (broker down for long) waits here: that is the
        // backpressure the callers rely on.
        match self.producer.send(r, Timeout::Never).await {
            Ok(d) => Ok(Delivery {
                partition: d.partition,
                offset: d.offset,
            }),
            Err((e, _)) => Err(map_err(&format!("send to {}", record.topic), &e)),
        }
    }

    async fn flush(&self, timeout: Duration) -> Result<(), ConnectError> {
        let p = self.producer.clone();
        tokio::task::spawn_blocking(move || p.flush(timeout))
            .await
            .map_err(|e| ConnectError::permanent(DOMAIN, format!("flush task failed: {e}")))?
            .map_err(|e| map_err("flush", &e))
    }
}
