//! Wind: vector means, direction spread, and interpolation from stations to any point.
//!
//! Directions follow the meteorological convention of the contract: degrees clockwise
//! from north that the wind blows **from**. Averages are taken over the velocity
//! vector (so 350° and 10° average to 0°, not 180°).

/// One wind observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindSample {
    /// Speed, m/s.
    pub speed_ms: f64,
    /// Direction the wind blows from, degrees.
    pub from_deg: f64,
}

impl WindSample {
    /// The velocity vector `(east, north)` m/s: where the air moves **to**.
    pub fn velocity(&self) -> (f64, f64) {
        let t = self.from_deg.to_radians();
        (-self.speed_ms * t.sin(), -self.speed_ms * t.cos())
    }

    /// The sample whose velocity is `(ve, vn)`.
    pub fn from_velocity(ve: f64, vn: f64) -> WindSample {
        WindSample {
            speed_ms: ve.hypot(vn),
            from_deg: (-ve).atan2(-vn).to_degrees().rem_euclid(360.0),
        }
    }
}

/// Running statistics of wind over a window: vector mean, scalar mean speed and the
/// Yamartino (1984) estimate of the direction's standard deviation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WindStats {
    n: f64,
    ve: f64,
    vn: f64,
    speed: f64,
    sin: f64,
    cos: f64,
}

impl WindStats {
    /// Adds one sample with weight `w`.
    pub fn add(&mut self, s: WindSample, w: f64) {
        let (ve, vn) = s.velocity();
        let t = s.from_deg.to_radians();
        self.n += w;
        self.ve += w * ve;
        self.vn += w * vn;
        self.speed += w * s.speed_ms;
        self.sin += w * t.sin();
        self.cos += w * t.cos();
    }

    /// Total weight added.
    pub fn weight(&self) -> f64 {
        self.n
    }

    /// Vector-mean direction with the scalar-mean speed (the speed that carries a
    /// pollutant, not the vector resultant which shrinks when the direction wanders).
    pub fn mean(&self) -> Option<WindSample> {
        if self.n <= 0.0 {
            return None;
        }
        let d = WindSample::from_velocity(self.ve / self.n, self.vn / self.n);
        Some(WindSample {
            speed_ms: self.speed / self.n,
            from_deg: d.from_deg,
        })
    }

    /// Standard deviation of the direction, degrees (Yamartino's single-pass estimator).
    pub fn sigma_theta_deg(&self) -> f64 {
        if self.n <= 0.0 {
            return 0.0;
        }
        let (sa, ca) = (self.sin / self.n, self.cos / self.n);
        let eps = (1.0 - (sa * sa + ca * ca)).max(0.0).sqrt();
        (eps.asin() * (1.0 + 0.1547 * eps.powi(3))).to_degrees()
    }
}

/// Inverse-distance-squared interpolation of the wind from stations at `(x, y)` metres.
/// The direction comes from the interpolated velocity, the speed from the interpolated
/// scalar speeds. A station closer than 1 m dominates.
pub fn interpolate(stations: &[((f64, f64), WindSample)], x: f64, y: f64) -> Option<WindSample> {
    if stations.is_empty() {
        return None;
    }
    let (mut w_sum, mut ve, mut vn, mut sp) = (0.0, 0.0, 0.0, 0.0);
    for ((sx, sy), s) in stations {
        let d2 = (sx - x).powi(2) + (sy - y).powi(2);
        let w = 1.0 / d2.max(1.0);
        let (e, n) = s.velocity();
        let norm = s.speed_ms.max(1e-6);
        // Unit vectors for the direction, so a strong station does not outvote a near one.
        ve += w * e / norm;
        vn += w * n / norm;
        sp += w * s.speed_ms;
        w_sum += w;
    }
    let dir = WindSample::from_velocity(ve, vn);
    Some(WindSample {
        speed_ms: sp / w_sum,
        from_deg: dir.from_deg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_mean_wraps_around_north() {
        let mut st = WindStats::default();
        st.add(
            WindSample {
                speed_ms: 2.0,
                from_deg: 350.0,
            },
            1.0,
        );
        st.add(
            WindSample {
                speed_ms: 2.0,
                from_deg: 10.0,
            },
            1.0,
        );
        let m = st.mean().unwrap();
        assert!(m.from_deg < 1e-9 || m.from_deg > 360.0 - 1e-9, "{m:?}");
        assert!((m.speed_ms - 2.0).abs() < 1e-12);
        // The direction is a mean of velocities: the stronger wind weighs more.
        let mut st2 = WindStats::default();
        st2.add(
            WindSample {
                speed_ms: 2.0,
                from_deg: 350.0,
            },
            1.0,
        );
        st2.add(
            WindSample {
                speed_ms: 4.0,
                from_deg: 10.0,
            },
            1.0,
        );
        let m2 = st2.mean().unwrap();
        assert!(
            m2.from_deg > 0.0 && m2.from_deg < 10.0 && (m2.speed_ms - 3.0).abs() < 1e-12,
            "{m2:?}"
        );
        // Two unit vectors 20° apart: ε = sin 10°, σθ ≈ 10.0°.
        assert!(
            (st.sigma_theta_deg() - 10.0).abs() < 0.2,
            "{}",
            st.sigma_theta_deg()
        );
        let w = WindSample {
            speed_ms: 3.0,
            from_deg: 270.0,
        };
        let (ve, vn) = w.velocity();
        assert!(
            (ve - 3.0).abs() < 1e-12 && vn.abs() < 1e-12,
            "from the west blows east"
        );
    }

    #[test]
    fn interpolation_weights_by_inverse_square_distance() {
        let st = [
            (
                (0.0, 0.0),
                WindSample {
                    speed_ms: 2.0,
                    from_deg: 270.0,
                },
            ),
            (
                (1000.0, 0.0),
                WindSample {
                    speed_ms: 4.0,
                    from_deg: 0.0,
                },
            ),
        ];
        let at0 = interpolate(&st, 1.0, 0.0).unwrap();
        assert!((at0.from_deg - 270.0).abs() < 0.1);
        let mid = interpolate(&st, 500.0, 0.0).unwrap();
        assert!((mid.speed_ms - 3.0).abs() < 1e-9);
        assert!((mid.from_deg - 315.0).abs() < 1e-6, "{mid:?}");
        assert!(interpolate(&[], 0.0, 0.0).is_none());
    }
}
