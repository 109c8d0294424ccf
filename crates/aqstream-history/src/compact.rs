//! Compaction: the many small files a stream writer leaves in a partition become a few
//! large files sorted by sensor and time, with duplicates removed.
//!
//! Per partition: read the settled files (older than [`CompactOptions::min_age`], so a
//! file still being appended to by the writer's current window is left alone), merge,
//! sort, deduplicate, write `compacted-…parquet` (through a `.tmp` name that readers
//! ignore, then a rename), and only then delete the inputs. A reader that lists the
//! partition between the rename and the deletes sees both generations for a moment;
//! a query that had listed the old files and opens one after its deletion fails with
//! "not found" and is retried once by the query engine.

use crate::HistoryError;
use crate::layout::{COMPACTED_PREFIX, HistoryTable};
use crate::storage::{HistoryStore, Partition};
use crate::write::{concat, conform, sort_dedup, write_compacted};
use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use object_store::ObjectMeta;
use object_store::ObjectStoreExt;
use std::time::Duration;

/// What to compact.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// Tables to compact (default: all).
    pub tables: Vec<HistoryTable>,
    /// Only files last modified at least this long ago are touched (default 10 min).
    pub min_age: Duration,
    /// A partition is compacted when it has at least this many settled files (default 2);
    /// a single settled file that compaction did not write is rewritten sorted anyway.
    pub min_files: usize,
    /// Largest output file, in rows (default 8 Mi rows).
    pub max_rows_per_file: usize,
    /// Only partitions with `date >= from` (inclusive, `YYYY-MM-DD`).
    pub from: Option<String>,
    /// Only partitions with `date <= to` (inclusive).
    pub to: Option<String>,
    /// Report what would be done without writing or deleting anything.
    pub dry_run: bool,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            tables: HistoryTable::ALL.to_vec(),
            min_age: Duration::from_secs(600),
            min_files: 2,
            max_rows_per_file: 8 << 20,
            from: None,
            to: None,
            dry_run: false,
        }
    }
}

/// What happened to one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReport {
    /// The table.
    pub table: HistoryTable,
    /// The partition date.
    pub date: String,
    /// Files read (and deleted unless dry run).
    pub files_in: usize,
    /// Files written.
    pub files_out: usize,
    /// Rows read.
    pub rows_in: usize,
    /// Rows written (fewer when duplicates were dropped).
    pub rows_out: usize,
    /// Bytes read.
    pub bytes_in: u64,
}

/// What a compaction run did.
#[derive(Debug, Clone, Default)]
pub struct CompactionReport {
    /// The partitions compacted (or that would be, in a dry run).
    pub partitions: Vec<PartitionReport>,
    /// Partitions looked at and left alone (already compact, or too fresh).
    pub skipped: usize,
}

/// Compacts the history in `store`.
pub async fn compact(
    store: &HistoryStore,
    opts: &CompactOptions,
) -> Result<CompactionReport, HistoryError> {
    let now = std::time::SystemTime::now();
    let mut report = CompactionReport::default();
    for &table in &opts.tables {
        for part in store.partitions(table).await? {
            if opts.from.as_deref().is_some_and(|f| part.date.as_str() < f)
                || opts.to.as_deref().is_some_and(|t| part.date.as_str() > t)
            {
                continue;
            }
            let settled: Vec<ObjectMeta> = part
                .files
                .iter()
                .filter(|m| {
                    let modified: std::time::SystemTime = m.last_modified.into();
                    now.duration_since(modified).unwrap_or_default() >= opts.min_age
                })
                .cloned()
                .collect();
            let worth = settled.len() >= opts.min_files.max(2)
                || (settled.len() == 1
                    && !settled[0]
                        .location
                        .filename()
                        .is_some_and(|n| n.starts_with(COMPACTED_PREFIX)));
            if !worth {
                report.skipped += 1;
                continue;
            }
            let r = compact_partition(store, table, &part, &settled, opts).await?;
            tracing::info!(
                table = table.name(),
                date = %r.date,
                files_in = r.files_in,
                files_out = r.files_out,
                rows_in = r.rows_in,
                rows_out = r.rows_out,
                dry_run = opts.dry_run,
                "compacted partition"
            );
            report.partitions.push(r);
        }
    }
    Ok(report)
}

async fn compact_partition(
    store: &HistoryStore,
    table: HistoryTable,
    part: &Partition,
    files: &[ObjectMeta],
    opts: &CompactOptions,
) -> Result<PartitionReport, HistoryError> {
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut bytes_in = 0;
    for meta in files {
        bytes_in += meta.size;
        batches.extend(read_file(store, table, meta).await?);
    }
    let merged = concat(table, &batches)?;
    drop(batches);
    let rows_in = merged.num_rows();
    let sorted = sort_dedup(table, &merged)?;
    drop(merged);
    let rows_out = sorted.num_rows();
    let files_out = if opts.dry_run {
        rows_out.div_ceil(opts.max_rows_per_file.max(1))
    } else {
        let written =
            write_compacted(store, table, &part.date, &sorted, opts.max_rows_per_file).await?;
        let os = store.object_store();
        for meta in files {
            match os.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        written.len()
    };
    Ok(PartitionReport {
        table,
        date: part.date.clone(),
        files_in: files.len(),
        files_out,
        rows_in,
        rows_out,
        bytes_in,
    })
}

/// Reads a whole history file, conformed to the table's schema (the bytes are fetched
/// asynchronously, decoded on a blocking thread).
pub async fn read_file(
    store: &HistoryStore,
    table: HistoryTable,
    meta: &ObjectMeta,
) -> Result<Vec<RecordBatch>, HistoryError> {
    let bytes = store
        .object_store()
        .get(&meta.location)
        .await?
        .bytes()
        .await?;
    tokio::task::spawn_blocking(move || {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?
            .with_batch_size(64 * 1024)
            .build()?;
        let mut out = Vec::new();
        for b in reader {
            out.push(conform(table, &b?)?);
        }
        Ok(out)
    })
    .await
    .map_err(|e| HistoryError::Config(format!("decoding task failed: {e}")))?
}
