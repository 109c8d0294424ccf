//! `aqstream bench replay`: throughput of the full stream operator chain (decode,
//! QA, dedup, windows, DataFusion aggregation, district stage, detection, Parquet
//! history) over generated readings, next to DuckDB computing the same 1-minute and
//! 1-hour aggregates from the same file in the same run.

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
    /// Run the detector too (off by default: the issue's chain is the aggregation).
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

const DUCKDB_SCRIPT: &str = r#"
import sys, time
import duckdb
path = sys.argv[1]
con = duckdb.connect()
con.execute("PRAGMA threads=2")
t = time.time()
con.execute(f"""CREATE TABLE r AS SELECT sensor_id, CAST(ts AS TIMESTAMPTZ) AS ts,
  pm25, pm10, no2 FROM read_json('{path}', format='newline_delimited',
  columns={{'sensor_id':'VARCHAR','ts':'VARCHAR','pm25':'DOUBLE','pm10':'DOUBLE','no2':'DOUBLE'}})""")
load = time.time() - t
q = """SELECT sensor_id, time_bucket(INTERVAL '{w}', ts - INTERVAL '1 millisecond') AS ws,
  avg(pm25), min(pm25), max(pm25), count(pm25), avg(pm10), avg(no2)
  FROM (SELECT DISTINCT ON (sensor_id, ts) * FROM r) GROUP BY ALL"""
t = time.time()
n1 = con.execute("SELECT count(*) FROM (" + q.format(w='1 minute') + ")").fetchone()[0]
n2 = con.execute("SELECT count(*) FROM (" + q.format(w='1 hour') + ")").fetchone()[0]
agg = time.time() - t
print(f"{load:.3f} {agg:.3f} {n1} {n2}")
"#;

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
    if !a.no_duckdb {
        let script = dir.join("bench-duckdb.py");
        std::fs::write(&script, DUCKDB_SCRIPT)?;
        let o = std::process::Command::new("python3")
            .arg(&script)
            .arg(&input)
            .output()
            .context("run python3")?;
        if o.status.success() {
            let line = String::from_utf8_lossy(&o.stdout);
            let f: Vec<&str> = line.split_whitespace().collect();
            let load: f64 = f.first().and_then(|x| x.parse().ok()).unwrap_or(f64::NAN);
            let agg: f64 = f.get(1).and_then(|x| x.parse().ok()).unwrap_or(f64::NAN);
            let _ = writeln!(
                out,
                "| DuckDB | read JSON lines into a table | {load:.2} | {:.0} |",
                n as f64 / load
            );
            let _ = writeln!(
                out,
                "| DuckDB | dedup + 1-min and 1-h sensor aggregates from the table ({} + {} rows) | {agg:.2} | {:.0} |",
                f.get(2).unwrap_or(&"?"),
                f.get(3).unwrap_or(&"?"),
                n as f64 / agg
            );
            let _ = writeln!(
                out,
                "| DuckDB | both (file → the same aggregates) | {:.2} | {:.0} |",
                load + agg,
                n as f64 / (load + agg)
            );
        } else {
            let _ = writeln!(
                out,
                "\nDuckDB baseline not run: {} (install it with `pip install duckdb`)",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "peak RSS of the replay process: {rss:.0} MiB (before the replay: {rss_before:.0} MiB); \
         accepted {}, sensor rows {}, district rows {}, history epochs {}",
        s.accepted, s.sensor_rows, s.district_rows, s.epochs
    );
    std::io::stdout().write_all(out.as_bytes())?;
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_dir_all(&history);
    if remove {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(ExitCode::SUCCESS)
}
