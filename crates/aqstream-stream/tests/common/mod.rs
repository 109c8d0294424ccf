//! Test support: a deterministic synthetic city, JSON lines of its readings, and
//! reading the history back through the query engine.
#![allow(dead_code, clippy::print_stderr)]

use aqstream_query::{EngineOptions, QueryEngine};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int32Type, Int64Type, TimestampMillisecondType};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// 2026-11-22T00:00:00Z.
pub const T0: i64 = 1_795_305_600_000;
/// One minute.
pub const MIN: i64 = 60_000;
/// One hour.
pub const HOUR: i64 = 3_600_000;

/// A small deterministic PRNG (splitmix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A sensors.csv of `n` low-cost sensors spread over `districts` districts (sensor
/// `S000`…), about 300 m apart on a grid, plus one met station per district.
pub fn registry_csv(n: usize, districts: usize) -> String {
    let mut s = String::from("sensor_id,gateway_id,lat,lon,district,kind\n");
    for i in 0..n {
        let d = i % districts;
        let (row, col) = (i / 10, i % 10);
        let _ = writeln!(
            s,
            "S{i:03},gw-{d},{:.5},{:.5},D{d},lowcost",
            39.90 + row as f64 * 0.003,
            116.60 + col as f64 * 0.004
        );
    }
    for d in 0..districts {
        let _ = writeln!(s, "MET{d},gw-{d},39.91,116.61,D{d},met");
    }
    s
}

/// A reading as a gateway JSON line.
pub fn line(sensor: &str, ts: i64, pm25: Option<f64>, pm10: Option<f64>) -> String {
    let mut s = format!(
        "{{\"sensor_id\":\"{sensor}\",\"ts\":\"{}\"",
        aqstream_core::time::format_rfc3339(ts)
    );
    if let Some(v) = pm25 {
        let _ = write!(s, ",\"pm25\":{v}");
    }
    if let Some(v) = pm10 {
        let _ = write!(s, ",\"pm10\":{v}");
    }
    s.push('}');
    s
}

/// A met station's reading.
pub fn met_line(sensor: &str, ts: i64, speed: f64, from: f64) -> String {
    format!(
        "{{\"sensor_id\":\"{sensor}\",\"ts\":\"{}\",\"wind_speed\":{speed},\"wind_dir\":{from},\"temp_c\":3.5}}",
        aqstream_core::time::format_rfc3339(ts)
    )
}

/// The PM2.5 of sensor `i` at minute `m` (a smooth field plus noise), 0.1 resolution.
pub fn pm(i: usize, m: i64, rng: &mut Rng) -> f64 {
    let base = 60.0 + 30.0 * ((m as f64) / 37.0 + i as f64 * 0.7).sin() + i as f64 * 0.5;
    ((base + rng.f64() * 4.0) * 10.0).round() / 10.0
}

/// Runs a SQL query over a history directory through the query engine.
pub fn sql(history: &Path, q: &str) -> Vec<RecordBatch> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = QueryEngine::new(&EngineOptions::local(history))
            .await
            .unwrap();
        engine.sql(q).await.unwrap().1
    })
}

/// One aggregate row read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Agg {
    pub mean: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub count: i64,
    pub valid_fraction: f64,
    pub revision: i32,
    pub nowcast: Option<f64>,
    pub pm10: Option<f64>,
}

/// Every aggregate row: (scope, key, window, window_start) → rows by revision.
pub fn aggregates(history: &Path) -> BTreeMap<(String, String, String, i64), Vec<Agg>> {
    let q = "SELECT scope, key, \"window\", window_start, pm25_mean, pm25_min, pm25_max, \
             pm25_count, valid_fraction, revision, nowcast_pm25, pm10_mean FROM aggregates";
    let mut out: BTreeMap<_, Vec<Agg>> = BTreeMap::new();
    for b in sql(history, q) {
        let s = |i: usize| b.column(i).as_string::<i32>().clone();
        let f = |i: usize| b.column(i).as_primitive::<Float64Type>().clone();
        let (scope, key, window) = (s(0), s(1), s(2));
        let start = b
            .column(3)
            .as_primitive::<TimestampMillisecondType>()
            .clone();
        let (mean, min, max) = (f(4), f(5), f(6));
        let count = b.column(7).as_primitive::<Int64Type>().clone();
        let vf = f(8);
        let rev = b.column(9).as_primitive::<Int32Type>().clone();
        let (nowcast, pm10) = (f(10), f(11));
        let opt = |a: &datafusion::arrow::array::Float64Array, i: usize| {
            a.is_valid(i).then(|| a.value(i))
        };
        for i in 0..b.num_rows() {
            out.entry((
                scope.value(i).to_string(),
                key.value(i).to_string(),
                window.value(i).to_string(),
                start.value(i),
            ))
            .or_default()
            .push(Agg {
                mean: opt(&mean, i),
                min: opt(&min, i),
                max: opt(&max, i),
                count: count.value(i),
                valid_fraction: vf.value(i),
                revision: rev.value(i),
                nowcast: opt(&nowcast, i),
                pm10: opt(&pm10, i),
            });
        }
    }
    for v in out.values_mut() {
        v.sort_by_key(|a| a.revision);
    }
    out
}

/// The latest revision of every window.
pub fn latest(history: &Path) -> BTreeMap<(String, String, String, i64), Agg> {
    aggregates(history)
        .into_iter()
        .map(|(k, v)| (k, v.last().cloned().unwrap()))
        .collect()
}

/// Relative closeness of two floats.
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}
