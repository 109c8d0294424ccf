//! The subcommands. Each module owns its clap arguments and a `run` function.

pub mod bench;
pub mod demo;
pub mod duckdb_baseline;
pub mod history;
pub mod hj212;
pub mod ingest;
pub mod replay;
pub mod replaybench;
pub mod run;
pub mod serve;
pub mod simulate;
pub mod sql;
pub mod sqlconf;
pub mod status;
pub mod worker;

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;

/// Logs go to stderr; `AQSTREAM_LOG` (or `RUST_LOG`) sets the filter, default `info`
/// (the embedded broker's connection chatter at `warn`).
pub fn init_tracing() {
    let filter = std::env::var("AQSTREAM_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info,rumqttd=warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Reads the sensor registry (`sensors.csv`, contract section 1).
pub fn load_registry(
    path: &Path,
) -> anyhow::Result<std::sync::Arc<aqstream_core::registry::SensorRegistry>> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the sensor registry {}", path.display()))?;
    let registry = aqstream_core::registry::SensorRegistry::from_csv(&text)
        .with_context(|| format!("bad sensor registry {}", path.display()))?;
    Ok(std::sync::Arc::new(registry))
}

/// Reads a file, or stdin when the path is absent or `-`.
pub fn read_input(path: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context as _;
    match path {
        Some(p) if p.as_os_str() != "-" => {
            std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
        }
        _ => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("cannot read stdin")?;
            Ok(buf)
        }
    }
}

/// Starts an HTTP server for `router` on `addr` until `stop`; returns its task and the
/// bound address once it listens (so a busy port is an error of the command).
pub async fn start_http(
    addr: SocketAddr,
    router: axum::Router,
    stop: aqstream_runtime::Shutdown,
) -> anyhow::Result<(tokio::task::JoinHandle<std::io::Result<()>>, SocketAddr)> {
    use anyhow::Context as _;
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(aqstream_runtime::metrics::serve(
        addr,
        router,
        stop,
        Some(bound_tx),
    ));
    let bound = bound_rx
        .await
        .with_context(|| format!("cannot serve HTTP on {addr}"))?;
    Ok((task, bound))
}

/// Creates `want` (topic, partitions), retrying with backoff while the brokers are
/// unreachable (a transient error) and `shutdown` has not been triggered.
pub async fn ensure_topics_retrying(
    admin: &dyn aqstream_connect::log::LogAdmin,
    want: &[(&str, i32)],
    shutdown: &aqstream_runtime::Shutdown,
) -> anyhow::Result<()> {
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        match admin.ensure_topics(want).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() && !shutdown.is_triggered() => {
                tracing::warn!("cannot create topics yet: {e}; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(10));
            }
            Err(e) => return Err(e.into()),
        }
    }
}
