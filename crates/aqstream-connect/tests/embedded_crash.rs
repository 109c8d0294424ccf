//! Durability of the embedded log under SIGKILL.
//!
//! The test runs this test binary again as a writer child (selected by an environment
//! variable): it appends from many concurrent tasks and prints every acknowledged
//! offset. The parent kills it with SIGKILL at a random moment, reopens the log and
//! checks that every acknowledged record is there, intact, that nothing is corrupt,
//! and that appending continues with the next offset. Three kill rounds on one log.

#![allow(clippy::print_stdout)]

use anyhow::{Context, Result, ensure};
use aqstream_connect::embedded::{EmbeddedLog, EmbeddedLogConfig};
use aqstream_connect::log::{LogAdmin, LogSink, OutRecord};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const CHILD_ENV: &str = "AQSTREAM_EMBEDDED_CRASH_CHILD_DIR";
const TEST_NAME: &str = "acknowledged_records_survive_sigkill";
const TOPIC: &str = "crash";
const WRITERS: usize = 24;

fn payload(task: usize, seq: u64) -> Vec<u8> {
    let mut p = format!("task={task};seq={seq};").into_bytes();
    let fill = (task as u8).wrapping_mul(37).wrapping_add(seq as u8);
    p.extend((0..150).map(|j| fill.wrapping_add(j as u8)));
    p
}

/// The child: append forever from `WRITERS` tasks, printing each acknowledgement.
fn run_child(dir: &Path, round: u64) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let log = EmbeddedLog::open(EmbeddedLogConfig::in_dir(dir)).await?;
        let mut tasks = Vec::new();
        for task in 0..WRITERS {
            let sink = log.sink();
            tasks.push(tokio::spawn(async move {
                let key = format!("round{round}-task{task}");
                for seq in 0.. {
                    let d = sink
                        .send(OutRecord {
                            topic: TOPIC,
                            key: key.as_bytes(),
                            payload: &payload(task, seq),
                            headers: &[("seq", seq.to_string().as_bytes())],
                        })
                        .await?;
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {} {} {round} {task} {seq}", d.partition, d.offset)?;
                    out.flush()?;
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        anyhow::Ok(())
    })
}

#[derive(Debug, Clone, Copy)]
struct Ack {
    partition: i32,
    offset: i64,
    round: u64,
    task: usize,
    seq: u64,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut f = line.strip_prefix("ack ")?.split(' ');
    Some(Ack {
        partition: f.next()?.parse().ok()?,
        offset: f.next()?.parse().ok()?,
        round: f.next()?.parse().ok()?,
        task: f.next()?.parse().ok()?,
        seq: f.next()?.parse().ok()?,
    })
}

/// Runs one child, kills it after `kill_after` of acknowledged appends; returns the
/// acknowledgements it printed completely.
fn run_and_kill(dir: &Path, round: u64, kill_after: Duration) -> Result<Vec<Ack>> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .env("AQSTREAM_EMBEDDED_CRASH_ROUND", round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("spawn the writer child")?;
    let stdout = child.stdout.take().context("child stdout")?;
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut acks = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                // A line cut by the kill has no newline: it was not fully acknowledged.
                Ok(_) if line.last() == Some(&b'\n') => {
                    if let Some(a) = parse_ack(std::str::from_utf8(&line).unwrap_or("").trim_end())
                    {
                        if acks.is_empty() {
                            let _ = tx.send(());
                        }
                        acks.push(a);
                    }
                }
                Ok(_) => break,
            }
        }
        acks
    });
    // Wait for the first acknowledgement, then let it run a random while.
    let first = rx.recv_timeout(Duration::from_secs(60));
    if first.is_ok() {
        std::thread::sleep(kill_after);
    }
    child.kill().context("SIGKILL the child")?;
    let status = child.wait()?;
    let acks = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))?;
    ensure!(
        first.is_ok(),
        "the writer child acknowledged nothing within 60 s ({status})"
    );
    ensure!(!status.success(), "the child exited by itself: {status}");
    Ok(acks)
}

/// A well-mixed pseudo-random number from `x` (SplitMix64's finalizer).
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn acknowledged_records_survive_sigkill() -> Result<()> {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        let round = std::env::var("AQSTREAM_EMBEDDED_CRASH_ROUND")?.parse()?;
        return run_child(Path::new(&dir), round);
    }
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let log = EmbeddedLog::open(EmbeddedLogConfig::in_dir(dir.path())).await?;
        log.ensure_topics(&[(TOPIC, 3)]).await?;
        log.close().await?;
        anyhow::Ok(())
    })?;

    // AQSTREAM_CRASH_SEED=<seed> replays the kill timing of a failed run.
    let seed = match std::env::var("AQSTREAM_CRASH_SEED") {
        Ok(s) => s.parse()?,
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH)?.subsec_nanos() as u64,
    };
    let mut all_acks: Vec<Ack> = Vec::new();
    for round in 0..3u64 {
        let kill_after = Duration::from_millis(50 + splitmix(seed ^ round) % 700);
        let started = Instant::now();
        let acks = run_and_kill(dir.path(), round, kill_after)?;
        println!(
            "round {round}: killed after {kill_after:?} ({:?} total), {} acknowledged appends",
            started.elapsed(),
            acks.len()
        );
        ensure!(
            !acks.is_empty(),
            "seed {seed} round {round}: nothing acknowledged"
        );
        all_acks.extend(acks);

        rt.block_on(async {
            let log = EmbeddedLog::open(EmbeddedLogConfig::in_dir(dir.path())).await?;
            let ends = log.end_offsets(TOPIC)?;
            // Every record of every partition is intact and dense (fetch checks CRCs
            // and offsets; a corrupt or partial record is an error).
            let mut stored = BTreeMap::new();
            for (p, &end) in ends.iter().enumerate() {
                let recs = log.fetch(TOPIC, p as i32, 0, usize::MAX).await?;
                ensure!(
                    recs.len() as i64 == end,
                    "partition {p}: {} records, end {end}",
                    recs.len()
                );
                for (i, r) in recs.into_iter().enumerate() {
                    ensure!(r.offset == i as i64);
                    stored.insert((p as i32, r.offset), r);
                }
            }
            // Every acknowledged record is where its acknowledgement said.
            for a in &all_acks {
                let r = stored.get(&(a.partition, a.offset)).with_context(|| {
                    format!("seed {seed}: acknowledged record {a:?} is missing (ends {ends:?})")
                })?;
                ensure!(
                    r.key.as_deref() == Some(format!("round{}-task{}", a.round, a.task).as_bytes())
                        && r.payload == payload(a.task, a.seq)
                        && r.header("seq") == Some(a.seq.to_string().as_bytes()),
                    "seed {seed}: record at {}/{} differs from its acknowledgement {a:?}",
                    a.partition,
                    a.offset
                );
            }
            // Appending continues with the next offset.
            let d = log
                .sink()
                .send(OutRecord {
                    topic: TOPIC,
                    key: b"after-crash",
                    payload: b"x",
                    headers: &[],
                })
                .await?;
            ensure!(
                d.offset == ends[d.partition as usize],
                "{d:?} after ends {ends:?}"
            );
            log.close().await?;
            anyhow::Ok(())
        })?;
    }
    Ok(())
}
