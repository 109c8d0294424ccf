//! The SQL benchmark: analyst queries over a month of per-minute history of 500 sensors,
//! each timed with the aqstream engine (the `QueryEngine` every SQL surface uses) and,
//! in the same run and on the same Parquet files, with DuckDB.
//!
//! ```text
//! cargo bench -p aqstream-query --bench sql -- [--sensors 500] [--days 30] [--reps 5]
//!     [--dir target/bench-sql] [--out results.md] [--regenerate] [--only Q2]
//! ```
//!
//! The data set is generated once (deterministically) into `--dir` and reused while its
//! shape is unchanged. DuckDB runs from Python (`pip install duckdb`) through
//! `duckdb_runner.py`; each query is timed in both engines one after the other, as the
//! median of `--reps` warm runs after one warm-up run, and the results are compared
//! (row count and the sum of the last column).

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod data;

use aqstream_query::config::{EngineTuning, LimitsConfig};
use aqstream_query::{EngineOptions, QueryEngine};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use std::error::Error;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// One benchmark query: the aqstream SQL and, where the dialects differ, DuckDB's.
struct Bench {
    name: &'static str,
    sql: &'static str,
    duckdb: Option<&'static str>,
}

const QUERIES: &[Bench] = &[
    Bench {
        name: "Q1 daily district means",
        sql: "SELECT s.district, date_trunc('day', r.ts) AS day, avg(r.pm25) AS pm25
FROM readings r JOIN sensors s ON r.sensor_id = s.sensor_id
GROUP BY 1, 2 ORDER BY 1, 2",
        duckdb: None,
    },
    Bench {
        name: "Q2 hours over the standard per sensor",
        sql: "SELECT sensor_id, count(*) AS hours FROM (
  SELECT sensor_id, date_trunc('hour', ts) AS hour, avg(pm25) AS m FROM readings GROUP BY 1, 2
) h WHERE m > 75 GROUP BY sensor_id ORDER BY hours DESC, sensor_id LIMIT 20",
        duckdb: None,
    },
    Bench {
        name: "Q2b as Q2, hours by time_bucket",
        sql: "SELECT sensor_id, count(*) AS hours FROM (
  SELECT sensor_id, time_bucket('1 hour', ts) AS hour, avg(pm25) AS m FROM readings GROUP BY 1, 2
) h WHERE m > 75 GROUP BY sensor_id ORDER BY hours DESC, sensor_id LIMIT 20",
        duckdb: Some(
            "SELECT sensor_id, count(*) AS hours FROM (
  SELECT sensor_id, time_bucket(INTERVAL '1 hour', ts) AS hour, avg(pm25) AS m FROM readings GROUP BY 1, 2
) h WHERE m > 75 GROUP BY sensor_id ORDER BY hours DESC, sensor_id LIMIT 20",
        ),
    },
    Bench {
        name: "Q3 wind-sector breakdown per district",
        sql: "SELECT s.district, wind_sector(r.wind_dir, 8) AS sector, count(*) AS n, avg(r.pm25) AS pm25
FROM readings r JOIN sensors s ON r.sensor_id = s.sensor_id
GROUP BY 1, 2 ORDER BY 1, 2",
        duckdb: Some(
            "SELECT s.district,
  ['N','NE','E','SE','S','SW','W','NW'][1 + CAST(floor((((r.wind_dir + 22.5) % 360) + 360) % 360 / 45) AS INT)] AS sector,
  count(*) AS n, avg(r.pm25) AS pm25
FROM readings r JOIN sensors s ON r.sensor_id = s.sensor_id
GROUP BY 1, 2 ORDER BY 1, 2",
        ),
    },
    Bench {
        name: "Q4 alert history joined with readings",
        sql: "SELECT a.alert_id, a.district, count(*) AS minutes, max(r.pm25) AS peak, avg(r.pm25) AS mean
FROM alerts a JOIN readings r
  ON r.sensor_id = a.sensors AND r.ts >= a.started_at AND r.ts <= a.resolved_at
GROUP BY 1, 2 ORDER BY 1",
        duckdb: None,
    },
    Bench {
        name: "Q5 NowCast over a day",
        sql: "WITH h AS (
  SELECT sensor_id, date_trunc('hour', ts) AS hour, avg(pm25) AS m FROM readings
  WHERE ts >= '2026-11-14T13:00:00Z' AND ts < '2026-11-16T00:00:00Z'
  GROUP BY 1, 2),
nc AS (
  SELECT sensor_id, hour, nowcast(m, hour) OVER (PARTITION BY sensor_id ORDER BY hour
    RANGE BETWEEN INTERVAL '11 hours' PRECEDING AND CURRENT ROW) AS nowcast
  FROM h)
SELECT count(*) AS hours, max(nowcast) AS peak, avg(nowcast) AS mean FROM nc
WHERE hour >= '2026-11-15T00:00:00Z'",
        // the NowCast written out: weights from the 12-hour range, 2 of 3 recent hours
        duckdb: Some(
            "WITH h AS (
  SELECT sensor_id, date_trunc('hour', ts) AS hour, avg(pm25) AS m FROM readings
  WHERE ts >= '2026-11-14T13:00:00Z' AND ts < '2026-11-16T00:00:00Z'
  GROUP BY 1, 2),
w AS (
  SELECT a.sensor_id, a.hour, b.m, CAST(epoch(a.hour - b.hour) / 3600 AS INT) AS age
  FROM h a JOIN h b ON a.sensor_id = b.sensor_id
    AND b.hour > a.hour - INTERVAL 12 HOUR AND b.hour <= a.hour
  WHERE a.hour >= '2026-11-15T00:00:00Z'),
s AS (
  SELECT sensor_id, hour, greatest(min(m) / max(m), 0.5) AS wf,
         count(*) FILTER (WHERE age < 3) AS recent
  FROM w GROUP BY 1, 2),
nc AS (
  SELECT w.sensor_id, w.hour,
    CASE WHEN s.recent >= 2 THEN floor(10 * sum(w.m * pow(s.wf, w.age)) / sum(pow(s.wf, w.age))) / 10 END AS nowcast
  FROM w JOIN s ON w.sensor_id = s.sensor_id AND w.hour = s.hour
  GROUP BY w.sensor_id, w.hour, s.recent)
SELECT count(*) AS hours, max(nowcast) AS peak, avg(nowcast) AS mean FROM nc",
        ),
    },
    Bench {
        name: "Q6 top-10 sensor-hours (episodes)",
        sql: "SELECT r.sensor_id, s.district, date_trunc('hour', r.ts) AS hour, avg(r.pm25) AS pm25
FROM readings r JOIN sensors s ON r.sensor_id = s.sensor_id
GROUP BY 1, 2, 3 ORDER BY pm25 DESC LIMIT 10",
        duckdb: None,
    },
    Bench {
        name: "Q7 one sensor, one week, hourly",
        sql: "SELECT date_trunc('hour', ts) AS hour, avg(pm25) AS pm25 FROM readings
WHERE sensor_id = 'S0123' AND ts >= '2026-11-10T00:00:00Z' AND ts < '2026-11-17T00:00:00Z'
GROUP BY 1 ORDER BY 1",
        duckdb: None,
    },
    Bench {
        name: "Q8 daily AQI per district (aggregates)",
        sql: "SELECT key AS district, date_trunc('day', window_start) AS day,
  aqi_cn('pm25', avg(pm25_mean), '24h') AS aqi
FROM aggregates WHERE scope = 'district' GROUP BY 1, 2 ORDER BY 1, 2",
        // HJ 633-2012 24-hour PM2.5 breakpoints, rounded up
        duckdb: Some(
            "SELECT district, day, CASE
    WHEN c <= 35 THEN ceil(50 * c / 35)
    WHEN c <= 75 THEN ceil(50 + 50 * (c - 35) / 40)
    WHEN c <= 115 THEN ceil(100 + 50 * (c - 75) / 40)
    WHEN c <= 150 THEN ceil(150 + 50 * (c - 115) / 35)
    WHEN c <= 250 THEN ceil(200 + 100 * (c - 150) / 100)
    WHEN c <= 350 THEN ceil(300 + 100 * (c - 250) / 100)
    WHEN c <= 500 THEN ceil(400 + 100 * (c - 350) / 150) END AS aqi
FROM (SELECT key AS district, date_trunc('day', window_start) AS day, avg(pm25_mean) AS c
      FROM aggregates WHERE scope = 'district' GROUP BY 1, 2)
ORDER BY 1, 2",
        ),
    },
];

struct Args {
    dir: PathBuf,
    shape: data::Shape,
    reps: usize,
    out: Option<PathBuf>,
    regenerate: bool,
    only: Option<String>,
}

fn args() -> Result<Args, Box<dyn Error>> {
    let mut a = Args {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-sql"),
        shape: data::Shape {
            sensors: 500,
            days: 30,
        },
        reps: 5,
        out: None,
        regenerate: false,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--dir" => a.dir = PathBuf::from(value()?),
            "--sensors" => a.shape.sensors = value()?.parse()?,
            "--days" => a.shape.days = value()?.parse()?,
            "--reps" => a.reps = value()?.parse()?,
            "--out" => a.out = Some(PathBuf::from(value()?)),
            "--regenerate" => a.regenerate = true,
            "--only" => a.only = Some(value()?),
            "--bench" => {}
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    // object_store wants an absolute path without `..`
    std::fs::create_dir_all(&a.dir)?;
    a.dir = a.dir.canonicalize()?;
    Ok(a)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Rows and the sum of the last column of a result.
fn digest(
    batches: &[datafusion::arrow::array::RecordBatch],
) -> Result<(usize, f64), Box<dyn Error>> {
    let mut rows = 0;
    let mut sum = 0.0;
    for b in batches {
        rows += b.num_rows();
        let last = cast(b.column(b.num_columns() - 1), &DataType::Float64)?;
        let last = last.as_primitive::<Float64Type>();
        sum += (0..last.len())
            .filter(|&i| !last.is_null(i))
            .map(|i| last.value(i))
            .sum::<f64>();
    }
    Ok((rows, sum))
}

struct DuckResult {
    median_s: f64,
    rows: usize,
    checksum: f64,
    version: String,
}

fn duckdb(dir: &Path, sql: &str, reps: usize) -> Result<DuckResult, Box<dyn Error>> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/sql/duckdb_runner.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(dir.join("history"))
        .arg(dir.join("sensors.csv"))
        .arg(reps.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(sql.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!("duckdb runner failed ({})", out.status).into());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let times: Vec<f64> = v["times"]
        .as_array()
        .ok_or("no times")?
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect();
    Ok(DuckResult {
        median_s: median(times),
        rows: v["rows"].as_u64().unwrap_or(0) as usize,
        checksum: v["checksum"].as_f64().unwrap_or(f64::NAN),
        version: v["version"].as_str().unwrap_or("?").to_string(),
    })
}

fn dir_size(p: &Path) -> (usize, u64) {
    let mut files = 0;
    let mut bytes = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                let (f, b) = dir_size(&path);
                files += f;
                bytes += b;
            } else if path.extension().is_some_and(|x| x == "parquet") {
                files += 1;
                bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    (files, bytes)
}

fn main() -> Result<(), Box<dyn Error>> {
    let a = args()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let marker = a.dir.join("shape.txt");
    let want = format!("sensors={} days={} v1", a.shape.sensors, a.shape.days);
    if a.regenerate || std::fs::read_to_string(&marker).ok().as_deref() != Some(want.as_str()) {
        let _ = std::fs::remove_dir_all(&a.dir);
        let t0 = Instant::now();
        let n = rt.block_on(data::generate(&a.dir, a.shape))?;
        std::fs::write(&marker, &want)?;
        eprintln!(
            "generated and compacted {n} readings in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
    }
    let (files, bytes) = dir_size(&a.dir.join("history"));
    let engine = rt.block_on(QueryEngine::new(&EngineOptions {
        sensors: Some(a.dir.join("sensors.csv")),
        tuning: EngineTuning::default(),
        limits: LimitsConfig {
            timeout_s: 600.0,
            memory_mb: 8192,
            max_rows: 10_000_000,
        },
        ..EngineOptions::local(a.dir.join("history"))
    }))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut table = String::new();
    let mut duck_version = String::new();
    table.push_str("| query | aqstream (DataFusion) | DuckDB | ratio | rows | same result |\n");
    table.push_str("|---|---:|---:|---:|---:|:---:|\n");
    for q in QUERIES {
        if a.only
            .as_ref()
            .is_some_and(|o| !q.name.contains(o.as_str()))
        {
            continue;
        }
        let run = || rt.block_on(engine.sql(q.sql));
        let (_, warm) = run()?;
        let (rows, sum) = digest(&warm)?;
        let mut times = Vec::new();
        for _ in 0..a.reps {
            let t0 = Instant::now();
            let r = run()?;
            times.push(t0.elapsed().as_secs_f64());
            drop(r);
        }
        let ours = median(times);
        let d = duckdb(&a.dir, q.duckdb.unwrap_or(q.sql), a.reps)?;
        duck_version = d.version.clone();
        let same = rows == d.rows && ((sum - d.checksum).abs() <= 1e-6 * sum.abs().max(1.0));
        let line = format!(
            "| {} | {:.3} s | {:.3} s | {:.2}× | {} | {} |\n",
            q.name,
            ours,
            d.median_s,
            ours / d.median_s,
            rows,
            if same { "yes" } else { "**no**" }
        );
        if !same {
            eprintln!(
                "{}: aqstream {rows} rows, sum {sum}; DuckDB {} rows, sum {}",
                q.name, d.rows, d.checksum
            );
        }
        eprint!("{line}");
        table.push_str(&line);
    }
    let header = format!(
        "{} sensors × {} days of per-minute readings ({} rows; {} Parquet files, {:.0} MiB), \
         {cores} cores; median of {} warm runs; DuckDB {duck_version} on the same files.\n\n",
        a.shape.sensors,
        a.shape.days,
        a.shape.sensors * a.shape.days * 1440,
        files,
        bytes as f64 / (1 << 20) as f64,
        a.reps,
    );
    let report = format!("{header}{table}");
    println!("{report}");
    if let Some(p) = &a.out {
        std::fs::write(p, &report)?;
    }
    Ok(())
}
