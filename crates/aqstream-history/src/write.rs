//! Writing history files: sorted, deduplicated, with the statistics readers prune on.

use crate::HistoryError;
use crate::layout::{COMPACTED_PREFIX, FILE_EXTENSION, HistoryTable, TMP_SUFFIX};
use crate::storage::HistoryStore;
use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, new_null_array};
use datafusion::arrow::compute::{
    SortColumn, cast, concat_batches, filter_record_batch, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::SortingColumn;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Rows per row group. A day of one table for 500 sensors (720 000 readings) becomes
/// 11 row groups of ~45 sensors each, so a one-sensor query reads one of them.
pub const ROW_GROUP_ROWS: usize = 65_536;
/// Rows per data page: the page index narrows a one-sensor, one-hour read further.
pub const PAGE_ROWS: usize = 8_192;

/// The Parquet properties of history files: zstd, page-level min/max statistics and
/// column/offset indexes, bloom filters on the lookup columns, and the sort order recorded
/// in the row group metadata.
pub fn writer_properties(table: HistoryTable) -> WriterProperties {
    let schema = table.schema();
    let sorting: Vec<SortingColumn> = table
        .sort_columns()
        .iter()
        .filter_map(|c| schema.index_of(c).ok())
        .map(|i| SortingColumn {
            column_idx: i as i32,
            descending: false,
            nulls_first: true,
        })
        .collect();
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_sorting_columns(Some(sorting))
        .set_created_by(format!("aqstream {}", env!("CARGO_PKG_VERSION")));
    for c in table.bloom_filter_columns() {
        b = b
            .set_column_bloom_filter_enabled(ColumnPath::from(*c), true)
            .set_column_bloom_filter_max_ndv(ColumnPath::from(*c), 2_000);
    }
    b.build()
}

/// Makes `batch` fit the table's schema: columns are matched by name and cast (so a
/// writer that used string views or other timestamp units still compacts), missing
/// nullable columns become nulls, extra columns are dropped.
pub fn conform(table: HistoryTable, batch: &RecordBatch) -> Result<RecordBatch, HistoryError> {
    let schema = table.schema();
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        match batch.schema().index_of(field.name()) {
            Ok(i) => {
                let col = batch.column(i);
                cols.push(if col.data_type() == field.data_type() {
                    col.clone()
                } else {
                    cast(col, field.data_type())?
                });
            }
            Err(_) if field.is_nullable() => {
                cols.push(new_null_array(field.data_type(), batch.num_rows()))
            }
            Err(_) => {
                return Err(HistoryError::Schema {
                    table: table.name(),
                    message: format!("missing required column `{}`", field.name()),
                });
            }
        }
    }
    Ok(RecordBatch::try_new(schema, cols)?)
}

/// Sorts rows by the table's [`HistoryTable::sort_columns`] and, for tables with a key,
/// keeps the first row of each key (the earliest received copy of a reading).
pub fn sort_dedup(table: HistoryTable, batch: &RecordBatch) -> Result<RecordBatch, HistoryError> {
    if batch.num_rows() == 0 {
        return Ok(batch.clone());
    }
    let schema = batch.schema();
    let sort_cols: Vec<SortColumn> = table
        .sort_columns()
        .iter()
        .map(|c| -> Result<SortColumn, HistoryError> {
            Ok(SortColumn {
                values: batch.column(schema.index_of(c)?).clone(),
                options: None,
            })
        })
        .collect::<Result<_, _>>()?;
    let indices = lexsort_to_indices(&sort_cols, None)?;
    let sorted = take_record_batch(batch, &indices)?;
    let Some(keys) = table.key_columns() else {
        return Ok(sorted);
    };
    let key_cols: Vec<ArrayRef> = keys
        .iter()
        .map(|c| Ok(sorted.column(schema.index_of(c)?).clone()))
        .collect::<Result<_, HistoryError>>()?;
    let converter = RowConverter::new(
        key_cols
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(&key_cols)?;
    let mut keep = Vec::with_capacity(sorted.num_rows());
    keep.push(true);
    let mut any_dup = false;
    for i in 1..rows.num_rows() {
        let fresh = rows.row(i) != rows.row(i - 1);
        any_dup |= !fresh;
        keep.push(fresh);
    }
    if !any_dup {
        return Ok(sorted);
    }
    Ok(filter_record_batch(&sorted, &keep.into())?)
}

/// What was written.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    /// The file's location in the store.
    pub path: Path,
    /// Rows in the file.
    pub rows: usize,
    /// Row groups in the file.
    pub row_groups: usize,
}

/// Writes `batches` (already conformed, sorted) as one Parquet file at `path`: first under
/// `path.tmp`, invisible to readers, then renamed into place.
pub async fn write_file(
    store: &HistoryStore,
    table: HistoryTable,
    path: &Path,
    batches: &[RecordBatch],
) -> Result<WrittenFile, HistoryError> {
    let tmp = Path::from(format!("{}{TMP_SUFFIX}", path.as_ref()));
    let os = store.object_store();
    let sink = object_store::buffered::BufWriter::new(os.clone(), tmp.clone());
    let mut w = AsyncArrowWriter::try_new(sink, table.schema(), Some(writer_properties(table)))?;
    let mut rows = 0;
    for b in batches {
        rows += b.num_rows();
        w.write(b).await?;
    }
    let meta = w.close().await?;
    os.rename(&tmp, path).await?;
    Ok(WrittenFile {
        path: path.clone(),
        rows,
        row_groups: meta.num_row_groups(),
    })
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A unique file name in a partition: `<prefix><unix ms>-<pid>-<seq>.parquet`.
pub fn file_name(prefix: &str, now_ms: i64) -> String {
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}{now_ms}-{}-{seq}{FILE_EXTENSION}",
        std::process::id()
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Appends batches to the history: each call splits its rows by date partition and
/// writes one sorted, deduplicated file per partition. The stream worker writes this way
/// (small files, often); compaction merges them later.
#[derive(Debug, Clone)]
pub struct HistoryWriter {
    store: HistoryStore,
}

impl HistoryWriter {
    /// A writer into `store`.
    pub fn new(store: HistoryStore) -> HistoryWriter {
        HistoryWriter { store }
    }

    /// The store written to.
    pub fn store(&self) -> &HistoryStore {
        &self.store
    }

    /// Writes `batch` into `table`, one new `part-…` file per date it touches.
    pub async fn append(
        &self,
        table: HistoryTable,
        batch: &RecordBatch,
    ) -> Result<Vec<WrittenFile>, HistoryError> {
        self.append_named(table, batch, "part-").await
    }

    /// Like [`HistoryWriter::append`], naming the files `<prefix>…` (compaction output uses
    /// [`COMPACTED_PREFIX`]).
    pub async fn append_named(
        &self,
        table: HistoryTable,
        batch: &RecordBatch,
        prefix: &str,
    ) -> Result<Vec<WrittenFile>, HistoryError> {
        let batch = conform(table, batch)?;
        let mut out = Vec::new();
        for (date, part) in split_by_date(table, &batch)? {
            let part = sort_dedup(table, &part)?;
            let path = self
                .store
                .partition_prefix(table, &date)
                .join(file_name(prefix, now_ms()));
            out.push(write_file(&self.store, table, &path, &[part]).await?);
        }
        Ok(out)
    }
}

/// Writes compaction output (`compacted-…` files) for one partition: `batch` sorted and
/// split into files of at most `max_rows` rows.
pub(crate) async fn write_compacted(
    store: &HistoryStore,
    table: HistoryTable,
    date: &str,
    batch: &RecordBatch,
    max_rows: usize,
) -> Result<Vec<WrittenFile>, HistoryError> {
    let mut out = Vec::new();
    let mut offset = 0;
    let stamp = now_ms();
    while offset < batch.num_rows() {
        let len = max_rows.max(1).min(batch.num_rows() - offset);
        let slice = batch.slice(offset, len);
        let path = store
            .partition_prefix(table, date)
            .join(file_name(COMPACTED_PREFIX, stamp));
        out.push(write_file(store, table, &path, &[slice]).await?);
        offset += len;
    }
    Ok(out)
}

/// Splits rows by the UTC date of the table's time column.
pub fn split_by_date(
    table: HistoryTable,
    batch: &RecordBatch,
) -> Result<Vec<(String, RecordBatch)>, HistoryError> {
    let col = batch.column(batch.schema().index_of(table.time_column())?);
    let ms = cast(
        col,
        &DataType::Timestamp(
            TimeUnit::Millisecond,
            Some(aqstream_core::arrow::UTC.into()),
        ),
    )?;
    let ms = cast(&ms, &DataType::Int64)?;
    let ms = ms
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>()
        .ok_or_else(|| HistoryError::Schema {
            table: table.name(),
            message: "time column is not a timestamp".into(),
        })?;
    let mut by_day: BTreeMap<i64, Vec<bool>> = BTreeMap::new();
    for i in 0..ms.len() {
        if ms.is_null(i) {
            return Err(HistoryError::Schema {
                table: table.name(),
                message: format!("row {i} has no {}", table.time_column()),
            });
        }
        let day = ms.value(i).div_euclid(aqstream_core::time::DAY_MS);
        by_day.entry(day).or_insert_with(|| vec![false; ms.len()])[i] = true;
    }
    if by_day.len() == 1 {
        let (day, _) = by_day.into_iter().next().unwrap_or_default();
        return Ok(vec![(date_of_day(day), batch.clone())]);
    }
    by_day
        .into_iter()
        .map(|(day, mask)| Ok((date_of_day(day), filter_record_batch(batch, &mask.into())?)))
        .collect()
}

fn date_of_day(day: i64) -> String {
    HistoryTable::partition_of(day * aqstream_core::time::DAY_MS)
}

/// Concatenates batches of the table's schema.
pub fn concat(table: HistoryTable, batches: &[RecordBatch]) -> Result<RecordBatch, HistoryError> {
    let schema: SchemaRef = table.schema();
    Ok(concat_batches(&schema, batches)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aqstream_core::arrow::ReadingBatchBuilder;
    use aqstream_core::reading::Reading;

    fn reading(sensor: &str, ts: i64, pm25: f64) -> Reading {
        let mut r = Reading::new(sensor, ts, 60);
        r.values[0] = Some(pm25);
        r
    }

    #[test]
    fn sorts_by_sensor_and_time_and_drops_duplicate_readings() {
        let mut b = ReadingBatchBuilder::with_capacity(8);
        for r in [
            reading("B", 120_000, 1.0),
            reading("A", 120_000, 2.0),
            reading("A", 60_000, 3.0),
            reading("B", 120_000, 1.0),
            reading("A", 60_000, 3.0),
        ] {
            b.push(&r);
        }
        let out = sort_dedup(HistoryTable::Readings, &b.finish()).unwrap();
        assert_eq!(out.num_rows(), 3);
        let ids = cast(out.column(0), &DataType::Utf8).unwrap();
        let ids = ids
            .as_any()
            .downcast_ref::<datafusion::arrow::array::StringArray>()
            .unwrap();
        assert_eq!(ids.iter().flatten().collect::<Vec<_>>(), ["A", "A", "B"]);
    }

    #[test]
    fn splits_rows_by_utc_date() {
        let day = aqstream_core::time::DAY_MS;
        let mut b = ReadingBatchBuilder::with_capacity(4);
        for r in [
            reading("A", 20_000 * day - 60_000, 1.0),
            reading("A", 20_000 * day, 1.0),
            reading("B", 20_000 * day + 60_000, 1.0),
        ] {
            b.push(&r);
        }
        let parts = split_by_date(HistoryTable::Readings, &b.finish()).unwrap();
        let shape: Vec<(String, usize)> = parts
            .iter()
            .map(|(d, b)| (d.clone(), b.num_rows()))
            .collect();
        assert_eq!(
            shape,
            [("2024-10-03".to_string(), 1), ("2024-10-04".to_string(), 2)]
        );
    }
}
