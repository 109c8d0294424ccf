//! The shape of the history: tables, partitions, file names, sort order.
//!
//! ```text
//! <root>/readings/date=2026-11-22/part-1795334400000-0.parquet      (written by the stream worker)
//! <root>/readings/date=2026-11-22/compacted-1795420800000-0.parquet (written by compaction)
//! <root>/aggregates/date=2026-11-22/…
//! <root>/alerts/date=2026-11-22/…
//! <root>/sensor_health/date=2026-11-22/…
//! ```
//!
//! A row belongs to the UTC date of its table's [`HistoryTable::time_column`]. Files are
//! Parquet with the Arrow schemas of `aqstream_core::arrow`; the `date` column exists only
//! in the directory name. Files being written end in `.tmp` and are invisible to readers.

use aqstream_core::arrow::{
    aggregates_schema, alerts_schema, readings_schema, sensor_health_schema,
};
use aqstream_core::time::utc_date;
use datafusion::arrow::datatypes::SchemaRef;
use std::fmt;
use std::str::FromStr;

/// Name of the Hive partition column.
pub const PARTITION_COLUMN: &str = "date";
/// Extension of history files.
pub const FILE_EXTENSION: &str = ".parquet";
/// Suffix of files still being written (readers ignore them).
pub const TMP_SUFFIX: &str = ".tmp";
/// File name prefix of compaction output.
pub const COMPACTED_PREFIX: &str = "compacted-";

/// A table of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HistoryTable {
    /// Validated readings, one row per sensor and minute (contract section 3).
    Readings,
    /// Windowed aggregates per sensor and district.
    Aggregates,
    /// Alert state changes (contract section 4).
    Alerts,
    /// Sensor QA problems raised and cleared by the stream worker.
    SensorHealth,
}

impl HistoryTable {
    /// Every table.
    pub const ALL: [HistoryTable; 4] = [
        HistoryTable::Readings,
        HistoryTable::Aggregates,
        HistoryTable::Alerts,
        HistoryTable::SensorHealth,
    ];

    /// The table (and directory) name.
    pub const fn name(self) -> &'static str {
        match self {
            HistoryTable::Readings => "readings",
            HistoryTable::Aggregates => "aggregates",
            HistoryTable::Alerts => "alerts",
            HistoryTable::SensorHealth => "sensor_health",
        }
    }

    /// The Arrow schema of the table's files.
    pub fn schema(self) -> SchemaRef {
        match self {
            HistoryTable::Readings => readings_schema(),
            HistoryTable::Aggregates => aggregates_schema(),
            HistoryTable::Alerts => alerts_schema(),
            HistoryTable::SensorHealth => sensor_health_schema(),
        }
    }

    /// The event-time column whose UTC date names a row's partition.
    pub const fn time_column(self) -> &'static str {
        match self {
            HistoryTable::Readings => "ts",
            HistoryTable::Aggregates => "window_start",
            HistoryTable::Alerts => "detected_at",
            HistoryTable::SensorHealth => "ts",
        }
    }

    /// The sort order of compacted files: by sensor (or series), then time. Sorted files
    /// make the min/max statistics of row groups and pages narrow, which is what lets a
    /// `sensor_id = …` or `ts BETWEEN …` predicate skip most of a file.
    pub const fn sort_columns(self) -> &'static [&'static str] {
        match self {
            HistoryTable::Readings => &["sensor_id", "ts", "period_s", "received_at"],
            HistoryTable::Aggregates => &["window", "scope", "key", "window_start", "revision"],
            HistoryTable::Alerts => &["detected_at", "alert_id", "state"],
            HistoryTable::SensorHealth => &["sensor_id", "ts", "problem", "state"],
        }
    }

    /// Columns that identify a row: rows equal on all of them are duplicates (a reading
    /// delivered twice, an aggregate emitted again after a restart). `None`: keep all rows.
    pub const fn key_columns(self) -> Option<&'static [&'static str]> {
        match self {
            HistoryTable::Readings => Some(&["sensor_id", "ts", "period_s"]),
            HistoryTable::Aggregates => {
                Some(&["window", "scope", "key", "window_start", "revision"])
            }
            HistoryTable::Alerts => None,
            // a change re-emitted after a restart is the same row
            HistoryTable::SensorHealth => Some(&["sensor_id", "ts", "problem", "state"]),
        }
    }

    /// String columns worth a Parquet bloom filter (point lookups by sensor or alert).
    pub const fn bloom_filter_columns(self) -> &'static [&'static str] {
        match self {
            HistoryTable::Readings => &["sensor_id"],
            HistoryTable::Aggregates => &["key", "sensor_id"],
            HistoryTable::Alerts => &["alert_id"],
            HistoryTable::SensorHealth => &["sensor_id"],
        }
    }

    /// The partition value of an event time (epoch ms): its UTC date.
    pub fn partition_of(ts_ms: i64) -> String {
        utc_date(ts_ms)
    }
}

impl fmt::Display for HistoryTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HistoryTable {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HistoryTable::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                format!("unknown history table `{s}` (readings, aggregates, alerts, sensor_health)")
            })
    }
}

/// The directory name of a partition: `date=YYYY-MM-DD`.
pub fn partition_dir(date: &str) -> String {
    format!("{PARTITION_COLUMN}={date}")
}

/// The date of a partition directory name, if it is one (`date=2026-11-22` → `2026-11-22`).
pub fn parse_partition_dir(name: &str) -> Option<&str> {
    let date = name.strip_prefix(PARTITION_COLUMN)?.strip_prefix('=')?;
    is_date(date).then_some(date)
}

/// Is `s` shaped like `YYYY-MM-DD`?
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// Is this object a finished history file (not a temporary one)?
pub fn is_history_file(name: &str) -> bool {
    name.ends_with(FILE_EXTENSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_utc_dates() {
        // 2026-11-22T23:59:00Z and the minute ending at midnight
        assert_eq!(HistoryTable::partition_of(1_795_391_940_000), "2026-11-22");
        assert_eq!(HistoryTable::partition_of(1_795_392_000_000), "2026-11-23");
        assert_eq!(partition_dir("2026-11-22"), "date=2026-11-22");
        assert_eq!(parse_partition_dir("date=2026-11-22"), Some("2026-11-22"));
        assert_eq!(parse_partition_dir("date=2026-11"), None);
        assert_eq!(parse_partition_dir("day=2026-11-22"), None);
    }

    #[test]
    fn sort_and_key_columns_exist_in_the_schemas() {
        for t in HistoryTable::ALL {
            let schema = t.schema();
            let time = t.time_column();
            let cols = t
                .sort_columns()
                .iter()
                .chain(t.key_columns().unwrap_or(&[]))
                .chain(t.bloom_filter_columns())
                .chain(std::iter::once(&time));
            for c in cols {
                assert!(schema.index_of(c).is_ok(), "{t}: no column {c}");
            }
            assert_eq!(t.name().parse::<HistoryTable>(), Ok(t));
        }
        assert!(!is_history_file("part-1.parquet.tmp"));
        assert!(is_history_file("part-1.parquet"));
    }
}
