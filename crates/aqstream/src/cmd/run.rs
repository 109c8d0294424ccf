//! `aqstream run`: the whole pipeline in one process, on embedded defaults.
//!
//! ```text
//!  terminals ──MQTT──▶ embedded broker ─┐
//!  terminals ──HJ 212 TCP──────────────┤ ingest ─▶ embedded log (DATA/log)
//!  (--demo: simulated city) ───────────┘              │
//!                                                     ▼
//!                        worker: stage 1 per partition + stage 2 in-process
//!                        (aggregates, QA, detection) ─▶ DATA/history (Parquet)
//!                                                     │
//!        HTTP :8080  web pages, /api, /sql, /metrics ◀┤ SQL engine over the history
//!        PostgreSQL wire :5433 ◀──────────────────────┘
//! ```
//!
//! Everything lives under `--data-dir`: the log (with its consumer offsets), the
//! worker's checkpoints and the history, so a restart resumes where it stopped. Ctrl-C
//! (or SIGTERM) stops the terminals' inputs first, lets the ingester drain, then the
//! worker checkpoints, then the servers stop.

use super::demo::{self, DemoConfig};
use super::ingest::TopicsConfig;
use super::ingest::ensure_topics;
use super::status::StatusLine;
use anyhow::Context as _;
use aqstream_connect::broker::BrokerConfig;
use aqstream_connect::embedded::{EmbeddedLog, EmbeddedLogConfig};
use aqstream_connect::hj212_tcp::Hj212TcpConfig;
use aqstream_connect::ingest::{IngestConfig, Ingester, IngesterConfig};
use aqstream_connect::log::{LogSink, LogSource, topics};
use aqstream_connect::mqtt::MqttConfig;
use aqstream_core::hj212::Hj212Codec;
use aqstream_history::StorageConfig;
use aqstream_query::metrics::QueryMetrics;
use aqstream_query::{EngineOptions, QueryEngine, SqlConfig, UserDb};
use aqstream_runtime::{MetricsRegistry, Shutdown};
use aqstream_sim::publish::{Pace, WireFormat, publish_mqtt};
use aqstream_stream::StreamConfig;
use aqstream_stream::metrics::StreamMetrics;
use aqstream_stream::worker::{InProcessCity, Shared, WorkerOptions, run_stage1};
use aqstream_web::{Cached, HistoryCityData, WebState};
use clap::Args;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `aqstream run`. Each flag is also an `AQSTREAM_*` variable; flags
/// override the configuration file, which overrides the defaults.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// TOML configuration file (sections `[ingest]`, `[broker]`, `[hj212_tcp]`,
    /// `[stream]`, `[sql]`, `[demo]`).
    #[arg(long, env = "AQSTREAM_CONFIG")]
    config: Option<PathBuf>,
    /// Sensor registry (`sensors.csv`); with `--demo` the simulated city's registry is
    /// written to `DATA_DIR/sensors.csv` and used [default: sensors.csv].
    #[arg(long, env = "AQSTREAM_SENSORS")]
    sensors: Option<PathBuf>,
    /// All state: the log, checkpoints and the history [default: ./aqstream-data].
    #[arg(long, env = "AQSTREAM_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Web pages, `/api`, `/sql`, `/metrics`, `/healthz` [default: 127.0.0.1:8080].
    #[arg(long, env = "AQSTREAM_HTTP")]
    http: Option<SocketAddr>,
    /// PostgreSQL wire protocol [default: 127.0.0.1:5433].
    #[arg(long, env = "AQSTREAM_PG")]
    pg: Option<SocketAddr>,
    /// The embedded MQTT broker [default: 127.0.0.1:1883].
    #[arg(long, env = "AQSTREAM_MQTT_LISTEN")]
    mqtt_listen: Option<SocketAddr>,
    /// HJ 212 TCP listener address, or `off` [default: 127.0.0.1:9212].
    #[arg(long, env = "AQSTREAM_HJ212_LISTEN")]
    hj212_listen: Option<String>,
    /// Add simulated field terminals: a Tongzhou-like city with recurring pollution
    /// episodes, starting a few hours back (caught up at once) and then live.
    #[arg(long, env = "AQSTREAM_DEMO")]
    demo: bool,
    /// No live status line (log lines only).
    #[arg(long)]
    quiet: bool,
}

/// The configuration file of `aqstream run`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunFile {
    /// Sensor registry.
    pub sensors: Option<PathBuf>,
    /// State directory.
    pub data_dir: Option<PathBuf>,
    /// HTTP address.
    pub http: Option<SocketAddr>,
    /// Ingest window, drain, limits.
    pub ingest: IngestConfig,
    /// The embedded MQTT broker (enabled; anonymous clients allowed on loopback when
    /// no password file is configured).
    pub broker: BrokerConfig,
    /// The HJ 212 TCP listener.
    pub hj212_tcp: Hj212TcpConfig,
    /// Stream worker settings.
    pub stream: StreamConfig,
    /// SQL users, limits, the PostgreSQL listener.
    pub sql: SqlConfig,
    /// The simulated city of `--demo`.
    pub demo: DemoConfig,
}

/// Everything resolved from flags, file and defaults.
struct Plan {
    file: RunFile,
    data_dir: PathBuf,
    sensors: PathBuf,
    http: SocketAddr,
    demo: Option<DemoConfig>,
    demo_format: WireFormat,
    quiet: bool,
}

/// Runs everything until SIGINT/SIGTERM.
pub fn run(a: RunArgs) -> anyhow::Result<ExitCode> {
    let plan = resolve(a)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("aqstream")
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(plan))?;
    // Blocking tasks (Parquet writes) finished before `serve` returned.
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(ExitCode::SUCCESS)
}

fn resolve(a: RunArgs) -> anyhow::Result<Plan> {
    let mut file: RunFile = aqstream_runtime::config::load(a.config.as_deref())?;
    let data_dir = a
        .data_dir
        .or(file.data_dir.clone())
        .unwrap_or_else(|| "./aqstream-data".into());
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let http = a
        .http
        .or(file.http)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    if let Some(pg) = a.pg {
        file.sql.pg.listen = pg.to_string();
    }
    file.broker.enabled = true;
    if let Some(m) = a.mqtt_listen {
        file.broker.listen = m;
    }
    if file.broker.password_file.is_none() {
        anyhow::ensure!(
            file.broker.listen.ip().is_loopback(),
            "the embedded MQTT broker on {} needs [broker] password_file (anonymous \
             clients are only allowed on loopback addresses)",
            file.broker.listen
        );
        file.broker.allow_anonymous = true;
    }
    match a.hj212_listen.as_deref() {
        Some("off" | "none") => file.hj212_tcp.enabled = false,
        Some(addr) => {
            file.hj212_tcp.enabled = true;
            file.hj212_tcp.listen = addr
                .parse()
                .with_context(|| format!("--hj212-listen `{addr}` is not HOST:PORT"))?;
        }
        None => file.hj212_tcp.enabled = true,
    }
    let demo_format = match file.demo.format.as_str() {
        "json" => WireFormat::Json,
        "hj212" => WireFormat::Hj212,
        other => anyhow::bail!("[demo] format `{other}`: expected json or hj212"),
    };
    let (demo, sensors) = if a.demo {
        let path = data_dir.join("sensors.csv");
        std::fs::write(&path, demo::registry(&file.demo)?.to_csv())
            .with_context(|| format!("cannot write {}", path.display()))?;
        (Some(file.demo.clone()), path)
    } else {
        let s = a
            .sensors
            .or(file.sensors.clone())
            .unwrap_or_else(|| "sensors.csv".into());
        (None, s)
    };
    Ok(Plan {
        file,
        data_dir,
        sensors,
        http,
        demo,
        demo_format,
        quiet: a.quiet,
    })
}

/// The system clock, epoch milliseconds.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn serve(plan: Plan) -> anyhow::Result<()> {
    let Plan {
        file,
        data_dir,
        sensors,
        http,
        demo,
        demo_format,
        quiet,
    } = plan;
    let registry = super::load_registry(&sensors)?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let metrics = MetricsRegistry::new();

    // The log, with every topic the pipeline uses.
    let log = EmbeddedLog::open(EmbeddedLogConfig::in_dir(data_dir.join("log"))).await?;
    let topics_cfg = TopicsConfig::default();
    ensure_topics(log.as_ref(), &topics_cfg, &shutdown).await?;
    aqstream_connect::log::LogAdmin::ensure_topics(
        log.as_ref(),
        &[(topics::AGGREGATES, 1), (topics::ALERTS, 1)],
    )
    .await?;
    let sink: Arc<dyn LogSink> = Arc::new(log.sink());

    // The worker: stage 1 over every partition, stage 2 in-process.
    let history_dir = data_dir.join("history");
    let stream_metrics = Arc::new(StreamMetrics::new(&metrics));
    let worker_stop = Shutdown::new();
    let shared = Shared::new(
        WorkerOptions {
            config: file.stream.clone(),
            history_dir: history_dir.clone(),
            state_dir: data_dir.join("state"),
            token: "run".into(),
            publish_topics: true,
        },
        registry.clone(),
        sink.clone(),
        stream_metrics,
    )?;
    let source: Box<dyn LogSource> = Box::new(log.source(topics::READINGS, &file.stream.group)?);
    let city = InProcessCity::load(&shared, source.partition_count() as usize).await?;
    let worker = tokio::spawn(run_stage1(shared, source, Some(city), worker_stop.clone()));

    // Ingest: the embedded broker and the HJ 212 listener into the log.
    let ingest_stop = Shutdown::new();
    let ingester = Ingester::start(
        IngesterConfig {
            ingest: file.ingest.clone(),
            mqtt: MqttConfig::default(),
            hj212_tcp: file.hj212_tcp.clone(),
            broker: file.broker.clone(),
        },
        registry.clone(),
        Hj212Codec::default(),
        sink.clone(),
        &metrics,
        ingest_stop.clone(),
    )
    .await?;
    let mqtt_url = ingester
        .broker_addr()
        .map(|a| format!("mqtt://{a}"))
        .unwrap_or_default();

    // SQL over the history, the web pages, /metrics on one HTTP listener; pg wire.
    let users = Arc::new(UserDb::from_config(&file.sql.users)?);
    let engine = QueryEngine::new(&EngineOptions {
        history: Some(StorageConfig {
            url: history_dir.to_string_lossy().into_owned(),
            ..Default::default()
        }),
        sensors: Some(sensors.clone()),
        tuning: file.sql.engine,
        limits: file.sql.limits,
    })
    .await?
    .with_metrics(QueryMetrics::register(&metrics)?);
    let web = aqstream_web::router(WebState::new(Arc::new(Cached::new(
        HistoryCityData::new(engine.clone()),
        Duration::from_secs(5),
    ))));
    let router = metrics
        .router()
        .merge(aqstream_query::http::router(engine.clone(), users.clone()))
        .merge(web);
    let servers_stop = Shutdown::new();
    let (http_task, http_bound) = super::start_http(http, router, servers_stop.clone()).await?;
    let pg_cfg = file.sql.pg.clone();
    let pg_listen = pg_cfg.listen.clone();
    let pg_task = tokio::spawn({
        let (engine, users, stop) = (engine.clone(), users.clone(), servers_stop.clone());
        async move { aqstream_query::pg::serve(engine, users, &pg_cfg, stop, None).await }
    });

    // The simulated terminals, resuming after the newest reading of the history.
    let demo_sim = match demo {
        Some(cfg) => {
            let last = demo::newest_reading(&engine).await?;
            Some(demo::resume(&data_dir, &cfg, now_ms(), last)?)
        }
        None => None,
    };
    let demo_task = demo_sim.map(|sim| {
        let url = mqtt_url.clone();
        let stop = ingest_stop.child();
        tokio::spawn(async move {
            // let the ingester's subscription settle before the first publish
            tokio::time::sleep(Duration::from_millis(500)).await;
            publish_mqtt(sim, &url, demo_format, Pace::wall_clock(), stop).await
        })
    });

    let urls = format!(
        "citizen http://{http_bound}/  officer http://{http_bound}/officer  \
         sql postgres://aqstream@{pg_listen}/aqstream  mqtt {mqtt_url}{}",
        ingester
            .hj212_addr()
            .map(|a| format!("  hj212 tcp://{a}"))
            .unwrap_or_default()
    );
    tracing::info!("aqstream is running: {urls}");
    let status = (!quiet)
        .then(|| tokio::spawn(StatusLine::new(metrics.clone(), urls).run(shutdown.clone())));

    // Run until a signal or a part fails.
    let mut worker = worker;
    let worker_early = tokio::select! {
        _ = shutdown.cancelled() => None,
        r = &mut worker => Some(r),
    };
    shutdown.trigger();
    if let Some(s) = status {
        let _ = s.await;
    }
    tracing::info!("shutting down: inputs first, then the worker, then the servers");
    ingest_stop.trigger();
    if let Some(d) = demo_task {
        match d.await {
            Ok(Ok(stats)) => tracing::info!(sent = stats.sent, "demo terminals stopped"),
            Ok(Err(e)) => tracing::warn!("demo terminals: {e}"),
            Err(e) => tracing::warn!("demo terminals: {e}"),
        }
    }
    let ingest_result = ingester.wait().await;
    // Give the worker a moment to consume what was drained, then checkpoint and stop.
    worker_stop.trigger();
    let worker_result = match worker_early {
        Some(r) => r,
        None => worker.await,
    };
    servers_stop.trigger();
    let _ = http_task.await;
    let _ = pg_task.await;
    if let Err(e) = log.close().await {
        tracing::warn!("closing the embedded log: {e}");
    }
    ingest_result.context("ingest")?;
    worker_result.context("worker task")?.context("worker")?;
    tracing::info!("stopped cleanly; state in {}", data_dir.display());
    Ok(())
}
