//! Units HJ 212 terminals send, and their conversion to aqstream's canonical units.
//!
//! Ambient stations send particulate matter and gases in µg/m³ and CO in mg/m³, which
//! are aqstream's canonical units, so by default nothing is converted. Some deployments
//! configure gas analysers in ppb/ppm or CO in µg/m³; a [`UnitTable`] says so per
//! measure. Volume-mixing ratios are converted at 25 °C and 1013.25 hPa (molar volume
//! 24.45 L/mol), the reference conditions of both HJ 633 and the US EPA AQI.

use crate::measure::{Measure, N_MEASURES};
use std::str::FromStr;

/// Molar volume of an ideal gas at 25 °C and 1 atm, L/mol.
pub const MOLAR_VOLUME_25C: f64 = 24.45;

/// A concentration unit a terminal may report in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// The measure's canonical unit (no conversion).
    Canonical,
    /// Micrograms per cubic metre.
    UgM3,
    /// Milligrams per cubic metre.
    MgM3,
    /// Parts per billion by volume.
    Ppb,
    /// Parts per million by volume.
    Ppm,
}

impl FromStr for Unit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "canonical" => Ok(Unit::Canonical),
            "ug/m3" | "µg/m3" | "µg/m³" | "ugm3" => Ok(Unit::UgM3),
            "mg/m3" | "mg/m³" | "mgm3" => Ok(Unit::MgM3),
            "ppb" => Ok(Unit::Ppb),
            "ppm" => Ok(Unit::Ppm),
            _ => Err(format!("unknown unit `{s}` (ug/m3, mg/m3, ppb, ppm)")),
        }
    }
}

/// Molar mass in g/mol of the gases that can be reported as mixing ratios.
pub fn molar_mass(m: Measure) -> Option<f64> {
    match m {
        Measure::No2 => Some(46.0055),
        Measure::So2 => Some(64.066),
        Measure::O3 => Some(47.997),
        Measure::Co => Some(28.010),
        _ => None,
    }
}

/// Factor that turns a value in `unit` into µg/m³, if the combination makes sense.
fn to_ugm3(m: Measure, unit: Unit) -> Option<f64> {
    match unit {
        Unit::UgM3 => Some(1.0),
        Unit::MgM3 => Some(1000.0),
        Unit::Ppb => molar_mass(m).map(|mw| mw / MOLAR_VOLUME_25C),
        Unit::Ppm => molar_mass(m).map(|mw| 1000.0 * mw / MOLAR_VOLUME_25C),
        Unit::Canonical => None,
    }
}

/// The unit each measure arrives in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitTable {
    factor: [f64; N_MEASURES],
}

impl Default for UnitTable {
    fn default() -> Self {
        UnitTable {
            factor: [1.0; N_MEASURES],
        }
    }
}

impl UnitTable {
    /// Declares that `m` arrives in `unit`. Only pollutant concentrations can be
    /// converted; weather measures and ppb/ppm for particulate matter are refused.
    pub fn set(&mut self, m: Measure, unit: Unit) -> Result<(), String> {
        if unit == Unit::Canonical {
            self.factor[m.index()] = 1.0;
            return Ok(());
        }
        if !m.is_pollutant() {
            return Err(format!("{} is always in {}", m.field(), m.unit()));
        }
        let into_ug = to_ugm3(m, unit)
            .ok_or_else(|| format!("{} cannot be reported in {unit:?}", m.field()))?;
        // Canonical is mg/m³ for CO and µg/m³ for the others.
        let canonical_ug = if m == Measure::Co { 1000.0 } else { 1.0 };
        self.factor[m.index()] = into_ug / canonical_ug;
        Ok(())
    }

    /// Converts a value of `m` as sent to the canonical unit.
    #[inline]
    pub fn to_canonical(&self, m: Measure, v: f64) -> f64 {
        let f = self.factor[m.index()];
        if f == 1.0 { v } else { v * f }
    }

    /// Converts a canonical value of `m` to the unit terminals send.
    #[inline]
    pub fn from_canonical(&self, m: Measure, v: f64) -> f64 {
        let f = self.factor[m.index()];
        if f == 1.0 { v } else { v / f }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_identity() {
        let t = UnitTable::default();
        for m in Measure::ALL {
            assert_eq!(t.to_canonical(m, 12.5), 12.5);
        }
    }

    #[test]
    fn conversions() {
        let mut t = UnitTable::default();
        t.set(Measure::Co, Unit::UgM3).unwrap();
        assert!((t.to_canonical(Measure::Co, 968.0) - 0.968).abs() < 1e-12);
        t.set(Measure::No2, Unit::Ppb).unwrap();
        // 1 ppb NO2 = 46.0055 / 24.45 = 1.8816 µg/m³
        assert!((t.to_canonical(Measure::No2, 100.0) - 188.16).abs() < 0.01);
        t.set(Measure::Co, Unit::Ppm).unwrap();
        // 1 ppm CO = 28.01 / 24.45 = 1.1456 mg/m³
        assert!((t.to_canonical(Measure::Co, 1.0) - 1.1456).abs() < 1e-4);
        assert!(
            (t.from_canonical(Measure::Co, t.to_canonical(Measure::Co, 3.0)) - 3.0).abs() < 1e-12
        );
        assert!(t.set(Measure::Pm25, Unit::Ppb).is_err());
        assert!(t.set(Measure::TempC, Unit::MgM3).is_err());
        assert_eq!("µg/m3".parse::<Unit>(), Ok(Unit::UgM3));
        assert!("furlongs".parse::<Unit>().is_err());
    }
}
