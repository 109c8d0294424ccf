//! `aqstream simulate` and `aqstream bench localize` from the command line.

use std::process::Command;

fn aqstream() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aqstream"))
}

#[test]
fn simulate_writes_sensors_readings_and_truth() {
    let dir = tempfile::tempdir().unwrap();
    let out = aqstream()
        .args([
            "simulate",
            "--scenario",
            "two-sources",
            "--seed",
            "2",
            "--duration-min",
            "70",
            "--out-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sensors = std::fs::read_to_string(dir.path().join("sensors.csv")).unwrap();
    assert!(sensors.starts_with("sensor_id,gateway_id,lat,lon,district,kind\n"));
    let readings = std::fs::read_to_string(dir.path().join("readings.jsonl")).unwrap();
    assert!(
        readings.lines().count() > 70 * 100,
        "{}",
        readings.lines().count()
    );
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("truth.json")).unwrap()).unwrap();
    assert_eq!(truth["scenario"], "two-sources");
    assert_eq!(truth["sources"].as_array().unwrap().len(), 6);
    // HJ 212 frames instead of JSON.
    let out = aqstream()
        .args([
            "simulate",
            "--scenario",
            "steady",
            "--duration-min",
            "5",
            "--format",
            "hj212",
            "--out-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let frames = std::fs::read_to_string(dir.path().join("readings.hj212")).unwrap();
    assert!(frames.lines().all(|l| l.starts_with("##")));
    // Nothing to do is an error, not silence.
    assert!(
        !aqstream()
            .args(["simulate"])
            .output()
            .unwrap()
            .status
            .success()
    );
}

#[test]
fn bench_localize_prints_the_system_and_naive_table() {
    let out = aqstream()
        .args([
            "bench",
            "localize",
            "--scenarios",
            "short-episodes",
            "--seeds",
            "1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("| aqstream |") && table.contains("| naive: highest sensor |"),
        "{table}"
    );
    assert!(table.contains("| short-episodes | 1 |"), "{table}");
}
