//! The read-only sandbox: which statements run, which are answered without the engine,
//! and which are refused (with the reason).
//!
//! * queries and `EXPLAIN [ANALYZE]` of queries run;
//! * `SET` of the session settings clients send on connect (`extra_float_digits`,
//!   `application_name`, `DateStyle`, `client_encoding`, `TimeZone`, …), `BEGIN`,
//!   `COMMIT`, `ROLLBACK`, `DISCARD`, `DEALLOCATE`, `RESET` are acknowledged (they change
//!   nothing: the server's settings and limits stay as they are);
//! * `SHOW <setting>` answers from the server's settings;
//! * everything else is refused: DDL, DML, `COPY`, `CREATE EXTERNAL TABLE`, `SELECT INTO`,
//!   `SET` of engine options, and any reference to files or URLs (a table named by a
//!   path or URL, table functions other than `generate_series`/`range`/`unnest`).
//!
//! After planning, [`check_plan`] checks the plan again (no DDL, DML or statements) and
//! that every table scanned is one the user may read.

use crate::QueryError;
use crate::auth::Principal;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    Expr, ObjectName, ObjectNamePart, Select, Set, Statement, TableFactor, Visit, Visitor,
};
use std::ops::ControlFlow;

/// What to do with a statement.
#[derive(Debug, Clone)]
pub enum Action {
    /// Plan and run it.
    Query(DfStatement),
    /// Acknowledge it with this command tag, changing nothing.
    Command(&'static str),
    /// Answer `SHOW <name>`.
    Show(String),
}

/// Session settings a client may `SET` (accepted, without effect on the server).
const HARMLESS_SETTINGS: &[&str] = &[
    "extra_float_digits",
    "application_name",
    "datestyle",
    "client_encoding",
    "timezone",
    "time zone",
    "intervalstyle",
    "search_path",
    "bytea_output",
    "client_min_messages",
    "standard_conforming_strings",
    "lc_messages",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "idle_session_timeout",
    "default_transaction_isolation",
    "default_transaction_read_only",
    "transaction_isolation",
    "jit",
    "names",
    "session characteristics",
];

fn refused(msg: impl Into<String>) -> QueryError {
    QueryError::Refused(msg.into())
}

/// The first keywords of a statement, for messages (`CREATE TABLE`, `INSERT`, …).
fn verb(stmt: &Statement) -> String {
    let text = stmt.to_string();
    const MODIFIERS: &[&str] = &[
        "OR",
        "REPLACE",
        "TEMPORARY",
        "TEMP",
        "UNIQUE",
        "EXTERNAL",
        "MATERIALIZED",
        "UNLOGGED",
    ];
    let words: Vec<&str> = text.split_whitespace().take(6).collect();
    let n = match words.first().map(|w| w.to_ascii_uppercase()).as_deref() {
        Some("CREATE" | "DROP" | "ALTER") => {
            // the verb, its modifiers (`OR REPLACE`, `TEMPORARY`, …), then the object kind
            let modifiers = 1 + words
                .iter()
                .skip(1)
                .take_while(|w| MODIFIERS.contains(&w.to_ascii_uppercase().as_str()))
                .count();
            modifiers + 1
        }
        _ => 1,
    };
    words
        .iter()
        .take(n)
        .map(|w| w.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The refusal of a statement that did not parse but begins like a write, `COPY` or
/// another command that never runs here (`COPY … TO STDOUT`, PostgreSQL-only DDL): the
/// reason is more useful than the parser's complaint.
pub fn refuse_unparsed(sql: &str) -> Option<QueryError> {
    let mut rest = sql.trim_start();
    // skip leading comments
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else {
            break;
        }
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    match word.as_str() {
        "COPY" => Some(refused("COPY is not allowed: no file access from SQL")),
        "CREATE" | "DROP" | "ALTER" | "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "TRUNCATE"
        | "GRANT" | "REVOKE" | "VACUUM" | "ANALYZE" | "CLUSTER" | "REINDEX" | "CALL" | "DO"
        | "LOAD" | "INSTALL" | "ATTACH" | "DETACH" | "IMPORT" | "EXPORT" | "LOCK" | "COMMENT"
        | "REFRESH" | "LISTEN" | "NOTIFY" => Some(refused(format!(
            "read-only: {word} is not allowed (only queries run here)"
        ))),
        _ => None,
    }
}

/// Sorts a parsed statement into run / acknowledge / refuse.
pub fn classify(stmt: DfStatement) -> Result<Action, QueryError> {
    match stmt {
        DfStatement::CreateExternalTable(_) => Err(refused(
            "CREATE EXTERNAL TABLE is not allowed: no file or URL access from SQL",
        )),
        DfStatement::CopyTo(_) => Err(refused("COPY is not allowed: no file access from SQL")),
        DfStatement::Reset(_) => Ok(Action::Command("RESET")),
        DfStatement::Explain(e) => match classify(*e.statement.clone()) {
            Ok(Action::Query(_)) => Ok(Action::Query(DfStatement::Explain(e))),
            Err(err) if is_query(&e.statement) => Err(err),
            _ => Err(refused("EXPLAIN is allowed for queries only")),
        },
        DfStatement::Statement(s) => classify_sql(*s),
    }
}

/// Is the statement a query (whose own refusal explains an `EXPLAIN` of it best)?
fn is_query(stmt: &DfStatement) -> bool {
    matches!(stmt, DfStatement::Statement(s) if matches!(s.as_ref(), Statement::Query(_)))
}

fn classify_sql(stmt: Statement) -> Result<Action, QueryError> {
    match &stmt {
        Statement::Query(_) => {
            check_no_file_access(&stmt)?;
            Ok(Action::Query(DfStatement::Statement(Box::new(stmt))))
        }
        Statement::Explain { statement, .. } => match classify_sql(*statement.clone()) {
            Ok(Action::Query(_)) => {
                check_no_file_access(&stmt)?;
                Ok(Action::Query(DfStatement::Statement(Box::new(stmt))))
            }
            Err(err) if matches!(statement.as_ref(), Statement::Query(_)) => Err(err),
            _ => Err(refused("EXPLAIN is allowed for queries only")),
        },
        Statement::Set(set) => classify_set(set),
        Statement::ShowVariable { variable } => Ok(Action::Show(
            variable
                .iter()
                .map(|i| i.value.clone())
                .collect::<Vec<_>>()
                .join(" "),
        )),
        Statement::StartTransaction { .. } => Ok(Action::Command("BEGIN")),
        Statement::Commit { .. } => Ok(Action::Command("COMMIT")),
        Statement::Rollback { .. } => Ok(Action::Command("ROLLBACK")),
        Statement::Discard { .. } => Ok(Action::Command("DISCARD ALL")),
        Statement::Deallocate { .. } => Ok(Action::Command("DEALLOCATE")),
        Statement::Close { .. } => Ok(Action::Command("CLOSE CURSOR")),
        Statement::Copy { .. } => Err(refused("COPY is not allowed: no file access from SQL")),
        _ => Err(refused(format!(
            "read-only: {} is not allowed (only queries run here)",
            verb(&stmt)
        ))),
    }
}

fn classify_set(set: &Set) -> Result<Action, QueryError> {
    let name = match set {
        Set::SingleAssignment { variable, .. } => object_name_text(variable),
        Set::SetTimeZone { .. } => "time zone".into(),
        Set::SetNames { .. } | Set::SetNamesDefault { .. } => "names".into(),
        Set::SetSessionParam(_) => return Ok(Action::Command("SET")),
        Set::SetTransaction { .. } => return Ok(Action::Command("SET")),
        other => {
            let text = other.to_string();
            if text
                .to_ascii_uppercase()
                .starts_with("SET SESSION CHARACTERISTICS")
            {
                return Ok(Action::Command("SET"));
            }
            return Err(refused(format!(
                "{text} is not allowed: engine options are fixed by the server"
            )));
        }
    };
    let lower = name.to_ascii_lowercase();
    if HARMLESS_SETTINGS.contains(&lower.as_str()) {
        Ok(Action::Command("SET"))
    } else {
        Err(refused(format!(
            "SET {name} is not allowed: engine options are fixed by the server"
        )))
    }
}

fn object_name_text(n: &ObjectName) -> String {
    n.0.iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => i.value.clone(),
            ObjectNamePart::Function(f) => f.name.value.clone(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Table functions that read no files.
const SAFE_TABLE_FUNCTIONS: &[&str] = &["generate_series", "range", "unnest"];

struct FileAccess;

impl Visitor for FileAccess {
    type Break = String;

    fn pre_visit_table_factor(&mut self, f: &TableFactor) -> ControlFlow<String> {
        match f {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            } => {
                let n = object_name_text(name).to_ascii_lowercase();
                let bare = n.strip_prefix("pg_catalog.").unwrap_or(&n);
                if !SAFE_TABLE_FUNCTIONS.contains(&bare) {
                    return ControlFlow::Break(format!(
                        "table function `{n}` is not available: no file or URL access from SQL"
                    ));
                }
            }
            TableFactor::Table {
                name, args: None, ..
            } => {
                for p in &name.0 {
                    if let ObjectNamePart::Identifier(i) = p {
                        let v = &i.value;
                        if i.quote_style == Some('\'')
                            || v.contains('/')
                            || v.contains('\\')
                            || v.contains("://")
                        {
                            return ControlFlow::Break(format!(
                                "file and URL access is not allowed: `{v}` is not a table"
                            ));
                        }
                    }
                }
            }
            TableFactor::Function { name, .. } => {
                return ControlFlow::Break(format!(
                    "table function `{}` is not available: no file or URL access from SQL",
                    object_name_text(name)
                ));
            }
            TableFactor::TableFunction { .. } => {
                return ControlFlow::Break(
                    "table functions are not available: no file or URL access from SQL".into(),
                );
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, s: &Select) -> ControlFlow<String> {
        if s.into.is_some() {
            return ControlFlow::Break("read-only: SELECT INTO is not allowed".into());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, _e: &Expr) -> ControlFlow<String> {
        ControlFlow::Continue(())
    }
}

fn check_no_file_access(stmt: &Statement) -> Result<(), QueryError> {
    match stmt.visit(&mut FileAccess) {
        ControlFlow::Break(msg) => Err(refused(msg)),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Checks a planned statement: read-only, and every scanned table readable by `who`.
pub fn check_plan(plan: &LogicalPlan, who: &Principal) -> Result<(), QueryError> {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
        .map_err(|e| refused(format!("read-only: {e}")))?;
    let mut denied = None;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let schema = scan.table_name.schema().unwrap_or("public");
            let table = scan.table_name.table();
            if !matches!(schema, "pg_catalog" | "information_schema") && !who.access.allows(table) {
                denied = Some(table.to_string());
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    match denied {
        Some(t) => Err(QueryError::PermissionDenied {
            user: who.user.clone(),
            table: t,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParser;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

    fn run(sql: &str) -> Result<Action, QueryError> {
        let mut stmts = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {}).unwrap();
        classify(stmts.pop_front().unwrap())
    }

    fn err(sql: &str) -> String {
        run(sql).unwrap_err().to_string()
    }

    #[test]
    fn queries_run_and_writes_are_refused() {
        assert!(matches!(run("SELECT 1"), Ok(Action::Query(_))));
        assert!(matches!(
            run("EXPLAIN ANALYZE SELECT 1"),
            Ok(Action::Query(_))
        ));
        assert!(err("CREATE TABLE t AS SELECT 1").contains("read-only: CREATE TABLE"));
        assert!(err("DROP TABLE readings").contains("read-only: DROP TABLE"));
        assert!(err("INSERT INTO readings VALUES (1)").contains("read-only: INSERT"));
        assert!(err("DELETE FROM readings").contains("read-only: DELETE"));
        assert!(
            err("CREATE OR REPLACE VIEW v AS SELECT 1")
                .contains("read-only: CREATE OR REPLACE VIEW")
        );
        assert!(err("COPY readings TO '/tmp/x.csv'").contains("COPY is not allowed"));
        assert!(
            err("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'")
                .contains("CREATE EXTERNAL TABLE is not allowed")
        );
        assert!(err("EXPLAIN DROP TABLE readings").contains("EXPLAIN is allowed for queries only"));
        assert!(err("SELECT * INTO t2 FROM readings").contains("SELECT INTO"));
        let unparsed = |sql: &str| refuse_unparsed(sql).map(|e| e.to_string());
        assert_eq!(
            unparsed("/* x */ copy (SELECT 1) TO STDOUT").as_deref(),
            Some("COPY is not allowed: no file access from SQL")
        );
        assert!(unparsed("VACUUM FULL readings").is_some_and(|m| m.contains("read-only: VACUUM")));
        assert!(unparsed("SELEC 1").is_none());
    }

    #[test]
    fn files_and_urls_are_refused() {
        assert!(err("SELECT * FROM '/etc/passwd'").contains("file and URL access"));
        assert!(
            err("SELECT * FROM read_parquet('/x.parquet')")
                .contains("table function `read_parquet`")
        );
        assert!(err("SELECT * FROM \"s3://bucket/x.parquet\"").contains("file and URL access"));
        assert!(err("SELECT (SELECT count(*) FROM read_csv('/etc/passwd'))").contains("read_csv"));
        assert!(matches!(
            run("SELECT * FROM generate_series(1, 3)"),
            Ok(Action::Query(_))
        ));
        assert!(matches!(
            run("SELECT * FROM pg_catalog.generate_series(1, 3)"),
            Ok(Action::Query(_))
        ));
    }

    #[test]
    fn client_settings_are_acknowledged_engine_options_refused() {
        for ok in [
            "SET extra_float_digits = 3",
            "SET application_name = 'DBeaver 24.1'",
            "SET DateStyle = 'ISO'",
            "SET client_encoding TO 'UTF8'",
            "SET TIME ZONE 'UTC'",
            "SET TimeZone = 'Asia/Shanghai'",
            "BEGIN",
            "COMMIT",
            "ROLLBACK",
            "DISCARD ALL",
        ] {
            assert!(matches!(run(ok), Ok(Action::Command(_))), "{ok}");
        }
        assert!(matches!(run("SHOW search_path"), Ok(Action::Show(s)) if s == "search_path"));
        assert!(
            err("SET datafusion.execution.target_partitions = 1000")
                .contains("engine options are fixed")
        );
        assert!(err("SET work_mem = '1TB'").contains("SET work_mem is not allowed"));
    }
}
