//! Event-time and QA behaviour through the whole operator chain: late readings inside
//! and beyond the allowed lateness, a fast clock, duplicates, an idle partition, and
//! the sensor QA problems (stuck, sentinel, out of range, drift) — each excluded from
//! the aggregates and written to the `sensor_health` history.

mod common;

use aqstream_connect::log::topics;
use aqstream_core::registry::SensorRegistry;
use aqstream_runtime::{MetricsRegistry, Shutdown};
use aqstream_stream::StreamConfig;
use aqstream_stream::detect::NoDetector;
use aqstream_stream::memlog::MemLog;
use aqstream_stream::metrics::StreamMetrics;
use aqstream_stream::replay::{ReplayOptions, ReplaySummary, replay};
use aqstream_stream::worker::{InProcessCity, Shared, WorkerOptions, run_stage1};
use common::*;
use datafusion::arrow::array::AsArray;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

fn run(registry: &str, lines: &[String], cfg: StreamConfig, history: &Path) -> ReplaySummary {
    replay(
        Arc::new(SensorRegistry::from_csv(registry).unwrap()),
        Box::new(std::io::Cursor::new(lines.join("\n").into_bytes())),
        &mut Vec::new(),
        Box::new(NoDetector),
        &ReplayOptions {
            history_dir: Some(history.to_path_buf()),
            config: cfg,
            ..ReplayOptions::default()
        },
    )
    .unwrap()
}

/// (sensor, problem, raised?) of the `sensor_health` history.
fn health(history: &Path) -> BTreeSet<(String, String, bool)> {
    let dir = history.join("sensor_health");
    if !dir.exists() {
        return BTreeSet::new();
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_parquet(
            "h",
            dir.to_str().unwrap(),
            datafusion::prelude::ParquetReadOptions::default(),
        )
        .await
        .unwrap();
        let b = ctx
            .sql(
                "SELECT arrow_cast(sensor_id, 'Utf8'), arrow_cast(problem, 'Utf8'), \
                 arrow_cast(state, 'Utf8') FROM h",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let mut out = BTreeSet::new();
        for b in b {
            let (s, p, st) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_string::<i32>(),
                b.column(2).as_string::<i32>(),
            );
            for i in 0..b.num_rows() {
                out.insert((
                    s.value(i).to_string(),
                    p.value(i).to_string(),
                    st.value(i) == "raised",
                ));
            }
        }
        out
    })
}

/// `n` sensors over `districts`, minutes `1..=minutes`, in order, value 40 + i.
fn steady(n: usize, minutes: i64) -> Vec<(i64, usize, String)> {
    let mut v = Vec::new();
    for m in 1..=minutes {
        for i in 0..n {
            // Varies by minute so that no sensor is stuck.
            let x = 40.0 + i as f64 + (m % 5) as f64 * 0.1;
            v.push((
                m,
                i,
                line(&format!("S{i:03}"), T0 + m * MIN, Some(x), Some(x * 1.5)),
            ));
        }
    }
    v
}

fn key(scope: &str, k: &str, w: &str, start: i64) -> (String, String, String, i64) {
    (scope.into(), k.into(), w.into(), start)
}

#[test]
fn late_readings_inside_and_beyond_the_lateness_correct_the_aggregates() {
    let reg = registry_csv(10, 2);
    let mut lines: Vec<String> = steady(10, 40)
        .into_iter()
        // S000 misses minute 5 and S001 minute 36: both arrive late.
        .filter(|(m, i, _)| !((*m == 5 && *i == 0) || (*m == 36 && *i == 1)))
        .map(|(_, _, l)| l)
        .collect();
    lines.push(line("S001", T0 + 36 * MIN, Some(200.0), Some(300.0)));
    lines.push(line("S000", T0 + 5 * MIN, Some(500.0), Some(600.0)));
    lines.extend(
        steady(10, 45)
            .into_iter()
            .filter(|(m, _, _)| *m > 40)
            .map(|(_, _, l)| l),
    );
    let dir = tempfile::tempdir().unwrap();
    let s = run(&reg, &lines, StreamConfig::default(), dir.path());
    assert_eq!(s.late, 1, "one reading beyond the 5-minute lateness: {s:?}");
    let all = aggregates(dir.path());
    // Beyond the lateness: the sensor's minute and the district's windows get a
    // corrected revision with the late value.
    let k = key("sensor", "S000", "1m", T0 + 4 * MIN);
    let rows = &all[&k];
    assert_eq!(rows.last().unwrap().mean, Some(500.0), "{rows:?}");
    let d = key("district", "D0", "1m", T0 + 4 * MIN);
    let rows = &all[&d];
    assert!(rows.len() >= 2, "an updated district row: {rows:?}");
    assert_eq!(rows[0].count, 4);
    assert_eq!(rows.last().unwrap().count, 5);
    let h = &all[&key("district", "D0", "1h", T0)];
    assert_eq!(h.last().unwrap().max, Some(500.0), "{h:?}");
    // Inside the lateness: the window of minute 36 is corrected too (revision 1).
    let d = &all[&key("district", "D1", "1m", T0 + 35 * MIN)];
    assert_eq!(d.last().unwrap().count, 5, "{d:?}");
    assert_eq!(d.last().unwrap().max, Some(200.0), "{d:?}");
    // The readings are all in the history, once.
    let n = sql(dir.path(), "SELECT count(*) FROM readings");
    let n = n[0]
        .column(0)
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    assert_eq!(n.value(0) as u64, 10 * 45);
}

#[test]
fn a_fast_clock_is_flagged_and_does_not_make_the_others_late() {
    let reg = registry_csv(10, 2);
    let mut lines = Vec::new();
    for (m, i, l) in steady(10, 40) {
        if i == 3 {
            // S003's clock is 15 minutes ahead.
            lines.push(line("S003", T0 + (m + 15) * MIN, Some(90.0), Some(120.0)));
        } else {
            lines.push(l);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let s = run(&reg, &lines, StreamConfig::default(), dir.path());
    assert_eq!(s.late, 0, "nobody is late because of S003: {s:?}");
    let h = health(dir.path());
    assert!(
        h.contains(&("S003".into(), "fast_clock".into(), true)),
        "{h:?}"
    );
    // S003 is left out of its district: D1 (S001, S003, …) counts 4 sensors a minute.
    let all = latest(dir.path());
    let d = &all[&key("district", "D1", "1m", T0 + 20 * MIN)];
    assert_eq!(d.count, 4, "{d:?}");
}

#[test]
fn duplicates_count_once() {
    let reg = registry_csv(6, 1);
    let mut lines = Vec::new();
    for (_, _, l) in steady(6, 10) {
        lines.push(l.clone());
        lines.push(l);
    }
    let dir = tempfile::tempdir().unwrap();
    let s = run(&reg, &lines, StreamConfig::default(), dir.path());
    assert_eq!(s.duplicates, 60, "{s:?}");
    assert_eq!(s.accepted, 60, "{s:?}");
    let all = latest(dir.path());
    assert_eq!(all[&key("sensor", "S002", "5m", T0)].count, 5);
    assert_eq!(all[&key("district", "D0", "1m", T0 + 2 * MIN)].count, 6);
}

#[test]
fn qa_problems_are_excluded_flagged_and_in_the_history() {
    let reg = registry_csv(10, 1);
    let mut lines = Vec::new();
    for (m, i, l) in steady(10, 30) {
        let ts = T0 + m * MIN;
        lines.push(match i {
            // S001: stuck at one value (stuck after 10 min in this test).
            1 => line("S001", ts, Some(33.3), Some(50.0)),
            // S002: a 999 sentinel from minute 10 on.
            2 if m >= 10 => line("S002", ts, Some(999.0), Some(999.0)),
            // S004: PM2.5 far above PM10 (physically impossible) from minute 10 on.
            4 if m >= 10 => line("S004", ts, Some(300.0), Some(100.0)),
            _ => l,
        });
    }
    let cfg = StreamConfig {
        qa: aqstream_stream::QaConfig {
            stuck_after_s: 600,
            ..aqstream_stream::QaConfig::default()
        },
        ..StreamConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    run(&reg, &lines, cfg, dir.path());
    let h = health(dir.path());
    for (s, p) in [
        ("S001", "stuck"),
        ("S002", "sentinel"),
        ("S004", "out_of_range"),
    ] {
        assert!(h.contains(&(s.into(), p.into(), true)), "{s} {p}: {h:?}");
    }
    // Minute 20: S002 and S004 are excluded (their readings are flagged) and S001 is
    // stuck: the district mean is over the 7 others.
    let all = latest(dir.path());
    let d = &all[&key("district", "D0", "1m", T0 + 20 * MIN)];
    let want = [0, 3, 5, 6, 7, 8, 9]
        .iter()
        .map(|i| 40.0 + f64::from(*i) + 0.1)
        .sum::<f64>()
        / 7.0;
    assert_eq!(d.count, 7, "{d:?}");
    assert!(close(d.mean.unwrap(), want), "{d:?} vs {want}");
    // The flagged readings are still in the history.
    let n = sql(
        dir.path(),
        "SELECT count(*) FROM readings WHERE sensor_id = 'S002'",
    );
    let n = n[0]
        .column(0)
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    assert_eq!(n.value(0), 30);
}

#[test]
fn a_drifting_sensor_is_flagged_against_its_neighbours() {
    let reg = registry_csv(10, 1);
    let mut lines = Vec::new();
    let mut rng = Rng(3);
    for m in 1..=6 * 60i64 {
        for i in 0..10 {
            let mut v = 50.0 + 10.0 * ((m as f64) / 45.0).sin() + rng.below(30) as f64 / 10.0;
            if i == 6 && m > 3 * 60 {
                v += 60.0;
            }
            lines.push(line(
                &format!("S{i:03}"),
                T0 + m * MIN,
                Some(v),
                Some(v * 1.5),
            ));
        }
    }
    let cfg = StreamConfig {
        qa: aqstream_stream::QaConfig {
            drift_baseline_h: 2,
            drift_window_h: 1,
            ..aqstream_stream::QaConfig::default()
        },
        ..StreamConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    run(&reg, &lines, cfg, dir.path());
    let h = health(dir.path());
    assert!(h.contains(&("S006".into(), "drift".into(), true)), "{h:?}");
    assert!(
        !h.iter().any(|(s, p, _)| p == "drift" && s != "S006"),
        "{h:?}"
    );
    // Excluded from the district after it was flagged: the last hour counts 9 sensors.
    let all = latest(dir.path());
    let d = &all[&key("district", "D0", "1m", T0 + 5 * 60 * MIN + 30 * MIN)];
    assert_eq!(d.count, 9, "{d:?}");
}

/// The worker over the in-memory log: readings on partition 0 only.
async fn worker_with_idle_partition(idle_timeout_s: u64) -> usize {
    let log = MemLog::new();
    log.create(topics::READINGS, 2);
    log.create(topics::AGGREGATES, 1);
    log.create(topics::ALERTS, 1);
    for (_, i, l) in steady(6, 20) {
        log.append(
            topics::READINGS,
            0,
            format!("S{i:03}").as_bytes(),
            l.as_bytes(),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(SensorRegistry::from_csv(&registry_csv(6, 1)).unwrap());
    let shared = Shared::new(
        WorkerOptions {
            config: StreamConfig {
                idle_timeout_s,
                checkpoint_interval_s: 1,
                ..StreamConfig::default()
            },
            history_dir: dir.path().join("history"),
            state_dir: dir.path().join("state"),
            token: "t".into(),
            publish_topics: true,
        },
        registry,
        Arc::new(log.clone()),
        Arc::new(StreamMetrics::new(&MetricsRegistry::new())),
    )
    .unwrap();
    let source = Box::new(log.source(topics::READINGS, "g"));
    let city = InProcessCity::load(&shared, 2).await.unwrap();
    let stop = Shutdown::new();
    let task = tokio::spawn(run_stage1(shared, source, Some(city), stop.clone()));
    // Partition 0 keeps receiving a minute every 200 ms; partition 1 nothing.
    for m in 21..=40i64 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        for i in 0..6 {
            let l = line(
                &format!("S{i:03}"),
                T0 + m * MIN,
                Some(50.0 + m as f64),
                None,
            );
            log.append(
                topics::READINGS,
                0,
                format!("S{i:03}").as_bytes(),
                l.as_bytes(),
            );
        }
    }
    stop.trigger();
    task.await.unwrap().unwrap();
    let history = dir.path().join("history");
    // The query helper runs its own runtime: on a thread of its own.
    std::thread::spawn(move || {
        latest(&history)
            .keys()
            .filter(|k| k.0 == "district" && k.2 == "1m")
            .count()
    })
    .join()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_partition_does_not_stall_the_windows() {
    // Partition 1 never gets a record: after the idle timeout it no longer holds the
    // stream's watermark back, and the district windows close.
    let rows = worker_with_idle_partition(1).await;
    assert!(rows >= 15, "district minutes emitted: {rows}");
    // Without the idle timeout (within the run) the empty partition stalls them.
    let rows = worker_with_idle_partition(600).await;
    assert_eq!(rows, 0);
}
