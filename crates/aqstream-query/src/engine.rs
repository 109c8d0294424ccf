//! The DataFusion session behind every SQL surface.

use aqstream_core::registry::SensorRegistry;
use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The history tables stored as Hive-partitioned Parquet under the history directory.
pub const HISTORY_TABLES: [&str; 3] = ["readings", "aggregates", "alerts"];

/// Errors of the query engine.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The SQL failed to plan or run (a user error unless it says otherwise).
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// The sensor registry could not be read.
    #[error("sensor registry {path}: {message}")]
    Registry {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Where the engine finds its tables.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Root of the Parquet history (`readings/date=YYYY-MM-DD/*.parquet`, …).
    pub history_dir: Option<PathBuf>,
    /// The sensor registry to expose as the `sensors` table.
    pub sensors: Option<PathBuf>,
    /// Parallelism of query execution (default: the number of cores).
    pub target_partitions: Option<usize>,
}

/// A DataFusion session with aqstream's tables and functions.
pub struct QueryEngine {
    ctx: SessionContext,
}

impl QueryEngine {
    /// Builds the session: registers the functions, the history tables that exist under
    /// `history_dir`, and the `sensors` table.
    pub async fn new(opts: &EngineOptions) -> Result<QueryEngine, QueryError> {
        let mut config = SessionConfig::new().with_information_schema(true);
        if let Some(n) = opts.target_partitions {
            config = config.with_target_partitions(n.max(1));
        }
        let ctx = SessionContext::new_with_config(config);
        for f in crate::udf::all() {
            ctx.register_udf(f);
        }
        if let Some(dir) = &opts.history_dir {
            for table in HISTORY_TABLES {
                let path = dir.join(table);
                if has_parquet(&path) {
                    register_history_table(&ctx, table, &path).await?;
                }
            }
        }
        if let Some(path) = &opts.sensors {
            let text = std::fs::read_to_string(path).map_err(|e| QueryError::Registry {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let reg = SensorRegistry::from_csv(&text).map_err(|e| QueryError::Registry {
                path: path.clone(),
                message: e.to_string(),
            })?;
            ctx.register_table("sensors", Arc::new(sensors_table(&reg)?))?;
        }
        Ok(QueryEngine { ctx })
    }

    /// The underlying session (for surfaces that need more than [`QueryEngine::sql`]).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs one SQL statement and collects the result.
    pub async fn sql(&self, query: &str) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
        let df = self.ctx.sql(query).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        Ok((schema, batches))
    }
}

/// Does `dir` contain any Parquet file (at any depth)?
fn has_parquet(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            has_parquet(&p)
        } else {
            p.extension().is_some_and(|x| x == "parquet")
        }
    })
}

async fn register_history_table(
    ctx: &SessionContext,
    name: &str,
    path: &Path,
) -> Result<(), QueryError> {
    let url = ListingTableUrl::parse(format!("{}/", path.display()))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![("date".to_string(), DataType::Utf8)]);
    let state = ctx.state();
    let schema = options.infer_schema(&state, &url).await?;
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// The registry as an in-memory table.
fn sensors_table(reg: &SensorRegistry) -> Result<MemTable, QueryError> {
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
    Ok(MemTable::try_new(schema, vec![vec![batch]])?)
}
