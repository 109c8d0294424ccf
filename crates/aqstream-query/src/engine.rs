//! The DataFusion session behind every SQL surface, and how one statement runs:
//! parse (PostgreSQL dialect) → sandbox ([`crate::sandbox`]) → PostgreSQL rewrites
//! ([`crate::pgcompat`]) → plan → access check → execute under the limits (memory pool
//! without spilling, row limit, timeout), on the engine's executor runtime.

use crate::auth::Principal;
use crate::cancel::{CancelFlag, CancelOnDrop, cancellable};
use crate::config::{EngineTuning, LimitsConfig};
use crate::metrics::QueryMetrics;
use crate::pgcompat::{self, PgCatalog, Relation, RewriteContext};
use crate::sandbox::{self, Action};
use crate::tables::{HistoryTableProvider, sensors_table};
use aqstream_core::registry::SensorRegistry;
use aqstream_history::{HistoryStore, HistoryTable, StorageConfig};
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ParamValues;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::LogicalPlan;

use datafusion::physical_plan::execute_stream;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use futures::StreamExt;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The catalogue (database) name.
pub const DATABASE: &str = "aqstream";

/// Errors of the query engine. [`QueryError::sqlstate`] gives the PostgreSQL error code.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The SQL failed to parse, plan or run (usually the query's fault).
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// The sandbox refused the statement.
    #[error("{0}")]
    Refused(String),
    /// The user may not read a table.
    #[error("permission denied for table {table} (user {user})")]
    PermissionDenied {
        /// The user.
        user: String,
        /// The table.
        table: String,
    },
    /// The query ran longer than the limit.
    #[error("query cancelled: it ran longer than the limit of {0:?}")]
    Timeout(Duration),
    /// The query needed more memory than the limit.
    #[error("query needs more memory than the limit of {limit_mb} MiB: {detail}")]
    MemoryLimit {
        /// The limit.
        limit_mb: usize,
        /// DataFusion's account of who held what.
        detail: String,
    },
    /// The result has more rows than the limit.
    #[error("result exceeds the limit of {0} rows; aggregate, filter, or add a LIMIT")]
    TooManyRows(usize),
    /// More than one statement where one is expected.
    #[error("expected one SQL statement, got {0}")]
    NotOneStatement(usize),
    /// The sensor registry could not be read.
    #[error("sensor registry {path}: {message}")]
    Registry {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The history location could not be opened.
    #[error(transparent)]
    History(#[from] aqstream_history::HistoryError),
    /// Configuration that cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// The query's task failed (panicked) on the executor.
    #[error("query failed: {0}")]
    Internal(String),
}

impl QueryError {
    /// The PostgreSQL SQLSTATE of the error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            QueryError::Refused(_) => "25006",
            QueryError::PermissionDenied { .. } => "42501",
            QueryError::Timeout(_) => "57014",
            QueryError::MemoryLimit { .. } => "53200",
            QueryError::TooManyRows(_) => "54000",
            QueryError::NotOneStatement(_) => "42601",
            QueryError::DataFusion(DataFusionError::SQL(..)) => "42601",
            QueryError::DataFusion(e) => {
                let m = e.to_string();
                if m.contains("not found") && m.contains("table") {
                    "42P01"
                } else if m.contains("No field named") || m.contains("Schema error") {
                    "42703"
                } else if m.contains("Invalid function")
                    || m.contains("function") && m.contains("not found")
                {
                    "42883"
                } else {
                    "42000"
                }
            }
            _ => "XX000",
        }
    }

    /// Is it worth running the same query again (storage hiccup, file replaced by
    /// compaction)?
    pub fn is_retryable(&self) -> bool {
        match self {
            QueryError::DataFusion(e) => is_not_found(e),
            QueryError::History(e) => e.is_retryable(),
            _ => false,
        }
    }
}

fn is_not_found(e: &DataFusionError) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(os) = err.downcast_ref::<datafusion::object_store::Error>() {
            return matches!(os, datafusion::object_store::Error::NotFound { .. });
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::NotFound;
        }
        cur = err.source();
    }
    e.to_string().contains("not found") && e.to_string().contains("Object at location")
}

/// Which surface a query came through (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `aqstream sql`.
    Cli,
    /// `POST /sql`.
    Http,
    /// The PostgreSQL wire protocol.
    Pg,
}

impl Surface {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Cli => "cli",
            Surface::Http => "http",
            Surface::Pg => "pg",
        }
    }
}

/// Where the engine finds its tables, and how it runs queries.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// The Parquet history (`readings`, `aggregates`, `alerts` tables); none: no
    /// history tables.
    pub history: Option<StorageConfig>,
    /// The sensor registry to expose as the `sensors` table.
    pub sensors: Option<PathBuf>,
    /// Engine tuning.
    pub tuning: EngineTuning,
    /// Per-query limits.
    pub limits: LimitsConfig,
}

impl EngineOptions {
    /// Options for a local history directory.
    pub fn local(history_dir: impl Into<PathBuf>) -> EngineOptions {
        EngineOptions {
            history: Some(StorageConfig {
                url: history_dir.into().to_string_lossy().into_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// A statement ready to run.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// A planned query.
    Query(LogicalPlan),
    /// A statement acknowledged with this tag.
    Command(&'static str),
    /// `SHOW <setting>`: one row, one column.
    Show {
        /// The setting's name.
        name: String,
        /// Its value.
        value: String,
    },
    /// A catalogue query with a known empty answer (columns are text).
    Empty(SchemaRef),
}

impl Prepared {
    /// The schema of the rows this statement returns (empty for commands).
    pub fn schema(&self) -> SchemaRef {
        match self {
            Prepared::Query(p) => Arc::new(p.schema().as_arrow().clone()),
            Prepared::Command(_) => Arc::new(Schema::empty()),
            Prepared::Show { name, .. } => show_schema(name),
            Prepared::Empty(s) => s.clone(),
        }
    }

    /// Types of the `$n` parameters (`None`: not inferable; treat as text).
    pub fn parameter_types(&self) -> Result<Vec<Option<DataType>>, QueryError> {
        let Prepared::Query(plan) = self else {
            return Ok(vec![]);
        };
        let types = plan.get_parameter_types()?;
        let mut out: Vec<(usize, Option<DataType>)> = types
            .into_iter()
            .filter_map(|(k, v)| {
                k.trim_start_matches('$')
                    .parse::<usize>()
                    .ok()
                    .map(|i| (i, v))
            })
            .collect();
        out.sort_by_key(|(i, _)| *i);
        let n = out.last().map(|(i, _)| *i).unwrap_or(0);
        let mut v = vec![None; n];
        for (i, t) in out {
            if i >= 1 {
                v[i - 1] = t;
            }
        }
        Ok(v)
    }
}

fn show_schema(name: &str) -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, true)]))
}

/// The result of a statement.
#[derive(Debug, Clone)]
pub enum QueryOutput {
    /// Rows.
    Rows {
        /// Their schema.
        schema: SchemaRef,
        /// The rows.
        batches: Vec<RecordBatch>,
    },
    /// A command completed (`SET`, `BEGIN`, …).
    Command(&'static str),
}

impl QueryOutput {
    /// Number of rows (0 for commands).
    pub fn num_rows(&self) -> usize {
        match self {
            QueryOutput::Rows { batches, .. } => batches.iter().map(|b| b.num_rows()).sum(),
            QueryOutput::Command(_) => 0,
        }
    }
}

/// A DataFusion session with aqstream's tables and functions.
#[derive(Clone)]
pub struct QueryEngine {
    ctx: SessionContext,
    catalog: Arc<PgCatalog>,
    user_tables: Arc<Vec<String>>,
    limits: LimitsConfig,
    exec: Option<tokio::runtime::Handle>,
    metrics: Option<QueryMetrics>,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine")
            .field("tables", &self.user_tables)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(NonZeroUsize::get)
        .unwrap_or(2)
}

impl QueryEngine {
    /// Builds the session: the functions, the history tables (when a history is
    /// configured; all three, empty until files appear), the `sensors` table and the
    /// `pg_catalog` schema.
    pub async fn new(opts: &EngineOptions) -> Result<QueryEngine, QueryError> {
        let partitions = match opts.tuning.target_partitions {
            0 => cores(),
            n => n,
        };
        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(DATABASE, "public")
            .with_target_partitions(partitions);
        let o = config.options_mut();
        o.execution.parquet.pushdown_filters = true;
        o.execution.parquet.reorder_filters = true;
        o.sql_parser.enable_ident_normalization = true;
        let ttl = opts.tuning.listing_cache_ttl_s;
        let cache = if ttl > 0.0 {
            CacheManagerConfig::default()
                .with_list_files_cache_ttl(Some(Duration::from_secs_f64(ttl)))
        } else {
            CacheManagerConfig::default().with_list_files_cache_limit(0)
        };
        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(cache)
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        for f in crate::udf::all() {
            ctx.register_udf(f);
        }
        for f in crate::udf::aggregates() {
            ctx.register_udaf(f);
        }
        let mut user_tables = Vec::new();
        if let Some(storage) = &opts.history {
            let store = HistoryStore::open(storage)?;
            let url = ObjectStoreUrl::parse(store.store_url())?;
            ctx.register_object_store(url.as_ref(), store.object_store());
            for table in HistoryTable::ALL {
                ctx.register_table(
                    table.name(),
                    Arc::new(HistoryTableProvider::new(&store, table)?),
                )?;
                user_tables.push(table.name().to_string());
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
            user_tables.push("sensors".into());
        }
        let mut relations = Vec::new();
        for (i, name) in user_tables.iter().enumerate() {
            if let Ok(t) = ctx.table_provider(name.as_str()).await {
                relations.push(Relation::new(
                    pgcompat::catalog::FIRST_TABLE_OID + i as u32,
                    "public",
                    name,
                    &t.schema(),
                ));
            }
        }
        let catalog = Arc::new(PgCatalog {
            database: DATABASE.into(),
            owner: crate::auth::DEFAULT_USER.into(),
            relations,
        });
        let cat = ctx
            .catalog(DATABASE)
            .ok_or_else(|| QueryError::Internal("default catalog missing".into()))?;
        cat.register_schema("pg_catalog", catalog.schema_provider()?)?;
        for f in pgcompat::functions::functions(catalog.clone()) {
            ctx.register_udf(f);
        }
        Ok(QueryEngine {
            ctx,
            catalog,
            user_tables: Arc::new(user_tables),
            limits: opts.limits,
            exec: None,
            metrics: None,
        })
    }

    /// Runs queries on `handle` (a runtime apart from the one serving connections).
    pub fn with_executor(mut self, handle: tokio::runtime::Handle) -> QueryEngine {
        self.exec = Some(handle);
        self
    }

    /// Counts queries in `metrics`.
    pub fn with_metrics(mut self, metrics: QueryMetrics) -> QueryEngine {
        self.metrics = Some(metrics);
        self
    }

    /// The underlying session (for surfaces that need more than [`QueryEngine::sql`]).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The catalogue the PostgreSQL surface describes.
    pub fn pg_catalog(&self) -> &Arc<PgCatalog> {
        &self.catalog
    }

    /// The limits queries run under.
    pub fn limits(&self) -> &LimitsConfig {
        &self.limits
    }

    /// The tables of the engine (history tables and `sensors`).
    pub fn tables(&self) -> &[String] {
        &self.user_tables
    }

    /// Runs one SQL statement as the local user and collects the result (commands give
    /// an empty result).
    pub async fn sql(&self, query: &str) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
        match self
            .run_one(&Principal::local(), Surface::Cli, query)
            .await?
        {
            QueryOutput::Rows { schema, batches } => Ok((schema, batches)),
            QueryOutput::Command(_) => Ok((Arc::new(Schema::empty()), vec![])),
        }
    }

    /// Parses SQL text (PostgreSQL dialect) into statements.
    pub fn parse(&self, sql: &str) -> Result<Vec<DfStatement>, QueryError> {
        match DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {}) {
            Ok(stmts) => Ok(stmts.into()),
            // a write or COPY the parser does not know is still refused as such
            Err(e) => Err(sandbox::refuse_unparsed(sql).unwrap_or_else(|| e.into())),
        }
    }

    /// Runs exactly one statement.
    pub async fn run_one(
        &self,
        who: &Principal,
        surface: Surface,
        sql: &str,
    ) -> Result<QueryOutput, QueryError> {
        let started = Instant::now();
        let result = async {
            let mut stmts = self.parse(sql)?;
            if stmts.len() != 1 {
                return Err(QueryError::NotOneStatement(stmts.len()));
            }
            let stmt = stmts.remove(0);
            let prepared = self.prepare(who, stmt).await?;
            self.execute_unmetered(&prepared, None).await
        }
        .await;
        self.observe(surface, started, &result);
        result
    }

    /// Sandbox, rewrite and plan one statement for `who`.
    pub async fn prepare(
        &self,
        who: &Principal,
        stmt: DfStatement,
    ) -> Result<Prepared, QueryError> {
        let stmt = match sandbox::classify(stmt)? {
            Action::Command(tag) => return Ok(Prepared::Command(tag)),
            Action::Show(name) => return self.show(&name),
            Action::Query(s) => s,
        };
        let stmt = self.rewrite(who, stmt);
        let state = self.ctx.state();
        let plan = match state.statement_to_plan(stmt.clone()).await {
            Ok(p) => p,
            Err(e) => {
                if let DfStatement::Statement(s) = &stmt
                    && let Some(cols) = pgcompat::empty_catalog_answer(s)
                {
                    let schema = Schema::new(
                        cols.iter()
                            .map(|c| Field::new(c, DataType::Utf8, true))
                            .collect::<Vec<_>>(),
                    );
                    return Ok(Prepared::Empty(Arc::new(schema)));
                }
                return Err(e.into());
            }
        };
        sandbox::check_plan(&plan, who)?;
        Ok(Prepared::Query(plan))
    }

    fn rewrite(&self, who: &Principal, stmt: DfStatement) -> DfStatement {
        let ctx = RewriteContext {
            user: &who.user,
            database: DATABASE,
            user_tables: &self.user_tables,
        };
        match stmt {
            DfStatement::Statement(mut s) => {
                pgcompat::rewrite(&mut s, &ctx);
                DfStatement::Statement(s)
            }
            DfStatement::Explain(mut e) => {
                if let DfStatement::Statement(s) = e.statement.as_mut() {
                    pgcompat::rewrite(s, &ctx);
                }
                DfStatement::Explain(e)
            }
            other => other,
        }
    }

    fn show(&self, name: &str) -> Result<Prepared, QueryError> {
        let lower = name.to_ascii_lowercase();
        let key = match lower.as_str() {
            "transaction isolation level" => "transaction_isolation",
            "time zone" => "TimeZone",
            _ => name,
        };
        match pgcompat::catalog::setting(key) {
            Some(v) => Ok(Prepared::Show {
                name: lower.replace(' ', "_"),
                value: v.to_string(),
            }),
            None => Err(QueryError::DataFusion(DataFusionError::Plan(format!(
                "unrecognized configuration parameter \"{name}\""
            )))),
        }
    }

    /// Runs a prepared statement with `$n` parameter values, under the limits.
    pub async fn execute(
        &self,
        prepared: &Prepared,
        params: Option<ParamValues>,
        surface: Surface,
    ) -> Result<QueryOutput, QueryError> {
        let started = Instant::now();
        let result = self.execute_unmetered(prepared, params).await;
        self.observe(surface, started, &result);
        result
    }

    async fn execute_unmetered(
        &self,
        prepared: &Prepared,
        params: Option<ParamValues>,
    ) -> Result<QueryOutput, QueryError> {
        let plan = match prepared {
            Prepared::Command(tag) => return Ok(QueryOutput::Command(tag)),
            Prepared::Show { name, value } => {
                let schema = show_schema(name);
                let batch = RecordBatch::try_new(
                    schema.clone(),
                    vec![Arc::new(StringArray::from(vec![value.as_str()]))],
                )
                .map_err(DataFusionError::from)?;
                return Ok(QueryOutput::Rows {
                    schema,
                    batches: vec![batch],
                });
            }
            Prepared::Empty(schema) => {
                return Ok(QueryOutput::Rows {
                    schema: schema.clone(),
                    batches: vec![],
                });
            }
            Prepared::Query(plan) => match params {
                Some(p) => plan.clone().with_param_values(p)?,
                None => plan.clone(),
            },
        };
        match self.collect(plan.clone()).await {
            Err(e) if e.is_retryable() => {
                tracing::debug!("retrying a query after a vanished file: {e}");
                if let Some(c) = self.ctx.runtime_env().cache_manager.get_list_files_cache() {
                    c.clear();
                }
                self.collect(plan).await
            }
            other => other,
        }
    }

    /// Plans physically and executes `plan` under the limits, on the executor.
    async fn collect(&self, plan: LogicalPlan) -> Result<QueryOutput, QueryError> {
        let limits = self.limits;
        let flag = CancelFlag::default();
        // stops the operators when this future is dropped or times out
        let _cancel_on_drop = CancelOnDrop(flag.clone());
        let state = self.ctx.state();
        let runtime = self.query_runtime();
        let run_flag = flag.clone();
        let fut = async move {
            let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
            let physical = cancellable(state.create_physical_plan(&plan).await?, &run_flag)?;
            let task = Arc::new(TaskContext::from(&state).with_runtime(runtime));
            let mut stream = execute_stream(physical, task)?;
            let mut batches = Vec::new();
            let mut rows = 0usize;
            while let Some(b) = stream.next().await {
                let b = b.map_err(|e| memory_error(e, limits.memory_mb))?;
                rows += b.num_rows();
                if rows > limits.max_rows {
                    return Err(QueryError::TooManyRows(limits.max_rows));
                }
                if b.num_rows() > 0 {
                    batches.push(b);
                }
            }
            Ok(QueryOutput::Rows { schema, batches })
        };
        let timeout = Duration::from_secs_f64(limits.timeout_s.max(0.001));
        let mut handle = match &self.exec {
            Some(h) => h.spawn(fut),
            None => tokio::spawn(fut),
        };
        match tokio::time::timeout(timeout, &mut handle).await {
            Ok(Ok(r)) => r,
            Ok(Err(join)) => Err(QueryError::Internal(join.to_string())),
            Err(_) => {
                flag.cancel();
                handle.abort();
                Err(QueryError::Timeout(timeout))
            }
        }
    }

    /// A runtime for one query: the shared caches and object stores, a memory pool of
    /// its own, no disk.
    fn query_runtime(&self) -> Arc<RuntimeEnv> {
        let base = self.ctx.runtime_env();
        let limit = self.limits.memory_mb.max(1) * 1024 * 1024;
        let pool = TrackConsumersPool::new(
            GreedyMemoryPool::new(limit),
            NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN),
        );
        Arc::new(RuntimeEnv {
            memory_pool: Arc::new(pool),
            disk_manager: base.disk_manager.clone(),
            cache_manager: base.cache_manager.clone(),
            object_store_registry: base.object_store_registry.clone(),
        })
    }

    fn observe(
        &self,
        surface: Surface,
        started: Instant,
        result: &Result<QueryOutput, QueryError>,
    ) {
        if let Some(m) = &self.metrics {
            m.observe(surface, started.elapsed(), result.as_ref());
        }
    }

    /// Counts a statement that failed before it ran (parse or plan errors of a surface
    /// that prepares and executes separately).
    pub fn record_error(&self, surface: Surface, started: Instant, e: &QueryError) {
        if let Some(m) = &self.metrics {
            m.observe(surface, started.elapsed(), Err(e));
        }
    }
}

fn memory_error(e: DataFusionError, limit_mb: usize) -> QueryError {
    match e.find_root() {
        DataFusionError::ResourcesExhausted(detail) => QueryError::MemoryLimit {
            limit_mb,
            detail: detail.clone(),
        },
        _ => QueryError::DataFusion(e),
    }
}
