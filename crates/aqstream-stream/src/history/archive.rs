//! The published history read back through DataFusion, for late data.

use super::write::{ledger_entries, ledger_schema};
use crate::archive::{Archive, LedgerEntry};
use crate::error::{Result, StreamError};
use crate::rows::Scope;
use crate::window::{WindowId, WindowKind};
use aqstream_core::Reading;
use aqstream_core::arrow::{aggregates_schema, batch_to_readings, readings_schema};
use aqstream_core::time::{DAY_MS, EpochMillis, utc_date};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int32Type, SchemaRef, TimestampMillisecondType};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// [`Archive`] over the Parquet history (and stage 2's ledger).
pub struct ParquetArchive {
    ctx: SessionContext,
    rt: tokio::runtime::Handle,
    history: PathBuf,
}

impl std::fmt::Debug for ParquetArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetArchive")
            .field("history", &self.history)
            .finish_non_exhaustive()
    }
}

impl ParquetArchive {
    /// Opens the history under `history` and the ledger under `state`. Queries run on
    /// `rt` (call them from a thread that is not driving an async task, e.g. inside
    /// `spawn_blocking`).
    pub fn open(
        history: &Path,
        state: &Path,
        rt: tokio::runtime::Handle,
    ) -> Result<ParquetArchive> {
        // No cache of file listings: DataFusion keeps a listing forever by default, and
        // the archive must see the files published after its first query (earlier
        // epochs' ledger and history, read back by the late paths and recovery).
        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
            .build_arc()?;
        let ctx = SessionContext::new_with_config_rt(
            SessionConfig::new().with_target_partitions(2),
            runtime,
        );
        for (name, root, schema) in [
            ("readings", history, readings_schema()),
            ("aggregates", history, aggregates_schema()),
            ("ledger", state, ledger_schema()),
        ] {
            let dir = root.join(name);
            std::fs::create_dir_all(&dir).map_err(|e| StreamError::io(&dir, e))?;
            register(&ctx, name, &dir, schema)?;
        }
        Ok(ParquetArchive {
            ctx,
            rt,
            history: history.to_path_buf(),
        })
    }

    fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let ctx = self.ctx.clone();
        let sql = sql.to_string();
        let fut = async move { ctx.sql(&sql).await?.collect().await };
        Ok(self.rt.block_on(fut)?)
    }
}

fn register(ctx: &SessionContext, name: &str, dir: &Path, schema: SchemaRef) -> Result<()> {
    let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![("date".to_string(), DataType::Utf8)]);
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// `'a', 'b'` with SQL quoting.
fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items
        .map(|s| format!("'{}'", s.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The UTC dates of `[from, to)`.
fn dates(from: EpochMillis, to: EpochMillis) -> Vec<String> {
    let mut out = Vec::new();
    let mut d = from.div_euclid(DAY_MS);
    while d * DAY_MS < to {
        out.push(utc_date(d * DAY_MS));
        d += 1;
    }
    out
}

impl Archive for ParquetArchive {
    fn readings(
        &self,
        sensors: &[&str],
        from: EpochMillis,
        to: EpochMillis,
    ) -> Result<Vec<Reading>> {
        if sensors.is_empty() || from >= to {
            return Ok(Vec::new());
        }
        let days = dates(from, to);
        let sql = format!(
            "SELECT * FROM readings WHERE date IN ({}) AND sensor_id IN ({})",
            list(days.iter().map(String::as_str)),
            list(sensors.iter().copied())
        );
        let mut out = Vec::new();
        for b in self.query(&sql)? {
            for r in batch_to_readings(&b)? {
                if (from..to).contains(&r.ts) {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    fn revisions(
        &self,
        scope: Scope,
        keys: &[(&str, WindowId)],
    ) -> Result<HashMap<(String, WindowId), i32>> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let mut days: Vec<String> = keys.iter().map(|(_, id)| utc_date(id.start)).collect();
        days.sort();
        days.dedup();
        let mut names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
        names.sort_unstable();
        names.dedup();
        let sql = format!(
            "SELECT key, \"window\", window_start, max(revision) AS r FROM aggregates \
             WHERE date IN ({}) AND scope = '{}' AND key IN ({}) \
             GROUP BY key, \"window\", window_start",
            list(days.iter().map(String::as_str)),
            scope.as_str(),
            list(names.into_iter())
        );
        let wanted: std::collections::HashSet<(&str, WindowId)> = keys.iter().copied().collect();
        let mut out = HashMap::new();
        for b in self.query(&sql)? {
            let bad = || StreamError::corrupt("aggregates history", "unexpected column types");
            let key = b.column(0).as_string_opt::<i32>().ok_or_else(bad)?;
            let window = b.column(1).as_string_opt::<i32>().ok_or_else(bad)?;
            let start = b
                .column(2)
                .as_primitive_opt::<TimestampMillisecondType>()
                .ok_or_else(bad)?;
            let rev = b
                .column(3)
                .as_primitive_opt::<Int32Type>()
                .ok_or_else(bad)?;
            for i in 0..b.num_rows() {
                let Ok(kind) = window.value(i).parse::<WindowKind>() else {
                    continue;
                };
                let id = WindowId {
                    kind,
                    start: start.value(i),
                };
                if rev.is_valid(i) && wanted.contains(&(key.value(i), id)) {
                    out.insert((key.value(i).to_string(), id), rev.value(i));
                }
            }
        }
        Ok(out)
    }

    fn ledger(
        &self,
        districts: &[&str],
        from: EpochMillis,
        to: EpochMillis,
    ) -> Result<Vec<LedgerEntry>> {
        if districts.is_empty() || from >= to {
            return Ok(Vec::new());
        }
        let days = dates(from, to);
        let sql = format!(
            "SELECT * FROM ledger WHERE date IN ({}) AND district IN ({})",
            list(days.iter().map(String::as_str)),
            list(districts.iter().copied())
        );
        let mut out = Vec::new();
        for b in self.query(&sql)? {
            out.extend(
                ledger_entries(&b)?
                    .into_iter()
                    .filter(|e| (from..to).contains(&e.minute_start)),
            );
        }
        Ok(out)
    }
}
