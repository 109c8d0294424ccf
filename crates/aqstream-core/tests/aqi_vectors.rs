//! Checks `aqstream_core::aqi` against the vectors in `testdata/aqi/`, which
//! `testdata/aqi/derive.py` computes with exact arithmetic from the standards' tables.

use std::path::PathBuf;

use aqstream_core::aqi::{AqiError, Period, Pollutant, cn, nowcast, us};

fn read_rows(name: &str, columns: usize) -> Vec<(usize, Vec<String>)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/aqi")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines().enumerate();
    let (_, header) = lines.next().expect("empty CSV");
    assert_eq!(
        header.split(',').count(),
        columns,
        "{name}: header {header:?}"
    );
    lines
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| {
            let fields: Vec<String> = l.split(',').map(str::to_owned).collect();
            assert_eq!(fields.len(), columns, "{name}:{}: {l:?}", i + 1);
            (i + 1, fields)
        })
        .collect()
}

/// The CSV spelling of an outcome: the index, or an error name.
fn outcome(r: Result<u32, AqiError>) -> String {
    match r {
        Ok(v) => v.to_string(),
        Err(e) => error_name(&e),
    }
}

fn error_name(e: &AqiError) -> String {
    match e {
        AqiError::UnsupportedPeriod { .. } => "unsupported_period".into(),
        AqiError::NotFinite => "not_finite".into(),
        AqiError::Negative(_) => "negative".into(),
        AqiError::UseOtherPeriod { period, .. } => format!("use_other_period:{period}"),
        AqiError::BelowTable { .. } => "below_table".into(),
        AqiError::NowCastUnsupported(_) => "unsupported_pollutant".into(),
        other => format!("unexpected:{other}"),
    }
}

fn pollutant(s: &str) -> Pollutant {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

fn period(s: &str) -> Option<Period> {
    (!s.is_empty()).then(|| s.parse().unwrap_or_else(|e| panic!("{e}")))
}

fn conc(s: &str) -> f64 {
    s.parse()
        .unwrap_or_else(|e| panic!("concentration {s:?}: {e}"))
}

fn report(name: &str, total: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{name}: {} of {total} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn cn_iaqi_vectors() {
    let rows = read_rows("cn_iaqi.csv", 4);
    assert!(rows.len() > 300, "cn_iaqi.csv has only {} rows", rows.len());
    let mut failures = Vec::new();
    for (line, f) in &rows {
        let p = period(&f[1]).expect("CN rows always name a period");
        let got = outcome(cn::iaqi(pollutant(&f[0]), p, conc(&f[2])));
        if got != f[3] {
            failures.push(format!("line {line}: {f:?} got {got}"));
        }
    }
    report("cn_iaqi.csv", rows.len(), &failures);
}

#[test]
fn us_aqi_vectors() {
    let rows = read_rows("us_aqi.csv", 4);
    assert!(rows.len() > 250, "us_aqi.csv has only {} rows", rows.len());
    let mut failures = Vec::new();
    for (line, f) in &rows {
        let got = outcome(us::aqi_native(pollutant(&f[0]), period(&f[1]), conc(&f[2])));
        if got != f[3] {
            failures.push(format!("line {line}: {f:?} got {got}"));
        }
    }
    report("us_aqi.csv", rows.len(), &failures);
}

/// For PM the aqstream unit is the EPA's native unit, so `us::aqi` must reproduce every
/// PM row of the native vectors exactly.
#[test]
fn us_aqi_in_aqstream_units_matches_native_for_pm() {
    let rows = read_rows("us_aqi.csv", 4);
    let mut checked = 0;
    for (line, f) in &rows {
        let p = pollutant(&f[0]);
        if !matches!(p, Pollutant::Pm25 | Pollutant::Pm10) {
            continue;
        }
        let got = outcome(us::aqi(p, period(&f[1]), conc(&f[2])));
        assert_eq!(got, f[3], "line {line}: {f:?}");
        checked += 1;
    }
    assert!(checked > 80);
}

#[test]
fn nowcast_vectors() {
    let rows = read_rows("nowcast.csv", 3);
    assert!(rows.len() >= 20, "nowcast.csv has only {} rows", rows.len());
    let mut failures = Vec::new();
    for (line, f) in &rows {
        let hourly: Vec<Option<f64>> = f[1]
            .split(';')
            .map(|s| (!s.is_empty()).then(|| conc(s)))
            .collect();
        let got = nowcast::nowcast(pollutant(&f[0]), &hourly);
        let ok = match (&got, f[2].as_str()) {
            (Ok(None), "invalid") => true,
            (Ok(Some(v)), want) => want
                .parse::<f64>()
                .is_ok_and(|w| (v - w).abs() < 1e-9 * w.abs().max(1.0)),
            (Err(e), want) => error_name(e) == want,
            _ => false,
        };
        if !ok {
            failures.push(format!("line {line}: {f:?} got {got:?}"));
        }
    }
    report("nowcast.csv", rows.len(), &failures);
}

/// The same vectors through `HourlyHistory`: push the known hours (skipping missing ones)
/// and ask for the NowCast at the most recent hour.
#[test]
fn nowcast_vectors_through_hourly_history() {
    const HOUR0: i64 = 1_717_200_000; // 2024-06-01T00:00:00Z
    let rows = read_rows("nowcast.csv", 3);
    let mut checked = 0;
    for (line, f) in &rows {
        let p = pollutant(&f[0]);
        let values: Vec<&str> = f[1].split(';').collect();
        if values.len() > nowcast::HOURS || f[2].contains('_') || f[2] == "negative" {
            continue; // errors and the >12-hour cases are covered by `nowcast_vectors`
        }
        let now = HOUR0 + 3600 * 20;
        let mut h = nowcast::HourlyHistory::new();
        for (i, s) in values.iter().enumerate().rev() {
            if !s.is_empty() {
                assert!(h.push(now - 3600 * i as i64, conc(s)), "line {line}");
            }
        }
        let direct: Vec<Option<f64>> = values
            .iter()
            .map(|s| (!s.is_empty()).then(|| conc(s)))
            .collect();
        assert_eq!(
            h.nowcast(p, now),
            nowcast::nowcast(p, &direct),
            "line {line}: {f:?}"
        );
        checked += 1;
    }
    assert!(checked >= 15);
}
