//! Wind that changes and the regional background (haze) the sources sit on.

use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// A point of the wind's course: at minute `at_min` the wind blows from `from_deg`
/// at `speed_ms`; between keys both are interpolated linearly (direction the short
/// way round).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindKey {
    /// Minute since the scenario start.
    pub at_min: f64,
    /// Direction the wind blows from, degrees.
    pub from_deg: f64,
    /// Speed, m/s.
    pub speed_ms: f64,
}

/// The wind of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindScenario {
    /// The course of the large-scale wind.
    pub keys: Vec<WindKey>,
    /// Slow random wander of the direction around the course (std. dev., degrees).
    pub wander_deg: f64,
    /// Minute-to-minute meander of plumes and gusts at stations (std. dev., degrees).
    pub gust_deg: f64,
    /// Relative minute-to-minute speed noise.
    pub speed_noise: f64,
    /// The direction turns by this much from the west to the east edge (10 km), degrees.
    pub spatial_turn_deg: f64,
}

impl Default for WindScenario {
    fn default() -> Self {
        WindScenario {
            keys: vec![WindKey {
                at_min: 0.0,
                from_deg: 250.0,
                speed_ms: 2.5,
            }],
            wander_deg: 8.0,
            gust_deg: 10.0,
            speed_noise: 0.12,
            spatial_turn_deg: 6.0,
        }
    }
}

/// The regional background of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HazeScenario {
    /// Background at the start: PM2.5, PM10, NO2, SO2, O3 (µg/m³), CO (mg/m³).
    pub levels: [f64; 6],
    /// Multiplier of the background over time: `(minute, factor)` keys, linear between.
    pub ramp: Vec<(f64, f64)>,
    /// Relative difference of the background across 10 km.
    pub gradient: f64,
    /// Direction (degrees) toward which the background grows.
    pub gradient_toward_deg: f64,
    /// Relative slow random variation of the background.
    pub wobble: f64,
}

impl Default for HazeScenario {
    fn default() -> Self {
        HazeScenario {
            levels: [60.0, 95.0, 40.0, 12.0, 30.0, 0.9],
            ramp: vec![(0.0, 1.0)],
            gradient: 0.15,
            gradient_toward_deg: 200.0,
            wobble: 0.04,
        }
    }
}

fn lerp_keys(keys: &[(f64, f64)], t: f64) -> f64 {
    match keys {
        [] => 1.0,
        [only] => only.1,
        _ => {
            if t <= keys[0].0 {
                return keys[0].1;
            }
            for w in keys.windows(2) {
                if t <= w[1].0 {
                    let f = (t - w[0].0) / (w[1].0 - w[0].0).max(1e-9);
                    return w[0].1 + f * (w[1].1 - w[0].1);
                }
            }
            keys[keys.len() - 1].1
        }
    }
}

fn angle_diff(a: f64, b: f64) -> f64 {
    (b - a + 540.0).rem_euclid(360.0) - 180.0
}

/// Minute-by-minute large-scale wind and background, precomputed for the scenario.
#[derive(Debug, Clone)]
pub struct Weather {
    dir: Vec<f64>,
    speed: Vec<f64>,
    meander: Vec<f64>,
    haze: Vec<f64>,
    spatial_turn_deg: f64,
    gradient: f64,
    gradient_toward_deg: f64,
    levels: [f64; 6],
    gust_deg: f64,
    speed_noise: f64,
}

impl Weather {
    /// The weather of `minutes` minutes.
    pub fn new(wind: &WindScenario, haze: &HazeScenario, minutes: usize, seed: u64) -> Weather {
        let mut rng = Rng::derive(seed, "weather");
        let (mut wander, mut meander_state, mut wob) = (0.0f64, 0.0f64, 0.0f64);
        let (mut dir, mut speed, mut meander, mut hz) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        // Ornstein–Uhlenbeck processes: wander (τ 60 min), meander (τ 3 min), wobble (τ 90 min).
        let ou = |x: f64, tau: f64, sd: f64, n: f64| {
            x * (-1.0 / tau).exp() + sd * (1.0 - (-2.0 / tau).exp()).sqrt() * n
        };
        for k in 0..minutes.max(1) {
            let t = k as f64;
            let (d, s) = course(&wind.keys, t);
            wander = ou(wander, 60.0, wind.wander_deg, rng.normal());
            meander_state = ou(meander_state, 3.0, wind.gust_deg, rng.normal());
            wob = ou(wob, 90.0, haze.wobble, rng.normal());
            dir.push((d + wander).rem_euclid(360.0));
            speed.push((s * (1.0 + 0.5 * wind.speed_noise * rng.normal())).max(0.2));
            meander.push(meander_state);
            hz.push(lerp_keys(&haze.ramp, t) * (1.0 + wob));
        }
        Weather {
            dir,
            speed,
            meander,
            haze: hz,
            spatial_turn_deg: wind.spatial_turn_deg,
            gradient: haze.gradient,
            gradient_toward_deg: haze.gradient_toward_deg,
            levels: haze.levels,
            gust_deg: wind.gust_deg,
            speed_noise: wind.speed_noise,
        }
    }

    fn at(&self, minute: usize) -> usize {
        minute.min(self.dir.len() - 1)
    }

    /// The true mean wind `(from_deg, speed)` at `(x, y)` metres in minute `minute`.
    pub fn wind(&self, minute: usize, x: f64, _y: f64) -> (f64, f64) {
        let k = self.at(minute);
        (
            (self.dir[k] + self.spatial_turn_deg * x / 10_000.0).rem_euclid(360.0),
            self.speed[k],
        )
    }

    /// The direction a plume travels in this minute: the mean wind plus its meander.
    pub fn plume_wind(&self, minute: usize, x: f64, y: f64) -> (f64, f64) {
        let (d, s) = self.wind(minute, x, y);
        ((d + self.meander[self.at(minute)]).rem_euclid(360.0), s)
    }

    /// What an anemometer at `(x, y)` reports (gusts and instrument noise added).
    pub fn station_wind(&self, minute: usize, x: f64, y: f64, rng: &mut Rng) -> (f64, f64) {
        let (d, s) = self.plume_wind(minute, x, y);
        let d = (d + 0.5 * self.gust_deg * rng.normal()).rem_euclid(360.0);
        let s = (s * (1.0 + self.speed_noise * rng.normal())).max(0.1);
        ((d * 10.0).round() / 10.0 % 360.0, (s * 10.0).round() / 10.0)
    }

    /// Background of pollutant `k` (index into [`HazeScenario::levels`]) at `(x, y)`.
    pub fn background(&self, k: usize, minute: usize, x: f64, y: f64) -> f64 {
        let t = self.gradient_toward_deg.to_radians();
        let proj = (x * t.sin() + y * t.cos()) / 10_000.0;
        let scale = if k == 4 {
            1.0
        } else {
            self.haze[self.at(minute)]
        };
        self.levels[k] * scale * (1.0 + self.gradient * proj).max(0.1)
    }
}

fn course(keys: &[WindKey], t: f64) -> (f64, f64) {
    match keys {
        [] => (270.0, 2.0),
        [k] => (k.from_deg, k.speed_ms),
        _ => {
            if t <= keys[0].at_min {
                return (keys[0].from_deg, keys[0].speed_ms);
            }
            for w in keys.windows(2) {
                if t <= w[1].at_min {
                    let f = (t - w[0].at_min) / (w[1].at_min - w[0].at_min).max(1e-9);
                    let d = w[0].from_deg + f * angle_diff(w[0].from_deg, w[1].from_deg);
                    return (
                        d.rem_euclid(360.0),
                        w[0].speed_ms + f * (w[1].speed_ms - w[0].speed_ms),
                    );
                }
            }
            let l = keys[keys.len() - 1];
            (l.from_deg, l.speed_ms)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wind_follows_its_keys_the_short_way_round() {
        let keys = [
            WindKey {
                at_min: 0.0,
                from_deg: 350.0,
                speed_ms: 2.0,
            },
            WindKey {
                at_min: 100.0,
                from_deg: 30.0,
                speed_ms: 4.0,
            },
        ];
        let (d, s) = course(&keys, 50.0);
        assert!((d - 10.0).abs() < 1e-9 && (s - 3.0).abs() < 1e-9, "{d} {s}");
        assert_eq!(course(&keys, 500.0), (30.0, 4.0));
    }

    #[test]
    fn haze_ramps_and_is_deterministic() {
        let haze = HazeScenario {
            ramp: vec![(0.0, 1.0), (100.0, 3.0)],
            wobble: 0.0,
            gradient: 0.0,
            ..HazeScenario::default()
        };
        let w = Weather::new(&WindScenario::default(), &haze, 200, 5);
        assert!((w.background(0, 0, 0.0, 0.0) - 60.0).abs() < 1e-9);
        assert!((w.background(0, 100, 0.0, 0.0) - 180.0).abs() < 1e-9);
        let w2 = Weather::new(&WindScenario::default(), &haze, 200, 5);
        assert_eq!(w.wind(77, 0.0, 0.0), w2.wind(77, 0.0, 0.0));
    }
}
