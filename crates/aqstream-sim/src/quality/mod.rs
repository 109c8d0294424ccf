//! The localization quality benchmark: simulated scenarios through the detector (and
//! the naive baseline), scored against the ground truth.
//!
//! * [`adapter`] — raw readings → one-minute means (the stream worker's job, reduced).
//! * [`naive`] — the "highest sensor" baseline.
//! * [`score`] — matching alerts to sources; per-source outcomes.
//! * [`report`] — the summary table.

pub mod adapter;
pub mod naive;
pub mod report;
pub mod score;

use crate::generate::Simulation;
use crate::scenario::{Scenario, SimError};
use adapter::MinuteAdapter;
use aqstream_core::alert::{Alert, AlertState};
use aqstream_core::measure::Measure;
use aqstream_core::registry::SensorRegistry;
use aqstream_locate::track::median;
use aqstream_locate::{Detector, DetectorConfig, SensorMinute};
use naive::Naive;
use std::collections::BTreeMap;
use std::time::Instant;

/// Everything one scenario run produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// The alert transitions, in order.
    pub alerts: Vec<Alert>,
    /// The scored outcome.
    pub score: score::RunScore,
    /// Wall-clock seconds of each `advance` that emitted a transition (the time from
    /// the detection window closing to the alert).
    pub alert_latency_s: Vec<f64>,
    /// Readings dropped as late by the adapter.
    pub late_readings: u64,
}

/// The highest sensor (raw value minus the network median of the pollutant).
fn highest(reg: &SensorRegistry, rows: &[SensorMinute], m: Measure) -> Option<(f64, f64)> {
    let mut vals: Vec<f64> = rows.iter().filter_map(|r| r.values[m.index()]).collect();
    let med = median(&mut vals)?;
    rows.iter()
        .filter_map(|r| Some((r.values[m.index()]? - med, reg.get(&r.sensor_id)?)))
        .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.sensor_id.cmp(&a.1.sensor_id)))
        .map(|(_, s)| (s.lat, s.lon))
}

/// Runs one scenario through the detector and the naive baseline and scores both.
pub fn run(scenario: &Scenario, config: &DetectorConfig) -> Result<RunResult, SimError> {
    let out = Simulation::run(scenario)?;
    let reg = &out.registry;
    let mut det = Detector::new(reg, config.clone());
    let mut naive = Naive::new(reg);
    let mut adapter = MinuteAdapter::new(3 * 60_000);
    let mut alerts = Vec::new();
    let mut latency = Vec::new();
    let mut naive_at: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut feed = |rows: Vec<SensorMinute>,
                    wm: i64,
                    det: &mut Detector,
                    naive: &mut Naive,
                    alerts: &mut Vec<Alert>| {
        let minutes = naive::by_minute(rows);
        for (minute, rows) in &minutes {
            for r in rows {
                det.observe(r);
            }
            naive.minute(reg, *minute, rows);
        }
        let t = Instant::now();
        let new = det.advance(wm);
        if !new.is_empty() {
            latency.push(t.elapsed().as_secs_f64());
        }
        for a in &new {
            if a.state == AlertState::Firing {
                let m = a.pollutant.parse::<Measure>().unwrap_or(Measure::Pm25);
                if let Some(rows) = minutes.get(&a.detected_at)
                    && let Some(p) = highest(reg, rows, m)
                {
                    naive_at.insert(a.alert_id.clone(), p);
                }
            }
        }
        alerts.extend(new);
    };
    for a in &out.arrivals {
        let before = adapter.watermark();
        adapter.push(&a.reading);
        if adapter.watermark().div_euclid(60_000) != before.div_euclid(60_000) {
            let rows = adapter.drain();
            feed(rows, adapter.watermark(), &mut det, &mut naive, &mut alerts);
        }
    }
    // The end of the run: close everything.
    let end = out.arrivals.last().map_or(0, |a| a.reading.ts) + 60 * 60_000;
    let rows = adapter.drain_all();
    feed(rows, end, &mut det, &mut naive, &mut alerts);
    let episodes = score::episodes(&alerts, &naive_at);
    let naive_alerts = naive.finish();
    let score = score::score(&out.truth, &episodes, &naive_alerts);
    Ok(RunResult {
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        alerts,
        score,
        alert_latency_s: latency,
        late_readings: adapter.late,
    })
}

/// Runs `seeds` seeds (1..=seeds) of each named preset.
pub fn suite(
    names: &[&str],
    seeds: u64,
    config: &DetectorConfig,
) -> Result<Vec<RunResult>, SimError> {
    let mut runs = Vec::new();
    for name in names {
        for seed in 1..=seeds {
            let sc = crate::scenario::preset(name, seed)?;
            let t = Instant::now();
            let r = run(&sc, config)?;
            tracing::info!(
                scenario = *name,
                seed,
                transitions = r.alerts.len(),
                seconds = t.elapsed().as_secs_f64(),
                "benchmark run"
            );
            runs.push(r);
        }
    }
    Ok(runs)
}
