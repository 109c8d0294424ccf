//! `aqstream replay` from the command line: a simulated city replayed twice gives the
//! same alerts and the same history files, byte for byte, and the history is
//! queryable with `aqstream sql --history-dir`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn aqstream() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aqstream"))
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every file under `dir` (relative path → bytes).
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn replay(sim: &Path, out: &Path, format: &str, readings: &str) -> serde_json::Value {
    let stdout = ok(&aqstream()
        .args(["replay", "--summary", "--format", format, "--sensors"])
        .arg(sim.join("sensors.csv"))
        .arg("--readings")
        .arg(sim.join(readings))
        .arg("--alerts-out")
        .arg(out.join("alerts.jsonl"))
        .arg("--history-dir")
        .arg(out.join("history"))
        .output()
        .unwrap());
    serde_json::from_str(stdout.trim()).unwrap()
}

/// `aqstream simulate` of `scenario` into `sim`.
fn simulate(sim: &Path, scenario: &str, seed: u32, minutes: u32, format: &str) {
    ok(&aqstream()
        .args(["simulate", "--scenario", scenario, "--format", format])
        .args(["--seed", &seed.to_string()])
        .args(["--duration-min", &minutes.to_string()])
        .arg("--out-dir")
        .arg(sim)
        .output()
        .unwrap());
}

/// `aqstream sql` over the history in `history`, as CSV.
fn sql(history: &Path, query: &str) -> String {
    ok(&aqstream()
        .args(["sql", "--format", "csv", "--history-dir"])
        .arg(history)
        .arg(query)
        .output()
        .unwrap())
}

#[test]
fn replay_is_deterministic_and_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    simulate(&sim, "steady", 5, 150, "json");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let sa = replay(&sim, &a, "json", "readings.jsonl");
    let sb = replay(&sim, &b, "json", "readings.jsonl");
    assert_eq!(sa, sb);
    assert!(sa["accepted"].as_u64().unwrap() > 100 * 140, "{sa}");
    let alerts = std::fs::read(a.join("alerts.jsonl")).unwrap();
    assert_eq!(alerts, std::fs::read(b.join("alerts.jsonl")).unwrap());
    assert!(
        sa["alerts"].as_u64().unwrap() > 0,
        "the steady scenario has episodes: {sa}"
    );
    for l in String::from_utf8(alerts).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(["firing", "updated", "resolved"].contains(&v["state"].as_str().unwrap()));
    }
    let (fa, fb) = (files(&a.join("history")), files(&b.join("history")));
    assert!(fa.keys().any(|k| k.contains("date=")), "{:?}", fa.keys());
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (k, v) in &fa {
        assert!(fb[k] == *v, "{k} differs between two replays");
    }

    // The history answers SQL.
    let q = |query: &str| sql(&a.join("history"), query);
    let n = q("SELECT count(*) AS n FROM readings");
    let n: u64 = n.lines().nth(1).unwrap().trim().parse().unwrap();
    assert_eq!(n, sa["accepted"].as_u64().unwrap());
    let rows =
        q("SELECT count(*) AS n FROM aggregates WHERE scope = 'district' AND \"window\" = '1h'");
    let rows: u64 = rows.lines().nth(1).unwrap().trim().parse().unwrap();
    assert!(rows > 0);
    let al = q("SELECT count(*) AS n FROM alerts");
    let al: u64 = al.lines().nth(1).unwrap().trim().parse().unwrap();
    assert_eq!(al, sa["alerts"].as_u64().unwrap());

    // HJ 212 input through the same operators.
    simulate(&sim, "steady", 5, 20, "hj212");
    let c = dir.path().join("c");
    let sc = replay(&sim, &c, "hj212", "readings.hj212");
    assert!(sc["accepted"].as_u64().unwrap() > 100 * 15, "{sc}");
}

/// Sensor QA findings land in the `sensor_health` table: every sensor the simulator
/// made emit 999-style sentinels is reported (and no healthy sensor is).
#[test]
fn sensor_health_is_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    simulate(&sim, "faulty", 11, 90, "json");
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sim.join("truth.json")).unwrap()).unwrap();
    let mut expected: Vec<String> = truth["faults"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "sentinel" && f["from_min"].as_f64().unwrap() < 80.0)
        .map(|f| f["sensor_id"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    assert!(
        !expected.is_empty(),
        "the faulty scenario has sentinel sensors"
    );
    let out = dir.path().join("out");
    replay(&sim, &out, "json", "readings.jsonl");
    let csv = sql(
        &out.join("history"),
        "SELECT DISTINCT sensor_id FROM sensor_health \
         WHERE problem = 'sentinel' AND state = 'raised' ORDER BY sensor_id",
    );
    let found: Vec<String> = csv.lines().skip(1).map(|l| l.trim().to_string()).collect();
    assert_eq!(found, expected, "sentinel sensors in sensor_health");
}

/// The first run of digits in `line` after `marker` (the bench prints numbers without
/// separators).
fn number_after(line: &str, marker: &str) -> u64 {
    let rest = &line[line
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} in {line:?}"))
        + marker.len()..];
    let digits: String = rest
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("a number after {marker:?} in {line:?}"))
}

#[test]
fn bench_replay_reports_both_duckdb_baselines_over_the_same_windows() {
    let dir = tempfile::tempdir().unwrap();
    // 100 sensors for 90 minutes: two hours and a day window per sensor.
    let out = ok(&aqstream()
        .args([
            "bench",
            "replay",
            "--readings",
            "9000",
            "--sensors",
            "100",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap());
    let line = |start: &str| {
        out.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line {start:?} in\n{out}"))
    };
    assert!(line("| aqstream replay |").ends_with('|'));
    let summary = line("peak RSS");
    assert_eq!(number_after(summary, "accepted"), 9000);
    let sensor_rows = number_after(summary, "sensor rows");
    let district_rows = number_after(summary, "district rows");
    // 90 one-minute, 18 five-minute, 2 hour and 1 day windows per sensor.
    assert_eq!(sensor_rows, 100 * (90 + 18 + 2 + 1));
    // DuckDB computed its windows on its own, from the same file: the 1-minute and
    // 1-hour sensor windows of the aggregates baseline, and every window of the
    // history baseline, sensor and district, are the replay's.
    let agg = line("| DuckDB | dedup + 1-min and 1-h sensor aggregates");
    assert_eq!(number_after(agg, "table ("), 9000);
    assert_eq!(number_after(agg, "9000 +"), 200);
    let hist = line("| DuckDB | history: 1m/5m/1h/24h sensor + district aggregates");
    assert_eq!(number_after(hist, "("), sensor_rows + district_rows);
    assert!(line("throughput, aqstream replay ÷ DuckDB aggregates:").ends_with('x'));
    assert!(line("throughput, aqstream replay ÷ DuckDB history:").ends_with('x'));
    // The bench leaves nothing behind in its directory.
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
