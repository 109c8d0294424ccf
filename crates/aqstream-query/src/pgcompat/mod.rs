//! PostgreSQL compatibility of the SQL engine: the `pg_catalog` schema, the functions
//! and the syntax that psql, Grafana, DBeaver and drivers use. It serves every surface
//! (the wire protocol needs it most, but `aqstream sql "SELECT version()"` works too).

pub mod catalog;
pub mod functions;
pub mod rewrite;
pub mod types;

pub use catalog::{PgCatalog, Relation};
pub use rewrite::{RewriteContext, empty_catalog_answer, rewrite};
