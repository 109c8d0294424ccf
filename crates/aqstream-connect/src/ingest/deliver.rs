//! Appending a message's records to the log: all of them, durably, or an error.

use super::metrics::IngestMetrics;
use super::pipeline::Output;
use crate::log::{ConnectError, LogSink, OutRecord};
use aqstream_runtime::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Backoff between retries of a record the log refused for a transient reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Largest delay (the delay doubles up to it).
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The delay after `d`.
    pub fn next(&self, d: Duration) -> Duration {
        (d * 2).min(self.max)
    }
}

/// Sends records to a [`LogSink`], retrying transient failures until they succeed or
/// the `abort` signal fires. Cheap to clone.
#[derive(Clone)]
pub struct Deliverer {
    sink: Arc<dyn LogSink>,
    metrics: IngestMetrics,
    backoff: Backoff,
    abort: Shutdown,
    last_warning_s: Arc<AtomicU64>,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

fn unix_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Deliverer {
    /// A deliverer into `sink`; `abort` makes pending retries give up (used when a
    /// graceful shutdown runs out of time).
    pub fn new(
        sink: Arc<dyn LogSink>,
        metrics: IngestMetrics,
        backoff: Backoff,
        abort: Shutdown,
    ) -> Deliverer {
        Deliverer {
            sink,
            metrics,
            backoff,
            abort,
            last_warning_s: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The log written to.
    pub fn sink(&self) -> &Arc<dyn LogSink> {
        &self.sink
    }

    /// Appends every output; resolves when all are durably acknowledged. Records are
    /// sent concurrently; an error means at least one is not known to be stored.
    pub async fn deliver(&self, outputs: &[Output]) -> Result<(), ConnectError> {
        match outputs {
            [] => Ok(()),
            [one] => self.send_one(one).await,
            many => futures::future::try_join_all(many.iter().map(|o| self.send_one(o)))
                .await
                .map(|_| ()),
        }
    }

    fn warn_rate_limited(&self, e: &ConnectError) {
        let now = unix_s();
        let last = self.last_warning_s.load(Ordering::Relaxed);
        if now >= last + 5
            && self
                .last_warning_s
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!("log append failed, retrying with backoff: {e}");
        }
    }

    async fn send_one(&self, o: &Output) -> Result<(), ConnectError> {
        let headers: Vec<(&str, &[u8])> =
            o.headers.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        let record = OutRecord {
            topic: o.topic,
            key: o.key.as_bytes(),
            payload: &o.payload,
            headers: &headers,
        };
        let mut delay = self.backoff.initial;
        loop {
            let t0 = Instant::now();
            let result = tokio::select! {
                r = self.sink.send(record) => r,
                _ = self.abort.cancelled() => return Err(aborted()),
            };
            match result {
                Ok(_) => {
                    self.metrics
                        .produce_latency
                        .observe(t0.elapsed().as_secs_f64());
                    return Ok(());
                }
                Err(e) if e.is_transient() => {
                    self.warn_rate_limited(&e);
                    self.metrics.produce_retries.inc();
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.abort.cancelled() => return Err(aborted()),
                    }
                    delay = self.backoff.next(delay);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn aborted() -> ConnectError {
    ConnectError::transient("ingest", "delivery abandoned at shutdown")
}
