//! The Gaussian plume: dispersion coefficients by Pasquill–Gifford stability class,
//! ground-reflected concentration at a receptor, stability from wind and sun.
//!
//! Steady-state plume of a continuous point source of strength `Q` (g/s) at height `H`,
//! wind `u` (m/s) along the x axis, receptor at crosswind offset `y` and height `z`:
//!
//! ```text
//! C(x, y, z) = Q / (2π u σy σz) · exp(−y² / 2σy²)
//!              · [exp(−(z − H)² / 2σz²) + exp(−(z + H)² / 2σz²)]        (g/m³)
//! ```
//!
//! The second exponential is the image source that reflects the plume at the ground.
//! `σy(x)` and `σz(x)` grow with the downwind distance `x` at a rate set by the
//! atmospheric stability class (A very unstable … F stable). The formulas are Briggs'
//! (1973) fits as tabulated by Hanna, Briggs & Hosker, *Handbook on Atmospheric
//! Diffusion* (1982, table 4.5), for open country and for urban areas (the latter fitted
//! to McElroy & Pooler's St. Louis data), valid for 100 m < x < 10 km:
//!
//! | class | open country σy | open country σz | urban σy | urban σz |
//! |---|---|---|---|---|
//! | A | 0.22x(1+0.0001x)^-½ | 0.20x | 0.32x(1+0.0004x)^-½ | 0.24x(1+0.001x)^½ |
//! | B | 0.16x(1+0.0001x)^-½ | 0.12x | 0.32x(1+0.0004x)^-½ | 0.24x(1+0.001x)^½ |
//! | C | 0.11x(1+0.0001x)^-½ | 0.08x(1+0.0002x)^-½ | 0.22x(1+0.0004x)^-½ | 0.20x |
//! | D | 0.08x(1+0.0001x)^-½ | 0.06x(1+0.0015x)^-½ | 0.16x(1+0.0004x)^-½ | 0.14x(1+0.0003x)^-½ |
//! | E | 0.06x(1+0.0001x)^-½ | 0.03x(1+0.0003x)^-1 | 0.11x(1+0.0004x)^-½ | 0.08x(1+0.0015x)^-½ |
//! | F | 0.04x(1+0.0001x)^-½ | 0.016x(1+0.0003x)^-1 | 0.11x(1+0.0004x)^-½ | 0.08x(1+0.0015x)^-½ |
//!
//! Below 100 m the same expressions are used (they tend to the linear near-field
//! growth); `x` is clamped to at least 1 m.
//!
//! Time averaging over a wind that meanders widens the plume: the crosswind spread
//! becomes `σy_eff² = σy² + (x · sin σθ)²`, where `σθ` is the standard deviation of the
//! wind direction over the averaging time (plus the uncertainty of the direction
//! itself).

use serde::{Deserialize, Serialize};

/// Pasquill–Gifford stability class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Stability {
    /// Very unstable (strong sun, light wind).
    A,
    /// Unstable.
    B,
    /// Slightly unstable.
    C,
    /// Neutral (overcast or windy).
    D,
    /// Slightly stable (night, some cloud).
    E,
    /// Stable (clear night, light wind).
    F,
}

/// Which family of dispersion curves applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Terrain {
    /// Briggs' open-country curves.
    OpenCountry,
    /// Briggs' urban curves (McElroy–Pooler): more spread from buildings and heat.
    Urban,
}

/// `(σy, σz)` in metres at downwind distance `x` metres.
pub fn sigmas(class: Stability, terrain: Terrain, x: f64) -> (f64, f64) {
    let x = x.max(1.0);
    let inv_sqrt = |a: f64| 1.0 / (1.0 + a * x).sqrt();
    match terrain {
        Terrain::OpenCountry => {
            let sy = |k: f64| k * x * inv_sqrt(0.0001);
            match class {
                Stability::A => (sy(0.22), 0.20 * x),
                Stability::B => (sy(0.16), 0.12 * x),
                Stability::C => (sy(0.11), 0.08 * x * inv_sqrt(0.0002)),
                Stability::D => (sy(0.08), 0.06 * x * inv_sqrt(0.0015)),
                Stability::E => (sy(0.06), 0.03 * x / (1.0 + 0.0003 * x)),
                Stability::F => (sy(0.04), 0.016 * x / (1.0 + 0.0003 * x)),
            }
        }
        Terrain::Urban => {
            let sy = |k: f64| k * x * inv_sqrt(0.0004);
            match class {
                Stability::A | Stability::B => (sy(0.32), 0.24 * x * (1.0 + 0.001 * x).sqrt()),
                Stability::C => (sy(0.22), 0.20 * x),
                Stability::D => (sy(0.16), 0.14 * x * inv_sqrt(0.0003)),
                Stability::E | Stability::F => (sy(0.11), 0.08 * x * inv_sqrt(0.0015)),
            }
        }
    }
}

/// One evaluation of the plume model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlumeParams {
    /// Stability class.
    pub class: Stability,
    /// Dispersion curves.
    pub terrain: Terrain,
    /// Wind speed at the source, m/s (clamped to at least `min_wind_ms`).
    pub wind_ms: f64,
    /// Lowest wind speed the model is trusted at, m/s.
    pub min_wind_ms: f64,
    /// Effective source height (stack + plume rise), m.
    pub source_height_m: f64,
    /// Receptor (sensor inlet) height, m.
    pub receptor_height_m: f64,
    /// Direction spread over the averaging time plus direction uncertainty, radians.
    pub sigma_theta_rad: f64,
}

/// Concentration in g/m³ per g/s emitted, at downwind distance `x` and crosswind
/// offset `y` (metres). Zero upwind of the source (`x ≤ 0`).
pub fn concentration_per_gs(p: &PlumeParams, x: f64, y: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let (sy, sz) = sigmas(p.class, p.terrain, x);
    let meander = x * p.sigma_theta_rad.min(1.2).sin();
    let sy2 = sy * sy + meander * meander;
    let u = p.wind_ms.max(p.min_wind_ms).max(0.05);
    let h = p.source_height_m;
    let z = p.receptor_height_m;
    let vertical =
        (-(z - h).powi(2) / (2.0 * sz * sz)).exp() + (-(z + h).powi(2) / (2.0 * sz * sz)).exp();
    (-y * y / (2.0 * sy2)).exp() * vertical / (2.0 * std::f64::consts::PI * u * sy2.sqrt() * sz)
}

/// Downwind and crosswind coordinates `(x, y)` of a receptor at `(dx, dy)` metres
/// (east, north) from the source, for a wind blowing **from** `from_deg`.
pub fn wind_frame(dx: f64, dy: f64, from_deg: f64) -> (f64, f64) {
    let t = from_deg.to_radians();
    // Unit vector the air moves toward: opposite of where it comes from.
    let (ex, ey) = (-t.sin(), -t.cos());
    (dx * ex + dy * ey, -dx * ey + dy * ex)
}

/// Solar elevation angle in degrees at UTC epoch milliseconds `t_ms` and the given
/// position (declination by Cooper's formula, solar time from longitude, no equation
/// of time: good to about 4°, enough to tell day from night and strong from slight sun).
pub fn solar_elevation_deg(t_ms: i64, lat: f64, lon: f64) -> f64 {
    let days = t_ms.div_euclid(86_400_000);
    let ms_of_day = t_ms.rem_euclid(86_400_000) as f64;
    let (y, _, _) = aqstream_core::time::civil_from_days(days);
    let doy = (days - aqstream_core::time::days_from_civil(y, 1, 1) + 1) as f64;
    let decl = 23.44f64.to_radians() * ((360.0 / 365.0 * (284.0 + doy)).to_radians()).sin();
    let solar_hours = ms_of_day / 3_600_000.0 + lon / 15.0;
    let hour_angle = (15.0 * (solar_hours - 12.0)).to_radians();
    let phi = lat.to_radians();
    (phi.sin() * decl.sin() + phi.cos() * decl.cos() * hour_angle.cos())
        .clamp(-1.0, 1.0)
        .asin()
        .to_degrees()
}

/// Pasquill's stability class from the 10 m wind speed and the sun (Turner 1970 table),
/// assuming clear skies. Half classes (A–B, B–C, C–D) take the more stable side.
///
/// | wind m/s | strong sun (>60°) | moderate (35–60°) | slight (15–35°) | low sun (0–15°) | night |
/// |---|---|---|---|---|---|
/// | < 2 | A | B | B | D | F |
/// | 2–3 | B | B | C | D | F |
/// | 3–5 | B | C | C | D | E |
/// | 5–6 | C | D | D | D | D |
/// | ≥ 6 | C | D | D | D | D |
pub fn stability_class(wind_ms: f64, solar_elevation_deg: f64) -> Stability {
    use Stability::*;
    let band = if wind_ms < 2.0 {
        0
    } else if wind_ms < 3.0 {
        1
    } else if wind_ms < 5.0 {
        2
    } else if wind_ms < 6.0 {
        3
    } else {
        4
    };
    let col: [Stability; 5] = if solar_elevation_deg > 60.0 {
        [A, B, B, C, C]
    } else if solar_elevation_deg > 35.0 {
        [B, B, C, D, D]
    } else if solar_elevation_deg > 15.0 {
        [B, C, C, D, D]
    } else if solar_elevation_deg > 0.0 {
        [D, D, D, D, D]
    } else {
        [F, F, E, D, D]
    };
    col[band]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-30)
    }

    #[test]
    fn sigmas_match_hand_computed_values() {
        // Urban D at 1 km: σy = 160 / sqrt(1.4) = 135.2247, σz = 140 / sqrt(1.3) = 122.7882.
        let (sy, sz) = sigmas(Stability::D, Terrain::Urban, 1000.0);
        assert!(close(sy, 135.2247, 1e-5), "{sy}");
        assert!(close(sz, 122.7882, 1e-5), "{sz}");
        // Open country F at 500 m: σy = 20 / sqrt(1.05) = 19.5180, σz = 8 / 1.15 = 6.9565.
        let (sy, sz) = sigmas(Stability::F, Terrain::OpenCountry, 500.0);
        assert!(close(sy, 19.5180, 1e-4), "{sy}");
        assert!(close(sz, 6.95652, 1e-4), "{sz}");
        // Urban A at 200 m: σy = 64 / sqrt(1.08) = 61.5840, σz = 48 · sqrt(1.2) = 52.5814.
        let (sy, sz) = sigmas(Stability::A, Terrain::Urban, 200.0);
        assert!(
            close(sy, 61.5840, 1e-4) && close(sz, 52.5814, 1e-4),
            "{sy} {sz}"
        );
    }

    #[test]
    fn concentration_matches_hand_computed_values() {
        let p = PlumeParams {
            class: Stability::D,
            terrain: Terrain::Urban,
            wind_ms: 2.0,
            min_wind_ms: 0.5,
            source_height_m: 0.0,
            receptor_height_m: 0.0,
            sigma_theta_rad: 0.0,
        };
        // Ground source, ground receptor, centreline: C = Q / (π u σy σz)
        // = 1 / (π · 2 · 135.2247 · 122.7882) = 9.5853e-6 g/m³ per g/s.
        let c = concentration_per_gs(&p, 1000.0, 0.0);
        assert!(close(c, 9.5853e-6, 1e-4), "{c}");
        // One σy off the axis: × exp(−½).
        let c1 = concentration_per_gs(&p, 1000.0, 135.2247);
        assert!(close(c1, c * (-0.5f64).exp(), 1e-6));
        // Upwind: nothing.
        assert_eq!(concentration_per_gs(&p, -10.0, 0.0), 0.0);
        // A 50 m stack seen at ground level at 1 km: × exp(−50²/(2σz²)) twice over 2.
        let stack = PlumeParams {
            source_height_m: 50.0,
            ..p
        };
        let want = c * (-(50.0f64 * 50.0) / (2.0 * 122.7882f64 * 122.7882)).exp();
        assert!(close(concentration_per_gs(&stack, 1000.0, 0.0), want, 1e-5));
        // Meander of 10° widens σy to sqrt(σy² + (1000 sin 10°)²) = 221.08 and lowers the axis.
        let wide = PlumeParams {
            sigma_theta_rad: 10f64.to_radians(),
            ..p
        };
        let sy_eff = (135.2247f64.powi(2) + (1000.0 * 10f64.to_radians().sin()).powi(2)).sqrt();
        assert!(close(
            concentration_per_gs(&wide, 1000.0, 0.0),
            c * 135.2247 / sy_eff,
            1e-5
        ));
    }

    #[test]
    fn wind_frame_follows_the_from_convention() {
        // Wind from the west (270°) blows toward the east: a receptor 100 m east is downwind.
        let (x, y) = wind_frame(100.0, 0.0, 270.0);
        assert!(close(x, 100.0, 1e-9) && y.abs() < 1e-9);
        // Wind from the north: a receptor to the south is downwind, one to the east is left of
        // the axis (positive y is to the left looking downwind).
        let (x, _) = wind_frame(0.0, -100.0, 0.0);
        assert!(close(x, 100.0, 1e-9));
        let (x, y) = wind_frame(100.0, 0.0, 0.0);
        assert!(x.abs() < 1e-9 && close(y.abs(), 100.0, 1e-9));
    }

    #[test]
    fn stability_from_sun_and_wind() {
        let beijing_noon_june = aqstream_core::time::parse_rfc3339("2026-06-21T04:20:00Z").unwrap();
        let e = solar_elevation_deg(beijing_noon_june, 39.9, 116.4);
        // 90 − 39.9 + 23.44 = 73.5° at solar noon.
        assert!((e - 73.5).abs() < 1.5, "{e}");
        let midnight = aqstream_core::time::parse_rfc3339("2026-11-22T16:00:00Z").unwrap();
        assert!(solar_elevation_deg(midnight, 39.9, 116.4) < -40.0);
        assert_eq!(stability_class(1.0, 70.0), Stability::A);
        assert_eq!(stability_class(4.0, 45.0), Stability::C);
        assert_eq!(stability_class(1.5, -20.0), Stability::F);
        assert_eq!(stability_class(8.0, -20.0), Stability::D);
    }
}
