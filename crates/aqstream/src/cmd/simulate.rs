//! `aqstream simulate`: synthetic field terminals. Writes files, publishes over MQTT
//! (JSON or HJ 212), or sends HJ 212 over TCP.

use anyhow::Context as _;
use aqstream_runtime::Shutdown;
use aqstream_sim::output::{ReadingFormat, write_readings, write_sensors, write_truth};
use aqstream_sim::publish::{Pace, WireFormat, publish_mqtt, send_hj212_tcp};
use aqstream_sim::{Scenario, Simulation};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Wire and file formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// JSON readings (canonical form in files, gateway form over MQTT).
    Json,
    /// HJ 212-2017 minute frames.
    Hj212,
}

/// Arguments of `aqstream simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Named scenario: steady, shifting-wind, low-wind, stacks, two-sources,
    /// short-episodes, edge, sparse, dense, haze, faulty.
    #[arg(long, default_value = "steady", env = "AQSTREAM_SCENARIO")]
    scenario: String,
    /// A scenario as TOML (every field of the preset can be set; replaces --scenario).
    #[arg(long, env = "AQSTREAM_CONFIG")]
    config: Option<PathBuf>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Length in minutes (default: the scenario's).
    #[arg(long)]
    duration_min: Option<u32>,
    /// Start time, RFC 3339 (default: the scenario's).
    #[arg(long)]
    start: Option<String>,
    /// Write sensors.csv, readings and truth.json into this directory.
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Format of the readings file / MQTT payloads.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// Publish live to this MQTT broker (mqtt://HOST:PORT).
    #[arg(long, env = "AQSTREAM_MQTT")]
    mqtt: Option<String>,
    /// Send HJ 212 frames over TCP to this address (HOST:PORT).
    #[arg(long)]
    hj212_tcp: Option<String>,
    /// Simulated seconds per real second when publishing (0: as fast as possible).
    #[arg(long, default_value_t = 60.0)]
    speed: f64,
    /// Also write the registry here (for the ingest's --sensors).
    #[arg(long)]
    sensors_out: Option<PathBuf>,
}

fn scenario(a: &SimulateArgs) -> anyhow::Result<Scenario> {
    let mut sc = match &a.config {
        Some(p) => aqstream_runtime::config::load::<Scenario>(Some(p))?,
        None => aqstream_sim::preset(&a.scenario, a.seed)?,
    };
    sc.seed = a.seed;
    if let Some(d) = a.duration_min {
        sc.duration_min = d;
    }
    if let Some(s) = &a.start {
        sc.start = s.clone();
    }
    sc.start_ms()?;
    Ok(sc)
}

/// Runs `aqstream simulate`.
pub fn run(a: SimulateArgs) -> anyhow::Result<ExitCode> {
    let sc = scenario(&a)?;
    if let Some(p) = &a.sensors_out {
        write_sensors(p, &Simulation::new(&sc)?.registry())?;
    }
    if let Some(dir) = &a.out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let out = Simulation::run(&sc)?;
        let (name, fmt) = match a.format {
            Format::Json => ("readings.jsonl", ReadingFormat::Json),
            Format::Hj212 => ("readings.hj212", ReadingFormat::Hj212),
        };
        write_sensors(&dir.join("sensors.csv"), &out.registry)?;
        write_readings(&dir.join(name), &out.arrivals, fmt)?;
        write_truth(&dir.join("truth.json"), &out.truth)?;
        tracing::info!(readings = out.arrivals.len(), sources = out.truth.sources.len(), dir = %dir.display(), "simulation written");
    }
    if a.mqtt.is_none() && a.hj212_tcp.is_none() {
        if a.out_dir.is_none() {
            anyhow::bail!("nothing to do: give --out-dir, --mqtt or --hj212-tcp");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let shutdown = Shutdown::new();
        shutdown.trigger_on_signals();
        let pace = Pace::speed(a.speed);
        if let Some(url) = &a.mqtt {
            let wire = match a.format {
                Format::Json => WireFormat::Json,
                Format::Hj212 => WireFormat::Hj212,
            };
            let s = publish_mqtt(Simulation::new(&sc)?, url, wire, pace, shutdown.clone()).await?;
            tracing::info!(sent = s.sent, acked = s.acked, "MQTT publishing done");
        }
        if let Some(addr) = &a.hj212_tcp {
            let s = send_hj212_tcp(Simulation::new(&sc)?, addr, pace, shutdown).await?;
            tracing::info!(sent = s.sent, "HJ 212 TCP sending done");
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
