//! The Arrow schema of readings and conversions between readings and `RecordBatch`es.

use crate::measure::{Measure, N_MEASURES};
use crate::reading::{QualityFlags, Reading};
use arrow_array::builder::{
    ArrayBuilder, Float64Builder, Int32Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::{Arc, OnceLock};

/// Time zone of every timestamp column.
pub const UTC: &str = "UTC";

/// The data type of event-time columns: milliseconds, UTC.
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some(UTC.into()))
}

/// Schema of the `readings` table and of reading batches in the stream:
/// `sensor_id, gateway_id, ts, period_s, pm25 … wind_dir, received_at, flags,
/// invalid_mask` (`flags` is the comma-separated `kind:measure` list or null;
/// bit *i* of `invalid_mask` marks measure *i* as not valid for aggregation).
pub fn readings_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut fields = vec![
                Field::new("sensor_id", DataType::Utf8, false),
                Field::new("gateway_id", DataType::Utf8, false),
                Field::new("ts", ts_type(), false),
                Field::new("period_s", DataType::Int32, false),
            ];
            fields.extend(
                Measure::ALL
                    .iter()
                    .map(|m| Field::new(m.field(), DataType::Float64, true)),
            );
            fields.push(Field::new("received_at", ts_type(), true));
            fields.push(Field::new("flags", DataType::Utf8, true));
            fields.push(Field::new("invalid_mask", DataType::Int32, false));
            Arc::new(Schema::new(fields))
        })
        .clone()
}

/// Schema of the `aggregates` table and of aggregate batches.
///
/// One row per (`scope`, `key`, `window`, `window_start`, `revision`):
/// * `scope` — `sensor` or `district`; `key` — the sensor id or the district name;
///   `sensor_id` is null for district rows; `district` is always set;
/// * `window` — `1m`, `5m`, `1h` or `24h`; `window_start`/`window_end` — event time;
/// * `pm25_*` — statistics over the valid (unflagged, deduplicated) PM2.5 values:
///   `pm25_count` values, `valid_fraction` = valid minutes / minutes in the window;
/// * `<pollutant>_mean` — the other pollutants' means, `wind_*` — vector-mean wind;
/// * `aqi_cn`, `aqi_us` — of the window's PM2.5 mean (HJ 633 with the window's period
///   where the standard defines one, EPA 24 h table), `nowcast_pm25` — the EPA NowCast
///   at the end of an hourly sensor window (null elsewhere);
/// * `revision` — 0 for the first emission, 1, 2, … for corrected rows after late data;
///   `emitted_at` — the watermark at which the row was produced.
pub fn aggregates_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
            Arc::new(Schema::new(vec![
                f("scope", DataType::Utf8, false),
                f("key", DataType::Utf8, false),
                f("sensor_id", DataType::Utf8, true),
                f("district", DataType::Utf8, false),
                f("window", DataType::Utf8, false),
                f("window_start", ts_type(), false),
                f("window_end", ts_type(), false),
                f("pm25_mean", DataType::Float64, true),
                f("pm25_min", DataType::Float64, true),
                f("pm25_max", DataType::Float64, true),
                f("pm25_count", DataType::Int64, false),
                f("valid_fraction", DataType::Float64, false),
                f("pm10_mean", DataType::Float64, true),
                f("no2_mean", DataType::Float64, true),
                f("so2_mean", DataType::Float64, true),
                f("o3_mean", DataType::Float64, true),
                f("co_mean", DataType::Float64, true),
                f("wind_speed_mean", DataType::Float64, true),
                f("wind_from_deg", DataType::Float64, true),
                f("aqi_cn", DataType::Int32, true),
                f("aqi_us", DataType::Int32, true),
                f("nowcast_pm25", DataType::Float64, true),
                f("revision", DataType::Int32, false),
                f("emitted_at", ts_type(), false),
            ]))
        })
        .clone()
}

/// Schema of the `alerts` table: one row per alert state change (contract section 4),
/// with the nested `source` and `wind` objects flattened and `sensors` as a
/// comma-separated list.
pub fn alerts_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
            Arc::new(Schema::new(vec![
                f("alert_id", DataType::Utf8, false),
                f("state", DataType::Utf8, false),
                f("pollutant", DataType::Utf8, false),
                f("district", DataType::Utf8, false),
                f("started_at", ts_type(), false),
                f("detected_at", ts_type(), false),
                f("resolved_at", ts_type(), true),
                f("source_lat", DataType::Float64, true),
                f("source_lon", DataType::Float64, true),
                f("uncertainty_m", DataType::Float64, true),
                f("source_type", DataType::Utf8, false),
                f("confidence", DataType::Float64, false),
                f("peak_ugm3", DataType::Float64, false),
                f("sensors", DataType::Utf8, false),
                f("wind_speed_ms", DataType::Float64, true),
                f("wind_from_deg", DataType::Float64, true),
            ]))
        })
        .clone()
}

/// Schema of the `sensor_health` table: one row per sensor QA problem raised or
/// cleared (`problem`: `stuck`, `sentinel`, `out_of_range`, `drift`, …; `state`:
/// `raised` or `cleared`; `ts`: the event time of the change).
pub fn sensor_health_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new("sensor_id", DataType::Utf8, false),
                Field::new("district", DataType::Utf8, false),
                Field::new("problem", DataType::Utf8, false),
                Field::new("state", DataType::Utf8, false),
                Field::new("ts", ts_type(), false),
                Field::new("detail", DataType::Utf8, true),
            ]))
        })
        .clone()
}

/// Column index of the first measure in [`readings_schema`].
pub const FIRST_MEASURE_COL: usize = 4;

/// Accumulates readings column by column.
pub struct ReadingBatchBuilder {
    sensor_id: StringBuilder,
    gateway_id: StringBuilder,
    ts: TimestampMillisecondBuilder,
    period_s: Int32Builder,
    values: Vec<Float64Builder>,
    received_at: TimestampMillisecondBuilder,
    flags: StringBuilder,
    invalid_mask: Int32Builder,
    flag_text: String,
}

impl ReadingBatchBuilder {
    /// A builder with room for `n` readings.
    pub fn with_capacity(n: usize) -> ReadingBatchBuilder {
        ReadingBatchBuilder {
            sensor_id: StringBuilder::with_capacity(n, n * 8),
            gateway_id: StringBuilder::with_capacity(n, n * 8),
            ts: TimestampMillisecondBuilder::with_capacity(n).with_timezone(UTC),
            period_s: Int32Builder::with_capacity(n),
            values: (0..N_MEASURES)
                .map(|_| Float64Builder::with_capacity(n))
                .collect(),
            received_at: TimestampMillisecondBuilder::with_capacity(n).with_timezone(UTC),
            flags: StringBuilder::new(),
            invalid_mask: Int32Builder::with_capacity(n),
            flag_text: String::new(),
        }
    }

    /// Number of readings appended since the last [`ReadingBatchBuilder::finish`].
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Nothing appended?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends one reading.
    pub fn push(&mut self, r: &Reading) {
        self.sensor_id.append_value(&r.sensor_id);
        self.gateway_id.append_value(&r.gateway_id);
        self.ts.append_value(r.ts);
        self.period_s.append_value(r.period_s as i32);
        for (b, v) in self.values.iter_mut().zip(r.values.iter()) {
            b.append_option(*v);
        }
        self.received_at.append_option(r.received_at);
        if r.flags.is_empty() {
            self.flags.append_null();
        } else {
            use std::fmt::Write as _;
            self.flag_text.clear();
            let _ = write!(self.flag_text, "{}", r.flags);
            self.flags.append_value(&self.flag_text);
        }
        self.invalid_mask
            .append_value(i32::from(r.flags.invalid_mask()));
    }

    /// The batch of everything appended so far; the builder is empty afterwards.
    pub fn finish(&mut self) -> RecordBatch {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.sensor_id.finish()),
            Arc::new(self.gateway_id.finish()),
            Arc::new(self.ts.finish()),
            Arc::new(self.period_s.finish()),
        ];
        cols.extend(
            self.values
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        cols.push(Arc::new(self.received_at.finish()));
        cols.push(Arc::new(self.flags.finish()));
        cols.push(Arc::new(self.invalid_mask.finish()));
        // The columns match the schema by construction.
        RecordBatch::try_new(readings_schema(), cols)
            .unwrap_or_else(|_| RecordBatch::new_empty(readings_schema()))
    }
}

/// A batch of readings in one call.
pub fn readings_to_batch(readings: &[Reading]) -> RecordBatch {
    let mut b = ReadingBatchBuilder::with_capacity(readings.len());
    for r in readings {
        b.push(r);
    }
    b.finish()
}

/// Reads readings back out of a batch with the [`readings_schema`] columns (by name,
/// so extra columns such as a `date` partition are fine).
pub fn batch_to_readings(batch: &RecordBatch) -> Result<Vec<Reading>, ArrowError> {
    let col = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| ArrowError::SchemaError(format!("column `{name}` is missing")))
    };
    let sensor = col("sensor_id")?
        .as_string_opt::<i32>()
        .ok_or_else(|| type_err("sensor_id"))?;
    let gateway = col("gateway_id")?
        .as_string_opt::<i32>()
        .ok_or_else(|| type_err("gateway_id"))?;
    let ts = col("ts")?
        .as_primitive_opt::<TimestampMillisecondType>()
        .ok_or_else(|| type_err("ts"))?;
    let period = col("period_s")?
        .as_primitive_opt::<Int32Type>()
        .ok_or_else(|| type_err("period_s"))?;
    let received = col("received_at")?
        .as_primitive_opt::<TimestampMillisecondType>()
        .ok_or_else(|| type_err("received_at"))?;
    let flags = col("flags")?
        .as_string_opt::<i32>()
        .ok_or_else(|| type_err("flags"))?;
    let mut values = Vec::with_capacity(N_MEASURES);
    for m in Measure::ALL {
        values.push(
            col(m.field())?
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(|| type_err(m.field()))?,
        );
    }
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let mut r = Reading::new(sensor.value(i), ts.value(i), period.value(i).max(0) as u32);
        r.gateway_id = gateway.value(i).to_string();
        for (k, a) in values.iter().enumerate() {
            r.values[k] = a.is_valid(i).then(|| a.value(i));
        }
        r.received_at = received.is_valid(i).then(|| received.value(i));
        let mut f = QualityFlags::NONE;
        if flags.is_valid(i) {
            for part in flags.value(i).split(',').filter(|s| !s.is_empty()) {
                f.insert_str(part);
            }
        }
        r.flags = f;
        out.push(r);
    }
    Ok(out)
}

fn type_err(name: &str) -> ArrowError {
    ArrowError::SchemaError(format!("column `{name}` has an unexpected type"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::FlagKind;

    #[test]
    fn round_trip_through_a_batch() {
        let mut a = Reading::new("TZ-0001", 1_795_334_580_000, 60)
            .with(Measure::Pm25, 35.2)
            .with(Measure::WindDir, 270.0);
        a.gateway_id = "gw-1".into();
        a.received_at = Some(1_795_334_581_000);
        a.flags.set(Measure::Pm25, FlagKind::SentinelValue);
        let mut b = Reading::new("TZ-0002", 1_795_334_640_000, 0).with(Measure::Co, 0.9);
        b.gateway_id = "gw-2".into();
        let batch = readings_to_batch(&[a.clone(), b.clone()]);
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), readings_schema());
        assert_eq!(
            batch.column(FIRST_MEASURE_COL).data_type(),
            &DataType::Float64
        );
        let mask = batch
            .column_by_name("invalid_mask")
            .unwrap()
            .as_primitive::<Int32Type>();
        assert_eq!(mask.value(0), 1);
        assert_eq!(mask.value(1), 0);
        assert_eq!(batch_to_readings(&batch).unwrap(), vec![a, b]);
    }

    #[test]
    fn builder_resets_after_finish() {
        let mut b = ReadingBatchBuilder::with_capacity(4);
        b.push(&Reading::new("x", 0, 60).with(Measure::Pm25, 1.0));
        assert_eq!(b.len(), 1);
        assert_eq!(b.finish().num_rows(), 1);
        assert!(b.is_empty());
        assert_eq!(b.finish().num_rows(), 0);
    }
}
