//! The `aqstream` binary as a user runs it.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aqstream"));
    c.env("AQSTREAM_LOG", "warn");
    c
}

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn run_with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn hj212_decode_the_real_capture() {
    let out = bin()
        .args(["hj212", "decode"])
        .arg(repo(
            "../shared/data/hj212_real_capture/hj212_real_capture.txt",
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let readings: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(readings.len(), 86);
    assert!(
        readings
            .iter()
            .all(|r| r["sensor_id"] == "LB4200001" && r["period_s"] == 0)
    );
    assert_eq!(
        readings[0]["ts"], "2021-01-07T06:00:00Z",
        "DataTime 14:00 CST is 06:00 UTC"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rejects: Vec<&str> = stderr.lines().collect();
    assert!(rejects.len() > 100);
    for r in &rejects {
        let (line, rest) = r.split_once(": ").unwrap();
        assert!(
            line.starts_with("line ") && line[5..].parse::<usize>().is_ok(),
            "{r}"
        );
        let reason = rest.split(':').next().unwrap();
        assert!(aqstream_core_reason(reason), "{r}");
    }
}

fn aqstream_core_reason(name: &str) -> bool {
    ["bad_frame", "bad_length", "bad_crc", "bad_encoding"].contains(&name)
}

#[test]
fn hj212_decode_the_sample_names_every_reject() {
    let out = bin()
        .args(["hj212", "decode"])
        .arg(repo("testdata/hj212/tongzhou-sample.hj212"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 40);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let reasons: Vec<&str> = stderr
        .lines()
        .map(|l| l.split(": ").nth(1).unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "bad_crc",
            "bad_length",
            "bad_length",
            "bad_value",
            "duplicate_field",
            "bad_frame"
        ]
    );
}

#[test]
fn hj212_encode_then_decode_from_stdin() {
    let input =
        br#"{"sensor_id":"TZ-0001","ts":"2026-11-22T08:03:00Z","period_s":60,"pm25":35.2,"co":0.8}
{"sensor_id":"TZ-0002","ts":"2026-11-22T09:00:00Z","period_s":3600,"pm10":80}
"#;
    let mut enc = bin();
    enc.args(["hj212", "encode", "--ack"]);
    let frames = run_with_stdin(enc, input);
    assert!(
        frames.status.success(),
        "{}",
        String::from_utf8_lossy(&frames.stderr)
    );
    let text = String::from_utf8(frames.stdout.clone()).unwrap();
    assert!(text.contains("CN=2051") && text.contains("CN=2061") && text.contains("Flag=5"));
    let mut dec = bin();
    dec.args(["hj212", "decode", "--gateway", "gw-tz-01", "-"]);
    let back = run_with_stdin(dec, &frames.stdout);
    let lines: Vec<serde_json::Value> = String::from_utf8(back.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["ts"], "2026-11-22T08:03:00Z");
    assert_eq!(lines[0]["pm25"], 35.2);
    assert_eq!(lines[0]["gateway_id"], "gw-tz-01");
    assert_eq!(lines[1]["period_s"], 3600);
    assert_eq!(lines[1]["ts"], "2026-11-22T09:00:00Z");
}

#[test]
fn hj212_decode_units_option() {
    // A deployment whose CO analysers report µg/m³.
    let mut enc = bin();
    enc.args(["hj212", "encode", "--unit", "co=ug/m3"]);
    let frames = run_with_stdin(
        enc,
        br#"{"sensor_id":"TZ-0001","ts":"2026-11-22T08:02:00Z","period_s":0,"co":0.968}"#,
    );
    assert!(frames.status.success());
    let encoded = String::from_utf8(frames.stdout).unwrap();
    assert!(encoded.contains("a21005-Rtd=968,"), "{encoded}");
    let mut dec = bin();
    dec.args(["hj212", "decode", "--unit", "co=ug/m3"]);
    let out = run_with_stdin(dec, encoded.as_bytes());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((v["co"].as_f64().unwrap() - 0.968).abs() < 1e-9);
    let bad = bin()
        .args(["hj212", "decode", "--unit", "pm25=ppb", "-"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("pm25"));
}

#[test]
fn sql_works_without_history() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["sql", "--history-dir"])
        .arg(tmp.path().join("nothing-here"))
        .arg("SELECT aqi_cn('pm25', 80, '24h') AS iaqi")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("| iaqi |") && text.contains("| 107  |"),
        "{text}"
    );

    let csv = bin()
        .current_dir(tmp.path())
        .args([
            "sql",
            "--format",
            "csv",
            "SELECT aqi_us('pm25', 35.5) AS us, aqi_category_us(101) AS cat",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(csv.stdout).unwrap(),
        "us,cat\n101,Unhealthy for Sensitive Groups\n"
    );

    let json = bin()
        .current_dir(tmp.path())
        .args(["sql", "--format", "json", "--sensors"])
        .arg(repo("testdata/sensors/tongzhou-small.csv"))
        .arg("SELECT count(*) AS n FROM sensors WHERE kind = 'lowcost'")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(json.stdout).unwrap().trim(), r#"{"n":9}"#);
}

#[test]
fn sql_errors_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(tmp.path())
        .args(["sql", "SELECT aqi_cn('pm2', 80, '24h')"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown pollutant"), "{err}");
    assert_eq!(
        err.matches("unknown pollutant").count(),
        1,
        "said once: {err}"
    );
    let out = bin()
        .current_dir(tmp.path())
        .args(["sql", "SELECT * FROM readings"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("readings"));
}
