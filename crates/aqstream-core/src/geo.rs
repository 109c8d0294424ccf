//! Small geodesy helpers on the WGS84 sphere approximation (city scale).

/// Mean Earth radius, metres (IUGG).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between two points given in degrees.
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

/// Initial bearing from point 1 to point 2, degrees clockwise from north in [0, 360).
pub fn bearing_deg(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dl = (lon2 - lon1).to_radians();
    let y = dl.sin() * p2.cos();
    let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
    y.atan2(x).to_degrees().rem_euclid(360.0)
}

/// A local east/north plane around an origin (equirectangular; metres), accurate to
/// well under a metre over a city.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalPlane {
    lat0: f64,
    lon0: f64,
    m_per_deg_lat: f64,
    m_per_deg_lon: f64,
}

impl LocalPlane {
    /// A plane centred on `(lat0, lon0)`.
    pub fn new(lat0: f64, lon0: f64) -> LocalPlane {
        let m_per_deg_lat = EARTH_RADIUS_M.to_radians();
        LocalPlane {
            lat0,
            lon0,
            m_per_deg_lat,
            m_per_deg_lon: m_per_deg_lat * lat0.to_radians().cos(),
        }
    }

    /// `(east, north)` metres of a point.
    pub fn to_xy(&self, lat: f64, lon: f64) -> (f64, f64) {
        (
            (lon - self.lon0) * self.m_per_deg_lon,
            (lat - self.lat0) * self.m_per_deg_lat,
        )
    }

    /// `(lat, lon)` of a point `(east, north)` metres from the origin.
    pub fn to_latlon(&self, x: f64, y: f64) -> (f64, f64) {
        (
            self.lat0 + y / self.m_per_deg_lat,
            self.lon0 + x / self.m_per_deg_lon,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_and_bearings() {
        // One degree of latitude is about 111.2 km.
        assert!((haversine_m(39.0, 116.0, 40.0, 116.0) - 111_195.0).abs() < 10.0);
        assert_eq!(haversine_m(39.9, 116.6, 39.9, 116.6), 0.0);
        assert!((bearing_deg(39.9, 116.6, 40.0, 116.6) - 0.0).abs() < 1e-9);
        assert!((bearing_deg(39.9, 116.6, 39.9, 116.7) - 90.0).abs() < 0.1);
        assert!((bearing_deg(39.9, 116.6, 39.8, 116.6) - 180.0).abs() < 1e-9);
        assert!((bearing_deg(39.9, 116.6, 39.9, 116.5) - 270.0).abs() < 0.1);
    }

    #[test]
    fn local_plane_agrees_with_haversine() {
        let p = LocalPlane::new(39.9092, 116.6573);
        let (x, y) = p.to_xy(39.9200, 116.6800);
        let d = (x * x + y * y).sqrt();
        assert!((d - haversine_m(39.9092, 116.6573, 39.9200, 116.6800)).abs() < 1.0);
        let (lat, lon) = p.to_latlon(x, y);
        assert!((lat - 39.92).abs() < 1e-12 && (lon - 116.68).abs() < 1e-12);
    }
}
