//! Real brokers for tests and benchmarks (feature `testkit`): Mosquitto and Tansu
//! (a Kafka-protocol broker) started on free local ports in temporary directories and
//! killed when dropped. A missing program fails loudly with the command that installs
//! it; nothing is skipped.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free local TCP port (bound once, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

/// Finds an external program: `$ENV_VAR`, then `candidates`, then `PATH`. Panics with
/// the install hint when it is missing.
pub fn require(program: &str, env_var: &str, candidates: &[&str]) -> PathBuf {
    if let Ok(p) = std::env::var(env_var) {
        return PathBuf::from(p);
    }
    for c in candidates {
        if Path::new(c).is_file() {
            return PathBuf::from(c);
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(program);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "`{program}` is needed by this test but was not found (set {env_var} or run scripts/install-deps)"
    );
}

/// Waits until something accepts TCP connections on `port`.
pub fn wait_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A child process killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct ChildGuard(pub Option<Child>);

impl ChildGuard {
    /// Kills the process now (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The process id, while running.
    pub fn id(&self) -> Option<u32> {
        self.0.as_ref().map(Child::id)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Mosquitto broker.
#[derive(Debug)]
pub struct Mosquitto {
    child: ChildGuard,
    port: u16,
    dir: tempfile::TempDir,
}

impl Mosquitto {
    /// The `mosquitto` binary (`MOSQUITTO_BIN` overrides).
    pub fn bin() -> PathBuf {
        require("mosquitto", "MOSQUITTO_BIN", &["/usr/sbin/mosquitto"])
    }

    /// Starts Mosquitto with `extra` configuration lines on a free port: anonymous
    /// access unless `extra` says otherwise, large queues, in-flight window 1000.
    pub fn start(extra: &str) -> Mosquitto {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let conf = dir.path().join("mosquitto.conf");
        let text = format!(
            "listener {port} 127.0.0.1\n\
             max_inflight_messages 1000\n\
             max_queued_messages 10000000\n\
             persistence false\n\
             log_dest stderr\n\
             log_type error\n\
             log_type warning\n\
             {}\n",
            if extra.contains("allow_anonymous") || extra.contains("password_file") {
                extra.to_string()
            } else {
                format!("allow_anonymous true\n{extra}")
            }
        );
        std::fs::write(&conf, text).expect("write mosquitto.conf");
        let child = Command::new(Self::bin())
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start mosquitto");
        let m = Mosquitto {
            child: ChildGuard(Some(child)),
            port,
            dir,
        };
        assert!(
            wait_port(port, Duration::from_secs(10)),
            "mosquitto did not start"
        );
        m
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The temporary directory of the broker.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the broker.
    pub fn kill(&mut self) {
        self.child.kill();
    }
}

/// Where a test broker's log goes: appended to the file named by the environment
/// variable `var` when it is set (for debugging a failing run), nowhere otherwise.
fn log_file(var: &str) -> Stdio {
    std::env::var_os(var)
        .and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        })
        .map_or_else(Stdio::null, Stdio::from)
}

/// A Tansu broker with SQLite storage (data and offsets survive restarts).
#[derive(Debug)]
pub struct Tansu {
    child: ChildGuard,
    port: u16,
    dir: tempfile::TempDir,
}

impl Tansu {
    /// The `tansu` binary (`TANSU_BIN` overrides; installed under `/opt/tansu`).
    pub fn bin() -> PathBuf {
        require("tansu", "TANSU_BIN", &["/opt/tansu/bin/tansu"])
    }

    /// Starts Tansu on a free port in a fresh directory. `AQ_TEST_TANSU_LOG=FILE` appends
    /// its log to FILE (level from `AQ_TEST_TANSU_LOG_LEVEL`, default `info`).
    pub fn start() -> Tansu {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut t = Tansu {
            child: ChildGuard(None),
            port: free_port(),
            dir,
        };
        t.restart();
        t
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(Self::bin())
            .arg("broker")
            .arg("--listener-url")
            .arg(&url)
            .arg("--advertised-listener-url")
            .arg(&url)
            .arg("--storage-engine")
            .arg("sqlite://tansu.db")
            .current_dir(self.dir.path())
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .env_remove("STORAGE_ENGINE")
            .stdin(Stdio::null())
            .stdout(log_file("AQ_TEST_TANSU_LOG"))
            .stderr(log_file("AQ_TEST_TANSU_LOG"))
            .env(
                "RUST_LOG",
                std::env::var("AQ_TEST_TANSU_LOG_LEVEL").unwrap_or_else(|_| "info".into()),
            )
            .spawn()
            .expect("start tansu");
        self.child = ChildGuard(Some(child));
    }

    /// Stops (SIGKILL) and starts again on the same port and storage.
    pub fn restart(&mut self) {
        self.child.kill();
        self.spawn();
        assert!(
            wait_port(self.port, Duration::from_secs(20)),
            "tansu did not start"
        );
    }

    /// Kills the broker (start it again with [`Tansu::restart`]).
    pub fn kill(&mut self) {
        self.child.kill();
    }

    /// `127.0.0.1:port`, for `bootstrap.servers`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates a topic with the `tansu topic create` command.
    pub fn create_topic(&self, name: &str, partitions: i32) {
        let out = Command::new(Self::bin())
            .args(["topic", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .arg("--partitions")
            .arg(partitions.to_string())
            .arg(name)
            .output()
            .expect("run tansu topic create");
        assert!(
            out.status.success(),
            "tansu topic create {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// An in-memory [`LogSink`](crate::log::LogSink) that can be switched "down" (every send
/// fails with a transient error until it is up again), to test delivery and
/// backpressure without a broker.
#[derive(Debug, Default)]
pub struct MemorySink {
    records: std::sync::Mutex<Vec<crate::log::Record>>,
    down: std::sync::atomic::AtomicBool,
    attempts: std::sync::atomic::AtomicU64,
}

impl MemorySink {
    /// An empty, working sink.
    pub fn new() -> MemorySink {
        MemorySink::default()
    }

    /// Makes every send fail (true) or succeed (false).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// Sends attempted so far (including failed ones).
    pub fn attempts(&self) -> u64 {
        self.attempts.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A copy of the records appended so far, in order.
    pub fn records(&self) -> Vec<crate::log::Record> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Records appended to `topic`.
    pub fn topic(&self, topic: &str) -> Vec<crate::log::Record> {
        self.records()
            .into_iter()
            .filter(|r| r.topic == topic)
            .collect()
    }
}

#[async_trait::async_trait]
impl crate::log::LogSink for MemorySink {
    async fn send(
        &self,
        record: crate::log::OutRecord<'_>,
    ) -> Result<crate::log::Delivery, crate::log::ConnectError> {
        use std::sync::atomic::Ordering;
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            return Err(crate::log::ConnectError::transient(
                "memory",
                "sink is down",
            ));
        }
        let mut v = self
            .records
            .lock()
            .map_err(|_| crate::log::ConnectError::permanent("memory", "poisoned"))?;
        let offset = v.len() as i64;
        v.push(crate::log::Record {
            topic: record.topic.to_string(),
            partition: 0,
            offset,
            key: Some(record.key.to_vec()),
            payload: record.payload.to_vec(),
            headers: record
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect(),
            timestamp_ms: None,
        });
        Ok(crate::log::Delivery {
            partition: 0,
            offset,
        })
    }

    async fn flush(&self, _timeout: Duration) -> Result<(), crate::log::ConnectError> {
        Ok(())
    }
}

/// `GET http://{addr}{path}` (HTTP/1.1, blocking); the body, if the server answered.
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// The value of the sample `name` (with its labels, e.g. `m{a="b"}`) in a Prometheus
/// text exposition.
pub fn metric_value(exposition: &str, name: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Sends SIGTERM to a process (through `kill`, which every Unix has).
pub fn sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}
