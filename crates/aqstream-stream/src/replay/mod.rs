//! `replay`: the very same operators over a file of readings in arrival order, with
//! event time only, deterministically.
//!
//! The file is one partition: stage 1 runs over it record by record, stage 2 runs
//! in-process on stage 1's output, and at the end of input every window is flushed.
//! History epochs are cut every `replay_epoch_readings` accepted readings, so file
//! names and contents are the same on every run. A reader thread decodes the input
//! ahead of the operators (in order).

use crate::archive::Archive;
use crate::config::StreamConfig;
use crate::detect::Detect;
use crate::directory::SensorDirectory;
use crate::error::{Result, StreamError};
use crate::history::{EpochFiles, ParquetArchive, publish, write_epoch};
use crate::plan::SegmentPlan;
use crate::stage1::{PartitionOperator, Stage1Output};
use crate::stage2::{CityOperator, CityOutput};
use aqstream_core::Reading;
use aqstream_core::hj212::{Hj212Codec, UnitTable};
use aqstream_core::json::{DecodeMode, decode_payload};
use aqstream_core::registry::SensorRegistry;
use aqstream_core::validate::{ValidationPolicy, apply_quality_flags, check_ranges};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

/// The input format of a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// JSON lines: one reading object (or an array of them) per line, gateway or
    /// canonical form.
    #[default]
    Json,
    /// An HJ 212 capture: one frame per line.
    Hj212,
}

impl std::str::FromStr for InputFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "json" => Ok(InputFormat::Json),
            "hj212" => Ok(InputFormat::Hj212),
            o => Err(format!("unknown format `{o}` (expected json or hj212)")),
        }
    }
}

/// Options of a replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// Input format.
    pub format: InputFormat,
    /// Where the Parquet history goes (`None`: a temporary directory, removed).
    pub history_dir: Option<PathBuf>,
    /// Stream configuration.
    pub config: StreamConfig,
}

/// Counts of a finished replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Input lines read.
    pub lines: u64,
    /// Readings decoded.
    pub readings: u64,
    /// Lines or readings refused (bad syntax, unknown sensor, out of range).
    pub rejected: u64,
    /// Readings accepted into the history (deduplicated).
    pub accepted: u64,
    /// Readings later than the allowed lateness.
    pub late: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Sensor aggregate rows emitted.
    pub sensor_rows: u64,
    /// District aggregate rows emitted.
    pub district_rows: u64,
    /// Health changes.
    pub health_events: u64,
    /// Alert changes written.
    pub alerts: u64,
    /// History epochs written.
    pub epochs: u64,
}

/// Decoded input, in order.
enum Item {
    Readings(Vec<Reading>, u64, u64),
    Error(StreamError),
}

/// Runs a replay of `input` (read to its end) and writes alerts as JSON lines to
/// `alerts_out`.
pub fn replay(
    registry: Arc<SensorRegistry>,
    input: Box<dyn Read + Send>,
    alerts_out: &mut dyn Write,
    detector: Box<dyn Detect>,
    opts: &ReplayOptions,
) -> Result<ReplaySummary> {
    opts.config.validate().map_err(StreamError::Invalid)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| StreamError::io("tokio runtime", e))?;
    let tmp_history;
    let history: &Path = match &opts.history_dir {
        Some(d) => d,
        None => {
            tmp_history =
                tempfile::tempdir().map_err(|e| StreamError::io("temporary history", e))?;
            tmp_history.path()
        }
    };
    std::fs::create_dir_all(history).map_err(|e| StreamError::io(history, e))?;
    let state = tempfile::tempdir().map_err(|e| StreamError::io("temporary state", e))?;
    let archive: Arc<dyn Archive> = Arc::new(ParquetArchive::open(
        history,
        state.path(),
        rt.handle().clone(),
    )?);
    let cfg = Arc::new(opts.config.clone());
    let dir = Arc::new(SensorDirectory::new(Arc::clone(&registry)));
    let plan = Arc::new(SegmentPlan::new()?);
    let mut s1 = PartitionOperator::new(
        0,
        Arc::clone(&cfg),
        Arc::clone(&dir),
        plan,
        Arc::clone(&archive),
    );
    let mut s2 = CityOperator::new(Arc::clone(&cfg), Arc::clone(&dir), archive, detector, 1);
    let mut summary = ReplaySummary::default();
    let rx = spawn_reader(input, opts.format, Arc::clone(&registry));
    let mut o1 = Stage1Output::default();
    let mut o2 = CityOutput::default();
    let mut epoch = 0u64;
    let epoch_size = cfg.replay_epoch_readings;
    let mut write = |s1: &mut PartitionOperator,
                     s2: &mut CityOperator,
                     summary: &mut ReplaySummary|
     -> Result<()> {
        epoch += 1;
        write_both(history, state.path(), epoch, s1, s2)?;
        summary.epochs = epoch;
        Ok(())
    };
    for item in rx {
        let (readings, lines, rejected) = match item {
            Item::Readings(r, l, j) => (r, l, j),
            Item::Error(e) => return Err(e),
        };
        summary.lines += lines;
        summary.rejected += rejected;
        summary.readings += readings.len() as u64;
        for r in readings {
            s1.push_reading(r, &mut o1)?;
            if !o1.city.is_empty() {
                route(&mut o1, &mut s2, &mut o2, &mut summary, alerts_out)?;
            }
            if s1.epoch_len() >= epoch_size {
                write(&mut s1, &mut s2, &mut summary)?;
            }
        }
    }
    s1.flush(&mut o1)?;
    route(&mut o1, &mut s2, &mut o2, &mut summary, alerts_out)?;
    s2.flush(&mut o2)?;
    drain2(&mut o2, &mut summary, alerts_out)?;
    write(&mut s1, &mut s2, &mut summary)?;
    alerts_out
        .flush()
        .map_err(|e| StreamError::io("alerts output", e))?;
    drop(rt);
    Ok(summary)
}

fn route(
    o1: &mut Stage1Output,
    s2: &mut CityOperator,
    o2: &mut CityOutput,
    summary: &mut ReplaySummary,
    alerts_out: &mut dyn Write,
) -> Result<()> {
    for m in o1.city.drain(..) {
        s2.apply(&m, o2)?;
    }
    summary.accepted += o1.accepted;
    summary.late += o1.late;
    summary.duplicates += o1.duplicates;
    summary.sensor_rows += o1.rows.len() as u64;
    summary.health_events += o1.health.len() as u64;
    o1.rows.clear();
    o1.health.clear();
    o1.accepted = 0;
    o1.late = 0;
    o1.duplicates = 0;
    drain2(o2, summary, alerts_out)
}

fn drain2(
    o2: &mut CityOutput,
    summary: &mut ReplaySummary,
    alerts_out: &mut dyn Write,
) -> Result<()> {
    summary.district_rows += o2.rows.len() as u64;
    summary.health_events += o2.health.len() as u64;
    for a in o2.alerts.drain(..) {
        writeln!(alerts_out, "{}", a.to_json()).map_err(|e| StreamError::io("alerts output", e))?;
        summary.alerts += 1;
    }
    o2.rows.clear();
    o2.health.clear();
    Ok(())
}

/// Writes and publishes one epoch of both stages.
fn write_both(
    history: &Path,
    state: &Path,
    epoch: u64,
    s1: &mut PartitionOperator,
    s2: &mut CityOperator,
) -> Result<()> {
    let d1 = s1.take_epoch();
    let files1 = EpochFiles {
        readings: d1.readings,
        rows: d1.rows,
        health: d1.health,
        ..EpochFiles::default()
    };
    let d2 = s2.take_epoch();
    let files2 = EpochFiles {
        rows: d2.rows,
        health: d2.health,
        alerts: d2.alerts,
        ledger: d2.ledger,
        ..EpochFiles::default()
    };
    let mut staged = write_epoch(history, state, "p000", epoch, "replay", files1)?;
    staged.extend(write_epoch(
        history, state, "city", epoch, "replay", files2,
    )?);
    publish(&staged)
}

/// Reads and decodes the input on a thread of its own, in blocks of lines.
fn spawn_reader(
    input: Box<dyn Read + Send>,
    format: InputFormat,
    registry: Arc<SensorRegistry>,
) -> Receiver<Item> {
    let (tx, rx) = sync_channel::<Item>(8);
    std::thread::Builder::new()
        .name("replay-reader".into())
        .spawn(move || {
            let mut reader = BufReader::with_capacity(1 << 20, input);
            let codec = Hj212Codec::new(UnitTable::default());
            let policy = ValidationPolicy::default();
            let mut line = Vec::with_capacity(1024);
            let mut block = Vec::with_capacity(4096);
            let (mut lines, mut rejected) = (0u64, 0u64);
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Item::Error(StreamError::io("replay input", e)));
                        return;
                    }
                }
                lines += 1;
                let text = trim(&line);
                if text.is_empty() {
                    continue;
                }
                let mut accept = |r: Result<Reading, _>| match r {
                    Ok(mut r)
                        if registry.get(&r.sensor_id).is_some() && check_ranges(&r).is_ok() =>
                    {
                        apply_quality_flags(&mut r, &policy);
                        block.push(r);
                        0
                    }
                    _ => 1,
                };
                rejected += match format {
                    InputFormat::Json => match decode_payload(text, DecodeMode::Canonical) {
                        Ok(items) => items.into_iter().map(|it| accept(it.result)).sum(),
                        Err(_) => 1,
                    },
                    InputFormat::Hj212 => accept(codec.decode(text)),
                };
                if block.len() >= 4096 {
                    let b = std::mem::replace(&mut block, Vec::with_capacity(4096));
                    if tx.send(Item::Readings(b, lines, rejected)).is_err() {
                        return;
                    }
                    lines = 0;
                    rejected = 0;
                }
            }
            let _ = tx.send(Item::Readings(block, lines, rejected));
        })
        .expect("spawn the replay reader");
    rx
}

fn trim(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r' | b' ' | b'\t') {
        end -= 1;
    }
    &line[..end]
}
