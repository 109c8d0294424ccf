//! Live publishing against a real Mosquitto (started here on a free port) and a plain
//! TCP receiver.

use aqstream_core::hj212::{Hj212Codec, UnitTable, lines};
use aqstream_core::json::{DecodeMode, decode_one};
use aqstream_runtime::Shutdown;
use aqstream_sim::publish::{Pace, WireFormat, publish_mqtt, send_hj212_tcp};
use aqstream_sim::{Simulation, preset};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Kills the broker when the test ends, however it ends.
struct Broker(Child);

impl Drop for Broker {
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

fn mosquitto(dir: &std::path::Path) -> (Broker, u16) {
    let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("mosquitto is not installed: run scripts/install-deps");
    let port = free_port();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let child = Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let broker = Broker(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (broker, port);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("mosquitto did not start on port {port}");
}

fn small_run() -> Simulation {
    let mut sc = preset("steady", 3).unwrap();
    sc.duration_min = 3;
    sc.city.width_m = 1200.0;
    sc.city.height_m = 1200.0;
    Simulation::new(&sc).unwrap()
}

/// Subscribes to `aq/v1/#` and collects `(topic, payload)` until `n` arrived or 20 s passed.
async fn collect(
    port: u16,
    ready: tokio::sync::oneshot::Sender<()>,
    n: usize,
) -> Vec<(String, Vec<u8>)> {
    let (client, mut events) =
        AsyncClient::new(MqttOptions::new("test-sub", "127.0.0.1", port), 1024);
    client.subscribe("aq/v1/#", QoS::AtLeastOnce).await.unwrap();
    let mut ready = Some(ready);
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while got.len() < n {
        let ev = tokio::time::timeout_at(deadline, events.poll()).await;
        match ev {
            Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
            }
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                got.push((p.topic.clone(), p.payload.to_vec()))
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("subscriber: {e}"),
            Err(_) => break,
        }
    }
    got
}

/// One broker at a time: two tests picking the same free port would share a broker.
static BROKER_TESTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn publish_and_collect(format: WireFormat) -> (u64, Vec<(String, Vec<u8>)>) {
    let _one_at_a_time = BROKER_TESTS.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (_broker, port) = mosquitto(dir.path());
    let expected = {
        let mut sim = small_run();
        let mut n = 0;
        while let Some(b) = sim.next_minute() {
            n += b.len();
        }
        n
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sub = tokio::spawn(collect(port, tx, expected));
    rx.await.unwrap();
    let stats = publish_mqtt(
        small_run(),
        &format!("mqtt://127.0.0.1:{port}"),
        format,
        Pace::speed(0.0),
        Shutdown::new(),
    )
    .await
    .unwrap();
    assert_eq!(stats.sent as usize, expected);
    assert_eq!(stats.acked, stats.sent, "QoS 1: every message acknowledged");
    (stats.sent, sub.await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_json_readings_on_each_sensors_topic() {
    let (sent, got) = publish_and_collect(WireFormat::Json).await;
    assert_eq!(got.len() as u64, sent);
    let reg = small_run().registry();
    for (topic, payload) in &got {
        let r = decode_one(payload, DecodeMode::Gateway).unwrap();
        let info = reg.get(&r.sensor_id).unwrap();
        assert_eq!(topic, &format!("aq/v1/{}/{}", info.gateway_id, r.sensor_id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_hj212_frames_on_the_gateway_topic() {
    let (sent, got) = publish_and_collect(WireFormat::Hj212).await;
    assert_eq!(got.len() as u64, sent);
    let codec = Hj212Codec::new(UnitTable::default());
    for (topic, payload) in &got {
        assert!(topic.ends_with("/hj212"), "{topic}");
        let r = codec
            .decode(payload.strip_suffix(b"\r\n").unwrap())
            .unwrap();
        assert_eq!(r.period_s, 60);
    }
}

#[tokio::test]
async fn sends_hj212_frames_over_tcp() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let recv = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        buf
    });
    // Paced at 600× real time: three simulated minutes take well under a second.
    let stats = send_hj212_tcp(small_run(), &addr, Pace::speed(600.0), Shutdown::new())
        .await
        .unwrap();
    let buf = recv.await.unwrap();
    let codec = Hj212Codec::new(UnitTable::default());
    let frames: Vec<_> = lines(&buf).map(|(_, l)| codec.decode(l).unwrap()).collect();
    assert_eq!(frames.len() as u64, stats.sent);
    assert!(stats.sent > 20);
}
