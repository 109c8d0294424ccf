//! Metrics of the SQL service:
//!
//! * `aq_sql_queries_total{surface,outcome}` — statements run, by surface (`cli`, `http`,
//!   `pg`) and outcome (`ok`, `error`, `refused`, `denied`, `timeout`, `memory`, `rows`);
//! * `aq_sql_query_duration_seconds{surface}` — time from parse to the last row;
//! * `aq_sql_rows_returned_total{surface}` — rows sent back.

use crate::engine::{QueryError, QueryOutput, Surface};
use aqstream_runtime::MetricsRegistry;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};
use std::time::Duration;

/// The SQL metrics, registered once per process.
#[derive(Clone, Debug)]
pub struct QueryMetrics {
    queries: IntCounterVec,
    duration: HistogramVec,
    rows: IntCounterVec,
}

/// The `outcome` label of an error.
pub fn outcome(e: &QueryError) -> &'static str {
    match e {
        QueryError::Refused(_) => "refused",
        QueryError::PermissionDenied { .. } => "denied",
        QueryError::Timeout(_) => "timeout",
        QueryError::MemoryLimit { .. } => "memory",
        QueryError::TooManyRows(_) => "rows",
        _ => "error",
    }
}

impl QueryMetrics {
    /// Creates and registers the metrics.
    pub fn register(reg: &MetricsRegistry) -> Result<QueryMetrics, prometheus::Error> {
        let queries = IntCounterVec::new(
            Opts::new(
                "aq_sql_queries_total",
                "SQL statements run, by surface and outcome",
            ),
            &["surface", "outcome"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "aq_sql_query_duration_seconds",
                "Time from parsing a SQL statement to its last row",
            )
            .buckets(vec![
                0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["surface"],
        )?;
        let rows = IntCounterVec::new(
            Opts::new(
                "aq_sql_rows_returned_total",
                "Rows returned by SQL statements",
            ),
            &["surface"],
        )?;
        Ok(QueryMetrics {
            queries: reg.register(&queries),
            duration: reg.register(&duration),
            rows: reg.register(&rows),
        })
    }

    /// Records one statement.
    pub fn observe(&self, surface: Surface, took: Duration, r: Result<&QueryOutput, &QueryError>) {
        let s = surface.as_str();
        let o = match r {
            Ok(_) => "ok",
            Err(e) => outcome(e),
        };
        self.queries.with_label_values(&[s, o]).inc();
        self.duration
            .with_label_values(&[s])
            .observe(took.as_secs_f64());
        if let Ok(out) = r {
            self.rows
                .with_label_values(&[s])
                .inc_by(out.num_rows() as u64);
        }
    }
}
