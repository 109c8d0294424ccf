//! United States: the EPA Air Quality Index, per the *Technical Assistance Document for
//! the Reporting of Daily Air Quality – the Air Quality Index (AQI)*, EPA-454/B-24-002,
//! May 2024 (the PM2.5 breakpoints revised with the 2024 PM NAAQS).
//!
//! EPA procedure, implemented exactly with integer arithmetic:
//! 1. truncate the concentration to the reporting resolution (PM2.5 0.1 µg/m³, PM10
//!    1 µg/m³, O3 0.001 ppm, CO 0.1 ppm, SO2 and NO2 1 ppb); a value within a relative
//!    1e-9 of a resolution step counts as that step, so `9.1` (binary `9.0999…`) stays 9.1;
//! 2. interpolate linearly in the breakpoint segment containing it;
//! 3. round to the **nearest** integer (halves up).
//!
//! Above the top breakpoint the EPA's guidance is to extrapolate with the last segment,
//! which this module does: AQI values above 500 are possible. Exceptions from the table's
//! notes: O3 8-hour above 0.200 ppm → use the 1-hour value, SO2 1-hour at or above 305 ppb
//! → use the 24-hour value ([`AqiError::UseOtherPeriod`]); the O3 1-hour table starts at
//! 0.125 ppm and the SO2 24-hour table at 305 ppb, below which [`AqiError::BelowTable`].
//!
//! PM has only 24-hour breakpoints: [`Period::H1`] is rejected for PM. For real-time
//! reporting pass the [NowCast](super::nowcast) as the 24-hour concentration, as the
//! EPA does.

use super::{AqiError, Period, Pollutant, check_concentration, truncate_units};

/// Molar volume of an ideal gas at 25 °C and 1 atm, L/mol.
pub const MOLAR_VOLUME_25C: f64 = 24.45;

/// One breakpoint segment in integer resolution units.
struct Segment {
    lo: i64,
    hi: i64,
    i_lo: u32,
    i_hi: u32,
}

const fn seg(lo: i64, hi: i64, i_lo: u32, i_hi: u32) -> Segment {
    Segment { lo, hi, i_lo, i_hi }
}

/// A breakpoint table: units per native unit, segments, and what happens above the top.
struct Table {
    scale: f64,
    segments: &'static [Segment],
    /// `Some(period)`: above the table, use that period's index instead of extrapolating.
    above: Option<Period>,
}

// PM2.5 24h, 0.1 µg/m³ units (2024 breakpoints).
const PM25_24H: Table = Table {
    scale: 10.0,
    segments: &[
        seg(0, 90, 0, 50),
        seg(91, 354, 51, 100),
        seg(355, 554, 101, 150),
        seg(555, 1254, 151, 200),
        seg(1255, 2254, 201, 300),
        seg(2255, 3254, 301, 500),
    ],
    above: None,
};
// PM10 24h, 1 µg/m³ units.
const PM10_24H: Table = Table {
    scale: 1.0,
    segments: &[
        seg(0, 54, 0, 50),
        seg(55, 154, 51, 100),
        seg(155, 254, 101, 150),
        seg(255, 354, 151, 200),
        seg(355, 424, 201, 300),
        seg(425, 604, 301, 500),
    ],
    above: None,
};
// O3 8h, 0.001 ppm units.
const O3_8H: Table = Table {
    scale: 1000.0,
    segments: &[
        seg(0, 54, 0, 50),
        seg(55, 70, 51, 100),
        seg(71, 85, 101, 150),
        seg(86, 105, 151, 200),
        seg(106, 200, 201, 300),
    ],
    above: Some(Period::H1),
};
// O3 1h, 0.001 ppm units.
const O3_1H: Table = Table {
    scale: 1000.0,
    segments: &[
        seg(125, 164, 101, 150),
        seg(165, 204, 151, 200),
        seg(205, 404, 201, 300),
        seg(405, 604, 301, 500),
    ],
    above: None,
};
// CO 8h, 0.1 ppm units.
const CO_8H: Table = Table {
    scale: 10.0,
    segments: &[
        seg(0, 44, 0, 50),
        seg(45, 94, 51, 100),
        seg(95, 124, 101, 150),
        seg(125, 154, 151, 200),
        seg(155, 304, 201, 300),
        seg(305, 504, 301, 500),
    ],
    above: None,
};
// SO2 1h, 1 ppb units.
const SO2_1H: Table = Table {
    scale: 1.0,
    segments: &[
        seg(0, 35, 0, 50),
        seg(36, 75, 51, 100),
        seg(76, 185, 101, 150),
        seg(186, 304, 151, 200),
    ],
    above: Some(Period::H24),
};
// SO2 24h, 1 ppb units.
const SO2_24H: Table = Table {
    scale: 1.0,
    segments: &[seg(305, 604, 201, 300), seg(605, 1004, 301, 500)],
    above: None,
};
// NO2 1h, 1 ppb units.
const NO2_1H: Table = Table {
    scale: 1.0,
    segments: &[
        seg(0, 53, 0, 50),
        seg(54, 100, 51, 100),
        seg(101, 360, 101, 150),
        seg(361, 649, 151, 200),
        seg(650, 1249, 201, 300),
        seg(1250, 2049, 301, 500),
    ],
    above: None,
};

fn table(p: Pollutant, period: Period) -> Option<&'static Table> {
    use Period::*;
    use Pollutant::*;
    Some(match (p, period) {
        (Pm25, H24) => &PM25_24H,
        (Pm10, H24) => &PM10_24H,
        (O3, H8) => &O3_8H,
        (O3, H1) => &O3_1H,
        (Co, H8) => &CO_8H,
        (So2, H1) => &SO2_1H,
        (So2, H24) => &SO2_24H,
        (No2, H1) => &NO2_1H,
        _ => return None,
    })
}

/// The averaging period used when none is given: PM2.5 and PM10 24 h, O3 and CO 8 h,
/// SO2 and NO2 1 h.
pub const fn default_period(p: Pollutant) -> Period {
    match p {
        Pollutant::Pm25 | Pollutant::Pm10 => Period::H24,
        Pollutant::O3 | Pollutant::Co => Period::H8,
        Pollutant::So2 | Pollutant::No2 => Period::H1,
    }
}

/// The EPA's native unit of a pollutant: `"µg/m³"` (PM), `"ppm"` (O3, CO), `"ppb"` (SO2, NO2).
pub const fn native_unit(p: Pollutant) -> &'static str {
    match p {
        Pollutant::Pm25 | Pollutant::Pm10 => "µg/m³",
        Pollutant::O3 | Pollutant::Co => "ppm",
        Pollutant::So2 | Pollutant::No2 => "ppb",
    }
}

/// Converts an aqstream concentration (µg/m³; CO mg/m³) to the EPA's native unit at
/// 25 °C and 1 atm: ppb = µg/m³ × 24.45 / MW (O3 48.00, NO2 46.01, SO2 64.07; O3 then
/// ÷ 1000 to ppm), CO ppm = mg/m³ × 24.45 / 28.01. PM is returned unchanged.
pub fn to_native(p: Pollutant, c: f64) -> f64 {
    match p {
        Pollutant::Pm25 | Pollutant::Pm10 => c,
        Pollutant::O3 => c * MOLAR_VOLUME_25C / 48.00 / 1000.0,
        Pollutant::No2 => c * MOLAR_VOLUME_25C / 46.01,
        Pollutant::So2 => c * MOLAR_VOLUME_25C / 64.07,
        Pollutant::Co => c * MOLAR_VOLUME_25C / 28.01,
    }
}

/// The US AQI of an aqstream concentration (µg/m³; CO mg/m³), converted with [`to_native`].
///
/// `period` defaults to [`default_period`]. See the [module docs](self) for truncation,
/// rounding and the behaviour outside the tables.
///
/// # Errors
/// As [`aqi_native`].
pub fn aqi(p: Pollutant, period: Option<Period>, c: f64) -> Result<u32, AqiError> {
    let period = period.unwrap_or(default_period(p));
    if table(p, period).is_none() {
        return Err(AqiError::UnsupportedPeriod {
            pollutant: p,
            period,
        });
    }
    check_concentration(c)?;
    aqi_native(p, Some(period), to_native(p, c))
}

/// The US AQI of a concentration in the EPA's native unit ([`native_unit`]): µg/m³ for PM,
/// ppm for O3 and CO, ppb for SO2 and NO2.
///
/// # Errors
/// [`AqiError::UnsupportedPeriod`] when the EPA has no table for `p` over `period` (valid:
/// PM2.5 24h, PM10 24h, O3 8h and 1h, CO 8h, SO2 1h and 24h, NO2 1h);
/// [`AqiError::NotFinite`] / [`AqiError::Negative`]; [`AqiError::UseOtherPeriod`] and
/// [`AqiError::BelowTable`] as described in the [module docs](self).
pub fn aqi_native(p: Pollutant, period: Option<Period>, c_native: f64) -> Result<u32, AqiError> {
    let period = period.unwrap_or(default_period(p));
    let t = table(p, period).ok_or(AqiError::UnsupportedPeriod {
        pollutant: p,
        period,
    })?;
    check_concentration(c_native)?;
    let c = truncate_units(c_native, t.scale);
    let first = &t.segments[0];
    if c < first.lo {
        return Err(AqiError::BelowTable {
            pollutant: p,
            period,
            min: first.lo as f64 / t.scale,
        });
    }
    let last = &t.segments[t.segments.len() - 1];
    let s = match t.segments.iter().find(|s| c <= s.hi) {
        Some(s) => s,
        None => match t.above {
            Some(other) => {
                return Err(AqiError::UseOtherPeriod {
                    pollutant: p,
                    period: other,
                });
            }
            None => last,
        },
    };
    // I = I_lo + (I_hi − I_lo)(C − BP_lo)/(BP_hi − BP_lo), rounded half up, exactly.
    let num = i128::from(s.i_hi - s.i_lo) * i128::from(c - s.lo);
    let den = i128::from(s.hi - s.lo);
    let index = i128::from(s.i_lo) + (2 * num + den) / (2 * den);
    Ok(u32::try_from(index).unwrap_or(u32::MAX))
}

/// One of the six US AQI categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsCategory {
    /// Lowest AQI of the category.
    pub aqi_min: u32,
    /// Highest AQI of the category; `None` for the open-ended "Hazardous" (301 and above).
    pub aqi_max: Option<u32>,
    /// EPA category name, e.g. `"Unhealthy for Sensitive Groups"`.
    pub name: &'static str,
    /// Chinese name for the UI, e.g. `"对敏感人群不健康"`.
    pub name_zh: &'static str,
    /// Display colour as `#RRGGBB`.
    pub color: &'static str,
    /// Colour name, e.g. `"Orange"`.
    pub color_name: &'static str,
    /// Cautionary statement for particle pollution (2024 EPA guidance, paraphrased).
    pub cautionary: &'static str,
}

impl UsCategory {
    /// Stable machine name: `"good"`, `"moderate"`, `"unhealthy_for_sensitive_groups"`,
    /// `"unhealthy"`, `"very_unhealthy"`, `"hazardous"`.
    pub fn slug(&self) -> &'static str {
        match self.aqi_min {
            0 => "good",
            51 => "moderate",
            101 => "unhealthy_for_sensitive_groups",
            151 => "unhealthy",
            201 => "very_unhealthy",
            _ => "hazardous",
        }
    }
}

/// The six US AQI categories, in order.
pub const CATEGORIES: [UsCategory; 6] = [
    UsCategory {
        aqi_min: 0,
        aqi_max: Some(50),
        name: "Good",
        name_zh: "优",
        color: "#00E400",
        color_name: "Green",
        cautionary: "None.",
    },
    UsCategory {
        aqi_min: 51,
        aqi_max: Some(100),
        name: "Moderate",
        name_zh: "良",
        color: "#FFFF00",
        color_name: "Yellow",
        cautionary: "People who are unusually sensitive to particle pollution should consider \
            reducing prolonged or heavy exertion.",
    },
    UsCategory {
        aqi_min: 101,
        aqi_max: Some(150),
        name: "Unhealthy for Sensitive Groups",
        name_zh: "对敏感人群不健康",
        color: "#FF7E00",
        color_name: "Orange",
        cautionary: "Sensitive groups (people with heart or lung disease, older adults, \
            children, and people of lower socioeconomic status) should reduce prolonged or \
            heavy exertion.",
    },
    UsCategory {
        aqi_min: 151,
        aqi_max: Some(200),
        name: "Unhealthy",
        name_zh: "不健康",
        color: "#FF0000",
        color_name: "Red",
        cautionary: "Sensitive groups (people with heart or lung disease, older adults, \
            children, and people of lower socioeconomic status) should avoid prolonged or heavy \
            exertion; everyone else should reduce prolonged or heavy exertion.",
    },
    UsCategory {
        aqi_min: 201,
        aqi_max: Some(300),
        name: "Very Unhealthy",
        name_zh: "非常不健康",
        color: "#8F3F97",
        color_name: "Purple",
        cautionary: "Sensitive groups (people with heart or lung disease, older adults, \
            children, and people of lower socioeconomic status) should avoid all physical \
            activity outdoors; everyone else should avoid prolonged or heavy exertion.",
    },
    UsCategory {
        aqi_min: 301,
        aqi_max: None,
        name: "Hazardous",
        name_zh: "危险",
        color: "#7E0023",
        color_name: "Maroon",
        cautionary: "Everyone should avoid all physical activity outdoors; sensitive groups \
            (people with heart or lung disease, older adults, children, and people of lower \
            socioeconomic status) should stay indoors and keep activity levels low.",
    },
];

/// The US category of an AQI value: 0–50, 51–100, 101–150, 151–200, 201–300, 301 and above.
pub fn category(aqi: u32) -> UsCategory {
    let idx = match aqi {
        0..=50 => 0,
        51..=100 => 1,
        101..=150 => 2,
        151..=200 => 3,
        201..=300 => 4,
        _ => 5,
    };
    CATEGORIES[idx]
}

#[cfg(test)]
mod tests {
    use super::*;
    use Period::*;
    use Pollutant::*;

    #[test]
    fn pm25_2024_breakpoints() {
        assert_eq!(aqi_native(Pm25, None, 9.0), Ok(50));
        assert_eq!(aqi_native(Pm25, None, 9.1), Ok(51));
        assert_eq!(aqi_native(Pm25, None, 9.09), Ok(50));
        assert_eq!(aqi_native(Pm25, None, 35.4), Ok(100));
        assert_eq!(aqi_native(Pm25, None, 35.49), Ok(100));
        assert_eq!(aqi_native(Pm25, None, 35.5), Ok(101));
        // Pre-2024 tables give 50 here; the 2024 table gives 56.
        assert_eq!(aqi_native(Pm25, None, 12.0), Ok(56));
        assert_eq!(aqi_native(Pm25, Some(H24), 325.4), Ok(500));
    }

    #[test]
    fn extrapolates_above_the_top() {
        // 425.4 is 100 µg/m³ above 325.4; the last segment has slope 199/99.9.
        assert_eq!(aqi_native(Pm25, None, 425.4), Ok(699));
        assert_eq!(aqi_native(Pm10, None, 783.0), Ok(699));
        assert_eq!(aqi_native(Pm25, None, 1e300), Ok(u32::MAX));
    }

    #[test]
    fn converts_aqstream_units() {
        // 100 µg/m³ O3 → 0.0509 ppm → truncated 0.050 → 46.
        assert_eq!(aqi(O3, None, 100.0), Ok(46));
        assert_eq!(aqi(O3, None, 100.0), aqi_native(O3, Some(H8), 0.050));
        // 10 mg/m³ CO → 8.73 ppm → 8.7 → 51 + 49·42/49 = 93.
        assert_eq!(aqi(Co, None, 10.0), aqi_native(Co, Some(H8), 8.7));
        assert_eq!(aqi(Co, None, 10.0), Ok(93));
        // 200 µg/m³ NO2 → 106.28 ppb → 106 → 101 + 49·5/259 = 101.9 → 102.
        assert_eq!(aqi(No2, None, 200.0), Ok(102));
        // SO2: 100 µg/m³ → 38.16 ppb → 38 → 51 + 49·2/39 = 53.5 → 54.
        assert_eq!(aqi(So2, None, 100.0), Ok(54));
        assert!((to_native(Pm10, 42.0) - 42.0).abs() < f64::EPSILON);
    }

    #[test]
    fn other_periods_and_errors() {
        assert_eq!(
            aqi_native(O3, None, 0.201),
            Err(AqiError::UseOtherPeriod {
                pollutant: O3,
                period: H1
            })
        );
        assert_eq!(aqi_native(O3, Some(H1), 0.125), Ok(101));
        assert!(matches!(
            aqi_native(O3, Some(H1), 0.1249),
            Err(AqiError::BelowTable { min, .. }) if (min - 0.125).abs() < 1e-12
        ));
        assert_eq!(aqi_native(So2, None, 304.0), Ok(200));
        assert_eq!(
            aqi_native(So2, None, 305.0),
            Err(AqiError::UseOtherPeriod {
                pollutant: So2,
                period: H24
            })
        );
        assert_eq!(aqi_native(So2, Some(H24), 305.0), Ok(201));
        assert!(matches!(
            aqi_native(So2, Some(H24), 304.0),
            Err(AqiError::BelowTable { .. })
        ));
        assert_eq!(
            aqi(Pm25, Some(H1), 10.0),
            Err(AqiError::UnsupportedPeriod {
                pollutant: Pm25,
                period: H1
            })
        );
        assert_eq!(aqi(Pm25, None, -3.0), Err(AqiError::Negative(-3.0)));
        assert_eq!(aqi(No2, None, f64::INFINITY), Err(AqiError::NotFinite));
    }

    #[test]
    fn categories_at_boundaries() {
        let cases = [
            (0, "good"),
            (50, "good"),
            (51, "moderate"),
            (100, "moderate"),
            (101, "unhealthy_for_sensitive_groups"),
            (150, "unhealthy_for_sensitive_groups"),
            (151, "unhealthy"),
            (200, "unhealthy"),
            (201, "very_unhealthy"),
            (300, "very_unhealthy"),
            (301, "hazardous"),
            (700, "hazardous"),
        ];
        for (v, slug) in cases {
            let c = category(v);
            assert_eq!(c.slug(), slug, "aqi {v}");
            assert!(v >= c.aqi_min && c.aqi_max.is_none_or(|m| v <= m));
        }
        assert_eq!(category(250).color, "#8F3F97");
        assert_eq!(category(120).name, "Unhealthy for Sensitive Groups");
        assert_eq!(category(120).name_zh, "对敏感人群不健康");
        assert!(
            category(120)
                .cautionary
                .contains("lower socioeconomic status")
        );
        assert_eq!(category(301).name_zh, "危险");
    }
}
