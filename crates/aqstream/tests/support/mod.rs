//! A small history and a running `aqstream serve` for the SQL surface tests.
//!
//! The history (two UTC days, 2026-11-22 and 2026-11-23) is built so that every answer
//! can be checked by hand:
//!
//! * `readings`: TZ-0001…TZ-0004, one row per minute. PM2.5 is `20 × n` for sensor
//!   TZ-000n, except TZ-0001 from 2026-11-23 08:00 to 09:59 (an episode at 150 µg/m³).
//!   Wind comes from `(minute of day × 7) mod 360` degrees at 2 m/s.
//! * `aggregates`: the hourly per-sensor means of those readings (`window = '1h'`).
//! * `alerts`: one resolved alert for the episode.
//! * `sensors`: `testdata/sensors/tongzhou-small.csv`.

#![allow(dead_code)]

use aqstream_history::{HistoryStore, HistoryTable, HistoryWriter};
use base64::Engine as _;
use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2026-11-22T00:00:00Z in epoch milliseconds.
pub const DAY0_MS: i64 = 1_795_305_600_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
/// Minutes of history per sensor.
pub const MINUTES: i64 = 2 * 24 * 60;
/// The sensors with readings.
pub const SENSORS: [&str; 4] = ["TZ-0001", "TZ-0002", "TZ-0003", "TZ-0004"];
const DISTRICTS: [&str; 4] = [
    "Tongzhou-Center",
    "Tongzhou-Center",
    "Tongzhou-Center",
    "Tongzhou-North",
];
/// The episode of TZ-0001: [start, end) in epoch milliseconds, and its PM2.5.
pub const EPISODE: (i64, i64, f64) = (DAY0_MS + 32 * HOUR, DAY0_MS + 34 * HOUR, 150.0);

/// The password of the users of [`Server::start`].
pub const PASSWORD: &str = "correct horse 7";

pub fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

/// PM2.5 of sensor `i` (0-based) at minute `t` (epoch milliseconds).
pub fn pm25(i: usize, t: i64) -> f64 {
    if i == 0 && (EPISODE.0..EPISODE.1).contains(&t) {
        EPISODE.2
    } else {
        20.0 * (i as f64 + 1.0)
    }
}

fn ts(v: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from(v).with_timezone("UTC"))
}

fn strings(v: Vec<&str>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

fn readings() -> RecordBatch {
    let (mut id, mut gw, mut t, mut period, mut pm, mut wd, mut ws, mut mask) = (
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
    );
    for (i, s) in SENSORS.iter().enumerate() {
        for m in 0..MINUTES {
            let at = DAY0_MS + m * MINUTE;
            id.push(*s);
            gw.push("gw-tz-01");
            t.push(at);
            period.push(60);
            pm.push(pm25(i, at));
            wd.push(((m % 1440) * 7 % 360) as f64);
            ws.push(2.0);
            mask.push(0);
        }
    }
    RecordBatch::try_from_iter(vec![
        ("sensor_id", strings(id)),
        ("gateway_id", strings(gw)),
        ("ts", ts(t)),
        ("period_s", Arc::new(Int32Array::from(period)) as ArrayRef),
        ("pm25", Arc::new(Float64Array::from(pm)) as ArrayRef),
        ("wind_speed", Arc::new(Float64Array::from(ws)) as ArrayRef),
        ("wind_dir", Arc::new(Float64Array::from(wd)) as ArrayRef),
        ("invalid_mask", Arc::new(Int32Array::from(mask)) as ArrayRef),
    ])
    .unwrap()
}

/// Hourly mean PM2.5 of sensor `i` for the hour starting at `start`.
pub fn hourly_mean(i: usize, start: i64) -> f64 {
    (0..60).map(|m| pm25(i, start + m * MINUTE)).sum::<f64>() / 60.0
}

fn aggregates() -> RecordBatch {
    let (mut scope, mut key, mut sid, mut district, mut window) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut start, mut end, mut mean, mut count, mut valid, mut rev, mut emitted) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for (i, s) in SENSORS.iter().enumerate() {
        for h in 0..MINUTES / 60 {
            let at = DAY0_MS + h * HOUR;
            scope.push("sensor");
            key.push(*s);
            sid.push(*s);
            district.push(DISTRICTS[i]);
            window.push("1h");
            start.push(at);
            end.push(at + HOUR);
            mean.push(hourly_mean(i, at));
            count.push(60i64);
            valid.push(1.0);
            rev.push(0);
            emitted.push(at + HOUR);
        }
    }
    RecordBatch::try_from_iter(vec![
        ("scope", strings(scope)),
        ("key", strings(key)),
        ("sensor_id", strings(sid)),
        ("district", strings(district)),
        ("window", strings(window)),
        ("window_start", ts(start)),
        ("window_end", ts(end)),
        ("pm25_mean", Arc::new(Float64Array::from(mean)) as ArrayRef),
        ("pm25_count", Arc::new(Int64Array::from(count)) as ArrayRef),
        (
            "valid_fraction",
            Arc::new(Float64Array::from(valid)) as ArrayRef,
        ),
        ("revision", Arc::new(Int32Array::from(rev)) as ArrayRef),
        ("emitted_at", ts(emitted)),
    ])
    .unwrap()
}

fn alerts() -> RecordBatch {
    let f = |v: f64| Arc::new(Float64Array::from(vec![v])) as ArrayRef;
    RecordBatch::try_from_iter(vec![
        ("alert_id", strings(vec!["alert-0001"])),
        ("state", strings(vec!["resolved"])),
        ("pollutant", strings(vec!["pm25"])),
        ("district", strings(vec!["Tongzhou-Center"])),
        ("started_at", ts(vec![EPISODE.0])),
        ("detected_at", ts(vec![EPISODE.0 + 5 * MINUTE])),
        ("resolved_at", ts(vec![EPISODE.1 + 10 * MINUTE])),
        ("source_type", strings(vec!["construction"])),
        ("confidence", f(0.8)),
        ("peak_ugm3", f(EPISODE.2)),
        ("sensors", strings(vec!["TZ-0001"])),
    ])
    .unwrap()
}

/// Writes the history under `dir` with the project's writer (each day a file per
/// table and partition).
pub fn write_history(dir: &Path) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let w = HistoryWriter::new(HistoryStore::local(dir).unwrap());
        w.append(HistoryTable::Readings, &readings()).await.unwrap();
        w.append(HistoryTable::Aggregates, &aggregates())
            .await
            .unwrap();
        w.append(HistoryTable::Alerts, &alerts()).await.unwrap();
    });
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `aqstream serve`, killed when dropped.
pub struct Server {
    child: Child,
    /// PostgreSQL protocol port.
    pub pg_port: u16,
    /// HTTP port.
    pub http_port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the server over a fresh history with users `analyst` (all tables) and
    /// `grafana` (`aggregates` and `sensors` only), both with [`PASSWORD`], and the
    /// given `[sql.limits]` body.
    pub fn start(limits: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let history = dir.path().join("history");
        write_history(&history);
        let config = dir.path().join("aqstream.toml");
        std::fs::write(
            &config,
            format!(
                "[history]\nurl = {history:?}\n\n[sql]\nsensors = {sensors:?}\n\n\
                 [sql.limits]\n{limits}\n\n\
                 [[sql.users]]\nname = \"analyst\"\npassword = {PASSWORD:?}\ntables = [\"*\"]\n\n\
                 [[sql.users]]\nname = \"grafana\"\npassword = {PASSWORD:?}\n\
                 tables = [\"aggregates\", \"sensors\"]\n",
                history = history.display().to_string(),
                sensors = repo("testdata/sensors/tongzhou-small.csv")
                    .display()
                    .to_string(),
            ),
        )
        .unwrap();
        let (pg_port, http_port) = (free_port(), free_port());
        let log = dir.path().join("serve.log");
        let child = Command::new(env!("CARGO_BIN_EXE_aqstream"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--pg", &format!("127.0.0.1:{pg_port}")])
            .args(["--http", &format!("127.0.0.1:{http_port}")])
            .env("AQSTREAM_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            pg_port,
            http_port,
            log,
            _dir: dir,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("aqstream serve exited ({status}): {}", self.log_text());
            }
            let up = |p: u16| TcpStream::connect(("127.0.0.1", p)).is_ok();
            if up(self.pg_port) && up(self.http_port) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "aqstream serve did not listen within 60 s: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the server logged.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Is the process still running?
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Runs `psql` as `user` with `password`: `-X -A -t` (unaligned, tuples only, no
    /// psqlrc), `ON_ERROR_STOP`, each of `commands` as a `-c`.
    pub fn psql(&self, user: &str, password: &str, commands: &[&str]) -> PsqlOutput {
        self.psql_with(user, password, commands, true)
    }

    /// Like [`Server::psql`]; with `stop_on_error` false, psql goes on with the next
    /// command after an error (in the same connection).
    pub fn psql_with(
        &self,
        user: &str,
        password: &str,
        commands: &[&str],
        stop_on_error: bool,
    ) -> PsqlOutput {
        let psql = psql_program();
        let mut cmd = Command::new(psql);
        cmd.args(["-X", "-A", "-t", "-v"])
            .arg(format!("ON_ERROR_STOP={}", u8::from(stop_on_error)))
            .arg(format!(
                "host=127.0.0.1 port={} user={user} dbname=aqstream sslmode=disable \
                 connect_timeout=10",
                self.pg_port
            ))
            .env("PGPASSWORD", password)
            .env_remove("PGSERVICE")
            .env("PGCONNECT_TIMEOUT", "10");
        for c in commands {
            cmd.arg("-c").arg(c);
        }
        let out = cmd.output().unwrap();
        PsqlOutput {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `POST /sql` with HTTP Basic credentials and an `Accept` header.
    pub fn http_sql(&self, user: &str, password: &str, accept: &str, sql: &str) -> HttpResponse {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut s = TcpStream::connect(("127.0.0.1", self.http_port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(
            s,
            "POST /sql HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n\
             Accept: {accept}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{sql}",
            sql.len()
        )
        .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        parse_http(&raw)
    }
}

/// The result of a `psql` run.
#[derive(Debug)]
pub struct PsqlOutput {
    /// Exit status 0?
    pub ok: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl PsqlOutput {
    /// The output lines, trimmed.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect()
    }
}

/// `psql` from Debian's `postgresql-client`.
pub fn psql_program() -> &'static str {
    let p = "/usr/bin/psql";
    assert!(
        Path::new(p).exists(),
        "psql is missing: run scripts/install-deps (Debian package postgresql-client)"
    );
    p
}

/// An HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn parse_http(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..eol])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}
