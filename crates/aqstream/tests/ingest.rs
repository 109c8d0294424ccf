//! `aqstream ingest` as a separate process, with a real Mosquitto and a real
//! Kafka-protocol broker (Tansu), all started here: nothing published is lost — not
//! when the ingester is killed with SIGKILL, not when the Kafka broker restarts — and
//! every bad input lands in the dead-letter stream with its reason.

// The crash tests report what they observed (records, redelivered duplicates).
#![allow(clippy::print_stderr)]

use aqstream_connect::kafka::{KafkaConfig, KafkaSource};
use aqstream_connect::log::{LogSource, Record, topics};
use aqstream_connect::testkit::{
    ChildGuard, Mosquitto, Tansu, free_port, http_get, metric_value, sigterm,
};
use aqstream_core::hj212::{parse_frame, wrap};
use aqstream_core::time::{format_hj212_time, format_rfc3339};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const GATEWAYS: usize = 5;
const PER_GATEWAY: usize = 20;

/// 100 sensors, 20 per gateway: `S-{g}-{i}` on `gw-{g}`.
fn write_registry(dir: &Path) -> PathBuf {
    let mut s = String::from("sensor_id,gateway_id,lat,lon,district,kind\n");
    for g in 0..GATEWAYS {
        for i in 0..PER_GATEWAY {
            s.push_str(&format!("S-{g}-{i},gw-{g},39.9,116.6,D{g},lowcost\n"));
        }
    }
    let p = dir.join("sensors.csv");
    std::fs::write(&p, s).unwrap();
    p
}

/// A running `aqstream ingest`.
struct Ingester {
    child: ChildGuard,
    http: SocketAddr,
    hj212: SocketAddr,
}

fn start_ingester(
    dir: &Path,
    mqtt: &str,
    kafka: &str,
    http: SocketAddr,
    hj212: SocketAddr,
) -> Ingester {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("ingest.log"))
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_aqstream"))
        .arg("ingest")
        .arg("--sensors")
        .arg(dir.join("sensors.csv"))
        .args(["--mqtt", mqtt, "--kafka", kafka])
        .arg("--http")
        .arg(http.to_string())
        .arg("--hj212-listen")
        .arg(hj212.to_string())
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--mqtt-client-id", "aqstream-ingest-test"])
        .env("AQSTREAM_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let ing = Ingester {
        child: ChildGuard(Some(child)),
        http,
        hj212,
    };
    ing.wait_ready(dir);
    ing
}

impl Ingester {
    fn metrics(&self) -> String {
        http_get(self.http, "/metrics").unwrap_or_default()
    }

    fn metric(&self, name: &str) -> f64 {
        metric_value(&self.metrics(), name).unwrap_or(f64::NAN)
    }

    fn wait_ready(&self, dir: &Path) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.metric("aq_ingest_mqtt_subscribed") != 1.0 {
            assert!(
                Instant::now() < deadline,
                "ingester not ready; log:\n{}",
                std::fs::read_to_string(dir.join("ingest.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then the exit status within `within`.
    fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let child = self.child.0.as_mut().unwrap();
        sigterm(child.id());
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                self.child.0 = None;
                return s;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn base_ts() -> i64 {
    // Two days ago, on a minute: valid and never "in the future".
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (now / 60_000) * 60_000 - 2 * 86_400_000
}

/// Reading `n` of the test: sensor `n % 100`, minute `n / 100`.
fn reading(n: usize, base: i64) -> (String, String, String) {
    let s = n % (GATEWAYS * PER_GATEWAY);
    let (g, i) = (s / PER_GATEWAY, s % PER_GATEWAY);
    let sensor = format!("S-{g}-{i}");
    let ts = format_rfc3339(base + (n / (GATEWAYS * PER_GATEWAY)) as i64 * 60_000);
    let topic = format!("aq/v1/gw-{g}/{sensor}");
    let payload = format!(
        r#"{{"sensor_id":"{sensor}","ts":"{ts}","pm25":{}.5,"pm10":{}}}"#,
        n % 300,
        n % 300 + 20
    );
    (topic, payload, format!("{sensor}@{ts}"))
}

fn mqtt_client(port: u16, id: &str) -> AsyncClient {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_inflight(200);
    o.set_keep_alive(Duration::from_secs(30));
    // the oversize case must reach the broker (rumqttc refuses packets over 10 KiB by
    // default, and its event loop then drops the session's queued messages)
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (c, mut el) = AsyncClient::new(o, 2000);
    tokio::spawn(async move {
        loop {
            if el.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    c
}

/// Publishes readings `range`; `pace` pauses between blocks of 500.
async fn publish(
    port: u16,
    range: std::ops::Range<usize>,
    base: i64,
    pace: Duration,
) -> BTreeSet<String> {
    let c = mqtt_client(port, &format!("pub-{}", range.start));
    let mut keys = BTreeSet::new();
    for n in range {
        let (topic, payload, key) = reading(n, base);
        c.publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        keys.insert(key);
        if n % 500 == 499 && !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
    }
    // Wait until the broker acknowledged everything: a last QoS 1 round trip.
    c.disconnect().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    keys
}

/// Reads `topic` from the start until `enough` says so or the deadline passes.
async fn consume(
    kafka: &str,
    topic: &str,
    within: Duration,
    mut enough: impl FnMut(&[Record]) -> bool,
) -> Vec<Record> {
    let group = format!("verify-{}", free_port());
    let cfg = KafkaConfig::new(kafka);
    let deadline = Instant::now() + within;
    // Right after a broker restart the first metadata request can fail transiently;
    // the verifying consumer retries like any client would (a permanent error or the
    // deadline still fails the test).
    let mut src = loop {
        match KafkaSource::new(&cfg, topic, &group).await {
            Ok(src) => break src,
            Err(e) if e.is_transient() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("cannot consume {topic}: {e}"),
        }
    };
    let mut out = Vec::new();
    while !enough(&out) && Instant::now() < deadline {
        match src.poll(5000, Duration::from_millis(250)).await {
            Ok(records) => out.extend(records),
            Err(e) if e.is_transient() => tokio::time::sleep(Duration::from_millis(250)).await,
            Err(e) => panic!("cannot consume {topic}: {e}"),
        }
    }
    out
}

fn reading_key(r: &Record) -> String {
    let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
    assert_eq!(
        r.key.as_deref(),
        v["sensor_id"].as_str().map(str::as_bytes),
        "keyed by sensor_id"
    );
    format!(
        "{}@{}",
        v["sensor_id"].as_str().unwrap(),
        v["ts"].as_str().unwrap()
    )
}

/// Every published reading is in Kafka, nothing else is; returns the duplicate count.
fn compare(published: &BTreeSet<String>, got: &[Record]) -> usize {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in got {
        *counts.entry(reading_key(r)).or_default() += 1;
    }
    let got_keys: BTreeSet<String> = counts.keys().cloned().collect();
    let missing: Vec<_> = published.difference(&got_keys).take(5).collect();
    let extra: Vec<_> = got_keys.difference(published).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?} extra {extra:?} ({} of {})",
        got_keys.len(),
        published.len()
    );
    counts.values().map(|c| c - 1).sum()
}

struct World {
    dir: tempfile::TempDir,
    mosquitto: Mosquitto,
    tansu: Tansu,
    http: SocketAddr,
    hj212: SocketAddr,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    write_registry(dir.path());
    World {
        mosquitto: Mosquitto::start(""),
        tansu: Tansu::start(),
        http: SocketAddr::from(([127, 0, 0, 1], free_port())),
        hj212: SocketAddr::from(([127, 0, 0, 1], free_port())),
        dir,
    }
}

impl World {
    fn ingester(&self) -> Ingester {
        start_ingester(
            self.dir.path(),
            &self.mosquitto.url(),
            &self.tansu.brokers(),
            self.http,
            self.hj212,
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_readings_arrive_exactly_and_sigterm_exits_cleanly() {
    let w = world();
    let mut ing = w.ingester();
    let base = base_ts();
    let published = publish(w.mosquitto.port(), 0..10_000, base, Duration::ZERO).await;
    let got = consume(
        &w.tansu.brokers(),
        topics::READINGS,
        Duration::from_secs(180),
        |r| r.len() >= 10_000,
    )
    .await;
    let dups = compare(&published, &got);
    assert_eq!(dups, 0, "no faults, no redelivery, no duplicates");
    assert_eq!(
        ing.metric("aq_ingest_messages_total{transport=\"mqtt\"}"),
        10_000.0
    );
    assert_eq!(ing.metric("aq_ingest_readings_total"), 10_000.0);
    assert_eq!(ing.metric("aq_ingest_in_flight_messages"), 0.0);
    assert!(
        !ing.metric("aq_ingest_gateway_last_seen_seconds{gateway_id=\"gw-3\"}")
            .is_nan()
    );
    let status = ing.terminate(Duration::from_secs(30));
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing() {
    let w = world();
    let mut ing = w.ingester();
    let base = base_ts();
    let port = w.mosquitto.port();
    let publishing = tokio::spawn(publish(port, 0..10_000, base, Duration::from_millis(150)));
    // Kill the ingester while messages are in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while ing.metric("aq_ingest_readings_total").nan_or_below(2_000.0) {
        assert!(Instant::now() < deadline, "no progress before the kill");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ing.child.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ing = w.ingester();
    let published = publishing.await.unwrap();
    let got = consume(
        &w.tansu.brokers(),
        topics::READINGS,
        Duration::from_secs(180),
        |r| r.iter().map(reading_key).collect::<BTreeSet<_>>().len() >= 10_000,
    )
    .await;
    let dups = compare(&published, &got);
    eprintln!(
        "SIGKILL mid-stream: {} records, {dups} duplicates (redelivered)",
        got.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_restart_mid_stream_loses_nothing() {
    let mut w = world();
    let ing = w.ingester();
    let base = base_ts();
    let port = w.mosquitto.port();
    let publishing = tokio::spawn(publish(port, 0..10_000, base, Duration::from_millis(150)));
    let deadline = Instant::now() + Duration::from_secs(60);
    while ing.metric("aq_ingest_readings_total").nan_or_below(2_000.0) {
        assert!(
            Instant::now() < deadline,
            "no progress before the broker restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w.tansu.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = ing.metric("aq_ingest_in_flight_messages");
    w.tansu.restart();
    let published = publishing.await.unwrap();
    let got = consume(
        &w.tansu.brokers(),
        topics::READINGS,
        Duration::from_secs(180),
        |r| r.iter().map(reading_key).collect::<BTreeSet<_>>().len() >= 10_000,
    )
    .await;
    let dups = compare(&published, &got);
    eprintln!(
        "Kafka restart: {held} messages held while down, {} records, {dups} duplicates",
        got.len()
    );
}

trait NanOrBelow {
    fn nan_or_below(self, x: f64) -> bool;
}
impl NanOrBelow for f64 {
    fn nan_or_below(self, x: f64) -> bool {
        self.is_nan() || self < x
    }
}

fn hj212_frame(mn: &str, pw: &str, flag: u8, base: i64, minute: i64) -> String {
    // DataTime is China Standard Time and marks the start of the minute.
    let dt = format_hj212_time(base + minute * 60_000);
    wrap(&format!(
        "QN=20261122160100000;ST=22;CN=2051;PW={pw};MN={mn};Flag={flag};CP=&&DataTime={dt};a34004-Avg=39.5,a34004-Flag=N;a34002-Avg=60,a34002-Flag=N;a01007-Avg=2.4,a01007-Flag=N&&"
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_go_to_the_dead_letter_stream_and_hj212_over_tcp_works() {
    let w = world();
    let ing = w.ingester();
    let base = base_ts();
    let c = mqtt_client(w.mosquitto.port(), "bad-gateway");
    let ts = format_rfc3339(base);
    let future = format_rfc3339(base + 3 * 86_400_000);
    let cases: Vec<(&str, String, String)> = vec![
        ("bad_json", "aq/v1/gw-0/S-0-0".into(), "{oops".into()),
        (
            "missing_field",
            "aq/v1/gw-0/S-0-0".into(),
            r#"{"sensor_id":"S-0-0","pm25":1}"#.into(),
        ),
        (
            "bad_value",
            "aq/v1/gw-0/S-0-0".into(),
            format!(r#"{{"sensor_id":"S-0-0","ts":"{ts}","pm25":"x"}}"#),
        ),
        (
            "bad_timestamp",
            "aq/v1/gw-0/S-0-0".into(),
            r#"{"sensor_id":"S-0-0","ts":"noon","pm25":1}"#.into(),
        ),
        (
            "duplicate_field",
            "aq/v1/gw-0/S-0-0".into(),
            format!(r#"{{"sensor_id":"S-0-0","ts":"{ts}","pm25":1,"pm25":1}}"#),
        ),
        (
            "no_measurement",
            "aq/v1/gw-0/S-0-0".into(),
            format!(r#"{{"sensor_id":"S-0-0","ts":"{ts}"}}"#),
        ),
        (
            "sensor_mismatch",
            "aq/v1/gw-0/S-0-0".into(),
            format!(r#"{{"sensor_id":"S-0-1","ts":"{ts}","pm25":1}}"#),
        ),
        (
            "unknown_sensor",
            "aq/v1/gw-0/X-9".into(),
            format!(r#"{{"sensor_id":"X-9","ts":"{ts}","pm25":1}}"#),
        ),
        (
            "gateway_mismatch",
            "aq/v1/gw-0/S-1-0".into(),
            format!(r#"{{"sensor_id":"S-1-0","ts":"{ts}","pm25":1}}"#),
        ),
        (
            "future_timestamp",
            "aq/v1/gw-0/S-0-0".into(),
            format!(r#"{{"sensor_id":"S-0-0","ts":"{future}","pm25":1}}"#),
        ),
        (
            "out_of_range",
            "aq/v1/gw-0/S-0-0".into(),
            format!(r#"{{"sensor_id":"S-0-0","ts":"{ts}","rh":180}}"#),
        ),
        ("bad_topic", "aq/v1/gw-0/S-0-0/extra".into(), "{}".into()),
        (
            "oversize",
            "aq/v1/gw-0/batch".into(),
            format!(
                "[{}]",
                vec![format!(r#"{{"sensor_id":"S-0-0","ts":"{ts}","pm25":1}}"#); 6000].join(",")
            ),
        ),
        (
            "bad_crc",
            "aq/v1/gw-0/hj212".into(),
            hj212_frame("S-0-0", "123456", 4, base, 0)
                .replace("a34004-Avg=39.5", "a34004-Avg=39.6"),
        ),
        (
            "bad_frame",
            "aq/v1/gw-0/hj212".into(),
            "QN=1;ST=22\r\n".into(),
        ),
    ];
    for (_, topic, payload) in &cases {
        c.publish(topic.clone(), QoS::AtLeastOnce, false, payload.clone())
            .await
            .unwrap();
    }
    // HJ 212 over TCP: a frame asking for a reply gets its 9014 once stored.
    let conn = tokio::net::TcpStream::connect(ing.hj212).await.unwrap();
    let (rd, mut wr) = conn.into_split();
    let mut rd = BufReader::new(rd);
    for minute in 0..3 {
        wr.write_all(hj212_frame("S-2-5", "123456", 5, base, minute).as_bytes())
            .await
            .unwrap();
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(30), rd.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        let reply = parse_frame(line.as_bytes()).unwrap();
        assert_eq!((reply.st, reply.cn, reply.mn), ("91", "9014", "S-2-5"));
    }

    let dlq = consume(
        &w.tansu.brokers(),
        topics::DLQ,
        Duration::from_secs(120),
        |r| r.len() >= cases.len(),
    )
    .await;
    let reasons: BTreeMap<String, &Record> = dlq
        .iter()
        .map(|r| {
            (
                String::from_utf8(r.header("reason").unwrap().to_vec()).unwrap(),
                r,
            )
        })
        .collect();
    for (reason, topic, payload) in &cases {
        let r = reasons
            .get(*reason)
            .unwrap_or_else(|| panic!("no dead letter {reason}; got {:?}", reasons.keys()));
        assert_eq!(r.header("topic"), Some(topic.as_bytes()), "{reason}");
        assert!(r.header("received_at").is_some_and(|t| t.ends_with(b"Z")));
        assert!(r.header("gateway_id").is_some());
        if *reason != "oversize" && !topic.ends_with("hj212") {
            assert_eq!(r.payload, payload.as_bytes(), "{reason}: raw bytes");
        }
    }
    assert_eq!(
        reasons["gateway_mismatch"].header("gateway_id"),
        Some(&b"gw-0"[..])
    );
    assert!(reasons["oversize"].header("original_size").is_some());
    let readings = consume(
        &w.tansu.brokers(),
        topics::READINGS,
        Duration::from_secs(60),
        |r| r.len() >= 3,
    )
    .await;
    assert_eq!(readings.len(), 3, "only the three TCP frames are readings");
    for r in &readings {
        let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
        assert_eq!(v["sensor_id"], "S-2-5");
        assert_eq!(
            v["gateway_id"], "gw-2",
            "loopback terminal: the sensor's registry gateway"
        );
        assert_eq!(v["pm25"], 39.5);
    }
    assert_eq!(
        ing.metric("aq_ingest_rejected_total{reason=\"oversize\"}"),
        1.0
    );
    assert_eq!(
        ing.metric("aq_ingest_messages_total{transport=\"hj212_tcp\"}"),
        3.0
    );
}
