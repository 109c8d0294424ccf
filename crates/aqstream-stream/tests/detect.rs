//! Detection through the stream: a simulated episode replayed through the very same
//! operators raises an alert near the true source; the alert reaches the alerts output
//! and the `alerts` history table; the detector's checkpoint restores to the same
//! alerts as an uninterrupted run.

mod common;

use aqstream_core::alert::{Alert, AlertState};
use aqstream_core::geo::LocalPlane;
use aqstream_core::hj212::{Hj212Codec, UnitTable};
use aqstream_core::registry::SensorRegistry;
use aqstream_core::time::parse_rfc3339;
use aqstream_sim::output::{ReadingFormat, format_reading};
use aqstream_sim::{GroundTruth, Simulation, preset};
use aqstream_stream::StreamConfig;
use aqstream_stream::detect::{Detect, SensorMinute, detector};
use aqstream_stream::replay::{ReplayOptions, replay};
use std::sync::Arc;

struct Episode {
    registry: SensorRegistry,
    lines: Vec<String>,
    truth: GroundTruth,
}

fn episode(name: &str, seed: u64) -> Episode {
    let sc = preset(name, seed).unwrap();
    let out = Simulation::run(&sc).unwrap();
    let codec = Hj212Codec::new(UnitTable::default());
    let lines = out
        .arrivals
        .iter()
        .filter_map(|a| format_reading(a, ReadingFormat::Json, &codec))
        .collect();
    Episode {
        registry: out.registry,
        lines,
        truth: out.truth,
    }
}

fn parse_alerts(bytes: &[u8]) -> Vec<serde_json::Value> {
    std::str::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_replayed_episode_alerts_near_the_true_source() {
    let ep = episode("steady", 7);
    let history = tempfile::tempdir().unwrap();
    let cfg = StreamConfig::default();
    let mut out = Vec::new();
    let registry = Arc::new(ep.registry.clone());
    let summary = replay(
        Arc::clone(&registry),
        Box::new(std::io::Cursor::new(ep.lines.join("\n").into_bytes())),
        &mut out,
        detector(&registry, &cfg),
        &ReplayOptions {
            history_dir: Some(history.path().to_path_buf()),
            config: cfg,
            ..ReplayOptions::default()
        },
    )
    .unwrap();
    let alerts = parse_alerts(&out);
    assert_eq!(summary.alerts as usize, alerts.len());
    assert!(!alerts.is_empty(), "no alert at all: {summary:?}");

    // Every qualifying source: a firing or updated alert during its emission, with a
    // location near it.
    let lat0 = registry.sensors().iter().map(|s| s.lat).sum::<f64>() / registry.len() as f64;
    let lon0 = registry.sensors().iter().map(|s| s.lon).sum::<f64>() / registry.len() as f64;
    let plane = LocalPlane::new(lat0, lon0);
    let mut near = 0;
    let mut qualifying = 0;
    let mut report = Vec::new();
    for src in ep.truth.sources.iter().filter(|s| s.qualifies) {
        qualifying += 1;
        let start = parse_rfc3339(&src.start).unwrap();
        let end = parse_rfc3339(&src.end).unwrap();
        let (sx, sy) = plane.to_xy(src.lat, src.lon);
        let best = alerts
            .iter()
            .filter(|a| a["state"] != "resolved")
            .filter(|a| {
                let d = parse_rfc3339(a["detected_at"].as_str().unwrap()).unwrap();
                d >= start && d <= end + 30 * 60_000
            })
            .filter_map(|a| {
                let s = &a["source"];
                let (x, y) = plane.to_xy(s["lat"].as_f64()?, s["lon"].as_f64()?);
                Some(((x - sx).powi(2) + (y - sy).powi(2)).sqrt())
            })
            .fold(f64::INFINITY, f64::min);
        report.push(format!(
            "{} ({}): nearest alert {best:.0} m",
            src.id, src.kind
        ));
        if best <= 500.0 {
            near += 1;
        }
    }
    assert!(
        qualifying >= 3,
        "the scenario has {qualifying} qualifying sources"
    );
    assert!(
        near * 5 >= qualifying * 3,
        "only {near} of {qualifying} sources had an alert within 500 m: {report:?}"
    );

    // Lifecycle: every alert id fires first and is resolved at the end of input.
    let mut ids: Vec<&str> = alerts
        .iter()
        .map(|a| a["alert_id"].as_str().unwrap())
        .collect();
    ids.dedup();
    for id in &ids {
        let states: Vec<&str> = alerts
            .iter()
            .filter(|a| a["alert_id"] == *id)
            .map(|a| a["state"].as_str().unwrap())
            .collect();
        assert_eq!(states[0], "firing", "{id}: {states:?}");
    }

    // The same transitions are in the alerts history table.
    let batches = common::sql(history.path(), "SELECT count(*) AS n FROM alerts");
    let n = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(n as usize, alerts.len());
}

/// Minutes of the episode scenario as the detector sees them (the stream's
/// sensor-minutes, reduced to the readings' values).
fn minutes(ep: &Episode) -> Vec<SensorMinute> {
    let mut v: Vec<SensorMinute> = ep
        .lines
        .iter()
        .map(|l| {
            let r = aqstream_core::json::decode_payload(
                l.as_bytes(),
                aqstream_core::json::DecodeMode::Canonical,
            )
            .unwrap()
            .remove(0)
            .result
            .unwrap();
            let mut values = [None; aqstream_core::measure::N_MEASURES];
            for m in aqstream_core::Measure::ALL {
                values[m.index()] = r.valid(m);
            }
            SensorMinute {
                sensor_id: Arc::from(r.sensor_id.as_str()),
                ts: r.ts,
                values,
                qa_excluded: false,
                revision: 0,
            }
        })
        .collect();
    v.sort_by(|a, b| a.ts.cmp(&b.ts).then(a.sensor_id.cmp(&b.sensor_id)));
    v.dedup_by(|a, b| a.ts == b.ts && a.sensor_id == b.sensor_id);
    v
}

fn drive(det: &mut dyn Detect, mins: &[SensorMinute], from: usize, to: usize) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut i = from;
    while i < to {
        let ts = mins[i].ts;
        while i < to && mins[i].ts == ts {
            det.observe(&mins[i]);
            i += 1;
        }
        out.extend(det.advance(ts));
    }
    out
}

#[test]
fn a_restored_detector_continues_like_an_uninterrupted_one() {
    let ep = episode("two-sources", 3);
    let registry = Arc::new(ep.registry.clone());
    let mins = minutes(&ep);
    // Memory longer than the run: the restored detector has seen everything.
    let cfg = StreamConfig {
        detector_memory_min: 24 * 60,
        ..StreamConfig::default()
    };
    let mut whole = detector(&registry, &cfg);
    let all = drive(whole.as_mut(), &mins, 0, mins.len());
    assert!(
        all.iter().any(|a| a.state == AlertState::Firing),
        "no alert"
    );
    for cut in [mins.len() / 3, mins.len() / 2, mins.len() * 4 / 5] {
        // Cut at a minute boundary.
        let mut cut = cut;
        while cut < mins.len() && mins[cut].ts == mins[cut - 1].ts {
            cut += 1;
        }
        let mut first = detector(&registry, &cfg);
        let mut got = drive(first.as_mut(), &mins, 0, cut);
        let snap = first.snapshot();
        drop(first);
        let mut second = detector(&registry, &cfg);
        second.restore(&snap).unwrap();
        got.extend(drive(second.as_mut(), &mins, cut, mins.len()));
        assert_eq!(got, all, "cut at {cut}");
    }
    // A short memory still restores to unique ids and closes every alert it opened.
    let short = StreamConfig {
        detector_memory_min: 30,
        ..StreamConfig::default()
    };
    let cut = mins.len() / 2;
    let mut first = detector(&registry, &short);
    let mut got = drive(first.as_mut(), &mins, 0, cut);
    let snap = first.snapshot();
    let mut second = detector(&registry, &short);
    second.restore(&snap).unwrap();
    got.extend(drive(second.as_mut(), &mins, cut, mins.len()));
    let last = mins.last().unwrap().ts;
    got.extend(second.advance(last + 24 * 3_600_000));
    let mut open = std::collections::BTreeSet::new();
    let mut fired = std::collections::BTreeSet::new();
    for a in &got {
        match a.state {
            AlertState::Firing => {
                assert!(
                    fired.insert(a.alert_id.clone()),
                    "{} fired twice",
                    a.alert_id
                );
                open.insert(a.alert_id.clone());
            }
            AlertState::Resolved => {
                open.remove(&a.alert_id);
            }
            AlertState::Updated => {}
        }
    }
    assert!(open.is_empty(), "left open: {open:?}");
}
