//! The benchmark's summary: one table of system vs naive, and one row per scenario.

use crate::quality::RunResult;
use crate::quality::score::SourceOutcome;
use std::fmt::Write as _;

/// The `q` quantile (0..1) of `v` (nearest rank); `None` when empty.
pub fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let k = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
    Some(s[k])
}

/// Aggregate figures of one estimator over a set of runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Figures {
    /// Sources whose largest excess reaches 30 µg/m³.
    pub qualifying: usize,
    /// Of those, detected.
    pub detected: usize,
    /// Median location error (latest estimate), metres.
    pub median_error_m: Option<f64>,
    /// 90th percentile location error, metres.
    pub p90_error_m: Option<f64>,
    /// Median error of the estimate at firing, metres.
    pub median_first_error_m: Option<f64>,
    /// Median delay after the first sensor saw the plume, minutes.
    pub median_delay_min: Option<f64>,
    /// False alarms per 1000 sensor-hours.
    pub false_alarms_per_1000h: f64,
    /// False alarms involving a faulty sensor.
    pub false_alarms_faulty: usize,
    /// False alarms.
    pub false_alarms: usize,
    /// Share of detected qualifying sources with the right type.
    pub type_accuracy: Option<f64>,
    /// Share of detected qualifying sources within the stated uncertainty radius.
    pub radius_coverage: Option<f64>,
    /// Extra alerts for one source.
    pub split_alerts: usize,
}

fn share(n: usize, d: usize) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// System figures over `runs`.
pub fn system(runs: &[RunResult]) -> Figures {
    let q: Vec<&SourceOutcome> = runs
        .iter()
        .flat_map(|r| &r.score.sources)
        .filter(|s| s.truth.qualifies)
        .collect();
    let det: Vec<&&SourceOutcome> = q.iter().filter(|s| s.delay_s.is_some()).collect();
    let errs: Vec<f64> = det.iter().filter_map(|s| s.last_error_m).collect();
    let first: Vec<f64> = det.iter().filter_map(|s| s.first_error_m).collect();
    let delays: Vec<f64> = det
        .iter()
        .filter_map(|s| s.delay_s.map(|d| d / 60.0))
        .collect();
    let typed = det
        .iter()
        .filter(|s| s.source_type.as_deref() == Some(s.truth.kind.as_str()))
        .count();
    let covered = det
        .iter()
        .filter(|s| matches!((s.last_error_m, s.last_uncertainty_m), (Some(e), Some(u)) if e <= u))
        .count();
    let hours: f64 = runs.iter().map(|r| r.score.sensor_hours).sum();
    let fa: usize = runs.iter().map(|r| r.score.false_alarms).sum();
    Figures {
        qualifying: q.len(),
        detected: det.len(),
        median_error_m: quantile(&errs, 0.5),
        p90_error_m: quantile(&errs, 0.9),
        median_first_error_m: quantile(&first, 0.5),
        median_delay_min: quantile(&delays, 0.5),
        false_alarms_per_1000h: if hours > 0.0 {
            fa as f64 * 1000.0 / hours
        } else {
            0.0
        },
        false_alarms_faulty: runs.iter().map(|r| r.score.false_alarms_faulty).sum(),
        false_alarms: fa,
        type_accuracy: share(typed, det.len()),
        radius_coverage: share(covered, errs.len()),
        split_alerts: runs.iter().map(|r| r.score.split_alerts).sum(),
    }
}

/// Naive-baseline figures over `runs`.
pub fn naive(runs: &[RunResult]) -> Figures {
    let q: Vec<&SourceOutcome> = runs
        .iter()
        .flat_map(|r| &r.score.sources)
        .filter(|s| s.truth.qualifies)
        .collect();
    let det: Vec<&&SourceOutcome> = q.iter().filter(|s| s.naive_delay_s.is_some()).collect();
    let errs: Vec<f64> = det.iter().filter_map(|s| s.naive_error_m).collect();
    let delays: Vec<f64> = det
        .iter()
        .filter_map(|s| s.naive_delay_s.map(|d| d / 60.0))
        .collect();
    let hours: f64 = runs.iter().map(|r| r.score.sensor_hours).sum();
    let fa: usize = runs.iter().map(|r| r.score.naive_false_alarms).sum();
    Figures {
        qualifying: q.len(),
        detected: det.len(),
        median_error_m: quantile(&errs, 0.5),
        p90_error_m: quantile(&errs, 0.9),
        median_first_error_m: None,
        median_delay_min: quantile(&delays, 0.5),
        false_alarms_per_1000h: if hours > 0.0 {
            fa as f64 * 1000.0 / hours
        } else {
            0.0
        },
        false_alarms_faulty: runs.iter().map(|r| r.score.naive_false_alarms_faulty).sum(),
        false_alarms: fa,
        type_accuracy: share(0, det.len()),
        radius_coverage: None,
        split_alerts: 0,
    }
}

fn m(v: Option<f64>, unit: &str) -> String {
    v.map_or("–".into(), |x| format!("{x:.0}{unit}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{:.0} %", 100.0 * x))
}

fn row(name: &str, f: &Figures) -> String {
    format!(
        "| {name} | {}/{} ({}) | {} | {} | {} | {} | {:.2} ({} total, {} faulty) | {} | {} |\n",
        f.detected,
        f.qualifying,
        pct(share(f.detected, f.qualifying)),
        m(f.median_error_m, " m"),
        m(f.p90_error_m, " m"),
        m(f.median_first_error_m, " m"),
        f.median_delay_min
            .map_or("–".into(), |d| format!("{d:.1} min")),
        f.false_alarms_per_1000h,
        f.false_alarms,
        f.false_alarms_faulty,
        pct(f.type_accuracy),
        pct(f.radius_coverage),
    )
}

/// The summary table (Markdown), the per-scenario table, and latency.
pub fn markdown(runs: &[RunResult]) -> String {
    let mut s = String::new();
    let sys = system(runs);
    let nv = naive(runs);
    let paired: Vec<f64> = runs
        .iter()
        .flat_map(|r| &r.score.sources)
        .filter(|o| o.truth.qualifies && o.delay_s.is_some())
        .filter_map(|o| o.paired_naive_error_m)
        .collect();
    s.push_str("| estimator | detected (≥ 30 µg/m³) | median error | p90 error | median error at firing | median delay | false alarms / 1000 sensor-h | type right | within radius |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|\n");
    s.push_str(&row("aqstream", &sys));
    s.push_str(&row("naive: highest sensor", &nv));
    let _ = writeln!(
        s,
        "\nHighest sensor at the moment aqstream fired, same episodes: median error {}, p90 {}. Ratio naive/aqstream median error: {}.",
        m(quantile(&paired, 0.5), " m"),
        m(quantile(&paired, 0.9), " m"),
        match (quantile(&paired, 0.5), sys.median_error_m) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.1}×", a / b),
            _ => "–".into(),
        }
    );
    let _ = writeln!(
        s,
        "Extra alerts for an already-alerted source (split episodes): {}.",
        sys.split_alerts
    );
    let lat: Vec<f64> = runs
        .iter()
        .flat_map(|r| r.alert_latency_s.iter().copied())
        .collect();
    let _ = writeln!(
        s,
        "Detector time per closing watermark that emitted alerts: median {}, p99 {} (n = {}).\n",
        quantile(&lat, 0.5).map_or("–".into(), |v| format!("{:.1} ms", v * 1000.0)),
        quantile(&lat, 0.99).map_or("–".into(), |v| format!("{:.1} ms", v * 1000.0)),
        lat.len()
    );
    s.push_str("| scenario | runs | detected | median error | p90 error | median delay | false alarms | type right |\n");
    s.push_str("|---|---|---|---|---|---|---|---|\n");
    let mut names: Vec<&str> = runs.iter().map(|r| r.scenario.as_str()).collect();
    names.dedup();
    for name in names {
        let rs: Vec<RunResult> = runs
            .iter()
            .filter(|r| r.scenario == name)
            .cloned()
            .collect();
        let f = system(&rs);
        let _ = writeln!(
            s,
            "| {name} | {} | {}/{} | {} | {} | {} | {} | {} |",
            rs.len(),
            f.detected,
            f.qualifying,
            m(f.median_error_m, " m"),
            m(f.p90_error_m, " m"),
            f.median_delay_min
                .map_or("–".into(), |d| format!("{d:.1} min")),
            f.false_alarms,
            pct(f.type_accuracy)
        );
    }
    s
}
