//! The configuration file sections the SQL commands read: `[history]` (where the
//! history is) and `[sql]` (limits, users, listeners). The file may carry sections of
//! other commands; each command reads its own (and those are strict about their keys).

use aqstream_history::StorageConfig;
use aqstream_query::SqlConfig;
use serde::Deserialize;

/// The sections `sql`, `serve` and `history` read from the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FileConfig {
    /// Where the history is.
    pub history: StorageConfig,
    /// The SQL service.
    pub sql: SqlConfig,
}

/// The history location: `--history-dir` (a directory or URL) over the file's
/// `[history] url`.
pub fn history_config(file: &FileConfig, flag: Option<&str>) -> StorageConfig {
    let mut h = file.history.clone();
    if let Some(dir) = flag {
        h.url = dir.to_string();
    }
    h
}
