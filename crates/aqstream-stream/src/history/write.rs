//! Writing an epoch's files (staged) and publishing them.

use super::order::{ledger_order, readings_order, row_order};
use crate::archive::LedgerEntry;
use crate::error::{Result, StreamError};
use crate::health::HealthEvent;
use crate::partial::{MinuteValues, SCALARS};
use crate::rows::{AggregateRow, aggregates_batch, health_batch, sort_health};
use aqstream_core::alert::Alert;
use aqstream_core::arrow::{UTC, alerts_schema, ts_type};
use aqstream_core::time::{DAY_MS, EpochMillis, utc_date};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMillisecondBuilder, UInt32Array,
};
use datafusion::arrow::compute::{concat_batches, take, take_record_batch};
use datafusion::arrow::datatypes::{
    DataType, Field, Int32Type, Schema, SchemaRef, TimestampMillisecondType,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::collections::BTreeMap;
use std::fs::File;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// A file of an epoch: where it was staged and where it is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    /// The staged (temporary) path.
    pub staged: PathBuf,
    /// The final path in the history.
    pub published: PathBuf,
}

/// What one epoch of one owner writes, per table.
#[derive(Debug, Default)]
pub struct EpochFiles {
    /// Readings batches ([`aqstream_core::arrow::readings_schema`]).
    pub readings: Vec<RecordBatch>,
    /// Aggregate rows.
    pub rows: Vec<AggregateRow>,
    /// Health changes.
    pub health: Vec<HealthEvent>,
    /// Alert changes.
    pub alerts: Vec<Alert>,
    /// Ledger entries (written under the state root, not the history).
    pub ledger: Vec<LedgerEntry>,
}

impl EpochFiles {
    /// Nothing to write?
    pub fn is_empty(&self) -> bool {
        self.readings.iter().all(|b| b.num_rows() == 0)
            && self.rows.is_empty()
            && self.health.is_empty()
            && self.alerts.is_empty()
            && self.ledger.is_empty()
    }
}

/// String columns of each table whose statistics cannot prune anything: their
/// values are not ordered in the files (those are sorted by sensor or district and
/// time) and every page holds most of their few distinct values. Min/max of string
/// columns is the costly part of Parquet statistics (`gateway_id` alone was 40 % of
/// the time spent encoding `readings`), so these columns are written without.
fn unprunable(table: &str) -> &'static [&'static str] {
    match table {
        "readings" => &["gateway_id", "flags"],
        "aggregates" => &["district", "window"],
        "ledger" => &["district"],
        _ => &[],
    }
}

/// The writer properties of `table`'s files with columns `schema`.
///
/// String columns are written without a dictionary (plain, then zstd). The Parquet
/// writer finds each value's dictionary entry by hashing and comparing its bytes,
/// and the string columns of these tables hold millions of short values per epoch
/// (a sensor id on every reading and aggregate row): writing them plain took 7–8 %
/// off the writer's CPU time. The files are sorted by sensor or district, so zstd
/// turns the repeated values into back-references and the files come out no larger
/// (3 M readings at 10 000 sensors: aggregates 31.3 MiB instead of 31.4, readings
/// 9.0 instead of 9.4). Numeric columns keep their dictionaries: without them the
/// same files grew by half and were no faster to write.
fn props(table: &str, schema: &Schema) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_max_row_group_row_count(Some(256 * 1024));
    for &column in unprunable(table) {
        b = b.set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
    }
    for f in schema.fields() {
        if f.data_type() == &DataType::Utf8 {
            b = b.set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), false);
        }
    }
    b.build()
}

/// Writes `batch` of `table` to `path` as Parquet and fsyncs it.
fn write_parquet(path: &Path, table: &str, batch: &RecordBatch) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| StreamError::io(dir, e))?;
    }
    let file = File::create(path).map_err(|e| StreamError::io(path, e))?;
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props(table, &batch.schema())))?;
    w.write(batch)?;
    let file = w.into_inner()?;
    file.sync_all().map_err(|e| StreamError::io(path, e))?;
    Ok(())
}

/// Stages the files of one epoch: `owner` is `p003` (stage 1, partition 3) or `city`;
/// `token` makes staged names unique to this writer. Returns the files in a
/// deterministic order. `data` is left empty; its row and ledger vectors keep their
/// memory, for the caller to reuse ([`crate::recycle`]).
pub fn write_epoch(
    history: &Path,
    state: &Path,
    owner: &str,
    epoch: u64,
    token: &str,
    data: &mut EpochFiles,
) -> Result<Vec<StagedFile>> {
    let name = format!("{owner}-e{epoch:08}.parquet");
    let mut out = Vec::new();
    let mut stage = |root: &Path, table: &str, date: &str, batch: &RecordBatch| -> Result<()> {
        let staged = root
            .join("_staging")
            .join(owner)
            .join(format!("{token}-{table}-{date}-{name}"));
        // One file per table and date: a second chunk of the same date would replace
        // the first one's file.
        if out.iter().any(|f: &StagedFile| f.staged == staged) {
            return Err(StreamError::Invalid(format!(
                "epoch {epoch} of {owner}: {table} of {date} split into two files"
            )));
        }
        write_parquet(&staged, table, batch)?;
        out.push(StagedFile {
            staged,
            published: root.join(table).join(format!("date={date}")).join(&name),
        });
        Ok(())
    };
    // Readings: by the date of `ts`, sorted by sensor, ts, period.
    let mut readings: Vec<RecordBatch> = std::mem::take(&mut data.readings)
        .into_iter()
        .filter(|b| b.num_rows() > 0)
        .collect();
    let all = match readings.len() {
        0 => None,
        1 => readings.pop(),
        _ => Some(concat_batches(&readings[0].schema(), &readings)?),
    };
    drop(readings);
    if let Some(all) = all {
        for (date, part) in split_by_day(all, 2)? {
            let sorted = sort_readings(part)?;
            stage(history, "readings", &date, &sorted)?;
        }
    }
    // By date first (one file per date), then by key and time within the date. The
    // rows are read once in arrival order (sequentially: gathering rows of a few
    // hundred bytes in file order missed the cache on every row) and the columns
    // are then put in file order.
    let rows = &data.rows;
    if !rows.is_empty() {
        let order = row_order(rows);
        let starts: Vec<EpochMillis> = rows.iter().map(|r| r.window.start).collect();
        let all = aggregates_batch(rows)?;
        for (date, batch) in by_date(all, &order, |i| starts[i])? {
            stage(history, "aggregates", &date, &batch)?;
        }
    }
    data.rows.clear();
    let mut health = std::mem::take(&mut data.health);
    sort_health(&mut health);
    health.sort_by_key(|e| e.ts.div_euclid(DAY_MS));
    for (date, chunk) in group_by_date(&health, |e| e.ts) {
        let mut chunk = chunk.to_vec();
        sort_health(&mut chunk);
        stage(history, "sensor_health", &date, &health_batch(&chunk)?)?;
    }
    let mut alerts = std::mem::take(&mut data.alerts);
    alerts.sort_by(|a, b| (a.detected_at, &a.alert_id).cmp(&(b.detected_at, &b.alert_id)));
    alerts.sort_by_key(|a| a.detected_at.div_euclid(DAY_MS));
    for (date, chunk) in group_by_date(&alerts, |a| a.detected_at) {
        stage(history, "alerts", &date, &alerts_batch(chunk)?)?;
    }
    let ledger = &data.ledger;
    if !ledger.is_empty() {
        let order = ledger_order(ledger);
        let minutes: Vec<EpochMillis> = ledger.iter().map(|e| e.minute_start).collect();
        let all = ledger_batch(ledger)?;
        for (date, batch) in by_date(all, &order, |i| minutes[i])? {
            stage(state, "ledger", &date, &batch)?;
        }
    }
    data.ledger.clear();
    Ok(out)
}

/// The rows of `all` in file order `order` (sorted by date first), one batch per
/// UTC date of `ts(row)`. With one date (the usual epoch) `all` is reordered in place
/// ([`reorder`]).
fn by_date(
    all: RecordBatch,
    order: &[usize],
    ts: impl Fn(usize) -> EpochMillis,
) -> Result<Vec<(String, RecordBatch)>> {
    let dates = group_by_date(order, |&i| ts(i));
    let [(date, chunk)] = dates.as_slice() else {
        return dates
            .into_iter()
            .map(|(date, chunk)| {
                let idx = UInt32Array::from_iter_values(chunk.iter().map(|&i| i as u32));
                Ok((date, take_record_batch(&all, &idx)?))
            })
            .collect();
    };
    Ok(vec![(date.clone(), reorder(all, chunk)?)])
}

/// Consecutive runs of items with the same UTC date (items must be sorted by date:
/// otherwise a date comes back in several runs).
fn group_by_date<T>(items: &[T], ts: impl Fn(&T) -> EpochMillis) -> Vec<(String, &[T])> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let day = ts(&items[i]).div_euclid(DAY_MS);
        let mut j = i + 1;
        while j < items.len() && ts(&items[j]).div_euclid(DAY_MS) == day {
            j += 1;
        }
        out.push((utc_date(day * DAY_MS), &items[i..j]));
        i = j;
    }
    out
}

/// Splits a batch by the UTC date of its timestamp column `col`.
fn split_by_day(b: RecordBatch, col: usize) -> Result<Vec<(String, RecordBatch)>> {
    let ts = b.column(col).as_primitive::<TimestampMillisecondType>();
    let mut days: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for i in 0..b.num_rows() {
        days.entry(ts.value(i).div_euclid(DAY_MS))
            .or_default()
            .push(i as u32);
    }
    if days.len() == 1 {
        let (d, _) = days.into_iter().next().expect("one day");
        return Ok(vec![(utc_date(d * DAY_MS), b)]);
    }
    let mut out = Vec::new();
    for (d, idx) in days {
        let idx = datafusion::arrow::array::UInt32Array::from(idx);
        out.push((utc_date(d * DAY_MS), take_record_batch(&b, &idx)?));
    }
    Ok(out)
}

/// A readings batch sorted by sensor, ts, period_s (see [`readings_order`]).
fn sort_readings(b: RecordBatch) -> Result<RecordBatch> {
    let bad = || StreamError::corrupt("readings batch", "unexpected column type");
    let sensor = b.column(0).as_string_opt::<i32>().ok_or_else(bad)?;
    let ts = b
        .column(2)
        .as_primitive_opt::<TimestampMillisecondType>()
        .ok_or_else(bad)?;
    let period = b
        .column(3)
        .as_primitive_opt::<Int32Type>()
        .ok_or_else(bad)?;
    let ids: Vec<&str> = sensor.iter().map(Option::unwrap_or_default).collect();
    let order = readings_order(&ids, ts.values(), period.values());
    drop(ids);
    reorder(b, &order)
}

/// The rows `order` of `b`, in that order. `b` is consumed column by column, each
/// column dropped once reordered, so at most one column exists twice.
fn reorder(b: RecordBatch, order: &[usize]) -> Result<RecordBatch> {
    if order.len() == b.num_rows() && order.iter().enumerate().all(|(k, &i)| k == i) {
        return Ok(b);
    }
    let idx = UInt32Array::from_iter_values(order.iter().map(|&i| i as u32));
    let (schema, source, _) = b.into_parts();
    let mut columns = Vec::with_capacity(source.len());
    for column in source {
        columns.push(take(&column, &idx, None)?);
    }
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Publishes staged files: rename into place, fsync the directories. Files already
/// published (a recovery repeating the step) are fine.
pub fn publish(files: &[StagedFile]) -> Result<()> {
    let mut dirs: Vec<&Path> = Vec::new();
    for f in files {
        let dir = f.published.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| StreamError::io(dir, e))?;
        match std::fs::rename(&f.staged, &f.published) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && f.published.exists() => {}
            Err(e) => return Err(StreamError::io(&f.staged, e)),
        }
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    for d in dirs {
        sync_dir(d)?;
        if let Some(p) = d.parent() {
            sync_dir(p)?;
        }
    }
    Ok(())
}

/// After a crash or a takeover: publishes the files of the newest checkpoint (`keep`,
/// of epoch `epoch`) and deletes the staged files of `owner` under `roots` that belong
/// to an epoch up to `epoch` but are not listed (they lost, or never committed).
/// Staged files of later epochs may belong to a live writer and are left alone.
pub fn recover(roots: &[&Path], owner: &str, epoch: u64, keep: &[StagedFile]) -> Result<()> {
    publish(keep)?;
    for root in roots {
        let dir = root.join("_staging").join(owner);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let staged_epoch = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".parquet"))
                .and_then(|n| n.rsplit_once("-e"))
                .and_then(|(_, e)| e.parse::<u64>().ok());
            let stale = staged_epoch.is_none_or(|e| e <= epoch);
            if stale && !keep.iter().any(|f| f.staged == p) {
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => return Err(StreamError::io(&p, err)),
                }
            }
        }
    }
    Ok(())
}

/// fsync of a directory (makes renames and new entries durable).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    match File::open(dir) {
        Ok(f) => f.sync_all().map_err(|e| StreamError::io(dir, e)),
        Err(e) => Err(StreamError::io(dir, e)),
    }
}

/// Schema of stage 2's ledger of final sensor-minutes.
pub fn ledger_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let mut f = vec![
            Field::new("sensor_id", DataType::Utf8, false),
            Field::new("district", DataType::Utf8, false),
            Field::new("minute_start", ts_type(), false),
            Field::new("excluded", DataType::Boolean, false),
            Field::new("version", DataType::Int64, false),
        ];
        for m in SCALARS {
            f.push(Field::new(m.field(), DataType::Float64, true));
        }
        f.push(Field::new("wx", DataType::Float64, true));
        f.push(Field::new("wy", DataType::Float64, true));
        Arc::new(Schema::new(f))
    })
    .clone()
}

/// Ledger entries as a batch of [`ledger_schema`].
pub fn ledger_batch(entries: &[LedgerEntry]) -> Result<RecordBatch> {
    let n = entries.len();
    let mut sensor = StringBuilder::with_capacity(n, n * 8);
    let mut district = StringBuilder::with_capacity(n, n * 4);
    let mut minute = TimestampMillisecondBuilder::with_capacity(n).with_timezone(UTC);
    let mut excluded = BooleanBuilder::with_capacity(n);
    let mut version = Int64Builder::with_capacity(n);
    let mut v: Vec<Float64Builder> = (0..MinuteValues::SLOTS)
        .map(|_| Float64Builder::with_capacity(n))
        .collect();
    for e in entries {
        sensor.append_value(&e.sensor_id);
        district.append_value(&e.district);
        minute.append_value(e.minute_start);
        excluded.append_value(e.excluded);
        version.append_value(e.version);
        for (k, b) in v.iter_mut().enumerate() {
            b.append_option(e.values.slot(k));
        }
    }
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(sensor.finish()),
        Arc::new(district.finish()),
        Arc::new(minute.finish()),
        Arc::new(excluded.finish()),
        Arc::new(version.finish()),
    ];
    cols.extend(v.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    Ok(RecordBatch::try_new(ledger_schema(), cols)?)
}

/// Ledger entries from a batch with the [`ledger_schema`] columns (by name).
pub(crate) fn ledger_entries(b: &RecordBatch) -> Result<Vec<LedgerEntry>> {
    let bad = |n: &str| StreamError::corrupt("ledger", format!("column `{n}` missing or mistyped"));
    let col = |n: &str| b.column_by_name(n).ok_or_else(|| bad(n));
    let sensor = col("sensor_id")?
        .as_string_opt::<i32>()
        .ok_or_else(|| bad("sensor_id"))?;
    let district = col("district")?
        .as_string_opt::<i32>()
        .ok_or_else(|| bad("district"))?;
    let minute = col("minute_start")?
        .as_primitive_opt::<TimestampMillisecondType>()
        .ok_or_else(|| bad("minute_start"))?;
    let excluded = col("excluded")?
        .as_boolean_opt()
        .ok_or_else(|| bad("excluded"))?;
    let version = col("version")?
        .as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>()
        .ok_or_else(|| bad("version"))?;
    let mut vals = Vec::new();
    for name in SCALARS.iter().map(|m| m.field()).chain(["wx", "wy"]) {
        vals.push(
            col(name)?
                .as_primitive_opt::<datafusion::arrow::datatypes::Float64Type>()
                .ok_or_else(|| bad(name))?,
        );
    }
    let mut out = Vec::with_capacity(b.num_rows());
    for i in 0..b.num_rows() {
        let get = |k: usize| vals[k].is_valid(i).then(|| vals[k].value(i));
        let mut values = MinuteValues::default();
        for k in 0..MinuteValues::SLOTS {
            values.set_slot(k, get(k));
        }
        out.push(LedgerEntry {
            sensor_id: Arc::from(sensor.value(i)),
            district: Arc::from(district.value(i)),
            minute_start: minute.value(i),
            excluded: excluded.value(i),
            version: version.value(i),
            values,
        });
    }
    Ok(out)
}

/// Alerts as a batch of [`alerts_schema`].
pub fn alerts_batch(alerts: &[Alert]) -> Result<RecordBatch> {
    let s = || StringBuilder::new();
    let t = || TimestampMillisecondBuilder::new().with_timezone(UTC);
    let f = || Float64Builder::new();
    let (mut id, mut state, mut pollutant, mut district) = (s(), s(), s(), s());
    let (mut started, mut detected, mut resolved) = (t(), t(), t());
    let (mut lat, mut lon, mut unc) = (f(), f(), f());
    let mut stype = s();
    let (mut conf, mut peak) = (f(), f());
    let mut sensors = s();
    let (mut ws, mut wd) = (f(), f());
    for a in alerts {
        id.append_value(&a.alert_id);
        state.append_value(a.state.as_str());
        pollutant.append_value(&a.pollutant);
        district.append_value(&a.district);
        started.append_value(a.started_at);
        detected.append_value(a.detected_at);
        resolved.append_option(a.resolved_at);
        lat.append_option(a.source.map(|x| x.lat));
        lon.append_option(a.source.map(|x| x.lon));
        unc.append_option(a.source.map(|x| x.uncertainty_m));
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
        Arc::new(started.finish()),
        Arc::new(detected.finish()),
        Arc::new(resolved.finish()),
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
    Ok(RecordBatch::try_new(alerts_schema(), cols)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partial::{Partial, Stats};
    use crate::rows::{Scope, sort_rows};
    use crate::window::{WindowId, WindowKind};

    /// A deterministic xorshift generator of numbers below its argument.
    fn below(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut x = seed;
        move |n| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        }
    }

    /// The ranked sort puts rows in the order of the string sort it replaces (the
    /// day first, then `sort_rows`, ties in arrival order).
    #[test]
    fn ranked_sorts_equal_the_string_sorts() {
        let mut rnd = below(0x2545_F491_4F6C_DD1D);
        let keys: Vec<Arc<str>> = ["b", "a", "TZ-10", "TZ-9", "TZ-100", "Z", ""]
            .into_iter()
            .map(Arc::from)
            .collect();
        let mut rows = Vec::new();
        let mut ledger = Vec::new();
        for i in 0..3_000 {
            let kind = WindowKind::ALL[rnd(4) as usize];
            let start = 1_795_305_600_000 + rnd(3 * 24 * 60) as i64 * 60_000;
            let key = Arc::clone(&keys[rnd(keys.len() as u64) as usize]);
            rows.push(AggregateRow {
                scope: if rnd(3) == 0 {
                    Scope::District
                } else {
                    Scope::Sensor
                },
                key: Arc::clone(&key),
                district: Arc::from("D"),
                window: WindowId {
                    kind,
                    start: kind.start_of(start),
                },
                stats: Stats::of(&Partial::default(), kind, 0.0),
                nowcast_pm25: None,
                revision: rnd(2) as i32,
                emitted_at: i, // tells equal keys apart by arrival
            });
            ledger.push(LedgerEntry {
                sensor_id: key,
                district: Arc::from("D"),
                minute_start: start,
                excluded: false,
                version: rnd(3) as i64,
                values: Default::default(),
            });
        }
        let mut want = rows.clone();
        sort_rows(&mut want);
        want.sort_by_key(|r| r.window.start.div_euclid(DAY_MS));
        let order = row_order(&rows);
        let got: Vec<AggregateRow> = order.iter().map(|&i| rows[i].clone()).collect();
        assert_eq!(got, want);
        // The files: one batch per date holding that date's rows in that order, from
        // rows over three dates (taken) and over one (reordered in place).
        let files_of = |rows: &[AggregateRow]| {
            let starts: Vec<EpochMillis> = rows.iter().map(|r| r.window.start).collect();
            let all = aggregates_batch(rows).expect("batch");
            by_date(all, &row_order(rows), |i| starts[i]).expect("by date")
        };
        let expected = |sorted: &[AggregateRow]| -> Vec<(String, RecordBatch)> {
            group_by_date(sorted, |r| r.window.start)
                .into_iter()
                .map(|(date, chunk)| (date, aggregates_batch(chunk).expect("batch")))
                .collect()
        };
        assert_eq!(files_of(&rows).len(), 3);
        assert_eq!(files_of(&rows), expected(&want));
        let first_day = want[0].window.start.div_euclid(DAY_MS);
        let one_day: Vec<AggregateRow> = (rows.iter())
            .filter(|r| r.window.start.div_euclid(DAY_MS) == first_day)
            .cloned()
            .collect();
        let want_one: Vec<AggregateRow> = (want.iter())
            .filter(|r| r.window.start.div_euclid(DAY_MS) == first_day)
            .cloned()
            .collect();
        assert_eq!(files_of(&one_day).len(), 1);
        assert_eq!(files_of(&one_day), expected(&want_one));
        // The ledger: by day, arrival order within a day (a stable sort).
        let mut want = ledger.clone();
        want.sort_by_key(|e| e.minute_start.div_euclid(DAY_MS));
        let order = ledger_order(&ledger);
        let got: Vec<LedgerEntry> = order.iter().map(|&i| ledger[i].clone()).collect();
        assert_eq!(got, want);
    }

    /// String columns are written plain (no dictionary), numeric ones with a
    /// dictionary, and the file reads back as the batch that was written.
    #[test]
    fn string_columns_are_plain_and_the_file_reads_back() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use parquet::basic::Encoding;
        let ids: Vec<Arc<str>> = (0..50).map(|i| Arc::from(format!("TZ-{i:03}"))).collect();
        let rows: Vec<AggregateRow> = (0..2_000)
            .map(|i| AggregateRow {
                scope: Scope::Sensor,
                key: Arc::clone(&ids[i % 50]),
                district: Arc::from("Tongzhou"),
                window: WindowId {
                    kind: WindowKind::M1,
                    start: 1_795_305_600_000 + (i / 50) as i64 * 60_000,
                },
                stats: Stats::of(&Partial::default(), WindowKind::M1, 0.0),
                nowcast_pm25: None,
                revision: 0,
                emitted_at: 1_795_305_600_000,
            })
            .collect();
        let batch = aggregates_batch(&rows).expect("batch");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.parquet");
        write_parquet(&path, "aggregates", &batch).expect("write");
        let file = File::open(&path).expect("open");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("reader");
        let meta = reader.metadata().clone();
        let back: Vec<RecordBatch> = reader.build().expect("build").map(|b| b.unwrap()).collect();
        assert_eq!(
            concat_batches(&batch.schema(), &back).expect("concat"),
            batch
        );
        let group = meta.row_group(0);
        for (i, f) in batch.schema().fields().iter().enumerate() {
            let encodings = group.column(i).encodings().collect::<Vec<_>>();
            let dict = encodings.contains(&Encoding::RLE_DICTIONARY);
            assert_eq!(
                dict,
                f.data_type() != &DataType::Utf8,
                "{}: {encodings:?}",
                f.name()
            );
        }
    }
}
