//! The detector: one-minute means in, alert transitions out, in event time.
//!
//! The caller (the stream worker, `replay`, or the quality benchmark) feeds valid
//! one-minute means per sensor with [`Detector::observe`] in any order, and closes
//! minutes with [`Detector::advance`] as its watermark moves. Everything the detector
//! decides depends only on those inputs: no wall clock, no randomness, no hash-map
//! iteration order, so a replay gives the same alerts as the live run.

use crate::cbpf::{Cbpf, DEFAULT_SPEED_EDGES};
use crate::classify::classify;
use crate::config::{DetectorConfig, PollutantLevels};
use crate::episode::{Emitted, Episode, Phase, alert_id, assign, material_change};
use crate::invert::{Search, SensorEvidence, locate};
use crate::plume::{solar_elevation_deg, stability_class};
use crate::track::{Track, backgrounds};
use crate::wind::{WindSample, WindStats, interpolate};
use aqstream_core::alert::{Alert, AlertState, SourceEstimate, Wind};
use aqstream_core::geo::LocalPlane;
use aqstream_core::measure::Measure;
use aqstream_core::reading::Values;
use aqstream_core::registry::{SensorKind, SensorRegistry};
use aqstream_core::time::{EpochMillis, MINUTE_MS};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// One sensor's valid one-minute means.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorMinute {
    /// Sensor id as in the registry.
    pub sensor_id: String,
    /// End of the minute, epoch ms (rounded up to a whole minute if it is not one).
    pub minute_end: EpochMillis,
    /// Valid one-minute means (`None` = missing or flagged); met sensors carry wind.
    pub values: Values,
    /// The stream's QA has excluded this sensor (stuck, drift, …): it is neither used
    /// for the background nor allowed to raise an episode.
    pub excluded: bool,
}

/// Counters of what the detector did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetectorStats {
    /// Minutes closed.
    pub minutes: u64,
    /// Observations for minutes already closed (dropped).
    pub late_dropped: u64,
    /// Observations of sensors not in the registry (dropped).
    pub unknown_sensor: u64,
    /// Source localizations run.
    pub localizations: u64,
    /// Alert transitions emitted.
    pub transitions: u64,
}

#[derive(Debug, Clone)]
struct Slot {
    id: String,
    district: String,
    x: f64,
    y: f64,
    pollutant: bool,
}

#[derive(Debug, Clone, Copy)]
struct Obs {
    values: Values,
    excluded: bool,
}

/// What one closed minute left behind for the evidence window.
#[derive(Debug, Clone)]
struct MinuteRecord {
    excess: Vec<[f32; 5]>,
    wind: Vec<Option<WindSample>>,
}

/// Episode detection, source localization, classification and the alert lifecycle.
#[derive(Debug)]
pub struct Detector {
    cfg: DetectorConfig,
    thr: [f64; 5],
    floor: [f64; 5],
    plane: LocalPlane,
    lat0: f64,
    lon0: f64,
    slots: Vec<Slot>,
    by_id: HashMap<String, usize>,
    neighbours: Vec<Vec<usize>>,
    pending: BTreeMap<i64, Vec<Option<Obs>>>,
    last_closed: Option<i64>,
    last_data: Option<i64>,
    tracks: Vec<[Track; 5]>,
    learned: Vec<u32>,
    wind_last: Vec<Option<(i64, WindSample)>>,
    stations: Vec<((f64, f64), WindSample)>,
    history: VecDeque<MinuteRecord>,
    hot_prev: Vec<bool>,
    episodes: Vec<Episode>,
    next_seq: u64,
    day: (i64, u32),
    cbpf: Vec<Cbpf>,
    stats: DetectorStats,
}

/// A CUSUM run that began longer ago than this before the sensor got hot is a slow
/// bias, not the plume's onset: the onset is taken no earlier than this, minutes.
const MAX_ONSET_LEAD_MIN: i64 = 20;

/// A location with an uncertainty radius below this is confident (metres).
const CONFIDENT_RADIUS_M: f64 = 500.0;

/// Minutes a sensor learns its gain and noise before it may be hot.
const WARMUP_MINUTES: u32 = 30;

impl Detector {
    /// A detector over the sensors of `registry`.
    pub fn new(registry: &SensorRegistry, config: DetectorConfig) -> Detector {
        let sensors = registry.sensors();
        let (lat0, lon0) = if sensors.is_empty() {
            (0.0, 0.0)
        } else {
            let n = sensors.len() as f64;
            (
                sensors.iter().map(|s| s.lat).sum::<f64>() / n,
                sensors.iter().map(|s| s.lon).sum::<f64>() / n,
            )
        };
        let plane = LocalPlane::new(lat0, lon0);
        let slots: Vec<Slot> = sensors
            .iter()
            .map(|s| {
                let (x, y) = plane.to_xy(s.lat, s.lon);
                Slot {
                    id: s.sensor_id.clone(),
                    district: s.district.clone(),
                    x,
                    y,
                    pollutant: s.kind != SensorKind::Met,
                }
            })
            .collect();
        let r2 = config.background_radius_m.powi(2);
        let neighbours = (0..slots.len())
            .map(|i| {
                (0..slots.len())
                    .filter(|&j| j != i && slots[j].pollutant)
                    .filter(|&j| {
                        (slots[i].x - slots[j].x).powi(2) + (slots[i].y - slots[j].y).powi(2) <= r2
                    })
                    .collect()
            })
            .collect();
        let floor = config.noise_floor.as_array();
        let n = slots.len();
        let cbpf_thr = config.min_excess.pm25;
        Detector {
            thr: config.min_excess.as_array(),
            floor,
            plane,
            lat0,
            lon0,
            by_id: slots
                .iter()
                .enumerate()
                .map(|(i, s)| (s.id.clone(), i))
                .collect(),
            neighbours,
            pending: BTreeMap::new(),
            last_closed: None,
            last_data: None,
            tracks: (0..n)
                .map(|_| std::array::from_fn(|p| Track::new(floor[p])))
                .collect(),
            learned: vec![0; n],
            wind_last: vec![None; n],
            stations: Vec::new(),
            history: VecDeque::new(),
            hot_prev: vec![false; n],
            episodes: Vec::new(),
            next_seq: 1,
            day: (i64::MIN, 0),
            cbpf: (0..n)
                .map(|_| Cbpf::new(36, &DEFAULT_SPEED_EDGES, cbpf_thr))
                .collect(),
            stats: DetectorStats::default(),
            slots,
            cfg: config,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &DetectorConfig {
        &self.cfg
    }

    /// What the detector has done so far.
    pub fn stats(&self) -> DetectorStats {
        self.stats
    }

    /// The local plane the detector works in (centred on the network).
    pub fn plane(&self) -> LocalPlane {
        self.plane
    }

    /// Number of open alerts (firing, not yet resolved).
    pub fn open_alerts(&self) -> usize {
        self.episodes
            .iter()
            .filter(|e| e.phase == Phase::Firing)
            .count()
    }

    /// The long-term CBPF of a sensor's PM2.5 excess (threshold: the PM2.5 minimum
    /// excess), accumulated from every closed minute with wind.
    pub fn cbpf(&self, sensor_id: &str) -> Option<&Cbpf> {
        self.by_id.get(sensor_id).map(|&i| &self.cbpf[i])
    }

    /// Takes one sensor-minute. A later observation of the same sensor and minute
    /// replaces the earlier one; one for a minute already closed is dropped.
    pub fn observe(&mut self, m: &SensorMinute) {
        let Some(&i) = self.by_id.get(&m.sensor_id) else {
            self.stats.unknown_sensor += 1;
            return;
        };
        let minute = m.minute_end.div_euclid(MINUTE_MS) * MINUTE_MS
            + if m.minute_end.rem_euclid(MINUTE_MS) != 0 {
                MINUTE_MS
            } else {
                0
            };
        if self.last_closed.is_some_and(|c| minute <= c) {
            self.stats.late_dropped += 1;
            return;
        }
        let n = self.slots.len();
        let row = self.pending.entry(minute).or_insert_with(|| vec![None; n]);
        row[i] = Some(Obs {
            values: m.values,
            excluded: m.excluded,
        });
    }

    /// Closes every minute ending at or before `watermark` and returns the alert
    /// transitions, in minute order and, within a minute, in episode order.
    pub fn advance(&mut self, watermark: EpochMillis) -> Vec<Alert> {
        let target = watermark.div_euclid(MINUTE_MS) * MINUTE_MS;
        let mut out = Vec::new();
        loop {
            let next = match self.last_closed {
                Some(t) => t + MINUTE_MS,
                None => match self.pending.keys().next() {
                    Some(&k) => k,
                    None => break,
                },
            };
            if next > target {
                break;
            }
            let gap = self
                .last_data
                .is_some_and(|d| next - d > self.cfg.max_gap_minutes as i64 * MINUTE_MS);
            if gap && !self.pending.contains_key(&next) {
                match self.pending.keys().next() {
                    Some(&k) if k <= target => self.last_closed = Some(k - MINUTE_MS),
                    _ => {
                        self.last_closed = Some(target);
                        break;
                    }
                }
                continue;
            }
            let obs = match self.pending.remove(&next) {
                Some(o) => {
                    self.last_data = Some(next);
                    o
                }
                None => vec![None; self.slots.len()],
            };
            self.step(next, &obs, &mut out);
            self.last_closed = Some(next);
        }
        self.stats.transitions += out.len() as u64;
        out
    }

    fn step(&mut self, minute: i64, obs: &[Option<Obs>], out: &mut Vec<Alert>) {
        self.stats.minutes += 1;
        let n = self.slots.len();
        // Wind at the stations, then at every sensor.
        for (i, o) in obs.iter().enumerate() {
            if let Some(o) = o
                && !o.excluded
                && let (Some(s), Some(d)) = (
                    o.values[Measure::WindSpeed.index()],
                    o.values[Measure::WindDir.index()],
                )
                && s.is_finite()
                && d.is_finite()
            {
                self.wind_last[i] = Some((
                    minute,
                    WindSample {
                        speed_ms: s,
                        from_deg: d,
                    },
                ));
            }
        }
        let max_age = self.cfg.wind_max_age_minutes as i64 * MINUTE_MS;
        self.stations = self
            .wind_last
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                w.filter(|(t, _)| minute - t <= max_age)
                    .map(|(_, s)| ((self.slots[i].x, self.slots[i].y), s))
            })
            .collect();
        let wind: Vec<Option<WindSample>> = self
            .slots
            .iter()
            .map(|s| interpolate(&self.stations, s.x, s.y))
            .collect();

        let mut in_episode = vec![false; n];
        for e in &self.episodes {
            for &m in e.members.keys() {
                in_episode[m] = true;
            }
        }
        let mut excess = vec![[f32::NAN; 5]; n];
        let mut hot = vec![false; n];
        let mut warm = vec![false; n];
        let mut raw_vals = vec![[f64::NAN; 5]; n];
        for (p, m) in PollutantLevels::MEASURES.iter().enumerate() {
            let thr = self.thr[p];
            if thr <= 0.0 {
                continue;
            }
            let floor = self.floor[p];
            let mut raw = vec![None; n];
            let mut usable = vec![false; n];
            let mut cal = vec![None; n];
            for i in 0..n {
                let v = obs[i]
                    .filter(|o| !o.excluded)
                    .and_then(|o| o.values[m.index()])
                    .filter(|v| v.is_finite());
                let stuck = self.tracks[i][p].observe_raw(v, self.cfg.stuck_minutes);
                if let Some(v) = v
                    && !stuck
                {
                    raw[i] = Some(v);
                    raw_vals[i][p] = v;
                    cal[i] = Some(v / self.tracks[i][p].log_gain.exp());
                    usable[i] = !in_episode[i] && !self.hot_prev[i];
                }
            }
            let bg = backgrounds(
                &cal,
                &usable,
                &self.neighbours,
                self.cfg.background_min_neighbours,
            );
            for i in 0..n {
                let t = &mut self.tracks[i][p];
                let (Some(c), Some(b), Some(v)) = (cal[i], bg[i], raw[i]) else {
                    t.push_excess(f64::NAN);
                    continue;
                };
                let e = c - b;
                let sigma = t.sigma(floor);
                let k = (thr / (2.0 * sigma)).max(0.5);
                t.cusum.update(e / sigma, k, minute);
                t.push_excess(e);
                excess[i][p] = e as f32;
                let warmed = self.learned[i] >= WARMUP_MINUTES;
                if !in_episode[i] && !self.hot_prev[i] {
                    let seen = self.learned[i] as f64 + 1.0;
                    let a_gain = (1.0 / self.cfg.gain_tau_minutes.max(1.0)).max(1.0 / seen);
                    let a_noise = (1.0 / self.cfg.noise_tau_minutes.max(1.0)).max(1.0 / seen);
                    t.learn(v, b, e, floor, a_gain, a_noise);
                }
                let on = thr.max(self.cfg.hot_z * t.sigma(floor));
                let mean2 = t.mean2().unwrap_or(f64::NAN);
                if warmed && t.cusum.value() >= self.cfg.cusum_h && mean2 >= on {
                    hot[i] = true;
                }
                if warmed && mean2 >= self.cfg.off_fraction * on {
                    warm[i] = true;
                }
            }
        }
        for i in 0..n {
            if excess[i].iter().any(|e| !e.is_nan()) {
                self.learned[i] = self.learned[i].saturating_add(1);
            }
            if let (Some(w), e) = (wind[i], excess[i][0])
                && !e.is_nan()
            {
                self.cbpf[i].add(w.speed_ms, w.from_deg, e as f64);
            }
        }
        self.history.push_back(MinuteRecord {
            excess: excess.clone(),
            wind: wind.clone(),
        });
        while self.history.len() > self.cfg.evidence_minutes.max(1) as usize {
            self.history.pop_front();
        }
        self.update_episodes(minute, &hot, &warm, &excess, &raw_vals, out);
        self.hot_prev = hot;
    }

    fn update_episodes(
        &mut self,
        minute: i64,
        hot: &[bool],
        warm: &[bool],
        excess: &[[f32; 5]],
        raw: &[[f64; 5]],
        out: &mut Vec<Alert>,
    ) {
        let hot_list: Vec<usize> = (0..hot.len()).filter(|&i| hot[i]).collect();
        let slots = &self.slots;
        let dist = |i: usize, j: usize| (slots[i].x - slots[j].x).hypot(slots[i].y - slots[j].y);
        let groups = assign(
            &mut self.episodes,
            &hot_list,
            minute,
            self.cfg.group_link_m,
            &dist,
        );
        for g in groups {
            let onset = g
                .iter()
                .filter_map(|&s| self.tracks[s].iter().filter_map(|t| t.cusum.onset()).min())
                .min()
                .unwrap_or(minute)
                .max(minute - MAX_ONSET_LEAD_MIN * MINUTE_MS);
            let e = Episode::new(self.next_seq, minute, onset);
            self.next_seq += 1;
            let mut e = e;
            e.hot = g;
            self.episodes.push(e);
        }
        let mut k = 0;
        while k < self.episodes.len() {
            let keep = self.update_one(k, minute, warm, excess, raw, out);
            if keep {
                k += 1;
            } else {
                self.episodes.remove(k);
            }
        }
    }

    /// Advances one episode by a minute; false when it ends.
    fn update_one(
        &mut self,
        k: usize,
        minute: i64,
        warm: &[bool],
        excess: &[[f32; 5]],
        raw: &[[f64; 5]],
        out: &mut Vec<Alert>,
    ) -> bool {
        let cfg = self.cfg.clone();
        let cfg = &cfg;
        let hot_now = self.episodes[k].hot.clone();
        {
            let tracks = &self.tracks;
            let e = &mut self.episodes[k];
            for &s in &hot_now {
                e.recent.insert(s, minute);
                if let std::collections::btree_map::Entry::Vacant(v) = e.members.entry(s) {
                    v.insert(minute);
                    if let Some(o) = tracks[s].iter().filter_map(|t| t.cusum.onset()).min() {
                        e.onset = e.onset.min(o.max(minute - MAX_ONSET_LEAD_MIN * MINUTE_MS));
                    }
                }
            }
            if hot_now.is_empty() {
                e.hot_streak = 0;
                e.cold += 1;
            } else {
                e.hot_streak += 1;
                e.cold = 0;
            }
            for (&s, t) in e.recent.iter_mut() {
                if warm[s] {
                    *t = minute;
                }
            }
            let any_warm = e.members.keys().any(|&s| warm[s]);
            if any_warm {
                e.quiet = 0;
                e.last_warm = minute;
            } else {
                e.quiet += 1;
            }
            for &s in e.members.keys() {
                if !warm[s] {
                    continue;
                }
                for (peak, v) in e.peak.iter_mut().zip(raw[s]) {
                    if v.is_finite() && v > *peak {
                        *peak = v;
                    }
                }
                let x = excess[s];
                if !x[1].is_nan() {
                    let o = |p: usize| (!x[p].is_nan()).then_some(x[p] as f64);
                    e.ratios.add(x[1] as f64, [o(0), o(2), o(3), o(4)]);
                }
            }
        }
        let phase = self.episodes[k].phase;
        match phase {
            Phase::Pending => {
                let e = &self.episodes[k];
                if e.cold >= 3 {
                    return false;
                }
                if e.hot_streak < cfg.confirm_minutes {
                    return true;
                }
                let strong_single = hot_now.iter().any(|&s| {
                    (0..5).any(|p| {
                        self.thr[p] > 0.0
                            && self.tracks[s][p]
                                .mean2()
                                .is_some_and(|m| m >= cfg.single_sensor_factor * self.thr[p])
                    })
                });
                if hot_now.len() < 2 && !strong_single {
                    return true;
                }
                self.fire(k, minute, out);
                true
            }
            Phase::Firing => {
                if self.episodes[k].quiet >= cfg.resolve_after_minutes {
                    let e = &self.episodes[k];
                    let mut a = self.alert_of(e, AlertState::Resolved);
                    a.resolved_at = Some(e.last_warm);
                    out.push(a);
                    return false;
                }
                if minute - self.episodes[k].last_locate
                    >= cfg.relocate_every_minutes as i64 * MINUTE_MS
                    && !hot_now.is_empty()
                    && self.relocate(k, minute)
                {
                    self.split(k, minute);
                }
                let e = &self.episodes[k];
                let prev = e.emitted.expect("a firing episode has emitted");
                if minute - prev.minute >= cfg.update_min_interval_minutes as i64 * MINUTE_MS
                    && material_change(
                        &prev,
                        e.loc.map(|l| (l.x, l.y, l.uncertainty_m)),
                        e.peak[e.primary],
                        e.source_type,
                        cfg.update_move_m,
                        cfg.update_peak_ratio,
                    )
                {
                    let a = self.alert_of(e, AlertState::Updated);
                    self.mark_emitted(k, minute);
                    out.push(a);
                }
                true
            }
        }
    }

    fn fire(&mut self, k: usize, minute: i64, out: &mut Vec<Alert>) {
        // Primary pollutant: the largest excess relative to its threshold among hot members.
        let mut score = [0.0f64; 5];
        for &s in &self.episodes[k].hot {
            for (p, sc) in score.iter_mut().enumerate() {
                if self.thr[p] > 0.0
                    && let Some(m) = self.tracks[s][p].mean2()
                {
                    *sc += m.max(0.0) / self.thr[p];
                }
            }
        }
        let primary = (0..5).fold(0, |b, p| if score[p] > score[b] { p } else { b });
        let day = minute.div_euclid(86_400_000);
        if self.day.0 != day {
            self.day = (day, 0);
        }
        self.day.1 += 1;
        {
            let e = &mut self.episodes[k];
            e.phase = Phase::Firing;
            e.primary = primary;
            e.detected_at = minute;
            e.alert_id = alert_id(minute, self.day.1);
        }
        self.relocate(k, minute);
        let a = self.alert_of(&self.episodes[k], AlertState::Firing);
        self.mark_emitted(k, minute);
        out.push(a);
    }

    /// Moves the sensors that joined episode `k` in the last evidence window into a new
    /// pending episode: their plume comes from another source.
    fn split(&mut self, k: usize, minute: i64) {
        let since = minute - self.cfg.evidence_minutes as i64 * MINUTE_MS;
        let e = &mut self.episodes[k];
        let moved: Vec<usize> = e
            .hot
            .iter()
            .copied()
            .filter(|s| e.members.get(s).is_some_and(|&t| t > since))
            .collect();
        if moved.is_empty() {
            return;
        }
        for s in &moved {
            e.members.remove(s);
            e.recent.remove(s);
        }
        e.hot.retain(|s| !moved.contains(s));
        let onset = moved
            .iter()
            .filter_map(|&s| self.tracks[s].iter().filter_map(|t| t.cusum.onset()).min())
            .min()
            .unwrap_or(minute)
            .max(minute - MAX_ONSET_LEAD_MIN * MINUTE_MS);
        let mut n = Episode::new(self.next_seq, minute, onset);
        self.next_seq += 1;
        n.hot = moved;
        self.episodes.push(n);
    }

    fn mark_emitted(&mut self, k: usize, minute: i64) {
        let e = &mut self.episodes[k];
        e.emitted = Some(Emitted {
            minute,
            xy: e.loc.map(|l| (l.x, l.y)),
            uncertainty_m: e.loc.map_or(0.0, |l| l.uncertainty_m),
            peak: e.peak[e.primary],
            source_type: e.source_type,
        });
    }

    /// Localizes and classifies episode `k` from the evidence window.
    /// Returns true when the evidence now points to another source far from this
    /// episode's anchor (the caller splits the episode).
    fn relocate(&mut self, k: usize, minute: i64) -> bool {
        self.stats.localizations += 1;
        let cfg = &self.cfg;
        let e = &self.episodes[k];
        let p = e.primary;
        let mut other_members = vec![false; self.slots.len()];
        for (j, o) in self.episodes.iter().enumerate() {
            if j != k {
                for &m in o.members.keys() {
                    other_members[m] = true;
                }
            }
        }
        let window: Vec<&MinuteRecord> = {
            let since = ((minute - e.onset) / MINUTE_MS + 1).max(2) as usize;
            let skip = self.history.len().saturating_sub(since);
            self.history.iter().skip(skip).collect()
        };
        let elev = solar_elevation_deg(minute, self.lat0, self.lon0);
        let mut ev = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            if !slot.pollutant || other_members[i] {
                continue;
            }
            let (mut sum, mut cnt) = (0.0, 0usize);
            let mut ws = WindStats::default();
            for r in &window {
                let x = r.excess[i][p];
                if !x.is_nan() {
                    sum += x as f64;
                    cnt += 1;
                }
                if let Some(w) = r.wind[i] {
                    ws.add(w, 1.0);
                }
            }
            let Some(wind) = ws.mean() else { continue };
            if cnt == 0 {
                continue;
            }
            let sigma = self.tracks[i][p].sigma(self.floor[p]) / (cnt as f64).sqrt();
            let positive = e.members.contains_key(&i);
            let class = cfg
                .stability
                .unwrap_or_else(|| stability_class(wind.speed_ms, elev));
            ev.push(SensorEvidence {
                x: slot.x,
                y: slot.y,
                excess: sum / cnt as f64,
                sigma,
                wind,
                sigma_theta_deg: ws.sigma_theta_deg(),
                class,
                positive,
                onset_offset_s: e
                    .members
                    .get(&i)
                    .map_or(0.0, |&t| (t - e.first_hot) as f64 / 1000.0),
            });
        }
        let loc = {
            let prior_fn = self.cbpf_prior();
            let search = Search {
                elapsed_s: (minute - e.onset + MINUTE_MS) as f64 / 1000.0,
                prior: prior_fn.as_ref().map(|f| f as &dyn Fn(f64, f64) -> f64),
            };
            locate(cfg, &ev, search)
        };
        let (st, conf, _) = classify(&e.ratios.ratios(), cfg.type_min_confidence);
        let wind = match &loc {
            Some(l) => interpolate(&self.stations, l.x, l.y),
            None => e
                .hot
                .first()
                .and_then(|&s| interpolate(&self.stations, self.slots[s].x, self.slots[s].y)),
        };
        let started = {
            let travel = loc.map_or(0.0, |l| l.travel_to_first_s);
            let t = e.onset - MINUTE_MS - (travel * 1000.0) as i64;
            t.div_euclid(MINUTE_MS) * MINUTE_MS
        };
        let support: f64 = ev
            .iter()
            .filter(|x| x.positive)
            .map(|x| x.excess.max(0.0))
            .sum();
        let e = &mut self.episodes[k];
        let elsewhere = match (e.anchor, &loc) {
            (Some((ax, ay, ar)), Some(n)) if n.uncertainty_m < CONFIDENT_RADIUS_M => {
                (ax - n.x).hypot(ay - n.y) > (2.0 * (ar + n.uncertainty_m) + 500.0).max(1500.0)
            }
            _ => false,
        };
        if elsewhere {
            e.last_locate = minute;
            return true;
        }
        // A decaying plume (the source stopped, its tail drifts downwind) supports a
        // location less well than the episode's peak did: keep the better estimate.
        if loc.is_some() && (e.loc.is_none() || support >= 0.6 * e.support) {
            e.loc = loc;
            e.support = e.support.max(support);
            if e.anchor.is_none()
                && let Some(l) = loc
                && l.uncertainty_m < CONFIDENT_RADIUS_M
            {
                e.anchor = Some((l.x, l.y, l.uncertainty_m));
            }
        }
        e.source_type = st;
        e.type_confidence = conf;
        e.wind = wind;
        e.last_locate = minute;
        if e.phase == Phase::Firing && e.emitted.is_none() {
            e.started_at = started.max(e.onset - 60 * MINUTE_MS);
        }
        false
    }

    /// A prior from the sensors' long-term CBPF, once they have enough history.
    fn cbpf_prior(&self) -> Option<impl Fn(f64, f64) -> f64 + '_> {
        let w = self.cfg.cbpf_prior_weight;
        let min = (self.cfg.cbpf_min_hours * 60.0) as u64;
        if w <= 0.0 {
            return None;
        }
        let ready: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].pollutant && self.cbpf[i].samples() >= min.max(1))
            .collect();
        if ready.is_empty() {
            return None;
        }
        Some(move |x: f64, y: f64| {
            let mut f = 1.0;
            for &i in &ready {
                let (dx, dy) = (x - self.slots[i].x, y - self.slots[i].y);
                if dx.hypot(dy) > 3000.0 {
                    continue;
                }
                let from = dx.atan2(dy).to_degrees().rem_euclid(360.0);
                if let Some(pr) = self.cbpf[i].sector_probability(from, 30) {
                    f *= (1.0 + w * (pr - self.cbpf[i].base_rate())).clamp(0.5, 2.0);
                }
            }
            f.clamp(0.25, 4.0)
        })
    }

    fn alert_of(&self, e: &Episode, state: AlertState) -> Alert {
        let source = e.loc.map(|l| {
            let (lat, lon) = self.plane.to_latlon(l.x, l.y);
            SourceEstimate {
                lat,
                lon,
                uncertainty_m: l.uncertainty_m,
            }
        });
        let district = match e.loc {
            Some(l) => {
                let near = (0..self.slots.len())
                    .min_by(|&a, &b| {
                        let da = (self.slots[a].x - l.x).hypot(self.slots[a].y - l.y);
                        let db = (self.slots[b].x - l.x).hypot(self.slots[b].y - l.y);
                        da.total_cmp(&db).then(a.cmp(&b))
                    })
                    .unwrap_or(0);
                self.slots[near].district.clone()
            }
            None => e
                .members
                .keys()
                .next()
                .map(|&s| self.slots[s].district.clone())
                .unwrap_or_default(),
        };
        let mut sensors: Vec<String> = e
            .members
            .keys()
            .map(|&s| self.slots[s].id.clone())
            .collect();
        sensors.sort();
        let started_at = if e.started_at <= e.detected_at {
            e.started_at
        } else {
            e.onset
        };
        Alert {
            alert_id: e.alert_id.clone(),
            state,
            pollutant: PollutantLevels::MEASURES[e.primary].field().to_string(),
            district,
            started_at,
            detected_at: e.detected_at,
            resolved_at: None,
            source,
            source_type: e.source_type,
            confidence: e.loc.map_or(0.0, |l| l.confidence),
            peak_ugm3: if e.peak[e.primary].is_finite() {
                e.peak[e.primary]
            } else {
                0.0
            },
            sensors,
            wind: e.wind.map(|w| Wind {
                speed_ms: w.speed_ms,
                from_deg: w.from_deg,
            }),
        }
    }
}
