//! The measured quantities of a reading, their canonical units and plausibility limits.

use std::fmt;
use std::str::FromStr;

/// Number of distinct measurements a reading can carry.
pub const N_MEASURES: usize = 11;

/// One measured quantity. The discriminant is the index into [`crate::reading::Values`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Measure {
    /// Fine particulate matter, µg/m³.
    Pm25 = 0,
    /// Coarse particulate matter, µg/m³.
    Pm10 = 1,
    /// Nitrogen dioxide, µg/m³.
    No2 = 2,
    /// Sulphur dioxide, µg/m³.
    So2 = 3,
    /// Ozone, µg/m³.
    O3 = 4,
    /// Carbon monoxide, mg/m³.
    Co = 5,
    /// Air temperature, °C.
    TempC = 6,
    /// Relative humidity, %.
    Rh = 7,
    /// Station pressure, hPa.
    PressureHpa = 8,
    /// Wind speed, m/s.
    WindSpeed = 9,
    /// Direction the wind blows **from**, degrees clockwise from north.
    WindDir = 10,
}

impl Measure {
    /// Every measure, in index order.
    pub const ALL: [Measure; N_MEASURES] = [
        Measure::Pm25,
        Measure::Pm10,
        Measure::No2,
        Measure::So2,
        Measure::O3,
        Measure::Co,
        Measure::TempC,
        Measure::Rh,
        Measure::PressureHpa,
        Measure::WindSpeed,
        Measure::WindDir,
    ];

    /// The pollutant concentrations (everything but weather).
    pub const POLLUTANTS: [Measure; 6] = [
        Measure::Pm25,
        Measure::Pm10,
        Measure::No2,
        Measure::So2,
        Measure::O3,
        Measure::Co,
    ];

    /// Index into a `[_; N_MEASURES]` array.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The measure with index `i`, if any.
    #[inline]
    pub const fn from_index(i: usize) -> Option<Measure> {
        if i < N_MEASURES {
            Some(Measure::ALL[i])
        } else {
            None
        }
    }

    /// The contract's JSON field name (`pm25`, `temp_c`, …).
    pub const fn field(self) -> &'static str {
        match self {
            Measure::Pm25 => "pm25",
            Measure::Pm10 => "pm10",
            Measure::No2 => "no2",
            Measure::So2 => "so2",
            Measure::O3 => "o3",
            Measure::Co => "co",
            Measure::TempC => "temp_c",
            Measure::Rh => "rh",
            Measure::PressureHpa => "pressure_hpa",
            Measure::WindSpeed => "wind_speed",
            Measure::WindDir => "wind_dir",
        }
    }

    /// Canonical unit of the measure in aqstream.
    pub const fn unit(self) -> &'static str {
        match self {
            Measure::Pm25 | Measure::Pm10 | Measure::No2 | Measure::So2 | Measure::O3 => "µg/m³",
            Measure::Co => "mg/m³",
            Measure::TempC => "°C",
            Measure::Rh => "%",
            Measure::PressureHpa => "hPa",
            Measure::WindSpeed => "m/s",
            Measure::WindDir => "°",
        }
    }

    /// Is this a pollutant concentration (as opposed to a weather variable)?
    pub const fn is_pollutant(self) -> bool {
        (self as u8) <= (Measure::Co as u8)
    }

    /// Hard limits: a value outside them cannot be a measurement of this quantity at
    /// all (instrument ranges, physics), so the reading is rejected as `out_of_range`.
    ///
    /// Concentrations allow small negative values: those happen on real instruments near
    /// zero and are kept, flagged (see [`Measure::plausible_range`]).
    pub const fn hard_range(self) -> (f64, f64) {
        match self {
            // The worst recorded dust storms reach PM10 of ~10 000 µg/m³.
            Measure::Pm25 | Measure::Pm10 => (-1_000.0, 20_000.0),
            Measure::No2 | Measure::So2 | Measure::O3 => (-1_000.0, 20_000.0),
            Measure::Co => (-100.0, 1_000.0),
            Measure::TempC => (-80.0, 70.0),
            Measure::Rh => (-5.0, 105.0),
            Measure::PressureHpa => (300.0, 1_100.0),
            Measure::WindSpeed => (0.0, 100.0),
            Measure::WindDir => (0.0, 360.0),
        }
    }

    /// Plausible range: values inside the hard range but outside this one are kept and
    /// flagged as not valid for aggregation.
    pub const fn plausible_range(self) -> (f64, f64) {
        match self {
            Measure::Pm25 | Measure::Pm10 | Measure::No2 | Measure::So2 | Measure::O3 => {
                (0.0, 10_000.0)
            }
            Measure::Co => (0.0, 500.0),
            Measure::TempC => (-60.0, 60.0),
            Measure::Rh => (0.0, 100.0),
            Measure::PressureHpa => (500.0, 1_100.0),
            Measure::WindSpeed => (0.0, 75.0),
            Measure::WindDir => (0.0, 360.0),
        }
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field())
    }
}

/// Error of [`Measure::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown measure `{0}`")]
pub struct UnknownMeasure(pub String);

impl FromStr for Measure {
    type Err = UnknownMeasure;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Measure::ALL
            .iter()
            .copied()
            .find(|m| m.field().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownMeasure(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_round_trip_and_names() {
        for (i, m) in Measure::ALL.iter().enumerate() {
            assert_eq!(m.index(), i);
            assert_eq!(Measure::from_index(i), Some(*m));
            assert_eq!(m.field().parse::<Measure>().unwrap(), *m);
        }
        assert_eq!(Measure::from_index(N_MEASURES), None);
        assert!("pm2.5".parse::<Measure>().is_err());
    }

    #[test]
    fn pollutants_are_the_first_six() {
        let p: Vec<_> = Measure::ALL.iter().filter(|m| m.is_pollutant()).collect();
        assert_eq!(p.len(), Measure::POLLUTANTS.len());
        assert!(!Measure::TempC.is_pollutant());
    }

    #[test]
    fn plausible_is_inside_hard() {
        for m in Measure::ALL {
            let (hl, hh) = m.hard_range();
            let (pl, ph) = m.plausible_range();
            assert!(hl <= pl && ph <= hh, "{m}");
        }
    }
}
