//! Drift QA against neighbouring sensors (stage 2: it needs the city view).
//!
//! Every closed minute, each pollutant sensor's PM2.5 is compared with the median of
//! its neighbours (the nearest other pollutant sensors within a radius) in that
//! minute: `d = own − median`. Hourly means of `d` form a per-sensor ring. At each full
//! hour the mean `d` of the last `window_h` hours (recent) is compared with the median
//! hourly `d` of the `baseline_h` hours before them (the sensor's usual offset — a
//! sensor next to a road reads higher than its park neighbours, and that is not a
//! fault). A departure larger than `max(abs, rel · neighbours' level)` raises `drift`;
//! it clears below half of that. Hours spent drifting never enter the baseline, so a
//! drifted sensor does not become its own new normal. Short plumes do not move a
//! three-hour mean enough to count.

use crate::config::{HOUR, QaConfig};
use crate::directory::SensorDirectory;
use aqstream_core::geo::{LocalPlane, haversine_m};
use aqstream_core::registry::SensorKind;
use aqstream_core::time::EpochMillis;
use std::collections::{HashMap, VecDeque};

/// One closed hour of a sensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HourStat {
    /// Hour start.
    pub hour: EpochMillis,
    /// Mean difference to the neighbours' median.
    pub d: f64,
    /// Mean neighbours' median (the local level).
    pub level: f64,
    /// The sensor was flagged as drifting during the hour.
    pub drifting: bool,
}

/// Drift state of one sensor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SensorDrift {
    /// Hour being accumulated.
    pub hour: EpochMillis,
    /// Sum of `d` in the hour.
    pub sum_d: f64,
    /// Sum of the neighbours' medians in the hour.
    pub sum_level: f64,
    /// Minutes compared in the hour.
    pub n: u32,
    /// Closed hours, oldest first.
    pub hours: VecDeque<HourStat>,
    /// Currently flagged.
    pub drifting: bool,
}

/// A drift flag raised or cleared.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftChange {
    /// The sensor (registry index).
    pub sensor: u32,
    /// Raised or cleared.
    pub raised: bool,
    /// End of the hour that decided it.
    pub ts: EpochMillis,
    /// The figures.
    pub detail: String,
}

/// The drift checker of the city.
#[derive(Debug)]
pub struct DriftQa {
    cfg: QaConfig,
    neighbours: Vec<Vec<u32>>,
    /// Drift state by registry index (`None` before a sensor's first comparison):
    /// updated for every sensor-minute, where a probe of a map was a cache miss
    /// each time.
    pub(crate) sensors: Vec<Option<SensorDrift>>,
    scratch: Vec<Option<f64>>,
    touched: Vec<u32>,
    med: Vec<f64>,
}

impl DriftQa {
    /// Precomputes the neighbours of every pollutant sensor.
    pub fn new(dir: &SensorDirectory, cfg: QaConfig) -> DriftQa {
        let neighbours = neighbours(dir, cfg.drift_radius_m, cfg.drift_neighbours);
        DriftQa {
            cfg,
            scratch: vec![None; dir.len()],
            neighbours,
            sensors: vec![None; dir.len()],
            touched: Vec::new(),
            med: Vec::new(),
        }
    }

    /// Is the sensor flagged?
    pub fn is_drifting(&self, sensor: u32) -> bool {
        self.sensors
            .get(sensor as usize)
            .is_some_and(|s| s.as_ref().is_some_and(|s| s.drifting))
    }

    /// Restores the drift state of registry index `sensor` (from a checkpoint).
    pub(crate) fn restore(&mut self, sensor: u32, st: SensorDrift) {
        if let Some(slot) = self.sensors.get_mut(sensor as usize) {
            *slot = Some(st);
        }
    }

    /// The neighbours of a sensor (registry indices, nearest first).
    pub fn neighbours_of(&self, sensor: u32) -> &[u32] {
        self.neighbours
            .get(sensor as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// One closed minute: `(sensor, PM2.5 mean)` of every sensor with a value that is
    /// not excluded for another reason.
    pub fn observe_minute(&mut self, minute_start: EpochMillis, values: &[(u32, f64)]) {
        for &(s, v) in values {
            if let Some(slot) = self.scratch.get_mut(s as usize) {
                *slot = Some(v);
                self.touched.push(s);
            }
        }
        let hour = minute_start - minute_start.rem_euclid(HOUR);
        for &(s, v) in values {
            let Some(nb) = self.neighbours.get(s as usize) else {
                continue;
            };
            self.med.clear();
            for &n in nb {
                if let Some(x) = self.scratch[n as usize]
                    && !self.is_drifting(n)
                {
                    self.med.push(x);
                }
            }
            if self.med.len() < self.cfg.drift_min_neighbours.max(1) {
                continue;
            }
            self.med.sort_by(f64::total_cmp);
            let k = self.med.len();
            let median = if k % 2 == 1 {
                self.med[k / 2]
            } else {
                (self.med[k / 2 - 1] + self.med[k / 2]) / 2.0
            };
            let Some(st) = self.sensors.get_mut(s as usize) else {
                continue;
            };
            let st = st.get_or_insert_with(SensorDrift::default);
            if st.hour != hour {
                close_hour(st, self.cfg.drift_window_h + self.cfg.drift_baseline_h);
                st.hour = hour;
            }
            st.sum_d += v - median;
            st.sum_level += median;
            st.n += 1;
        }
        for s in self.touched.drain(..) {
            self.scratch[s as usize] = None;
        }
    }

    /// The hour starting at `hour` is complete: decide every sensor's flag.
    pub fn end_of_hour(&mut self, hour: EpochMillis) -> Vec<DriftChange> {
        let keep = self.cfg.drift_window_h + self.cfg.drift_baseline_h;
        let mut changes = Vec::new();
        for (s, st) in self.sensors.iter_mut().enumerate() {
            let Some(st) = st else { continue };
            let s = s as u32;
            if st.hour == hour {
                close_hour(st, keep);
                st.hour = hour + HOUR;
            }
            let win = self.cfg.drift_window_h as i64;
            let recent: Vec<&HourStat> = st
                .hours
                .iter()
                .filter(|h| h.hour > hour - win * HOUR && h.hour <= hour)
                .collect();
            if recent.len() * 3 < self.cfg.drift_window_h * 2 {
                continue;
            }
            let n = recent.len() as f64;
            let recent_d = recent.iter().map(|h| h.d).sum::<f64>() / n;
            let level = recent.iter().map(|h| h.level).sum::<f64>() / n;
            let mut base: Vec<f64> = st
                .hours
                .iter()
                .filter(|h| h.hour <= hour - win * HOUR && !h.drifting)
                .map(|h| h.d)
                .collect();
            let baseline = if base.len() >= 6 {
                base.sort_by(f64::total_cmp);
                base[base.len() / 2]
            } else {
                0.0
            };
            let dev = (recent_d - baseline).abs();
            let thr = self
                .cfg
                .drift_abs_ugm3
                .max(self.cfg.drift_rel * level.abs());
            let flip = if st.drifting {
                dev < thr / 2.0
            } else {
                dev > thr
            };
            if flip {
                st.drifting = !st.drifting;
                changes.push(DriftChange {
                    sensor: s,
                    raised: st.drifting,
                    ts: hour + HOUR,
                    detail: format!(
                        "{} h mean difference to neighbours {recent_d:.1} µg/m³, usual {baseline:.1}, neighbours' level {level:.1}",
                        self.cfg.drift_window_h
                    ),
                });
            }
            if st.drifting
                && let Some(last) = st.hours.back_mut()
                && last.hour == hour
            {
                last.drifting = true;
            }
        }
        changes
    }
}

fn close_hour(st: &mut SensorDrift, keep: usize) {
    if st.n > 0 {
        let n = f64::from(st.n);
        st.hours.push_back(HourStat {
            hour: st.hour,
            d: st.sum_d / n,
            level: st.sum_level / n,
            drifting: st.drifting,
        });
        while st.hours.len() > keep {
            st.hours.pop_front();
        }
    }
    st.sum_d = 0.0;
    st.sum_level = 0.0;
    st.n = 0;
}

/// For each pollutant sensor, the nearest other pollutant sensors within `radius_m`
/// (at most `k`, nearest first, ties by index).
///
/// Sensors go into a grid of `radius_m / 16` cells on a local plane; each sensor's
/// search walks rings of cells outwards and stops once the ring can no longer hold
/// anything nearer than the `k`-th candidate already found (or lies beyond the
/// radius). A dense network of 100 000 terminals thus costs a few hundred distance
/// computations per sensor, not one per pair (a radius-sized grid made that about
/// 5 × 10⁹ haversines, minutes of start-up). Distances are haversine, as before; the
/// plane only bounds which cells can matter (with a 20 % margin for its distortion
/// over a city).
fn neighbours(dir: &SensorDirectory, radius_m: f64, k: usize) -> Vec<Vec<u32>> {
    let sensors = dir.registry().sensors();
    let mut out = vec![Vec::new(); sensors.len()];
    let pollutant: Vec<u32> = (0..sensors.len() as u32)
        .filter(|&i| sensors[i as usize].kind != SensorKind::Met)
        .collect();
    if pollutant.is_empty() || k == 0 {
        return out;
    }
    let (lat0, lon0) = {
        let n = pollutant.len() as f64;
        let (a, b) = pollutant.iter().fold((0.0, 0.0), |(a, b), &i| {
            let s = &sensors[i as usize];
            (a + s.lat, b + s.lon)
        });
        (a / n, b / n)
    };
    let plane = LocalPlane::new(lat0, lon0);
    let cell_m = radius_m / 16.0;
    let cell = |i: u32| {
        let s = &sensors[i as usize];
        let (x, y) = plane.to_xy(s.lat, s.lon);
        ((x / cell_m).floor() as i64, (y / cell_m).floor() as i64)
    };
    let mut grid: HashMap<(i64, i64), Vec<u32>> = HashMap::new();
    for &i in &pollutant {
        grid.entry(cell(i)).or_default().push(i);
    }
    let mut near: Vec<(f64, u32)> = Vec::new();
    for &i in &pollutant {
        let s = &sensors[i as usize];
        let (cx, cy) = cell(i);
        near.clear();
        for ring in 0i64.. {
            for (dx, dy) in ring_cells(ring) {
                for &j in grid.get(&(cx + dx, cy + dy)).map_or(&[][..], Vec::as_slice) {
                    if j == i {
                        continue;
                    }
                    let o = &sensors[j as usize];
                    let d = haversine_m(s.lat, s.lon, o.lat, o.lon);
                    if d <= radius_m {
                        near.push((d, j));
                    }
                }
            }
            // Anything in ring + 1 or beyond is at least `ring` whole cells away.
            let beyond = 0.8 * ring as f64 * cell_m;
            if beyond > radius_m {
                break;
            }
            if near.len() >= k {
                near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                if near[k - 1].0 < beyond {
                    break;
                }
            }
        }
        near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        out[i as usize] = near.iter().take(k).map(|&(_, j)| j).collect();
    }
    out
}

/// The cell offsets at Chebyshev distance `ring` from the centre.
fn ring_cells(ring: i64) -> impl Iterator<Item = (i64, i64)> {
    (-ring..=ring).flat_map(move |dy| {
        let step = if dy.abs() == ring {
            1
        } else {
            (2 * ring).max(1)
        };
        (-ring..=ring)
            .step_by(step as usize)
            .map(move |dx| (dx, dy))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aqstream_core::registry::SensorRegistry;
    use std::sync::Arc;

    const T0: i64 = 1_795_305_600_000; // 2026-11-22T00:00:00Z

    fn city() -> SensorDirectory {
        let mut csv = String::from("sensor_id,gateway_id,lat,lon,district,kind\n");
        for i in 0..6 {
            csv.push_str(&format!("S{i},g,39.90{i},116.60{i},D,lowcost\n"));
        }
        csv.push_str("FAR,g,41.0,118.0,D,lowcost\nMET,g,39.9,116.6,D,met\n");
        SensorDirectory::new(Arc::new(SensorRegistry::from_csv(&csv).unwrap()))
    }

    /// The ring search finds exactly what comparing every pair finds, on a dense
    /// network with clusters, exact ties and isolated sensors.
    #[test]
    fn ring_search_equals_all_pairs() {
        let mut csv = String::from("sensor_id,gateway_id,lat,lon,district,kind\n");
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        for i in 0..1500 {
            // A 40 x 30 km city, denser in its middle.
            let (a, b) = (rnd(), rnd());
            let (lat, lon) = if i % 3 == 0 {
                (39.85 + 0.02 * a, 116.60 + 0.02 * b)
            } else {
                (39.70 + 0.27 * a, 116.40 + 0.47 * b)
            };
            let kind = if i % 50 == 0 { "met" } else { "lowcost" };
            csv.push_str(&format!("S{i},g,{lat:.6},{lon:.6},D,{kind}\n"));
        }
        // Exact ties: four sensors at the same point, and two far away on their own.
        for i in 0..4 {
            csv.push_str(&format!("T{i},g,39.8,116.5,D,lowcost\n"));
        }
        csv.push_str("FAR1,g,41.0,118.0,D,lowcost\nFAR2,g,41.01,118.0,D,lowcost\n");
        let dir = SensorDirectory::new(Arc::new(SensorRegistry::from_csv(&csv).unwrap()));
        for (radius, k) in [(5_000.0, 8), (800.0, 3), (20_000.0, 30)] {
            let got = neighbours(&dir, radius, k);
            let sensors = dir.registry().sensors();
            for (i, s) in sensors.iter().enumerate() {
                let mut all: Vec<(f64, u32)> = Vec::new();
                if s.kind != SensorKind::Met {
                    for (j, o) in sensors.iter().enumerate() {
                        let d = haversine_m(s.lat, s.lon, o.lat, o.lon);
                        if j != i && o.kind != SensorKind::Met && d <= radius {
                            all.push((d, j as u32));
                        }
                    }
                }
                all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let want: Vec<u32> = all.iter().take(k).map(|&(_, j)| j).collect();
                assert_eq!(got[i], want, "sensor {} radius {radius} k {k}", s.sensor_id);
            }
        }
        let far = dir.index_of("FAR1").unwrap() as usize;
        assert_eq!(neighbours(&dir, 5_000.0, 8)[far].len(), 1);
    }

    #[test]
    fn neighbours_are_near_pollutant_sensors() {
        let d = city();
        let q = DriftQa::new(&d, QaConfig::default());
        assert_eq!(q.neighbours_of(0).len(), 5);
        assert!(
            !q.neighbours_of(0).contains(&7),
            "met sensors are not neighbours"
        );
        assert!(q.neighbours_of(6).is_empty(), "FAR has nobody within 5 km");
        assert_eq!(q.neighbours_of(0)[0], 1, "nearest first");
    }

    #[test]
    fn a_step_offset_is_drift_a_short_plume_is_not() {
        let d = city();
        let mut q = DriftQa::new(&d, QaConfig::default());
        let mut raised_at = None;
        for h in 0..40i64 {
            for m in 0..60i64 {
                let t = T0 + h * HOUR + m * 60_000;
                let base = 40.0 + 10.0 * ((h + m) as f64 * 0.1).sin();
                let mut vals: Vec<(u32, f64)> =
                    (0..6u32).map(|s| (s, base + f64::from(s))).collect();
                // Sensor 2 has a 30-minute plume of +100 in hour 5.
                if h == 5 && m < 30 {
                    vals[2].1 += 100.0;
                }
                // Sensor 4 drifts by +60 from hour 30 on.
                if h >= 30 {
                    vals[4].1 += 60.0;
                }
                q.observe_minute(t, &vals);
            }
            for c in q.end_of_hour(T0 + h * HOUR) {
                assert_eq!(c.sensor, 4, "{c:?}");
                assert!(c.raised);
                raised_at.get_or_insert(h);
            }
        }
        let h = raised_at.expect("drift flagged");
        assert!((30..=32).contains(&h), "flagged at hour {h}");
        assert!(q.is_drifting(4) && !q.is_drifting(2));
        // The flags come back with the state a checkpoint restores.
        let mut r = DriftQa::new(&d, QaConfig::default());
        assert!(!r.is_drifting(4));
        for (s, st) in q.sensors.iter().enumerate() {
            if let Some(st) = st {
                r.restore(s as u32, st.clone());
            }
        }
        assert!(r.is_drifting(4) && !r.is_drifting(2));
    }
}
