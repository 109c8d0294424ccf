//! Running a scenario: readings minute by minute, in arrival order, and the ground truth.

use crate::city::City;
use crate::faults::{Fault, FaultKind};
use crate::rng::Rng;
use crate::scenario::{Scenario, SimError};
use crate::source::{ActiveSource, Receptor};
use crate::weather::Weather;
use aqstream_core::measure::Measure;
use aqstream_core::reading::Reading;
use aqstream_core::registry::{SensorKind, SensorRegistry};
use aqstream_core::time::{MINUTE_MS, format_rfc3339};
use serde::Serialize;
use std::collections::BTreeMap;

/// Pollutants in the simulator's order (`[pm25, pm10, no2, so2, o3, co]`).
pub const POLLUTANTS: [Measure; 6] = [
    Measure::Pm25,
    Measure::Pm10,
    Measure::No2,
    Measure::So2,
    Measure::O3,
    Measure::Co,
];

/// Excess (µg/m³ of the reference pollutant) from which a sensor "sees" a plume.
pub const SEEN_UGM3: f64 = 15.0;
/// Episodes whose largest excess reaches this are the ones the detection target is about.
pub const QUALIFY_UGM3: f64 = 30.0;

/// One reading as it reaches the ingest.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    /// Wall-clock arrival time in the simulation (epoch ms).
    pub arrive_at: i64,
    /// Tie-breaker: generation order.
    pub seq: u64,
    /// The reading (`gateway_id` set, `received_at` = `arrive_at`, no flags yet).
    pub reading: Reading,
}

/// Ground truth of one sensor for one source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SensorTruth {
    /// The sensor.
    pub sensor_id: String,
    /// End of the first minute its excess of the reference pollutant reached 15 µg/m³.
    pub first_seen: String,
    /// Its largest one-minute excess of the reference pollutant, µg/m³.
    pub max_excess_ugm3: f64,
}

/// Ground truth of one source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceTruth {
    /// Id, e.g. `src-01`.
    pub id: String,
    /// Kind (the expected `source_type`).
    pub kind: String,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Effective height, m.
    pub height_m: f64,
    /// When it starts emitting (event time).
    pub start: String,
    /// When it stops.
    pub end: String,
    /// Emission of each pollutant (pm25, pm10, no2, so2, o3 in g/s; co in g/s).
    pub emission_gs: BTreeMap<String, f64>,
    /// The pollutant the thresholds refer to (`pm10` for dust, `pm25` otherwise).
    pub reference: String,
    /// Largest one-minute excess at any sensor, µg/m³ (noise-free).
    pub max_excess_ugm3: f64,
    /// Does the largest excess reach 30 µg/m³?
    pub qualifies: bool,
    /// When the first sensor saw it (excess ≥ 15 µg/m³), if any did.
    pub first_seen: Option<String>,
    /// The sensors that should see it, by first sight.
    pub sensors: Vec<SensorTruth>,
}

/// Ground truth of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroundTruth {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// First event time.
    pub start: String,
    /// Last event time.
    pub end: String,
    /// Sensors that measure pollutants.
    pub pollutant_sensors: usize,
    /// The sources.
    pub sources: Vec<SourceTruth>,
    /// The faulty sensors.
    pub faults: Vec<Fault>,
}

/// Everything a finished run produced.
#[derive(Debug, Clone)]
pub struct SimOutput {
    /// The network.
    pub registry: SensorRegistry,
    /// Readings in arrival order.
    pub arrivals: Vec<Arrival>,
    /// What really happened.
    pub truth: GroundTruth,
}

/// A scenario being run, minute by minute.
#[derive(Debug)]
pub struct Simulation {
    scenario: Scenario,
    city: City,
    weather: Weather,
    sources: Vec<ActiveSource>,
    faults: Vec<(usize, Fault)>,
    gains: Vec<[f64; 6]>,
    frozen: Vec<Option<Reading>>,
    noise: Rng,
    transport: Rng,
    start_ms: i64,
    minute: usize,
    seq: u64,
    /// Per source, per sensor: (first minute end seen, max excess).
    seen: Vec<BTreeMap<usize, (i64, f64)>>,
    max_excess: Vec<f64>,
}

impl Simulation {
    /// Prepares a run of `scenario`.
    pub fn new(scenario: &Scenario) -> Result<Simulation, SimError> {
        let start_ms = scenario.start_ms()?;
        let seed = scenario.seed;
        let city = City::build(&scenario.city, seed);
        let minutes = scenario.duration_min as usize;
        let weather = Weather::new(&scenario.wind, &scenario.haze, minutes + 1, seed);
        let mut srng = Rng::derive(seed, "sources");
        let sources: Vec<ActiveSource> = scenario
            .sources
            .iter()
            .map(|s| ActiveSource::new(s, minutes + 1, &mut srng))
            .collect();
        let mut grng = Rng::derive(seed, "gains");
        let gains = city
            .sensors
            .iter()
            .map(|s| match s.info.kind {
                SensorKind::Lowcost => {
                    std::array::from_fn(|_| grng.lognormal(scenario.imperfections.gain_sigma))
                }
                _ => [1.0; 6],
            })
            .collect();
        let mut frng = Rng::derive(seed, "faults");
        let mut candidates: Vec<usize> = (0..city.sensors.len())
            .filter(|&i| city.sensors[i].info.kind == SensorKind::Lowcost)
            .collect();
        let mut faults = Vec::new();
        let fm = &scenario.faults;
        for (kind, n) in [
            (FaultKind::Stuck, fm.stuck),
            (FaultKind::Sentinel, fm.sentinel),
            (FaultKind::Drift, fm.drift),
            (FaultKind::FastClock, fm.fast_clock),
        ] {
            for _ in 0..n {
                if candidates.is_empty() {
                    break;
                }
                let i = candidates.remove(frng.below(candidates.len()));
                faults.push((
                    i,
                    Fault {
                        sensor_id: city.sensors[i].info.sensor_id.clone(),
                        kind,
                        from_min: fm.from_min,
                    },
                ));
            }
        }
        faults.sort_by_key(|f| f.0);
        let n = city.sensors.len();
        Ok(Simulation {
            seen: vec![BTreeMap::new(); sources.len()],
            max_excess: vec![0.0; sources.len()],
            scenario: scenario.clone(),
            weather,
            sources,
            faults,
            gains,
            frozen: vec![None; n],
            noise: Rng::derive(seed, "noise"),
            transport: Rng::derive(seed, "transport"),
            start_ms,
            minute: 0,
            seq: 0,
            city,
        })
    }

    /// The network.
    pub fn registry(&self) -> SensorRegistry {
        self.city.registry()
    }

    /// The generated city.
    pub fn city(&self) -> &City {
        &self.city
    }

    /// Event time of the end of the next minute to be generated.
    pub fn next_minute_end(&self) -> i64 {
        self.start_ms + (self.minute as i64 + 1) * MINUTE_MS
    }

    /// Is the run over?
    pub fn done(&self) -> bool {
        self.minute >= self.scenario.duration_min as usize
    }

    fn fault_of(&self, i: usize) -> Option<&Fault> {
        self.faults.iter().find(|(j, _)| *j == i).map(|(_, f)| f)
    }

    /// Generates the next minute's readings (in generation order, each with its
    /// arrival time); `None` when the run is over.
    pub fn next_minute(&mut self) -> Option<Vec<Arrival>> {
        if self.done() {
            return None;
        }
        let k = self.minute;
        let end = self.start_ms + (k as i64 + 1) * MINUTE_MS;
        let imp = self.scenario.imperfections.clone();
        let mut out = Vec::new();
        for i in 0..self.city.sensors.len() {
            let s = &self.city.sensors[i];
            let (x, y) = (s.x, s.y);
            let mut r = Reading::new(s.info.sensor_id.clone(), end, 60);
            r.gateway_id = s.info.gateway_id.clone();
            // Pollutants: background + plumes, through the sensor's gain and noise.
            let mut plume = [0.0; 6];
            for (j, src) in self.sources.iter().enumerate() {
                let at = Receptor {
                    t_ms: end,
                    lat: s.info.lat,
                    lon: s.info.lon,
                    x,
                    y,
                };
                let c = src.concentration(&self.weather, k, &at);
                if s.info.kind == SensorKind::Met {
                    continue;
                }
                let inter = self.noise.lognormal(0.25);
                let refc = c[src.spec.kind.reference()] * inter;
                if refc > 0.0 {
                    self.max_excess[j] = self.max_excess[j].max(refc);
                    if refc >= SEEN_UGM3 {
                        let e = self.seen[j].entry(i).or_insert((end, 0.0));
                        e.1 = e.1.max(refc);
                    }
                }
                for (p, v) in c.iter().enumerate() {
                    plume[p] += v * inter;
                }
            }
            let fault = self.fault_of(i).cloned();
            let hours = fault
                .as_ref()
                .map_or(0.0, |f| (k as f64 - f.from_min) / 60.0);
            let active = fault.as_ref().filter(|_| hours >= 0.0).map(|f| f.kind);
            for (p, m) in POLLUTANTS.iter().enumerate() {
                if !s.measures[m.index()] {
                    continue;
                }
                let truth = self.weather.background(p, k, x, y) + plume[p];
                let mut gain = self.gains[i][p];
                if active == Some(FaultKind::Drift) {
                    gain *= 1.0 + self.scenario.faults.drift_per_hour * hours;
                }
                let (na, nr) = if s.info.kind == SensorKind::Reference {
                    (imp.noise_abs[p] * 0.3, imp.noise_rel * 0.3)
                } else {
                    (imp.noise_abs[p], imp.noise_rel)
                };
                let v = (gain * truth * (1.0 + nr * self.noise.normal())
                    + na * self.noise.normal())
                .max(0.0);
                let digits = if *m == Measure::Co { 1000.0 } else { 10.0 };
                r.set(*m, Some((v * digits).round() / digits));
            }
            if s.measures[Measure::WindDir.index()] {
                let (d, sp) = self.weather.station_wind(k, x, y, &mut self.noise);
                r.set(Measure::WindDir, Some(d));
                r.set(Measure::WindSpeed, Some(sp));
            }
            if s.measures[Measure::TempC.index()] {
                r.set(
                    Measure::TempC,
                    Some(((2.0 + 0.3 * self.noise.normal()) * 10.0).round() / 10.0),
                );
            }
            if s.measures[Measure::Rh.index()] {
                r.set(Measure::Rh, Some((55.0 + self.noise.normal()).round()));
            }
            if s.measures[Measure::PressureHpa.index()] {
                r.set(Measure::PressureHpa, Some(1021.0));
            }
            match active {
                Some(FaultKind::Stuck) => {
                    if self.frozen[i].is_none() {
                        self.frozen[i] = Some(r.clone());
                    }
                    let f = self.frozen[i].as_ref().expect("just set");
                    r.values = f.values;
                }
                Some(FaultKind::Sentinel) if self.noise.chance(0.7) => {
                    r.set(Measure::Pm25, Some(999.0));
                    r.set(Measure::Pm10, Some(999.0));
                }
                Some(FaultKind::FastClock) => {
                    let ahead = self.scenario.faults.clock_ahead_s * (1.0 + hours);
                    r.ts += (ahead * 1000.0) as i64;
                }
                _ => {}
            }
            // Transport.
            if self.transport.chance(imp.missing) {
                continue;
            }
            let mut delay = self.transport.exponential(imp.delay_mean_s);
            if self.transport.chance(imp.late) {
                delay = self.transport.range(30.0, imp.late_max_s.max(30.0));
            }
            let arrive = end + (delay * 1000.0) as i64;
            let dup = self
                .transport
                .chance(imp.duplicate)
                .then(|| arrive + (self.transport.range(1.0, 60.0) * 1000.0) as i64);
            for at in std::iter::once(arrive).chain(dup) {
                let mut r = r.clone();
                r.received_at = Some(at);
                self.seq += 1;
                out.push(Arrival {
                    arrive_at: at,
                    seq: self.seq,
                    reading: r,
                });
            }
        }
        self.minute += 1;
        Some(out)
    }

    /// The ground truth so far (complete once the run is over).
    pub fn truth(&self) -> GroundTruth {
        let sources = self
            .sources
            .iter()
            .enumerate()
            .map(|(j, src)| {
                let s = &src.spec;
                let (lat, lon) = self.city.plane.to_latlon(s.x_m, s.y_m);
                let mut sensors: Vec<SensorTruth> = self.seen[j]
                    .iter()
                    .map(|(&i, &(t, mx))| SensorTruth {
                        sensor_id: self.city.sensors[i].info.sensor_id.clone(),
                        first_seen: format_rfc3339(t),
                        max_excess_ugm3: (mx * 10.0).round() / 10.0,
                    })
                    .collect();
                sensors.sort_by(|a, b| {
                    a.first_seen
                        .cmp(&b.first_seen)
                        .then(a.sensor_id.cmp(&b.sensor_id))
                });
                let t0 = self.start_ms + (s.start_min * 60_000.0) as i64;
                let t1 = self.start_ms + ((s.start_min + s.duration_min) * 60_000.0) as i64;
                SourceTruth {
                    id: s.id.clone(),
                    kind: s.kind.source_type().as_str().to_string(),
                    lat: (lat * 1e6).round() / 1e6,
                    lon: (lon * 1e6).round() / 1e6,
                    height_m: (s.height_m * 10.0).round() / 10.0,
                    start: format_rfc3339(t0),
                    end: format_rfc3339(t1),
                    emission_gs: POLLUTANTS
                        .iter()
                        .zip(src.rates)
                        .map(|(m, q)| (m.field().to_string(), (q * 1000.0).round() / 1000.0))
                        .collect(),
                    reference: POLLUTANTS[s.kind.reference()].field().to_string(),
                    max_excess_ugm3: (self.max_excess[j] * 10.0).round() / 10.0,
                    qualifies: self.max_excess[j] >= QUALIFY_UGM3,
                    first_seen: sensors.first().map(|s| s.first_seen.clone()),
                    sensors,
                }
            })
            .collect();
        GroundTruth {
            scenario: self.scenario.name.clone(),
            seed: self.scenario.seed,
            start: format_rfc3339(self.start_ms),
            end: format_rfc3339(self.start_ms + self.scenario.duration_min as i64 * MINUTE_MS),
            pollutant_sensors: self.city.pollutant_sensors(),
            sources,
            faults: self.faults.iter().map(|(_, f)| f.clone()).collect(),
        }
    }

    /// Runs the whole scenario.
    pub fn run(scenario: &Scenario) -> Result<SimOutput, SimError> {
        let mut sim = Simulation::new(scenario)?;
        let mut arrivals = Vec::new();
        while let Some(mut batch) = sim.next_minute() {
            arrivals.append(&mut batch);
        }
        arrivals.sort_by_key(|a| (a.arrive_at, a.seq));
        Ok(SimOutput {
            registry: sim.registry(),
            arrivals,
            truth: sim.truth(),
        })
    }
}
