//! The assembled ingester: optional embedded broker, MQTT source, HJ 212 TCP listener,
//! one pipeline, one log sink — started together, drained together.

use super::{Deliverer, IngestConfig, IngestContext, IngestError, IngestMetrics, Limits, Pipeline};
use crate::broker::{BrokerConfig, EmbeddedBroker};
use crate::hj212_tcp::{Hj212Listener, Hj212TcpConfig};
use crate::log::LogSink;
use crate::mqtt::{self, MqttConfig};
use aqstream_core::SensorRegistry;
use aqstream_core::hj212::Hj212Codec;
use aqstream_runtime::{MetricsRegistry, Shutdown};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Everything the ingester is configured with (each part is a section of the file).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngesterConfig {
    /// Shared settings: window, drain, limits.
    pub ingest: IngestConfig,
    /// The MQTT subscription.
    pub mqtt: MqttConfig,
    /// The HJ 212 TCP listener.
    pub hj212_tcp: Hj212TcpConfig,
    /// The embedded broker (when enabled, `mqtt.url` points at it).
    pub broker: BrokerConfig,
}

/// A running ingester.
pub struct Ingester {
    tasks: Vec<(&'static str, JoinHandle<Result<(), IngestError>>)>,
    broker: Option<(EmbeddedBroker, Shutdown)>,
    sink: Arc<dyn LogSink>,
    hj212_addr: Option<SocketAddr>,
    mqtt_url: Option<String>,
}

impl std::fmt::Debug for Ingester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingester")
            .field("hj212_addr", &self.hj212_addr)
            .field("mqtt_url", &self.mqtt_url)
            .finish_non_exhaustive()
    }
}

impl Ingester {
    /// Starts every enabled part. Returns once the listeners are bound; ingestion runs
    /// until `shutdown`, then drains ([`Ingester::wait`]).
    pub async fn start(
        cfg: IngesterConfig,
        registry: Arc<SensorRegistry>,
        codec: Hj212Codec,
        sink: Arc<dyn LogSink>,
        metrics: &MetricsRegistry,
        shutdown: Shutdown,
    ) -> Result<Ingester, IngestError> {
        let metrics = IngestMetrics::new(metrics);
        let abort = Shutdown::new();
        let limits: Limits = cfg.ingest.limits;
        let ctx = IngestContext {
            pipeline: Arc::new(Pipeline::new(registry, cfg.ingest.policy(), codec, limits)),
            deliverer: Deliverer::new(
                sink.clone(),
                metrics.clone(),
                cfg.ingest.backoff(),
                abort.clone(),
            ),
            metrics,
            window: Arc::new(Semaphore::new(cfg.ingest.max_in_flight.max(1))),
            shutdown,
            abort,
            drain_timeout: cfg.ingest.drain_timeout(),
        };
        let mut tasks = Vec::new();
        let mut mqtt_cfg = cfg.mqtt.clone();
        let broker = if cfg.broker.enabled {
            let stop = Shutdown::new();
            let b = EmbeddedBroker::start(&cfg.broker, stop.clone()).await?;
            mqtt_cfg.url = b.url();
            Some((b, stop))
        } else {
            None
        };
        let mut hj212_addr = None;
        if cfg.hj212_tcp.enabled {
            let l = Hj212Listener::bind(&cfg.hj212_tcp, &ctx).await?;
            hj212_addr = l.local_addr().ok();
            tasks.push(("hj212-tcp", tokio::spawn(l.run(ctx.clone()))));
        }
        let mqtt_url = mqtt_cfg.enabled.then(|| mqtt_cfg.url.clone());
        if mqtt_cfg.enabled {
            // Fail early on a bad URL or certificate rather than inside the task.
            mqtt_cfg.options()?;
            let c = ctx.clone();
            tasks.push((
                "mqtt",
                tokio::spawn(async move { mqtt::run(&mqtt_cfg, c).await }),
            ));
        }
        Ok(Ingester {
            tasks,
            broker,
            sink,
            hj212_addr,
            mqtt_url,
        })
    }

    /// The bound address of the HJ 212 TCP listener.
    pub fn hj212_addr(&self) -> Option<SocketAddr> {
        self.hj212_addr
    }

    /// The MQTT broker subscribed to.
    pub fn mqtt_url(&self) -> Option<&str> {
        self.mqtt_url.as_deref()
    }

    /// The embedded broker's public address, when it runs.
    pub fn broker_addr(&self) -> Option<SocketAddr> {
        self.broker.as_ref().map(|(b, _)| b.local_addr())
    }

    /// Waits for every part to finish (after the shutdown signal they drain), flushes
    /// the sink and stops the embedded broker. Returns the first error.
    pub async fn wait(self) -> Result<(), IngestError> {
        let mut first = Ok(());
        for (name, t) in self.tasks {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!("{name} stopped: {e}");
                    if first.is_ok() {
                        first = Err(e);
                    }
                }
                Err(e) => tracing::error!("{name} task failed: {e}"),
            }
        }
        if let Err(e) = self.sink.flush(Duration::from_secs(10)).await {
            tracing::warn!("log flush at shutdown: {e}");
        }
        if let Some((b, stop)) = self.broker {
            stop.trigger();
            b.wait().await;
        }
        first
    }
}
