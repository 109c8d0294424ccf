//! `aqstream` — the command line of the aqstream air-quality pipeline.
//!
//! One thin binary: every subcommand parses its flags, loads configuration and calls
//! into the library crates, where the logic (and its tests) lives.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Streaming air-quality monitoring: ingest, aggregate, detect, locate, query.
#[derive(Debug, Parser)]
#[command(name = "aqstream", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Everything on one machine with embedded defaults: MQTT broker, HJ 212 listener,
    /// durable log, worker, detection, metrics, SQL and the web pages (`--demo` adds
    /// simulated field terminals).
    Run(cmd::run::RunArgs),
    /// HJ 212-2017 tools: decode and encode frames.
    #[command(subcommand)]
    Hj212(cmd::hj212::Hj212Command),
    /// Run SQL over the history (works without any history for the AQI functions).
    Sql(cmd::sql::SqlArgs),
    /// Ingest MQTT and HJ 212 terminals into Kafka (or the embedded log), with a
    /// dead-letter stream.
    Ingest(cmd::ingest::IngestArgs),
    /// Synthetic field terminals: a simulated city with pollution sources, written to
    /// files or published over MQTT / HJ 212 TCP, with a ground truth.
    Simulate(cmd::simulate::SimulateArgs),
    /// Quality benchmarks (`bench localize`: detection and source localization).
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
    /// The stream worker: consumer group on `aq.readings.v1`, event-time aggregates,
    /// sensor QA, detection, Parquet history, checkpoints.
    Worker(cmd::worker::WorkerArgs),
    /// The stream operators offline over a file of readings in arrival order, event
    /// time only, deterministic; alerts as JSON lines.
    Replay(cmd::replay::ReplayArgs),
    /// Serve SQL over HTTP (`POST /sql`, `/metrics`) and the PostgreSQL wire protocol.
    Serve(cmd::serve::ServeArgs),
    /// History maintenance: compaction of small files.
    #[command(subcommand)]
    History(cmd::history::HistoryCommand),
}

/// mimalloc instead of glibc malloc: the stream operators allocate and free small
/// objects on several threads; with glibc the replay of 100 000 sensors held
/// hundreds of MiB more in per-thread arenas (mimalloc 2: its version 3 held ~90 MiB
/// more at the peak of the 100 000-sensor replay benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process. mimalloc asks for huge pages
/// on its 1 GiB arenas, then returns freed memory to the kernel in 4 KiB pieces; with
/// huge pages a partly used 2 MiB page stays resident whole and every fault zeroes
/// 2 MiB. Off, the 100 000-sensor replay benchmark peaked ~80 MiB lower at the same
/// throughput (docs/benchmarks.md). Best effort: a kernel without the call is fine.
#[cfg(target_os = "linux")]
fn no_transparent_huge_pages() {
    // The flag belongs to the whole process (and its children), not only the thread.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

#[cfg(not(target_os = "linux"))]
fn no_transparent_huge_pages() {}

fn main() -> ExitCode {
    no_transparent_huge_pages();
    cmd::init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => cmd::run::run(a),
        Command::Hj212(c) => cmd::hj212::run(c),
        Command::Sql(a) => cmd::sql::run(a),
        Command::Ingest(a) => cmd::ingest::run(a),
        Command::Simulate(a) => cmd::simulate::run(a),
        Command::Bench(c) => cmd::bench::run(c),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Worker(a) => cmd::worker::run(a),
        Command::Replay(a) => cmd::replay::run(a),
        Command::History(c) => cmd::history::run(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {e:#}");
            }
            ExitCode::from(2)
        }
    }
}
