//! Readings later than the allowed lateness.
//!
//! Their windows' state is gone, but nothing is dropped: at the next cut the operator
//! checks them against the published history and the current epoch (a reading already
//! there is a duplicate), accepts the others into the history, merges them into the
//! windows that are still open (a 10-minute-late reading still belongs to the open
//! hour), and **recomputes each closed window** from all its readings — the published
//! history plus the current epoch — emitting it as the next revision. So the latest
//! revision of every window is the aggregate over all accepted, deduplicated readings.

use super::qa;
use super::state::{PartitionOperator, Stage1Output, cell_windows, sensor_row, valid_values};
use crate::city::{CityInput, MinuteUpdate};
use crate::error::Result;
use crate::partial::Partial;
use crate::plan::SegmentBuilder;
use crate::rows::Scope;
use crate::window::{Cell, MinuteSet, WindowId, WindowKind};
use aqstream_core::Reading;
use aqstream_core::arrow::batch_to_readings;
use aqstream_core::time::{DAY_MS, EpochMillis, MINUTE_MS};
use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::TimestampMillisecondType;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

impl PartitionOperator {
    pub(crate) fn process_late(&mut self, out: &mut Stage1Output) -> Result<()> {
        let lates = std::mem::take(&mut self.late);
        let w = self.clock.watermark();
        let lateness = self.cfg.lateness_ms();
        // The readings needed: every closed window of every late reading.
        let (mut from, mut to) = (i64::MAX, i64::MIN);
        let mut names: BTreeSet<&str> = BTreeSet::new();
        for r in &lates {
            let cell = Cell::of(r.ts, r.period_s);
            if let Some(big) = cell_windows(&cell)
                .filter(|id| id.end().saturating_add(lateness) <= w)
                .last()
            {
                from = from.min(big.start);
                to = to.max(big.end().saturating_add(DAY_MS));
            }
            names.insert(&r.sensor_id);
        }
        let names: Vec<&str> = names.into_iter().collect();
        let mut known: HashMap<String, Vec<Reading>> = HashMap::new();
        if from < to {
            for r in self.archive.readings(&names, from, to)? {
                known.entry(r.sensor_id.clone()).or_default().push(r);
            }
            self.epoch.seal();
            let set: HashSet<&str> = names.iter().copied().collect();
            for b in &self.epoch.readings {
                for r in epoch_rows(b, &set, from, to)? {
                    known.entry(r.sensor_id.clone()).or_default().push(r);
                }
            }
        }
        drop(names);
        // Dedup in arrival order, accept the rest.
        let mut seg = SegmentBuilder::default();
        let mut recompute: BTreeSet<(u32, WindowId)> = BTreeSet::new();
        for r in lates {
            let list = known.entry(r.sensor_id.clone()).or_default();
            if list
                .iter()
                .any(|k| k.ts == r.ts && k.period_s == r.period_s)
            {
                out.duplicates += 1;
                continue;
            }
            let slot = self.slot_of_pub(&r.sensor_id);
            self.state_mut(slot, &r.sensor_id);
            let cell = Cell::of(r.ts, r.period_s);
            match cell.pack(slot) {
                Some(k) => {
                    let (vals, wind) = valid_values(&r);
                    seg.push(k, &vals, wind, qa::problems_of(&r));
                }
                None => continue,
            }
            self.epoch_push(&r);
            out.accepted += 1;
            list.push(r);
        }
        // Merge into the windows still open; collect the closed ones.
        let batch = seg.finish()?;
        for (k, p) in self.plan.run(batch)? {
            let (slot, cell) = Cell::unpack(k);
            for id in self.merge_cell(slot, cell, &p) {
                recompute.insert((slot, id));
            }
        }
        if recompute.is_empty() {
            return Ok(());
        }
        // Revisions published so far.
        let ids: Vec<(Arc<str>, WindowId)> = recompute
            .iter()
            .filter_map(|(slot, id)| self.sensor_id(*slot).map(|s| (s, *id)))
            .collect();
        let keys: Vec<(&str, WindowId)> = ids.iter().map(|(s, id)| (&**s, *id)).collect();
        let mut revisions = self.archive.revisions(Scope::Sensor, &keys)?;
        for row in &self.epoch.rows {
            if row.scope == Scope::Sensor {
                let e = revisions
                    .entry((row.key.to_string(), row.window))
                    .or_insert(row.revision);
                *e = (*e).max(row.revision);
            }
        }
        for (slot, id) in recompute {
            let Some(name) = self.sensor_id(slot) else {
                continue;
            };
            let mut readings: Vec<&Reading> = known
                .get(&*name)
                .map(|v| {
                    v.iter()
                        .filter(|r| {
                            let c = Cell::of(r.ts, r.period_s);
                            c.kind.windows().contains(&id.kind)
                                && c.window_start(id.kind) == id.start
                        })
                        .collect()
                })
                .unwrap_or_default();
            readings.sort_by_key(|r| (r.ts, r.period_s));
            let (part, minutes) = self.recompute_window(slot, id, &readings)?;
            let rev = revisions.get(&(name.to_string(), id)).map_or(0, |r| r + 1);
            revisions.insert((name.to_string(), id), rev);
            let fast = self.clock.is_fast(slot);
            let Some(Some(st)) = self.sensors.get_mut(slot as usize) else {
                continue;
            };
            let row = sensor_row(st, id, &part, minutes, rev, w);
            let sensor = Arc::clone(&st.id);
            self.output_row(row, out);
            if id.kind == WindowKind::M1 {
                let m = MinuteUpdate {
                    sensor_id: sensor,
                    minute_start: id.start,
                    revision: rev,
                    excluded: fast,
                    values: part.minute_values(),
                };
                self.push_city(CityInput::Minute(m), out);
            }
        }
        Ok(())
    }

    /// The aggregate of one window over `readings` (all of its readings, in order).
    fn recompute_window(
        &self,
        slot: u32,
        id: WindowId,
        readings: &[&Reading],
    ) -> Result<(Partial, u32)> {
        let mut seg = SegmentBuilder::default();
        for r in readings {
            if let Some(k) = Cell::of(r.ts, r.period_s).pack(slot) {
                let (vals, wind) = valid_values(r);
                seg.push(k, &vals, wind, qa::problems_of(r));
            }
        }
        let mut part = Partial::default();
        let mut minutes = MinuteSet::new(id.kind);
        for (k, p) in self.plan.run(seg.finish()?)? {
            let (_, cell) = Cell::unpack(k);
            part.merge(&p);
            if p.cnt[0] > 0 {
                let at = ((cell.start - id.start) / MINUTE_MS) as u32;
                minutes.insert_range(at, cell.kind.window().minutes());
            }
        }
        Ok((part, minutes.count()))
    }

    fn sensor_id(&self, slot: u32) -> Option<Arc<str>> {
        self.sensors
            .get(slot as usize)
            .and_then(|s| s.as_ref())
            .map(|s| Arc::clone(&s.id))
    }
}

/// Rows of an epoch batch for these sensors with `from ≤ ts < to`, as readings.
fn epoch_rows(
    b: &RecordBatch,
    sensors: &HashSet<&str>,
    from: EpochMillis,
    to: EpochMillis,
) -> Result<Vec<Reading>> {
    let ids = b.column(0).as_string::<i32>();
    let ts = b.column(2).as_primitive::<TimestampMillisecondType>();
    let mask: BooleanArray = (0..b.num_rows())
        .map(|i| {
            Some(
                ids.is_valid(i)
                    && sensors.contains(ids.value(i))
                    && (from..to).contains(&ts.value(i)),
            )
        })
        .collect();
    if mask.true_count() == 0 {
        return Ok(Vec::new());
    }
    Ok(batch_to_readings(&filter_record_batch(b, &mask)?)?)
}
