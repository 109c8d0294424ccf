//! Every query of `dashboards/*.json` runs:
//! * PromQL against a real Prometheus (started here) that scrapes an exposition with every
//!   metric the dashboards use; each expression must be accepted and return data. The
//!   exposition's metric names are checked against the names the crates register.
//! * SQL through aqstream's engine, as the PostgreSQL surface runs it, after expanding
//!   Grafana's macros the way Grafana's PostgreSQL data source does; each must return rows
//!   over the fixture city.

mod common;

use aqstream_core::time::{HOUR_MS, format_rfc3339};
use aqstream_query::{Principal, QueryOutput, Surface};
use common::fixture::{self, repo_root};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Query {
    dashboard: String,
    panel: String,
    kind: Kind,
    text: String,
}

#[derive(Debug, PartialEq)]
enum Kind {
    PromQl,
    Sql,
}

fn dashboards() -> Vec<(String, Value)> {
    let dir = repo_root().join("dashboards");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn kind_of(ds: &Value) -> Option<Kind> {
    match ds["type"].as_str()? {
        "prometheus" => Some(Kind::PromQl),
        "grafana-postgresql-datasource" | "postgres" => Some(Kind::Sql),
        _ => None,
    }
}

fn collect_panels(panels: &[Value], name: &str, out: &mut Vec<Query>) {
    for p in panels {
        if let Some(inner) = p["panels"].as_array() {
            collect_panels(inner, name, out);
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            let ds = if t["datasource"].is_object() {
                &t["datasource"]
            } else {
                &p["datasource"]
            };
            let kind = kind_of(ds)
                .unwrap_or_else(|| panic!("{name}: panel {} has no known data source", p["title"]));
            let text = match kind {
                Kind::PromQl => t["expr"].as_str(),
                Kind::Sql => t["rawSql"].as_str(),
            }
            .unwrap_or_else(|| panic!("{name}: panel {} has a target without a query", p["title"]));
            out.push(Query {
                dashboard: name.to_string(),
                panel: p["title"].as_str().unwrap_or("").to_string(),
                kind,
                text: text.to_string(),
            });
        }
    }
}

fn all_queries() -> Vec<Query> {
    let mut out = Vec::new();
    for (name, d) in dashboards() {
        assert!(
            d["uid"]
                .as_str()
                .is_some_and(|u| u.starts_with("aqstream-")),
            "{name}: uid"
        );
        collect_panels(d["panels"].as_array().unwrap(), &name, &mut out);
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            if v["type"] == "query" {
                let kind = kind_of(&v["datasource"]).expect("variable data source");
                out.push(Query {
                    dashboard: name.clone(),
                    panel: format!("variable ${}", v["name"].as_str().unwrap()),
                    kind,
                    text: v["query"].as_str().unwrap().to_string(),
                });
            }
        }
    }
    out
}

#[test]
fn the_dashboards_cover_the_four_views() {
    let names: Vec<String> = dashboards().into_iter().map(|d| d.0).collect();
    assert_eq!(
        names,
        [
            "aqstream-alerts.json",
            "aqstream-city.json",
            "aqstream-pipeline.json",
            "aqstream-sensor.json"
        ]
    );
    let q = all_queries();
    assert!(q.iter().filter(|q| q.kind == Kind::PromQl).count() >= 30);
    assert!(q.iter().filter(|q| q.kind == Kind::Sql).count() >= 10);
    // the sensor dashboard is driven by $sensor
    let sensor: Vec<&Query> = q
        .iter()
        .filter(|q| q.dashboard == "aqstream-sensor.json")
        .collect();
    assert!(sensor.iter().filter(|q| q.text.contains("$sensor")).count() >= 6);
}

// ---------------------------------------------------------------- SQL

/// Grafana's PostgreSQL macros, expanded as its data source does for the range
/// `[from, to]` and the interval `interval` (Grafana's text form, e.g. `1m`).
fn expand_grafana_sql(
    sql: &str,
    from: i64,
    to: i64,
    interval: &str,
    vars: &[(&str, &str)],
) -> String {
    let mut s = sql.replace("$__interval", interval);
    for (k, v) in vars {
        s = s.replace(&format!("${k}"), v);
    }
    let (f, t) = (format_rfc3339(from), format_rfc3339(to));
    s = s
        .replace("$__timeFrom()", &format!("'{f}'"))
        .replace("$__timeTo()", &format!("'{t}'"));
    while let Some((start, name)) = ["$__timeGroupAlias(", "$__timeGroup(", "$__timeFilter("]
        .iter()
        .filter_map(|m| s.find(m).map(|i| (i, *m)))
        .min()
    {
        let open = start + name.len();
        let close = open + s[open..].find(')').expect("macro without `)`");
        let args: Vec<String> = s[open..close]
            .split(',')
            .map(|a| a.trim().to_string())
            .collect();
        let repl = match name {
            "$__timeFilter(" => format!("{} BETWEEN '{f}' AND '{t}'", args[0]),
            _ => {
                let secs = grafana_interval_s(args[1].trim_matches('\''));
                let g = format!("floor(extract(epoch from {})/{secs})*{secs}", args[0]);
                if name == "$__timeGroupAlias(" {
                    format!("{g} AS \"time\"")
                } else {
                    g
                }
            }
        };
        s.replace_range(start..=close, &repl);
    }
    s
}

fn grafana_interval_s(text: &str) -> i64 {
    let (num, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = num.parse().unwrap_or_else(|_| panic!("interval `{text}`"));
    n * match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        u => panic!("interval unit `{u}`"),
    }
}

#[test]
fn macros_expand_like_grafana() {
    let s = expand_grafana_sql(
        "SELECT $__timeGroupAlias(ts, '5m'), x FROM t WHERE $__timeFilter(ts) GROUP BY $__timeGroup(ts,'1h')",
        0,
        3_600_000,
        "1m",
        &[],
    );
    assert_eq!(
        s,
        "SELECT floor(extract(epoch from ts)/300)*300 AS \"time\", x FROM t WHERE ts BETWEEN \
         '1970-01-01T00:00:00Z' AND '1970-01-01T01:00:00Z' GROUP BY floor(extract(epoch from ts)/3600)*3600"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sql_panel_runs_on_aqstream() {
    let city = fixture::write_city().await;
    let engine = common::engine(&city).await;
    let to = fixture::as_of();
    let from = to - 30 * HOUR_MS;
    let mut n = 0;
    for q in all_queries().into_iter().filter(|q| q.kind == Kind::Sql) {
        let sql = expand_grafana_sql(&q.text, from, to, "1m", &[("sensor", "TZ-0021")]);
        let out = engine
            .run_one(&Principal::local(), Surface::Pg, &sql)
            .await
            .unwrap_or_else(|e| panic!("{} / {}: {e}\n{sql}", q.dashboard, q.panel));
        let QueryOutput::Rows { batches, schema } = out else {
            panic!("{} / {}: not a query", q.dashboard, q.panel);
        };
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert!(rows > 0, "{} / {}: no rows\n{sql}", q.dashboard, q.panel);
        if q.text.contains("$__timeGroupAlias") {
            assert!(
                schema.field_with_name("time").is_ok(),
                "{} / {}: no `time` column",
                q.dashboard,
                q.panel
            );
        }
        n += 1;
    }
    assert!(n >= 10, "{n} SQL queries");
}

// ---------------------------------------------------------------- PromQL

/// Every metric the dashboards use, as the pipeline exposes them (names and labels of
/// contract section 6 and of the crates' registrations).
const EXPOSITION: &str = r#"# TYPE aq_sensor_pm25_ugm3 gauge
aq_sensor_pm25_ugm3{sensor_id="TZ-0021",district="Tongzhou-Center"} 96.5
aq_sensor_pm25_ugm3{sensor_id="TZ-0008",district="Tongzhou-West"} 41.2
# TYPE aq_sensor_aqi gauge
aq_sensor_aqi{sensor_id="TZ-0021",district="Tongzhou-Center",standard="cn"} 128
aq_sensor_aqi{sensor_id="TZ-0021",district="Tongzhou-Center",standard="us"} 172
aq_sensor_aqi{sensor_id="TZ-0008",district="Tongzhou-West",standard="cn"} 59
aq_sensor_aqi{sensor_id="TZ-0008",district="Tongzhou-West",standard="us"} 114
# TYPE aq_district_pm25_ugm3 gauge
aq_district_pm25_ugm3{district="Tongzhou-Center",window="5m"} 80.1
aq_district_pm25_ugm3{district="Tongzhou-Center",window="1h"} 77.0
aq_district_pm25_ugm3{district="Tongzhou-West",window="5m"} 44.0
# TYPE aq_sensor_health gauge
aq_sensor_health{sensor_id="TZ-0021",problem="stuck"} 1
aq_sensor_health{sensor_id="TZ-0008",problem="drift"} 0
# TYPE aq_alert_active gauge
aq_alert_active{alert_id="a-20261122-0007",pollutant="pm25",district="Tongzhou-Center",source_type="combustion"} 1
# TYPE aq_alert_source_latitude gauge
aq_alert_source_latitude{alert_id="a-20261122-0007"} 39.9071
# TYPE aq_alert_source_longitude gauge
aq_alert_source_longitude{alert_id="a-20261122-0007"} 116.6612
# TYPE aq_alert_confidence gauge
aq_alert_confidence{alert_id="a-20261122-0007"} 0.82
# TYPE aq_alert_peak_ugm3 gauge
aq_alert_peak_ugm3{alert_id="a-20261122-0007"} 312.4
# TYPE aq_alert_sensors gauge
aq_alert_sensors{alert_id="a-20261122-0007",sensors="TZ-0021,TZ-0016"} 2
# TYPE aq_ingest_messages_total counter
aq_ingest_messages_total{transport="mqtt"} COUNTER
aq_ingest_messages_total{transport="hj212_tcp"} COUNTER
# TYPE aq_ingest_rejected_total counter
aq_ingest_rejected_total{reason="bad_crc"} COUNTER
aq_ingest_rejected_total{reason="unknown_sensor"} COUNTER
# TYPE aq_ingest_readings_total counter
aq_ingest_readings_total COUNTER
# TYPE aq_ingest_produce_retries_total counter
aq_ingest_produce_retries_total COUNTER
# TYPE aq_ingest_tcp_errors_total counter
aq_ingest_tcp_errors_total{kind="io"} COUNTER
# TYPE aq_ingest_produce_latency_seconds histogram
aq_ingest_produce_latency_seconds_bucket{le="0.005"} COUNTER
aq_ingest_produce_latency_seconds_bucket{le="0.05"} COUNTER
aq_ingest_produce_latency_seconds_bucket{le="+Inf"} COUNTER
aq_ingest_produce_latency_seconds_sum 1
aq_ingest_produce_latency_seconds_count COUNTER
# TYPE aq_ingest_in_flight_messages gauge
aq_ingest_in_flight_messages 12
# TYPE aq_ingest_mqtt_connected gauge
aq_ingest_mqtt_connected 1
# TYPE aq_ingest_gateway_last_seen_seconds gauge
aq_ingest_gateway_last_seen_seconds{gateway_id="gw-tz-01"} 1000
# TYPE aq_worker_watermark_lag_seconds gauge
aq_worker_watermark_lag_seconds 4.5
# TYPE aq_worker_late_readings_total counter
aq_worker_late_readings_total COUNTER
# TYPE aq_worker_readings_total counter
aq_worker_readings_total COUNTER
# TYPE aq_worker_duplicates_total counter
aq_worker_duplicates_total COUNTER
# TYPE aq_worker_malformed_total counter
aq_worker_malformed_total COUNTER
# TYPE aq_worker_rows_total counter
aq_worker_rows_total{scope="sensor"} COUNTER
aq_worker_rows_total{scope="district"} COUNTER
# TYPE aq_worker_checkpoint_seconds histogram
aq_worker_checkpoint_seconds_bucket{le="0.1"} COUNTER
aq_worker_checkpoint_seconds_bucket{le="+Inf"} COUNTER
aq_worker_checkpoint_seconds_sum 1
aq_worker_checkpoint_seconds_count COUNTER
# TYPE aq_worker_partitions gauge
aq_worker_partitions 3
# TYPE aq_worker_topic_partitions gauge
aq_worker_topic_partitions 4
# TYPE aq_worker_stage2_active gauge
aq_worker_stage2_active 1
# TYPE aq_reading_to_alert_seconds histogram
aq_reading_to_alert_seconds_bucket{le="60"} COUNTER
aq_reading_to_alert_seconds_bucket{le="300"} COUNTER
aq_reading_to_alert_seconds_bucket{le="+Inf"} COUNTER
aq_reading_to_alert_seconds_sum 1
aq_reading_to_alert_seconds_count COUNTER
# TYPE aq_sql_queries_total counter
aq_sql_queries_total{surface="pg",outcome="ok"} COUNTER
# TYPE aq_sql_query_duration_seconds histogram
aq_sql_query_duration_seconds_bucket{surface="pg",le="0.05"} COUNTER
aq_sql_query_duration_seconds_bucket{surface="pg",le="+Inf"} COUNTER
aq_sql_query_duration_seconds_sum{surface="pg"} 1
aq_sql_query_duration_seconds_count{surface="pg"} COUNTER
"#;

fn metric_names(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    v.dedup();
    v
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn the_exposition_uses_only_metrics_the_code_registers() {
    let mut files = Vec::new();
    for e in std::fs::read_dir(repo_root().join("crates"))
        .unwrap()
        .flatten()
    {
        if e.file_name() != "aqstream-web" && e.path().join("src").is_dir() {
            rust_sources(&e.path().join("src"), &mut files);
        }
    }
    let code: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    for name in metric_names(EXPOSITION) {
        assert!(
            code.contains(&format!("\"{name}\"")),
            "`{name}` is registered nowhere in crates/*/src"
        );
    }
}

struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Serves the exposition; counters grow with every scrape so that `rate()` has data.
fn serve_exposition() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut n: u64 = 0;
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            n += 1;
            let body = EXPOSITION.replace("COUNTER", &(n * 10).to_string());
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    let status = r
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = r
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    // Prometheus answers small bodies without chunking; strip chunk sizes if present
    let body = if r
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    (status, body)
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
    out
}

fn start_prometheus(target_port: u16) -> Prometheus {
    let exe = Path::new("/usr/bin/prometheus");
    assert!(
        exe.exists(),
        "/usr/bin/prometheus is missing: run scripts/install-deps"
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: aqstream\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(exe)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus (run scripts/install-deps)");
    let p = Prometheus {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() || http_get(port, "/-/ready").0 != 200 {
        assert!(Instant::now() < deadline, "prometheus not ready in 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    p
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn instant_query(port: u16, q: &str) -> Value {
    let (status, body) = http_get(port, &format!("/api/v1/query?query={}", encode(q)));
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{status} {e}: {body}"));
    assert_eq!(v["status"], "success", "`{q}`: {body}");
    v
}

fn has_data(v: &Value) -> bool {
    match v["data"]["resultType"].as_str() {
        Some("vector") | Some("matrix") => v["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        Some("scalar") => true,
        _ => false,
    }
}

#[test]
fn every_promql_expression_runs_on_prometheus() {
    let target = serve_exposition();
    let prom = start_prometheus(target);
    // wait for enough scrapes that rate() over a minute has two points
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = instant_query(prom.port, "count_over_time(up{job=\"aqstream\"}[1m])");
        if v["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0)
            >= 3.0
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus did not scrape the exposition: {v}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut n = 0;
    for q in all_queries().into_iter().filter(|q| q.kind == Kind::PromQl) {
        let expr = q
            .text
            .replace("$__rate_interval", "1m")
            .replace("$__interval", "15s")
            .replace("$__range", "1h")
            .replace("$sensor", "TZ-0021");
        assert!(
            !expr.contains('$'),
            "{}: unexpanded variable in `{expr}`",
            q.panel
        );
        let v = instant_query(prom.port, &expr);
        assert!(
            has_data(&v),
            "{} / {}: `{expr}` returned nothing: {v}",
            q.dashboard,
            q.panel
        );
        n += 1;
    }
    assert!(n >= 30, "{n} expressions");
}
