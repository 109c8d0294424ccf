//! Air quality indices: China HJ 633-2012, US EPA AQI and the EPA NowCast.
//!
//! Concentration units everywhere in aqstream: PM2.5, PM10, SO2, NO2 and O3 in µg/m³,
//! CO in mg/m³. The US module converts gases to the EPA's native units (ppm / ppb) itself.
//!
//! * [`cn`] — HJ 633-2012 sub-indices (IAQI), AQI, primary pollutants and categories.
//! * [`us`] — US EPA AQI (Technical Assistance Document, May 2024) and categories.
//! * [`nowcast`] — the EPA NowCast for PM2.5 and PM10, and a per-sensor hourly ring.
//!
//! The two standards round differently: HJ 633 rounds the sub-index **up** to an integer,
//! the EPA truncates the concentration to the reporting resolution and then rounds the
//! index to the **nearest** integer.

use std::fmt;
use std::str::FromStr;

pub mod cn;
pub mod nowcast;
pub mod us;

/// A pollutant that has an air quality sub-index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pollutant {
    /// Fine particulate matter (PM2.5), µg/m³.
    Pm25,
    /// Inhalable particulate matter (PM10), µg/m³.
    Pm10,
    /// Sulfur dioxide, µg/m³.
    So2,
    /// Nitrogen dioxide, µg/m³.
    No2,
    /// Carbon monoxide, mg/m³.
    Co,
    /// Ozone, µg/m³.
    O3,
}

impl Pollutant {
    /// All pollutants, in declaration order.
    pub const ALL: [Pollutant; 6] = [
        Pollutant::Pm25,
        Pollutant::Pm10,
        Pollutant::So2,
        Pollutant::No2,
        Pollutant::Co,
        Pollutant::O3,
    ];

    /// Stable machine name: `"pm25"`, `"pm10"`, `"so2"`, `"no2"`, `"co"`, `"o3"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Pollutant::Pm25 => "pm25",
            Pollutant::Pm10 => "pm10",
            Pollutant::So2 => "so2",
            Pollutant::No2 => "no2",
            Pollutant::Co => "co",
            Pollutant::O3 => "o3",
        }
    }

    /// The aqstream unit of this pollutant's concentration (`"mg/m³"` for CO, else `"µg/m³"`).
    pub const fn unit(self) -> &'static str {
        match self {
            Pollutant::Co => "mg/m³",
            _ => "µg/m³",
        }
    }
}

impl fmt::Display for Pollutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Pollutant {
    type Err = AqiError;

    /// Accepts `pm25`, `pm2.5`, `pm2_5`, `pm10`, `so2`, `no2`, `co`, `o3`, case-insensitively
    /// (surrounding whitespace is ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let p = if t.eq_ignore_ascii_case("pm25")
            || t.eq_ignore_ascii_case("pm2.5")
            || t.eq_ignore_ascii_case("pm2_5")
        {
            Pollutant::Pm25
        } else if t.eq_ignore_ascii_case("pm10") {
            Pollutant::Pm10
        } else if t.eq_ignore_ascii_case("so2") {
            Pollutant::So2
        } else if t.eq_ignore_ascii_case("no2") {
            Pollutant::No2
        } else if t.eq_ignore_ascii_case("co") {
            Pollutant::Co
        } else if t.eq_ignore_ascii_case("o3") {
            Pollutant::O3
        } else {
            return Err(AqiError::UnknownPollutant(s.to_owned()));
        };
        Ok(p)
    }
}

/// An averaging period of a concentration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    /// 1-hour average.
    H1,
    /// 8-hour (moving) average.
    H8,
    /// 24-hour average.
    H24,
}

impl Period {
    /// Stable machine name: `"1h"`, `"8h"`, `"24h"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Period::H1 => "1h",
            Period::H8 => "8h",
            Period::H24 => "24h",
        }
    }

    /// Length of the period in hours.
    pub const fn hours(self) -> u32 {
        match self {
            Period::H1 => 1,
            Period::H8 => 8,
            Period::H24 => 24,
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Period {
    type Err = AqiError;

    /// Accepts `1h`, `8h`, `24h`, case-insensitively (surrounding whitespace is ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("1h") {
            Ok(Period::H1)
        } else if t.eq_ignore_ascii_case("8h") {
            Ok(Period::H8)
        } else if t.eq_ignore_ascii_case("24h") {
            Ok(Period::H24)
        } else {
            Err(AqiError::UnknownPeriod(s.to_owned()))
        }
    }
}

/// Why an index could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AqiError {
    /// The text does not name a known pollutant.
    #[error("unknown pollutant {0:?}")]
    UnknownPollutant(String),
    /// The text does not name a known averaging period.
    #[error("unknown averaging period {0:?} (expected 1h, 8h or 24h)")]
    UnknownPeriod(String),
    /// The standard has no breakpoint table for this pollutant and averaging period.
    #[error("no breakpoint table for {pollutant} over {period}")]
    UnsupportedPeriod {
        /// The pollutant asked for.
        pollutant: Pollutant,
        /// The averaging period asked for.
        period: Period,
    },
    /// The concentration is NaN or infinite.
    #[error("concentration is not a finite number")]
    NotFinite,
    /// The concentration is below zero.
    #[error("concentration {0} is negative")]
    Negative(f64),
    /// For this concentration the standard reports the sub-index of another averaging period.
    #[error("{pollutant}: the standard uses the {period} value for this concentration")]
    UseOtherPeriod {
        /// The pollutant asked for.
        pollutant: Pollutant,
        /// The averaging period whose sub-index should be reported instead.
        period: Period,
    },
    /// The concentration is below the lowest breakpoint of the table (the index of another
    /// averaging period applies there).
    #[error("{pollutant} {period}: concentration is below the table's lowest breakpoint {min}")]
    BelowTable {
        /// The pollutant asked for.
        pollutant: Pollutant,
        /// The averaging period asked for.
        period: Period,
        /// The lowest breakpoint of the table, in the table's native unit.
        min: f64,
    },
    /// The NowCast is defined for PM2.5 and PM10 only.
    #[error("the NowCast is defined for PM2.5 and PM10 only, not {0}")]
    NowCastUnsupported(Pollutant),
}

/// Rejects NaN, infinities and negative numbers (`-0.0` counts as zero).
pub(crate) fn check_concentration(c: f64) -> Result<(), AqiError> {
    if !c.is_finite() {
        Err(AqiError::NotFinite)
    } else if c < 0.0 {
        Err(AqiError::Negative(c))
    } else {
        Ok(())
    }
}

/// `floor(c * scale)`, but a product within a relative 1e-9 of an integer counts as that
/// integer: `9.1` is `9.0999…` in binary and must truncate to 91 tenths, not 90.
/// `c` must be finite and non-negative. Saturates at `i64::MAX`.
pub(crate) fn truncate_units(c: f64, scale: f64) -> i64 {
    let v = c * scale;
    let r = v.round();
    let snapped = if (v - r).abs() <= 1e-9 * v.abs().max(1.0) {
        r
    } else {
        v.floor()
    };
    // `as` saturates for out-of-range floats.
    snapped as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pollutant_from_str_accepts_aliases() {
        for (s, p) in [
            ("pm25", Pollutant::Pm25),
            ("PM2.5", Pollutant::Pm25),
            ("Pm2_5", Pollutant::Pm25),
            ("pm10", Pollutant::Pm10),
            ("SO2", Pollutant::So2),
            ("no2", Pollutant::No2),
            ("CO", Pollutant::Co),
            (" o3 ", Pollutant::O3),
        ] {
            assert_eq!(s.parse::<Pollutant>().unwrap(), p, "{s}");
        }
        for bad in ["", "pm2", "pm2,5", "ozone", "nox"] {
            assert_eq!(
                bad.parse::<Pollutant>(),
                Err(AqiError::UnknownPollutant(bad.to_owned()))
            );
        }
    }

    #[test]
    fn pollutant_round_trips_through_as_str() {
        for p in Pollutant::ALL {
            assert_eq!(p.as_str().parse::<Pollutant>().unwrap(), p);
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!(Pollutant::Co.unit(), "mg/m³");
        assert_eq!(Pollutant::O3.unit(), "µg/m³");
    }

    #[test]
    fn period_from_str() {
        assert_eq!("1h".parse::<Period>().unwrap(), Period::H1);
        assert_eq!("8H".parse::<Period>().unwrap(), Period::H8);
        assert_eq!("24h".parse::<Period>().unwrap(), Period::H24);
        for bad in ["1", "24", "hour", "day", "12h"] {
            assert_eq!(
                bad.parse::<Period>(),
                Err(AqiError::UnknownPeriod(bad.to_owned()))
            );
        }
        for p in [Period::H1, Period::H8, Period::H24] {
            assert_eq!(p.to_string().parse::<Period>().unwrap(), p);
        }
        assert_eq!(Period::H8.hours(), 8);
    }

    #[test]
    fn truncation_survives_binary_representation() {
        assert_eq!(truncate_units(9.1, 10.0), 91);
        assert_eq!(truncate_units(9.09, 10.0), 90);
        assert_eq!(truncate_units(0.071, 1000.0), 71);
        assert_eq!(truncate_units(0.0709, 1000.0), 70);
        assert_eq!(truncate_units(35.45, 10.0), 354);
        assert_eq!(truncate_units(54.999, 1.0), 54);
        assert_eq!(truncate_units(1e300, 10.0), i64::MAX);
    }

    #[test]
    fn concentration_checks() {
        assert_eq!(check_concentration(f64::NAN), Err(AqiError::NotFinite));
        assert_eq!(check_concentration(f64::INFINITY), Err(AqiError::NotFinite));
        assert_eq!(check_concentration(-0.5), Err(AqiError::Negative(-0.5)));
        assert_eq!(check_concentration(-0.0), Ok(()));
        assert_eq!(check_concentration(0.0), Ok(()));
    }
}
