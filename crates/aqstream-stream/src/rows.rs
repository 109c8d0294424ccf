//! Output rows: aggregates and sensor health, as Arrow batches (history) and as JSON
//! (`aq.aggregates.v1`).

use crate::health::HealthEvent;
use crate::partial::Stats;
use crate::window::WindowId;
use aqstream_core::arrow::{UTC, aggregates_schema};
use aqstream_core::json::{write_json_f64, write_json_str};
use aqstream_core::time::{EpochMillis, write_rfc3339};
use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder,
};
use std::fmt::Write as _;
use std::sync::Arc;

/// Whose aggregate a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// One sensor.
    Sensor,
    /// A district: mean over its valid sensor-minutes.
    District,
}

impl Scope {
    /// The `scope` column's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Sensor => "sensor",
            Scope::District => "district",
        }
    }
}

/// One row of the `aggregates` table.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateRow {
    /// Sensor or district.
    pub scope: Scope,
    /// The sensor id or the district name.
    pub key: Arc<str>,
    /// The district (of the sensor).
    pub district: Arc<str>,
    /// The window.
    pub window: WindowId,
    /// The statistics.
    pub stats: Stats,
    /// EPA NowCast at the end of an hourly sensor window.
    pub nowcast_pm25: Option<f64>,
    /// 0 for the first emission, then 1, 2, … for corrections.
    pub revision: i32,
    /// The watermark at which the row was produced.
    pub emitted_at: EpochMillis,
}

impl AggregateRow {
    /// The identity of the row: (scope, key, window, window_start, revision).
    pub fn identity(&self) -> (Scope, &str, WindowId, i32) {
        (self.scope, &self.key, self.window, self.revision)
    }

    /// The record key on `aq.aggregates.v1`: `scope/key`.
    pub fn topic_key(&self) -> String {
        format!("{}/{}", self.scope.as_str(), self.key)
    }

    /// The row as one JSON object (the value on `aq.aggregates.v1`).
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(512);
        s.push_str("{\"scope\":\"");
        s.push_str(self.scope.as_str());
        s.push_str("\",\"key\":");
        write_json_str(&mut s, &self.key);
        s.push_str(",\"sensor_id\":");
        match self.scope {
            Scope::Sensor => write_json_str(&mut s, &self.key),
            Scope::District => s.push_str("null"),
        }
        s.push_str(",\"district\":");
        write_json_str(&mut s, &self.district);
        let _ = write!(
            s,
            ",\"window\":\"{}\",\"window_start\":\"",
            self.window.kind
        );
        write_rfc3339(&mut s, self.window.start);
        s.push_str("\",\"window_end\":\"");
        write_rfc3339(&mut s, self.window.end());
        s.push('"');
        let st = &self.stats;
        let opt = |s: &mut String, name: &str, v: Option<f64>| {
            let _ = write!(s, ",\"{name}\":");
            match v {
                Some(v) => write_json_f64(s, v),
                None => s.push_str("null"),
            }
        };
        opt(&mut s, "pm25_mean", st.pm25_mean());
        opt(&mut s, "pm25_min", st.pm25_min());
        opt(&mut s, "pm25_max", st.pm25_max());
        let _ = write!(s, ",\"pm25_count\":{}", st.pm25_count());
        opt(&mut s, "valid_fraction", Some(st.valid_fraction()));
        for (name, v) in OTHERS.iter().zip(st.others()) {
            opt(&mut s, name, v);
        }
        opt(&mut s, "wind_speed_mean", st.wind_speed_mean());
        opt(&mut s, "wind_from_deg", st.wind_from_deg());
        opt(&mut s, "aqi_cn", st.aqi_cn().map(f64::from));
        opt(&mut s, "aqi_us", st.aqi_us().map(f64::from));
        opt(&mut s, "nowcast_pm25", self.nowcast_pm25);
        let _ = write!(s, ",\"revision\":{},\"emitted_at\":\"", self.revision);
        write_rfc3339(&mut s, self.emitted_at);
        s.push_str("\"}");
        s
    }
}

const OTHERS: [&str; 5] = ["pm10_mean", "no2_mean", "so2_mean", "o3_mean", "co_mean"];

/// Sorts rows the way history files are sorted: scope, key, window start, window
/// length, revision.
pub fn sort_rows(rows: &mut [AggregateRow]) {
    rows.sort_by(|a, b| {
        (a.scope, &*a.key, a.window.start, a.window.kind, a.revision).cmp(&(
            b.scope,
            &*b.key,
            b.window.start,
            b.window.kind,
            b.revision,
        ))
    });
}

/// The rows as a batch of [`aggregates_schema`].
pub fn aggregates_batch(rows: &[AggregateRow]) -> Result<RecordBatch, crate::StreamError> {
    let n = rows.len();
    let ts = || TimestampMillisecondBuilder::with_capacity(n).with_timezone(UTC);
    let s = |bytes_per_row: usize| StringBuilder::with_capacity(n, n * bytes_per_row);
    let (mut scope, mut key, mut sensor, mut district, mut window) = (s(6), s(8), s(8), s(4), s(2));
    let (mut start, mut end, mut emitted) = (ts(), ts(), ts());
    let f = || Float64Builder::with_capacity(n);
    let (mut mean, mut min, mut max, mut frac) = (f(), f(), f(), f());
    let mut count = Int64Builder::with_capacity(n);
    let mut others: Vec<Float64Builder> = (0..5).map(|_| f()).collect();
    let (mut wspeed, mut wdir, mut nowcast) = (f(), f(), f());
    let (mut aqi_cn, mut aqi_us, mut revision) = (
        Int32Builder::with_capacity(n),
        Int32Builder::with_capacity(n),
        Int32Builder::with_capacity(n),
    );
    for r in rows {
        scope.append_value(r.scope.as_str());
        key.append_value(&r.key);
        match r.scope {
            Scope::Sensor => sensor.append_value(&r.key),
            Scope::District => sensor.append_null(),
        }
        district.append_value(&r.district);
        window.append_value(r.window.kind.name());
        start.append_value(r.window.start);
        end.append_value(r.window.end());
        let s = &r.stats;
        mean.append_option(s.pm25_mean());
        min.append_option(s.pm25_min());
        max.append_option(s.pm25_max());
        count.append_value(s.pm25_count());
        frac.append_value(s.valid_fraction());
        for (b, v) in others.iter_mut().zip(s.others()) {
            b.append_option(v);
        }
        wspeed.append_option(s.wind_speed_mean());
        wdir.append_option(s.wind_from_deg());
        aqi_cn.append_option(s.aqi_cn());
        aqi_us.append_option(s.aqi_us());
        nowcast.append_option(r.nowcast_pm25);
        revision.append_value(r.revision);
        emitted.append_value(r.emitted_at);
    }
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(scope.finish()),
        Arc::new(key.finish()),
        Arc::new(sensor.finish()),
        Arc::new(district.finish()),
        Arc::new(window.finish()),
        Arc::new(start.finish()),
        Arc::new(end.finish()),
        Arc::new(mean.finish()),
        Arc::new(min.finish()),
        Arc::new(max.finish()),
        Arc::new(count.finish()),
        Arc::new(frac.finish()),
    ];
    cols.extend(others.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    cols.push(Arc::new(wspeed.finish()));
    cols.push(Arc::new(wdir.finish()));
    cols.push(Arc::new(aqi_cn.finish()));
    cols.push(Arc::new(aqi_us.finish()));
    cols.push(Arc::new(nowcast.finish()));
    cols.push(Arc::new(revision.finish()));
    cols.push(Arc::new(emitted.finish()));
    Ok(RecordBatch::try_new(aggregates_schema(), cols)?)
}

/// Schema of the `sensor_health` table (defined with the other history schemas).
pub use aqstream_core::arrow::sensor_health_schema;

/// Sorts health events by sensor, time and problem.
pub fn sort_health(events: &mut [HealthEvent]) {
    events.sort_by(|a, b| {
        (&*a.sensor_id, a.ts, a.problem, a.raised).cmp(&(&*b.sensor_id, b.ts, b.problem, b.raised))
    });
}

/// Health events as a batch of [`sensor_health_schema`].
pub fn health_batch(events: &[HealthEvent]) -> Result<RecordBatch, crate::StreamError> {
    let mut sensor = StringBuilder::new();
    let mut district = StringBuilder::new();
    let mut problem = StringBuilder::new();
    let mut state = StringBuilder::new();
    let mut ts = TimestampMillisecondBuilder::with_capacity(events.len()).with_timezone(UTC);
    let mut detail = StringBuilder::new();
    for e in events {
        sensor.append_value(&e.sensor_id);
        district.append_value(&e.district);
        problem.append_value(e.problem.as_str());
        state.append_value(if e.raised { "raised" } else { "cleared" });
        ts.append_value(e.ts);
        if e.detail.is_empty() {
            detail.append_null();
        } else {
            detail.append_value(&e.detail);
        }
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(sensor.finish()),
        Arc::new(district.finish()),
        Arc::new(problem.finish()),
        Arc::new(state.finish()),
        Arc::new(ts.finish()),
        Arc::new(detail.finish()),
    ];
    Ok(RecordBatch::try_new(sensor_health_schema(), cols)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partial::Partial;
    use crate::window::WindowKind;

    #[test]
    fn json_and_batch_agree_on_fields() {
        let mut p = Partial {
            n: 1,
            ..Partial::default()
        };
        p.sum[0] = 12.5;
        p.cnt[0] = 1;
        p.pm_min = 12.5;
        p.pm_max = 12.5;
        let row = AggregateRow {
            scope: Scope::District,
            key: "Tongzhou-Center".into(),
            district: "Tongzhou-Center".into(),
            window: WindowId {
                kind: WindowKind::M5,
                start: 1_795_334_400_000,
            },
            stats: Stats::of(&p, WindowKind::M5, 0.2),
            nowcast_pm25: None,
            revision: 1,
            emitted_at: 1_795_334_760_000,
        };
        let v: serde_json::Value = serde_json::from_str(&row.to_json()).unwrap();
        assert_eq!(v["scope"], "district");
        assert_eq!(v["sensor_id"], serde_json::Value::Null);
        assert_eq!(v["window"], "5m");
        assert_eq!(v["window_start"], "2026-11-22T08:00:00Z");
        assert_eq!(v["window_end"], "2026-11-22T08:05:00Z");
        assert_eq!(v["pm25_mean"], 12.5);
        assert_eq!(v["pm25_count"], 1);
        assert_eq!(v["revision"], 1);
        assert_eq!(row.topic_key(), "district/Tongzhou-Center");
        let b = aggregates_batch(&[row]).unwrap();
        assert_eq!(b.num_rows(), 1);
        let obj = v.as_object().unwrap();
        for f in aggregates_schema().fields() {
            assert!(obj.contains_key(f.name()), "JSON lacks {}", f.name());
        }
    }
}
