//! Scenarios: everything a run depends on (seeded), and the named presets of the
//! quality benchmark.

use crate::city::CityConfig;
use crate::faults::{FaultMix, Imperfections};
use crate::rng::Rng;
use crate::source::{SourceKind, SourceSpec};
use crate::weather::{HazeScenario, WindKey, WindScenario};
use aqstream_core::time::parse_rfc3339;
use serde::{Deserialize, Serialize};

/// A scenario that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The start time is not RFC 3339.
    #[error("scenario start `{0}` is not an RFC 3339 time")]
    BadStart(String),
    /// No preset has this name.
    #[error("no scenario named `{0}` (known: {known})", known = PRESETS.join(", "))]
    UnknownPreset(String),
    /// Writing output failed.
    #[error("cannot write {what}: {source}")]
    Io {
        /// What was being written.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Everything a simulation run depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// Name (used in reports).
    pub name: String,
    /// Seed of every random choice.
    pub seed: u64,
    /// Event time of the start, RFC 3339.
    pub start: String,
    /// Length, minutes.
    pub duration_min: u32,
    /// The network.
    pub city: CityConfig,
    /// The wind.
    pub wind: WindScenario,
    /// The regional background.
    pub haze: HazeScenario,
    /// The point sources.
    pub sources: Vec<SourceSpec>,
    /// Failing sensors.
    pub faults: FaultMix,
    /// Imperfections of every sensor and of the transport.
    pub imperfections: Imperfections,
}

impl Default for Scenario {
    fn default() -> Self {
        preset("steady", 1).expect("the steady preset exists")
    }
}

impl Scenario {
    /// The start as epoch milliseconds.
    pub fn start_ms(&self) -> Result<i64, SimError> {
        parse_rfc3339(&self.start).map_err(|_| SimError::BadStart(self.start.clone()))
    }
}

/// Names of the presets, in the benchmark's order.
pub const PRESETS: [&str; 11] = [
    "steady",
    "shifting-wind",
    "low-wind",
    "stacks",
    "two-sources",
    "short-episodes",
    "edge",
    "sparse",
    "dense",
    "haze",
    "faulty",
];

fn base(name: &str, seed: u64) -> Scenario {
    Scenario {
        name: name.to_string(),
        seed,
        start: "2026-11-22T00:00:00Z".into(),
        duration_min: 330,
        city: CityConfig::default(),
        wind: WindScenario::default(),
        haze: HazeScenario::default(),
        sources: Vec::new(),
        faults: FaultMix::default(),
        imperfections: Imperfections::default(),
    }
}

/// Emission of the reference pollutant, g/s: log-normal around a typical value.
fn emission(kind: SourceKind, rng: &mut Rng) -> f64 {
    let median = if kind == SourceKind::Dust { 9.0 } else { 3.5 };
    median * rng.lognormal(0.4)
}

/// `n` sources one after another, kinds in rotation, placed in the inner network.
#[allow(clippy::too_many_arguments)]
fn sequential(
    sc: &mut Scenario,
    rng: &mut Rng,
    n: usize,
    first: f64,
    dur: (f64, f64),
    gap: f64,
    kinds: &[SourceKind],
    stack: bool,
) {
    let half = 0.35 * sc.city.width_m.min(sc.city.height_m);
    let mut t = first;
    for i in 0..n {
        let kind = kinds[(i + rng.below(kinds.len())) % kinds.len()];
        let d = rng.range(dur.0, dur.1);
        let (height_m, q) = if stack {
            (rng.range(35.0, 80.0), emission(kind, rng) * 12.0)
        } else {
            (rng.range(2.0, 8.0), emission(kind, rng))
        };
        sc.sources.push(SourceSpec {
            id: format!("src-{:02}", sc.sources.len() + 1),
            kind,
            x_m: rng.range(-half, half),
            y_m: rng.range(-half, half),
            height_m,
            start_min: t,
            duration_min: d,
            emission_gs: q,
        });
        t += d + gap;
    }
}

/// The preset `name` with `seed`.
pub fn preset(name: &str, seed: u64) -> Result<Scenario, SimError> {
    let mut sc = base(name, seed);
    let mut rng = Rng::derive(seed, name);
    let all = SourceKind::ALL;
    let dir0 = rng.range(0.0, 360.0);
    sc.wind.keys = vec![WindKey {
        at_min: 0.0,
        from_deg: dir0,
        speed_ms: rng.range(2.0, 4.0),
    }];
    match name {
        "steady" => sequential(&mut sc, &mut rng, 5, 55.0, (25.0, 35.0), 22.0, &all, false),
        "shifting-wind" => {
            sc.wind.keys = vec![
                WindKey {
                    at_min: 0.0,
                    from_deg: dir0,
                    speed_ms: 3.0,
                },
                WindKey {
                    at_min: 150.0,
                    from_deg: dir0 + 60.0,
                    speed_ms: 2.0,
                },
                WindKey {
                    at_min: 330.0,
                    from_deg: dir0 + 130.0,
                    speed_ms: 3.5,
                },
            ];
            sc.wind.gust_deg = 15.0;
            sc.wind.wander_deg = 15.0;
            sequential(&mut sc, &mut rng, 5, 55.0, (25.0, 35.0), 22.0, &all, false);
        }
        "low-wind" => {
            sc.wind.keys = vec![
                WindKey {
                    at_min: 0.0,
                    from_deg: dir0,
                    speed_ms: 1.0,
                },
                WindKey {
                    at_min: 330.0,
                    from_deg: dir0 + 40.0,
                    speed_ms: 0.8,
                },
            ];
            sc.wind.gust_deg = 20.0;
            sc.start = "2026-11-21T14:00:00Z".into(); // night: stable
            sequential(&mut sc, &mut rng, 5, 55.0, (25.0, 35.0), 22.0, &all, false);
        }
        "stacks" => {
            sc.start = "2026-11-22T04:00:00Z".into(); // midday: mixing brings stacks down
            sequential(
                &mut sc,
                &mut rng,
                5,
                55.0,
                (30.0, 40.0),
                20.0,
                &[SourceKind::Industrial, SourceKind::Coal],
                true,
            );
        }
        "two-sources" => {
            for pair in 0..3 {
                let before = sc.sources.len();
                loop {
                    sc.sources.truncate(before);
                    let t = 55.0 + pair as f64 * 90.0;
                    sequential(&mut sc, &mut rng, 1, t, (35.0, 45.0), 0.0, &all, false);
                    sequential(&mut sc, &mut rng, 1, t, (35.0, 45.0), 0.0, &all, false);
                    let (a, b) = (&sc.sources[before], &sc.sources[before + 1]);
                    if (a.x_m - b.x_m).hypot(a.y_m - b.y_m) >= 2500.0 {
                        break;
                    }
                }
            }
        }
        "short-episodes" => sequential(&mut sc, &mut rng, 10, 55.0, (8.0, 14.0), 12.0, &all, false),
        "edge" => {
            let half = sc.city.width_m.min(sc.city.height_m) / 2.0;
            let t = dir0.to_radians();
            for i in 0..5 {
                let d = half + rng.range(300.0, 1500.0);
                let lateral = rng.range(-0.6, 0.6) * half;
                let kind = all[(i + seed as usize) % all.len()];
                let q = emission(kind, &mut rng) * 2.0;
                sc.sources.push(SourceSpec {
                    id: format!("src-{:02}", i + 1),
                    kind,
                    x_m: d * t.sin() + lateral * t.cos(),
                    y_m: d * t.cos() - lateral * t.sin(),
                    height_m: rng.range(2.0, 8.0),
                    start_min: 55.0 + i as f64 * 55.0,
                    duration_min: rng.range(25.0, 35.0),
                    emission_gs: q,
                });
            }
        }
        "sparse" => {
            sc.city.spacing_m = 1200.0;
            sc.city.jitter_m = 250.0;
            sequential(&mut sc, &mut rng, 5, 55.0, (25.0, 35.0), 22.0, &all, false);
            for s in &mut sc.sources {
                s.emission_gs *= 3.0;
            }
        }
        "dense" => {
            sc.city.spacing_m = 300.0;
            sc.city.jitter_m = 80.0;
            sc.duration_min = 240;
            sequential(&mut sc, &mut rng, 4, 45.0, (20.0, 25.0), 22.0, &all, false);
        }
        "haze" => {
            sc.duration_min = 480;
            sc.start = "2026-11-22T10:00:00Z".into();
            sc.haze.ramp = vec![(0.0, 1.0), (240.0, 2.5), (420.0, 4.0), (480.0, 3.5)];
            sc.haze.gradient = 0.3;
            sc.haze.wobble = 0.08;
        }
        "faulty" => {
            sc.faults = FaultMix {
                stuck: 3,
                sentinel: 3,
                drift: 3,
                fast_clock: 2,
                ..FaultMix::default()
            };
            sequential(&mut sc, &mut rng, 5, 55.0, (25.0, 35.0), 22.0, &all, false);
        }
        "demo" => {
            // A day of a live city: the wind veers through the day, an episode of a
            // rotating kind roughly every 45 minutes, a few misbehaving sensors.
            sc.duration_min = DEMO_DURATION_MIN;
            sc.wind.keys = (0..=8)
                .map(|k| WindKey {
                    at_min: f64::from(k) * 180.0,
                    from_deg: (dir0 + 50.0 * (f64::from(k) * 1.3).sin()).rem_euclid(360.0),
                    speed_ms: rng.range(1.5, 4.0),
                })
                .collect();
            sc.wind.gust_deg = 10.0;
            sc.wind.wander_deg = 10.0;
            sc.faults = FaultMix {
                stuck: 1,
                sentinel: 1,
                fast_clock: 1,
                ..FaultMix::default()
            };
            sequential(&mut sc, &mut rng, 40, 15.0, (25.0, 40.0), 12.0, &all, false);
        }
        other => return Err(SimError::UnknownPreset(other.to_string())),
    }
    Ok(sc)
}

/// Length of the `demo` preset (`aqstream run --demo`), minutes.
pub const DEMO_DURATION_MIN: u32 = 24 * 60;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_exist_and_are_seeded() {
        for name in PRESETS {
            let a = preset(name, 3).unwrap();
            assert_eq!(a, preset(name, 3).unwrap(), "{name}");
            assert!(a.start_ms().is_ok());
            assert_eq!(a.sources.is_empty(), name == "haze", "{name}");
        }
        assert_ne!(preset("steady", 1).unwrap(), preset("steady", 2).unwrap());
        assert!(matches!(preset("nope", 1), Err(SimError::UnknownPreset(_))));
        let demo = preset("demo", 1).unwrap();
        let last_end = demo
            .sources
            .iter()
            .map(|s| s.start_min + s.duration_min)
            .fold(0.0, f64::max);
        assert!(
            last_end >= f64::from(DEMO_DURATION_MIN),
            "episodes all day: {last_end}"
        );
        assert!(
            !PRESETS.contains(&"demo"),
            "the demo is not a benchmark scenario"
        );
        let two = preset("two-sources", 9).unwrap();
        assert_eq!(two.sources.len(), 6);
        assert_eq!(two.sources[0].start_min, two.sources[1].start_min);
    }
}
