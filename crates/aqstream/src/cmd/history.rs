//! `aqstream history compact`: merge the small files of each date partition into large
//! files sorted by sensor and time, dropping duplicate rows.

use super::sqlconf::{FileConfig, history_config};
use aqstream_history::{CompactOptions, HistoryStore, HistoryTable};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// History maintenance.
#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Compact partitions: many small files → few large sorted files.
    Compact(CompactArgs),
}

/// Arguments of `aqstream history compact`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Root of the Parquet history: a directory or an `s3://bucket/prefix` URL.
    #[arg(long, env = "AQSTREAM_HISTORY_DIR")]
    history_dir: Option<String>,
    /// Configuration file (`[history]` storage options).
    #[arg(long, env = "AQSTREAM_CONFIG")]
    config: Option<PathBuf>,
    /// Tables to compact (repeatable; default all): readings, aggregates, alerts.
    #[arg(long = "table")]
    tables: Vec<HistoryTable>,
    /// Leave files younger than this many seconds alone (the writer may still be
    /// producing their window).
    #[arg(long, default_value_t = 600)]
    min_age_s: u64,
    /// Compact a partition once it has this many files.
    #[arg(long, default_value_t = 2)]
    min_files: usize,
    /// Largest output file, in rows.
    #[arg(long, default_value_t = 8 << 20)]
    max_rows_per_file: usize,
    /// First partition date to consider (YYYY-MM-DD).
    #[arg(long)]
    from: Option<String>,
    /// Last partition date to consider (YYYY-MM-DD).
    #[arg(long)]
    to: Option<String>,
    /// Print what would be done; write and delete nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Runs a history subcommand.
pub fn run(c: HistoryCommand) -> anyhow::Result<ExitCode> {
    match c {
        HistoryCommand::Compact(a) => compact(a),
    }
}

fn compact(a: CompactArgs) -> anyhow::Result<ExitCode> {
    let file: FileConfig = aqstream_runtime::config::load(a.config.as_deref())?;
    let store = HistoryStore::open(&history_config(&file, a.history_dir.as_deref()))?;
    let opts = CompactOptions {
        tables: if a.tables.is_empty() {
            HistoryTable::ALL.to_vec()
        } else {
            a.tables.clone()
        },
        min_age: Duration::from_secs(a.min_age_s),
        min_files: a.min_files,
        max_rows_per_file: a.max_rows_per_file,
        from: a.from.clone(),
        to: a.to.clone(),
        dry_run: a.dry_run,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(aqstream_history::compact(&store, &opts))?;
    let mut out =
        String::from("table       date        files_in  files_out  rows_in    rows_out\n");
    for p in &report.partitions {
        out.push_str(&format!(
            "{:<11} {:<11} {:>8}  {:>9}  {:>9}  {:>9}\n",
            p.table.name(),
            p.date,
            p.files_in,
            p.files_out,
            p.rows_in,
            p.rows_out
        ));
    }
    out.push_str(&format!(
        "{} partition(s) {}, {} left as they are\n",
        report.partitions.len(),
        if a.dry_run { "to compact" } else { "compacted" },
        report.skipped
    ));
    #[allow(clippy::print_stdout)]
    {
        print!("{out}");
    }
    Ok(ExitCode::SUCCESS)
}
