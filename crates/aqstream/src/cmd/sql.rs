//! `aqstream sql "SELECT …"`.

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
    /// Root of the Parquet history.
    #[arg(
        long,
        env = "AQSTREAM_HISTORY_DIR",
        default_value = "./aqstream-data/history"
    )]
    history_dir: PathBuf,
    /// Sensor registry exposed as the `sensors` table.
    #[arg(long, env = "AQSTREAM_SENSORS")]
    sensors: Option<PathBuf>,
    /// Output format: table, csv or json (one object per row).
    #[arg(long, default_value = "table")]
    format: OutputFormat,
}

/// Runs the query and prints the result.
pub fn run(a: SqlArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let engine = QueryEngine::new(&EngineOptions {
            history_dir: Some(a.history_dir.clone()),
            sensors: a.sensors.clone(),
            target_partitions: None,
        })
        .await?;
        let (schema, batches) = engine.sql(&a.query).await?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        write_batches(&mut out, &schema, &batches, a.format)?;
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    })
}
