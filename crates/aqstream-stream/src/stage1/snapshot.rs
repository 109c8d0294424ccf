//! Checkpoints of the stage-1 operator: its whole state as bytes, and back.
//!
//! Sensors are referred to by id (not by their in-memory slot), so a checkpoint can be
//! restored by another worker, or after the registry gained sensors. The order of the
//! emission queues is kept, so a restored operator emits in the same order as the one
//! that was interrupted.

use super::clock::Clock;
use super::qa::{Run, SensorQa};
use super::state::{PartitionOperator, QRef, SensorState, WinRef};
use super::windows::Win;
use crate::archive::Archive;
use crate::codec::{Dec, Enc};
use crate::codec::{get_partial, get_window, put_partial, put_window};
use crate::config::StreamConfig;
use crate::directory::SensorDirectory;
use crate::error::{Result, StreamError};
use crate::partial::NS;
use crate::plan::{SegmentBuilder, SegmentPlan};
use crate::window::{Cell, CellKind, MinuteSet};
use aqstream_core::json::{DecodeMode, EncodeStyle, decode_one, encode};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int32Type, UInt64Type};
use std::sync::Arc;

const MAGIC: &[u8; 4] = b"S1v1";

impl PartitionOperator {
    fn id_of(&self, slot: u32) -> Result<Arc<str>> {
        self.sensors
            .get(slot as usize)
            .and_then(|s| s.as_ref())
            .map(|s| Arc::clone(&s.id))
            .ok_or_else(|| StreamError::corrupt("checkpoint", format!("no sensor in slot {slot}")))
    }

    fn put_refs(&self, e: &mut Enc, refs: &[WinRef]) -> Result<()> {
        e.len(refs.len());
        for r in refs {
            e.str(&self.id_of(r.slot)?);
            put_window(e, r.id);
        }
        Ok(())
    }

    fn get_refs(&mut self, d: &mut Dec<'_>) -> Result<Vec<WinRef>> {
        let n = d.len(13)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let id = d.str()?.to_string();
            let slot = self.slot_of_pub(&id);
            out.push(WinRef {
                slot,
                id: get_window(d)?,
            });
        }
        Ok(out)
    }

    /// The operator's state (the pending segment included; the epoch's history data
    /// must have been taken with [`PartitionOperator::take_epoch`] first).
    pub fn snapshot(&mut self) -> Result<Vec<u8>> {
        let mut e = Enc::new();
        e.buf.extend_from_slice(MAGIC);
        e.i32(self.partition);
        e.i64(self.next_offset);
        e.u64(self.seq);
        e.i64(self.clock.frontier);
        e.i64(self.clock.watermark);
        e.i64(self.clock.newest);
        // The dedup keys of closed cells are dropped lazily; a checkpoint holds
        // only the live ones.
        let (w, lateness) = (self.clock.watermark(), self.cfg.lateness_ms());
        for st in self.sensors.iter_mut().flatten() {
            st.prune_dedup(w, lateness);
        }
        let live: Vec<&SensorState> = self.sensors.iter().flatten().map(|b| &**b).collect();
        e.len(live.len());
        for (slot, st) in self.sensors.iter().enumerate() {
            let Some(st) = st else { continue };
            e.str(&st.id);
            e.i64(
                self.clock
                    .max_ts
                    .get(slot)
                    .copied()
                    .unwrap_or(super::clock::NEVER),
            );
            e.bool(self.clock.active.get(slot).copied().unwrap_or(false));
            e.bool(self.clock.is_fast.get(slot).copied().unwrap_or(false));
            e.len(st.dedup.len());
            for (ts, p) in &st.dedup {
                e.i64(*ts);
                e.u32(*p);
            }
            for run in &st.qa.runs {
                match run {
                    Some(r) => {
                        e.u8(1);
                        e.u64(r.value);
                        e.i64(r.since);
                        e.i64(r.last);
                    }
                    None => e.u8(0),
                }
            }
            for t in st.qa.last_seen {
                e.i64(t);
            }
            e.u8(st.qa.active);
            e.len(st.windows.len());
            for (id, w) in st.windows.iter() {
                put_window(&mut e, id);
                put_partial(&mut e, &w.part);
                e.len(w.minutes.words().len());
                for word in w.minutes.words() {
                    e.u64(*word);
                }
                e.i32(w.emitted);
                e.bool(w.dirty);
            }
            let newest = st.nowcast.latest_hour_start_s();
            match newest {
                Some(h) => {
                    e.u8(1);
                    for i in (0..12).rev() {
                        e.opt_f64(st.nowcast.get(h - i * 3600));
                    }
                    e.i64(h);
                }
                None => e.u8(0),
            }
        }
        // The format keys the closing queue by end + lateness (as it once was in
        // memory); a restore re-keys every window by its end.
        let lateness = self.cfg.lateness_ms();
        for (q, shift) in [(&self.emit_q, 0), (&self.close_q, lateness)] {
            e.len(q.len());
            for (k, refs) in q {
                e.i64(k.saturating_add(shift));
                let refs: Vec<WinRef> = refs.iter().map(|r| r.at(*k)).collect();
                self.put_refs(&mut e, &refs)?;
            }
        }
        self.put_refs(&mut e, &self.dirty)?;
        if !self.seg.is_empty() {
            let b = self.seg.finish()?;
            self.seg_done.push(b);
        }
        e.len(self.seg_done.len());
        for b in &self.seg_done {
            self.put_segment(&mut e, b)?;
        }
        e.len(self.late.len());
        for r in &self.late {
            e.str(&encode(r, EncodeStyle::Canonical));
        }
        Ok(e.buf)
    }

    fn put_segment(&self, e: &mut Enc, b: &RecordBatch) -> Result<()> {
        let k = b.column(0).as_primitive::<UInt64Type>();
        let vals: Vec<_> = (1..=NS + 2)
            .map(|i| b.column(i).as_primitive::<Float64Type>())
            .collect();
        let pr = b.column(NS + 3).as_primitive::<Int32Type>();
        e.len(b.num_rows());
        for i in 0..b.num_rows() {
            let (slot, cell) = Cell::unpack(k.value(i));
            e.str(&self.id_of(slot)?);
            e.u8(cell.kind as u8);
            e.i64(cell.start);
            for v in &vals {
                e.opt_f64(v.is_valid(i).then(|| v.value(i)));
            }
            e.i32(pr.value(i));
        }
        Ok(())
    }

    /// An operator restored from [`PartitionOperator::snapshot`].
    pub fn restore(
        cfg: Arc<StreamConfig>,
        dir: Arc<SensorDirectory>,
        plan: Arc<SegmentPlan>,
        archive: Arc<dyn Archive>,
        bytes: &[u8],
    ) -> Result<PartitionOperator> {
        let mut d = Dec::new(bytes, "stage-1 checkpoint");
        if bytes.len() < 4 || &bytes[..4] != MAGIC {
            return Err(StreamError::corrupt("stage-1 checkpoint", "bad magic"));
        }
        for _ in 0..4 {
            d.u8()?;
        }
        let partition = d.i32()?;
        let mut op = PartitionOperator::new(partition, Arc::clone(&cfg), dir, plan, archive);
        op.next_offset = d.i64()?;
        op.seq = d.u64()?;
        let (frontier, watermark, newest) = (d.i64()?, d.i64()?, d.i64()?);
        let mut clock = Clock::new(&cfg);
        let n = d.len(20)?;
        for _ in 0..n {
            let id = d.str()?.to_string();
            let slot = op.slot_of_pub(&id);
            let i = slot as usize;
            if i >= clock.max_ts.len() {
                clock.max_ts.resize(i + 1, super::clock::NEVER);
                clock.active.resize(i + 1, false);
                clock.is_fast.resize(i + 1, false);
            }
            clock.max_ts[i] = d.i64()?;
            clock.active[i] = d.bool()?;
            clock.is_fast[i] = d.bool()?;
            let st = op.state_mut(slot, &id);
            let nd = d.len(12)?;
            st.dedup = (0..nd)
                .map(|_| Ok((d.i64()?, d.u32()?)))
                .collect::<Result<_>>()?;
            let mut qa = SensorQa::default();
            for run in qa.runs.iter_mut() {
                if d.bool()? {
                    *run = Some(Run {
                        value: d.u64()?,
                        since: d.i64()?,
                        last: d.i64()?,
                    });
                }
            }
            for t in qa.last_seen.iter_mut() {
                *t = d.i64()?;
            }
            qa.active = d.u8()?;
            st.qa = qa;
            let nw = d.len(30)?;
            for _ in 0..nw {
                let id = get_window(&mut d)?;
                let part = get_partial(&mut d)?;
                let nwords = d.len(8)?;
                let words = (0..nwords).map(|_| d.u64()).collect::<Result<Vec<_>>>()?;
                let win = Win {
                    part,
                    minutes: MinuteSet::from_words(words),
                    emitted: d.i32()?,
                    dirty: d.bool()?,
                };
                if st.windows.get_mut(id).is_some() {
                    return Err(StreamError::corrupt(
                        "stage-1 checkpoint",
                        format!("window {id:?} of a sensor listed twice"),
                    ));
                }
                st.windows.push(id, win);
            }
            if d.bool()? {
                let vals = (0..12).map(|_| d.opt_f64()).collect::<Result<Vec<_>>>()?;
                let h = d.i64()?;
                for (i, v) in vals.into_iter().enumerate() {
                    if let Some(v) = v {
                        st.nowcast.push(h - (11 - i as i64) * 3600, v);
                    }
                }
            }
        }
        clock.restore(frontier, watermark, newest);
        op.clock = clock;
        for which in 0..2 {
            let nk = d.len(12)?;
            for _ in 0..nk {
                d.i64()?; // the queue key: every window is re-keyed by its end
                let refs = op.get_refs(&mut d)?;
                let q = if which == 0 {
                    &mut op.emit_q
                } else {
                    &mut op.close_q
                };
                for r in refs {
                    q.entry(r.id.end()).or_default().push(QRef::of(r));
                }
            }
        }
        op.dirty = op.get_refs(&mut d)?;
        let nb = d.len(4)?;
        for _ in 0..nb {
            let rows = d.len(14)?;
            let mut b = SegmentBuilder::default();
            for _ in 0..rows {
                let id = d.str()?.to_string();
                let slot = op.slot_of_pub(&id);
                let kind = CellKind::from_index(d.u8()?)
                    .ok_or_else(|| StreamError::corrupt("stage-1 checkpoint", "bad cell kind"))?;
                let cell = Cell {
                    kind,
                    start: d.i64()?,
                };
                let mut v = [None; NS];
                for x in v.iter_mut() {
                    *x = d.opt_f64()?;
                }
                let wx = d.opt_f64()?;
                let wy = d.opt_f64()?;
                let problems = d.i32()? as u8;
                let key = cell.pack(slot).ok_or_else(|| {
                    StreamError::corrupt("stage-1 checkpoint", "cell out of range")
                })?;
                b.push(key, &v, wx.zip(wy), problems);
            }
            op.seg_done.push(b.finish()?);
        }
        let nl = d.len(4)?;
        for _ in 0..nl {
            let text = d.str()?;
            let r = decode_one(text.as_bytes(), DecodeMode::Canonical)
                .map_err(|e| StreamError::corrupt("stage-1 checkpoint", e.to_string()))?;
            op.late.push(r);
        }
        if d.remaining() != 0 {
            return Err(StreamError::corrupt("stage-1 checkpoint", "trailing bytes"));
        }
        Ok(op)
    }
}
