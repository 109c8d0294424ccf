//! `aqstream worker` against a real Kafka-protocol broker (Tansu, started here).
//!
//! * Killed with SIGKILL at pseudo-random points while it works through a backlog on
//!   four partitions, and restarted each time, it ends with every reading exactly once
//!   in the history and every aggregate row — sensor and district, every window and
//!   revision — equal to what `aqstream replay` computes from the same readings: none
//!   missing, none doubled, none extra. Then it stops cleanly on SIGTERM.
//! * Two workers in one group split the partitions; one is killed mid-stream and the
//!   survivor takes its partitions (and stage 2, which follows partition 0) over from
//!   their checkpoints, again ending equal to the reference.
//!
//! * A worker that owned every partition is killed and a new one starts at once: the
//!   new one ends up with every partition and the history completes. On Tansu this
//!   is the case where the broker can hand the whole assignment to the dead leader
//!   for good; the worker's group watchdog notices the unread partitions and rejoins.
//! * On a quiet stream (all read and committed), a member that holds partitions and
//!   works none of them is noticed by the partition leases it does not renew: the
//!   worker rejoins the group (the rescue for a broker that leaves partitions with a
//!   member it dropped), and its rejoins double nothing. With the watchdog off
//!   (`AQ_TEST_WORKER_STALL_S=0`) this one fails.
//!
//! Size: 120 sensors × 12 h of minutes = 86 400 readings (plus met stations). The
//! worker is the debug build here and shares two cores with the compiler in CI; at
//! this size each scenario takes under a minute. `AQ_TEST_WORKER_MINUTES` sets the
//! length of the stream (default 720; 8 334 minutes make the 1 M-reading run,
//! and the timeouts grow with it). `AQ_TEST_WORKER_LOG` sets the
//! workers' log filter and `AQ_TEST_WORKER_CONFIG` appends TOML to their
//! configuration (e.g. `[kafka.properties]` with librdkafka's `debug`), for diagnosis;
//! `AQ_TEST_WORKER_STALL_S` sets their `group_stall_timeout_s` (default 10, 0 turns the
//! watchdog off) and `AQ_TEST_TANSU_LOG` keeps the broker's log.

use aqstream_connect::kafka::{KafkaConfig, KafkaSink, KafkaSource};
use aqstream_connect::log::{LogSink, LogSource, OutRecord, topics};
use aqstream_connect::testkit::{ChildGuard, Tansu, free_port, http_get, metric_value, sigterm};
use aqstream_core::time::format_rfc3339;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SENSORS: usize = 120;
/// Minutes of readings in the stream (`AQ_TEST_WORKER_MINUTES`, default 720).
fn minutes() -> i64 {
    static M: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *M.get_or_init(|| {
        std::env::var("AQ_TEST_WORKER_MINUTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&m| m > 0)
            .unwrap_or(720)
    })
}

/// A timeout of `secs` at the default size, longer for a longer stream.
fn scaled(secs: u64) -> Duration {
    Duration::from_secs(secs * (minutes() as u64).div_ceil(720))
}
const DISTRICTS: usize = 4;
const PARTITIONS: i32 = 4;
/// 2026-11-22T00:00:00Z.
const T0: i64 = 1_795_305_600_000;
const MIN: i64 = 60_000;

fn aqstream() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aqstream"))
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn registry() -> String {
    let mut s = String::from("sensor_id,gateway_id,lat,lon,district,kind\n");
    for i in 0..SENSORS {
        let d = i % DISTRICTS;
        let _ = writeln!(
            s,
            "S{i:04},gw-{d},{:.5},{:.5},D{d},lowcost",
            39.90 + (i / 12) as f64 * 0.003,
            116.60 + (i % 12) as f64 * 0.004
        );
    }
    for d in 0..DISTRICTS {
        let _ = writeln!(s, "MET{d},gw-{d},39.91,116.61,D{d},met");
    }
    s
}

/// Readings (key, JSON) in production order: minute by minute, sensors in a shuffled
/// order, a few sent twice; then one reading per sensor 30 h after the end, which
/// pushes the watermark past every window of the run.
fn readings(seed: u64) -> Vec<(String, String)> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let push = |out: &mut Vec<(String, String)>, id: &str, ts: i64, v: f64| {
        out.push((
            id.to_string(),
            format!(
                "{{\"sensor_id\":\"{id}\",\"ts\":\"{}\",\"pm25\":{v},\"pm10\":{},\"no2\":{}}}",
                format_rfc3339(ts),
                (v * 1.7 * 10.0).round() / 10.0,
                (v * 0.4 * 10.0).round() / 10.0
            ),
        ));
    };
    for m in 1..=minutes() {
        let ts = T0 + m * MIN;
        let mut order: Vec<usize> = (0..SENSORS).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for i in order {
            let base = 40.0 + 25.0 * ((m as f64) / 53.0 + i as f64 * 0.37).sin();
            let v = ((base + rng.below(40) as f64 / 10.0) * 10.0).round() / 10.0;
            push(&mut out, &format!("S{i:04}"), ts, v);
            if rng.below(100) == 0 {
                push(&mut out, &format!("S{i:04}"), ts, v);
            }
        }
        for d in 0..DISTRICTS {
            let id = format!("MET{d}");
            out.push((
                id.clone(),
                format!(
                    "{{\"sensor_id\":\"{id}\",\"ts\":\"{}\",\"wind_speed\":{},\"wind_dir\":{}}}",
                    format_rfc3339(ts),
                    1.5 + (m % 5) as f64 * 0.2,
                    250 + d * 10
                ),
            ));
        }
    }
    let end = T0 + (minutes() + 30 * 60) * MIN;
    for i in 0..SENSORS {
        push(&mut out, &format!("S{i:04}"), end, 10.0);
    }
    out
}

struct World {
    dir: tempfile::TempDir,
    tansu: Tansu,
    readings: Vec<(String, String)>,
}

impl World {
    fn new(seed: u64) -> World {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sensors.csv"), registry()).unwrap();
        std::fs::write(
            dir.path().join("worker.toml"),
            format!(
                "[stream]\ncheckpoint_interval_s = 1\nidle_timeout_s = 600\ngroup_stall_timeout_s = {}\n{}",
                std::env::var("AQ_TEST_WORKER_STALL_S").unwrap_or_else(|_| "10".into()),
                std::env::var("AQ_TEST_WORKER_CONFIG").unwrap_or_default()
            ),
        )
        .unwrap();
        let readings = readings(seed);
        let mut file = String::new();
        for (_, v) in &readings {
            file.push_str(v);
            file.push('\n');
        }
        std::fs::write(dir.path().join("readings.jsonl"), file).unwrap();
        let tansu = Tansu::start();
        tansu.create_topic(topics::READINGS, PARTITIONS);
        World {
            dir,
            tansu,
            readings,
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Produces readings `range` to `aq.readings.v1`, keyed by sensor.
    fn produce(&self, range: std::ops::Range<usize>) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let sink = KafkaSink::new(&KafkaConfig::new(self.tansu.brokers())).unwrap();
            for chunk in self.readings[range].chunks(2000) {
                let sends = chunk.iter().map(|(k, v)| {
                    sink.send(OutRecord {
                        topic: topics::READINGS,
                        key: k.as_bytes(),
                        payload: v.as_bytes(),
                        headers: &[],
                    })
                });
                for r in futures::future::join_all(sends).await {
                    r.unwrap();
                }
            }
            sink.flush(Duration::from_secs(30)).await.unwrap();
        });
    }

    fn worker(&self, id: &str, http: SocketAddr) -> ChildGuard {
        let child = aqstream()
            .args([
                "worker",
                "--worker-id",
                id,
                "--kafka",
                &self.tansu.brokers(),
            ])
            .arg("--sensors")
            .arg(self.path("sensors.csv"))
            .arg("--config")
            .arg(self.path("worker.toml"))
            .arg("--data-dir")
            .arg(self.path("data"))
            .arg("--http")
            .arg(http.to_string())
            .env(
                "AQSTREAM_LOG",
                std::env::var("AQ_TEST_WORKER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the worker");
        ChildGuard(Some(child))
    }

    /// `aqstream replay` over the same readings, as the reference.
    fn reference(&self) -> Rows {
        let out = aqstream()
            .arg("replay")
            .arg("--sensors")
            .arg(self.path("sensors.csv"))
            .arg("--readings")
            .arg(self.path("readings.jsonl"))
            .arg("--alerts-out")
            .arg(self.path("ref-alerts.jsonl"))
            .arg("--history-dir")
            .arg(self.path("ref"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        rows(&self.path("ref"))
    }
}

/// The aggregates of windows that start before the trailing readings, by
/// (scope, key, window, start, revision) → the statistics, as text; and the number of
/// readings.
#[derive(Debug, PartialEq)]
struct Rows {
    readings: u64,
    aggs: BTreeMap<(String, String, String, i64, i32), String>,
    duplicates: u64,
}

fn csv(history: &Path, sql: &str) -> String {
    let out = aqstream()
        .args(["sql", "--format", "csv", "--history-dir"])
        .arg(history)
        .arg(sql)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn rows(history: &Path) -> Rows {
    if !history.exists() {
        return Rows {
            readings: 0,
            aggs: BTreeMap::new(),
            duplicates: 0,
        };
    }
    let n = csv(history, "SELECT count(*) FROM readings");
    let readings = n.lines().nth(1).unwrap_or("0").trim().parse().unwrap_or(0);
    let end = T0 + (minutes() + 1) * MIN;
    let mut aggs = BTreeMap::new();
    let mut duplicates = 0;
    // One query per window length and 700 minutes of window starts: the CLI caps a
    // result at 100 000 rows (the default stream is one span).
    let spans = (minutes() as u64).div_ceil(700) as i64;
    let bounds = |i: i64| match i {
        0 => T0 - 24 * 60 * MIN,
        i if i == spans => end,
        i => T0 + i * 700 * MIN,
    };
    for (w, i) in ["1m", "5m", "1h", "24h"]
        .into_iter()
        .flat_map(|w| (0..spans).map(move |i| (w, i)))
    {
        let (from, to) = (bounds(i), bounds(i + 1));
        let text = csv(
            history,
            &format!(
                "SELECT scope, key, \"window\", CAST(window_start AS BIGINT) AS ws, revision, \
                 pm25_mean, pm25_min, pm25_max, pm25_count, valid_fraction, pm10_mean, no2_mean \
                 FROM aggregates WHERE \"window\" = '{w}' \
                 AND CAST(window_start AS BIGINT) >= {from} AND CAST(window_start AS BIGINT) < {to}"
            ),
        );
        for l in text.lines().skip(1) {
            let f: Vec<&str> = l.split(',').collect();
            let key = (
                f[0].to_string(),
                f[1].to_string(),
                f[2].to_string(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            );
            if aggs.insert(key, f[5..].join(",")).is_some() {
                duplicates += 1;
            }
        }
    }
    Rows {
        readings,
        aggs,
        duplicates,
    }
}

/// Waits until the worker's history has every reading and every aggregate row the
/// reference has.
fn wait_complete(history: &Path, want: &Rows, timeout: Duration) -> Rows {
    let deadline = Instant::now() + timeout;
    loop {
        let got = rows(history);
        if got.readings >= want.readings && want.aggs.keys().all(|k| got.aggs.contains_key(k)) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "incomplete after {timeout:?}: {} of {} readings, {} of {} rows",
            got.readings,
            want.readings,
            got.aggs.len(),
            want.aggs.len()
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// The history of the worker equals the reference: every reading once, every aggregate
/// row (sensor and district, every window and revision) present with the same values,
/// none doubled, none extra.
fn assert_same(got: &Rows, want: &Rows) {
    assert_eq!(got.duplicates, 0, "doubled aggregate rows");
    assert_eq!(got.readings, want.readings, "readings in the history");
    // Up to five keys of `a` that `b` lacks.
    let only_in = |a: &Rows, b: &Rows| -> Vec<_> {
        a.aggs
            .keys()
            .filter(|k| !b.aggs.contains_key(*k))
            .take(5)
            .cloned()
            .collect()
    };
    let (missing, extra) = (only_in(want, got), only_in(got, want));
    let shown: Vec<String> = extra
        .iter()
        .map(|k| {
            let base = (k.0.clone(), k.1.clone(), k.2.clone(), k.3, 0);
            format!(
                "{k:?}: {} (revision 0: {:?}, reference {:?})",
                got.aggs[k],
                got.aggs.get(&base),
                want.aggs.get(&base)
            )
        })
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} rows against {}; missing e.g. {missing:?}; extra e.g. {shown:#?}",
        got.aggs.len(),
        want.aggs.len()
    );
    for (k, v) in &want.aggs {
        assert_eq!(&got.aggs[k], v, "{k:?}");
    }
}

#[test]
fn sigkill_at_random_points_loses_and_doubles_nothing() {
    let w = World::new(11);
    let want = w.reference();
    let distinct = (minutes() as u64) * (SENSORS as u64 + DISTRICTS as u64) + SENSORS as u64;
    assert_eq!(want.readings, distinct);
    assert!(want.aggs.len() > 1000 && want.duplicates == 0);
    w.produce(0..w.readings.len());
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut rng = Rng(7);
    let mut kills = 0;
    let started = Instant::now();
    while kills < 4 {
        let mut worker = w.worker("w1", http);
        // Kills spread over the run: a longer stream gets longer lives.
        let life = 4000 * scaled(1).as_secs();
        std::thread::sleep(Duration::from_millis(1500 + rng.below(life)));
        worker.kill();
        kills += 1;
        if rows(&w.path("data/history")).readings >= want.readings {
            break;
        }
    }
    let mut worker = w.worker("w1", http);
    let got = wait_complete(&w.path("data/history"), &want, scaled(300));
    let metrics = http_get(http, "/metrics").unwrap_or_default();
    sigterm(worker.id().unwrap());
    let t = Instant::now();
    while worker.0.as_mut().unwrap().try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(30), "no graceful stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        started.elapsed() < scaled(600),
        "{kills} kills, {} readings took {:?}",
        want.readings,
        started.elapsed()
    );
    assert_same(&got, &want);
    assert_same(&rows(&w.path("data/history")), &want);
    assert!(
        metric_value(&metrics, "aq_worker_watermark_lag_seconds").is_some(),
        "{metrics}"
    );
}

/// `aq_worker_partitions` of the worker serving metrics on `http` (None while down).
fn partitions_of(http: SocketAddr) -> Option<f64> {
    metric_value(&http_get(http, "/metrics")?, "aq_worker_partitions")
}

/// Waits until `cond` holds, polling every 200 ms.
fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn two_workers_split_the_partitions_and_the_survivor_takes_over() {
    let w = World::new(23);
    let want = w.reference();
    let half = w.readings.len() / 2;
    w.produce(0..half);
    let (h1, h2) = (
        SocketAddr::from(([127, 0, 0, 1], free_port())),
        SocketAddr::from(([127, 0, 0, 1], free_port())),
    );
    let w1 = w.worker("w1", h1);
    let mut w2 = w.worker("w2", h2);
    // One group: the partitions are split between the two, none owned twice. (On
    // Tansu the group may keep rebalancing for a while; revoked partitions hand their
    // work over through checkpoints, so the run progresses anyway.)
    wait_for(
        "both workers own partitions",
        Duration::from_secs(90),
        || match (partitions_of(h1), partitions_of(h2)) {
            (Some(a), Some(b)) => a >= 1.0 && b >= 1.0 && a + b == f64::from(PARTITIONS),
            _ => false,
        },
    );
    // Both work (and checkpoint) for a while, then one dies without a goodbye.
    wait_for("progress in the history", scaled(120), || {
        rows(&w.path("data/history")).readings > 0
    });
    std::thread::sleep(Duration::from_secs(2));
    w2.kill();
    // The survivor is given every partition once the group notices, resumes the dead
    // worker's partitions from their checkpoints, and reads the rest of the stream.
    w.produce(half..w.readings.len());
    wait_for(
        "the survivor owns every partition",
        Duration::from_secs(120),
        || partitions_of(h1) == Some(f64::from(PARTITIONS)),
    );
    let got = wait_complete(&w.path("data/history"), &want, scaled(300));
    sigterm(w1.id().unwrap());
    assert_same(&got, &want);
}

#[test]
fn a_dead_leaders_partitions_reach_the_next_worker() {
    let w = World::new(31);
    let want = w.reference();
    w.produce(0..w.readings.len());
    let (h1, h2) = (
        SocketAddr::from(([127, 0, 0, 1], free_port())),
        SocketAddr::from(([127, 0, 0, 1], free_port())),
    );
    // The first worker leads the group with every partition, works for a moment …
    let spawned = Instant::now();
    let mut w1 = w.worker("w1", h1);
    wait_for(
        "the first worker owns every partition",
        Duration::from_secs(90),
        || partitions_of(h1) == Some(f64::from(PARTITIONS)),
    );
    // From start to joining the group (a lone member is assigned at once).
    let startup = spawned.elapsed();
    std::thread::sleep(Duration::from_millis(1500));
    // … and dies without a goodbye. Its successor joins about 3 s later: with the
    // dead leader's last heartbeat up to 3 s (one heartbeat interval) before the kill
    // and a 6 s session, the leader's session then expires between the new member's
    // JoinGroup and its SyncGroup, which Tansu (0.6) pauses 3 s apart; Tansu then
    // completes the generation with the follower's empty assignment and the dead
    // leader keeps every partition.
    w1.kill();
    std::thread::sleep(Duration::from_secs(3).saturating_sub(startup));
    let w2 = w.worker("w2", h2);
    wait_for(
        "the next worker owns every partition",
        Duration::from_secs(120),
        || partitions_of(h2) == Some(f64::from(PARTITIONS)),
    );
    let got = wait_complete(&w.path("data/history"), &want, scaled(300));
    // Whether the watchdog had to act depends on the timing (it usually does); its
    // counter is exported either way.
    let metrics = http_get(h2, "/metrics").unwrap_or_default();
    assert!(
        metric_value(&metrics, "aq_worker_group_rejoins_total").is_some(),
        "{metrics}"
    );
    sigterm(w2.id().unwrap());
    assert_same(&got, &want);
}

/// A member of the workers' group that takes partitions and works none of them (a
/// worker hung in its loop while its Kafka client goes on heartbeating) until `stop`
/// is set, then leaves; `owned` says how many partitions it holds.
fn idle_member(
    brokers: String,
    stop: Arc<AtomicBool>,
    owned: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let cfg = KafkaConfig::new(brokers);
            let mut member = KafkaSource::new(&cfg, topics::READINGS, "aqstream-worker")
                .await
                .expect("join the workers' group");
            while !stop.load(Ordering::SeqCst) {
                // Records are dropped and nothing is committed.
                let _ = member.poll(100, Duration::from_millis(200)).await;
                member.take_rebalances();
                owned.store(member.assignment().len(), Ordering::SeqCst);
            }
        });
    })
}

/// `aq_worker_group_rejoins_total` of the worker serving metrics on `http`.
fn rejoins_of(http: SocketAddr) -> Option<f64> {
    metric_value(
        &http_get(http, "/metrics")?,
        "aq_worker_group_rejoins_total",
    )
}

#[test]
fn partitions_held_by_a_member_that_works_none_are_noticed_on_a_quiet_stream() {
    let w = World::new(37);
    let want = w.reference();
    w.produce(0..w.readings.len());
    let h1 = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let w1 = w.worker("w1", h1);
    // The worker alone reads the whole stream and commits it: from then on the stream
    // is quiet, and committed offsets look the same whether a partition's owner works
    // or not.
    let got = wait_complete(&w.path("data/history"), &want, scaled(300));
    assert_same(&got, &want);
    std::thread::sleep(Duration::from_secs(3));
    let before = rejoins_of(h1).expect("the worker's metrics");
    // A member that works nothing joins and is given some of the partitions.
    let (stop, owned) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let member = idle_member(w.tansu.brokers(), Arc::clone(&stop), Arc::clone(&owned));
    wait_for(
        "the idle member holds partitions",
        Duration::from_secs(90),
        || {
            owned.load(Ordering::SeqCst) > 0
                && partitions_of(h1).is_some_and(|n| n < f64::from(PARTITIONS))
        },
    );
    let rebalanced = Instant::now();
    // Nobody renews those partitions' leases any more: after the stall timeout
    // (10 s here) the worker rejoins the group, as it would to rescue partitions a
    // broker left with a member it dropped.
    wait_for(
        "the worker rejoins the group",
        Duration::from_secs(60),
        || rejoins_of(h1).is_some_and(|r| r > before),
    );
    assert!(
        rebalanced.elapsed() >= Duration::from_secs(5),
        "rejoined {:?} after the rebalance, before any lease could be stale",
        rebalanced.elapsed()
    );
    // The member leaves: the worker owns everything again, and the checkpoints of
    // its rejoins doubled nothing.
    stop.store(true, Ordering::SeqCst);
    member.join().unwrap();
    wait_for(
        "the worker owns every partition again",
        Duration::from_secs(120),
        || partitions_of(h1) == Some(f64::from(PARTITIONS)),
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_same(&rows(&w.path("data/history")), &want);
    sigterm(w1.id().unwrap());
}
