//! `aqstream replay`: the stream operators (and detection) offline over a file of
//! readings in arrival order, event time only, deterministic.

use anyhow::Context as _;
use aqstream_stream::StreamConfig;
use aqstream_stream::replay::{InputFormat, ReplayOptions, replay};
use clap::Args;
use serde::Deserialize;
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `aqstream replay`. Each flag is also an `AQSTREAM_*` variable; flags
/// override the configuration file, which overrides the defaults.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// TOML configuration file (section `[stream]`, like `aqstream worker`).
    #[arg(long, env = "AQSTREAM_CONFIG")]
    config: Option<PathBuf>,
    /// Sensor registry (`sensors.csv`) [default: sensors.csv].
    #[arg(long, env = "AQSTREAM_SENSORS")]
    sensors: Option<PathBuf>,
    /// Readings in arrival order: JSON lines, or HJ 212 frames with `--format hj212`;
    /// `-` reads stdin.
    #[arg(long, env = "AQSTREAM_READINGS")]
    readings: PathBuf,
    /// Where the alert transitions go, as JSON lines (`-`: stdout).
    #[arg(long, env = "AQSTREAM_ALERTS_OUT")]
    alerts_out: PathBuf,
    /// Root of the Parquet history to write (readings, aggregates, sensor health,
    /// alerts); absent: a temporary one, removed at the end.
    #[arg(long, env = "AQSTREAM_HISTORY_DIR")]
    history_dir: Option<PathBuf>,
    /// Input format: `json` or `hj212`.
    #[arg(long, default_value = "json")]
    format: InputFormat,
    /// Print the counts of the run as one JSON object on stdout (stderr when the
    /// alerts go to stdout).
    #[arg(long)]
    summary: bool,
}

/// The configuration file of `aqstream replay`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplayFile {
    /// Sensor registry.
    pub sensors: Option<PathBuf>,
    /// Stream engine settings.
    pub stream: StreamConfig,
}

/// Runs the replay to the end of the input.
pub fn run(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    let file: ReplayFile = aqstream_runtime::config::load(a.config.as_deref())?;
    let sensors = a
        .sensors
        .or(file.sensors)
        .unwrap_or_else(|| "sensors.csv".into());
    let registry = super::load_registry(&sensors)?;
    let input: Box<dyn Read + Send> = if a.readings.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&a.readings)
                .with_context(|| format!("cannot open {}", a.readings.display()))?,
        )
    };
    let to_stdout = a.alerts_out.as_os_str() == "-";
    let mut out: Box<dyn Write> = if to_stdout {
        Box::new(BufWriter::new(std::io::stdout().lock()))
    } else {
        if let Some(dir) = a.alerts_out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Box::new(BufWriter::new(
            std::fs::File::create(&a.alerts_out)
                .with_context(|| format!("cannot create {}", a.alerts_out.display()))?,
        ))
    };
    let detector = aqstream_stream::detect::detector(&registry, &file.stream);
    let started = std::time::Instant::now();
    let s = replay(
        registry,
        input,
        &mut out,
        detector,
        &ReplayOptions {
            format: a.format,
            history_dir: a.history_dir,
            config: file.stream,
        },
    )?;
    out.flush().context("cannot write the alerts")?;
    drop(out);
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        readings = s.readings,
        accepted = s.accepted,
        alerts = s.alerts,
        seconds = secs,
        "replay done"
    );
    if a.summary {
        let line = format!(
            "{{\"lines\":{},\"readings\":{},\"rejected\":{},\"accepted\":{},\"late\":{},\
             \"duplicates\":{},\"sensor_rows\":{},\"district_rows\":{},\"health_events\":{},\
             \"alerts\":{},\"epochs\":{}}}",
            s.lines,
            s.readings,
            s.rejected,
            s.accepted,
            s.late,
            s.duplicates,
            s.sensor_rows,
            s.district_rows,
            s.health_events,
            s.alerts,
            s.epochs
        );
        #[allow(clippy::print_stdout, clippy::print_stderr)]
        if to_stdout {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
