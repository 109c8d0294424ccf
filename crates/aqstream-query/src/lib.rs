//! # aqstream-query
//!
//! SQL over the aqstream history, one DataFusion engine behind three surfaces:
//!
//! * [`engine`] — the session: history tables ([`tables`]), `sensors`, the functions
//!   ([`udf`]), the sandbox ([`sandbox`]) and the per-query limits;
//! * [`pgcompat`] — the `pg_catalog` schema, functions and syntax PostgreSQL clients use;
//! * [`pg`] — the PostgreSQL wire protocol (SCRAM-SHA-256, optional TLS);
//! * [`http`] — `POST /sql` returning JSON, CSV or Arrow IPC;
//! * [`format`] — result formats shared by the CLI and HTTP;
//! * [`cancel`] — stopping a running query at its timeout;
//! * [`auth`] — users, SCRAM verifiers, per-user table access; [`config`] — `[sql]`.
//!
//! The query crate never writes to the history (`aqstream-history` does).

pub mod auth;
pub mod cancel;
pub mod config;
pub mod engine;
pub mod format;
pub mod http;
pub mod metrics;
pub mod pg;
pub mod pgcompat;
pub mod sandbox;
pub mod tables;
pub mod udf;

pub use auth::{Principal, TableAccess, UserDb};
pub use config::SqlConfig;
pub use engine::{EngineOptions, Prepared, QueryEngine, QueryError, QueryOutput, Surface};
pub use format::OutputFormat;
