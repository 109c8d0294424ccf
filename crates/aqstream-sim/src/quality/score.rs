//! Matching alerts to the ground truth and the figures of the benchmark.

use crate::generate::{GroundTruth, SourceTruth};
use crate::quality::naive::NaiveAlert;
use aqstream_core::alert::{Alert, AlertState};
use aqstream_core::geo::haversine_m;
use aqstream_core::time::parse_rfc3339;
use std::collections::{BTreeMap, BTreeSet};

/// One alert (all its transitions) as the scorer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// Event time it fired.
    pub detected_at: i64,
    /// Estimate when it fired.
    pub first: Option<(f64, f64)>,
    /// Latest estimate before it resolved, with its uncertainty radius.
    pub last: Option<(f64, f64, f64)>,
    /// Sensors that saw it.
    pub sensors: BTreeSet<String>,
    /// Latest source type.
    pub source_type: String,
    /// The highest sensor at detection (the paired naive location).
    pub naive_at_detection: Option<(f64, f64)>,
}

/// Folds alert transitions into episodes, in order of their first transition.
pub fn episodes(alerts: &[Alert], naive_at: &BTreeMap<String, (f64, f64)>) -> Vec<Episode> {
    let mut by_id: BTreeMap<&str, Episode> = BTreeMap::new();
    let mut order = Vec::new();
    for a in alerts {
        let e = by_id.entry(&a.alert_id).or_insert_with(|| {
            order.push(a.alert_id.as_str());
            Episode {
                detected_at: a.detected_at,
                first: a.source.map(|s| (s.lat, s.lon)),
                last: None,
                sensors: BTreeSet::new(),
                source_type: String::new(),
                naive_at_detection: naive_at.get(&a.alert_id).copied(),
            }
        });
        e.sensors.extend(a.sensors.iter().cloned());
        if a.state != AlertState::Resolved || e.last.is_none() {
            e.last = a.source.map(|s| (s.lat, s.lon, s.uncertainty_m));
            e.source_type = a.source_type.as_str().to_string();
        }
    }
    order
        .into_iter()
        .filter_map(|id| by_id.remove(id))
        .collect()
}

/// What became of one source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceOutcome {
    /// Scenario name.
    pub scenario: String,
    /// The source's truth.
    pub truth: SourceTruth,
    /// Seconds from the first sensor seeing the plume to the alert.
    pub delay_s: Option<f64>,
    /// Error of the estimate when the alert fired, metres.
    pub first_error_m: Option<f64>,
    /// Error of the latest estimate, metres.
    pub last_error_m: Option<f64>,
    /// The latest estimate's uncertainty radius, metres.
    pub last_uncertainty_m: Option<f64>,
    /// The type the alert gave.
    pub source_type: Option<String>,
    /// Error of the highest sensor at the system's detection, metres.
    pub paired_naive_error_m: Option<f64>,
    /// The naive detector: delay and error of its latest location.
    pub naive_delay_s: Option<f64>,
    /// The naive detector's final location error, metres.
    pub naive_error_m: Option<f64>,
}

/// The result of scoring one run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunScore {
    /// One entry per source.
    pub sources: Vec<SourceOutcome>,
    /// Alerts matching no source.
    pub false_alarms: usize,
    /// False alarms involving a faulty sensor.
    pub false_alarms_faulty: usize,
    /// Extra alerts for a source already alerted.
    pub split_alerts: usize,
    /// Naive false alarms.
    pub naive_false_alarms: usize,
    /// Naive false alarms involving a faulty sensor.
    pub naive_false_alarms_faulty: usize,
    /// Pollutant sensor-hours of the run.
    pub sensor_hours: f64,
}

/// How long after a source stops an alert can still be its own: the tail of a plume
/// takes `distance / wind speed` to cross the city (6 km at 1 m/s: 100 minutes).
pub const MATCH_AFTER_END_MS: i64 = 90 * 60_000;

fn dist(a: (f64, f64), b: (f64, f64)) -> f64 {
    haversine_m(a.0, a.1, b.0, b.1)
}

/// Picks the source an episode belongs to: active around its detection, sharing the
/// most sensors with it (or within 2 km of its estimate), nearest on ties.
fn matching(
    truth: &GroundTruth,
    at: i64,
    sensors: &BTreeSet<String>,
    loc: Option<(f64, f64)>,
) -> Option<usize> {
    let mut best: Option<(usize, f64, usize)> = None;
    for (k, s) in truth.sources.iter().enumerate() {
        let (Ok(t0), Ok(t1)) = (parse_rfc3339(&s.start), parse_rfc3339(&s.end)) else {
            continue;
        };
        if at < t0 || at > t1 + MATCH_AFTER_END_MS {
            continue;
        }
        let overlap = s
            .sensors
            .iter()
            .filter(|x| sensors.contains(&x.sensor_id))
            .count();
        let d = loc.map_or(f64::INFINITY, |l| dist(l, (s.lat, s.lon)));
        if overlap == 0 && d > 2000.0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((o, bd, _)) => overlap > o || (overlap == o && d < bd),
        };
        if better {
            best = Some((overlap, d, k));
        }
    }
    best.map(|b| b.2)
}

/// Scores a run's alerts and naive alerts against its truth.
pub fn score(truth: &GroundTruth, system: &[Episode], naive: &[NaiveAlert]) -> RunScore {
    let faulty: BTreeSet<&str> = truth.faults.iter().map(|f| f.sensor_id.as_str()).collect();
    let mut rs = RunScore {
        sensor_hours: truth.pollutant_sensors as f64
            * (parse_rfc3339(&truth.end).unwrap_or(0) - parse_rfc3339(&truth.start).unwrap_or(0))
                as f64
            / 3_600_000.0,
        ..RunScore::default()
    };
    let mut sys_of: Vec<Vec<&Episode>> = vec![Vec::new(); truth.sources.len()];
    for e in system {
        match matching(
            truth,
            e.detected_at,
            &e.sensors,
            e.first.or(e.last.map(|l| (l.0, l.1))),
        ) {
            Some(k) => sys_of[k].push(e),
            None => {
                rs.false_alarms += 1;
                if e.sensors.iter().any(|s| faulty.contains(s.as_str())) {
                    rs.false_alarms_faulty += 1;
                }
            }
        }
    }
    let mut naive_of: Vec<Vec<&NaiveAlert>> = vec![Vec::new(); truth.sources.len()];
    for n in naive {
        let sensors: BTreeSet<String> = n.sensors.iter().cloned().collect();
        match matching(truth, n.detected_at, &sensors, Some(n.first)) {
            Some(k) => naive_of[k].push(n),
            None => {
                rs.naive_false_alarms += 1;
                if n.sensors.iter().any(|s| faulty.contains(s.as_str())) {
                    rs.naive_false_alarms_faulty += 1;
                }
            }
        }
    }
    for (k, s) in truth.sources.iter().enumerate() {
        let src = (s.lat, s.lon);
        let first_seen = s.first_seen.as_deref().and_then(|t| parse_rfc3339(t).ok());
        let eps = &sys_of[k];
        rs.split_alerts += eps.len().saturating_sub(1);
        // The alert that shares the most sensors with the source speaks for it.
        let main = eps.iter().max_by_key(|e| {
            let overlap = s
                .sensors
                .iter()
                .filter(|x| e.sensors.contains(&x.sensor_id))
                .count();
            (overlap, std::cmp::Reverse(e.detected_at))
        });
        let first_det = eps.iter().map(|e| e.detected_at).min();
        let naive_main = naive_of[k].first();
        rs.sources.push(SourceOutcome {
            scenario: truth.scenario.clone(),
            truth: s.clone(),
            delay_s: first_det
                .zip(first_seen)
                .map(|(d, f)| (d - f) as f64 / 1000.0),
            first_error_m: main.and_then(|e| e.first).map(|l| dist(l, src)),
            last_error_m: main.and_then(|e| e.last).map(|l| dist((l.0, l.1), src)),
            last_uncertainty_m: main.and_then(|e| e.last).map(|l| l.2),
            source_type: main.map(|e| e.source_type.clone()),
            paired_naive_error_m: main
                .and_then(|e| e.naive_at_detection)
                .map(|l| dist(l, src)),
            naive_delay_s: naive_main
                .zip(first_seen)
                .map(|(n, f)| (n.detected_at - f) as f64 / 1000.0),
            naive_error_m: naive_main.map(|n| dist(n.last, src)),
        });
    }
    rs
}
