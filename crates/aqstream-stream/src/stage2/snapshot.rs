//! Checkpoints of stage 2.

use super::drift::{HourStat, SensorDrift};
use super::{Bucket, CityOperator, DWin, Entry, PartState};
use crate::archive::Archive;
use crate::city::MinuteUpdate;
use crate::codec::{Dec, Enc};
use crate::codec::{get_partial, get_window, put_partial, put_window};
use crate::config::StreamConfig;
use crate::detect::Detect;
use crate::directory::SensorDirectory;
use crate::error::{Result, StreamError};
use crate::partial::MinuteValues;
use crate::window::WindowId;
use aqstream_core::time::EpochMillis;
use std::sync::Arc;

const MAGIC: &[u8; 4] = b"S2v1";
const WHAT: &str = "stage-2 checkpoint";

fn put_values(e: &mut Enc, v: &MinuteValues) {
    for k in 0..MinuteValues::SLOTS {
        e.opt_f64(v.slot(k));
    }
}

fn get_values(d: &mut Dec<'_>) -> Result<MinuteValues> {
    let mut v = MinuteValues::default();
    for k in 0..MinuteValues::SLOTS {
        v.set_slot(k, d.opt_f64()?);
    }
    Ok(v)
}

impl CityOperator {
    fn put_key(&self, e: &mut Enc, key: &(u32, WindowId)) {
        e.str(self.dir.district_name(key.0));
        put_window(e, key.1);
    }

    fn get_key(&self, d: &mut Dec<'_>) -> Result<(u32, WindowId)> {
        let name = d.str()?;
        let district = self
            .dir
            .district_index_of(name)
            .unwrap_or_else(|| self.dir.unknown_district());
        Ok((district, get_window(d)?))
    }

    /// The operator's state (take the epoch first).
    pub fn snapshot(&self) -> Result<Vec<u8>> {
        let mut e = Enc::new();
        e.buf.extend_from_slice(MAGIC);
        e.len(self.parts.len());
        for p in &self.parts {
            e.i64(p.wm);
            e.u64(p.seq);
            e.bool(p.idle);
        }
        e.i64(self.wm);
        e.i64(self.hours_done);
        e.i64(self.ledger_version);
        e.len(self.minutes.len());
        for (m, b) in &self.minutes {
            e.i64(*m);
            e.bool(b.delivered);
            e.len(b.len());
            b.visit(&self.dir, |id, en| {
                e.str(id);
                e.str(self.dir.district_name(en.district));
                put_values(&mut e, &en.values);
                e.bool(en.excluded);
                e.bool(en.drift);
                e.i32(en.revision);
            });
        }
        let mut keys: Vec<&(u32, WindowId)> = self.windows.keys().collect();
        keys.sort();
        e.len(keys.len());
        for k in keys {
            let w = &self.windows[k];
            self.put_key(&mut e, k);
            put_partial(&mut e, &w.fin);
            e.i32(w.emitted);
            e.bool(w.dirty);
        }
        for q in [&self.emit_q, &self.close_q] {
            e.len(q.len());
            for (t, list) in q {
                e.i64(*t);
                e.len(list.len());
                for k in list {
                    self.put_key(&mut e, k);
                }
            }
        }
        e.len(self.dirty.len());
        for k in &self.dirty {
            self.put_key(&mut e, k);
        }
        let sensors: Vec<(u32, &SensorDrift)> = (self.drift.sensors.iter().enumerate())
            .filter_map(|(s, st)| Some((s as u32, st.as_ref()?)))
            .collect();
        e.len(sensors.len());
        for (s, st) in sensors {
            e.str(self.dir.id(s));
            e.i64(st.hour);
            e.f64(st.sum_d);
            e.f64(st.sum_level);
            e.u32(st.n);
            e.bool(st.drifting);
            e.len(st.hours.len());
            for h in &st.hours {
                e.i64(h.hour);
                e.f64(h.d);
                e.f64(h.level);
                e.bool(h.drifting);
            }
        }
        e.len(self.late.len());
        for (u, _) in &self.late {
            e.str(&u.sensor_id);
            e.i64(u.minute_start);
            e.i32(u.revision);
            e.bool(u.excluded);
            put_values(&mut e, &u.values);
        }
        e.bytes(&self.detector.snapshot());
        Ok(e.buf)
    }

    /// Stage 2 restored from [`CityOperator::snapshot`].
    pub fn restore(
        cfg: Arc<StreamConfig>,
        dir: Arc<SensorDirectory>,
        archive: Arc<dyn Archive>,
        mut detector: Box<dyn Detect>,
        bytes: &[u8],
    ) -> Result<CityOperator> {
        if bytes.len() < 4 || &bytes[..4] != MAGIC {
            return Err(StreamError::corrupt(WHAT, "bad magic"));
        }
        let mut d = Dec::new(&bytes[4..], WHAT);
        let np = d.len(17)?;
        let mut parts = Vec::with_capacity(np);
        for _ in 0..np {
            parts.push(PartState {
                wm: d.i64()?,
                seq: d.u64()?,
                idle: d.bool()?,
            });
        }
        let wm = d.i64()?;
        let hours_done = d.i64()?;
        let ledger_version = d.i64()?;
        let nm = d.len(13)?;
        let mut minutes = std::collections::BTreeMap::new();
        for _ in 0..nm {
            let m: EpochMillis = d.i64()?;
            let mut b = Bucket::default();
            b.delivered = d.bool()?;
            let ne = d.len(20)?;
            for _ in 0..ne {
                let id: Arc<str> = Arc::from(d.str()?);
                let district = dir
                    .district_index_of(d.str()?)
                    .unwrap_or_else(|| dir.unknown_district());
                let values = get_values(&mut d)?;
                let entry = Entry {
                    district,
                    rank: 0,
                    values,
                    excluded: d.bool()?,
                    drift: d.bool()?,
                    revision: d.i32()?,
                };
                b.insert(&dir, dir.index_of(&id), &id, entry);
            }
            minutes.insert(m, b);
        }
        let n = np;
        let mut op = CityOperator::new(
            cfg,
            Arc::clone(&dir),
            archive,
            Box::new(crate::detect::NoDetector),
            n,
        );
        op.parts = parts;
        op.wm = wm;
        op.hours_done = hours_done;
        op.ledger_version = ledger_version;
        op.minutes = minutes;
        let nw = d.len(30)?;
        for _ in 0..nw {
            let k = op.get_key(&mut d)?;
            let fin = get_partial(&mut d)?;
            op.windows.insert(
                k,
                DWin {
                    fin,
                    emitted: d.i32()?,
                    dirty: d.bool()?,
                },
            );
        }
        for which in 0..2 {
            let nq = d.len(12)?;
            for _ in 0..nq {
                let t = d.i64()?;
                let nk = d.len(13)?;
                let list = (0..nk)
                    .map(|_| op.get_key(&mut d))
                    .collect::<Result<Vec<_>>>()?;
                if which == 0 {
                    op.emit_q.insert(t, list);
                } else {
                    op.close_q.insert(t, list);
                }
            }
        }
        let ndirty = d.len(13)?;
        for _ in 0..ndirty {
            let k = op.get_key(&mut d)?;
            op.dirty.insert(k);
        }
        let ns = d.len(30)?;
        for _ in 0..ns {
            let id = d.str()?;
            let mut st = SensorDrift {
                hour: d.i64()?,
                sum_d: d.f64()?,
                sum_level: d.f64()?,
                n: d.u32()?,
                drifting: d.bool()?,
                ..SensorDrift::default()
            };
            let nh = d.len(25)?;
            for _ in 0..nh {
                st.hours.push_back(HourStat {
                    hour: d.i64()?,
                    d: d.f64()?,
                    level: d.f64()?,
                    drifting: d.bool()?,
                });
            }
            if let Some(i) = dir.index_of(id) {
                op.drift.restore(i, st);
            }
        }
        let nl = d.len(20)?;
        for _ in 0..nl {
            let sensor_id: Arc<str> = Arc::from(d.str()?);
            let u = MinuteUpdate {
                minute_start: d.i64()?,
                revision: d.i32()?,
                excluded: d.bool()?,
                values: get_values(&mut d)?,
                sensor_id,
            };
            let district = dir.district_of_id(&u.sensor_id);
            op.late.push((u, district));
        }
        let det = d.bytes()?;
        detector
            .restore(det)
            .map_err(|e| StreamError::corrupt("detector state", e))?;
        op.detector = detector;
        if d.remaining() != 0 {
            return Err(StreamError::corrupt(WHAT, "trailing bytes"));
        }
        Ok(op)
    }
}
