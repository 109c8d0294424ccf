//! The engine's tables: the history as Hive-partitioned Parquet listing tables, and the
//! sensor registry in memory.
//!
//! A history table is a DataFusion listing table over `<table>/date=YYYY-MM-DD/*.parquet`
//! with the canonical schema of `aqstream_core::arrow` (so a table with no files yet is
//! an empty table, not an error). Listing happens at every scan (through a cache with a
//! short TTL, see `EngineTuning::listing_cache_ttl_s`), so files written after start-up
//! are found.
//!
//! Analysts filter on time (`ts`, `window_start`), not on the `date` directory; the
//! wrapper [`HistoryTableProvider`] derives `date` bounds from time bounds so that
//! partitions outside the range are not even listed or opened. Row groups and pages
//! inside the remaining files are pruned by their min/max statistics.

use aqstream_core::registry::SensorRegistry;
use aqstream_core::time::{DAY_MS, utc_date};
use aqstream_history::{HistoryStore, HistoryTable};
use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::logical_expr::{
    BinaryExpr, Expr, Operator, TableProviderFilterPushDown, TableType, col, lit,
};
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;

/// A history table: a listing table plus `date` bounds derived from time filters.
#[derive(Debug)]
pub struct HistoryTableProvider {
    inner: Arc<ListingTable>,
    time_column: Option<&'static str>,
}

impl HistoryTableProvider {
    /// The listing table of `table` in `store`.
    pub fn new(store: &HistoryStore, table: HistoryTable) -> Result<HistoryTableProvider> {
        let url = ListingTableUrl::parse(store.table_url(table))?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(aqstream_history::layout::FILE_EXTENSION)
            .with_table_partition_cols(vec![(
                aqstream_history::layout::PARTITION_COLUMN.to_string(),
                DataType::Utf8,
            )]);
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(table.schema());
        Ok(HistoryTableProvider {
            inner: Arc::new(ListingTable::try_new(config)?),
            // alerts are small and their partition date is not a bound on started_at
            time_column: match table {
                HistoryTable::Readings | HistoryTable::Aggregates | HistoryTable::SensorHealth => {
                    Some(table.time_column())
                }
                HistoryTable::Alerts => None,
            },
        })
    }
}

/// Milliseconds of a timestamp literal.
fn literal_ms(e: &Expr) -> Option<i64> {
    let Expr::Literal(v, _) = e else {
        return None;
    };
    match v {
        ScalarValue::TimestampSecond(Some(x), _) => x.checked_mul(1000),
        ScalarValue::TimestampMillisecond(Some(x), _) => Some(*x),
        ScalarValue::TimestampMicrosecond(Some(x), _) => Some(x.div_euclid(1000)),
        ScalarValue::TimestampNanosecond(Some(x), _) => Some(x.div_euclid(1_000_000)),
        _ => None,
    }
}

fn is_column(e: &Expr, name: &str) -> bool {
    matches!(e, Expr::Column(c) if c.name == name)
}

/// Time bounds `[lo, hi]` (epoch ms, inclusive, either open) implied by one filter.
fn time_bounds(e: &Expr, column: &str) -> (Option<i64>, Option<i64>) {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (op, v) = if is_column(left, column) {
                (*op, literal_ms(right))
            } else if is_column(right, column) {
                (op.swap().unwrap_or(*op), literal_ms(left))
            } else {
                return (None, None);
            };
            let Some(v) = v else {
                return (None, None);
            };
            match op {
                Operator::Eq => (Some(v), Some(v)),
                Operator::Gt | Operator::GtEq => (Some(v), None),
                Operator::Lt | Operator::LtEq => (None, Some(v)),
                _ => (None, None),
            }
        }
        Expr::Between(b) if !b.negated && is_column(&b.expr, column) => {
            (literal_ms(&b.low), literal_ms(&b.high))
        }
        _ => (None, None),
    }
}

/// `date` filters implied by the time filters, with a day of margin on each side (a
/// writer that dated partitions in local time instead of UTC still gets correct
/// results).
pub fn derived_partition_filters(filters: &[Expr], column: &str) -> Vec<Expr> {
    let (mut lo, mut hi): (Option<i64>, Option<i64>) = (None, None);
    for f in filters {
        let (l, h) = time_bounds(f, column);
        if let Some(l) = l {
            lo = Some(lo.map_or(l, |x| x.max(l)));
        }
        if let Some(h) = h {
            hi = Some(hi.map_or(h, |x| x.min(h)));
        }
    }
    let mut out = Vec::new();
    if let Some(lo) = lo {
        out.push(col("date").gt_eq(lit(utc_date(lo.saturating_sub(DAY_MS)))));
    }
    if let Some(hi) = hi {
        out.push(col("date").lt_eq(lit(utc_date(hi.saturating_add(DAY_MS)))));
    }
    out
}

#[async_trait]
impl TableProvider for HistoryTableProvider {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut all = filters.to_vec();
        if let Some(c) = self.time_column {
            all.extend(derived_partition_filters(filters, c));
        }
        self.inner.scan(state, projection, &all, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<datafusion::common::Statistics> {
        self.inner.statistics()
    }
}

/// The registry as an in-memory table.
pub fn sensors_table(reg: &SensorRegistry) -> Result<MemTable> {
    let s = reg.sensors();
    let schema = Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Utf8, false),
        Field::new("gateway_id", DataType::Utf8, false),
        Field::new("lat", DataType::Float64, false),
        Field::new("lon", DataType::Float64, false),
        Field::new("district", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            s.iter().map(|x| x.sensor_id.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            s.iter().map(|x| x.gateway_id.as_str()),
        )),
        Arc::new(Float64Array::from_iter_values(s.iter().map(|x| x.lat))),
        Arc::new(Float64Array::from_iter_values(s.iter().map(|x| x.lon))),
        Arc::new(StringArray::from_iter_values(
            s.iter().map(|x| x.district.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            s.iter().map(|x| x.kind.as_str()),
        )),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols).map_err(DataFusionError::from)?;
    MemTable::try_new(schema, vec![vec![batch]])
}

/// The timestamp type of literals in tests.
#[cfg(test)]
fn ms(v: i64) -> Expr {
    lit(ScalarValue::TimestampMillisecond(
        Some(v),
        Some("UTC".into()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_filters_become_date_bounds_with_a_day_of_margin() {
        // 2026-11-22T08:00Z .. 2026-11-22T09:00Z
        let lo = 1_795_305_600_000 + 8 * 3_600_000;
        let f = vec![
            col("ts").gt_eq(ms(lo)),
            ms(lo + 3_600_000).gt(col("ts")),
            col("pm25").gt(lit(75.0)),
        ];
        let d = derived_partition_filters(&f, "ts");
        assert_eq!(
            d,
            vec![
                col("date").gt_eq(lit("2026-11-21")),
                col("date").lt_eq(lit("2026-11-23"))
            ]
        );
        assert!(derived_partition_filters(&[col("pm25").gt(lit(1.0))], "ts").is_empty());
        let b = col("ts").between(ms(lo), ms(lo + 1));
        assert_eq!(derived_partition_filters(&[b], "ts").len(), 2);
    }
}
