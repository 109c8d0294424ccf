//! Stage 2: the city-wide operator. Small (one input per sensor per minute) and single:
//! district windows, drift QA against neighbours, and the detection hook.
//!
//! ```text
//! sensor-minutes + partition watermarks (from every stage-1 partition, numbered)
//!     │ dedup by (partition, seq)
//!     ▼
//! pending minutes ──(stream watermark passes the minute)──▶ deliver: drift QA, detector
//!     │                                                       │
//!     │ (watermark passes minute + lateness)                  ▼
//!     └──▶ final: folded into the district windows, written to the ledger
//!                                                  district rows: rev 0 at the window's
//!                                                  end, revisions within the lateness,
//!                                                  recomputed from the ledger after it
//! ```
//!
//! The stream watermark is the minimum over the partitions that are not idle. A
//! district window's value is a fold, in minute order and then sensor-id order, of the
//! per-district partials of its minutes, so it does not depend on the order in which
//! partitions delivered their minutes.

mod bucket;
pub mod drift;
mod snapshot;

use crate::archive::{Archive, LedgerEntry};
use crate::city::{CityInput, MinuteUpdate, Sequenced};
use crate::config::{HOUR, MIN, StreamConfig};
use crate::detect::{Detect, SensorMinute};
use crate::directory::SensorDirectory;
use crate::error::Result;
use crate::health::{HealthEvent, Problem};
use crate::partial::{MinuteValues, Partial, Stats};
use crate::recycle::Recycler;
use crate::rows::{AggregateRow, Scope};
use crate::stage1::clock::NEVER;
use crate::window::{WindowId, WindowKind};
use aqstream_core::alert::Alert;
use aqstream_core::time::EpochMillis;
use drift::DriftQa;
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What stage 2 produced.
#[derive(Debug, Default)]
pub struct CityOutput {
    /// District rows, in emission order.
    pub rows: Vec<AggregateRow>,
    /// Drift changes.
    pub health: Vec<HealthEvent>,
    /// Alert state changes.
    pub alerts: Vec<Alert>,
    /// The stream watermark, when it advanced.
    pub watermark: Option<EpochMillis>,
    /// Messages dropped as already applied.
    pub duplicates: u64,
}

/// The history output of one stage-2 epoch.
#[derive(Debug, Default)]
pub struct CityEpoch {
    /// District rows.
    pub rows: Vec<AggregateRow>,
    /// Drift changes.
    pub health: Vec<HealthEvent>,
    /// Alerts.
    pub alerts: Vec<Alert>,
    /// Finalised sensor-minutes.
    pub ledger: Vec<LedgerEntry>,
}

impl From<CityEpoch> for crate::history::EpochFiles {
    fn from(d: CityEpoch) -> Self {
        crate::history::EpochFiles {
            rows: d.rows,
            health: d.health,
            alerts: d.alerts,
            ledger: d.ledger,
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PartState {
    pub(crate) wm: EpochMillis,
    pub(crate) seq: u64,
    pub(crate) idle: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Entry {
    pub(crate) district: u32,
    /// Rank of the sensor's id in the directory (set by the bucket).
    pub(crate) rank: u32,
    pub(crate) values: MinuteValues,
    pub(crate) excluded: bool,
    pub(crate) drift: bool,
    pub(crate) revision: i32,
}

impl Entry {
    fn counts(&self) -> bool {
        !self.excluded && !self.drift
    }
}

pub(crate) use bucket::Bucket;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DWin {
    pub(crate) fin: Partial,
    pub(crate) emitted: i32,
    pub(crate) dirty: bool,
}

/// Stage 2.
pub struct CityOperator {
    pub(crate) cfg: Arc<StreamConfig>,
    pub(crate) dir: Arc<SensorDirectory>,
    pub(crate) archive: Arc<dyn Archive>,
    pub(crate) detector: Box<dyn Detect>,
    pub(crate) parts: Vec<PartState>,
    pub(crate) wm: EpochMillis,
    pub(crate) minutes: BTreeMap<EpochMillis, Bucket>,
    /// Per-district partials of pending minutes (indexed by district), computed when
    /// first needed and dropped whenever the minute's entries change.
    by_district: FxHashMap<EpochMillis, Vec<Partial>>,
    pub(crate) windows: FxHashMap<(u32, WindowId), DWin>,
    pub(crate) emit_q: BTreeMap<EpochMillis, Vec<(u32, WindowId)>>,
    pub(crate) close_q: BTreeMap<EpochMillis, Vec<(u32, WindowId)>>,
    pub(crate) dirty: BTreeSet<(u32, WindowId)>,
    pub(crate) drift: DriftQa,
    pub(crate) hours_done: EpochMillis,
    pub(crate) epoch: CityEpoch,
    pub(crate) ledger_version: i64,
    pub(crate) late: Vec<(MinuteUpdate, u32)>,
    /// Ledger vectors the history writer gave back.
    spare_ledger: Recycler<LedgerEntry>,
}

impl std::fmt::Debug for CityOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CityOperator")
            .field("watermark", &self.wm)
            .field("pending_minutes", &self.minutes.len())
            .finish_non_exhaustive()
    }
}

impl CityOperator {
    /// Stage 2 over `partitions` partitions of `aq.readings.v1`.
    pub fn new(
        cfg: Arc<StreamConfig>,
        dir: Arc<SensorDirectory>,
        archive: Arc<dyn Archive>,
        detector: Box<dyn Detect>,
        partitions: usize,
    ) -> CityOperator {
        let drift = DriftQa::new(&dir, cfg.qa.clone());
        CityOperator {
            cfg,
            dir,
            archive,
            detector,
            parts: vec![
                PartState {
                    wm: NEVER,
                    seq: 0,
                    idle: false,
                };
                partitions.max(1)
            ],
            wm: NEVER,
            minutes: BTreeMap::new(),
            by_district: FxHashMap::default(),
            windows: FxHashMap::default(),
            emit_q: BTreeMap::new(),
            close_q: BTreeMap::new(),
            dirty: BTreeSet::new(),
            drift,
            hours_done: NEVER,
            epoch: CityEpoch::default(),
            ledger_version: 0,
            late: Vec::new(),
            spare_ledger: Recycler::default(),
        }
    }

    /// Takes the epochs' ledger vectors from `r`, where the history writer gives
    /// them back emptied (see [`crate::recycle`]; a bounded one also bounds the
    /// epochs in flight). The vector being filled becomes one of `r`'s.
    pub fn set_ledger_recycler(&mut self, r: Recycler<LedgerEntry>) {
        r.adopt(&mut self.epoch.ledger);
        self.spare_ledger = r;
    }

    /// The stream watermark.
    pub fn watermark(&self) -> EpochMillis {
        self.wm
    }

    /// The last applied sequence number of each partition.
    pub fn applied(&self) -> Vec<u64> {
        self.parts.iter().map(|p| p.seq).collect()
    }

    /// The drift checker (for inspection).
    pub fn drift(&self) -> &DriftQa {
        &self.drift
    }

    fn part(&mut self, p: i32) -> &mut PartState {
        let i = usize::try_from(p).unwrap_or(0);
        self.ensure_partitions(i + 1);
        &mut self.parts[i]
    }

    /// Makes the stream watermark wait for `n` stage-1 partitions. Every internal
    /// message carries the partition count of `aq.readings.v1`; a stage 2 that has
    /// heard from only some partitions must not let their watermark close windows
    /// whose other sensors live in partitions not heard from yet.
    pub fn ensure_partitions(&mut self, n: usize) {
        if n > self.parts.len() {
            self.parts.resize(
                n,
                PartState {
                    wm: NEVER,
                    seq: 0,
                    idle: false,
                },
            );
        }
    }

    /// Applies one message of stage 1 (ignored if its sequence number was applied).
    pub fn apply(&mut self, m: &Sequenced, out: &mut CityOutput) -> Result<()> {
        let ps = self.part(m.partition);
        if m.seq <= ps.seq {
            out.duplicates += 1;
            return Ok(());
        }
        ps.seq = m.seq;
        ps.idle = false;
        match &m.input {
            CityInput::Watermark(w) => {
                ps.wm = ps.wm.max(*w);
                self.maybe_advance(out)
            }
            CityInput::Minute(u) => self.on_minute(u, out),
        }
    }

    /// Marks a partition idle (excluded from the stream watermark) or active again.
    pub fn set_idle(&mut self, partition: i32, idle: bool, out: &mut CityOutput) -> Result<()> {
        let ps = self.part(partition);
        if ps.idle == idle {
            return Ok(());
        }
        ps.idle = idle;
        self.maybe_advance(out)
    }

    fn maybe_advance(&mut self, out: &mut CityOutput) -> Result<()> {
        let mut cand = i64::MAX;
        let mut any = false;
        for p in &self.parts {
            if !p.idle {
                any = true;
                cand = cand.min(p.wm);
            }
        }
        if any && cand > self.wm {
            self.advance(cand, out)?;
        }
        Ok(())
    }

    /// End of input: deliver, emit and close everything.
    pub fn flush(&mut self, out: &mut CityOutput) -> Result<()> {
        let lateness = self.cfg.lateness_ms();
        let end = self
            .close_q
            .keys()
            .copied()
            .chain(self.minutes.keys().map(|m| m + MIN + lateness))
            .max()
            .unwrap_or(NEVER);
        if end > self.wm {
            self.advance(end, out)?;
        } else if !self.late.is_empty() {
            self.process_late(out)?;
            let dirty = std::mem::take(&mut self.dirty);
            for (d, id) in dirty {
                self.emit(d, id, true, out);
            }
        }
        Ok(())
    }

    fn on_minute(&mut self, u: &MinuteUpdate, _out: &mut CityOutput) -> Result<()> {
        let lateness = self.cfg.lateness_ms();
        // One lookup of the id serves the district and the sensor's own state.
        let sensor_idx = self.dir.index_of(&u.sensor_id);
        let district = match sensor_idx {
            Some(i) => self.dir.district_index(i),
            None => self.dir.unknown_district(),
        };
        if u.minute_start + MIN + lateness <= self.wm {
            self.late.push((u.clone(), district));
            return Ok(());
        }
        let drifting = sensor_idx.is_some_and(|i| self.drift.is_drifting(i));
        self.by_district.remove(&u.minute_start);
        let bucket = self.minutes.entry(u.minute_start).or_default();
        let delivered = bucket.delivered;
        let prev_drift = bucket
            .get(&self.dir, sensor_idx, &u.sensor_id)
            .map(|e| e.drift);
        let entry = Entry {
            district,
            rank: 0,
            values: u.values,
            excluded: u.excluded,
            drift: prev_drift.unwrap_or(delivered && drifting),
            revision: u.revision,
        };
        let counts = entry.counts();
        bucket.insert(&self.dir, sensor_idx, &u.sensor_id, entry);
        if delivered {
            for kind in WindowKind::ALL {
                let id = WindowId {
                    kind,
                    start: kind.start_of(u.minute_start),
                };
                self.ensure_window(district, id);
                if self
                    .windows
                    .get(&(district, id))
                    .is_some_and(|w| w.emitted >= 0)
                {
                    self.dirty.insert((district, id));
                }
            }
            let sm = SensorMinute::new(
                Arc::clone(&u.sensor_id),
                u.minute_start,
                &u.values,
                !counts,
                u.revision,
            );
            self.detector.observe(&sm);
        }
        Ok(())
    }

    pub(crate) fn ensure_window(&mut self, district: u32, id: WindowId) {
        if self.windows.contains_key(&(district, id)) {
            return;
        }
        let lateness = self.cfg.lateness_ms();
        if id.end() + lateness <= self.wm {
            return;
        }
        self.windows.insert(
            (district, id),
            DWin {
                fin: Partial::default(),
                emitted: -1,
                dirty: false,
            },
        );
        self.emit_q
            .entry(id.end())
            .or_default()
            .push((district, id));
        self.close_q
            .entry(id.end() + lateness)
            .or_default()
            .push((district, id));
    }

    fn advance(&mut self, w: EpochMillis, out: &mut CityOutput) -> Result<()> {
        let lateness = self.cfg.lateness_ms();
        if !self.late.is_empty() {
            self.process_late(out)?;
        }
        // 1. Deliver the minutes that closed.
        let due: Vec<EpochMillis> = self
            .minutes
            .iter()
            .filter(|(m, b)| !b.delivered && **m + MIN <= w)
            .map(|(m, _)| *m)
            .collect();
        for m in due {
            self.evaluate_hours(m, out);
            self.deliver(m);
        }
        self.evaluate_hours(w, out);
        // 2. Detection.
        let alerts = self.detector.advance(w);
        self.epoch.alerts.extend(alerts.iter().cloned());
        out.alerts.extend(alerts);
        // 3. Emit windows that ended, and corrections.
        self.wm = w;
        while let Some(e) = self.emit_q.first_entry() {
            if *e.key() > w {
                break;
            }
            for (d, id) in e.remove() {
                self.emit(d, id, false, out);
            }
        }
        for (d, id) in std::mem::take(&mut self.dirty) {
            self.emit(d, id, true, out);
        }
        // 4. Finalise minutes past the lateness: fold and write to the ledger.
        let fin: Vec<EpochMillis> = self
            .minutes
            .keys()
            .copied()
            .take_while(|m| m + MIN + lateness <= w)
            .collect();
        for m in fin {
            if let Some(b) = self.minutes.remove(&m) {
                self.finalise(m, b);
            }
        }
        // 5. Close windows.
        while let Some(e) = self.close_q.first_entry() {
            if *e.key() > w {
                break;
            }
            for key in e.remove() {
                self.windows.remove(&key);
            }
        }
        out.watermark = Some(w);
        Ok(())
    }

    /// Runs the hourly drift decisions for every hour that ended by `t`.
    fn evaluate_hours(&mut self, t: EpochMillis, out: &mut CityOutput) {
        if self.hours_done == NEVER {
            let Some(first) = self.minutes.keys().next() else {
                return;
            };
            self.hours_done = first - first.rem_euclid(HOUR);
        }
        while self.hours_done + HOUR <= t {
            let hour = self.hours_done;
            for c in self.drift.end_of_hour(hour) {
                let e = HealthEvent {
                    sensor_id: Arc::clone(self.dir.id(c.sensor)),
                    district: Arc::clone(self.dir.district_name(self.dir.district_index(c.sensor))),
                    problem: Problem::Drift,
                    raised: c.raised,
                    ts: c.ts,
                    detail: c.detail,
                };
                self.epoch.health.push(e.clone());
                out.health.push(e);
            }
            self.hours_done += HOUR;
        }
    }

    fn deliver(&mut self, m: EpochMillis) {
        let Some(b) = self.minutes.get_mut(&m) else {
            return;
        };
        self.by_district.remove(&m);
        b.delivered = true;
        let mut pm = Vec::with_capacity(b.len());
        let mut districts = BTreeSet::new();
        let (dir, drift, detector) = (&self.dir, &self.drift, &mut self.detector);
        b.visit_mut(dir, |id, e| {
            let idx = e.sensor_index(dir);
            e.drift = idx.is_some_and(|i| drift.is_drifting(i));
            districts.insert(e.district);
            if let (Some(i), Some(v), false) = (idx, e.values.mean(0), e.excluded) {
                pm.push((i, v));
            }
            let sm = SensorMinute::new(Arc::clone(id), m, &e.values, !e.counts(), e.revision);
            detector.observe(&sm);
        });
        self.drift.observe_minute(m, &pm);
        for d in districts {
            for kind in WindowKind::ALL {
                self.ensure_window(
                    d,
                    WindowId {
                        kind,
                        start: kind.start_of(m),
                    },
                );
            }
        }
    }

    /// The per-district partials of one minute's entries (indexed by district), in
    /// one pass; each district's entries are added in sensor-id order.
    fn district_partials(b: &mut Bucket, dir: &SensorDirectory) -> Vec<Partial> {
        let mut out: Vec<Partial> = Vec::new();
        b.visit_mut(dir, |_, e| {
            if e.counts() {
                let d = e.district as usize;
                if out.len() <= d {
                    out.resize(d + 1, Partial::default());
                }
                out[d].add(&e.values);
            }
        });
        out
    }

    /// The partial of district `d` in pending minute `m` (cached).
    fn pending_partial(&mut self, m: EpochMillis, d: u32) -> Option<&Partial> {
        let b = self.minutes.get_mut(&m)?;
        let dir = &self.dir;
        self.by_district
            .entry(m)
            .or_insert_with(|| Self::district_partials(b, dir))
            .get(d as usize)
    }

    fn emit(&mut self, d: u32, id: WindowId, revision: bool, out: &mut CityOutput) {
        let Some(win) = self.windows.get(&(d, id)) else {
            return;
        };
        if revision != (win.emitted >= 0) {
            return;
        }
        let mut part = win.fin.clone();
        let pending: Vec<EpochMillis> = self
            .minutes
            .range(id.start..id.end())
            .map(|(m, _)| *m)
            .collect();
        for m in pending {
            if let Some(p) = self.pending_partial(m, d) {
                part.merge(p);
            }
        }
        let rev = match self.windows.get_mut(&(d, id)) {
            Some(win) => {
                win.emitted += 1;
                win.dirty = false;
                win.emitted
            }
            None => return,
        };
        let row = self.district_row(d, id, &part, rev);
        self.epoch.rows.push(row.clone());
        out.rows.push(row);
    }

    fn district_row(&self, d: u32, id: WindowId, part: &Partial, revision: i32) -> AggregateRow {
        let sensors = self.dir.pollutant_sensors(d).max(1);
        let vf = f64::from(part.cnt[0]) / (f64::from(sensors) * f64::from(id.kind.minutes()));
        let name = Arc::clone(self.dir.district_name(d));
        AggregateRow {
            scope: Scope::District,
            key: Arc::clone(&name),
            district: name,
            window: id,
            stats: Stats::of(part, id.kind, vf),
            nowcast_pm25: None,
            revision,
            emitted_at: self.wm,
        }
    }

    fn finalise(&mut self, m: EpochMillis, mut b: Bucket) {
        let mut districts = BTreeSet::new();
        b.visit_mut(&self.dir, |_, e| {
            districts.insert(e.district);
        });
        let parts = match self.by_district.remove(&m) {
            Some(p) => p,
            None => Self::district_partials(&mut b, &self.dir),
        };
        for d in districts {
            let p = parts.get(d as usize).cloned().unwrap_or_default();
            for kind in WindowKind::ALL {
                let id = WindowId {
                    kind,
                    start: kind.start_of(m),
                };
                if let Some(w) = self.windows.get_mut(&(d, id)) {
                    w.fin.merge(&p);
                }
            }
        }
        let (dir, version, ledger) = (&self.dir, &mut self.ledger_version, &mut self.epoch.ledger);
        b.visit_mut(dir, |id, e| {
            *version += 1;
            ledger.push(LedgerEntry {
                sensor_id: Arc::clone(id),
                district: Arc::clone(dir.district_name(e.district)),
                minute_start: m,
                excluded: !e.counts(),
                version: *version,
                values: e.values,
            });
        });
    }

    /// Sensor-minutes for minutes already final (held since the last advance): into
    /// the ledger, then every district window they belong to is recomputed from it —
    /// open windows get a new folded state, closed ones a new revision.
    fn process_late(&mut self, out: &mut CityOutput) -> Result<()> {
        let late = std::mem::take(&mut self.late);
        let mut groups: BTreeMap<(u32, EpochMillis), Vec<WindowId>> = BTreeMap::new();
        for (u, district) in late {
            let drifting = self
                .dir
                .index_of(&u.sensor_id)
                .is_some_and(|i| self.drift.is_drifting(i));
            self.ledger_version += 1;
            let entry = LedgerEntry {
                sensor_id: Arc::clone(&u.sensor_id),
                district: Arc::clone(self.dir.district_name(district)),
                minute_start: u.minute_start,
                excluded: u.excluded || drifting,
                version: self.ledger_version,
                values: u.values,
            };
            let sm = SensorMinute::new(
                Arc::clone(&u.sensor_id),
                u.minute_start,
                &u.values,
                entry.excluded,
                u.revision,
            );
            self.detector.observe(&sm);
            self.epoch.ledger.push(entry);
            let ids = groups
                .entry((district, WindowKind::D1.start_of(u.minute_start)))
                .or_default();
            for kind in WindowKind::ALL {
                let id = WindowId {
                    kind,
                    start: kind.start_of(u.minute_start),
                };
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        for ((district, day), mut ids) in groups {
            ids.sort();
            let name = Arc::clone(self.dir.district_name(district));
            let ledger = self.ledger_minutes(&name, day, day + WindowKind::D1.len_ms())?;
            let mut closed = Vec::new();
            for id in ids {
                let fin = fold_ledger(&ledger, id);
                match self.windows.get_mut(&(district, id)) {
                    Some(w) => {
                        w.fin = fin;
                        if w.emitted >= 0 {
                            self.dirty.insert((district, id));
                        }
                    }
                    None => closed.push((id, fin)),
                }
            }
            if closed.is_empty() {
                continue;
            }
            let keys: Vec<(&str, WindowId)> = closed.iter().map(|(id, _)| (&*name, *id)).collect();
            let mut revs = self.archive.revisions(Scope::District, &keys)?;
            for row in &self.epoch.rows {
                if row.scope == Scope::District && row.key == name {
                    let e = revs
                        .entry((name.to_string(), row.window))
                        .or_insert(row.revision);
                    *e = (*e).max(row.revision);
                }
            }
            for (id, part) in closed {
                let rev = revs.get(&(name.to_string(), id)).map_or(0, |r| r + 1);
                let row = self.district_row(district, id, &part, rev);
                self.epoch.rows.push(row.clone());
                out.rows.push(row);
            }
        }
        Ok(())
    }

    /// Latest ledger entry per sensor-minute of a district in `[from, to)`: the
    /// published ledger plus this epoch's.
    fn ledger_minutes(
        &self,
        district: &str,
        from: EpochMillis,
        to: EpochMillis,
    ) -> Result<Vec<LedgerEntry>> {
        let mut all = self.archive.ledger(&[district], from, to)?;
        all.extend(
            self.epoch
                .ledger
                .iter()
                .filter(|e| &*e.district == district && (from..to).contains(&e.minute_start))
                .cloned(),
        );
        let mut latest: BTreeMap<(EpochMillis, Arc<str>), LedgerEntry> = BTreeMap::new();
        for e in all {
            let k = (e.minute_start, e.sensor_id.clone());
            match latest.get(&k) {
                Some(x) if x.version >= e.version => {}
                _ => {
                    latest.insert(k, e);
                }
            }
        }
        Ok(latest.into_values().collect())
    }

    /// Takes what the epoch accumulated for the history.
    pub fn take_epoch(&mut self) -> CityEpoch {
        // The ledger has one entry per sensor-minute: the next epoch will need about
        // as many (growing to it by doubling would copy it repeatedly), in a vector
        // the writer gave back if there is one.
        let next = CityEpoch {
            ledger: self.spare_ledger.take(self.epoch.ledger.len()),
            ..CityEpoch::default()
        };
        std::mem::replace(&mut self.epoch, next)
    }
}

/// The district partial of a window from ledger entries sorted by (minute, sensor):
/// per-minute partials folded in minute order, like the live path.
fn fold_ledger(entries: &[LedgerEntry], id: WindowId) -> Partial {
    let mut total = Partial::default();
    let mut minute = Partial::default();
    let mut current = None;
    for e in entries
        .iter()
        .filter(|e| (id.start..id.end()).contains(&e.minute_start))
    {
        if current != Some(e.minute_start) {
            if current.is_some() {
                total.merge(&minute);
            }
            minute = Partial::default();
            current = Some(e.minute_start);
        }
        if !e.excluded {
            minute.add(&e.values);
        }
    }
    if current.is_some() {
        total.merge(&minute);
    }
    total
}

#[cfg(test)]
mod tests;
