//! Append throughput of the embedded log with 1, 64 and 1024 sends in flight (group
//! commit), next to baselines measured in the same run on the same disk:
//!
//! * `raw` — a plain file receiving the same bytes with one `write` + `fdatasync` per
//!   batch of as many records as there are sends in flight, from one thread: the best
//!   the disk allows for that acknowledgement pattern;
//! * `raw hand-off` — the same, but a dedicated thread writes and syncs while the caller
//!   waits on a channel: the log's thread structure without its work (framing, CRC,
//!   offsets, tokio). On a virtual machine the flush latency depends on such details:
//!   an `fdatasync` that leaves every vCPU idle can wait for the hypervisor's next tick
//!   (≈ 4 ms here) although the device answers in ≈ 0.1 ms.
//!
//! Records are 200-byte payloads with a 7-byte key (244 bytes framed). Each side of a
//! case runs for `AQSTREAM_BENCH_SECS` seconds (default 6) in alternating slices, so all
//! sides see the same disk conditions. `AQSTREAM_BENCH_CASES=1x1,1024x3` picks cases
//! (sends in flight x partitions). Files go to a temporary directory under Cargo's
//! target directory (on the disk, not a tmpfs), or `AQSTREAM_BENCH_DIR`.
//!
//! Run with `cargo bench -p aqstream-connect --bench embedded_log`.

#![allow(clippy::print_stdout, missing_docs)]

use aqstream_connect::embedded::{EmbeddedLog, EmbeddedLogConfig, WriteStats};
use aqstream_connect::log::{LogAdmin, LogSink, OutRecord};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const PAYLOAD: usize = 200;
/// Length + CRC + fixed body fields + 7-byte key + payload.
const FRAME: usize = 8 + 29 + 7 + PAYLOAD;
/// Alternating slices per case.
const ROUNDS: u32 = 6;

/// Records and per-acknowledgement latencies of one side of a case.
#[derive(Default)]
struct Outcome {
    records: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&mut self, q: f64) -> Duration {
        self.latencies.sort_unstable();
        match self.latencies.len() {
            0 => Duration::ZERO,
            n => self.latencies[((n - 1) as f64 * q).round() as usize],
        }
    }
}

fn bench_dir() -> PathBuf {
    std::env::var_os("AQSTREAM_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
}

/// `in_flight` tasks append to the log for `slice`, each awaiting its acknowledgement
/// before the next send.
async fn log_slice(log: &Arc<EmbeddedLog>, in_flight: usize, slice: Duration, out: &mut Outcome) {
    let before: i64 = log.end_offsets("bench").expect("ends").iter().sum();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..in_flight {
        let sink = log.sink();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("TZ-{:04}", t % 10_000);
            let payload = vec![b'x'; PAYLOAD];
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                sink.send(OutRecord {
                    topic: "bench",
                    key: key.as_bytes(),
                    payload: &payload,
                    headers: &[],
                })
                .await
                .expect("send");
                lat.push(t0.elapsed());
            }
            lat
        }));
    }
    tokio::time::sleep(slice).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = 0;
    for t in tasks {
        let lat = t.await.expect("task");
        acked += lat.len();
        out.latencies.extend(lat);
    }
    out.elapsed += started.elapsed();
    let after: i64 = log.end_offsets("bench").expect("ends").iter().sum();
    assert_eq!(
        (after - before) as usize,
        acked,
        "every acknowledged record is in the log"
    );
    out.records += acked as u64;
}

/// The same bytes appended to a plain file for `slice`, one `write` + `fdatasync` per
/// batch of `batch` records.
fn raw_slice(mut f: &File, batch: usize, slice: Duration, out: &mut Outcome) {
    let buf = vec![b'x'; batch * FRAME];
    let started = Instant::now();
    while started.elapsed() < slice {
        let t0 = Instant::now();
        f.write_all(&buf).expect("write");
        f.sync_data().expect("fdatasync");
        out.latencies.push(t0.elapsed());
        out.records += batch as u64;
    }
    out.elapsed += started.elapsed();
}

/// Like [`raw_slice`], but a dedicated thread writes and syncs while the caller waits
/// on a channel.
fn raw_handoff_slice(f: &File, batch: usize, slice: Duration, out: &mut Outcome) {
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let buf = vec![b'x'; batch * FRAME];
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut f = f;
            while go_rx.recv().is_ok() {
                f.write_all(&buf).expect("write");
                f.sync_data().expect("fdatasync");
                done_tx.send(()).expect("done");
            }
        });
        let started = Instant::now();
        while started.elapsed() < slice {
            let t0 = Instant::now();
            go_tx.send(()).expect("go");
            done_rx.recv().expect("done");
            out.latencies.push(t0.elapsed());
            out.records += batch as u64;
        }
        out.elapsed += started.elapsed();
        drop(go_tx);
    });
}

struct CaseResult {
    log: Outcome,
    raw: Outcome,
    handoff: Outcome,
    stats: WriteStats,
}

async fn case(dir: &Path, in_flight: usize, partitions: i32, secs: Duration) -> CaseResult {
    let log = EmbeddedLog::open(EmbeddedLogConfig::in_dir(dir.join("log")))
        .await
        .expect("open");
    log.ensure_topics(&[("bench", partitions)])
        .await
        .expect("topic");
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("raw.bin"))
        .expect("raw file");
    let slice = secs / ROUNDS;
    let mut r = CaseResult {
        log: Outcome::default(),
        raw: Outcome::default(),
        handoff: Outcome::default(),
        stats: WriteStats::default(),
    };
    for _ in 0..ROUNDS {
        raw_slice(&file, in_flight, slice, &mut r.raw);
        raw_handoff_slice(&file, in_flight, slice, &mut r.handoff);
        log_slice(&log, in_flight, slice, &mut r.log).await;
    }
    r.stats = log.write_stats();
    log.close().await.expect("close");
    r
}

fn main() {
    // `cargo bench` passes `--bench`; a `cargo test` run of bench targets passes nothing
    // and must stay fast.
    if !std::env::args().any(|a| a == "--bench") {
        println!("embedded_log bench: run with `cargo bench` (skipped under `cargo test`)");
        return;
    }
    let secs = Duration::from_secs(
        std::env::var("AQSTREAM_BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(6),
    );
    let cases: Vec<(usize, i32)> = match std::env::var("AQSTREAM_BENCH_CASES") {
        Ok(list) => list
            .split(',')
            .filter_map(|c| {
                let (a, b) = c.split_once('x')?;
                Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
            })
            .collect(),
        Err(_) => vec![(1, 1), (64, 1), (1024, 1), (64, 3), (1024, 3)],
    };
    let root = bench_dir();
    std::fs::create_dir_all(&root).expect("bench dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "embedded log appends: {PAYLOAD}-byte payloads ({FRAME} bytes framed), {secs:?} per \
         side in {ROUNDS} alternating slices, in {}",
        root.display()
    );
    println!(
        "| in flight | partitions | log appends/s | p50 | p99 | records/fsync | raw records/s \
         | raw p50 | raw hand-off records/s | hand-off p50 | log / raw | log / hand-off |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (in_flight, partitions) in cases {
        let dir = tempfile::tempdir_in(&root).expect("temp dir");
        let mut r = rt.block_on(case(dir.path(), in_flight, partitions, secs));
        println!(
            "| {in_flight} | {partitions} | {:.0} | {:.2?} | {:.2?} | {:.1} | {:.0} | {:.2?} \
             | {:.0} | {:.2?} | {:.2}× | {:.2}× |",
            r.log.rate(),
            r.log.percentile(0.5),
            r.log.percentile(0.99),
            r.stats.appends as f64 / r.stats.syncs.max(1) as f64,
            r.raw.rate(),
            r.raw.percentile(0.5),
            r.handoff.rate(),
            r.handoff.percentile(0.5),
            r.log.rate() / r.raw.rate(),
            r.log.rate() / r.handoff.rate(),
        );
    }
}
