//! Replay end to end: the aggregates in the history equal an independent computation
//! over the same input, and a replay is deterministic byte for byte.

mod common;

use aqstream_core::registry::SensorRegistry;
use aqstream_core::validate::{ValidationPolicy, apply_quality_flags};
use aqstream_core::{Measure, Reading};
use aqstream_stream::StreamConfig;
use aqstream_stream::detect::NoDetector;
use aqstream_stream::replay::{ReplayOptions, ReplaySummary, replay};
use common::*;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A city scenario: JSON lines in arrival order.
struct Scenario {
    registry: String,
    lines: Vec<String>,
}

/// 30 sensors in 3 districts over 3 hours; arrival jitter of up to 2 minutes, 2 % of
/// readings 8–40 minutes late (beyond the 5-minute lateness), 3 % sent twice, 1 %
/// with a 999 sentinel, met stations with wind.
fn scenario(seed: u64) -> Scenario {
    let mut rng = Rng(seed);
    let n = 30;
    let mut arrivals: Vec<(i64, u64, String)> = Vec::new();
    let mut k = 0u64;
    for m in 1..=180i64 {
        let ts = T0 + m * MIN;
        for i in 0..n {
            let mut v = pm(i, m, &mut rng);
            if rng.below(100) == 0 {
                v = 999.0;
            }
            let pm10 = (v * 1.6 * 10.0).round() / 10.0;
            let l = line(&format!("S{i:03}"), ts, Some(v), Some(pm10));
            let r = rng.below(100);
            let delay = if r < 2 {
                8 + rng.below(33) as i64
            } else {
                rng.below(3) as i64
            };
            k += 1;
            arrivals.push((m + delay, k, l.clone()));
            if rng.below(100) < 3 {
                k += 1;
                arrivals.push((m + rng.below(15) as i64, k, l));
            }
        }
        for d in 0..3 {
            k += 1;
            let speed = 1.0 + (m % 7) as f64 * 0.3;
            arrivals.push((
                m,
                k,
                met_line(&format!("MET{d}"), ts, speed, 270.0 + d as f64 * 10.0),
            ));
        }
    }
    arrivals.sort();
    Scenario {
        registry: registry_csv(n, 3),
        lines: arrivals.into_iter().map(|(_, _, l)| l).collect(),
    }
}

fn run(sc: &Scenario, history: &Path, cfg: StreamConfig) -> (ReplaySummary, Vec<u8>) {
    let registry = Arc::new(SensorRegistry::from_csv(&sc.registry).unwrap());
    let input = sc.lines.join("\n").into_bytes();
    let mut alerts = Vec::new();
    let summary = replay(
        registry,
        Box::new(std::io::Cursor::new(input)),
        &mut alerts,
        Box::new(NoDetector),
        &ReplayOptions {
            history_dir: Some(history.to_path_buf()),
            config: cfg,
            ..ReplayOptions::default()
        },
    )
    .unwrap();
    (summary, alerts)
}

type Key = (String, String, String, i64);

#[derive(Debug, Default, Clone)]
struct Fold {
    sum: f64,
    n: i64,
    min: f64,
    max: f64,
    minutes: BTreeSet<i64>,
}

impl Fold {
    fn add(&mut self, v: f64, minute: i64) {
        if self.n == 0 {
            self.min = v;
            self.max = v;
        }
        self.sum += v;
        self.n += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.minutes.insert(minute);
    }
}

const WINDOWS: [(&str, i64); 4] = [
    ("1m", MIN),
    ("5m", 5 * MIN),
    ("1h", HOUR),
    ("24h", 24 * HOUR),
];

/// The expected aggregates, computed directly from the input lines: dedup by
/// (sensor, ts, period), validity by the ingest flags, plain folds.
fn expected(sc: &Scenario) -> (BTreeMap<Key, Fold>, BTreeSet<Key>) {
    let registry = SensorRegistry::from_csv(&sc.registry).unwrap();
    let mut seen = HashSet::new();
    let mut readings: Vec<Reading> = Vec::new();
    for l in &sc.lines {
        let mut r = aqstream_core::json::decode_one(
            l.as_bytes(),
            aqstream_core::json::DecodeMode::Canonical,
        )
        .unwrap();
        if seen.insert((r.sensor_id.clone(), r.ts, r.period_s)) {
            apply_quality_flags(&mut r, &ValidationPolicy::default());
            readings.push(r);
        }
    }
    let mut folds: BTreeMap<Key, Fold> = BTreeMap::new();
    let mut keys = BTreeSet::new();
    // Sensor windows, and sensor-minute means for the districts.
    let mut minute_means: BTreeMap<(String, i64), (f64, i64)> = BTreeMap::new();
    for r in &readings {
        let cell = r.ts - 60_000;
        let district = registry.get(&r.sensor_id).unwrap().district.clone();
        for (w, len) in WINDOWS {
            let k = (
                "sensor".to_string(),
                r.sensor_id.clone(),
                w.to_string(),
                cell - cell.rem_euclid(len),
            );
            keys.insert(k.clone());
            let f = folds.entry(k).or_default();
            if let Some(v) = r.valid(Measure::Pm25) {
                f.add(v, cell);
            }
            keys.insert((
                "district".into(),
                district.clone(),
                w.to_string(),
                cell - cell.rem_euclid(len),
            ));
        }
        if let Some(v) = r.valid(Measure::Pm25) {
            let e = minute_means.entry((r.sensor_id.clone(), cell)).or_default();
            e.0 += v;
            e.1 += 1;
        }
    }
    for ((sensor, cell), (sum, n)) in minute_means {
        let district = registry.get(&sensor).unwrap().district.clone();
        for (w, len) in WINDOWS {
            let k = (
                "district".to_string(),
                district.clone(),
                w.to_string(),
                cell - cell.rem_euclid(len),
            );
            folds.entry(k).or_default().add(sum / n as f64, cell);
        }
    }
    (folds, keys)
}

fn assert_matches(history: &Path, sc: &Scenario) {
    let got = latest(history);
    let (want, keys) = expected(sc);
    let got_keys: BTreeSet<Key> = got.keys().cloned().collect();
    let missing: Vec<&Key> = keys.difference(&got_keys).collect();
    let extra: Vec<&Key> = got_keys.difference(&keys).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the set of windows differs: {} missing (first {:?}), {} extra (first {:?})",
        missing.len(),
        &missing[..missing.len().min(8)],
        extra.len(),
        &extra[..extra.len().min(8)]
    );
    let pollutant_sensors = 10.0; // per district
    for (k, agg) in &got {
        let f = want.get(k).cloned().unwrap_or_default();
        let ctx = format!("{k:?}: got {agg:?}, want {f:?}");
        assert_eq!(agg.count, f.n, "{ctx}");
        if f.n == 0 {
            assert_eq!(agg.mean, None, "{ctx}");
            continue;
        }
        assert!(close(agg.mean.unwrap(), f.sum / f.n as f64), "{ctx}");
        assert!(close(agg.min.unwrap(), f.min), "{ctx}");
        assert!(close(agg.max.unwrap(), f.max), "{ctx}");
        let minutes = WINDOWS.iter().find(|w| w.0 == k.2).unwrap().1 / MIN;
        let vf = if k.0 == "sensor" {
            f.minutes.len() as f64 / minutes as f64
        } else {
            f.n as f64 / (pollutant_sensors * minutes as f64)
        };
        assert!(close(agg.valid_fraction, vf), "{ctx}: valid_fraction {vf}");
    }
}

#[test]
fn aggregates_equal_an_independent_fold_over_the_input() {
    let sc = scenario(7);
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = run(&sc, dir.path(), StreamConfig::default());
    assert!(
        s.late > 0,
        "the scenario has readings beyond the lateness: {s:?}"
    );
    assert!(s.duplicates > 0, "{s:?}");
    assert_eq!(s.rejected, 0, "{s:?}");
    assert_eq!(s.accepted, s.readings - s.duplicates, "{s:?}");
    assert_matches(dir.path(), &sc);
}

fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn replay_is_deterministic_byte_for_byte() {
    let sc = scenario(11);
    let cfg = StreamConfig {
        replay_epoch_readings: 2_000,
        ..StreamConfig::default()
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (sa, alerts_a) = run(&sc, a.path(), cfg.clone());
    let (sb, alerts_b) = run(&sc, b.path(), cfg);
    assert_eq!(sa, sb);
    assert!(sa.epochs >= 3, "several epochs: {sa:?}");
    assert_eq!(alerts_a, alerts_b);
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert!(
        fa.keys().any(|p| p.starts_with("readings")),
        "{:?}",
        fa.keys()
    );
    assert!(fa.keys().any(|p| p.starts_with("aggregates")));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (p, bytes) in &fa {
        assert!(bytes == &fb[p], "{} differs", p.display());
    }
    // The small epochs do not change the result.
    assert_matches(a.path(), &sc);
}

/// Late corrections read earlier epochs back from the published history and ledger:
/// with an epoch every 2 000 readings, every window is still the fold of its readings.
#[test]
fn aggregates_stay_right_across_epochs() {
    let sc = scenario(7);
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = run(
        &sc,
        dir.path(),
        StreamConfig {
            replay_epoch_readings: 2_000,
            ..StreamConfig::default()
        },
    );
    assert!(s.epochs >= 3 && s.late > 0, "{s:?}");
    assert_matches(dir.path(), &sc);
}

/// The replay runs as threads; a stage that fails stops the others and its error is
/// what the caller gets (no hang, no generic "stopped" message).
/// At the end of input every open window of every sensor is emitted; the replay does
/// it in steps of an epoch's worth of rows, each step an epoch of its own. The history
/// is the same as from one flush in one epoch.
#[test]
fn a_flush_in_steps_writes_what_one_flush_writes() {
    let sc = scenario(5);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let epoch = |n| StreamConfig {
        replay_epoch_readings: n,
        ..StreamConfig::default()
    };
    let (one, alerts_one) = run(&sc, a.path(), epoch(10_000_000));
    let (steps, alerts_steps) = run(&sc, b.path(), epoch(20));
    assert_eq!(one.epochs, 1);
    // Epochs cut by readings, then at least three more for the flush (30 sensors
    // each have a 1-minute, 5-minute, hour and day window open at the end).
    assert!(
        steps.epochs >= steps.accepted / 20 + 3,
        "the flush took several epochs: {steps:?}"
    );
    assert_eq!(
        ReplaySummary {
            epochs: one.epochs,
            ..steps
        },
        one
    );
    assert_eq!(alerts_one, alerts_steps);
    assert_eq!(aggregates(a.path()), aggregates(b.path()));
    assert_matches(b.path(), &sc);
}

#[test]
fn a_failing_stage_fails_the_replay_with_its_own_error() {
    let sc = scenario(5);
    let registry = Arc::new(SensorRegistry::from_csv(&sc.registry).unwrap());
    let input = || Box::new(std::io::Cursor::new(sc.lines.join("\n").into_bytes()));
    let cfg = StreamConfig {
        replay_epoch_readings: 2_000,
        ..StreamConfig::default()
    };
    // The writer cannot stage its files: the staging directory is a file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("_staging"), b"not a directory").unwrap();
    let opts = ReplayOptions {
        history_dir: Some(dir.path().to_path_buf()),
        config: cfg.clone(),
        ..ReplayOptions::default()
    };
    let err = replay(
        Arc::clone(&registry),
        input(),
        &mut Vec::new(),
        Box::new(NoDetector),
        &opts,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("_staging"), "the writer's error: {err}");
    // The alerts output fails (stage 2, on the calling thread).
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("alerts sink gone"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::other("alerts sink gone"))
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let err = replay(
        registry,
        input(),
        &mut Broken,
        Box::new(NoDetector),
        &ReplayOptions {
            history_dir: Some(dir.path().to_path_buf()),
            config: cfg,
            ..ReplayOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("alerts sink gone"), "{err}");
}
