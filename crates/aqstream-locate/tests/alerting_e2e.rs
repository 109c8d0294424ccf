//! Alert gauges → real Prometheus (the shipped rules) → real Alertmanager (the shipped
//! routing) → a webhook receiver, all on free local ports. The gauges are driven here
//! from alert transitions directly; the stream worker's replay drives the same code.

use aqstream_core::alert::{Alert, AlertState, SourceEstimate, SourceType, Wind};
use aqstream_locate::metrics::AlertGauges;
use aqstream_runtime::{MetricsRegistry, Shutdown};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Kills a server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn binary(candidates: &[&str]) -> PathBuf {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("none of {candidates:?} is installed: run scripts/install-deps"))
}

fn deploy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn start(bin: PathBuf, args: &[String], dir: &Path, name: &str) -> Server {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    Server(
        Command::new(bin)
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// Collects the bodies of HTTP POSTs until one contains `needle` (or 90 s pass).
async fn webhook(listener: tokio::net::TcpListener, needle: &'static str) -> Vec<String> {
    let mut bodies = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while !bodies.iter().any(|b: &String| b.contains(needle)) {
        let Ok(Ok((mut s, _))) = tokio::time::timeout_at(deadline, listener.accept()).await else {
            break;
        };
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(0);
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some(h) = text.find("\r\n\r\n") {
                let len = text[..h]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if buf.len() >= h + 4 + len {
                    break;
                }
            }
        }
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        let text = String::from_utf8_lossy(&buf).to_string();
        bodies.push(text[text.find("\r\n\r\n").map_or(0, |h| h + 4)..].to_string());
    }
    bodies
}

fn alert(state: AlertState) -> Alert {
    Alert {
        alert_id: "a-20261122-0007".into(),
        state,
        pollutant: "pm25".into(),
        district: "Tongzhou-North".into(),
        started_at: 0,
        detected_at: 60_000,
        resolved_at: (state == AlertState::Resolved).then_some(120_000),
        source: Some(SourceEstimate {
            lat: 39.9271,
            lon: 116.6612,
            uncertainty_m: 180.0,
        }),
        source_type: SourceType::Combustion,
        confidence: 0.82,
        peak_ugm3: 312.4,
        sensors: vec!["TZ-0004".into(), "TZ-0011".into()],
        wind: Some(Wind {
            speed_ms: 2.4,
            from_deg: 270.0,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_alert_reaches_the_districts_webhook_with_its_location() {
    let prometheus = binary(&["/usr/bin/prometheus"]);
    let alertmanager = binary(&["/usr/bin/prometheus-alertmanager", "/usr/bin/alertmanager"]);
    let dir = tempfile::tempdir().unwrap();

    // aqstream's /metrics with the alert gauges.
    let reg = MetricsRegistry::new();
    let mut gauges = AlertGauges::register(&reg, 300_000);
    gauges.apply(&alert(AlertState::Firing));
    let shutdown = Shutdown::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let http = tokio::spawn(aqstream_runtime::metrics::serve(
        "127.0.0.1:0".parse().unwrap(),
        reg.router(),
        shutdown.clone(),
        Some(tx),
    ));
    let metrics_addr = rx.await.unwrap();

    // The webhook receiver.
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = hook.local_addr().unwrap();
    let received = tokio::spawn(webhook(hook, "39.92710"));

    // Alertmanager with the shipped routing, webhooks pointed at the receiver.
    let am_port = free_port();
    let am_conf = std::fs::read_to_string(deploy().join("alertmanager/alertmanager.yml"))
        .unwrap()
        .replace("http://127.0.0.1:9099", &format!("http://{hook_addr}"))
        .replace("group_wait: 10s", "group_wait: 1s");
    std::fs::write(dir.path().join("alertmanager.yml"), am_conf).unwrap();
    let _am = start(
        alertmanager,
        &[
            "--config.file=alertmanager.yml".into(),
            "--storage.path=am-data".into(),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=".into(),
        ],
        dir.path(),
        "alertmanager",
    );

    // Prometheus with the shipped rules, scraping the gauges every second.
    let prom_port = free_port();
    let rules = deploy().join("prometheus/rules/aqstream.yml");
    let prom_conf = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n  external_labels:\n    aqstream_url: http://aq.test:8080\n\
         rule_files:\n  - {}\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n\
         scrape_configs:\n  - job_name: aqstream\n    static_configs:\n      - targets: ['{metrics_addr}']\n",
        rules.display()
    );
    std::fs::write(dir.path().join("prometheus.yml"), prom_conf).unwrap();
    let _prom = start(
        prometheus,
        &[
            "--config.file=prometheus.yml".into(),
            "--storage.tsdb.path=prom-data".into(),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        dir.path(),
        "prometheus",
    );

    let bodies = received.await.unwrap();
    let logs = || {
        ["prometheus", "alertmanager"]
            .map(|n| {
                std::fs::read_to_string(dir.path().join(format!("{n}.log"))).unwrap_or_default()
            })
            .join("\n---\n")
    };
    let body = bodies
        .iter()
        .find(|b| b.contains("39.92710"))
        .unwrap_or_else(|| panic!("no webhook with the location; got {bodies:?}\n{}", logs()));
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        v["receiver"], "enforcement-tongzhou-north",
        "routed by district"
    );
    let a = &v["alerts"][0];
    assert_eq!(a["status"], "firing");
    assert_eq!(a["labels"]["alert_id"], "a-20261122-0007");
    assert_eq!(a["labels"]["source_type"], "combustion");
    assert_eq!(a["annotations"]["latitude"], "39.92710");
    assert_eq!(a["annotations"]["longitude"], "116.66120");
    assert_eq!(a["annotations"]["confidence"], "0.82");
    assert_eq!(a["annotations"]["sensors"], "TZ-0004,TZ-0011");
    assert_eq!(
        a["annotations"]["map_url"],
        "http://aq.test:8080/officer?alert=a-20261122-0007&lat=39.92710&lon=116.66120"
    );
    shutdown.trigger();
    http.await.unwrap().unwrap();
}
