//! The per-partition operator: sensor state, segments, window state and emission.

use super::clock::{Clock, NEVER};
use super::qa::{self, SensorQa};
use super::windows::OpenWindows;
use crate::archive::Archive;
use crate::city::{CityInput, MinuteUpdate, Sequenced};
use crate::config::StreamConfig;
use crate::directory::SensorDirectory;
use crate::error::Result;
use crate::health::{HealthEvent, Problem};
use crate::partial::{NS, Partial, SCALARS, Stats};
use crate::plan::{SegmentBuilder, SegmentPlan};
use crate::recycle::Recycler;
use crate::rows::{AggregateRow, Scope};
use crate::window::{Cell, WindowId, WindowKind};
use aqstream_core::aqi::Pollutant;
use aqstream_core::aqi::nowcast::HourlyHistory;
use aqstream_core::arrow::ReadingBatchBuilder;
use aqstream_core::json::{DecodeMode, decode_one};
use aqstream_core::time::{EpochMillis, MINUTE_MS};
use aqstream_core::{Measure, Reading};
use datafusion::arrow::array::RecordBatch;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Everything one call of the operator produced.
#[derive(Debug, Default)]
pub struct Stage1Output {
    /// Sensor aggregate rows, in emission order.
    pub rows: Vec<AggregateRow>,
    /// Messages for stage 2, in order.
    pub city: Vec<Sequenced>,
    /// Sensor health changes.
    pub health: Vec<HealthEvent>,
    /// Readings accepted (deduplicated), including late ones.
    pub accepted: u64,
    /// Readings later than the allowed lateness (accepted or duplicate).
    pub late: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Records that were not canonical readings.
    pub malformed: u64,
    /// Sensor aggregate rows emitted (also when [`PartitionOperator::set_row_output`]
    /// keeps them out of `rows`).
    pub rows_emitted: u64,
}

impl Stage1Output {
    /// Appends everything of `other`.
    pub fn append(&mut self, other: &mut Stage1Output) {
        self.rows.append(&mut other.rows);
        self.city.append(&mut other.city);
        self.health.append(&mut other.health);
        self.accepted += other.accepted;
        self.late += other.late;
        self.duplicates += other.duplicates;
        self.malformed += other.malformed;
        self.rows_emitted += other.rows_emitted;
    }
}

/// The state of one sensor.
#[derive(Debug, Clone)]
pub(crate) struct SensorState {
    pub(crate) id: Arc<str>,
    pub(crate) district: Arc<str>,
    /// Dedup keys (ts, period) of accepted readings whose cell is not closed.
    pub(crate) dedup: Vec<(EpochMillis, u32)>,
    pub(crate) qa: SensorQa,
    pub(crate) windows: OpenWindows,
    pub(crate) nowcast: HourlyHistory,
}

impl SensorState {
    /// Most dedup keys a sensor keeps before the closed ones are dropped.
    const DEDUP_SLACK: usize = 8;

    /// Forgets the dedup keys of cells closed at watermark `w`. Until then they are
    /// harmless: a reading with the same key has the same cell, so it is late and
    /// never compared with them. Dropping them lazily, when a sensor's list grows,
    /// spares a sweep over every sensor at every watermark advance.
    pub(crate) fn prune_dedup(&mut self, w: EpochMillis, lateness: i64) {
        self.dedup
            .retain(|&(ts, period)| Cell::of(ts, period).end().saturating_add(lateness) > w);
    }
}

/// A window of a sensor (by slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct WinRef {
    pub(crate) slot: u32,
    pub(crate) id: WindowId,
}

/// A window in an emission or closing queue: the queue's key is the window's end, so
/// the slot and the kind name it (8 bytes; a sensor has about a dozen windows in each
/// queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QRef {
    pub(crate) slot: u32,
    pub(crate) kind: WindowKind,
}

impl QRef {
    pub(crate) fn of(r: WinRef) -> QRef {
        QRef {
            slot: r.slot,
            kind: r.id.kind,
        }
    }

    /// The window, given its end (the queue key).
    pub(crate) fn at(self, end: EpochMillis) -> WinRef {
        WinRef {
            slot: self.slot,
            id: WindowId {
                kind: self.kind,
                start: end - self.kind.len_ms(),
            },
        }
    }
}

/// What the current epoch accumulated for the history.
#[derive(Default)]
pub(crate) struct Epoch {
    pub(crate) hist: Option<ReadingBatchBuilder>,
    pub(crate) readings: Vec<RecordBatch>,
    pub(crate) rows: Vec<AggregateRow>,
    pub(crate) health: Vec<HealthEvent>,
}

impl Epoch {
    fn push(&mut self, r: &Reading) {
        self.hist
            .get_or_insert_with(|| ReadingBatchBuilder::with_capacity(4096))
            .push(r);
    }

    /// Moves the builder's readings into `readings`.
    pub(crate) fn seal(&mut self) {
        if let Some(b) = self.hist.as_mut()
            && !b.is_empty()
        {
            self.readings.push(b.finish());
        }
    }
}

/// The history output of one epoch of a partition.
#[derive(Debug, Default)]
pub struct EpochData {
    /// Accepted readings (in arrival order; the writer sorts them).
    pub readings: Vec<RecordBatch>,
    /// Sensor aggregate rows.
    pub rows: Vec<AggregateRow>,
    /// Health changes.
    pub health: Vec<HealthEvent>,
}

impl From<EpochData> for crate::history::EpochFiles {
    fn from(d: EpochData) -> Self {
        crate::history::EpochFiles {
            readings: d.readings,
            rows: d.rows,
            health: d.health,
            ..Default::default()
        }
    }
}

/// Stage 1 for one partition.
pub struct PartitionOperator {
    pub(crate) partition: i32,
    pub(crate) cfg: Arc<StreamConfig>,
    pub(crate) dir: Arc<SensorDirectory>,
    pub(crate) plan: Arc<SegmentPlan>,
    pub(crate) archive: Arc<dyn Archive>,
    pub(crate) extra: FxHashMap<Arc<str>, u32>,
    pub(crate) sensors: Vec<Option<Box<SensorState>>>,
    pub(crate) clock: Clock,
    pub(crate) seg: SegmentBuilder,
    pub(crate) seg_done: Vec<RecordBatch>,
    pub(crate) late: Vec<Reading>,
    /// Windows to emit, by end.
    pub(crate) emit_q: BTreeMap<EpochMillis, Vec<QRef>>,
    /// Windows to close, by end (closed when the watermark passes end + lateness).
    pub(crate) close_q: BTreeMap<EpochMillis, Vec<QRef>>,
    pub(crate) dirty: Vec<WinRef>,
    pub(crate) epoch: Epoch,
    pub(crate) seq: u64,
    /// Next offset of the partition to read (kept with the state for checkpoints).
    pub next_offset: i64,
    changes: Vec<qa::Change>,
    rows_out: bool,
    /// Row vectors the history writer gave back.
    spare_rows: Recycler<AggregateRow>,
}

impl std::fmt::Debug for PartitionOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionOperator")
            .field("partition", &self.partition)
            .field("watermark", &self.clock.watermark())
            .finish_non_exhaustive()
    }
}

impl PartitionOperator {
    /// A fresh operator for `partition`.
    pub fn new(
        partition: i32,
        cfg: Arc<StreamConfig>,
        dir: Arc<SensorDirectory>,
        plan: Arc<SegmentPlan>,
        archive: Arc<dyn Archive>,
    ) -> PartitionOperator {
        let clock = Clock::new(&cfg);
        PartitionOperator {
            partition,
            cfg,
            dir,
            plan,
            archive,
            extra: FxHashMap::default(),
            sensors: Vec::new(),
            clock,
            seg: SegmentBuilder::default(),
            seg_done: Vec::new(),
            late: Vec::new(),
            emit_q: BTreeMap::new(),
            close_q: BTreeMap::new(),
            dirty: Vec::new(),
            epoch: Epoch::default(),
            seq: 0,
            next_offset: 0,
            changes: Vec::new(),
            rows_out: true,
            spare_rows: Recycler::default(),
        }
    }

    /// Takes the epochs' row vectors from `r`, where the history writer gives them
    /// back emptied (see [`crate::recycle`]; a bounded one also bounds the epochs in
    /// flight). The vector being filled becomes one of `r`'s.
    pub fn set_row_recycler(&mut self, r: Recycler<AggregateRow>) {
        r.adopt(&mut self.epoch.rows);
        self.spare_rows = r;
    }

    /// Whether emitted rows are also handed out in [`Stage1Output::rows`] (default;
    /// the worker publishes them) or only go to the history (replay, which saves a
    /// copy of every row).
    pub fn set_row_output(&mut self, on: bool) {
        self.rows_out = on;
    }

    /// One emitted row: to the epoch's history and, if wanted, to the caller.
    pub(crate) fn output_row(&mut self, row: AggregateRow, out: &mut Stage1Output) {
        out.rows_emitted += 1;
        if self.rows_out {
            out.rows.push(row.clone());
        }
        self.epoch.rows.push(row);
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The partition's watermark ([`clock::NEVER`](super::clock::NEVER) before any
    /// record).
    pub fn watermark(&self) -> EpochMillis {
        self.clock.watermark()
    }

    /// Sequence number of the last message for stage 2.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Number of sensors with state.
    pub fn sensor_count(&self) -> usize {
        self.sensors.iter().filter(|s| s.is_some()).count()
    }

    /// Processes one record of the partition (a canonical JSON reading) at `offset`.
    pub fn push_record(
        &mut self,
        offset: i64,
        payload: &[u8],
        out: &mut Stage1Output,
    ) -> Result<()> {
        self.next_offset = self.next_offset.max(offset + 1);
        match decode_one(payload, DecodeMode::Canonical) {
            Ok(r) => self.push_reading(r, out),
            Err(e) => {
                out.malformed += 1;
                tracing::warn!(
                    partition = self.partition,
                    offset,
                    "not a canonical reading: {e}"
                );
                Ok(())
            }
        }
    }

    pub(crate) fn slot_of_pub(&mut self, id: &str) -> u32 {
        self.slot_of(id)
    }

    pub(crate) fn epoch_push(&mut self, r: &Reading) {
        self.epoch.push(r);
    }

    fn slot_of(&mut self, id: &str) -> u32 {
        if let Some(i) = self.dir.index_of(id) {
            return i;
        }
        if let Some(&s) = self.extra.get(id) {
            return s;
        }
        let s = (self.dir.len() + self.extra.len()) as u32;
        self.extra.insert(Arc::from(id), s);
        s
    }

    pub(crate) fn state_mut(&mut self, slot: u32, id: &str) -> &mut SensorState {
        let i = slot as usize;
        if i >= self.sensors.len() {
            self.sensors.resize_with(i + 1, || None);
        }
        let dir = &self.dir;
        self.sensors[i].get_or_insert_with(|| {
            let (id, d) = match dir.index_of(id) {
                Some(k) => (Arc::clone(dir.id(k)), dir.district_index(k)),
                None => (Arc::from(id), dir.unknown_district()),
            };
            Box::new(SensorState {
                id,
                district: Arc::clone(dir.district_name(d)),
                dedup: Vec::new(),
                qa: SensorQa::default(),
                windows: OpenWindows::default(),
                nowcast: HourlyHistory::new(),
            })
        })
    }

    /// Processes one reading (the same chain `replay` runs over a file).
    pub fn push_reading(&mut self, r: Reading, out: &mut Stage1Output) -> Result<()> {
        let slot = self.slot_of(&r.sensor_id);
        self.push_at(slot, r, out)
    }

    /// [`PartitionOperator::push_reading`] for a reading of a registered sensor whose
    /// index in the registry (the one the operator's directory was built from) the
    /// caller already looked up, as the replay's reader does when it checks the
    /// sensor: the operator does not look the id up again.
    pub fn push_registered(
        &mut self,
        index: u32,
        r: Reading,
        out: &mut Stage1Output,
    ) -> Result<()> {
        debug_assert_eq!(self.dir.index_of(&r.sensor_id), Some(index));
        self.push_at(index, r, out)
    }

    fn push_at(&mut self, slot: u32, mut r: Reading, out: &mut Stage1Output) -> Result<()> {
        qa::recheck_flags(&mut r);
        let cell = Cell::of(r.ts, r.period_s);
        let lateness = self.cfg.lateness_ms();
        if cell.end().saturating_add(lateness) <= self.clock.watermark() {
            out.late += 1;
            self.late.push(r);
            return Ok(());
        }
        let qa_cfg = Arc::clone(&self.cfg);
        let mut changes = std::mem::take(&mut self.changes);
        let w = self.clock.watermark();
        let st = self.state_mut(slot, &r.sensor_id);
        let key = (r.ts, r.period_s);
        if st.dedup.len() >= SensorState::DEDUP_SLACK {
            st.prune_dedup(w, lateness);
        }
        if st.dedup.contains(&key) {
            out.duplicates += 1;
            self.changes = changes;
            return Ok(());
        }
        st.dedup.push(key);
        let problems = qa::check_rechecked(&mut st.qa, &mut r, &qa_cfg.qa, &mut changes);
        let (sid, sdistrict) = (Arc::clone(&st.id), Arc::clone(&st.district));
        for (p, raised) in changes.drain(..) {
            let e = HealthEvent {
                sensor_id: Arc::clone(&sid),
                district: Arc::clone(&sdistrict),
                problem: p,
                raised,
                ts: r.ts,
                detail: String::new(),
            };
            self.epoch.health.push(e.clone());
            out.health.push(e);
        }
        self.changes = changes;
        if let Some(k) = cell.pack(slot) {
            let (vals, wind) = valid_values(&r);
            self.seg.push(k, &vals, wind, problems);
        }
        self.epoch.push(&r);
        out.accepted += 1;
        if self.clock.observe(slot, r.ts) {
            self.on_clock(out)?;
        }
        if self.seg.len() >= self.cfg.max_segment_rows {
            let b = self.seg.finish()?;
            self.seg_done.push(b);
            self.aggregate_segment(self.clock.watermark())?;
        }
        Ok(())
    }

    fn on_clock(&mut self, out: &mut Stage1Output) -> Result<()> {
        // The pending segment's readings were accepted under this watermark.
        let accepted_under = self.clock.watermark();
        let adv = self.clock.recompute();
        let at = self.clock.frontier();
        for (slots, raised) in [(&adv.fast_raised, true), (&adv.fast_cleared, false)] {
            for &slot in slots {
                if let Some(Some(st)) = self.sensors.get(slot as usize) {
                    let e = HealthEvent {
                        sensor_id: Arc::clone(&st.id),
                        district: Arc::clone(&st.district),
                        problem: Problem::FastClock,
                        raised,
                        ts: at,
                        detail: if raised {
                            format!(
                                "latest event time {} s ahead of the partition frontier",
                                (self.clock.max_ts[slot as usize] - at) / 1000
                            )
                        } else {
                            String::new()
                        },
                    };
                    self.epoch.health.push(e.clone());
                    out.health.push(e);
                }
            }
        }
        if let Some(w) = adv.watermark {
            self.cut(w, accepted_under, out)?;
        }
        Ok(())
    }

    /// Aggregates the pending segment into the windows (without emitting).
    /// `accepted_under` is the watermark the segment's readings were accepted under:
    /// their windows were open then, so they are merged as open windows even if the
    /// watermark has advanced since (they are emitted and closed by the cut that
    /// follows). Judging them by the new watermark would drop the readings of every
    /// window the advance closed.
    fn aggregate_segment(&mut self, accepted_under: EpochMillis) -> Result<()> {
        if !self.seg.is_empty() {
            let b = self.seg.finish()?;
            self.seg_done.push(b);
        }
        if self.seg_done.is_empty() {
            return Ok(());
        }
        let batches = std::mem::take(&mut self.seg_done);
        let partials = self.plan.run_batches(batches)?;
        for (k, p) in partials {
            let (slot, cell) = Cell::unpack(k);
            self.merge_cell_at(slot, cell, &p, accepted_under);
        }
        Ok(())
    }

    /// Merges one sensor-cell partial into every open window it belongs to; returns
    /// the windows that were already closed (for recomputation).
    pub(crate) fn merge_cell(&mut self, slot: u32, cell: Cell, p: &Partial) -> Vec<WindowId> {
        let w = self.clock.watermark();
        self.merge_cell_at(slot, cell, p, w)
    }

    /// [`Self::merge_cell`], judging open and closed windows by the watermark `w`.
    fn merge_cell_at(
        &mut self,
        slot: u32,
        cell: Cell,
        p: &Partial,
        w: EpochMillis,
    ) -> Vec<WindowId> {
        let lateness = self.cfg.lateness_ms();
        let mut closed = Vec::new();
        let Some(Some(st)) = self.sensors.get_mut(slot as usize) else {
            return closed;
        };
        for &kind in cell.kind.windows() {
            let id = WindowId {
                kind,
                start: cell.window_start(kind),
            };
            if id.end().saturating_add(lateness) <= w {
                closed.push(id);
                continue;
            }
            let (win, opened) = st.windows.open(id);
            if opened {
                let r = QRef { slot, kind };
                self.emit_q.entry(id.end()).or_default().push(r);
                self.close_q.entry(id.end()).or_default().push(r);
            }
            win.part.merge(p);
            if p.cnt[0] > 0 {
                let from = ((cell.start - id.start) / MINUTE_MS) as u32;
                win.minutes.insert_range(from, cell.kind.window().minutes());
            }
            if win.emitted >= 0 && !win.dirty {
                win.dirty = true;
                self.dirty.push(WinRef { slot, id });
            }
        }
        closed
    }

    /// The watermark advanced to `w`: aggregate, emit, close.
    fn cut(
        &mut self,
        w: EpochMillis,
        accepted_under: EpochMillis,
        out: &mut Stage1Output,
    ) -> Result<()> {
        self.aggregate_segment(accepted_under)?;
        if !self.late.is_empty() {
            self.process_late(out)?;
        }
        self.emit_until(w, out);
        self.push_city(CityInput::Watermark(w), out);
        Ok(())
    }

    /// Emits the queued windows that end by `w`, in queue order, stopping once
    /// `max_rows` rows were emitted; whether none is left.
    fn emit_some(&mut self, w: EpochMillis, max_rows: u64, out: &mut Stage1Output) -> bool {
        let start = out.rows_emitted;
        while let Some(mut entry) = self.emit_q.first_entry() {
            let end = *entry.key();
            if end > w {
                break;
            }
            let room = max_rows.saturating_sub(out.rows_emitted - start);
            if room == 0 {
                return false;
            }
            // A window emits at most one row: take no more windows than there is room.
            let batch = if entry.get().len() as u64 <= room {
                entry.remove()
            } else {
                entry.get_mut().drain(..room as usize).collect()
            };
            for r in batch {
                self.emit(r.at(end), false, w, out);
            }
        }
        true
    }

    fn emit_until(&mut self, w: EpochMillis, out: &mut Stage1Output) {
        self.emit_some(w, u64::MAX, out);
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        for r in dirty {
            self.emit(r, true, w, out);
        }
        let lateness = self.cfg.lateness_ms();
        while let Some(entry) = self.close_q.first_entry() {
            let end = *entry.key();
            if end.saturating_add(lateness) > w {
                break;
            }
            for r in entry.remove() {
                let r = r.at(end);
                if let Some(Some(st)) = self.sensors.get_mut(r.slot as usize) {
                    st.windows.remove(r.id);
                }
            }
        }
    }

    fn emit(&mut self, r: WinRef, revision: bool, w: EpochMillis, out: &mut Stage1Output) {
        let Some(Some(st)) = self.sensors.get_mut(r.slot as usize) else {
            return;
        };
        let Some(win) = st.windows.get_mut(r.id) else {
            return;
        };
        if revision != (win.emitted >= 0) || (revision && !win.dirty) {
            return;
        }
        win.emitted += 1;
        win.dirty = false;
        let rev = win.emitted;
        let part = win.part.clone();
        let minutes = win.minutes.count();
        let fast = self.clock.is_fast(r.slot);
        let row = sensor_row(st, r.id, &part, minutes, rev, w);
        let sensor = Arc::clone(&st.id);
        self.output_row(row, out);
        if r.id.kind == WindowKind::M1 {
            let m = MinuteUpdate {
                sensor_id: sensor,
                minute_start: r.id.start,
                revision: rev,
                excluded: fast,
                values: part.minute_values(),
            };
            self.push_city(CityInput::Minute(m), out);
        }
    }

    pub(crate) fn push_city(&mut self, input: CityInput, out: &mut Stage1Output) {
        self.seq += 1;
        out.city.push(Sequenced {
            partition: self.partition,
            seq: self.seq,
            input,
        });
    }

    /// End of input: every window is emitted and closed (replay).
    pub fn flush(&mut self, out: &mut Stage1Output) -> Result<()> {
        self.flush_step(u64::MAX, out).map(|_| ())
    }

    /// [`PartitionOperator::flush`] in steps of about `max_rows` emitted rows, so the
    /// caller can hand the rows on between steps (at the end of input every open
    /// window of every sensor is emitted at once: several rows per sensor). `true`
    /// when the flush is complete; the rows and their order are those of one flush.
    pub fn flush_step(&mut self, max_rows: u64, out: &mut Stage1Output) -> Result<bool> {
        // Every step computes the same end: after the first, the watermark is there
        // and the remaining windows end by it.
        let lateness = self.cfg.lateness_ms();
        let end = self
            .emit_q
            .keys()
            .copied()
            .chain(self.close_q.keys().map(|e| e.saturating_add(lateness)))
            .max()
            .unwrap_or(NEVER)
            .max(self.clock.watermark());
        self.aggregate_segment(self.clock.watermark())?;
        if !self.late.is_empty() {
            self.process_late(out)?;
        }
        if end > self.clock.watermark() {
            self.clock.force(end);
        }
        let w = self.clock.watermark();
        if w > NEVER {
            if !self.emit_some(w, max_rows, out) {
                return Ok(false);
            }
            self.emit_until(w, out);
            self.push_city(CityInput::Watermark(w), out);
        }
        Ok(true)
    }

    /// Takes what the epoch accumulated for the history.
    pub fn take_epoch(&mut self) -> EpochData {
        self.epoch.seal();
        // The next epoch will emit about as many rows: reserve them once rather than
        // copying the vector as it doubles (in a vector the writer gave back, if any).
        let next_rows = self.spare_rows.take(self.epoch.rows.len());
        EpochData {
            readings: std::mem::take(&mut self.epoch.readings),
            rows: std::mem::replace(&mut self.epoch.rows, next_rows),
            health: std::mem::take(&mut self.epoch.health),
        }
    }

    /// Accepted readings held for the current epoch.
    pub fn epoch_len(&self) -> usize {
        self.epoch
            .readings
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>()
            + self.epoch.hist.as_ref().map_or(0, ReadingBatchBuilder::len)
    }
}

/// The aggregate row of a sensor window (pushes hourly means into the NowCast ring).
pub(crate) fn sensor_row(
    st: &mut SensorState,
    id: WindowId,
    part: &Partial,
    minutes: u32,
    revision: i32,
    emitted_at: EpochMillis,
) -> AggregateRow {
    let stats = Stats::of(
        part,
        id.kind,
        f64::from(minutes) / f64::from(id.kind.minutes()),
    );
    let mut nowcast = None;
    if id.kind == WindowKind::H1
        && let Some(mean) = stats.pm25_mean()
    {
        let start_s = id.start.div_euclid(1000);
        if st.nowcast.push(start_s, mean.max(0.0)) {
            nowcast = st.nowcast.nowcast(Pollutant::Pm25, start_s).ok().flatten();
        }
    }
    AggregateRow {
        scope: Scope::Sensor,
        key: Arc::clone(&st.id),
        district: Arc::clone(&st.district),
        window: id,
        stats,
        nowcast_pm25: nowcast,
        revision,
        emitted_at,
    }
}

/// The values of `r` valid for aggregation, and its wind vector.
pub(crate) fn valid_values(r: &Reading) -> ([Option<f64>; NS], Option<(f64, f64)>) {
    let mut v = [None; NS];
    for (i, m) in SCALARS.iter().enumerate() {
        v[i] = r.valid(*m);
    }
    let wind = r.valid(Measure::WindDir).map(|dir| {
        let speed = r.valid(Measure::WindSpeed).unwrap_or(1.0);
        let rad = dir.to_radians();
        (speed * rad.sin(), speed * rad.cos())
    });
    (v, wind)
}

/// Which cell kind's windows a cell feeds (exposed for the late path).
pub(crate) fn cell_windows(cell: &Cell) -> impl Iterator<Item = WindowId> + '_ {
    cell.kind.windows().iter().map(move |&kind| WindowId {
        kind,
        start: cell.window_start(kind),
    })
}
