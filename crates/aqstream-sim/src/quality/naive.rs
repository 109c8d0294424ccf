//! The naive baseline the issue asks to beat: "the sensor with the highest reading".
//!
//! Each minute, a sensor whose raw PM2.5 or PM10 exceeds the network median by 30 µg/m³
//! for two minutes in a row is hot; a hot sensor farther than 1.5 km from every open
//! naive episode opens one, which is located at the sensor with the highest excess seen
//! so far and resolves after ten minutes without a hot sensor. No wind, no plume, no
//! gain correction, no type.

use aqstream_core::geo::haversine_m;
use aqstream_core::measure::Measure;
use aqstream_core::registry::SensorRegistry;
use aqstream_core::time::MINUTE_MS;
use aqstream_locate::SensorMinute;
use aqstream_locate::track::median;
use std::collections::{BTreeMap, BTreeSet};

/// One naive episode.
#[derive(Debug, Clone, PartialEq)]
pub struct NaiveAlert {
    /// Event time it fired.
    pub detected_at: i64,
    /// Location when it fired (the highest sensor).
    pub first: (f64, f64),
    /// Location at the end (the highest sensor over the episode).
    pub last: (f64, f64),
    /// Sensors hot during it.
    pub sensors: Vec<String>,
}

#[derive(Debug)]
struct Open {
    alert: NaiveAlert,
    best: f64,
    quiet: u32,
}

/// The naive detector.
#[derive(Debug)]
pub struct Naive {
    pos: Vec<(f64, f64)>,
    ids: Vec<String>,
    streak: Vec<u32>,
    open: Vec<Open>,
    done: Vec<NaiveAlert>,
}

const THRESHOLD: f64 = 30.0;

impl Naive {
    /// A naive detector over the registry's sensors.
    pub fn new(reg: &SensorRegistry) -> Naive {
        Naive {
            pos: reg.sensors().iter().map(|s| (s.lat, s.lon)).collect(),
            ids: reg.sensors().iter().map(|s| s.sensor_id.clone()).collect(),
            streak: vec![0; reg.len()],
            open: Vec::new(),
            done: Vec::new(),
        }
    }

    /// Processes one closed minute.
    pub fn minute(&mut self, reg: &SensorRegistry, minute: i64, rows: &[SensorMinute]) {
        let mut excess = vec![0.0f64; self.pos.len()];
        for m in [Measure::Pm25, Measure::Pm10] {
            let mut vals: Vec<f64> = rows.iter().filter_map(|r| r.values[m.index()]).collect();
            let Some(med) = median(&mut vals) else {
                continue;
            };
            for r in rows {
                if let (Some(i), Some(v)) = (reg.index_of(&r.sensor_id), r.values[m.index()]) {
                    excess[i] = excess[i].max(v - med);
                }
            }
        }
        let mut hot = BTreeSet::new();
        for (i, e) in excess.iter().enumerate() {
            self.streak[i] = if *e >= THRESHOLD {
                self.streak[i] + 1
            } else {
                0
            };
            if self.streak[i] >= 2 {
                hot.insert(i);
            }
        }
        for o in &mut self.open {
            o.quiet += 1;
        }
        for &i in &hot {
            let near = self.open.iter().position(|o| {
                o.alert.sensors.iter().any(|s| {
                    let j = reg.index_of(s).unwrap_or(i);
                    haversine_m(self.pos[i].0, self.pos[i].1, self.pos[j].0, self.pos[j].1)
                        <= 1500.0
                })
            });
            match near {
                Some(k) => {
                    let o = &mut self.open[k];
                    o.quiet = 0;
                    if !o.alert.sensors.contains(&self.ids[i]) {
                        o.alert.sensors.push(self.ids[i].clone());
                    }
                    if excess[i] > o.best {
                        o.best = excess[i];
                        o.alert.last = self.pos[i];
                    }
                }
                None => self.open.push(Open {
                    alert: NaiveAlert {
                        detected_at: minute,
                        first: self.pos[i],
                        last: self.pos[i],
                        sensors: vec![self.ids[i].clone()],
                    },
                    best: excess[i],
                    quiet: 0,
                }),
            }
        }
        let (done, open): (Vec<Open>, Vec<Open>) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|o| o.quiet >= 10);
        self.open = open;
        self.done.extend(done.into_iter().map(|o| o.alert));
    }

    /// Every naive episode (open ones included).
    pub fn finish(mut self) -> Vec<NaiveAlert> {
        self.done.extend(self.open.drain(..).map(|o| o.alert));
        self.done.sort_by_key(|a| a.detected_at);
        self.done
    }
}

/// Groups a detector's input rows by minute (they arrive minute by minute).
pub fn by_minute(rows: Vec<SensorMinute>) -> BTreeMap<i64, Vec<SensorMinute>> {
    let mut m: BTreeMap<i64, Vec<SensorMinute>> = BTreeMap::new();
    for r in rows {
        let minute = (r.minute_end + MINUTE_MS - 1).div_euclid(MINUTE_MS) * MINUTE_MS;
        m.entry(minute).or_default().push(r);
    }
    m
}
