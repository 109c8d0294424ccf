//! China: HJ 633-2012 《环境空气质量指数（AQI）技术规定（试行）》.
//!
//! Concentrations in µg/m³ (CO in mg/m³), as everywhere in aqstream.
//!
//! * Sub-index (IAQI): linear interpolation in Table 1, rounded **up** to an integer
//!   (进位取整). A result within 1e-9 of an integer counts as that integer, so a
//!   concentration exactly on a breakpoint gives exactly the breakpoint's IAQI
//!   (PM2.5 35 → 50, not 51).
//! * PM2.5 and PM10 have only 24-hour limits in Table 1. The hourly real-time report
//!   (实时报) applies those 24-hour limits to 1-hour averages, so [`Period::H1`] for PM
//!   uses the 24-hour table.
//! * SO2, NO2 and CO have 1-hour and 24-hour limits; O3 has 1-hour and 8-hour limits.
//!   [`Period::H8`] exists only for O3.
//! * Above the top of the table (IAQI 500) the standard no longer computes a sub-index;
//!   [`iaqi`] returns 500, the top of the scale. The two tables that stop early follow the
//!   standard's notes instead: SO2 1-hour above 800 µg/m³ → use the 24-hour sub-index,
//!   O3 8-hour above 800 µg/m³ → use the 1-hour sub-index ([`AqiError::UseOtherPeriod`]).

use super::{AqiError, Period, Pollutant, check_concentration};

/// The IAQI levels of the columns of Table 1.
const IAQI_LEVELS: [u32; 8] = [0, 50, 100, 150, 200, 300, 400, 500];

// Table 1 rows: concentration limits for the IAQI levels above (µg/m³, CO mg/m³).
const SO2_24H: &[f64] = &[0.0, 50.0, 150.0, 475.0, 800.0, 1600.0, 2100.0, 2620.0];
const SO2_1H: &[f64] = &[0.0, 150.0, 500.0, 650.0, 800.0];
const NO2_24H: &[f64] = &[0.0, 40.0, 80.0, 180.0, 280.0, 565.0, 750.0, 940.0];
const NO2_1H: &[f64] = &[0.0, 100.0, 200.0, 700.0, 1200.0, 2340.0, 3090.0, 3840.0];
const PM10_24H: &[f64] = &[0.0, 50.0, 150.0, 250.0, 350.0, 420.0, 500.0, 600.0];
const CO_24H: &[f64] = &[0.0, 2.0, 4.0, 14.0, 24.0, 36.0, 48.0, 60.0];
const CO_1H: &[f64] = &[0.0, 5.0, 10.0, 35.0, 60.0, 90.0, 120.0, 150.0];
const O3_1H: &[f64] = &[0.0, 160.0, 200.0, 300.0, 400.0, 800.0, 1000.0, 1200.0];
const O3_8H: &[f64] = &[0.0, 100.0, 160.0, 215.0, 265.0, 800.0];
const PM25_24H: &[f64] = &[0.0, 35.0, 75.0, 115.0, 150.0, 250.0, 350.0, 500.0];

/// The Table 1 row for a pollutant and period, or `None` if the standard has none.
fn table(p: Pollutant, period: Period) -> Option<&'static [f64]> {
    use Period::*;
    use Pollutant::*;
    Some(match (p, period) {
        (Pm25, H1 | H24) => PM25_24H,
        (Pm10, H1 | H24) => PM10_24H,
        (So2, H1) => SO2_1H,
        (So2, H24) => SO2_24H,
        (No2, H1) => NO2_1H,
        (No2, H24) => NO2_24H,
        (Co, H1) => CO_1H,
        (Co, H24) => CO_24H,
        (O3, H1) => O3_1H,
        (O3, H8) => O3_8H,
        _ => return None,
    })
}

/// The HJ 633-2012 sub-index (IAQI) of one concentration.
///
/// `c` is in µg/m³ (CO in mg/m³). See the [module docs](self) for the rounding and for
/// what happens outside the table.
///
/// # Errors
/// [`AqiError::UnsupportedPeriod`] if Table 1 has no row for `p` over `period`,
/// [`AqiError::NotFinite`] / [`AqiError::Negative`] for an invalid concentration, and
/// [`AqiError::UseOtherPeriod`] for SO2 1-hour and O3 8-hour above 800 µg/m³.
pub fn iaqi(p: Pollutant, period: Period, c: f64) -> Result<u32, AqiError> {
    let bps = table(p, period).ok_or(AqiError::UnsupportedPeriod {
        pollutant: p,
        period,
    })?;
    check_concentration(c)?;
    for i in 1..bps.len() {
        let (lo, hi) = (bps[i - 1], bps[i]);
        if c <= hi {
            let (i_lo, i_hi) = (f64::from(IAQI_LEVELS[i - 1]), f64::from(IAQI_LEVELS[i]));
            let x = i_lo + (i_hi - i_lo) * (c - lo) / (hi - lo);
            // Round up, tolerating floating-point noise just above an integer.
            return Ok((x - 1e-9).ceil().max(0.0) as u32);
        }
    }
    match (p, period) {
        (Pollutant::So2, Period::H1) => Err(AqiError::UseOtherPeriod {
            pollutant: p,
            period: Period::H24,
        }),
        (Pollutant::O3, Period::H8) => Err(AqiError::UseOtherPeriod {
            pollutant: p,
            period: Period::H1,
        }),
        _ => Ok(500),
    }
}

/// The AQI and the primary pollutants (首要污染物) from a set of sub-indices.
///
/// AQI is the largest sub-index. The primary pollutants are those whose sub-index equals
/// the AQI, listed once each in [`Pollutant`] declaration order; the list is empty when the
/// AQI is 50 or less (air quality "excellent" has no primary pollutant). A pollutant may
/// appear more than once in the input (e.g. O3 1-hour and 8-hour). Returns `None` for an
/// empty input.
pub fn aqi(sub_indices: &[(Pollutant, u32)]) -> Option<(u32, Vec<Pollutant>)> {
    let max = sub_indices.iter().map(|&(_, i)| i).max()?;
    let mut primary = Vec::new();
    if max > 50 {
        primary.extend(
            sub_indices
                .iter()
                .filter(|&&(_, i)| i == max)
                .map(|&(p, _)| p),
        );
        primary.sort_unstable();
        primary.dedup();
    }
    Some((max, primary))
}

/// One of the six AQI categories of HJ 633-2012 Table 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnCategory {
    /// Level 1..=6 (一级 … 六级).
    pub level: u8,
    /// Lowest AQI of the category.
    pub aqi_min: u32,
    /// Highest AQI of the category; `None` for the open-ended level 6 (> 300).
    pub aqi_max: Option<u32>,
    /// Category name in Chinese, e.g. `"轻度污染"`.
    pub name_zh: &'static str,
    /// Category name in English, e.g. `"Lightly polluted"`.
    pub name_en: &'static str,
    /// Display colour as `#RRGGBB` (HJ 633-2012 Appendix A).
    pub color: &'static str,
    /// Colour name in Chinese, e.g. `"橙色"`.
    pub color_name_zh: &'static str,
    /// Colour name in English, e.g. `"orange"`.
    pub color_name_en: &'static str,
    /// 对健康影响情况 — health effects, as in Table 2.
    pub health_effect_zh: &'static str,
    /// English rendering of the health effects.
    pub health_effect_en: &'static str,
    /// 建议采取的措施 — recommended measures, as in Table 2.
    pub advice_zh: &'static str,
    /// English rendering of the recommended measures.
    pub advice_en: &'static str,
}

impl CnCategory {
    /// Stable machine name: `"excellent"`, `"good"`, `"lightly_polluted"`,
    /// `"moderately_polluted"`, `"heavily_polluted"`, `"severely_polluted"`.
    pub fn slug(&self) -> &'static str {
        match self.level {
            1 => "excellent",
            2 => "good",
            3 => "lightly_polluted",
            4 => "moderately_polluted",
            5 => "heavily_polluted",
            _ => "severely_polluted",
        }
    }

    /// The level as a Roman numeral, `"I"` … `"VI"`.
    pub fn roman(&self) -> &'static str {
        ["I", "II", "III", "IV", "V", "VI"][usize::from(self.level.clamp(1, 6)) - 1]
    }

    /// The level in Chinese, `"一级"` … `"六级"`.
    pub fn level_zh(&self) -> &'static str {
        ["一级", "二级", "三级", "四级", "五级", "六级"][usize::from(self.level.clamp(1, 6)) - 1]
    }
}

/// The six categories of HJ 633-2012 Table 2, in order.
pub const CATEGORIES: [CnCategory; 6] = [
    CnCategory {
        level: 1,
        aqi_min: 0,
        aqi_max: Some(50),
        name_zh: "优",
        name_en: "Excellent",
        color: "#00E400",
        color_name_zh: "绿色",
        color_name_en: "green",
        health_effect_zh: "空气质量令人满意，基本无空气污染",
        health_effect_en: "Air quality is satisfactory and there is essentially no air pollution.",
        advice_zh: "各类人群可正常活动",
        advice_en: "Everyone can carry on normal activities.",
    },
    CnCategory {
        level: 2,
        aqi_min: 51,
        aqi_max: Some(100),
        name_zh: "良",
        name_en: "Good",
        color: "#FFFF00",
        color_name_zh: "黄色",
        color_name_en: "yellow",
        health_effect_zh: "空气质量可接受，但某些污染物可能对极少数异常敏感人群健康有较弱影响",
        health_effect_en: "Air quality is acceptable, but some pollutants may have a weak effect on \
            the health of a very small number of unusually sensitive people.",
        advice_zh: "极少数异常敏感人群应减少户外活动",
        advice_en: "The very few unusually sensitive people should reduce outdoor activities.",
    },
    CnCategory {
        level: 3,
        aqi_min: 101,
        aqi_max: Some(150),
        name_zh: "轻度污染",
        name_en: "Lightly polluted",
        color: "#FF7E00",
        color_name_zh: "橙色",
        color_name_en: "orange",
        health_effect_zh: "易感人群症状有轻度加剧，健康人群出现刺激症状",
        health_effect_en: "Symptoms of susceptible people are slightly aggravated; healthy people \
            show symptoms of irritation.",
        advice_zh: "儿童、老年人及心脏病、呼吸系统疾病患者应减少长时间、高强度的户外锻炼",
        advice_en: "Children, the elderly and people with heart or respiratory disease should \
            reduce prolonged, high-intensity outdoor exercise.",
    },
    CnCategory {
        level: 4,
        aqi_min: 151,
        aqi_max: Some(200),
        name_zh: "中度污染",
        name_en: "Moderately polluted",
        color: "#FF0000",
        color_name_zh: "红色",
        color_name_en: "red",
        health_effect_zh: "进一步加剧易感人群症状，可能对健康人群心脏、呼吸系统有影响",
        health_effect_en: "Symptoms of susceptible people are further aggravated; the heart and \
            respiratory system of healthy people may be affected.",
        advice_zh: "儿童、老年人及心脏病、呼吸系统疾病患者避免长时间、高强度的户外锻炼，\
            一般人群适量减少户外运动",
        advice_en: "Children, the elderly and people with heart or respiratory disease should \
            avoid prolonged, high-intensity outdoor exercise; the general population should \
            moderately reduce outdoor exercise.",
    },
    CnCategory {
        level: 5,
        aqi_min: 201,
        aqi_max: Some(300),
        name_zh: "重度污染",
        name_en: "Heavily polluted",
        color: "#99004C",
        color_name_zh: "紫色",
        color_name_en: "purple",
        health_effect_zh: "心脏病和肺病患者症状显著加剧，运动耐受力降低，健康人群普遍出现症状",
        health_effect_en: "Symptoms of people with heart or lung disease are markedly aggravated \
            and their exercise tolerance is reduced; symptoms are common among healthy people.",
        advice_zh: "儿童、老年人和心脏病、肺病患者应停留在室内，停止户外运动，一般人群减少户外运动",
        advice_en: "Children, the elderly and people with heart or lung disease should stay \
            indoors and stop outdoor exercise; the general population should reduce outdoor \
            exercise.",
    },
    CnCategory {
        level: 6,
        aqi_min: 301,
        aqi_max: None,
        name_zh: "严重污染",
        name_en: "Severely polluted",
        color: "#7E0023",
        color_name_zh: "褐红色",
        color_name_en: "maroon",
        health_effect_zh: "健康人群运动耐受力降低，有明显强烈症状，提前出现某些疾病",
        health_effect_en: "Exercise tolerance of healthy people is reduced, with marked and strong \
            symptoms; some diseases appear earlier than they otherwise would.",
        advice_zh: "儿童、老年人和病人应当留在室内，避免体力消耗，一般人群应避免户外活动",
        advice_en: "Children, the elderly and the sick should stay indoors and avoid physical \
            exertion; the general population should avoid outdoor activities.",
    },
];

/// The HJ 633-2012 category of an AQI value: 0–50, 51–100, 101–150, 151–200, 201–300, >300.
pub fn category(aqi: u32) -> CnCategory {
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
    fn exact_breakpoints_do_not_round_up_past_the_level() {
        assert_eq!(iaqi(Pm25, H24, 35.0), Ok(50));
        assert_eq!(iaqi(Pm25, H24, 75.0), Ok(100));
        assert_eq!(iaqi(Pm25, H24, 75.1), Ok(101));
        assert_eq!(iaqi(Pm25, H24, 115.0), Ok(150));
        assert_eq!(iaqi(Co, H24, 4.0), Ok(100));
        assert_eq!(iaqi(Co, H24, 4.01), Ok(101));
        // Rounds up, not half-up: 0.1 µg/m³ of PM2.5 is IAQI 0.14 → 1.
        assert_eq!(iaqi(Pm25, H24, 0.1), Ok(1));
        assert_eq!(iaqi(Pm25, H24, 0.0), Ok(0));
    }

    #[test]
    fn pm_hourly_uses_the_24h_limits() {
        for c in [0.0, 20.0, 75.0, 149.9, 300.0, 600.0] {
            assert_eq!(iaqi(Pm25, H1, c), iaqi(Pm25, H24, c));
            assert_eq!(iaqi(Pm10, H1, c), iaqi(Pm10, H24, c));
        }
    }

    #[test]
    fn out_of_table_and_invalid() {
        assert_eq!(iaqi(Pm25, H24, 500.0), Ok(500));
        assert_eq!(iaqi(Pm25, H24, 800.0), Ok(500));
        assert_eq!(iaqi(So2, H1, 800.0), Ok(200));
        assert_eq!(
            iaqi(So2, H1, 800.5),
            Err(AqiError::UseOtherPeriod {
                pollutant: So2,
                period: H24
            })
        );
        assert_eq!(iaqi(O3, H8, 800.0), Ok(300));
        assert_eq!(
            iaqi(O3, H8, 801.0),
            Err(AqiError::UseOtherPeriod {
                pollutant: O3,
                period: H1
            })
        );
        assert_eq!(
            iaqi(O3, H24, 10.0),
            Err(AqiError::UnsupportedPeriod {
                pollutant: O3,
                period: H24
            })
        );
        assert!(matches!(
            iaqi(Pm25, H8, 1.0),
            Err(AqiError::UnsupportedPeriod { .. })
        ));
        assert_eq!(iaqi(No2, H1, -1.0), Err(AqiError::Negative(-1.0)));
        assert_eq!(iaqi(No2, H1, f64::NAN), Err(AqiError::NotFinite));
    }

    #[test]
    fn aqi_picks_max_and_primary_pollutants() {
        assert_eq!(aqi(&[]), None);
        let (v, primary) = aqi(&[(Pm25, 120), (Pm10, 87), (O3, 120), (No2, 40)]).unwrap();
        assert_eq!(v, 120);
        assert_eq!(primary, vec![Pm25, O3]);
        // O3 1h and 8h both at the maximum: listed once.
        let (v, primary) = aqi(&[(O3, 160), (O3, 160), (Co, 20)]).unwrap();
        assert_eq!((v, primary), (160, vec![O3]));
        // AQI ≤ 50: no primary pollutant.
        assert_eq!(aqi(&[(Pm25, 50), (So2, 12)]), Some((50, vec![])));
        assert_eq!(aqi(&[(So2, 51), (Pm25, 50)]), Some((51, vec![So2])));
    }

    #[test]
    fn categories_at_boundaries() {
        let cases = [
            (0, 1, "excellent"),
            (50, 1, "excellent"),
            (51, 2, "good"),
            (100, 2, "good"),
            (101, 3, "lightly_polluted"),
            (150, 3, "lightly_polluted"),
            (151, 4, "moderately_polluted"),
            (200, 4, "moderately_polluted"),
            (201, 5, "heavily_polluted"),
            (300, 5, "heavily_polluted"),
            (301, 6, "severely_polluted"),
            (500, 6, "severely_polluted"),
            (u32::MAX, 6, "severely_polluted"),
        ];
        for (v, level, slug) in cases {
            let c = category(v);
            assert_eq!((c.level, c.slug()), (level, slug), "aqi {v}");
            assert!(v >= c.aqi_min && c.aqi_max.is_none_or(|m| v <= m));
        }
        assert_eq!(category(120).name_zh, "轻度污染");
        assert_eq!(category(120).color, "#FF7E00");
        assert_eq!(category(250).color, "#99004C");
        assert_eq!(category(250).roman(), "V");
        assert_eq!(category(400).level_zh(), "六级");
        assert_eq!(category(400).name_en, "Severely polluted");
    }
}
