//! `aqstream serve`: the SQL service of a deployment — HTTP (`POST /sql`, `/metrics`,
//! `/healthz`) and the PostgreSQL wire protocol over the history.

use super::sqlconf::{FileConfig, history_config};
use anyhow::Context as _;
use aqstream_query::metrics::QueryMetrics;
use aqstream_query::{EngineOptions, QueryEngine, UserDb};
use aqstream_runtime::{MetricsRegistry, Shutdown};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `aqstream serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (`[history]`, `[sql]`: users, limits, TLS).
    #[arg(long, env = "AQSTREAM_CONFIG")]
    config: Option<PathBuf>,
    /// HTTP listen address (`/sql`, `/metrics`, `/healthz`); default 127.0.0.1:8080.
    #[arg(long, env = "AQSTREAM_HTTP")]
    http: Option<String>,
    /// PostgreSQL protocol listen address; default 127.0.0.1:5433.
    #[arg(long, env = "AQSTREAM_PG")]
    pg: Option<String>,
    /// Root of the Parquet history: a directory or an `s3://bucket/prefix` URL.
    #[arg(long, env = "AQSTREAM_HISTORY_DIR")]
    history_dir: Option<String>,
    /// Sensor registry exposed as the `sensors` table.
    #[arg(long, env = "AQSTREAM_SENSORS")]
    sensors: Option<PathBuf>,
}

fn is_loopback(addr: &str) -> bool {
    match addr.parse::<SocketAddr>() {
        Ok(a) => a.ip().is_loopback(),
        Err(_) => addr.starts_with("localhost:"),
    }
}

/// Runs the SQL service until SIGINT/SIGTERM.
pub fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut file: FileConfig = aqstream_runtime::config::load(a.config.as_deref())?;
    if let Some(h) = &a.http {
        file.sql.http.listen = h.clone();
    }
    if let Some(p) = &a.pg {
        file.sql.pg.listen = p.clone();
    }
    let users = Arc::new(UserDb::from_config(&file.sql.users)?);
    if users.is_builtin()
        && !(is_loopback(&file.sql.http.listen) && is_loopback(&file.sql.pg.listen))
    {
        anyhow::bail!(
            "no [[sql.users]] configured: the built-in user `aqstream` is only allowed on \
             loopback addresses (got http {} and pg {})",
            file.sql.http.listen,
            file.sql.pg.listen
        );
    }
    if users.is_builtin() {
        tracing::warn!(
            "no [[sql.users]] configured: PostgreSQL clients log in as aqstream/aqstream and \
             HTTP needs no authentication (loopback only)"
        );
    }
    let threads = match file.sql.engine.exec_threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let exec = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("aqstream-sql-exec")
        .enable_all()
        .build()?;
    let io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("aqstream-io")
        .enable_all()
        .build()?;
    let exec_handle = exec.handle().clone();
    let result = io.block_on(async {
        let shutdown = Shutdown::new();
        shutdown.trigger_on_signals();
        let metrics = MetricsRegistry::new();
        let engine = QueryEngine::new(&EngineOptions {
            history: Some(history_config(&file, a.history_dir.as_deref())),
            sensors: a.sensors.clone().or(file.sql.sensors.clone()),
            tuning: file.sql.engine,
            limits: file.sql.limits,
        })
        .await?
        .with_executor(exec_handle)
        .with_metrics(QueryMetrics::register(&metrics)?);
        let http_addr: SocketAddr = file
            .sql
            .http
            .listen
            .parse()
            .with_context(|| format!("--http {}", file.sql.http.listen))?;
        let router = metrics
            .router()
            .merge(aqstream_query::http::router(engine.clone(), users.clone()));
        let mut http = tokio::spawn(aqstream_runtime::metrics::serve(
            http_addr,
            router,
            shutdown.clone(),
            None,
        ));
        let mut pg = tokio::spawn({
            let (engine, users, cfg, shutdown) = (
                engine.clone(),
                users.clone(),
                file.sql.pg.clone(),
                shutdown.clone(),
            );
            async move { aqstream_query::pg::serve(engine, users, &cfg, shutdown, None).await }
        });
        // the first listener to stop (shutdown, or an error such as a busy port) stops both
        let (h, p) = tokio::select! {
            h = &mut http => {
                shutdown.trigger();
                (h, pg.await)
            }
            p = &mut pg => {
                shutdown.trigger();
                (http.await, p)
            }
        };
        h.context("http task")?.context("http listener")?;
        p.context("pg task")?.context("pg listener")?;
        anyhow::Ok(())
    });
    exec.shutdown_timeout(std::time::Duration::from_secs(2));
    result?;
    Ok(ExitCode::SUCCESS)
}
