//! `aqstream sql "SELECT …"`: one statement over the history, printed or written to a
//! file. The same engine, sandbox and limits as `aqstream serve`.

use super::sqlconf::{FileConfig, history_config};
use aqstream_query::format::write_batches;
use aqstream_query::{EngineOptions, OutputFormat, QueryEngine};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `aqstream sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The SQL statement.
    query: String,
    /// Root of the Parquet history: a directory, or an `s3://bucket/prefix` URL
    /// (default: `[history] url` of the configuration, else `./aqstream-data/history`).
    #[arg(long, env = "AQSTREAM_HISTORY_DIR")]
    history_dir: Option<String>,
    /// Sensor registry exposed as the `sensors` table.
    #[arg(long, env = "AQSTREAM_SENSORS")]
    sensors: Option<PathBuf>,
    /// Configuration file (`[history]` storage options, `[sql.limits]`).
    #[arg(long, env = "AQSTREAM_CONFIG")]
    config: Option<PathBuf>,
    /// Output format: table, csv, json (one object per line), json-array, parquet, arrow
    /// (Arrow IPC stream).
    #[arg(long, default_value = "table")]
    format: OutputFormat,
    /// Write the result to this file instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// Runs the query and prints the result.
pub fn run(a: SqlArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    let file: FileConfig = aqstream_runtime::config::load(a.config.as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Without --history-dir, a local default that does not exist means "no history"
    // (the history tables are then unknown, rather than silently empty).
    let history = Some(history_config(&file, a.history_dir.as_deref())).filter(|h| {
        a.history_dir.is_some() || h.url.contains("://") || std::path::Path::new(&h.url).exists()
    });
    rt.block_on(async {
        let engine = QueryEngine::new(&EngineOptions {
            history,
            sensors: a.sensors.clone().or(file.sql.sensors.clone()),
            tuning: file.sql.engine,
            limits: file.sql.limits,
        })
        .await?;
        let (schema, batches) = engine.sql(&a.query).await?;
        match &a.output {
            Some(path) => {
                let mut f = std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("cannot create {}", path.display()))?,
                );
                write_batches(&mut f, &schema, &batches, a.format)?;
                f.flush()?;
            }
            None => {
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                write_batches(&mut out, &schema, &batches, a.format)?;
                out.flush()?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
