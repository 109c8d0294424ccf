//! `aqstream worker` — the stream worker: a member of the consumer group on
//! `aq.readings.v1` (stage 1 for the partitions it is given) and, with Kafka and
//! while it owns partition 0, stage 2 on the internal topic (so exactly one worker of
//! the deployment runs it, and the group's rebalance moves it). History under `--history-dir`, checkpoints under
//! `--state-dir` (both shared by all workers, so another one can take a partition
//! over), `/metrics` and `/healthz` on `--http`. SIGTERM: checkpoint and stop.

use super::ingest::LogFileConfig;
use anyhow::Context as _;
use aqstream_connect::embedded::{EmbeddedLog, EmbeddedLogConfig};
use aqstream_connect::kafka::{KafkaAdmin, KafkaConfig, KafkaSink, KafkaSource};
use aqstream_connect::log::{LogAdmin, LogSink, LogSource, topics};
use aqstream_core::SensorRegistry;
use aqstream_runtime::{MetricsRegistry, Shutdown};
use aqstream_stream::StreamConfig;
use aqstream_stream::metrics::StreamMetrics;
use aqstream_stream::worker::{
    InProcessCity, OpenInternal, Shared, WorkerOptions, run_stage1, run_stage2,
};
use clap::Args;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `aqstream worker`. Each flag is also an `AQSTREAM_*` variable; flags
/// override the configuration file, which overrides the defaults.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// TOML configuration file (sections `[stream]`, `[kafka]`, `[log]`, `[topics]`).
    #[arg(long, env = "AQSTREAM_CONFIG")]
    config: Option<PathBuf>,
    /// Sensor registry (`sensors.csv`) [default: sensors.csv].
    #[arg(long, env = "AQSTREAM_SENSORS")]
    sensors: Option<PathBuf>,
    /// Kafka bootstrap brokers `HOST:PORT[,…]`; absent: the embedded log under
    /// `--data-dir`.
    #[arg(long, env = "AQSTREAM_KAFKA")]
    kafka: Option<String>,
    /// Address of `/metrics` and `/healthz` [default: 127.0.0.1:8081].
    #[arg(long, env = "AQSTREAM_HTTP")]
    http: Option<SocketAddr>,
    /// State directory [default: ./aqstream-data]; the embedded log lives in `DIR/log`.
    #[arg(long, env = "AQSTREAM_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Root of the Parquet history [default: DATA_DIR/history].
    #[arg(long, env = "AQSTREAM_HISTORY_DIR")]
    history_dir: Option<PathBuf>,
    /// Checkpoints and stage 2's ledger [default: DATA_DIR/state].
    #[arg(long, env = "AQSTREAM_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Name of this worker, unique among the running ones [default: host and pid].
    #[arg(long, env = "AQSTREAM_WORKER_ID")]
    worker_id: Option<String>,
    /// Stage 2 (districts, drift QA, detection): `group` (through the internal topic,
    /// on the worker that owns partition 0; another takes over when it dies) or `local` (in this
    /// process, for one-worker deployments) [default: group with Kafka, local with the
    /// embedded log].
    #[arg(long, env = "AQSTREAM_STAGE2")]
    stage2: Option<Stage2Mode>,
}

/// Where stage 2 runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage2Mode {
    /// On whichever worker of the group owns partition 0 of `aq.readings.v1`, reading
    /// the internal topic (several workers sharing a group).
    Group,
    /// In this process, fed directly by stage 1.
    Local,
}

/// Topic creation at start.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerTopics {
    /// Create the topics the worker reads and writes if they do not exist.
    pub create: bool,
    /// Partitions of `aq.readings.v1` when created.
    pub readings_partitions: i32,
}

impl Default for WorkerTopics {
    fn default() -> Self {
        WorkerTopics {
            create: true,
            readings_partitions: 3,
        }
    }
}

/// The configuration file of `aqstream worker`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerFile {
    /// Sensor registry.
    pub sensors: Option<PathBuf>,
    /// Address of `/metrics` and `/healthz`.
    pub http: Option<SocketAddr>,
    /// State directory.
    pub data_dir: Option<PathBuf>,
    /// Root of the history.
    pub history_dir: Option<PathBuf>,
    /// Checkpoints.
    pub state_dir: Option<PathBuf>,
    /// Where stage 2 runs.
    pub stage2: Option<Stage2Mode>,
    /// Stream engine settings.
    pub stream: StreamConfig,
    /// Kafka; absent (and no `--kafka`): the embedded log.
    pub kafka: Option<KafkaConfig>,
    /// The embedded log.
    pub log: LogFileConfig,
    /// Topic creation.
    pub topics: WorkerTopics,
}

struct Plan {
    file: WorkerFile,
    registry: Arc<SensorRegistry>,
    http: SocketAddr,
    data_dir: PathBuf,
    opts: WorkerOptions,
    stage2: Stage2Mode,
}

/// Runs the worker until SIGINT/SIGTERM, then checkpoints and stops.
pub fn run(a: WorkerArgs) -> anyhow::Result<ExitCode> {
    let mut file: WorkerFile = aqstream_runtime::config::load(a.config.as_deref())?;
    if let Some(k) = a.kafka {
        file.kafka.get_or_insert_with(KafkaConfig::default).brokers = k;
    }
    let sensors = a
        .sensors
        .or(file.sensors.clone())
        .unwrap_or_else(|| "sensors.csv".into());
    let http = a
        .http
        .or(file.http)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8081)));
    let data_dir = a
        .data_dir
        .or(file.data_dir.clone())
        .unwrap_or_else(|| "./aqstream-data".into());
    let history_dir = a
        .history_dir
        .or(file.history_dir.clone())
        .unwrap_or_else(|| data_dir.join("history"));
    let state_dir = a
        .state_dir
        .or(file.state_dir.clone())
        .unwrap_or_else(|| data_dir.join("state"));
    let stage2 = a.stage2.or(file.stage2).unwrap_or(if file.kafka.is_some() {
        Stage2Mode::Group
    } else {
        Stage2Mode::Local
    });
    anyhow::ensure!(
        file.kafka.is_some() || stage2 == Stage2Mode::Local,
        "--stage2 group needs Kafka (the embedded log belongs to one process)"
    );
    let token = a
        .worker_id
        .unwrap_or_else(|| format!("w{}", std::process::id()));
    anyhow::ensure!(
        !token.is_empty()
            && token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "--worker-id `{token}`: letters, digits, - and _ only"
    );
    let registry = super::load_registry(&sensors)?;
    tracing::info!(sensors = registry.len(), "sensor registry loaded");
    let opts = WorkerOptions {
        config: file.stream.clone(),
        history_dir,
        state_dir,
        token,
        publish_topics: true,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("aqstream-worker")
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(Plan {
        file,
        registry,
        http,
        data_dir,
        opts,
        stage2,
    }))?;
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(ExitCode::SUCCESS)
}

/// Creates the topics, retrying while the brokers are unreachable.
async fn ensure_topics(
    admin: &dyn LogAdmin,
    t: &WorkerTopics,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let want = [
        (topics::READINGS, t.readings_partitions),
        (topics::AGGREGATES, 1),
        (topics::ALERTS, 1),
        (aqstream_stream::wire::TOPIC, 1),
    ];
    super::ensure_topics_retrying(admin, &want, shutdown).await
}

/// A source, retrying while the topic is not there yet.
async fn kafka_source(
    k: &KafkaConfig,
    topic: &str,
    group: &str,
    shutdown: &Shutdown,
) -> anyhow::Result<Box<dyn LogSource>> {
    let mut delay = Duration::from_millis(200);
    loop {
        match KafkaSource::new(k, topic, group).await {
            Ok(s) => return Ok(Box::new(s)),
            Err(e) if e.is_transient() && !shutdown.is_triggered() => {
                tracing::warn!("cannot join {group} on {topic} yet: {e}; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Opens the internal topic's partition for the worker that runs stage 2.
fn internal_opener(k: &KafkaConfig, group: &str) -> OpenInternal {
    let (k, group) = (k.clone(), group.to_string());
    Arc::new(move |offset| {
        let (k, group) = (k.clone(), group.clone());
        Box::pin(async move {
            let s =
                KafkaSource::assigned(&k, aqstream_stream::wire::TOPIC, &group, 0, offset).await?;
            Ok(Box::new(s) as Box<dyn LogSource>)
        })
    })
}

async fn serve(plan: Plan) -> anyhow::Result<()> {
    let Plan {
        file,
        registry,
        http,
        data_dir,
        opts,
        stage2,
    } = plan;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let metrics = MetricsRegistry::new();
    let http_stop = Shutdown::new();
    let (http_task, bound) = super::start_http(http, metrics.router(), http_stop.clone()).await?;
    tracing::info!("metrics on http://{bound}/metrics");
    let group = file.stream.group.clone();
    let group2 = file.stream.stage2_group.clone();

    let mut embedded = None;
    let (sink, source, source2): (Arc<dyn LogSink>, Box<dyn LogSource>, _) = match &file.kafka {
        Some(k) => {
            tracing::info!(brokers = %k.brokers, "reading from Kafka");
            if file.topics.create {
                ensure_topics(&KafkaAdmin::new(k)?, &file.topics, &shutdown).await?;
            }
            let sink: Arc<dyn LogSink> = Arc::new(KafkaSink::new(k)?);
            let source = kafka_source(k, topics::READINGS, &group, &shutdown).await?;
            let source2 = match stage2 {
                Stage2Mode::Group => Some(internal_opener(k, &group2)),
                Stage2Mode::Local => None,
            };
            (sink, source, source2)
        }
        None => {
            let dir = file.log.dir.clone().unwrap_or_else(|| data_dir.join("log"));
            tracing::info!(dir = %dir.display(), "reading from the embedded log");
            let mut cfg = EmbeddedLogConfig::in_dir(dir);
            if let Some(ms) = file.log.fsync_interval_ms {
                cfg.fsync_interval = Duration::from_millis(ms);
            }
            let log = EmbeddedLog::open(cfg).await?;
            if file.topics.create {
                ensure_topics(log.as_ref(), &file.topics, &shutdown).await?;
            }
            let sink: Arc<dyn LogSink> = Arc::new(log.sink());
            let source: Box<dyn LogSource> = Box::new(log.source(topics::READINGS, &group)?);
            embedded = Some(log);
            (sink, source, None)
        }
    };

    let stream_metrics = Arc::new(StreamMetrics::new(&metrics));
    let shared = Shared::new(opts, registry, sink, stream_metrics)?;
    let city = match source2 {
        None => Some(InProcessCity::load(&shared, source.partition_count() as usize).await?),
        Some(_) => None,
    };
    tracing::info!(
        partitions = source.partition_count(),
        stage2 = if city.is_some() { "local" } else { "group" },
        "worker started"
    );
    let s1 = tokio::spawn(run_stage1(shared.clone(), source, city, shutdown.clone()));
    let s2 = source2.map(|open| tokio::spawn(run_stage2(shared.clone(), open, shutdown.clone())));
    let mut result: anyhow::Result<()> = match s1.await {
        Ok(r) => r.map_err(Into::into),
        Err(e) => Err(anyhow::anyhow!("stage 1 task failed: {e}")),
    };
    // A failing stage stops the other one too.
    shutdown.trigger();
    if let Some(t) = s2 {
        let r2: anyhow::Result<()> = match t.await {
            Ok(r) => r.map_err(Into::into),
            Err(e) => Err(anyhow::anyhow!("stage 2 task failed: {e}")),
        };
        if result.is_ok() {
            result = r2;
        }
    }
    if let Some(log) = embedded
        && let Err(e) = log.close().await
    {
        tracing::warn!("closing the embedded log: {e}");
    }
    http_stop.trigger();
    let _ = http_task.await;
    result?;
    tracing::info!("worker stopped cleanly");
    Ok(())
}
