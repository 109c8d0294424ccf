//! The simulator: seeded determinism, the imperfections and faults it injects, its
//! ground truth, and the benchmark on one scenario.

use aqstream_core::Measure;
use aqstream_core::json::{DecodeMode, decode_one};
use aqstream_core::time::MINUTE_MS;
use aqstream_sim::faults::{FaultKind, FaultMix};
use aqstream_sim::output::{ReadingFormat, write_readings, write_truth};
use aqstream_sim::{Simulation, preset};
use std::collections::HashMap;

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let sc = preset("steady", 4).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, seed: u64| {
        let mut sc = sc.clone();
        sc.seed = seed;
        sc.duration_min = 90;
        let out = Simulation::run(&sc).unwrap();
        let r = dir.path().join(format!("{name}.jsonl"));
        let t = dir.path().join(format!("{name}.json"));
        write_readings(&r, &out.arrivals, ReadingFormat::Json).unwrap();
        write_truth(&t, &out.truth).unwrap();
        (std::fs::read(r).unwrap(), std::fs::read(t).unwrap())
    };
    let a = write("a", 4);
    let b = write("b", 4);
    let c = write("c", 5);
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
    // Every line is a canonical reading the contract's decoder accepts.
    let text = String::from_utf8(a.0).unwrap();
    for line in text.lines().take(500) {
        let r = decode_one(line.as_bytes(), DecodeMode::Canonical).unwrap();
        assert_eq!(r.period_s, 60);
        assert!(r.received_at.is_some() && !r.gateway_id.is_empty());
    }
}

#[test]
fn transport_imperfections_and_faults_are_injected() {
    let mut sc = preset("steady", 2).unwrap();
    sc.duration_min = 120;
    sc.faults = FaultMix {
        stuck: 1,
        sentinel: 1,
        drift: 1,
        fast_clock: 1,
        from_min: 30.0,
        ..FaultMix::default()
    };
    let out = Simulation::run(&sc).unwrap();
    let faulty = |k: FaultKind| {
        out.truth
            .faults
            .iter()
            .find(|f| f.kind == k)
            .unwrap()
            .sensor_id
            .clone()
    };
    // Arrival order is not event order, and some readings come twice or never.
    let out_of_order = out
        .arrivals
        .windows(2)
        .filter(|w| w[1].reading.ts < w[0].reading.ts)
        .count();
    assert!(out_of_order > 100, "{out_of_order}");
    let mut per_key: HashMap<(String, i64), usize> = HashMap::new();
    for a in &out.arrivals {
        *per_key
            .entry((a.reading.sensor_id.clone(), a.reading.ts))
            .or_default() += 1;
    }
    assert!(per_key.values().any(|&n| n == 2), "duplicates");
    let expected = out.registry.len() * 120;
    assert!(
        per_key.len() < expected && per_key.len() > expected * 95 / 100,
        "missing minutes: {}",
        per_key.len()
    );
    // Stuck: the same PM2.5 value for the whole faulty period.
    let stuck = faulty(FaultKind::Stuck);
    let vals: Vec<f64> = out
        .arrivals
        .iter()
        .filter(|a| {
            a.reading.sensor_id == stuck
                && a.reading.ts > out.arrivals[0].reading.ts + 40 * MINUTE_MS
        })
        .filter_map(|a| a.reading.get(Measure::Pm25))
        .collect();
    assert!(
        vals.len() > 50 && vals.iter().all(|v| *v == vals[0]),
        "{vals:?}"
    );
    // Sentinel: 999 most minutes.
    let sentinel = faulty(FaultKind::Sentinel);
    let n999 = out
        .arrivals
        .iter()
        .filter(|a| a.reading.sensor_id == sentinel && a.reading.get(Measure::Pm25) == Some(999.0))
        .count();
    assert!(n999 > 40, "{n999}");
    // Fast clock: event times no longer on the minute.
    let fast = faulty(FaultKind::FastClock);
    assert!(
        out.arrivals
            .iter()
            .any(|a| a.reading.sensor_id == fast && a.reading.ts % MINUTE_MS != 0)
    );
    assert!(
        out.arrivals
            .iter()
            .filter(|a| a.reading.sensor_id != fast)
            .all(|a| a.reading.ts % MINUTE_MS == 0)
    );
    // Drift: the drifting sensor reads ever higher relative to a healthy one.
    let drift = faulty(FaultKind::Drift);
    let mean = |id: &str, from: i64, to: i64| {
        let v: Vec<f64> = out
            .arrivals
            .iter()
            .filter(|a| a.reading.sensor_id == id)
            .filter(|a| {
                (from..to).contains(&((a.reading.ts - out.arrivals[0].reading.ts) / MINUTE_MS))
            })
            .filter_map(|a| a.reading.get(Measure::Pm10))
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let early = mean(&drift, 0, 30);
    let late = mean(&drift, 100, 120);
    assert!(late > early * 1.1, "{early} → {late}");
}

#[test]
fn ground_truth_names_the_sensors_that_see_each_source() {
    let out = Simulation::run(&preset("steady", 1).unwrap()).unwrap();
    assert_eq!(out.truth.sources.len(), 5);
    for s in &out.truth.sources {
        if let Some(first) = &s.first_seen {
            assert!(
                first.as_str() >= s.start.as_str(),
                "{} seen before it starts",
                s.id
            );
            assert!(!s.sensors.is_empty());
            assert_eq!(s.sensors[0].first_seen, *first);
            assert!(s.sensors.iter().all(|x| x.max_excess_ugm3 >= 15.0));
        }
        assert_eq!(s.qualifies, s.max_excess_ugm3 >= 30.0);
        assert!(s.emission_gs.contains_key("so2"));
    }
}

#[test]
fn the_benchmark_on_a_steady_day_beats_the_naive_estimate() {
    let cfg = aqstream_locate::DetectorConfig::default();
    let sc = preset("steady", 1).unwrap();
    let r = aqstream_sim::quality::run(&sc, &cfg).unwrap();
    let again = aqstream_sim::quality::run(&sc, &cfg).unwrap();
    assert_eq!(
        r.alerts, again.alerts,
        "replaying a scenario gives the same alerts"
    );
    let sys = aqstream_sim::quality::report::system(std::slice::from_ref(&r));
    let naive = aqstream_sim::quality::report::naive(std::slice::from_ref(&r));
    assert!(sys.detected + 1 >= sys.qualifying, "{sys:?}");
    assert_eq!(sys.false_alarms, 0, "{sys:?}");
    assert!(sys.median_error_m.unwrap() < 300.0, "{sys:?}");
    assert!(naive.false_alarms > sys.false_alarms, "{naive:?}");
    let table = aqstream_sim::quality::report::markdown(&[r]);
    assert!(
        table.contains("| aqstream |") && table.contains("| naive: highest sensor |"),
        "{table}"
    );
}
