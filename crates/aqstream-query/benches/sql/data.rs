//! The benchmark's history: a month of per-minute readings of 500 sensors in 10
//! districts, their hourly aggregates and the alerts of local episodes. Deterministic
//! (a fixed-seed xorshift), written with the project's `HistoryWriter` in 6-hour files
//! the way the stream worker writes, then compacted.

use aqstream_history::{CompactOptions, HistoryStore, HistoryTable, HistoryWriter};
use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// 2026-11-01T00:00:00Z.
pub const START_MS: i64 = 1_793_491_200_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// Districts of the synthetic city.
pub const DISTRICTS: usize = 10;

/// Size of the data set.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Sensors.
    pub sensors: usize,
    /// Days from [`START_MS`].
    pub days: usize,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub fn sensor_id(i: usize) -> String {
    format!("S{:04}", i + 1)
}

pub fn district(i: usize) -> String {
    format!("D{:02}", i % DISTRICTS + 1)
}

/// `sensors.csv` of the city.
pub fn registry_csv(shape: Shape) -> String {
    let mut out = String::from("sensor_id,gateway_id,lat,lon,district,kind\n");
    for i in 0..shape.sensors {
        let (row, col) = (i / 25, i % 25);
        out.push_str(&format!(
            "{},gw-{},{:.5},{:.5},{},lowcost\n",
            sensor_id(i),
            district(i),
            39.85 + row as f64 * 0.004,
            116.60 + col as f64 * 0.005,
            district(i),
        ));
    }
    out
}

/// A local episode: a sensor 150 µg/m³ above its surroundings for a while.
#[derive(Debug, Clone)]
struct Episode {
    sensor: usize,
    start: i64,
    end: i64,
    extra: f64,
}

fn episodes(shape: Shape, day: usize) -> Vec<Episode> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((day as u64 + 1) * 0x2545_f491));
    (0..3)
        .map(|_| {
            let start = START_MS + day as i64 * DAY + (rng.unit() * 20.0) as i64 * HOUR;
            Episode {
                sensor: (rng.next() % shape.sensors as u64) as usize,
                start,
                end: start + (1 + rng.next() % 3) as i64 * HOUR,
                extra: 100.0 + rng.unit() * 100.0,
            }
        })
        .collect()
}

/// The regional PM2.5 at minute `t`: a daily cycle and multi-day haze.
fn regional(t: i64) -> f64 {
    let day = (t - START_MS) as f64 / DAY as f64;
    let cycle = (day * std::f64::consts::TAU).sin();
    let haze = 1.0 + 1.5 * ((day / 5.0 * std::f64::consts::TAU).sin().max(0.0));
    (35.0 + 15.0 * cycle) * haze
}

fn ts(v: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from(v).with_timezone("UTC"))
}

fn f64s(v: Vec<f64>) -> ArrayRef {
    Arc::new(Float64Array::from(v))
}

fn strings(v: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

/// (sensor, hour start, mean, min, max, pm10 mean, no2 mean, wind speed, wind from)
type Hour = (usize, i64, f64, f64, f64, f64, f64, f64, f64);

/// Readings of `[from, to)` for every sensor, and each sensor-hour's statistics.
struct Chunk {
    readings: RecordBatch,
    hours: Vec<Hour>,
}

fn chunk(shape: Shape, eps: &[Episode], from: i64, to: i64) -> Chunk {
    let n = shape.sensors * ((to - from) / MINUTE) as usize;
    let (mut id, mut gw, mut t, mut recv) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut pm25, mut pm10, mut no2, mut ws, mut wd) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut hours = Vec::new();
    for s in 0..shape.sensors {
        let mut rng = Rng(0x5851_f42d_4c95_7f2d ^ ((s as u64 + 1) << 20) ^ from as u64);
        let sid = sensor_id(s);
        let gid = format!("gw-{}", district(s));
        let offset = (s % DISTRICTS) as f64 * 3.0 + (s % 7) as f64;
        let mut acc = (0.0, f64::MAX, f64::MIN, 0.0, 0.0, 0.0, 0.0, 0.0, 0usize);
        let mut m = from;
        while m < to {
            let local: f64 = eps
                .iter()
                .filter(|e| e.sensor == s && (e.start..e.end).contains(&m))
                .map(|e| e.extra)
                .sum();
            let v = (regional(m) + offset + (rng.unit() - 0.5) * 10.0 + local).max(1.0);
            let phase = (m - START_MS) as f64 / (3.0 * DAY as f64) * std::f64::consts::TAU;
            let dir = (200.0 + 150.0 * phase.sin() + (rng.unit() - 0.5) * 40.0).rem_euclid(360.0);
            let speed = 3.0 + 2.0 * (phase * 1.7).cos() + rng.unit();
            let p10 = v * 1.6;
            let n2 = 30.0 + 10.0 * (phase * 3.0).sin() + rng.unit() * 5.0;
            id.push(sid.clone());
            gw.push(gid.clone());
            t.push(m);
            recv.push(m + 2_000);
            pm25.push(v);
            pm10.push(p10);
            no2.push(n2);
            ws.push(speed);
            wd.push(dir);
            let r = dir.to_radians();
            acc = (
                acc.0 + v,
                acc.1.min(v),
                acc.2.max(v),
                acc.3 + p10,
                acc.4 + n2,
                acc.5 + speed,
                acc.6 + speed * r.sin(),
                acc.7 + speed * r.cos(),
                acc.8 + 1,
            );
            m += MINUTE;
            if (m - START_MS) % HOUR == 0 {
                let c = acc.8 as f64;
                hours.push((
                    s,
                    m - HOUR,
                    acc.0 / c,
                    acc.1,
                    acc.2,
                    acc.3 / c,
                    acc.4 / c,
                    acc.5 / c,
                    acc.6.atan2(acc.7).to_degrees().rem_euclid(360.0),
                ));
                acc = (0.0, f64::MAX, f64::MIN, 0.0, 0.0, 0.0, 0.0, 0.0, 0);
            }
        }
    }
    let rows = t.len();
    let readings = RecordBatch::try_from_iter(vec![
        ("sensor_id", strings(id)),
        ("gateway_id", strings(gw)),
        ("ts", ts(t)),
        (
            "period_s",
            Arc::new(Int32Array::from(vec![60; rows])) as ArrayRef,
        ),
        ("pm25", f64s(pm25)),
        ("pm10", f64s(pm10)),
        ("no2", f64s(no2)),
        ("wind_speed", f64s(ws)),
        ("wind_dir", f64s(wd)),
        ("received_at", ts(recv)),
        (
            "invalid_mask",
            Arc::new(Int32Array::from(vec![0; rows])) as ArrayRef,
        ),
    ])
    .expect("readings batch");
    Chunk { readings, hours }
}

/// Hourly sensor rows and hourly district means.
fn aggregates(hours: &[Hour]) -> RecordBatch {
    let mut rows: Vec<(String, String, Option<String>, String, Hour)> = hours
        .iter()
        .map(|h| {
            (
                "sensor".into(),
                sensor_id(h.0),
                Some(sensor_id(h.0)),
                district(h.0),
                *h,
            )
        })
        .collect();
    let mut by_district: std::collections::BTreeMap<(usize, i64), (Hour, usize)> =
        Default::default();
    for h in hours {
        let e = by_district.entry((h.0 % DISTRICTS, h.1)).or_insert((
            (
                h.0 % DISTRICTS,
                h.1,
                0.0,
                f64::MAX,
                f64::MIN,
                0.0,
                0.0,
                0.0,
                0.0,
            ),
            0,
        ));
        e.0.2 += h.2;
        e.0.3 = e.0.3.min(h.3);
        e.0.4 = e.0.4.max(h.4);
        e.0.5 += h.5;
        e.0.6 += h.6;
        e.0.7 += h.7;
        e.0.8 = h.8;
        e.1 += 1;
    }
    for ((d, _), (h, n)) in by_district {
        let c = n as f64;
        let h = (h.0, h.1, h.2 / c, h.3, h.4, h.5 / c, h.6 / c, h.7 / c, h.8);
        rows.push(("district".into(), district(d), None, district(d), h));
    }
    let col_f = |f: fn(&Hour) -> f64| f64s(rows.iter().map(|r| f(&r.4)).collect());
    let n = rows.len();
    RecordBatch::try_from_iter(vec![
        ("scope", strings(rows.iter().map(|r| r.0.clone()).collect())),
        ("key", strings(rows.iter().map(|r| r.1.clone()).collect())),
        (
            "sensor_id",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "district",
            strings(rows.iter().map(|r| r.3.clone()).collect()),
        ),
        ("window", strings(vec!["1h".to_string(); n])),
        ("window_start", ts(rows.iter().map(|r| r.4.1).collect())),
        (
            "window_end",
            ts(rows.iter().map(|r| r.4.1 + HOUR).collect()),
        ),
        ("pm25_mean", col_f(|h| h.2)),
        ("pm25_min", col_f(|h| h.3)),
        ("pm25_max", col_f(|h| h.4)),
        (
            "pm25_count",
            Arc::new(Int64Array::from(vec![60; n])) as ArrayRef,
        ),
        ("valid_fraction", f64s(vec![1.0; n])),
        ("pm10_mean", col_f(|h| h.5)),
        ("no2_mean", col_f(|h| h.6)),
        ("wind_speed_mean", col_f(|h| h.7)),
        ("wind_from_deg", col_f(|h| h.8)),
        (
            "revision",
            Arc::new(Int32Array::from(vec![0; n])) as ArrayRef,
        ),
        (
            "emitted_at",
            ts(rows.iter().map(|r| r.4.1 + HOUR + 60_000).collect()),
        ),
    ])
    .expect("aggregates batch")
}

fn alerts(eps: &[Episode]) -> RecordBatch {
    let n = eps.len();
    let id = |e: &Episode| format!("alert-{}-{}", e.start / MINUTE, sensor_id(e.sensor));
    RecordBatch::try_from_iter(vec![
        ("alert_id", strings(eps.iter().map(id).collect())),
        ("state", strings(vec!["resolved".into(); n])),
        ("pollutant", strings(vec!["pm25".into(); n])),
        (
            "district",
            strings(eps.iter().map(|e| district(e.sensor)).collect()),
        ),
        ("started_at", ts(eps.iter().map(|e| e.start).collect())),
        (
            "detected_at",
            ts(eps.iter().map(|e| e.start + 10 * MINUTE).collect()),
        ),
        (
            "resolved_at",
            ts(eps.iter().map(|e| e.end + 15 * MINUTE).collect()),
        ),
        ("source_type", strings(vec!["construction".into(); n])),
        ("confidence", f64s(vec![0.7; n])),
        (
            "peak_ugm3",
            f64s(eps.iter().map(|e| e.extra + 60.0).collect()),
        ),
        (
            "sensors",
            strings(eps.iter().map(|e| sensor_id(e.sensor)).collect()),
        ),
    ])
    .expect("alerts batch")
}

/// Writes the history into `dir/history` and the registry to `dir/sensors.csv`, then
/// compacts; returns the number of readings.
pub async fn generate(dir: &Path, shape: Shape) -> Result<usize, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("sensors.csv"), registry_csv(shape))?;
    let store = HistoryStore::local(&dir.join("history"))?;
    let writer = HistoryWriter::new(store.clone());
    let mut total = 0;
    for day in 0..shape.days {
        let eps = episodes(shape, day);
        let mut hours = Vec::new();
        for quarter in 0..4 {
            let from = START_MS + day as i64 * DAY + quarter * 6 * HOUR;
            let c = chunk(shape, &eps, from, from + 6 * HOUR);
            total += c.readings.num_rows();
            writer.append(HistoryTable::Readings, &c.readings).await?;
            hours.extend(c.hours);
        }
        writer
            .append(HistoryTable::Aggregates, &aggregates(&hours))
            .await?;
        writer.append(HistoryTable::Alerts, &alerts(&eps)).await?;
    }
    let report = aqstream_history::compact(
        &store,
        &CompactOptions {
            tables: HistoryTable::ALL.to_vec(),
            min_age: Duration::ZERO,
            min_files: 2,
            max_rows_per_file: 8 << 20,
            from: None,
            to: None,
            dry_run: false,
        },
    )
    .await?;
    eprintln!(
        "compacted {} partitions ({} files in, {} files out)",
        report.partitions.len(),
        report.partitions.iter().map(|p| p.files_in).sum::<usize>(),
        report.partitions.iter().map(|p| p.files_out).sum::<usize>(),
    );
    Ok(total)
}
