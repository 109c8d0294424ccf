//! `replay`: the very same operators over a file of readings in arrival order, with
//! event time only, deterministically.
//!
//! The file is one partition: stage 1 runs over it record by record, stage 2 runs
//! on stage 1's output, and at the end of input every window is flushed. History
//! epochs are cut every `replay_epoch_readings` accepted readings, so file names and
//! contents are the same on every run.
//!
//! The chain is a pipeline of threads joined by bounded channels, each stage seeing
//! its input in the same order as a sequential run would:
//!
//! ```text
//! reader (decode) ──▶ stage 1 ──▶ stage 2 + alerts (calling thread) ──▶ history writer
//! ```
//!
//! Stage 1 hands its epoch to stage 2 in the stream of its messages, at the point
//! where it cut it; stage 2 cuts its own epoch there and passes both to the writer.
//! Reads of the history (late data) wait for the epochs their stage has cut
//! ([`fence`]), so the output is the same, byte for byte, as one thread's.

use crate::archive::{Archive, LedgerEntry};
use crate::city::Sequenced;
use crate::config::StreamConfig;
use crate::detect::Detect;
use crate::directory::SensorDirectory;
use crate::error::{Result, StreamError};
use crate::history::{EpochFiles, ParquetArchive, publish, write_epoch};
use crate::plan::SegmentPlan;
use crate::recycle::Recycler;
use crate::rows::AggregateRow;
use crate::stage1::{EpochData, PartitionOperator, Stage1Output};
use crate::stage2::{CityEpoch, CityOperator, CityOutput};
use aqstream_core::registry::SensorRegistry;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

mod fence;
mod reader;

use fence::{Fence, FencedArchive};
use reader::{Item, spawn_reader};

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

/// What stage 1 hands to stage 2, in order.
enum Stage1Msg {
    /// Messages for stage 2 and the counts of the readings that produced them.
    Batch(Vec<Sequenced>, ReplaySummary),
    /// Stage 1 cut an epoch here.
    Epoch(EpochData),
    /// End of input: stage 1 flushed; its last epoch.
    End(EpochData),
    /// Stage 1 failed.
    Error(StreamError),
}

/// One epoch of both stages, for the writer.
struct EpochJob {
    epoch: u64,
    stage1: EpochData,
    stage2: CityEpoch,
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
    let fence = Arc::new(Fence::default());
    let view1 = Arc::new(FencedArchive::new(Arc::clone(&archive), Arc::clone(&fence)));
    let view2 = Arc::new(FencedArchive::new(archive, Arc::clone(&fence)));
    let cfg = Arc::new(opts.config.clone());
    let dir = Arc::new(SensorDirectory::new(Arc::clone(&registry)));
    let plan = Arc::new(SegmentPlan::new()?);
    let mut s1 = PartitionOperator::new(
        0,
        Arc::clone(&cfg),
        Arc::clone(&dir),
        plan,
        Arc::clone(&view1) as Arc<dyn Archive>,
    );
    // Rows go to the history only (they are counted, not handed out).
    s1.set_row_output(false);
    let mut s2 = CityOperator::new(
        Arc::clone(&cfg),
        dir,
        Arc::clone(&view2) as Arc<dyn Archive>,
        detector,
        1,
    );
    // Two vectors of each: the epoch a stage fills and the one on its way to or in
    // the writer. The stages cannot run further ahead of the writer than that, so
    // epochs do not pile up in the queues between them (at 100 000 sensors each
    // holds ~60 MB).
    let spare = Spare {
        rows: Recycler::bounded(2),
        ledger: Recycler::bounded(2),
    };
    s1.set_row_recycler(spare.rows.clone());
    s2.set_ledger_recycler(spare.ledger.clone());
    let decoded = spawn_reader(input, opts.format, registry);
    let result = std::thread::scope(|scope| {
        let (tx1, rx1) = sync_channel::<Stage1Msg>(16);
        let (txw, rxw) = sync_channel::<EpochJob>(0);
        let epoch_size = cfg.replay_epoch_readings;
        let stage1 = std::thread::Builder::new()
            .name("replay-stage1".into())
            .spawn_scoped(scope, move || {
                run_stage1(s1, decoded, &tx1, &view1, epoch_size)
            })
            .map_err(|e| StreamError::io("replay stage 1 thread", e))?;
        let state_dir = state.path();
        let writer = std::thread::Builder::new()
            .name("replay-writer".into())
            .spawn_scoped(scope, || {
                run_writer(history, state_dir, rxw, &fence, &spare)
            })
            .map_err(|e| StreamError::io("replay writer thread", e))?;
        let summary = run_stage2(s2, rx1, txw, &view2, alerts_out);
        // Stage 2 returned: its channels are closed, so both threads end.
        let r1 = stage1.join();
        let rw = writer.join();
        // The writer's own error first: stage 2 only saw that it stopped.
        rw.map_err(|_| StreamError::Invalid("the history writer panicked".into()))??;
        let summary = summary?;
        r1.map_err(|_| StreamError::Invalid("replay stage 1 panicked".into()))?;
        Ok::<_, StreamError>(summary)
    });
    drop(rt);
    result
}

/// Stage 1's thread: every decoded reading through the partition operator.
fn run_stage1(
    mut s1: PartitionOperator,
    decoded: Receiver<Item>,
    tx: &SyncSender<Stage1Msg>,
    view: &FencedArchive,
    epoch_size: usize,
) {
    let mut o1 = Stage1Output::default();
    let mut counts = ReplaySummary::default();
    // Sends the pending output, then cuts an epoch; `false` when stage 2 has stopped.
    let cut = |s1: &mut PartitionOperator, o1: &mut Stage1Output, counts: &mut ReplaySummary| {
        if !send_batch(tx, o1, counts) {
            return false;
        }
        view.cut();
        tx.send(Stage1Msg::Epoch(s1.take_epoch())).is_ok()
    };
    let mut step = || -> Result<()> {
        for item in &decoded {
            let (readings, lines, rejected) = match item {
                Item::Readings(r, l, j) => (r, l, j),
                Item::Error(e) => return Err(e),
            };
            counts.lines += lines;
            counts.rejected += rejected;
            counts.readings += readings.len() as u64;
            for (index, r) in readings {
                s1.push_registered(index, r, &mut o1)?;
                if s1.epoch_len() >= epoch_size && !cut(&mut s1, &mut o1, &mut counts) {
                    return Ok(());
                }
            }
            if !send_batch(tx, &mut o1, &mut counts) {
                return Ok(());
            }
        }
        // The end-of-input flush emits every open window at once; in steps of an
        // epoch's worth of rows, each its own epoch, it does not pile up in one.
        while !s1.flush_step(epoch_size as u64, &mut o1)? {
            if !cut(&mut s1, &mut o1, &mut counts) {
                return Ok(());
            }
        }
        if !send_batch(tx, &mut o1, &mut counts) {
            return Ok(());
        }
        view.cut();
        // A failed send means stage 2 has stopped; it reports why.
        let _ = tx.send(Stage1Msg::End(s1.take_epoch()));
        Ok(())
    };
    if let Err(e) = step() {
        let _ = tx.send(Stage1Msg::Error(e));
    }
}

/// Sends stage 1's pending output and counts; `false` when stage 2 has stopped.
fn send_batch(
    tx: &SyncSender<Stage1Msg>,
    o1: &mut Stage1Output,
    counts: &mut ReplaySummary,
) -> bool {
    counts.accepted += o1.accepted;
    counts.late += o1.late;
    counts.duplicates += o1.duplicates;
    counts.sensor_rows += o1.rows_emitted;
    counts.health_events += o1.health.len() as u64;
    o1.rows_emitted = 0;
    o1.health.clear();
    o1.accepted = 0;
    o1.late = 0;
    o1.duplicates = 0;
    // The next batch holds about as many messages: the vector starts at that size
    // rather than doubling its way there (copying every message each time).
    let next = Vec::with_capacity(o1.city.len());
    let city = std::mem::replace(&mut o1.city, next);
    if city.is_empty() && *counts == ReplaySummary::default() {
        return true;
    }
    tx.send(Stage1Msg::Batch(city, std::mem::take(counts)))
        .is_ok()
}

/// Stage 2 on the calling thread: applies stage 1's messages, writes alerts, and
/// passes each epoch of both stages to the writer.
fn run_stage2(
    mut s2: CityOperator,
    rx: Receiver<Stage1Msg>,
    txw: SyncSender<EpochJob>,
    view: &FencedArchive,
    alerts_out: &mut dyn Write,
) -> Result<ReplaySummary> {
    let mut summary = ReplaySummary::default();
    let mut o2 = CityOutput::default();
    let mut epoch = 0u64;
    let mut hand_over = |s2: &mut CityOperator, stage1: EpochData| -> Result<()> {
        epoch += 1;
        view.cut();
        let job = EpochJob {
            epoch,
            stage1,
            stage2: s2.take_epoch(),
        };
        txw.send(job)
            .map_err(|_| StreamError::Invalid("the history writer stopped".into()))
    };
    for msg in rx {
        match msg {
            Stage1Msg::Batch(city, counts) => {
                add(&mut summary, &counts);
                for m in &city {
                    s2.apply(m, &mut o2)?;
                }
                drain2(&mut o2, &mut summary, alerts_out)?;
            }
            Stage1Msg::Epoch(d1) => hand_over(&mut s2, d1)?,
            Stage1Msg::End(d1) => {
                s2.flush(&mut o2)?;
                drain2(&mut o2, &mut summary, alerts_out)?;
                hand_over(&mut s2, d1)?;
                alerts_out
                    .flush()
                    .map_err(|e| StreamError::io("alerts output", e))?;
                summary.epochs = epoch;
                return Ok(summary);
            }
            Stage1Msg::Error(e) => return Err(e),
        }
    }
    Err(StreamError::Invalid(
        "replay stage 1 stopped before the end of input".into(),
    ))
}

fn add(sum: &mut ReplaySummary, c: &ReplaySummary) {
    sum.lines += c.lines;
    sum.rejected += c.rejected;
    sum.readings += c.readings;
    sum.accepted += c.accepted;
    sum.late += c.late;
    sum.duplicates += c.duplicates;
    sum.sensor_rows += c.sensor_rows;
    sum.health_events += c.health_events;
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

/// The history writer's thread: writes and publishes the epochs in order.
fn run_writer(
    history: &Path,
    state: &Path,
    rx: Receiver<EpochJob>,
    fence: &Fence,
    spare: &Spare,
) -> Result<()> {
    // However the writer ends (even by a panic), stage 1 must not wait for a vector
    // it will never get back.
    let _release = (CloseOnDrop(&spare.rows), CloseOnDrop(&spare.ledger));
    let result = (|| -> Result<()> {
        for job in rx {
            let epoch = job.epoch;
            write_both(history, state, job, spare)?;
            fence.published(epoch);
        }
        Ok(())
    })();
    match &result {
        Ok(()) => fence.stop("the replay ended"),
        Err(e) => fence.stop(&e.to_string()),
    }
    result
}

/// Writes and publishes one epoch of both stages; the row and ledger vectors go
/// back to the operators for a later epoch.
fn write_both(history: &Path, state: &Path, job: EpochJob, spare: &Spare) -> Result<()> {
    let EpochJob {
        epoch,
        stage1: d1,
        stage2: d2,
    } = job;
    let mut f1 = EpochFiles::from(d1);
    let mut staged = write_epoch(history, state, "p000", epoch, "replay", &mut f1)?;
    let mut f2 = EpochFiles::from(d2);
    staged.extend(write_epoch(
        history, state, "city", epoch, "replay", &mut f2,
    )?);
    spare.rows.give(f1.rows);
    spare.ledger.give(f2.ledger);
    publish(&staged)
}

/// Closes a recycler when dropped.
struct CloseOnDrop<'a, T>(&'a Recycler<T>);

impl<T> Drop for CloseOnDrop<'_, T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Where the writer gives the vectors of a written epoch back.
struct Spare {
    rows: Recycler<AggregateRow>,
    ledger: Recycler<LedgerEntry>,
}
