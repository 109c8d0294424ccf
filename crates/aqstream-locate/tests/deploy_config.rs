//! The Prometheus rules and the Alertmanager routing shipped in `deploy/`, checked with
//! the real tools (Debian packages `prometheus` and `prometheus-alertmanager`), and kept
//! consistent with the gauges this crate exports.

use aqstream_core::alert::{Alert, AlertState, SourceEstimate, SourceType};
use aqstream_locate::metrics::AlertGauges;
use aqstream_runtime::MetricsRegistry;
use std::path::PathBuf;
use std::process::Command;

fn deploy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success());
    assert!(
        matches!(found, Ok(true)),
        "`{name}` is not installed: run scripts/install-deps (Debian packages prometheus and prometheus-alertmanager)"
    );
    Command::new(name)
}

fn run(mut cmd: Command) -> String {
    let out = cmd.output().expect("tool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn promtool_unit_tests_of_the_alerting_rules_pass() {
    let d = deploy().join("prometheus");
    let mut check = tool("promtool");
    check
        .current_dir(&d)
        .args(["check", "rules", "rules/aqstream.yml"]);
    assert!(run(check).contains("SUCCESS: 3 rules found"));
    let mut test = tool("promtool");
    test.current_dir(&d)
        .args(["test", "rules", "tests/aqstream_test.yml"]);
    assert!(run(test).contains("SUCCESS"));
    let mut config = tool("promtool");
    config
        .current_dir(&d)
        .args(["check", "config", "prometheus.yml"]);
    run(config);
}

#[test]
fn alertmanager_config_is_valid_and_routes_by_district_and_team() {
    let file = deploy().join("alertmanager/alertmanager.yml");
    let mut check = tool("amtool");
    check.arg("check-config").arg(&file);
    assert!(run(check).contains("SUCCESS"));
    for (district, receiver) in [
        ("Tongzhou-Center", "enforcement-tongzhou-center"),
        ("Tongzhou-North", "enforcement-tongzhou-north"),
        ("Tongzhou-South", "enforcement-tongzhou-south"),
        ("Tongzhou-East", "enforcement-tongzhou-east"),
        ("Tongzhou-West", "enforcement-tongzhou-west"),
        ("Somewhere-Else", "enforcement-city"),
    ] {
        let mut t = tool("amtool");
        t.args(["config", "routes", "test", "--config.file"])
            .arg(&file)
            .arg("alertname=PollutionSourceDetected")
            .arg(format!("district={district}"));
        assert_eq!(
            run(t)
                .lines()
                .find(|l| l.starts_with("enforcement"))
                .unwrap_or(""),
            receiver,
            "{district}"
        );
    }
    // The pipeline's own alerts go to operations, not to an enforcement team.
    for alert in ["StreamPartitionsUnowned", "CityStageNotRunning"] {
        let mut t = tool("amtool");
        t.args(["config", "routes", "test", "--config.file"])
            .arg(&file)
            .arg(format!("alertname={alert}"))
            .arg("team=operations");
        let out = run(t);
        assert!(
            out.lines().any(|l| l.trim() == "operations") && !out.contains("enforcement"),
            "{alert}: {out}"
        );
    }
}

#[test]
fn the_rules_use_the_metrics_the_gauges_export() {
    let rules = std::fs::read_to_string(deploy().join("prometheus/rules/aqstream.yml")).unwrap();
    let reg = MetricsRegistry::new();
    let mut g = AlertGauges::register(&reg, 60_000);
    g.apply(&Alert {
        alert_id: "a-20261122-0001".into(),
        state: AlertState::Firing,
        pollutant: "pm25".into(),
        district: "Tongzhou-Center".into(),
        started_at: 0,
        detected_at: 0,
        resolved_at: None,
        source: Some(SourceEstimate {
            lat: 39.9,
            lon: 116.6,
            uncertainty_m: 100.0,
        }),
        source_type: SourceType::Dust,
        confidence: 0.5,
        peak_ugm3: 100.0,
        sensors: vec!["TZ-0001".into()],
        wind: None,
    });
    let exposition = reg.render();
    let used: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("aq_alert_"))
        .collect();
    assert!(used.len() >= 6, "{used:?}");
    for name in used {
        assert!(
            exposition.contains(&format!("\n{name}{{")),
            "rules use {name}, which the gauges do not export:\n{exposition}"
        );
    }
    for label in ["alert_id", "pollutant", "district", "source_type"] {
        assert!(rules.contains(&format!("$labels.{label}")), "{label}");
    }
}
