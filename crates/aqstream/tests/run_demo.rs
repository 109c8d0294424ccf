//! `aqstream run --demo`, the README's first command, end to end: one process brings
//! up a live simulated city; its readings reach the history, `/metrics`, SQL and both
//! pages (checked in headless Chromium, screenshots to `docs/screenshots/`); SIGTERM
//! stops it cleanly and a restart resumes from the same state without doubling
//! anything.

#[path = "../../aqstream-web/tests/common/cdp.rs"]
#[allow(dead_code)]
mod cdp;

use aqstream_connect::testkit::metric_value;
use cdp::Browser;
use serde_json::{Value, json};
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `aqstream run --demo`; killed on drop.
struct Run {
    child: Child,
    http: u16,
    log: PathBuf,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy)]
struct Ports {
    http: u16,
    pg: u16,
    mqtt: u16,
    hj212: u16,
}

fn start(dir: &Path, p: Ports, n: u32) -> Run {
    let log = dir.join(format!("run-{n}.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_aqstream"))
        .args(["run", "--demo", "--quiet", "--data-dir"])
        .arg(dir.join("data"))
        .args(["--http", &format!("127.0.0.1:{}", p.http)])
        .args(["--pg", &format!("127.0.0.1:{}", p.pg)])
        .args(["--mqtt-listen", &format!("127.0.0.1:{}", p.mqtt)])
        .args(["--hj212-listen", &format!("127.0.0.1:{}", p.hj212)])
        .env("AQSTREAM_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("aqstream runs");
    Run {
        child,
        http: p.http,
        log,
    }
}

impl Run {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn request(&self, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.http)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: localhost\r\nAccept: application/json\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let (head, body) = out.split_once("\r\n\r\n")?;
        let status = head.split(' ').nth(1)?.parse().ok()?;
        Some((status, body.to_string()))
    }

    fn get_json(&self, path: &str) -> Option<Value> {
        match self.request("GET", path, "")? {
            (200, b) => serde_json::from_str(&b).ok(),
            _ => None,
        }
    }

    /// Rows of a query through `POST /sql`, as JSON objects.
    fn sql(&self, q: &str) -> Vec<Value> {
        let (status, body) = self.request("POST", "/sql", q).expect("HTTP answers");
        assert_eq!(status, 200, "{q}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        match v {
            Value::Array(rows) => rows,
            Value::Object(ref o) if o.contains_key("rows") => {
                o["rows"].as_array().cloned().unwrap_or_default()
            }
            other => panic!("unexpected /sql answer {other}"),
        }
    }

    fn count(&self, q: &str) -> i64 {
        let rows = self.sql(q);
        let first = rows.first().unwrap_or_else(|| panic!("{q}: no row"));
        let v = first
            .as_object()
            .and_then(|o| o.values().next().cloned())
            .or_else(|| first.as_array().and_then(|a| a.first().cloned()))
            .unwrap();
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or_else(|| panic!("{q}: not a count: {v}"))
    }

    /// Waits for `cond` (polling), failing with the process log.
    fn wait(&mut self, what: &str, within: Duration, mut cond: impl FnMut(&Run) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "aqstream exited ({st}) while waiting for {what}:\n{}",
                    self.log_text()
                );
            }
            if cond(self) {
                return;
            }
            if Instant::now() > deadline {
                panic!("{what}: not within {within:?}\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn terminate(&mut self, within: Duration) -> ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "no clean exit within {within:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn sensors_with_values(city: &Value) -> Vec<Value> {
    city["sensors"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter(|x| x["pm25"].is_number())
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const DUPLICATE_AGGREGATES: &str = "SELECT count(*) AS n FROM (SELECT scope, key, \"window\", \
     window_start, revision FROM aggregates GROUP BY scope, key, \"window\", window_start, revision \
     HAVING count(*) > 1) d";

#[test]
fn the_demo_city_lives_on_both_pages_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports {
        http: free_port(),
        pg: free_port(),
        mqtt: free_port(),
        hj212: free_port(),
    };
    let mut run = start(dir.path(), ports, 1);

    // 1. the simulated terminals' readings reach the history and the pages' API
    run.wait(
        "the city API with live sensors",
        Duration::from_secs(240),
        |r| {
            r.get_json("/api/v1/city")
                .is_some_and(|c| sensors_with_values(&c).len() >= 50)
        },
    );
    // the backfilled hours are aggregated before the pages are looked at
    run.wait(
        "hourly district aggregates of the backfill",
        Duration::from_secs(180),
        |r| {
            r.count(
                "SELECT count(DISTINCT window_start) AS n FROM aggregates \
             WHERE scope = 'district' AND \"window\" = '1h'",
            ) >= 3
        },
    );
    let readings = run.count("SELECT count(*) AS n FROM readings");
    assert!(readings > 10_000, "{readings} readings after the backfill");
    let sensors = run.count("SELECT count(DISTINCT sensor_id) AS n FROM readings");
    let registered = run.count("SELECT count(*) AS n FROM sensors");
    assert!(
        sensors * 10 >= registered * 9,
        "{sensors} of {registered} sensors reporting"
    );
    let hours = run
        .count("SELECT count(*) AS n FROM aggregates WHERE scope = 'sensor' AND \"window\" = '1h'");
    assert!(hours > 0, "hourly sensor aggregates");
    assert_eq!(run.count(DUPLICATE_AGGREGATES), 0);
    // the demo's recurring episodes were detected and located
    let episodes = run.count("SELECT count(DISTINCT alert_id) AS n FROM alerts");
    assert!(episodes >= 1, "no alert after hours of simulated episodes");
    let located = run.count(
        "SELECT count(*) AS n FROM alerts WHERE source_lat IS NOT NULL AND source_lon IS NOT NULL",
    );
    assert!(located >= 1, "alerts carry a source location");
    let metrics = run.request("GET", "/metrics", "").unwrap().1;
    assert!(metrics.contains("aq_sensor_pm25_ugm3{"), "{metrics}");
    assert!(metrics.contains("aq_ingest_messages_total{transport=\"mqtt\"}"));
    // The pipeline alerts' inputs (deploy/prometheus/rules): one process owns every
    // partition and runs the city-wide stage.
    let gauge = |name: &str| metric_value(&metrics, name);
    let topic = gauge("aq_worker_topic_partitions");
    assert!(topic.is_some_and(|n| n >= 1.0), "{metrics}");
    assert_eq!(gauge("aq_worker_partitions"), topic, "{metrics}");
    assert_eq!(gauge("aq_worker_stage2_active"), Some(1.0), "{metrics}");

    // 2. the citizen page at a sensor of the city, and the officer page
    let city = run.get_json("/api/v1/city").unwrap();
    let here = sensors_with_values(&city)[0].clone();
    let (lat, lon) = (here["lat"].as_f64().unwrap(), here["lon"].as_f64().unwrap());
    let mut b = Browser::launch();
    let tab = b.tab(390, 844, true, "en-US");
    let origin = format!("http://127.0.0.1:{}", run.http);
    b.open(&tab, &format!("{origin}/?lang=en#at={lat},{lon}"));
    let aqi = b.eval(&tab, "document.getElementById('aqi-value').textContent");
    let aqi: u32 = aqi.as_str().unwrap().trim().parse().expect("an AQI number");
    assert!((1..=500).contains(&aqi), "AQI {aqi}");
    let pm = b.eval(&tab, "document.getElementById('pm25-value').textContent");
    let pm: f64 = pm.as_str().unwrap().trim().parse().expect("a PM2.5 number");
    assert!(pm > 0.0 && pm < 1000.0, "PM2.5 {pm}");
    assert_eq!(
        b.eval(
            &tab,
            "document.querySelectorAll('#map circle.sensor').length"
        ),
        json!(registered_pollutant_sensors(&city))
    );
    b.screenshot(
        &tab,
        390,
        true,
        &repo_root().join("docs/screenshots/demo-citizen.png"),
    );

    let tab = b.tab(1280, 900, false, "en-US");
    b.open(&tab, &format!("{origin}/officer?lang=en"));
    let rows = b.eval(&tab, "document.querySelectorAll('#history tr').length");
    assert_eq!(
        rows,
        json!(episodes),
        "one row per episode in the alert history"
    );
    let circles = b.eval(&tab, "document.querySelectorAll('circle.sensor').length");
    assert!(circles.as_u64().unwrap_or(0) >= 50, "{circles}");
    b.screenshot(
        &tab,
        1280,
        false,
        &repo_root().join("docs/screenshots/demo-officer.png"),
    );
    drop(b);

    // 3. SIGTERM: a clean exit; a restart resumes without doubling anything
    let st = run.terminate(Duration::from_secs(90));
    assert!(st.success(), "exit {st}:\n{}", run.log_text());
    let log = run.log_text();
    assert!(log.contains("stopped cleanly"), "{log}");
    drop(run);
    let mut again = start(dir.path(), ports, 2);
    again.wait("the restarted HTTP server", Duration::from_secs(60), |r| {
        r.request("GET", "/healthz", "")
            .is_some_and(|(s, _)| s == 200)
    });
    let after = again.count("SELECT count(*) AS n FROM readings");
    assert!(
        after >= readings,
        "{after} readings after the restart, {readings} before"
    );
    // the restarted simulation regenerates the same hours: the worker counts them once
    again.wait(
        "the restarted worker catching up",
        Duration::from_secs(120),
        |r| r.count("SELECT count(*) AS n FROM readings") > after,
    );
    assert_eq!(again.count(DUPLICATE_AGGREGATES), 0);
    let dup_readings = again.count(
        "SELECT count(*) AS n FROM (SELECT sensor_id, ts FROM readings GROUP BY sensor_id, ts \
         HAVING count(*) > 1) d",
    );
    assert_eq!(dup_readings, 0, "readings stored twice after the restart");
    let st = again.terminate(Duration::from_secs(90));
    assert!(st.success(), "exit {st}:\n{}", again.log_text());
}

/// Sensors the citizen map draws (those with a PM2.5 channel in the city API).
fn registered_pollutant_sensors(city: &Value) -> usize {
    city["sensors"].as_array().map_or(0, |s| s.len())
}
