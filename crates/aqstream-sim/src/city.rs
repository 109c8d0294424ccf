//! The synthetic city: a Tongzhou-like grid of low-cost sensors with gateways and
//! districts, a few reference stations (all pollutants and wind) and met stations.

use crate::rng::Rng;
use aqstream_core::geo::LocalPlane;
use aqstream_core::measure::{Measure, N_MEASURES};
use aqstream_core::registry::{SensorInfo, SensorKind, SensorRegistry};
use serde::{Deserialize, Serialize};

/// Layout of the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CityConfig {
    /// Latitude of the city centre, degrees.
    pub center_lat: f64,
    /// Longitude of the city centre, degrees.
    pub center_lon: f64,
    /// East–west extent of the low-cost grid, metres.
    pub width_m: f64,
    /// North–south extent of the low-cost grid, metres.
    pub height_m: f64,
    /// Grid pitch of the low-cost sensors, metres.
    pub spacing_m: f64,
    /// Random displacement of each sensor from its grid point, metres.
    pub jitter_m: f64,
    /// Low-cost sensors per gateway.
    pub sensors_per_gateway: usize,
    /// Number of met stations (wind, temperature, humidity, pressure).
    pub met_stations: usize,
    /// Number of reference stations (every pollutant, and wind).
    pub reference_stations: usize,
    /// Share of low-cost sensors with gas cells (NO2, SO2, CO, O3); the rest measure PM only.
    pub gas_fraction: f64,
}

impl Default for CityConfig {
    fn default() -> Self {
        CityConfig {
            center_lat: 39.9092,
            center_lon: 116.6573,
            width_m: 6000.0,
            height_m: 6000.0,
            spacing_m: 600.0,
            jitter_m: 150.0,
            sensors_per_gateway: 8,
            met_stations: 4,
            reference_stations: 3,
            gas_fraction: 0.8,
        }
    }
}

/// One simulated sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSensor {
    /// Registry row.
    pub info: SensorInfo,
    /// East, metres from the centre.
    pub x: f64,
    /// North, metres from the centre.
    pub y: f64,
    /// Which measures it reports.
    pub measures: [bool; N_MEASURES],
}

/// The generated network.
#[derive(Debug, Clone)]
pub struct City {
    /// The sensors: low-cost first, then reference, then met stations.
    pub sensors: Vec<SimSensor>,
    /// The local plane around the centre.
    pub plane: LocalPlane,
    /// The configuration it was built from.
    pub config: CityConfig,
}

fn district(x: f64, y: f64, inner: f64) -> &'static str {
    if x.hypot(y) < inner {
        return "Tongzhou-Center";
    }
    let b = x.atan2(y).to_degrees().rem_euclid(360.0);
    match b {
        b if !(45.0..315.0).contains(&b) => "Tongzhou-North",
        b if b < 135.0 => "Tongzhou-East",
        b if b < 225.0 => "Tongzhou-South",
        _ => "Tongzhou-West",
    }
}

impl City {
    /// Builds the network for `config`, placing sensors with `seed`.
    pub fn build(config: &CityConfig, seed: u64) -> City {
        let mut rng = Rng::derive(seed, "city");
        let plane = LocalPlane::new(config.center_lat, config.center_lon);
        let inner = 0.25 * config.width_m.min(config.height_m);
        let nx = (config.width_m / config.spacing_m).round().max(0.0) as usize + 1;
        let ny = (config.height_m / config.spacing_m).round().max(0.0) as usize + 1;
        let mut sensors = Vec::new();
        let make = |id: String,
                    gw: String,
                    x: f64,
                    y: f64,
                    kind: SensorKind,
                    measures: [bool; N_MEASURES]| {
            let (lat, lon) = plane.to_latlon(x, y);
            let round = |v: f64| (v * 1e6).round() / 1e6;
            SimSensor {
                info: SensorInfo {
                    sensor_id: id,
                    gateway_id: gw,
                    lat: round(lat),
                    lon: round(lon),
                    district: district(x, y, inner).to_string(),
                    kind,
                },
                x,
                y,
                measures,
            }
        };
        let mut pm_only = [false; N_MEASURES];
        pm_only[Measure::Pm25.index()] = true;
        pm_only[Measure::Pm10.index()] = true;
        let mut gases = pm_only;
        for m in [
            Measure::No2,
            Measure::So2,
            Measure::Co,
            Measure::O3,
            Measure::TempC,
            Measure::Rh,
        ] {
            gases[m.index()] = true;
        }
        let mut all = [true; N_MEASURES];
        all[Measure::PressureHpa.index()] = false;
        let mut met = [false; N_MEASURES];
        for m in [
            Measure::TempC,
            Measure::Rh,
            Measure::PressureHpa,
            Measure::WindSpeed,
            Measure::WindDir,
        ] {
            met[m.index()] = true;
        }
        let per_gw = config.sensors_per_gateway.max(1);
        let mut k = 0;
        for iy in 0..ny {
            for ix in 0..nx {
                let x = -config.width_m / 2.0
                    + ix as f64 * config.spacing_m
                    + rng.range(-1.0, 1.0) * config.jitter_m;
                let y = -config.height_m / 2.0
                    + iy as f64 * config.spacing_m
                    + rng.range(-1.0, 1.0) * config.jitter_m;
                let m = if rng.chance(config.gas_fraction) {
                    gases
                } else {
                    pm_only
                };
                sensors.push(make(
                    format!("TZ-{:04}", k + 1),
                    format!("gw-tz-{:02}", k / per_gw + 1),
                    x,
                    y,
                    SensorKind::Lowcost,
                    m,
                ));
                k += 1;
            }
        }
        let r = 0.3 * config.width_m.min(config.height_m);
        for j in 0..config.reference_stations {
            let a =
                (j as f64 * 360.0 / config.reference_stations.max(1) as f64 + 20.0).to_radians();
            let rr = if j == 0 { 0.0 } else { r };
            sensors.push(make(
                format!("TZR-{:02}", j + 1),
                "gw-ref-01".into(),
                rr * a.sin() + 37.0,
                rr * a.cos() - 23.0,
                SensorKind::Reference,
                all,
            ));
        }
        for j in 0..config.met_stations {
            let a = (45.0 + j as f64 * 360.0 / config.met_stations.max(1) as f64).to_radians();
            sensors.push(make(
                format!("MET-{:02}", j + 1),
                "gw-met-01".into(),
                1.2 * r * a.sin(),
                1.2 * r * a.cos(),
                SensorKind::Met,
                met,
            ));
        }
        City {
            sensors,
            plane,
            config: config.clone(),
        }
    }

    /// The registry (`sensors.csv`) of the network.
    pub fn registry(&self) -> SensorRegistry {
        SensorRegistry::from_sensors(self.sensors.iter().map(|s| s.info.clone()).collect())
            .expect("generated ids are unique")
    }

    /// Sensors that measure pollutants.
    pub fn pollutant_sensors(&self) -> usize {
        self.sensors
            .iter()
            .filter(|s| s.info.kind != SensorKind::Met)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_city() {
        let c = City::build(&CityConfig::default(), 1);
        assert_eq!(c.sensors.len(), 121 + 3 + 4);
        let reg = c.registry();
        assert_eq!(reg.districts().len(), 5);
        assert_eq!(reg.get("TZ-0001").unwrap().gateway_id, "gw-tz-01");
        assert_eq!(reg.get("TZ-0009").unwrap().gateway_id, "gw-tz-02");
        assert_eq!(reg.get("MET-01").unwrap().kind, SensorKind::Met);
        let again = City::build(&CityConfig::default(), 1);
        assert_eq!(again.registry().to_csv(), reg.to_csv());
        assert_ne!(
            City::build(&CityConfig::default(), 2).registry().to_csv(),
            reg.to_csv()
        );
    }
}
