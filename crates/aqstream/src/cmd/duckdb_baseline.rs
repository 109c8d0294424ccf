//! The DuckDB baselines of `aqstream bench replay`, run as Python scripts on the
//! very file the replay read, in the same run.
//!
//! Two baselines, because they answer different questions:
//! * **aggregates**: DuckDB computing the 1-minute and 1-hour PM2.5 aggregates per
//!   sensor from the file, nothing written (the baseline the stream worker's
//!   throughput target is set against);
//! * **history**: DuckDB producing what the replay produces from the same file, as
//!   far as SQL goes: the deduplicated readings and the 1m/5m/1h/24h sensor and
//!   district aggregates of the file's measures, written as zstd Parquet partitioned
//!   by date (no QA, AQI, NowCast or revisions, which the replay also does).

use anyhow::Context as _;
use std::fmt::Write as _;
use std::path::Path;

const AGGREGATES_SCRIPT: &str = r#"
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

/// The history baseline. Sensor-minute partials (sums, counts, extremes) are
/// computed once; the longer sensor windows roll up from them and the district
/// windows average their means, as the stream worker does (computing each window
/// from the readings measured slower).
const HISTORY_SCRIPT: &str = r#"
import sys, time, os, shutil
import duckdb
path, reg, out = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.rmtree(out, ignore_errors=True)
os.makedirs(out)
con = duckdb.connect()
con.execute("PRAGMA threads=2")
t = time.time()
con.execute(f"""CREATE TABLE f AS SELECT DISTINCT ON (r.sensor_id, r.ts) r.sensor_id, s.district,
  CAST(r.ts AS TIMESTAMPTZ) AS ts, r.pm25, r.pm10, r.no2
  FROM read_json('{path}', format='newline_delimited',
    columns={{'sensor_id':'VARCHAR','ts':'VARCHAR','pm25':'DOUBLE','pm10':'DOUBLE','no2':'DOUBLE'}}) r
  JOIN read_csv('{reg}', header=true) s USING (sensor_id)""")
load = time.time() - t
t = time.time()
con.execute(f"""COPY (SELECT *, CAST(ts AS DATE) AS date FROM f ORDER BY sensor_id, ts)
  TO '{out}/readings' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (date))""")
readings = time.time() - t
t = time.time()
con.execute("""CREATE TABLE m AS SELECT sensor_id, any_value(district) AS district,
  time_bucket(INTERVAL '1 minute', ts - INTERVAL '1 millisecond') AS ws,
  sum(pm25) AS s25, count(pm25) AS c25, min(pm25) AS lo, max(pm25) AS hi,
  sum(pm10) AS s10, count(pm10) AS c10, sum(no2) AS sn, count(no2) AS cn
  FROM f GROUP BY sensor_id, ws""")
minute = """SELECT 'sensor' AS scope, sensor_id AS key, district, '1m' AS window,
  ws AS window_start, s25 / c25 AS pm25_mean, lo AS pm25_min, hi AS pm25_max,
  c25 AS pm25_count, s10 / c10 AS pm10_mean, sn / cn AS no2_mean FROM m"""
sensor = """SELECT 'sensor', sensor_id, any_value(district), '{n}', time_bucket(INTERVAL '{w}', ws),
  sum(s25) / sum(c25), min(lo), max(hi), sum(c25), sum(s10) / sum(c10), sum(sn) / sum(cn)
  FROM m GROUP BY sensor_id, time_bucket(INTERVAL '{w}', ws)"""
district = """SELECT 'district', district, district, '{n}', time_bucket(INTERVAL '{w}', ws),
  avg(s25 / c25), min(s25 / c25), max(s25 / c25), count(s25 / c25), avg(s10 / c10),
  avg(sn / cn) FROM m GROUP BY district, time_bucket(INTERVAL '{w}', ws)"""
wins = [('1m', '1 minute'), ('5m', '5 minutes'), ('1h', '1 hour'), ('24h', '1 day')]
q = " UNION ALL ".join([minute] + [sensor.format(n=n, w=w) for n, w in wins[1:]]
                       + [district.format(n=n, w=w) for n, w in wins])
con.execute(f"""COPY (SELECT *, CAST(window_start AS DATE) AS date FROM ({q}))
  TO '{out}/aggregates' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (date))""")
agg = time.time() - t
n = con.execute(f"SELECT count(*) FROM read_parquet('{out}/aggregates/*/*.parquet')").fetchone()[0]
print(f"{load:.3f} {readings:.3f} {agg:.3f} {n}")
"#;

/// Runs `script` with `args` under `python3`; its first output line split into
/// fields, or why it did not run.
fn run_script(dir: &Path, name: &str, script: &str, args: &[&Path]) -> anyhow::Result<Vec<f64>> {
    let path = dir.join(name);
    std::fs::write(&path, script)?;
    let o = std::process::Command::new("python3")
        .arg(&path)
        .args(args)
        .output();
    let _ = std::fs::remove_file(&path);
    let o = o.context("run python3")?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        anyhow::bail!("{}", err.lines().last().unwrap_or(""));
    }
    let line = String::from_utf8_lossy(&o.stdout);
    line.split_whitespace()
        .map(|f| {
            f.parse()
                .with_context(|| format!("DuckDB script printed {line:?}"))
        })
        .collect()
}

/// One Markdown row of the result table.
fn row(out: &mut String, work: &str, secs: f64, n: u64) {
    let _ = writeln!(
        out,
        "| DuckDB | {work} | {secs:.2} | {:.0} |",
        n as f64 / secs
    );
}

/// Runs both baselines on `input` (`n` readings; `registry` is the sensor registry
/// CSV) in `dir` and appends their rows to the table in `out`; the ratio of the
/// replay's `secs` to each baseline's total goes to `ratios`. A baseline that cannot
/// run (DuckDB not installed) is reported as such.
pub fn run(
    dir: &Path,
    input: &Path,
    registry: &Path,
    n: u64,
    secs: f64,
    out: &mut String,
    ratios: &mut String,
) {
    match run_script(dir, "bench-duckdb.py", AGGREGATES_SCRIPT, &[input]) {
        Ok(f) if f.len() == 4 => {
            let (load, agg) = (f[0], f[1]);
            row(out, "read JSON lines into a table", load, n);
            let work = format!(
                "dedup + 1-min and 1-h sensor aggregates from the table ({} + {} rows)",
                f[2], f[3]
            );
            row(out, &work, agg, n);
            row(out, "both (file → the same aggregates)", load + agg, n);
            let _ = writeln!(
                ratios,
                "throughput, aqstream replay ÷ DuckDB aggregates: {:.2}x",
                (load + agg) / secs
            );
        }
        Ok(f) => {
            let _ = writeln!(
                ratios,
                "DuckDB aggregates baseline: unexpected output {f:?}"
            );
        }
        Err(e) => {
            let _ = writeln!(
                ratios,
                "DuckDB baselines not run: {e} (install DuckDB with `pip install duckdb`)"
            );
            return;
        }
    }
    let out_dir = dir.join("bench-duckdb-history");
    match run_script(
        dir,
        "bench-duckdb-history.py",
        HISTORY_SCRIPT,
        &[input, registry, &out_dir],
    ) {
        Ok(f) if f.len() == 4 => {
            let (load, readings, agg) = (f[0], f[1], f[2]);
            row(
                out,
                "history: read JSON, dedup, district from the registry",
                load,
                n,
            );
            row(
                out,
                "history: readings → zstd Parquet by date, sorted",
                readings,
                n,
            );
            let work = format!(
                "history: 1m/5m/1h/24h sensor + district aggregates → zstd Parquet ({} rows)",
                f[3]
            );
            row(out, &work, agg, n);
            let total = load + readings + agg;
            row(
                out,
                "history: all (file → the same history, no QA/AQI/NowCast)",
                total,
                n,
            );
            let _ = writeln!(
                ratios,
                "throughput, aqstream replay ÷ DuckDB history: {:.2}x",
                total / secs
            );
        }
        Ok(f) => {
            let _ = writeln!(ratios, "DuckDB history baseline: unexpected output {f:?}");
        }
        Err(e) => {
            let _ = writeln!(ratios, "DuckDB history baseline failed: {e}");
        }
    }
    let _ = std::fs::remove_dir_all(&out_dir);
}
