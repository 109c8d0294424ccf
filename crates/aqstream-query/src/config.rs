//! Configuration of the SQL service (`[sql]` in the TOML file).
//!
//! ```toml
//! [sql]
//! sensors = "sensors.csv"
//!
//! [sql.limits]
//! timeout_s = 30
//! memory_mb = 512
//! max_rows = 100000
//!
//! [[sql.users]]
//! name = "analyst"
//! password_env = "AQSTREAM_ANALYST_PASSWORD"
//! tables = ["*"]
//!
//! [[sql.users]]
//! name = "grafana"
//! scram = "SCRAM-SHA-256$4096:c2FsdA==$…:…"   # as PostgreSQL stores it (pg_authid.rolpassword)
//! tables = ["aggregates", "alerts", "sensors"]
//!
//! [sql.pg]
//! listen = "127.0.0.1:5433"
//! tls_cert = "server.crt"
//! tls_key = "server.key"
//! ```

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The SQL service: engine, limits, users and listeners.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqlConfig {
    /// Sensor registry CSV exposed as the `sensors` table (none: no `sensors` table).
    pub sensors: Option<PathBuf>,
    /// Per-query limits.
    pub limits: LimitsConfig,
    /// Engine tuning.
    pub engine: EngineTuning,
    /// Who may connect and which tables each may read. Empty: one built-in user
    /// `aqstream` with password `aqstream`, allowed only while every listener is bound to
    /// a loopback address (a one-machine default, never a deployment).
    pub users: Vec<UserConfig>,
    /// The PostgreSQL wire protocol listener.
    pub pg: PgConfig,
    /// The HTTP listener (`POST /sql`, `/metrics`, `/healthz`).
    pub http: HttpConfig,
}

/// Limits every query runs under, on every surface.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Wall-clock limit of one query, in seconds (planning, execution and collecting).
    pub timeout_s: f64,
    /// Memory one query may hold in operators (hash tables, sorts), in MiB. Nothing
    /// spills to disk: a query over the limit fails with "memory limit".
    pub memory_mb: usize,
    /// Largest result, in rows; a larger result is an error asking for a LIMIT or an
    /// aggregate (an analyst's tool should not pull the raw history).
    pub max_rows: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            timeout_s: 30.0,
            memory_mb: 512,
            max_rows: 100_000,
        }
    }
}

/// Engine tuning.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineTuning {
    /// Parallelism of one query (0: the number of cores).
    pub target_partitions: usize,
    /// Threads of the runtime that executes queries, apart from the network I/O (0: the
    /// number of cores).
    pub exec_threads: usize,
    /// How long a directory listing of the history is reused, in seconds. New files
    /// appear in query results at most this long after they are written. 0: list on
    /// every query.
    pub listing_cache_ttl_s: f64,
}

impl Default for EngineTuning {
    fn default() -> Self {
        EngineTuning {
            target_partitions: 0,
            exec_threads: 0,
            listing_cache_ttl_s: 10.0,
        }
    }
}

/// One SQL user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserConfig {
    /// The user name (PostgreSQL `user`, HTTP Basic user).
    pub name: String,
    /// A SCRAM-SHA-256 verifier as PostgreSQL stores it:
    /// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64). The server
    /// never needs the password itself.
    pub scram: Option<String>,
    /// Name of an environment variable holding the password.
    pub password_env: Option<String>,
    /// The password in clear (discouraged outside tests; prefer `scram` or `password_env`).
    pub password: Option<String>,
    /// Tables the user may read: names of `readings`, `aggregates`, `alerts`, `sensors`,
    /// or `"*"` for all. The catalogue (`information_schema`, `pg_catalog`) is always
    /// readable.
    pub tables: Vec<String>,
}

/// The PostgreSQL wire protocol listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PgConfig {
    /// Listen address (`--pg`); default port 5433.
    pub listen: String,
    /// PEM certificate chain for TLS (with `tls_key`); none: no TLS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for TLS.
    pub tls_key: Option<PathBuf>,
    /// Refuse connections that do not negotiate TLS.
    pub require_tls: bool,
    /// Most concurrent connections.
    pub max_connections: usize,
}

impl Default for PgConfig {
    fn default() -> Self {
        PgConfig {
            listen: "127.0.0.1:5433".into(),
            tls_cert: None,
            tls_key: None,
            require_tls: false,
            max_connections: 64,
        }
    }
}

/// The HTTP listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Listen address (`--http`); default port 8080.
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:8080".into(),
        }
    }
}
