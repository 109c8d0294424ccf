//! The SQL surfaces with real clients: Debian's `psql`, `psycopg` from Python (SCRAM, a
//! Grafana-style time-series query with parameters) and HTTP `POST /sql` in JSON, CSV
//! and Arrow IPC, against `aqstream serve` over a small history (see `support`).

mod support;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::ipc::reader::StreamReader;
use std::process::Command;
use support::{PASSWORD, Server};

const LIMITS: &str = "timeout_s = 30\nmemory_mb = 256\nmax_rows = 100000";

#[test]
fn psql_queries_and_catalogue_commands() {
    let server = Server::start(LIMITS);
    let out = server.psql(
        "analyst",
        PASSWORD,
        &[
            "SELECT count(*) FROM readings",
            "SELECT sensor_id, round(avg(pm25), 2) FROM readings GROUP BY sensor_id ORDER BY sensor_id",
            // hours over the 75 µg/m³ standard, from the hourly aggregates
            "SELECT key, count(*) FROM aggregates WHERE \"window\" = '1h' AND pm25_mean > 75 \
             GROUP BY key ORDER BY key",
            // the alert joined with the readings of its sensors during the episode
            "SELECT a.alert_id, max(r.pm25), count(*) FROM alerts a JOIN readings r \
             ON r.sensor_id = a.sensors AND r.ts >= a.started_at AND r.ts < a.resolved_at \
             GROUP BY a.alert_id",
            "SELECT s.district, count(DISTINCT r.sensor_id) FROM readings r \
             JOIN sensors s USING (sensor_id) GROUP BY s.district ORDER BY 1",
            "SELECT aqi_cn('pm25', 80, '24h'), aqi_category_cn(aqi_cn('pm25', 80, '24h'))",
        ],
    );
    assert!(out.ok, "psql failed: {}\n{}", out.stderr, server.log_text());
    assert_eq!(
        out.lines(),
        [
            "11520",
            "TZ-0001|25.42",
            // float8 in text form keeps a ".0" (PostgreSQL itself would print 40)
            "TZ-0002|40.0",
            "TZ-0003|60.0",
            "TZ-0004|80.0",
            "TZ-0001|2",
            "TZ-0004|48",
            "alert-0001|150.0|130",
            "Tongzhou-Center|3",
            "Tongzhou-North|1",
            "107|Lightly polluted",
        ],
        "stderr: {}",
        out.stderr
    );

    // \dt: the history tables and the registry
    let out = server.psql("analyst", PASSWORD, &["\\dt"]);
    assert!(out.ok, "\\dt failed: {}", out.stderr);
    let tables: Vec<&str> = out
        .lines()
        .iter()
        .map(|l| l.split('|').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        tables,
        [
            "aggregates",
            "alerts",
            "readings",
            "sensor_health",
            "sensors"
        ]
    );

    // \d readings: columns with PostgreSQL type names and nullability
    let out = server.psql("analyst", PASSWORD, &["\\d readings"]);
    assert!(out.ok, "\\d readings failed: {}", out.stderr);
    let cols = out.lines();
    assert!(cols.len() >= 17, "{cols:?}");
    let col = |name: &str| {
        *cols
            .iter()
            .find(|l| l.starts_with(&format!("{name}|")))
            .unwrap_or_else(|| panic!("no column {name} in {cols:?}"))
    };
    assert!(col("sensor_id").starts_with("sensor_id|text|"), "{cols:?}");
    assert!(col("sensor_id").contains("not null"), "{cols:?}");
    assert!(col("ts").starts_with("ts|timestamp"), "{cols:?}");
    assert!(
        col("pm25").starts_with("pm25|double precision|"),
        "{cols:?}"
    );
    assert!(!col("pm25").contains("not null"), "{cols:?}");
    assert!(col("period_s").starts_with("period_s|integer|"), "{cols:?}");

    // \dn and \l: the schema and the database
    let out = server.psql("analyst", PASSWORD, &["\\dn", "\\l"]);
    assert!(out.ok, "\\dn / \\l failed: {}", out.stderr);
    assert!(
        out.lines().iter().any(|l| l.starts_with("public|")),
        "{out:?}"
    );
    assert!(
        out.lines().iter().any(|l| l.starts_with("aqstream|")),
        "{out:?}"
    );
}

#[test]
fn psql_refuses_a_wrong_password_and_an_unknown_user() {
    let server = Server::start(LIMITS);
    let out = server.psql("analyst", "wrong password", &["SELECT 1"]);
    assert!(!out.ok, "a wrong password was accepted: {out:?}");
    assert!(
        out.stderr
            .to_ascii_lowercase()
            .contains("password authentication failed"),
        "{}",
        out.stderr
    );
    let out = server.psql("nobody", PASSWORD, &["SELECT 1"]);
    assert!(!out.ok, "an unknown user was accepted: {out:?}");
    // and the right one still gets in
    let out = server.psql("analyst", PASSWORD, &["SELECT 1"]);
    assert!(out.ok && out.lines() == ["1"], "{out:?}");
}

const PSYCOPG_SCRIPT: &str = r#"
import datetime, json, sys
try:
    import psycopg
except ImportError:
    sys.exit("psycopg is missing: run scripts/install-deps")
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
utc = datetime.timezone.utc
out = {}
with psycopg.connect(host="127.0.0.1", port=port, user=user, password=password,
                     dbname="aqstream", connect_timeout=10) as conn:
    cur = conn.cursor()
    # Grafana's PostgreSQL data source, $__timeGroupAlias(window_start, 1h) and
    # $__timeFilter(window_start) expanded (TimescaleDB form), the sensor as a parameter
    cur.execute(
        """SELECT time_bucket('3600.000s', window_start) AS "time", avg(pm25_mean) AS pm25
           FROM aggregates
           WHERE window_start BETWEEN '2026-11-23T07:00:00Z' AND '2026-11-23T10:59:59Z'
             AND "window" = '1h' AND key = %s
           GROUP BY 1 ORDER BY 1""",
        ("TZ-0001",),
    )
    out["by_hour"] = [[t.isoformat(), v] for t, v in cur.fetchall()]
    # date_bin with the time range itself as parameters (timestamptz)
    cur.execute(
        """SELECT date_bin(INTERVAL '2 hours', window_start) AS "time", district,
                  avg(pm25_mean) AS pm25
           FROM aggregates
           WHERE window_start >= %s AND window_start < %s AND "window" = '1h'
           GROUP BY 1, 2 ORDER BY 1, 2""",
        (datetime.datetime(2026, 11, 23, 6, tzinfo=utc),
         datetime.datetime(2026, 11, 23, 10, tzinfo=utc)),
    )
    out["by_district"] = [[t.isoformat(), d, round(v, 3)] for t, d, v in cur.fetchall()]
    cur.execute("SELECT count(*) FROM aggregates WHERE key = %s AND pm25_mean > %s",
                ("TZ-0001", 100.0))
    out["over"] = cur.fetchone()[0]
try:
    psycopg.connect(host="127.0.0.1", port=port, user=user, password=password + "x",
                    dbname="aqstream", connect_timeout=10).close()
    out["wrong_password"] = "accepted"
except psycopg.OperationalError as e:
    out["wrong_password"] = str(e)
print(json.dumps(out))
"#;

#[test]
fn psycopg_grafana_style_time_series_with_parameters() {
    let server = Server::start(LIMITS);
    let out = Command::new("python3")
        .arg("-c")
        .arg(PSYCOPG_SCRIPT)
        .arg(server.pg_port.to_string())
        .arg("grafana")
        .arg(PASSWORD)
        .output()
        .expect("python3 is missing: run scripts/install-deps");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{}", server.log_text());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["by_hour"],
        serde_json::json!([
            ["2026-11-23T07:00:00+00:00", 20.0],
            ["2026-11-23T08:00:00+00:00", 150.0],
            ["2026-11-23T09:00:00+00:00", 150.0],
            ["2026-11-23T10:00:00+00:00", 20.0],
        ])
    );
    // 06:00–08:00: Center (20 + 40 + 60) / 3, North 80; 08:00–10:00: (150 + 40 + 60) / 3
    assert_eq!(
        v["by_district"],
        serde_json::json!([
            ["2026-11-23T06:00:00+00:00", "Tongzhou-Center", 40.0],
            ["2026-11-23T06:00:00+00:00", "Tongzhou-North", 80.0],
            ["2026-11-23T08:00:00+00:00", "Tongzhou-Center", 83.333],
            ["2026-11-23T08:00:00+00:00", "Tongzhou-North", 80.0],
        ])
    );
    assert_eq!(v["over"], 2);
    let wrong = v["wrong_password"].as_str().unwrap();
    assert!(
        wrong
            .to_ascii_lowercase()
            .contains("password authentication failed"),
        "wrong password: {wrong}"
    );
}

#[test]
fn http_sql_answers_in_json_csv_and_arrow() {
    let server = Server::start(LIMITS);
    let sql = "SELECT sensor_id, count(*) AS n, max(pm25) AS peak FROM readings \
               GROUP BY sensor_id ORDER BY sensor_id";

    let r = server.http_sql("analyst", PASSWORD, "application/json", sql);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let rows: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        rows,
        serde_json::json!([
            {"sensor_id": "TZ-0001", "n": 2880, "peak": 150.0},
            {"sensor_id": "TZ-0002", "n": 2880, "peak": 40.0},
            {"sensor_id": "TZ-0003", "n": 2880, "peak": 60.0},
            {"sensor_id": "TZ-0004", "n": 2880, "peak": 80.0},
        ])
    );

    let r = server.http_sql("analyst", PASSWORD, "text/csv", sql);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    let csv = r.text();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "sensor_id,n,peak");
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(lines[1].starts_with("TZ-0001,2880,150"), "{csv}");

    let r = server.http_sql(
        "analyst",
        PASSWORD,
        "application/vnd.apache.arrow.stream",
        sql,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.apache.arrow.stream")
    );
    let reader = StreamReader::try_new(std::io::Cursor::new(r.body), None).unwrap();
    let schema = reader.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["sensor_id", "n", "peak"]);
    let batches: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 4);
    let n = batches[0].column(1).as_primitive::<Int64Type>();
    assert_eq!(n.value(0), 2880);
    assert!(!n.is_null(0));

    // credentials are checked; a user reads only the tables granted
    let r = server.http_sql("analyst", "nope", "application/json", "SELECT 1");
    assert_eq!(r.status, 401, "{}", r.text());
    let r = server.http_sql("grafana", PASSWORD, "application/json", sql);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.text().contains("permission denied for table readings"),
        "{}",
        r.text()
    );
}
