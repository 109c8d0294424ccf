//! `aqstream ingest` — MQTT and HJ 212 terminals into Kafka (or the embedded log).

use anyhow::Context as _;
use aqstream_connect::broker::BrokerConfig;
use aqstream_connect::embedded::{EmbeddedLog, EmbeddedLogConfig};
use aqstream_connect::hj212_tcp::Hj212TcpConfig;
use aqstream_connect::ingest::{IngestConfig, Ingester, IngesterConfig};
use aqstream_connect::kafka::{KafkaAdmin, KafkaConfig, KafkaSink};
use aqstream_connect::log::{LogAdmin, LogSink, topics};
use aqstream_connect::mqtt::MqttConfig;
use aqstream_core::SensorRegistry;
use aqstream_core::hj212::Hj212Codec;
use aqstream_runtime::{MetricsRegistry, Shutdown};
use clap::Args;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `aqstream ingest`. Each flag is also an `AQSTREAM_*` variable; flags
/// override the configuration file, which overrides the defaults.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// TOML configuration file (sections `[ingest]`, `[mqtt]`, `[hj212_tcp]`,
    /// `[broker]`, `[kafka]`, `[log]`, `[topics]`).
    #[arg(long, env = "AQSTREAM_CONFIG")]
    config: Option<PathBuf>,
    /// Sensor registry (`sensors.csv`) [default: sensors.csv].
    #[arg(long, env = "AQSTREAM_SENSORS")]
    sensors: Option<PathBuf>,
    /// MQTT broker to subscribe to, `mqtt://HOST:PORT` or `mqtts://HOST:PORT`
    /// [default: mqtt://127.0.0.1:1883].
    #[arg(long, env = "AQSTREAM_MQTT")]
    mqtt: Option<String>,
    /// Kafka bootstrap brokers `HOST:PORT[,…]`; absent: the embedded log under
    /// `--data-dir`.
    #[arg(long, env = "AQSTREAM_KAFKA")]
    kafka: Option<String>,
    /// Address of `/metrics` and `/healthz` [default: 127.0.0.1:8080].
    #[arg(long, env = "AQSTREAM_HTTP")]
    http: Option<SocketAddr>,
    /// HJ 212 TCP listener address, or `off` [default: 127.0.0.1:9212].
    #[arg(long, env = "AQSTREAM_HJ212_LISTEN")]
    hj212_listen: Option<String>,
    /// State directory (the embedded log lives in `DIR/log`) [default: ./aqstream-data].
    #[arg(long, env = "AQSTREAM_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Run the embedded MQTT broker on this address and ingest from it (instead of
    /// `--mqtt`).
    #[arg(long, env = "AQSTREAM_EMBEDDED_BROKER")]
    embedded_broker: Option<SocketAddr>,
    /// MQTT client id (unique per ingester instance, stable across restarts).
    #[arg(long, env = "AQSTREAM_MQTT_CLIENT_ID")]
    mqtt_client_id: Option<String>,
}

/// Topic creation at start.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    /// Create `aq.readings.v1` and `aq.readings.dlq.v1` if they do not exist.
    pub create: bool,
    /// Partitions of `aq.readings.v1` when created.
    pub readings_partitions: i32,
    /// Partitions of `aq.readings.dlq.v1` when created.
    pub dlq_partitions: i32,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            create: true,
            readings_partitions: 3,
            dlq_partitions: 1,
        }
    }
}

/// The embedded log's settings in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogFileConfig {
    /// Directory of the embedded log [default: `DATA_DIR/log`].
    pub dir: Option<PathBuf>,
    /// Milliseconds between batched fsyncs [default: the log's own].
    pub fsync_interval_ms: Option<u64>,
}

/// The configuration file of `aqstream ingest`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestFile {
    /// Sensor registry.
    pub sensors: Option<PathBuf>,
    /// Address of `/metrics` and `/healthz`.
    pub http: Option<SocketAddr>,
    /// State directory.
    pub data_dir: Option<PathBuf>,
    /// Window, drain, limits.
    pub ingest: IngestConfig,
    /// The MQTT subscription.
    pub mqtt: MqttConfig,
    /// The HJ 212 TCP listener.
    pub hj212_tcp: Hj212TcpConfig,
    /// The embedded MQTT broker.
    pub broker: BrokerConfig,
    /// Kafka; absent (and no `--kafka`): the embedded log.
    pub kafka: Option<KafkaConfig>,
    /// The embedded log.
    pub log: LogFileConfig,
    /// Topic creation.
    pub topics: TopicsConfig,
}

/// Runs the ingester until SIGINT/SIGTERM, then drains.
pub fn run(a: IngestArgs) -> anyhow::Result<ExitCode> {
    let mut file: IngestFile = aqstream_runtime::config::load(a.config.as_deref())?;
    if let Some(m) = a.mqtt {
        file.mqtt.url = m;
    }
    if let Some(id) = a.mqtt_client_id {
        file.mqtt.client_id = id;
    }
    if let Some(k) = a.kafka {
        file.kafka.get_or_insert_with(KafkaConfig::default).brokers = k;
    }
    match a.hj212_listen.as_deref() {
        Some("off" | "none") => file.hj212_tcp.enabled = false,
        Some(addr) => {
            file.hj212_tcp.enabled = true;
            file.hj212_tcp.listen = addr
                .parse()
                .with_context(|| format!("--hj212-listen `{addr}` is not HOST:PORT"))?;
        }
        None => {}
    }
    if let Some(addr) = a.embedded_broker {
        file.broker.enabled = true;
        file.broker.listen = addr;
    }
    let sensors = a
        .sensors
        .or(file.sensors.clone())
        .unwrap_or_else(|| "sensors.csv".into());
    let http = a
        .http
        .or(file.http)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let data_dir = a
        .data_dir
        .or(file.data_dir.clone())
        .unwrap_or_else(|| "./aqstream-data".into());
    let registry = super::load_registry(&sensors)?;
    tracing::info!(sensors = registry.len(), "sensor registry loaded");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(file, registry, http, data_dir))?;
    Ok(ExitCode::SUCCESS)
}

/// Creates the topics, retrying while the brokers are unreachable.
pub(crate) async fn ensure_topics(
    admin: &dyn LogAdmin,
    t: &TopicsConfig,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let want = [
        (topics::READINGS, t.readings_partitions),
        (topics::DLQ, t.dlq_partitions),
    ];
    super::ensure_topics_retrying(admin, &want, shutdown).await
}

async fn serve(
    file: IngestFile,
    registry: Arc<SensorRegistry>,
    http: SocketAddr,
    data_dir: PathBuf,
) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let metrics = MetricsRegistry::new();
    let http_stop = Shutdown::new();
    let (http_task, bound) = super::start_http(http, metrics.router(), http_stop.clone()).await?;
    tracing::info!("metrics on http://{bound}/metrics");

    let mut embedded = None;
    let sink: Arc<dyn LogSink> = match &file.kafka {
        Some(k) => {
            tracing::info!(brokers = %k.brokers, "writing to Kafka");
            if file.topics.create {
                ensure_topics(&KafkaAdmin::new(k)?, &file.topics, &shutdown).await?;
            }
            Arc::new(KafkaSink::new(k)?)
        }
        None => {
            let dir = file.log.dir.clone().unwrap_or_else(|| data_dir.join("log"));
            tracing::info!(dir = %dir.display(), "writing to the embedded log");
            let mut cfg = EmbeddedLogConfig::in_dir(dir);
            if let Some(ms) = file.log.fsync_interval_ms {
                cfg.fsync_interval = Duration::from_millis(ms);
            }
            let log = EmbeddedLog::open(cfg).await?;
            if file.topics.create {
                ensure_topics(log.as_ref(), &file.topics, &shutdown).await?;
            }
            let sink = Arc::new(log.sink());
            embedded = Some(log);
            sink
        }
    };

    let cfg = IngesterConfig {
        ingest: file.ingest,
        mqtt: file.mqtt,
        hj212_tcp: file.hj212_tcp,
        broker: file.broker,
    };
    let ingester = Ingester::start(
        cfg,
        registry,
        Hj212Codec::default(),
        sink,
        &metrics,
        shutdown.clone(),
    )
    .await?;
    if let Some(a) = ingester.broker_addr() {
        tracing::info!("embedded MQTT broker on mqtt://{a}");
    }
    if let Some(a) = ingester.hj212_addr() {
        tracing::info!("HJ 212 terminals: tcp://{a}");
    }
    shutdown.cancelled().await;
    tracing::info!("shutting down: draining in-flight messages");
    let result = ingester.wait().await;
    if let Some(log) = embedded
        && let Err(e) = log.close().await
    {
        tracing::warn!("closing the embedded log: {e}");
    }
    http_stop.trigger();
    let _ = http_task.await;
    result?;
    tracing::info!("ingester stopped cleanly");
    Ok(())
}
