//! `aqstream bench replay`: throughput of the full stream operator chain (decode,
//! QA, dedup, windows, DataFusion aggregation, district stage, detection, Parquet
//! history) over generated readings, next to DuckDB on the same file in the same run
//! (see [`duckdb_baseline`]: the 1-minute and 1-hour aggregates alone, and the same
//! history).

use super::duckdb_baseline;
use anyhow::Context as _;
use aqstream_core::SensorRegistry;
use aqstream_core::time::format_rfc3339;
use aqstream_stream::StreamConfig;
use aqstream_stream::replay::{ReplayOptions, replay};
use clap::Args;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Arguments of `aqstream bench replay`.
#[derive(Debug, Args)]
pub struct ReplayBenchArgs {
    /// Readings to generate (one per sensor per minute, in minute order).
    #[arg(long, default_value_t = 10_000_000)]
    readings: u64,
    /// Sensors of the generated network.
    #[arg(long, default_value_t = 10_000)]
    sensors: usize,
    /// Working directory for the generated file and the history [default: a
    /// temporary one, removed at the end].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Skip the DuckDB baseline.
    #[arg(long)]
    no_duckdb: bool,
    /// Run the detector too (off by default: the chain is the aggregation).
    #[arg(long)]
    detect: bool,
}

/// 2026-11-22T00:00:00Z.
const T0: i64 = 1_795_305_600_000;

fn registry(n: usize) -> String {
    let mut s = String::with_capacity(n * 60);
    s.push_str("sensor_id,gateway_id,lat,lon,district,kind\n");
    let side = (n as f64).sqrt().ceil() as usize;
    for i in 0..n {
        let d = i % 16;
        let _ = writeln!(
            s,
            "B{i:06},gw-{d},{:.5},{:.5},D{d:02},lowcost",
            39.70 + (i / side) as f64 * 0.002,
            116.30 + (i % side) as f64 * 0.0025
        );
    }
    s
}

/// Writes the readings: minute by minute, every sensor, deterministic values.
fn generate(path: &Path, sensors: usize, readings: u64) -> anyhow::Result<u64> {
    let f = std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut n = 0u64;
    let mut m = 0i64;
    let mut line = String::with_capacity(200);
    while n < readings {
        m += 1;
        let ts = format_rfc3339(T0 + m * 60_000);
        for i in 0..sensors {
            if n >= readings {
                break;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let base = 35.0 + 20.0 * ((m as f64) / 97.0 + i as f64 * 0.013).sin();
            let pm25 = ((base + (x % 100) as f64 / 10.0) * 10.0).round() / 10.0;
            line.clear();
            let _ = writeln!(
                line,
                "{{\"sensor_id\":\"B{i:06}\",\"ts\":\"{ts}\",\"pm25\":{pm25},\"pm10\":{},\"no2\":{}}}",
                (pm25 * 1.6 * 10.0).round() / 10.0,
                ((20 + x % 30) as f64)
            );
            w.write_all(line.as_bytes())?;
            n += 1;
        }
    }
    w.flush()?;
    Ok(n)
}

/// Peak resident set size of this process, MiB (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Runs the benchmark and prints a Markdown table.
pub fn run(a: ReplayBenchArgs) -> anyhow::Result<ExitCode> {
    let (dir, remove) = match &a.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("aqstream-bench-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let input = dir.join("bench-readings.jsonl");
    let t = Instant::now();
    let n = generate(&input, a.sensors, a.readings)?;
    let bytes = std::fs::metadata(&input)?.len();
    tracing::info!(readings = n, mib = bytes >> 20, secs = ?t.elapsed(), "generated");
    let text = registry(a.sensors);
    let reg = Arc::new(SensorRegistry::from_csv(&text)?);
    let history = dir.join("bench-history");
    let _ = std::fs::remove_dir_all(&history);
    let cfg = StreamConfig::default();
    let detector: Box<dyn aqstream_stream::detect::Detect> = if a.detect {
        aqstream_stream::detect::detector(&reg, &cfg)
    } else {
        Box::new(aqstream_stream::detect::NoDetector)
    };
    let rss_before = peak_rss_mib().unwrap_or(0.0);
    let t = Instant::now();
    let s = replay(
        reg,
        Box::new(std::fs::File::open(&input)?),
        &mut std::io::sink(),
        detector,
        &ReplayOptions {
            history_dir: Some(history.clone()),
            config: cfg,
            ..ReplayOptions::default()
        },
    )?;
    let secs = t.elapsed().as_secs_f64();
    let rss = peak_rss_mib().unwrap_or(0.0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "readings: {n} ({} MiB JSON lines), sensors: {}, minutes: {}",
        bytes >> 20,
        a.sensors,
        n.div_ceil(a.sensors as u64)
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| system | work | seconds | readings/s |");
    let _ = writeln!(out, "|---|---|---:|---:|");
    let _ = writeln!(
        out,
        "| aqstream replay | JSON decode, QA, dedup, 1m/5m/1h/24h sensor + district windows, NowCast, AQI, Parquet history{} | {secs:.2} | {:.0} |",
        if a.detect { ", detection" } else { "" },
        n as f64 / secs
    );
    let mut ratios = String::new();
    if !a.no_duckdb {
        let reg_path = dir.join("bench-registry.csv");
        std::fs::write(&reg_path, &text)?;
        duckdb_baseline::run(&dir, &input, &reg_path, n, secs, &mut out, &mut ratios);
        let _ = std::fs::remove_file(&reg_path);
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "peak RSS of the replay process: {rss:.0} MiB (before the replay: {rss_before:.0} MiB); \
         accepted {}, sensor rows {}, district rows {}, history epochs {}",
        s.accepted, s.sensor_rows, s.district_rows, s.epochs
    );
    out.push_str(&ratios);
    std::io::stdout().write_all(out.as_bytes())?;
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_dir_all(&history);
    if remove {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(ExitCode::SUCCESS)
}
