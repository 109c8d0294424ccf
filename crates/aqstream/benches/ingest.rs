//! Ingest benchmark: 1 M JSON readings through Mosquitto → `aqstream ingest` → Kafka
//! (Tansu), next to the raw path measured in the same run (the same messages through
//! Mosquitto straight into Kafka by a minimal forwarder: no decoding, no validation),
//! the broker's own produce rate, and the ingester's memory while Kafka is down.
//!
//! ```sh
//! cargo bench -p aqstream --bench ingest            # 1 000 000 readings
//! AQ_BENCH_READINGS=200000 cargo bench -p aqstream --bench ingest
//! ```
//!
//! Publish→Kafka latency is measured per reading: from just before the publisher hands
//! the message to its MQTT client to when a consumer of the Kafka topic sees it. For
//! aqstream the time until the ingester counted every reading acknowledged by Kafka
//! (`aq_ingest_readings_total`) is reported too: it leaves out the broker's consume
//! rate, which bounds the consumed-time figures when every reading is its own record.

#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use aqstream_connect::kafka::KafkaConfig;
use aqstream_connect::log::topics;
use aqstream_connect::testkit::{
    ChildGuard, Mosquitto, Tansu, free_port, http_get, metric_value, sigterm,
};
use aqstream_core::json::{DecodeMode, decode_one};
use aqstream_core::time::format_rfc3339;
use futures::FutureExt as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const GATEWAYS: usize = 8;
const PER_GATEWAY: usize = 125; // 1000 sensors

fn sensors() -> usize {
    GATEWAYS * PER_GATEWAY
}

fn write_registry(dir: &Path) {
    let mut s = String::from("sensor_id,gateway_id,lat,lon,district,kind\n");
    for g in 0..GATEWAYS {
        for i in 0..PER_GATEWAY {
            s.push_str(&format!("B{g:02}-{i:04},gw-{g},39.9,116.6,D{g},lowcost\n"));
        }
    }
    std::fs::write(dir.join("sensors.csv"), s).unwrap();
}

/// Reading `n`: sensor `n % 1000`, minute `n / 1000` after `base`.
fn reading(n: usize, base: i64, out: &mut String) -> (usize, String) {
    let s = n % sensors();
    let (g, i) = (s / PER_GATEWAY, s % PER_GATEWAY);
    let ts = format_rfc3339(base + (n / sensors()) as i64 * 60_000);
    out.clear();
    out.push_str(&format!(
        r#"{{"sensor_id":"B{g:02}-{i:04}","ts":"{ts}","pm25":{}.5,"pm10":{},"no2":{},"temp_c":-2.5,"rh":41,"wind_speed":2.4,"wind_dir":270}}"#,
        n % 300,
        n % 300 + 25,
        n % 90
    ));
    (g, format!("B{g:02}-{i:04}"))
}

/// The reading number of a decoded (sensor, ts).
fn index_of(sensor: &str, ts: i64, base: i64) -> Option<usize> {
    let g: usize = sensor.get(1..3)?.parse().ok()?;
    let i: usize = sensor.get(4..8)?.parse().ok()?;
    let minute = usize::try_from((ts - base) / 60_000).ok()?;
    Some(minute * sensors() + g * PER_GATEWAY + i)
}

struct Clock(Instant);
impl Clock {
    fn us(&self) -> u64 {
        self.0.elapsed().as_micros() as u64
    }
}

/// Publishes readings `0..n` over `GATEWAYS` connections (QoS 1), `batch` readings per
/// message (1: one reading per `aq/v1/{gw}/{sensor}` message; more: JSON arrays on
/// `aq/v1/{gw}/batch`). Records the send time of each reading.
async fn publish(
    port: u16,
    n: usize,
    batch: usize,
    base: i64,
    clock: Arc<Clock>,
    sent: Arc<Vec<AtomicU64>>,
) {
    let mut tasks = Vec::new();
    for g in 0..GATEWAYS {
        let clock = clock.clone();
        let sent = sent.clone();
        tasks.push(tokio::spawn(async move {
            let mut o =
                MqttOptions::new(format!("bench-gw-{g}-{}", free_port()), "127.0.0.1", port);
            o.set_inflight(1000);
            o.set_keep_alive(Duration::from_secs(60));
            o.set_max_packet_size(1 << 20, 1 << 20);
            let (c, mut el) = AsyncClient::new(o, 10_000);
            let acks = Arc::new(AtomicU64::new(0));
            let a = acks.clone();
            tokio::spawn(async move {
                loop {
                    match el.poll().await {
                        Ok(Event::Incoming(Packet::PubAck(_))) => {
                            a.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            });
            let mut buf = String::new();
            let mut body = String::new();
            let mut pending: Vec<usize> = Vec::new();
            let mut messages = 0u64;
            // This gateway's readings: sensors g*125..(g+1)*125 of every minute.
            let mine = (0..n).filter(|k| (k % sensors()) / PER_GATEWAY == g);
            for k in mine {
                let (_, sensor) = reading(k, base, &mut buf);
                if batch == 1 {
                    sent[k].store(clock.us(), Ordering::Relaxed);
                    c.publish(
                        format!("aq/v1/gw-{g}/{sensor}"),
                        QoS::AtLeastOnce,
                        false,
                        buf.clone().into_bytes(),
                    )
                    .await
                    .unwrap();
                    messages += 1;
                } else {
                    body.push(if pending.is_empty() { '[' } else { ',' });
                    body.push_str(&buf);
                    pending.push(k);
                    if pending.len() == batch {
                        body.push(']');
                        let t = clock.us();
                        for &p in &pending {
                            sent[p].store(t, Ordering::Relaxed);
                        }
                        c.publish(
                            format!("aq/v1/gw-{g}/batch"),
                            QoS::AtLeastOnce,
                            false,
                            std::mem::take(&mut body).into_bytes(),
                        )
                        .await
                        .unwrap();
                        pending.clear();
                        messages += 1;
                    }
                }
            }
            if !pending.is_empty() {
                body.push(']');
                let t = clock.us();
                for &p in &pending {
                    sent[p].store(t, Ordering::Relaxed);
                }
                c.publish(
                    format!("aq/v1/gw-{g}/batch"),
                    QoS::AtLeastOnce,
                    false,
                    body.into_bytes(),
                )
                .await
                .unwrap();
                messages += 1;
            }
            while acks.load(Ordering::Relaxed) < messages {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

struct Outcome {
    readings: usize,
    seconds: f64,
    /// aqstream only: seconds from the first publish until the ingester counted every
    /// reading acknowledged by Kafka (acks=all), from its `aq_ingest_readings_total`.
    acked_s: Option<f64>,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Clock time of the first publish.
    first_us: u64,
}

/// The broker's own consume rate: the first `n` records of `topic`, by one consumer.
async fn broker_consume_rate(kafka: &str, topic: &str, n: usize) -> f64 {
    let c: StreamConsumer = KafkaConfig::new(kafka)
        .consumer_config(&format!("bench-{}", free_port()))
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let t0 = Instant::now();
    let mut got = 0;
    while got < n {
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), c.recv()).await {
            got += 1;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "consumed {got}/{n}"
        );
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

/// A consumer of every partition of `topic`, positioned at the partition's current
/// end, so a scenario reads only what it produced itself (`aq.readings.v1` is shared by
/// the scenarios; reading the earlier scenarios' records first would be measured as
/// ingest latency).
async fn consumer_at_end(kafka: &str, topic: &str) -> StreamConsumer {
    let c: StreamConsumer = KafkaConfig::new(kafka)
        .consumer_config(&format!("bench-{}", free_port()))
        .create()
        .unwrap();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let timeout = Duration::from_secs(10);
        let md = c.fetch_metadata(Some(&topic), timeout).unwrap();
        let parts = md.topics()[0].partitions().len() as i32;
        assert!(parts > 0, "topic {topic} has no partitions");
        let mut tpl = TopicPartitionList::new();
        for p in 0..parts {
            let (_, high) = c.fetch_watermarks(&topic, p, timeout).unwrap();
            tpl.add_partition_offset(&topic, p, Offset::Offset(high))
                .unwrap();
        }
        c.assign(&tpl).unwrap();
        c
    })
    .await
    .unwrap()
}

/// Consumes from `c` until every reading `0..n` was seen (duplicates ignored).
async fn consume(
    c: StreamConsumer,
    n: usize,
    base: i64,
    clock: Arc<Clock>,
    sent: Arc<Vec<AtomicU64>>,
    raw_arrays: bool,
) -> Outcome {
    let mut seen = vec![false; n];
    let mut lat = Vec::with_capacity(n);
    let mut count = 0;
    let mut last_us = 0;
    let deadline = Instant::now() + Duration::from_secs(1800);
    while count < n {
        assert!(
            Instant::now() < deadline,
            "consumer timed out at {count}/{n}"
        );
        let mut payloads: Vec<Vec<u8>> = Vec::new();
        // Transport errors (the broker restarted) are retried by librdkafka.
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(100), c.recv()).await {
            payloads.push(m.payload().unwrap_or_default().to_vec());
            while payloads.len() < 10_000 {
                match c.recv().now_or_never() {
                    Some(Ok(m)) => payloads.push(m.payload().unwrap_or_default().to_vec()),
                    _ => break,
                }
            }
        }
        let now = clock.us();
        for payload in payloads {
            let mut handle = |rd: aqstream_core::Reading| {
                if let Some(k) = index_of(&rd.sensor_id, rd.ts, base)
                    && k < n
                    && !seen[k]
                {
                    seen[k] = true;
                    count += 1;
                    lat.push(now.saturating_sub(sent[k].load(Ordering::Relaxed)));
                }
            };
            if raw_arrays && payload.first() == Some(&b'[') {
                for d in aqstream_core::json::decode_payload(&payload, DecodeMode::Gateway).unwrap()
                {
                    handle(d.result.unwrap());
                }
            } else {
                handle(decode_one(&payload, DecodeMode::Canonical).unwrap());
            }
            last_us = now;
        }
    }
    lat.sort_unstable();
    let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)] as f64 / 1000.0;
    let first_us = sent
        .iter()
        .map(|s| s.load(Ordering::Relaxed))
        .min()
        .unwrap_or(0);
    Outcome {
        readings: n,
        acked_s: None,
        seconds: (last_us - first_us) as f64 / 1e6,
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        max_ms: *lat.last().unwrap_or(&0) as f64 / 1000.0,
        first_us,
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:")?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}

fn producer(kafka: &str) -> FutureProducer {
    KafkaConfig::new(kafka).producer_config().create().unwrap()
}

/// The minimal forwarder of the raw path: subscribe (QoS 1, automatic acks), produce
/// every payload unchanged, no decoding, no validation.
async fn raw_forwarder(mqtt_port: u16, kafka: String, topic: String) {
    let p = producer(&kafka);
    let mut o = MqttOptions::new("raw-forwarder", "127.0.0.1", mqtt_port);
    o.set_keep_alive(Duration::from_secs(60));
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (c, mut el) = AsyncClient::new(o, 1000);
    c.subscribe("$share/raw/aq/v1/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    loop {
        match el.poll().await {
            Ok(Event::Incoming(Packet::Publish(m))) => {
                let key = m.topic.rsplit('/').next().unwrap_or("").to_string();
                let mut rec = FutureRecord::to(&topic).key(&key).payload(&m.payload[..]);
                loop {
                    match p.send_result(rec) {
                        Ok(f) => {
                            drop(f);
                            break;
                        }
                        Err((_, r)) => {
                            rec = r;
                            p.poll(Duration::from_millis(5));
                        }
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => eprintln!("raw forwarder subscribed"),
            Ok(_) => {}
            Err(e) => {
                eprintln!("raw forwarder: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The broker's own produce rate: `n` records of `size` bytes from one producer.
async fn broker_produce_rate(kafka: &str, topic: &str, n: usize, size: usize) -> f64 {
    let p = producer(kafka);
    let payload = vec![b'x'; size];
    let t0 = Instant::now();
    let mut futs = Vec::with_capacity(n);
    for i in 0..n {
        let key = format!("k{}", i % 1000);
        let mut rec = FutureRecord::to(topic).key(&key).payload(&payload[..]);
        loop {
            match p.send_result(rec) {
                Ok(f) => {
                    futs.push(f);
                    break;
                }
                Err((_, r)) => {
                    rec = r;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    }
    for f in futs {
        f.await.unwrap().unwrap();
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

struct Ingester {
    child: ChildGuard,
    http: std::net::SocketAddr,
}

fn start_ingester(dir: &Path, mqtt: &str, kafka: &str) -> Ingester {
    let http = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let log = std::fs::File::create(dir.join(format!("ingest-{}.log", http.port()))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_aqstream"))
        .arg("ingest")
        .arg("--sensors")
        .arg(dir.join("sensors.csv"))
        .args(["--mqtt", mqtt, "--kafka", kafka, "--hj212-listen", "off"])
        .arg("--http")
        .arg(http.to_string())
        .env("AQSTREAM_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let ing = Ingester {
        child: ChildGuard(Some(child)),
        http,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while ing.metric("aq_ingest_mqtt_subscribed") != Some(1.0) {
        assert!(Instant::now() < deadline, "ingester not ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    ing
}

impl Ingester {
    fn metric(&self, name: &str) -> Option<f64> {
        metric_value(&http_get(self.http, "/metrics")?, name)
    }
    fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }
}

fn row(name: &str, o: &Outcome, baseline: Option<&Outcome>) {
    let rate = o.readings as f64 / o.seconds;
    let rel = baseline.map_or(String::new(), |b| {
        format!("{:.2}×", rate / (b.readings as f64 / b.seconds))
    });
    let acked = o.acked_s.map_or("–".to_string(), |a| {
        format!("{a:.1} s = **{:.0}/s**", o.readings as f64 / a)
    });
    println!(
        "| {name} | {} | {:.1} s | **{:.0}** | {acked} | {:.0} ms | **{:.0} ms** | {:.0} ms | {rel} |",
        o.readings, o.seconds, rate, o.p50_ms, o.p99_ms, o.max_ms
    );
}

/// Event-time origin of scenario `idx`: a year ago, scenarios `span` apart, so no
/// reading of one scenario maps into another's range.
fn base_of(idx: i64, n: usize) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let span = ((n / sensors()) as i64 + 10) * 60_000;
    (now / 60_000) * 60_000 - 365 * 86_400_000 + idx * span
}

#[allow(clippy::too_many_arguments)]
async fn scenario(
    name: &str,
    ingester: Option<std::net::SocketAddr>,
    mosq: &Mosquitto,
    kafka: &str,
    topic: &str,
    n: usize,
    batch: usize,
    raw: bool,
    base: i64,
) -> Outcome {
    let clock = Arc::new(Clock(Instant::now()));
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(u64::MAX)).collect());
    let c = consumer_at_end(kafka, topic).await;
    let consumer = tokio::spawn(consume(c, n, base, clock.clone(), sent.clone(), raw));
    let counted = |addr| {
        http_get(addr, "/metrics")
            .and_then(|m| metric_value(&m, "aq_ingest_readings_total"))
            .unwrap_or(0.0)
    };
    // The ingester's own count of readings acknowledged by Kafka: the time ingest
    // took, apart from how fast the broker serves them to a consumer.
    let sampler = ingester.map(|addr| {
        let start = counted(addr);
        let clock = clock.clone();
        tokio::spawn(async move {
            loop {
                let now = clock.us();
                if counted(addr) - start >= n as f64 {
                    return now;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    });
    publish(mosq.port(), n, batch, base, clock, sent).await;
    let mut o = consumer.await.unwrap();
    if let Some(t) = sampler {
        let done_us = t.await.unwrap();
        o.acked_s = Some(done_us.saturating_sub(o.first_us) as f64 / 1e6);
    }
    eprintln!(
        "{name}: {} readings in {:.1} s (acknowledged by Kafka after {:?} s)",
        o.readings, o.seconds, o.acked_s
    );
    o
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Some(i) = args.iter().position(|a| a == "--raw-forwarder") {
        let port: u16 = args[i + 1].parse().unwrap();
        rt.block_on(raw_forwarder(
            port,
            args[i + 2].clone(),
            args[i + 3].clone(),
        ));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let n: usize = std::env::var("AQ_BENCH_READINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let batch: usize = std::env::var("AQ_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    rt.block_on(run(n, batch));
}

async fn run(n: usize, batch: usize) {
    let dir = tempfile::tempdir().unwrap();
    write_registry(dir.path());
    let tansu = Tansu::start();
    let kafka = tansu.brokers();
    let mosq = Mosquitto::start("");
    for (t, p) in [
        ("bench.produce", 3),
        ("bench.raw.v1", 3),
        ("bench.raw.batch.v1", 3),
    ] {
        tansu.create_topic(t, p);
    }

    let produce_rate = broker_produce_rate(&kafka, "bench.produce", 200_000, 230).await;
    eprintln!("broker produce rate: {produce_rate:.0} records/s");
    let consume_rate = broker_consume_rate(&kafka, "bench.produce", 200_000).await;
    eprintln!("broker consume rate: {consume_rate:.0} records/s");

    // Raw path: a separate forwarder process, like kcat would be.
    let exe = std::env::current_exe().unwrap();
    let mut results = Vec::new();
    let mut idx = 0;
    for (label, b, raw_topic) in [
        ("one reading per message", 1usize, "bench.raw.v1"),
        ("batches", batch, "bench.raw.batch.v1"),
    ] {
        let fwd = ChildGuard(Some(
            Command::new(&exe)
                .args([
                    "--raw-forwarder",
                    &mosq.port().to_string(),
                    &kafka,
                    raw_topic,
                ])
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        ));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let raw = scenario(
            &format!("raw {label}"),
            None,
            &mosq,
            &kafka,
            raw_topic,
            n,
            b,
            true,
            base_of(idx, n),
        )
        .await;
        idx += 1;
        drop(fwd);
        let ing = start_ingester(dir.path(), &mosq.url(), &kafka);
        let ours = scenario(
            &format!("aqstream {label}"),
            Some(ing.http),
            &mosq,
            &kafka,
            topics::READINGS,
            n,
            b,
            false,
            base_of(idx, n),
        )
        .await;
        idx += 1;
        let rss = rss_kib(ing.pid());
        drop(ing);
        results.push((label, b, raw, ours, rss));
    }

    // Memory while Kafka is down: the window bounds what the ingester holds.
    let mut tansu = tansu;
    let ing = start_ingester(dir.path(), &mosq.url(), &kafka);
    let pid = ing.pid();
    let before = rss_kib(pid);
    let c = consumer_at_end(&kafka, topics::READINGS).await;
    tansu.kill();
    let down_n = (n / 5).max(10_000);
    let base = base_of(idx, n);
    let clock = Arc::new(Clock(Instant::now()));
    let sent: Arc<Vec<AtomicU64>> =
        Arc::new((0..down_n).map(|_| AtomicU64::new(u64::MAX)).collect());
    let pubs = tokio::spawn(publish(
        mosq.port(),
        down_n,
        1,
        base,
        clock.clone(),
        sent.clone(),
    ));
    let mut peak = before;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        peak = peak.max(rss_kib(pid));
    }
    let held = ing
        .metric("aq_ingest_in_flight_messages")
        .unwrap_or(f64::NAN);
    tansu.restart();
    pubs.await.unwrap();
    let after = consume(c, down_n, base, clock, sent, false).await;
    sigterm(pid);

    println!(
        "\n## Results ({n} readings, batches of {batch}; broker: Tansu 0.6.0 SQLite; 2 vCPU shared)\n"
    );
    println!(
        "Broker's own produce rate (one rdkafka producer, 230-byte records, acks=all, lz4): **{produce_rate:.0} records/s**; consume rate (one consumer, the same records): **{consume_rate:.0} records/s**\n"
    );
    println!(
        "| path | readings | time until consumed | readings/s consumed | acknowledged by Kafka (ingester count) | p50 latency | p99 latency | max | vs raw |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (label, b, raw, ours, _) in &results {
        row(&format!("raw forwarder, {label} ({b})"), raw, None);
        row(&format!("aqstream ingest, {label} ({b})"), ours, Some(raw));
    }
    for (label, _, _, _, rss) in &results {
        println!("\nIngester RSS after the {label} run: {} MiB", rss / 1024);
    }
    println!(
        "\nKafka down for 20 s while {down_n} readings were published: ingester RSS {} MiB before, peak {} MiB while down, {held} messages held (window 1000); after the restart all {} readings arrived (p99 {:.0} ms, max {:.1} s).",
        before / 1024,
        peak / 1024,
        after.readings,
        after.p99_ms,
        after.max_ms / 1000.0
    );
}
