//! Point sources: what each kind emits, and the plume that carries it to the sensors.
//!
//! The simulator's dispersion is deliberately *not* identical to the detector's model:
//! each source gets its own spread factor (log-normal, ±25 %), a stability class that
//! may be one step off the textbook one, a plume that meanders minute by minute with
//! the wind (instead of a widened mean plume), sub-minute intermittency at the sensors,
//! and an emission that fluctuates. Transport delay: a sensor `x` metres downwind sees
//! the emission of `x / u` seconds earlier.

use crate::rng::Rng;
use crate::weather::Weather;
use aqstream_core::alert::SourceType;
use aqstream_locate::plume::{
    Stability, Terrain, sigmas, solar_elevation_deg, stability_class, wind_frame,
};
use serde::{Deserialize, Serialize};

/// The kinds of sources the city has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Construction or demolition dust (coarse particles).
    Dust,
    /// Open burning of biomass or waste.
    Combustion,
    /// A congested junction or a depot of diesel vehicles.
    Traffic,
    /// Small coal-fired boilers or domestic coal burning.
    Coal,
    /// An industrial stack.
    Industrial,
}

impl SourceKind {
    /// Every kind.
    pub const ALL: [SourceKind; 5] = [
        SourceKind::Dust,
        SourceKind::Combustion,
        SourceKind::Traffic,
        SourceKind::Coal,
        SourceKind::Industrial,
    ];

    /// The alert's name for it.
    pub fn source_type(self) -> SourceType {
        match self {
            SourceKind::Dust => SourceType::Dust,
            SourceKind::Combustion => SourceType::Combustion,
            SourceKind::Traffic => SourceType::Traffic,
            SourceKind::Coal => SourceType::Coal,
            SourceKind::Industrial => SourceType::Industrial,
        }
    }

    /// Index (into `[pm25, pm10, no2, so2, o3, co]`) of the pollutant the emission rate
    /// of a [`SourceSpec`] refers to: PM10 for dust, PM2.5 otherwise.
    pub fn reference(self) -> usize {
        if self == SourceKind::Dust { 1 } else { 0 }
    }

    /// Mass emission ratios `[pm25, pm10, no2, so2, o3, co]` per gram of the reference
    /// pollutant (typical emission factors: construction dust is ~20 % PM2.5; open
    /// biomass burning ~10 g CO and ~0.3 g NOx-as-NO2 per g PM2.5; a mixed vehicle fleet
    /// ~3 g primary NO2 and ~30 g CO per g exhaust PM2.5, with brake, tyre and road wear
    /// in PM10; small coal boilers ~2 g SO2 per g PM2.5; a filtered, desulphurised
    /// industrial stack NOx- and SO2-dominated with little CO).
    pub fn ratios(self) -> [f64; 6] {
        match self {
            SourceKind::Dust => [0.2, 1.0, 0.01, 0.0, 0.0, 0.04],
            SourceKind::Combustion => [1.0, 1.15, 0.3, 0.05, 0.0, 10.0],
            SourceKind::Traffic => [1.0, 1.6, 3.0, 0.05, 0.0, 30.0],
            SourceKind::Coal => [1.0, 1.4, 0.5, 2.0, 0.0, 5.0],
            SourceKind::Industrial => [1.0, 1.5, 1.5, 1.0, 0.0, 0.5],
        }
    }
}

/// One source of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Id in the ground truth, e.g. `src-03`.
    pub id: String,
    /// What it is.
    pub kind: SourceKind,
    /// East of the city centre, metres.
    pub x_m: f64,
    /// North of the city centre, metres.
    pub y_m: f64,
    /// Effective emission height (stack + rise), metres.
    pub height_m: f64,
    /// Minute (since the scenario start) it starts emitting.
    pub start_min: f64,
    /// How long it emits, minutes.
    pub duration_min: f64,
    /// Emission of the reference pollutant (PM10 for dust, PM2.5 otherwise), g/s.
    pub emission_gs: f64,
}

/// Where and when a concentration is wanted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Receptor {
    /// Event time (for the sun's elevation), epoch ms.
    pub t_ms: i64,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// East of the centre, metres.
    pub x: f64,
    /// North of the centre, metres.
    pub y: f64,
}

/// A source as simulated: its spec plus its own deviations from the textbook.
#[derive(Debug, Clone)]
pub struct ActiveSource {
    /// The spec.
    pub spec: SourceSpec,
    /// Emission of each pollutant `[pm25, pm10, no2, so2, o3, co]`, g/s.
    pub rates: [f64; 6],
    spread: f64,
    class_shift: i32,
    fluct: Vec<f64>,
}

fn shift(c: Stability, by: i32) -> Stability {
    const ALL: [Stability; 6] = [
        Stability::A,
        Stability::B,
        Stability::C,
        Stability::D,
        Stability::E,
        Stability::F,
    ];
    let i = ALL.iter().position(|s| *s == c).unwrap_or(3) as i32;
    ALL[(i + by).clamp(0, 5) as usize]
}

impl ActiveSource {
    /// Draws the source's deviations for a scenario of `minutes` minutes.
    pub fn new(spec: &SourceSpec, minutes: usize, rng: &mut Rng) -> ActiveSource {
        let base = spec.kind.ratios();
        let r = base[spec.kind.reference()];
        let rates = std::array::from_fn(|k| {
            let jitter = if k == spec.kind.reference() {
                1.0
            } else {
                rng.lognormal(0.2)
            };
            spec.emission_gs * base[k] / r * jitter
        });
        let spread = rng.lognormal(0.25);
        let class_shift = [-1, 0, 0, 1][rng.below(4)];
        let mut f = 0.0f64;
        let fluct = (0..minutes.max(1))
            .map(|_| {
                f = 0.8 * f + 0.6 * 0.2 * rng.normal();
                f.exp()
            })
            .collect();
        ActiveSource {
            spec: spec.clone(),
            rates,
            spread,
            class_shift,
            fluct,
        }
    }

    /// Emission factor (0..≈1.5) at fractional minute `t` since the scenario start.
    pub fn strength(&self, t: f64) -> f64 {
        let s = &self.spec;
        if t < s.start_min || t >= s.start_min + s.duration_min {
            return 0.0;
        }
        let ramp = ((t - s.start_min) / 2.0).min(1.0);
        let k = (t.max(0.0) as usize).min(self.fluct.len() - 1);
        ramp * self.fluct[k]
    }

    /// Concentration of each pollutant at a receptor (µg/m³; CO mg/m³) in minute
    /// `minute` (the minute ending at `minute + 1`), noise-free.
    pub fn concentration(&self, weather: &Weather, minute: usize, at: &Receptor) -> [f64; 6] {
        let Receptor {
            t_ms,
            lat,
            lon,
            x,
            y,
        } = *at;
        let s = &self.spec;
        let (from, u) = weather.plume_wind(minute, s.x_m, s.y_m);
        let (xd, yd) = wind_frame(x - s.x_m, y - s.y_m, from);
        if xd <= 1.0 {
            return [0.0; 6];
        }
        let u = u.max(0.3);
        let delay_min = xd / u / 60.0;
        let strength = self.strength(minute as f64 + 0.5 - delay_min);
        if strength <= 0.0 {
            return [0.0; 6];
        }
        let class = shift(
            stability_class(u, solar_elevation_deg(t_ms, lat, lon)),
            self.class_shift,
        );
        let (sy, sz) = sigmas(class, Terrain::Urban, xd);
        let (sy, sz) = (sy * self.spread, sz * self.spread);
        let sy = (sy * sy + (xd * 5f64.to_radians().sin()).powi(2)).sqrt();
        let h = s.height_m;
        let z = 3.0;
        let vert =
            (-(z - h).powi(2) / (2.0 * sz * sz)).exp() + (-(z + h).powi(2) / (2.0 * sz * sz)).exp();
        let k = (-yd * yd / (2.0 * sy * sy)).exp() * vert
            / (2.0 * std::f64::consts::PI * u * sy * sz)
            * 1e6
            * strength;
        let mut c = self.rates.map(|q| q * k);
        c[5] /= 1000.0; // CO in mg/m³
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weather::{HazeScenario, WindKey, WindScenario};

    #[test]
    fn plume_reaches_downwind_sensors_after_the_travel_time() {
        let wind = WindScenario {
            keys: vec![WindKey {
                at_min: 0.0,
                from_deg: 270.0,
                speed_ms: 2.0,
            }],
            wander_deg: 0.0,
            gust_deg: 0.0,
            speed_noise: 0.0,
            spatial_turn_deg: 0.0,
        };
        let w = Weather::new(&wind, &HazeScenario::default(), 60, 1);
        let spec = SourceSpec {
            id: "s".into(),
            kind: SourceKind::Coal,
            x_m: 0.0,
            y_m: 0.0,
            height_m: 3.0,
            start_min: 10.0,
            duration_min: 30.0,
            emission_gs: 3.0,
        };
        let src = ActiveSource::new(&spec, 60, &mut Rng::new(3));
        let t = 0;
        // 1200 m downwind at 2 m/s: 10 minutes of travel.
        let c = |m: usize, x: f64, y: f64| {
            src.concentration(
                &w,
                m,
                &Receptor {
                    t_ms: t,
                    lat: 39.9,
                    lon: 116.6,
                    x,
                    y,
                },
            )
        };
        assert_eq!(c(12, 1200.0, 0.0)[0], 0.0, "not there yet");
        assert!(c(25, 1200.0, 0.0)[0] > 5.0);
        assert_eq!(c(25, -300.0, 0.0)[0], 0.0, "upwind");
        assert!(
            c(25, 300.0, 0.0)[0] > c(25, 300.0, 200.0)[0],
            "the axis is highest"
        );
        let v = c(25, 300.0, 0.0);
        // Coal: SO2 about twice PM2.5 (jittered by ±20 %).
        assert!(v[3] / v[0] > 1.2 && v[3] / v[0] < 3.3, "{v:?}");
    }
}
