//! [`EmbeddedSink`]: appends through the writer thread.

use super::writer::Command;
use super::{DOMAIN, EmbeddedLog, frame};
use crate::log::{ConnectError, Delivery, LogSink, OutRecord};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The producing side of an [`EmbeddedLog`]; implements [`LogSink`]. Cheap to clone;
/// clones share the log's writer thread, so their sends share fsyncs.
#[derive(Debug, Clone)]
pub struct EmbeddedSink {
    pub(crate) log: Arc<EmbeddedLog>,
}

fn closed() -> ConnectError {
    ConnectError::permanent(DOMAIN, "the embedded log is closed")
}

#[async_trait]
impl LogSink for EmbeddedSink {
    /// Appends a record; resolves once it is fsync'd. The partition is murmur2 of the
    /// key (Kafka's default partitioner), or round-robin for an empty key, which is
    /// stored as "no key". Unknown topics and records larger than `max_record_bytes`
    /// are permanent errors.
    async fn send(&self, record: OutRecord<'_>) -> Result<Delivery, ConnectError> {
        let topic = self.log.topic(record.topic)?;
        let frame = frame::encode(record.key, record.headers, record.payload);
        let size = frame.len() - frame::HEADER_LEN - frame::MIN_BODY;
        let max = self.log.cfg.max_record_bytes;
        if size > max || frame.len() - frame::HEADER_LEN > frame::MAX_BODY {
            return Err(ConnectError::permanent(
                DOMAIN,
                format!("record of {size} bytes exceeds max_record_bytes = {max}"),
            ));
        }
        let (reply, done) = oneshot::channel();
        let partition = topic.partition_for(record.key).clone();
        self.log.send_command(Command::Append {
            partition,
            frame,
            reply,
        })?;
        done.await.map_err(|_| closed())?
    }

    async fn flush(&self, timeout: Duration) -> Result<(), ConnectError> {
        let (reply, done) = oneshot::channel();
        self.log.send_command(Command::Flush(reply))?;
        match tokio::time::timeout(timeout, done).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(closed()),
            Err(_) => Err(ConnectError::transient(
                DOMAIN,
                format!("flush did not complete within {timeout:?}"),
            )),
        }
    }
}
