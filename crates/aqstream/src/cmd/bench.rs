//! `aqstream bench …`: quality benchmarks.

use anyhow::Context as _;
use aqstream_locate::DetectorConfig;
use clap::{Args, Subcommand};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Detection and source localization over simulated scenarios, next to the naive
    /// highest-sensor estimate.
    Localize(LocalizeArgs),
    /// Throughput of the stream operator chain over generated readings, next to DuckDB
    /// computing the same 1-minute and 1-hour aggregates.
    Replay(super::replaybench::ReplayBenchArgs),
}

/// Arguments of `aqstream bench localize`.
#[derive(Debug, Args)]
pub struct LocalizeArgs {
    /// Scenarios (comma-separated; default: the whole suite).
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Seeds per scenario (1..=N).
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Detector configuration (TOML; the worker's `[detector]` keys).
    #[arg(long, env = "AQSTREAM_CONFIG")]
    config: Option<PathBuf>,
    /// Also write the Markdown table to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `aqstream bench …`.
pub fn run(c: BenchCommand) -> anyhow::Result<ExitCode> {
    match c {
        BenchCommand::Localize(a) => {
            let cfg: DetectorConfig = aqstream_runtime::config::load(a.config.as_deref())?;
            let names: Vec<&str> = if a.scenarios.is_empty() {
                aqstream_sim::PRESETS.to_vec()
            } else {
                a.scenarios.iter().map(String::as_str).collect()
            };
            let runs = aqstream_sim::quality::suite(&names, a.seeds, &cfg)?;
            let table = aqstream_sim::quality::report::markdown(&runs);
            if let Some(p) = &a.out {
                std::fs::write(p, &table)
                    .with_context(|| format!("cannot write {}", p.display()))?;
            }
            std::io::stdout().write_all(table.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Replay(a) => super::replaybench::run(a),
    }
}
