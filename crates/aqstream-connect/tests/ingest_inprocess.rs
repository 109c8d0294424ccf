//! The ingester in process, with a real Mosquitto (or the embedded broker) and an
//! in-memory log that can be switched off: acknowledgement only after the log,
//! backpressure, draining, HJ 212 replies only after the frame is stored.

use aqstream_connect::broker::BrokerConfig;
use aqstream_connect::hj212_tcp::Hj212TcpConfig;
use aqstream_connect::ingest::{IngestConfig, Ingester, IngesterConfig};
use aqstream_connect::log::topics;
use aqstream_connect::mqtt::MqttConfig;
use aqstream_connect::testkit::{MemorySink, Mosquitto};
use aqstream_core::SensorRegistry;
use aqstream_core::hj212::{Hj212Codec, parse_frame, wrap};
use aqstream_runtime::{MetricsRegistry, Shutdown};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const SENSORS: &str = "sensor_id,gateway_id,lat,lon,district,kind\n\
    TZ-0001,gw-tz-01,39.9,116.6,Center,lowcost\n\
    TZ-0002,gw-tz-01,39.9,116.6,Center,lowcost\n\
    TZ-0005,gw-tz-02,39.9,116.6,North,lowcost\n";

fn registry() -> Arc<SensorRegistry> {
    Arc::new(SensorRegistry::from_csv(SENSORS).unwrap())
}

fn now_rfc3339(offset_s: i64) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    aqstream_core::time::format_rfc3339((ms / 60_000) * 60_000 + offset_s * 1000)
}

fn reading(sensor: &str, minute: i64) -> String {
    format!(
        r#"{{"sensor_id":"{sensor}","ts":"{}","pm25":{}.5}}"#,
        now_rfc3339(-86_400 + minute * 60),
        minute % 500
    )
}

fn metric(reg: &MetricsRegistry, name: &str) -> f64 {
    reg.render()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(f64::NAN)
}

async fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn config(mqtt_url: &str, window: usize) -> IngesterConfig {
    IngesterConfig {
        ingest: IngestConfig {
            max_in_flight: window,
            drain_timeout_ms: 10_000,
            retry_initial_ms: 20,
            retry_max_ms: 100,
            ..IngestConfig::default()
        },
        mqtt: MqttConfig {
            url: mqtt_url.into(),
            client_id: "ingest-test".into(),
            ..MqttConfig::default()
        },
        hj212_tcp: Hj212TcpConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Hj212TcpConfig::default()
        },
        broker: BrokerConfig::default(),
    }
}

fn publisher(port: u16, id: &str, login: Option<(&str, &str)>) -> AsyncClient {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_inflight(100);
    if let Some((u, p)) = login {
        o.set_credentials(u, p);
    }
    let (c, mut el) = AsyncClient::new(o, 1000);
    tokio::spawn(async move { while el.poll().await.is_ok() {} });
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_while_the_log_is_down_then_everything_arrives() {
    let m = Mosquitto::start("");
    let sink = Arc::new(MemorySink::new());
    let reg = MetricsRegistry::new();
    let stop = Shutdown::new();
    let ing = Ingester::start(
        config(&m.url(), 20),
        registry(),
        Hj212Codec::default(),
        sink.clone(),
        &reg,
        stop.clone(),
    )
    .await
    .unwrap();
    wait_for("subscription", Duration::from_secs(10), || {
        metric(&reg, "aq_ingest_mqtt_subscribed") == 1.0
    })
    .await;

    sink.set_down(true);
    let p = publisher(m.port(), "gw", None);
    let n = 300;
    for i in 0..n {
        p.publish(
            "aq/v1/gw-tz-01/TZ-0001",
            QoS::AtLeastOnce,
            false,
            reading("TZ-0001", i),
        )
        .await
        .unwrap();
    }
    // The window fills and stays full: no more than 20 messages held.
    wait_for("a full window", Duration::from_secs(10), || {
        metric(&reg, "aq_ingest_in_flight_messages") == 20.0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(metric(&reg, "aq_ingest_in_flight_messages"), 20.0);
    assert!(sink.records().is_empty());
    assert!(metric(&reg, "aq_ingest_produce_retries_total") > 0.0);

    sink.set_down(false);
    wait_for("every reading", Duration::from_secs(30), || {
        sink.topic(topics::READINGS).len() >= n as usize
    })
    .await;
    wait_for("an empty window", Duration::from_secs(10), || {
        metric(&reg, "aq_ingest_in_flight_messages") == 0.0
    })
    .await;
    let mut keys: Vec<String> = sink
        .topic(topics::READINGS)
        .iter()
        .map(|r| String::from_utf8(r.payload.clone()).unwrap())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        n as usize,
        "each reading stored (duplicates only from redelivery)"
    );
    assert_eq!(
        metric(&reg, "aq_ingest_messages_total{transport=\"mqtt\"}"),
        n as f64
    );
    assert!(
        metric(
            &reg,
            "aq_ingest_gateway_last_seen_seconds{gateway_id=\"gw-tz-01\"}"
        ) > 1.7e9
    );
    stop.trigger();
    tokio::time::timeout(Duration::from_secs(20), ing.wait())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_messages_come_back_to_the_next_session() {
    let m = Mosquitto::start("");
    let reg1 = MetricsRegistry::new();
    let sink1 = Arc::new(MemorySink::new());
    sink1.set_down(true);
    let stop1 = Shutdown::new();
    let mut cfg = config(&m.url(), 50);
    cfg.ingest.drain_timeout_ms = 300;
    let ing1 = Ingester::start(
        cfg.clone(),
        registry(),
        Hj212Codec::default(),
        sink1.clone(),
        &reg1,
        stop1.clone(),
    )
    .await
    .unwrap();
    wait_for("subscription", Duration::from_secs(10), || {
        metric(&reg1, "aq_ingest_mqtt_subscribed") == 1.0
    })
    .await;
    let p = publisher(m.port(), "gw", None);
    for i in 0..30 {
        p.publish(
            "aq/v1/gw-tz-01/TZ-0002",
            QoS::AtLeastOnce,
            false,
            reading("TZ-0002", i),
        )
        .await
        .unwrap();
    }
    wait_for("30 held", Duration::from_secs(10), || {
        metric(&reg1, "aq_ingest_in_flight_messages") == 30.0
    })
    .await;
    // Shut down while the log is still down: the drain times out, nothing is acked.
    stop1.trigger();
    tokio::time::timeout(Duration::from_secs(20), ing1.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(sink1.records().is_empty());

    // The same session comes back: the broker redelivers all 30.
    let reg2 = MetricsRegistry::new();
    let sink2 = Arc::new(MemorySink::new());
    let stop2 = Shutdown::new();
    let ing2 = Ingester::start(
        cfg,
        registry(),
        Hj212Codec::default(),
        sink2.clone(),
        &reg2,
        stop2.clone(),
    )
    .await
    .unwrap();
    wait_for("redelivery", Duration::from_secs(20), || {
        sink2.topic(topics::READINGS).len() >= 30
    })
    .await;
    stop2.trigger();
    tokio::time::timeout(Duration::from_secs(20), ing2.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sink2.topic(topics::READINGS).len(), 30);
}

fn frame(mn: &str, pw: &str, flag: u8) -> String {
    // DataTime is China Standard Time: one hour ago, rounded to the minute.
    let cst = now_rfc3339(-3600);
    let ms = aqstream_core::time::parse_rfc3339(&cst).unwrap();
    let dt = aqstream_core::time::format_hj212_time(ms);
    wrap(&format!(
        "QN=20261122160100000;ST=22;CN=2051;PW={pw};MN={mn};Flag={flag};CP=&&DataTime={dt};a34004-Avg=39,a34004-Flag=N;a34002-Avg=60,a34002-Flag=N&&"
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hj212_tcp_replies_only_after_the_frame_is_stored() {
    let sink = Arc::new(MemorySink::new());
    let reg = MetricsRegistry::new();
    let stop = Shutdown::new();
    let mut cfg = config("mqtt://127.0.0.1:1", 10);
    cfg.mqtt.enabled = false;
    let ing = Ingester::start(
        cfg,
        registry(),
        Hj212Codec::default(),
        sink.clone(),
        &reg,
        stop.clone(),
    )
    .await
    .unwrap();
    let addr = ing.hj212_addr().unwrap();
    let conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (rd, mut wr) = conn.into_split();
    let mut rd = BufReader::new(rd);
    sink.set_down(true);
    wr.write_all(frame("TZ-0001", "123456", 5).as_bytes())
        .await
        .unwrap();
    let mut line = String::new();
    let early = tokio::time::timeout(Duration::from_millis(700), rd.read_line(&mut line)).await;
    assert!(early.is_err(), "no reply while the log is down: {line:?}");
    sink.set_down(false);
    tokio::time::timeout(Duration::from_secs(10), rd.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    let reply = parse_frame(line.as_bytes()).unwrap();
    assert_eq!((reply.cn, reply.mn), ("9014", "TZ-0001"));
    assert_eq!(sink.topic(topics::READINGS).len(), 1);
    // Flag=4 asks for no reply; garbage gets a dead letter, no reply.
    wr.write_all(frame("TZ-0002", "123456", 4).as_bytes())
        .await
        .unwrap();
    wr.write_all(b"not a frame\r\n").await.unwrap();
    wr.write_all(frame("TZ-0002", "123456", 5).as_bytes())
        .await
        .unwrap();
    line.clear();
    tokio::time::timeout(Duration::from_secs(10), rd.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parse_frame(line.as_bytes()).unwrap().cn, "9014");
    assert_eq!(sink.topic(topics::READINGS).len(), 3);
    let dlq = sink.topic(topics::DLQ);
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].header("reason"), Some(&b"bad_frame"[..]));
    assert_eq!(dlq[0].header("topic"), Some(&b"hj212-tcp"[..]));
    assert_eq!(dlq[0].payload, b"not a frame");
    assert_eq!(
        metric(&reg, "aq_ingest_messages_total{transport=\"hj212_tcp\"}"),
        4.0
    );
    assert_eq!(metric(&reg, "aq_ingest_tcp_connections"), 1.0);
    stop.trigger();
    tokio::time::timeout(Duration::from_secs(20), ing.wait())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hj212_tcp_limits_idle_connections_and_oversize_lines() {
    let sink = Arc::new(MemorySink::new());
    let reg = MetricsRegistry::new();
    let stop = Shutdown::new();
    let mut cfg = config("mqtt://127.0.0.1:1", 10);
    cfg.mqtt.enabled = false;
    cfg.hj212_tcp.idle_timeout_s = 1;
    cfg.hj212_tcp.max_frame_bytes = 600;
    cfg.hj212_tcp.max_errors = 2;
    let ing = Ingester::start(
        cfg,
        registry(),
        Hj212Codec::default(),
        sink.clone(),
        &reg,
        stop.clone(),
    )
    .await
    .unwrap();
    let addr = ing.hj212_addr().unwrap();
    // Oversize line: dead-lettered (cut), the connection goes on.
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(&[b'#'; 5000]).await.unwrap();
    c.write_all(b"\r\n").await.unwrap();
    c.write_all(frame("TZ-0001", "123456", 4).as_bytes())
        .await
        .unwrap();
    wait_for("two records", Duration::from_secs(10), || {
        sink.records().len() == 2
    })
    .await;
    let dlq = sink.topic(topics::DLQ);
    assert_eq!(dlq[0].header("reason"), Some(&b"oversize"[..]));
    assert_eq!(dlq[0].header("original_size"), Some(&b"5000"[..]));
    // Too many errors: closed.
    c.write_all(b"x\r\ny\r\nz\r\n").await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut c, &mut buf),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(n, 0, "closed after too many errors");
    // Idle: closed after the timeout.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let t0 = Instant::now();
    let n = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut idle, &mut buf),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(n, 0);
    assert!(t0.elapsed() >= Duration::from_millis(900));
    assert!(metric(&reg, "aq_ingest_tcp_errors_total{kind=\"idle_timeout\"}") >= 1.0);
    assert!(metric(&reg, "aq_ingest_tcp_errors_total{kind=\"too_many_errors\"}") >= 1.0);
    stop.trigger();
    tokio::time::timeout(Duration::from_secs(20), ing.wait())
        .await
        .unwrap()
        .unwrap();
}

fn deploy(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/mosquitto")
        .join(file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_box_with_the_embedded_broker() {
    let sink = Arc::new(MemorySink::new());
    let reg = MetricsRegistry::new();
    let stop = Shutdown::new();
    let mut cfg = config("unused", 100);
    cfg.hj212_tcp.enabled = false;
    cfg.broker = BrokerConfig {
        enabled: true,
        listen: "127.0.0.1:0".parse().unwrap(),
        password_file: Some(deploy("passwd")),
        acl_file: Some(deploy("acl")),
        ..BrokerConfig::default()
    };
    cfg.mqtt.username = Some("aqstream".into());
    cfg.mqtt.password = Some("demo-aqstream".into());
    let ing = Ingester::start(
        cfg,
        registry(),
        Hj212Codec::default(),
        sink.clone(),
        &reg,
        stop.clone(),
    )
    .await
    .unwrap();
    wait_for("subscription", Duration::from_secs(10), || {
        metric(&reg, "aq_ingest_mqtt_subscribed") == 1.0
    })
    .await;
    let port = ing.broker_addr().unwrap().port();
    let gw = publisher(port, "gw1", Some(("gw-tz-01", "demo-gw-tz-01")));
    gw.publish(
        "aq/v1/gw-tz-02/TZ-0005",
        QoS::AtLeastOnce,
        false,
        reading("TZ-0005", 1),
    )
    .await
    .unwrap();
    gw.publish(
        "aq/v1/gw-tz-01/TZ-0005",
        QoS::AtLeastOnce,
        false,
        reading("TZ-0005", 2),
    )
    .await
    .unwrap();
    gw.publish(
        "aq/v1/gw-tz-01/TZ-0001",
        QoS::AtLeastOnce,
        false,
        reading("TZ-0001", 3),
    )
    .await
    .unwrap();
    wait_for("two records", Duration::from_secs(10), || {
        sink.records().len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = sink.records();
    assert_eq!(r.len(), 2, "the forged topic never reached the ingester");
    // messages are processed concurrently: find each record by its topic
    let dlq = sink.topic(topics::DLQ);
    assert_eq!(dlq.len(), 1, "{r:?}");
    assert_eq!(dlq[0].header("reason"), Some(&b"gateway_mismatch"[..]));
    let readings = sink.topic(topics::READINGS);
    assert_eq!(readings.len(), 1, "{r:?}");
    assert_eq!(readings[0].key.as_deref(), Some(&b"TZ-0001"[..]));
    stop.trigger();
    tokio::time::timeout(Duration::from_secs(20), ing.wait())
        .await
        .unwrap()
        .unwrap();
}
