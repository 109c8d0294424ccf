//! A small city and its history, written with the real schemas: 30 sensors in five
//! districts around Tongzhou, 30 hours of aggregates, one active and one resolved alert.
//! Every value is a formula, so tests know what the pages must show.

use aqstream_core::alert::{Alert, AlertState, SourceEstimate, SourceType, Wind};
use aqstream_core::aqi::{Period, Pollutant, cn, us};
use aqstream_core::arrow::{UTC, aggregates_schema, alerts_schema, readings_to_batch};
use aqstream_core::geo::haversine_m;
use aqstream_core::measure::Measure;
use aqstream_core::reading::Reading;
use aqstream_core::time::{HOUR_MS, MINUTE_MS, parse_rfc3339};
use aqstream_history::{HistoryStore, HistoryTable, HistoryWriter};
use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The newest data: the end of the last 5-minute window.
pub const AS_OF: &str = "2026-11-22T10:00:00Z";
/// The active alert.
pub const ACTIVE_ID: &str = "a-20261122-0007";
/// The resolved alert (the day before).
pub const RESOLVED_ID: &str = "a-20261121-0003";
/// The active alert's source.
pub const SOURCE: (f64, f64) = (39.9071, 116.6612);
/// Onset of the active episode.
pub const ONSET: &str = "2026-11-22T08:03:00Z";

/// One sensor of the fixture.
#[derive(Debug, Clone)]
pub struct Sensor {
    pub id: String,
    pub district: &'static str,
    pub kind: &'static str,
    pub lat: f64,
    pub lon: f64,
    pub base: f64,
}

pub fn as_of() -> i64 {
    parse_rfc3339(AS_OF).unwrap()
}

fn onset() -> i64 {
    parse_rfc3339(ONSET).unwrap()
}

/// Sensors on a 6 × 5 grid, ~1.1 km apart; the districts are the grid's quarters and
/// centre; the corner sensors measure only weather.
pub fn sensors() -> Vec<Sensor> {
    let mut out = Vec::new();
    for row in 0..5 {
        for col in 0..6 {
            let n = row * 6 + col + 1;
            let lat = 39.880 + 0.01 * row as f64;
            let lon = 116.630 + 0.013 * col as f64;
            let district = if (1..=3).contains(&row) && (2..=3).contains(&col) {
                "Tongzhou-Center"
            } else if row >= 3 && col < 3 {
                "Tongzhou-North"
            } else if row >= 3 {
                "Tongzhou-East"
            } else if col < 3 {
                "Tongzhou-West"
            } else {
                "Tongzhou-South"
            };
            let kind = match n {
                1 | 30 => "met",
                15 => "reference",
                _ => "lowcost",
            };
            out.push(Sensor {
                id: format!("TZ-{n:04}"),
                district,
                kind,
                lat,
                lon,
                base: 30.0 + (n % 7) as f64 * 6.0,
            });
        }
    }
    out
}

/// PM2.5 of a sensor at time `t` (µg/m³): its base, a slow daily swing and, after the
/// onset, the plume of the active source (decaying over ~600 m).
pub fn pm25(s: &Sensor, t: i64) -> Option<f64> {
    if s.kind == "met" {
        return None;
    }
    let hours = (t as f64) / HOUR_MS as f64;
    let mut v = s.base + 8.0 * (hours * std::f64::consts::TAU / 24.0).sin();
    if t >= onset() {
        let d = haversine_m(SOURCE.0, SOURCE.1, s.lat, s.lon);
        v += 180.0 * (-d / 600.0).exp();
    }
    Some((v * 10.0).round() / 10.0)
}

/// Mean of [`pm25`] over the minutes of `[start, start + len)`.
pub fn mean(s: &Sensor, start: i64, len: i64) -> Option<f64> {
    let n = len / MINUTE_MS;
    let v: Vec<f64> = (0..n)
        .filter_map(|i| pm25(s, start + (i + 1) * MINUTE_MS))
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

pub fn aqi_cn(c: f64) -> u32 {
    cn::iaqi(Pollutant::Pm25, Period::H1, c).unwrap()
}

pub fn aqi_us(c: f64) -> u32 {
    us::aqi(Pollutant::Pm25, None, c).unwrap()
}

/// The registry as `sensors.csv`.
pub fn sensors_csv() -> String {
    let mut s = String::from("sensor_id,gateway_id,lat,lon,district,kind\n");
    for x in sensors() {
        s.push_str(&format!(
            "{},gw-{},{:.4},{:.4},{},{}\n",
            x.id,
            x.district.to_lowercase(),
            x.lat,
            x.lon,
            x.district,
            x.kind
        ));
    }
    s
}

#[derive(Default)]
struct Aggs {
    scope: StringBuilder,
    key: StringBuilder,
    sensor_id: StringBuilder,
    district: StringBuilder,
    window: StringBuilder,
    start: TimestampMillisecondBuilder,
    end: TimestampMillisecondBuilder,
    mean: Float64Builder,
    count: Int64Builder,
    wind_speed: Float64Builder,
    wind_from: Float64Builder,
    aqi_cn: Int32Builder,
    aqi_us: Int32Builder,
    nowcast: Float64Builder,
    revision: Int32Builder,
    emitted: TimestampMillisecondBuilder,
}

impl Aggs {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        scope: &str,
        key: &str,
        sensor: Option<&str>,
        district: &str,
        window: &str,
        start: i64,
        len: i64,
        v: Option<f64>,
        revision: i32,
    ) {
        self.scope.append_value(scope);
        self.key.append_value(key);
        self.sensor_id.append_option(sensor);
        self.district.append_value(district);
        self.window.append_value(window);
        self.start.append_value(start);
        self.end.append_value(start + len);
        self.mean.append_option(v);
        self.count.append_value(v.map_or(0, |_| len / MINUTE_MS));
        self.wind_speed.append_value(2.4);
        self.wind_from.append_value(270.0);
        let hourly = window == "1h" || window == "24h";
        self.aqi_cn
            .append_option(v.filter(|_| hourly).map(|c| aqi_cn(c) as i32));
        self.aqi_us
            .append_option(v.filter(|_| hourly).map(|c| aqi_us(c) as i32));
        self.nowcast
            .append_option(v.filter(|_| window == "1h" && scope == "sensor"));
        self.revision.append_value(revision);
        self.emitted.append_value(start + len + MINUTE_MS);
    }

    fn finish(mut self) -> RecordBatch {
        let schema = aggregates_schema();
        let n = self.scope.len();
        let nulls = |n: usize| -> ArrayRef {
            let mut b = Float64Builder::new();
            b.append_nulls(n);
            Arc::new(b.finish())
        };
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.scope.finish()),
            Arc::new(self.key.finish()),
            Arc::new(self.sensor_id.finish()),
            Arc::new(self.district.finish()),
            Arc::new(self.window.finish()),
            Arc::new(self.start.finish().with_timezone(UTC)),
            Arc::new(self.end.finish().with_timezone(UTC)),
            Arc::new(self.mean.finish()),
            nulls(n),
            nulls(n),
            Arc::new(self.count.finish()),
            Arc::new(Float64Builder::new().finish_with(n, 1.0)),
            nulls(n),
            nulls(n),
            nulls(n),
            nulls(n),
            nulls(n),
            Arc::new(self.wind_speed.finish()),
            Arc::new(self.wind_from.finish()),
            Arc::new(self.aqi_cn.finish()),
            Arc::new(self.aqi_us.finish()),
            Arc::new(self.nowcast.finish()),
            Arc::new(self.revision.finish()),
            Arc::new(self.emitted.finish().with_timezone(UTC)),
        ];
        RecordBatch::try_new(schema, cols).unwrap()
    }
}

trait FinishWith {
    fn finish_with(self, n: usize, v: f64) -> ArrayRef;
}

impl FinishWith for Float64Builder {
    fn finish_with(mut self, n: usize, v: f64) -> ArrayRef {
        for _ in 0..n {
            self.append_value(v);
        }
        Arc::new(self.finish())
    }
}

/// Aggregates: 1-minute windows over the last 4 h, 5-minute over 3 h, hourly over 30 h
/// (the newest hour also as revision 0 with a wrong value, superseded by revision 1),
/// and district 5-minute means.
pub fn aggregates() -> RecordBatch {
    let t = as_of();
    let mut a = Aggs::default();
    let all = sensors();
    for s in &all {
        for (window, len, span) in [
            ("1m", MINUTE_MS, 4 * HOUR_MS),
            ("5m", 5 * MINUTE_MS, 3 * HOUR_MS),
            ("1h", HOUR_MS, 30 * HOUR_MS),
        ] {
            let mut start = t - span;
            while start < t {
                let v = mean(s, start, len);
                if window == "1h" && start == t - HOUR_MS {
                    a.push(
                        "sensor",
                        &s.id,
                        Some(&s.id),
                        s.district,
                        window,
                        start,
                        len,
                        v.map(|x| x + 500.0),
                        0,
                    );
                }
                let rev = if window == "1h" && start == t - HOUR_MS {
                    1
                } else {
                    0
                };
                a.push(
                    "sensor",
                    &s.id,
                    Some(&s.id),
                    s.district,
                    window,
                    start,
                    len,
                    v,
                    rev,
                );
                start += len;
            }
        }
    }
    let mut districts: Vec<&str> = all.iter().map(|s| s.district).collect();
    districts.sort();
    districts.dedup();
    for d in districts {
        let mut start = t - 3 * HOUR_MS;
        while start < t {
            let v: Vec<f64> = all
                .iter()
                .filter(|s| s.district == d)
                .filter_map(|s| mean(s, start, 5 * MINUTE_MS))
                .collect();
            let m = (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
            a.push("district", d, None, d, "5m", start, 5 * MINUTE_MS, m, 0);
            start += 5 * MINUTE_MS;
        }
    }
    a.finish()
}

/// The sensors that see the active episode (more than 40 µg/m³ above their base).
pub fn episode_sensors() -> Vec<String> {
    sensors()
        .into_iter()
        .filter(|s| {
            s.kind != "met"
                && 180.0 * (-haversine_m(SOURCE.0, SOURCE.1, s.lat, s.lon) / 600.0).exp() > 40.0
        })
        .map(|s| s.id)
        .collect()
}

pub fn alerts() -> Vec<Alert> {
    let t = as_of();
    let firing = Alert {
        alert_id: ACTIVE_ID.into(),
        state: AlertState::Firing,
        pollutant: "pm25".into(),
        district: "Tongzhou-Center".into(),
        started_at: onset(),
        detected_at: onset() + 3 * MINUTE_MS,
        resolved_at: None,
        source: Some(SourceEstimate {
            lat: 39.9080,
            lon: 116.6600,
            uncertainty_m: 420.0,
        }),
        source_type: SourceType::Combustion,
        confidence: 0.55,
        peak_ugm3: 150.0,
        sensors: episode_sensors(),
        wind: Some(Wind {
            speed_ms: 2.4,
            from_deg: 270.0,
        }),
    };
    let updated = Alert {
        state: AlertState::Updated,
        source: Some(SourceEstimate {
            lat: SOURCE.0,
            lon: SOURCE.1,
            uncertainty_m: 180.0,
        }),
        confidence: 0.82,
        peak_ugm3: 312.4,
        ..firing.clone()
    };
    let old_start = t - 26 * HOUR_MS;
    let old = Alert {
        alert_id: RESOLVED_ID.into(),
        state: AlertState::Firing,
        pollutant: "pm25".into(),
        district: "Tongzhou-West".into(),
        started_at: old_start,
        detected_at: old_start + 4 * MINUTE_MS,
        resolved_at: None,
        source: Some(SourceEstimate {
            lat: 39.8905,
            lon: 116.6420,
            uncertainty_m: 350.0,
        }),
        source_type: SourceType::Dust,
        confidence: 0.64,
        peak_ugm3: 188.0,
        sensors: vec!["TZ-0008".into(), "TZ-0009".into()],
        wind: Some(Wind {
            speed_ms: 3.1,
            from_deg: 20.0,
        }),
    };
    let resolved = Alert {
        state: AlertState::Resolved,
        resolved_at: Some(old_start + 2 * HOUR_MS),
        ..old.clone()
    };
    vec![old, resolved, firing, updated]
}

fn alerts_batch(alerts: &[Alert]) -> RecordBatch {
    let mut id = StringBuilder::new();
    let mut state = StringBuilder::new();
    let mut pollutant = StringBuilder::new();
    let mut district = StringBuilder::new();
    let mut started = TimestampMillisecondBuilder::new();
    let mut detected = TimestampMillisecondBuilder::new();
    let mut resolved = TimestampMillisecondBuilder::new();
    let (mut lat, mut lon, mut unc) = (
        Float64Builder::new(),
        Float64Builder::new(),
        Float64Builder::new(),
    );
    let mut stype = StringBuilder::new();
    let (mut conf, mut peak) = (Float64Builder::new(), Float64Builder::new());
    let mut sensors = StringBuilder::new();
    let (mut ws, mut wd) = (Float64Builder::new(), Float64Builder::new());
    for a in alerts {
        id.append_value(&a.alert_id);
        state.append_value(a.state.as_str());
        pollutant.append_value(&a.pollutant);
        district.append_value(&a.district);
        started.append_value(a.started_at);
        detected.append_value(a.detected_at);
        resolved.append_option(a.resolved_at);
        lat.append_option(a.source.map(|s| s.lat));
        lon.append_option(a.source.map(|s| s.lon));
        unc.append_option(a.source.map(|s| s.uncertainty_m));
        stype.append_value(a.source_type.as_str());
        conf.append_value(a.confidence);
        peak.append_value(a.peak_ugm3);
        sensors.append_value(a.sensors.join(","));
        ws.append_option(a.wind.map(|w| w.speed_ms));
        wd.append_option(a.wind.map(|w| w.from_deg));
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(state.finish()),
        Arc::new(pollutant.finish()),
        Arc::new(district.finish()),
        Arc::new(started.finish().with_timezone(UTC)),
        Arc::new(detected.finish().with_timezone(UTC)),
        Arc::new(resolved.finish().with_timezone(UTC)),
        Arc::new(lat.finish()),
        Arc::new(lon.finish()),
        Arc::new(unc.finish()),
        Arc::new(stype.finish()),
        Arc::new(conf.finish()),
        Arc::new(peak.finish()),
        Arc::new(sensors.finish()),
        Arc::new(ws.finish()),
        Arc::new(wd.finish()),
    ];
    RecordBatch::try_new(alerts_schema(), cols).unwrap()
}

/// A history directory and registry on disk.
pub struct City {
    pub dir: tempfile::TempDir,
    pub history: PathBuf,
    pub sensors_csv: PathBuf,
}

/// Writes the fixture city's history and registry into a new temporary directory.
pub async fn write_city() -> City {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");
    let sensors_csv = dir.path().join("sensors.csv");
    std::fs::write(&sensors_csv, sensors_csv_text()).unwrap();
    let w = HistoryWriter::new(HistoryStore::local(&history).unwrap());
    w.append(HistoryTable::Aggregates, &aggregates())
        .await
        .unwrap();
    w.append(HistoryTable::Alerts, &alerts_batch(&alerts()))
        .await
        .unwrap();
    w.append(HistoryTable::Readings, &readings()).await.unwrap();
    City {
        dir,
        history,
        sensors_csv,
    }
}

/// Minute readings of every sensor over the last two hours.
pub fn readings() -> RecordBatch {
    let t = as_of();
    let mut out = Vec::new();
    for s in sensors() {
        for i in 0..120 {
            let ts = t - i * MINUTE_MS;
            let mut r = Reading::new(s.id.clone(), ts, 60);
            r.gateway_id = format!("gw-{}", s.district.to_lowercase());
            r.set(Measure::Pm25, pm25(&s, ts));
            r.set(Measure::Pm10, pm25(&s, ts).map(|v| v * 1.6));
            r.set(Measure::WindSpeed, Some(2.4));
            r.set(Measure::WindDir, Some(270.0));
            r.received_at = Some(ts + 2_000);
            out.push(r);
        }
    }
    readings_to_batch(&out)
}

fn sensors_csv_text() -> String {
    sensors_csv()
}

/// The repository root.
pub fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}
