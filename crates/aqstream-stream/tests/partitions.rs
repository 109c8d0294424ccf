//! The worker over a partitioned log that already holds hours of readings (a catch-up
//! burst, as after the demo's backfill or an outage of the worker), across midnight
//! UTC: every sensor-minute, 5-minute and hour of the readings has its sensor
//! aggregate in the history.

mod common;

use aqstream_connect::log::topics;
use aqstream_core::json::{EncodeStyle, encode};
use aqstream_core::time::format_rfc3339;
use aqstream_runtime::{MetricsRegistry, Shutdown};
use aqstream_sim::{Simulation, preset};
use aqstream_stream::StreamConfig;
use aqstream_stream::memlog::MemLog;
use aqstream_stream::metrics::StreamMetrics;
use aqstream_stream::worker::{InProcessCity, Shared, WorkerOptions, run_stage1};
use common::*;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const PARTITIONS: i32 = 3;
/// Minutes simulated, from two hours before midnight.
const MINUTES: u32 = 210;
const START: i64 = T0 - 2 * HOUR;

/// A reading of the demo city: sensor, event time, canonical JSON.
struct Line {
    sensor: String,
    ts: i64,
    json: String,
}

/// The demo city: its registry and its readings in arrival order (canonical JSON, as
/// the ingest writes them to the log).
fn demo_city() -> (Arc<aqstream_core::SensorRegistry>, Vec<Line>) {
    let mut sc = preset("demo", 7).unwrap();
    sc.start = format_rfc3339(START);
    sc.duration_min = MINUTES;
    let mut sim = Simulation::new(&sc).unwrap();
    let registry = Arc::new(sim.registry());
    let mut arrivals = Vec::new();
    while let Some(minute) = sim.next_minute() {
        arrivals.extend(minute);
    }
    arrivals.sort_by_key(|a| (a.arrive_at, a.seq));
    let lines = arrivals
        .into_iter()
        .map(|a| Line {
            sensor: a.reading.sensor_id.clone(),
            ts: a.reading.ts,
            json: encode(&a.reading, EncodeStyle::Canonical),
        })
        .collect();
    (registry, lines)
}

/// (sensor, window, window start).
type Win = (String, &'static str, i64);

const WINDOWS: [(&str, i64); 3] = [("1m", MIN), ("5m", 5 * MIN), ("1h", HOUR)];

/// The windows the readings fall in (one-minute readings: the minute before `ts`)
/// that end by `until`.
fn expected(lines: &[Line], until: i64) -> BTreeSet<Win> {
    let mut out = BTreeSet::new();
    for l in lines {
        let minute = (l.ts - MIN).div_euclid(MIN) * MIN;
        for (name, len) in WINDOWS {
            let start = minute.div_euclid(len) * len;
            if start + len <= until {
                out.insert((l.sensor.clone(), name, start));
            }
        }
    }
    out
}

/// The sensor windows of the history that end by `until`.
fn written(history: PathBuf, until: i64) -> BTreeSet<Win> {
    std::thread::spawn(move || {
        latest(&history)
            .into_keys()
            .filter_map(|(scope, key, window, start)| {
                let (name, len) = WINDOWS.into_iter().find(|(n, _)| *n == window)?;
                (scope == "sensor" && start + len <= until).then_some((key, name, start))
            })
            .collect()
    })
    .join()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_burst_across_midnight_keeps_every_sensor_aggregate() {
    let (registry, lines) = demo_city();
    // The whole burst is in the log before the worker starts, keyed by sensor.
    let log = MemLog::new();
    log.create(topics::READINGS, PARTITIONS);
    log.create(topics::AGGREGATES, 1);
    log.create(topics::ALERTS, 1);
    let mut per_partition = [0usize; PARTITIONS as usize];
    for l in &lines {
        let p = MemLog::partition_for(l.sensor.as_bytes(), PARTITIONS);
        log.append(topics::READINGS, p, l.sensor.as_bytes(), l.json.as_bytes());
        per_partition[p as usize] += 1;
    }
    assert!(per_partition.iter().all(|n| *n > 1000), "{per_partition:?}");
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::new(
        WorkerOptions {
            config: StreamConfig {
                // One epoch per partition (written at shutdown), spanning midnight.
                checkpoint_interval_s: 3600,
                idle_timeout_s: 3600,
                poll_max_records: 1000,
                ..StreamConfig::default()
            },
            history_dir: dir.path().join("history"),
            state_dir: dir.path().join("state"),
            token: "t".into(),
            publish_topics: false,
        },
        Arc::clone(&registry),
        Arc::new(log.clone()),
        Arc::new(StreamMetrics::new(&MetricsRegistry::new())),
    )
    .unwrap();
    let metrics = Arc::clone(&shared.metrics);
    let source = Box::new(log.source(topics::READINGS, "g"));
    let city = InProcessCity::load(&shared, PARTITIONS as usize)
        .await
        .unwrap();
    let stop = Shutdown::new();
    let task = tokio::spawn(run_stage1(shared, source, Some(city), stop.clone()));
    // Every record was read once readings + duplicates cover the log and stay still.
    let seen = || metrics.readings.get() + metrics.duplicates.get() + metrics.malformed.get();
    let total = lines.len() as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    let mut last = (0, 0);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = seen();
        last = if now == last.0 {
            (now, last.1 + 1)
        } else {
            (now, 0)
        };
        if now >= total * 99 / 100 && last.1 >= 4 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker did not catch up: {now} of {total} records"
        );
    }
    stop.trigger();
    task.await.unwrap().unwrap();
    // The worker does not flush at shutdown: compare what ended well before the end.
    let until = START + i64::from(MINUTES - 30) * MIN;
    assert!(until >= T0 + HOUR, "the run must cross midnight");
    let want = expected(&lines, until);
    let got = written(dir.path().join("history"), until);
    let sensors = |s: &BTreeSet<Win>| s.iter().map(|k| k.0.clone()).collect::<BTreeSet<_>>();
    assert!(sensors(&want).len() > 100, "{}", sensors(&want).len());
    let missing: Vec<&Win> = want.difference(&got).collect();
    let missing_sensors: BTreeSet<&str> = missing.iter().map(|k| k.0.as_str()).collect();
    assert!(
        missing.is_empty(),
        "{} of {} sensor windows missing, of {} sensors; the history has windows of {} \
         sensors; e.g. {:?}",
        missing.len(),
        want.len(),
        missing_sensors.len(),
        sensors(&got).len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    let extra: Vec<&Win> = got.difference(&want).collect();
    assert!(
        extra.is_empty(),
        "{:?}",
        extra.iter().take(5).collect::<Vec<_>>()
    );
}
