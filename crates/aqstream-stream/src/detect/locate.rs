//! [`LocateDetector`]: `aqstream_locate::Detector` behind the [`Detect`] hook.
//!
//! ## Checkpoints
//!
//! The locate detector keeps a large, evolving state (per-sensor gain and noise
//! tracks, CUSUMs, the evidence window, open episodes, CBPF histograms) and has no
//! serialised form. Its decisions depend only on its inputs, so the adapter checkpoints
//! the *inputs* instead: a journal of the last `memory` of event time (every observed
//! sensor-minute and every watermark advance, in order). Restoring builds a fresh
//! detector and feeds it the journal, discarding the transitions it produces (they
//! were emitted before the checkpoint).
//!
//! What this gives and what it does not:
//!
//! * Aggregates and the history are unaffected (detection does not feed them).
//! * Within the memory the restored detector has seen exactly what the live one saw;
//!   what it learnt before that (slow gain/noise tracks, the long-term CBPF prior) is
//!   relearnt. With the default memory (4 h, about three gain time constants) the
//!   difference is small, but alerts after a recovery are not guaranteed to be
//!   byte-identical to an uninterrupted run.
//! * Alert ids stay unique and stable: the adapter remembers the ids it issued and
//!   the open alerts (id, pollutant, onset). A replayed episode with the pollutant
//!   and onset of an open alert keeps that alert's id; an id the fresh detector would
//!   reuse gets the next free number of its day; an open alert the fresh detector no
//!   longer sees is resolved at the next advance, so no alert stays firing forever.
//!
//! In an uninterrupted run (and in `replay`) the adapter is transparent: the alerts
//! are the detector's own.

use super::{Detect, SensorMinute};
use crate::codec::{Dec, Enc};
use aqstream_core::alert::{Alert, AlertState, SourceEstimate, SourceType, Wind};
use aqstream_core::measure::N_MEASURES;
use aqstream_core::registry::SensorRegistry;
use aqstream_core::time::EpochMillis;
use aqstream_locate::{Detector, DetectorConfig};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

const MAGIC: &[u8; 4] = b"LDv1";

/// One input of the detector, as journaled.
// Observations outnumber advances by the number of sensors.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
enum Event {
    Observe(aqstream_locate::SensorMinute),
    Advance(EpochMillis),
}

impl Event {
    fn time(&self) -> EpochMillis {
        match self {
            Event::Observe(m) => m.minute_end,
            Event::Advance(w) => *w,
        }
    }
}

/// An alert that is open (fired, not resolved), under its external id.
#[derive(Debug, Clone, PartialEq)]
struct Open {
    /// The id the detector uses now.
    internal: String,
    /// The last transition emitted (external id).
    last: Alert,
}

/// The locate detector with an input journal for checkpoints and stable alert ids.
pub struct LocateDetector {
    registry: Arc<SensorRegistry>,
    config: DetectorConfig,
    inner: Detector,
    journal: VecDeque<Event>,
    memory_ms: i64,
    /// External ids issued, per day prefix (`a-YYYYMMDD`): the highest number.
    issued: BTreeMap<String, u32>,
    /// External ids issued that differ from the detector's (after a recovery).
    renamed: BTreeSet<String>,
    /// Open alerts by external id.
    open: BTreeMap<String, Open>,
    /// Open alerts found no more after a recovery: resolved at the next advance.
    orphans: Vec<Alert>,
}

impl std::fmt::Debug for LocateDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocateDetector")
            .field("journal", &self.journal.len())
            .field("open", &self.open.len())
            .finish_non_exhaustive()
    }
}

impl LocateDetector {
    /// A detector over `registry` that journals `memory_ms` of event time.
    pub fn new(
        registry: Arc<SensorRegistry>,
        config: DetectorConfig,
        memory_ms: i64,
    ) -> LocateDetector {
        let inner = Detector::new(&registry, config.clone());
        LocateDetector {
            registry,
            config,
            inner,
            journal: VecDeque::new(),
            memory_ms: memory_ms.max(0),
            issued: BTreeMap::new(),
            renamed: BTreeSet::new(),
            open: BTreeMap::new(),
            orphans: Vec::new(),
        }
    }

    /// The wrapped detector.
    pub fn inner(&self) -> &Detector {
        &self.inner
    }

    /// Events in the journal.
    pub fn journal_len(&self) -> usize {
        self.journal.len()
    }

    fn trim(&mut self, now: EpochMillis) {
        let keep_from = now.saturating_sub(self.memory_ms);
        while self.journal.front().is_some_and(|e| e.time() < keep_from) {
            self.journal.pop_front();
        }
    }

    /// Maps one transition of the detector to its external id and keeps the books.
    fn map(&mut self, mut a: Alert) -> Alert {
        let internal = a.alert_id.clone();
        let known = self
            .open
            .iter()
            .find(|(_, o)| o.internal == internal)
            .map(|(k, _)| k.clone());
        let external = match known {
            Some(k) => k,
            None => self.fresh_id(&internal),
        };
        a.alert_id = external.clone();
        if a.state == AlertState::Resolved {
            self.open.remove(&external);
        } else {
            self.open.insert(
                external,
                Open {
                    internal,
                    last: a.clone(),
                },
            );
        }
        a
    }

    /// The external id of a new episode the detector calls `internal`.
    fn fresh_id(&mut self, internal: &str) -> String {
        let (prefix, n) = split_id(internal);
        let top = self.issued.entry(prefix.to_string()).or_insert(0);
        let id = match n {
            Some(n) if n > *top && !self.renamed.contains(internal) => {
                *top = n;
                internal.to_string()
            }
            _ => {
                *top += 1;
                let id = format!("{prefix}-{:04}", *top);
                self.renamed.insert(id.clone());
                id
            }
        };
        // Keep the books of the last two days only.
        while self.issued.len() > 2 {
            self.issued.pop_first();
        }
        id
    }

    fn encode(&self, e: &mut Enc) {
        e.i64(self.memory_ms);
        e.len(self.journal.len());
        for ev in &self.journal {
            match ev {
                Event::Advance(w) => {
                    e.u8(0);
                    e.i64(*w);
                }
                Event::Observe(m) => {
                    e.u8(1);
                    e.str(&m.sensor_id);
                    e.i64(m.minute_end);
                    e.bool(m.excluded);
                    for v in m.values {
                        e.opt_f64(v);
                    }
                }
            }
        }
        e.len(self.issued.len());
        for (p, n) in &self.issued {
            e.str(p);
            e.u32(*n);
        }
        e.len(self.renamed.len());
        for r in &self.renamed {
            e.str(r);
        }
        e.len(self.open.len() + self.orphans.len());
        for o in self.open.values() {
            put_alert(e, &o.last);
        }
        for a in &self.orphans {
            put_alert(e, a);
        }
    }
}

impl Detect for LocateDetector {
    fn observe(&mut self, minute: &SensorMinute) {
        let m = aqstream_locate::SensorMinute {
            sensor_id: minute.sensor_id.to_string(),
            minute_end: minute.ts,
            values: minute.values,
            excluded: minute.qa_excluded,
        };
        self.inner.observe(&m);
        if self.memory_ms > 0 {
            self.journal.push_back(Event::Observe(m));
        }
    }

    fn advance(&mut self, watermark: EpochMillis) -> Vec<Alert> {
        let mut out: Vec<Alert> = std::mem::take(&mut self.orphans)
            .into_iter()
            .map(|mut a| {
                a.state = AlertState::Resolved;
                a.resolved_at = Some(watermark);
                a
            })
            .collect();
        for a in self.inner.advance(watermark) {
            out.push(self.map(a));
        }
        if self.memory_ms > 0 {
            self.journal.push_back(Event::Advance(watermark));
            self.trim(watermark);
        }
        out
    }

    fn snapshot(&self) -> Vec<u8> {
        let mut e = Enc::new();
        e.buf.extend_from_slice(MAGIC);
        self.encode(&mut e);
        e.buf
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        if state.is_empty() {
            return Ok(());
        }
        if state.len() < 4 || &state[..4] != MAGIC {
            return Err("detector state: bad magic".into());
        }
        let mut d = Dec::new(&state[4..], "detector state");
        let r = decode(&mut d).map_err(|e| e.to_string())?;
        if d.remaining() != 0 {
            return Err("detector state: trailing bytes".into());
        }
        let (journal, issued, renamed, open) = r;
        self.inner = Detector::new(&self.registry, self.config.clone());
        self.issued = issued;
        self.renamed = renamed;
        self.open.clear();
        self.orphans.clear();
        // Replay the journal; keep the last transition of every episode.
        let mut last: BTreeMap<String, Alert> = BTreeMap::new();
        for ev in &journal {
            match ev {
                Event::Observe(m) => self.inner.observe(m),
                Event::Advance(w) => {
                    for a in self.inner.advance(*w) {
                        last.insert(a.alert_id.clone(), a);
                    }
                }
            }
        }
        // Episodes still open after the replay take the id of the open alert with the
        // same pollutant and onset; the others get an id of their own.
        let mut before = open;
        for (internal, a) in last {
            if a.state == AlertState::Resolved {
                continue;
            }
            let matched = before
                .iter()
                .position(|o| o.pollutant == a.pollutant && o.started_at == a.started_at);
            let external = match matched {
                Some(i) => before.swap_remove(i).alert_id,
                None => self.fresh_id(&internal),
            };
            let mut last = a;
            last.alert_id = external.clone();
            self.open.insert(external, Open { internal, last });
        }
        before.sort_by(|a, b| a.alert_id.cmp(&b.alert_id));
        self.orphans = before;
        self.journal = journal;
        Ok(())
    }
}

type Decoded = (
    VecDeque<Event>,
    BTreeMap<String, u32>,
    BTreeSet<String>,
    Vec<Alert>,
);

fn decode(d: &mut Dec<'_>) -> crate::Result<Decoded> {
    let _memory = d.i64()?;
    let n = d.len(9)?;
    let mut journal = VecDeque::with_capacity(n);
    for _ in 0..n {
        match d.u8()? {
            0 => journal.push_back(Event::Advance(d.i64()?)),
            _ => {
                let sensor_id = d.str()?.to_string();
                let minute_end = d.i64()?;
                let excluded = d.bool()?;
                let mut values = [None; N_MEASURES];
                for v in values.iter_mut() {
                    *v = d.opt_f64()?;
                }
                journal.push_back(Event::Observe(aqstream_locate::SensorMinute {
                    sensor_id,
                    minute_end,
                    values,
                    excluded,
                }));
            }
        }
    }
    let n = d.len(8)?;
    let mut issued = BTreeMap::new();
    for _ in 0..n {
        let p = d.str()?.to_string();
        issued.insert(p, d.u32()?);
    }
    let n = d.len(4)?;
    let mut renamed = BTreeSet::new();
    for _ in 0..n {
        renamed.insert(d.str()?.to_string());
    }
    let n = d.len(16)?;
    let mut open = Vec::with_capacity(n);
    for _ in 0..n {
        open.push(get_alert(d)?);
    }
    Ok((journal, issued, renamed, open))
}

/// `a-20261122-0007` → (`a-20261122`, Some(7)).
fn split_id(id: &str) -> (&str, Option<u32>) {
    match id.rsplit_once('-') {
        Some((p, n)) => (p, n.parse().ok()),
        None => (id, None),
    }
}

fn put_alert(e: &mut Enc, a: &Alert) {
    e.str(&a.alert_id);
    e.str(a.state.as_str());
    e.str(&a.pollutant);
    e.str(&a.district);
    e.i64(a.started_at);
    e.i64(a.detected_at);
    e.bool(a.resolved_at.is_some());
    e.i64(a.resolved_at.unwrap_or(0));
    e.bool(a.source.is_some());
    let s = a.source.unwrap_or(SourceEstimate {
        lat: 0.0,
        lon: 0.0,
        uncertainty_m: 0.0,
    });
    e.f64(s.lat);
    e.f64(s.lon);
    e.f64(s.uncertainty_m);
    e.str(a.source_type.as_str());
    e.f64(a.confidence);
    e.f64(a.peak_ugm3);
    e.len(a.sensors.len());
    for s in &a.sensors {
        e.str(s);
    }
    e.bool(a.wind.is_some());
    let w = a.wind.unwrap_or(Wind {
        speed_ms: 0.0,
        from_deg: 0.0,
    });
    e.f64(w.speed_ms);
    e.f64(w.from_deg);
}

fn get_alert(d: &mut Dec<'_>) -> crate::Result<Alert> {
    let bad = |e: String| crate::StreamError::corrupt("detector state", e);
    let alert_id = d.str()?.to_string();
    let state: AlertState = d.str()?.parse().map_err(bad)?;
    let pollutant = d.str()?.to_string();
    let district = d.str()?.to_string();
    let started_at = d.i64()?;
    let detected_at = d.i64()?;
    let has_resolved = d.bool()?;
    let resolved = d.i64()?;
    let has_source = d.bool()?;
    let source = SourceEstimate {
        lat: d.f64()?,
        lon: d.f64()?,
        uncertainty_m: d.f64()?,
    };
    let source_type: SourceType = d.str()?.parse().map_err(bad)?;
    let confidence = d.f64()?;
    let peak_ugm3 = d.f64()?;
    let n = d.len(4)?;
    let mut sensors = Vec::with_capacity(n);
    for _ in 0..n {
        sensors.push(d.str()?.to_string());
    }
    let has_wind = d.bool()?;
    let wind = Wind {
        speed_ms: d.f64()?,
        from_deg: d.f64()?,
    };
    Ok(Alert {
        alert_id,
        state,
        pollutant,
        district,
        started_at,
        detected_at,
        resolved_at: has_resolved.then_some(resolved),
        source: has_source.then_some(source),
        source_type,
        confidence,
        peak_ugm3,
        sensors,
        wind: has_wind.then_some(wind),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_unique_after_a_renumbering() {
        let reg = Arc::new(SensorRegistry::default());
        let mut d = LocateDetector::new(reg, DetectorConfig::default(), 0);
        assert_eq!(d.fresh_id("a-20261122-0001"), "a-20261122-0001");
        assert_eq!(d.fresh_id("a-20261122-0002"), "a-20261122-0002");
        // A fresh detector after a recovery counts from 1 again.
        assert_eq!(d.fresh_id("a-20261122-0001"), "a-20261122-0003");
        assert_eq!(d.fresh_id("a-20261122-0002"), "a-20261122-0004");
        assert_eq!(d.fresh_id("a-20261123-0001"), "a-20261123-0001");
        assert_eq!(split_id("a-20261122-0007"), ("a-20261122", Some(7)));
    }
}
