//! Hostile queries over the PostgreSQL wire protocol (the real `psql`) and HTTP
//! `POST /sql`: writes, file and URL access, engine settings, a cross-join bomb, a query
//! over the timeout and a table the user may not read. Each is refused with a clear
//! error, and the server answers a normal query right after, in the same connection.

mod support;

use support::{PASSWORD, Server};

/// Tight limits so that the bombs hit them quickly.
const LIMITS: &str = "timeout_s = 3\nmemory_mb = 32\nmax_rows = 1000";

/// (user, statement, what the error must say).
const HOSTILE: &[(&str, &str, &str)] = &[
    (
        "analyst",
        "CREATE TABLE t (x INT)",
        "read-only: CREATE TABLE",
    ),
    (
        "analyst",
        "CREATE TABLE t AS SELECT * FROM readings",
        "read-only: CREATE TABLE",
    ),
    (
        "analyst",
        "CREATE OR REPLACE VIEW v AS SELECT 1",
        "read-only: CREATE OR REPLACE VIEW",
    ),
    ("analyst", "DROP TABLE readings", "read-only: DROP TABLE"),
    (
        "analyst",
        "ALTER TABLE readings ADD COLUMN x INT",
        "read-only: ALTER TABLE",
    ),
    (
        "analyst",
        "INSERT INTO readings (sensor_id) VALUES ('x')",
        "read-only: INSERT",
    ),
    (
        "analyst",
        "UPDATE readings SET pm25 = 0",
        "read-only: UPDATE",
    ),
    ("analyst", "DELETE FROM alerts", "read-only: DELETE"),
    ("analyst", "TRUNCATE alerts", "read-only: TRUNCATE"),
    (
        "analyst",
        "SELECT * INTO stolen FROM readings",
        "SELECT INTO is not allowed",
    ),
    (
        "analyst",
        "COPY readings TO '/tmp/readings.csv'",
        "COPY is not allowed",
    ),
    (
        "analyst",
        "COPY (SELECT * FROM readings) TO STDOUT",
        "COPY is not allowed",
    ),
    (
        "analyst",
        "CREATE EXTERNAL TABLE pw STORED AS CSV LOCATION '/etc/passwd'",
        "CREATE EXTERNAL TABLE is not allowed",
    ),
    (
        "analyst",
        "SET datafusion.execution.target_partitions = 64",
        "engine options are fixed",
    ),
    (
        "analyst",
        "SET datafusion.runtime.memory_limit = '100G'",
        "engine options are fixed",
    ),
    (
        "analyst",
        "SET work_mem = '1TB'",
        "engine options are fixed",
    ),
    (
        "analyst",
        "SELECT * FROM '/etc/passwd'",
        "file and URL access is not allowed",
    ),
    (
        "analyst",
        "SELECT * FROM \"/etc/passwd\"",
        "file and URL access is not allowed",
    ),
    (
        "analyst",
        "SELECT * FROM \"file:///etc/passwd\"",
        "file and URL access is not allowed",
    ),
    (
        "analyst",
        "SELECT * FROM \"../../../../etc/passwd\"",
        "file and URL access is not allowed",
    ),
    (
        "analyst",
        "SELECT * FROM read_csv('/etc/passwd')",
        "table function `read_csv` is not available",
    ),
    (
        "analyst",
        "SELECT * FROM read_parquet('https://example.com/x.parquet')",
        "table function `read_parquet` is not available",
    ),
    (
        "analyst",
        "SELECT count(*) FROM (SELECT * FROM read_json('/etc/passwd')) t",
        "table function `read_json` is not available",
    ),
    (
        "analyst",
        "SELECT pg_read_file('/etc/passwd')",
        "pg_read_file",
    ),
    (
        "analyst",
        "EXPLAIN DELETE FROM alerts",
        "EXPLAIN is allowed for queries only",
    ),
    // a cross-join bomb: 11 520² rows hit the row limit…
    (
        "analyst",
        "SELECT a.sensor_id, b.sensor_id FROM readings a, readings b",
        "exceeds the limit of 1000 rows",
    ),
    // …and sorting them first hits the memory limit
    (
        "analyst",
        "SELECT a.pm25, b.pm25 FROM readings a, readings b ORDER BY a.ts, b.ts",
        "more memory than the limit of 32 MiB",
    ),
    // 1.5 × 10¹² rows to filter and count (a bare count(*) is answered from the
    // statistics): the timeout
    (
        "analyst",
        "SELECT count(*) FROM readings a, readings b, readings c \
         WHERE a.pm25 + b.pm25 + c.pm25 < 0",
        "ran longer than the limit",
    ),
    // grafana may read aggregates and sensors only
    (
        "grafana",
        "SELECT count(*) FROM readings",
        "permission denied for table readings",
    ),
    (
        "grafana",
        "SELECT * FROM aggregates WHERE key IN (SELECT sensor_id FROM readings)",
        "permission denied for table readings",
    ),
    (
        "grafana",
        "SELECT * FROM alerts",
        "permission denied for table alerts",
    ),
];

const NORMAL: &str = "SELECT 'alive', count(*) FROM sensors";

#[test]
fn hostile_queries_are_refused_over_the_pg_protocol() {
    let mut server = Server::start(LIMITS);
    for (user, sql, needle) in HOSTILE {
        let out = server.psql_with(user, PASSWORD, &[sql, NORMAL], false);
        assert!(
            out.stderr.contains(needle),
            "`{sql}`: expected an error with `{needle}`, got stderr `{}` stdout `{}`",
            out.stderr,
            out.stdout
        );
        assert!(out.stderr.contains("ERROR"), "`{sql}`: {}", out.stderr);
        assert_eq!(
            out.lines(),
            ["alive|11"],
            "`{sql}`: the same connection must answer a normal query afterwards ({})",
            out.stderr
        );
    }
    assert!(server.alive(), "{}", server.log_text());
    // the server still answers new connections, with the full data
    let out = server.psql("analyst", PASSWORD, &["SELECT count(*) FROM readings"]);
    assert!(out.ok && out.lines() == ["11520"], "{out:?}");
}

#[test]
fn hostile_queries_are_refused_over_http() {
    let mut server = Server::start(LIMITS);
    for (user, sql, needle) in HOSTILE {
        let r = server.http_sql(user, PASSWORD, "application/json", sql);
        let body = r.text();
        assert!(
            (400..600).contains(&r.status),
            "`{sql}`: status {} {body}",
            r.status
        );
        let err: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("`{sql}`: error body is not JSON ({e}): {body}"));
        let msg = err["error"].as_str().unwrap_or_default();
        assert!(
            msg.contains(needle),
            "`{sql}`: expected an error with `{needle}`, got {body}"
        );
        assert!(
            err["sqlstate"].as_str().is_some_and(|s| s.len() == 5),
            "{body}"
        );
        let ok = server.http_sql(user, PASSWORD, "text/csv", NORMAL);
        assert_eq!(ok.status, 200, "after `{sql}`: {}", ok.text());
        assert!(
            ok.text().contains("alive,11"),
            "after `{sql}`: {}",
            ok.text()
        );
    }
    assert!(server.alive(), "{}", server.log_text());
}
