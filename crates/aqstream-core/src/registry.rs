//! The sensor registry: `sensors.csv` of the contract.
//!
//! ```text
//! sensor_id,gateway_id,lat,lon,district,kind
//! TZ-0001,gw-tz-01,39.9092,116.6573,Tongzhou-Center,lowcost
//! ```

mod ids;

use ids::IdIndex;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::str::FromStr;

/// What kind of instrument a sensor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SensorKind {
    /// A low-cost optical / electrochemical sensor.
    Lowcost,
    /// A reference-grade monitoring station.
    Reference,
    /// A meteorological station (weather fields only).
    Met,
}

impl SensorKind {
    /// The registry's name for the kind.
    pub const fn as_str(self) -> &'static str {
        match self {
            SensorKind::Lowcost => "lowcost",
            SensorKind::Reference => "reference",
            SensorKind::Met => "met",
        }
    }
}

impl FromStr for SensorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "lowcost" => Ok(SensorKind::Lowcost),
            "reference" => Ok(SensorKind::Reference),
            "met" => Ok(SensorKind::Met),
            other => Err(format!(
                "unknown kind `{other}` (expected lowcost, reference or met)"
            )),
        }
    }
}

/// One row of the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorInfo {
    /// Unique sensor id (HJ 212 `MN`).
    pub sensor_id: String,
    /// The only gateway allowed to deliver this sensor's readings.
    pub gateway_id: String,
    /// WGS84 latitude, degrees.
    pub lat: f64,
    /// WGS84 longitude, degrees.
    pub lon: f64,
    /// Administrative district used for aggregation and alert routing.
    pub district: String,
    /// Instrument kind.
    pub kind: SensorKind,
}

/// A registry file that could not be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistryError {
    /// The header lacks a required column.
    #[error(
        "sensors.csv header lacks column `{0}` (need sensor_id,gateway_id,lat,lon,district,kind)"
    )]
    MissingColumn(&'static str),
    /// A data line is malformed.
    #[error("sensors.csv line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The file has no header.
    #[error("sensors.csv is empty")]
    Empty,
}

/// The set of known sensors, looked up by id.
#[derive(Debug, Clone, Default)]
pub struct SensorRegistry {
    sensors: Vec<SensorInfo>,
    by_id: IdIndex,
}

const COLUMNS: [&str; 6] = ["sensor_id", "gateway_id", "lat", "lon", "district", "kind"];

/// Splits one CSV line, honouring double quotes (`""` is an escaped quote).
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if cur.is_empty() => quoted = true,
            (false, ',') => out.push(std::mem::take(&mut cur)),
            (_, c) => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    out.push(cur);
    Ok(out)
}

fn parse_coord(s: &str, name: &str, lim: f64) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{name} `{s}` is not a number"))?;
    if !v.is_finite() || v.abs() > lim {
        return Err(format!("{name} {v} outside ±{lim}"));
    }
    Ok(v)
}

impl SensorRegistry {
    /// Builds a registry from rows; later duplicates of an id are an error.
    pub fn from_sensors(sensors: Vec<SensorInfo>) -> Result<SensorRegistry, RegistryError> {
        let mut by_id = IdIndex::default();
        for (i, s) in sensors.iter().enumerate() {
            if by_id.insert(&s.sensor_id).is_err() {
                return Err(RegistryError::Line {
                    line: i + 2,
                    message: format!("duplicate sensor_id `{}`", s.sensor_id),
                });
            }
        }
        Ok(SensorRegistry { sensors, by_id })
    }

    /// Parses `sensors.csv` text. Columns may come in any order; extra columns are
    /// ignored; blank lines and lines starting with `#` are skipped.
    pub fn from_csv(text: &str) -> Result<SensorRegistry, RegistryError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
            .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
        let (hline, header) = lines.next().ok_or(RegistryError::Empty)?;
        let header = split_csv(header.trim_start_matches('\u{feff}')).map_err(|message| {
            RegistryError::Line {
                line: hline,
                message,
            }
        })?;
        let mut idx = [0usize; 6];
        for (k, col) in COLUMNS.iter().enumerate() {
            idx[k] = header
                .iter()
                .position(|h| h.trim() == *col)
                .ok_or(RegistryError::MissingColumn(col))?;
        }
        let mut sensors = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (line, text) in lines {
            let err = |message: String| RegistryError::Line { line, message };
            let f = split_csv(text).map_err(err)?;
            let get = |k: usize| -> Result<&str, RegistryError> {
                f.get(idx[k])
                    .map(|s| s.trim())
                    .ok_or_else(|| err(format!("missing column `{}`", COLUMNS[k])))
            };
            let sensor_id = get(0)?;
            let gateway_id = get(1)?;
            if sensor_id.is_empty() || gateway_id.is_empty() {
                return Err(err("empty sensor_id or gateway_id".into()));
            }
            if let Some(prev) = seen.insert(sensor_id.to_string(), line) {
                return Err(err(format!(
                    "duplicate sensor_id `{sensor_id}` (first on line {prev})"
                )));
            }
            sensors.push(SensorInfo {
                sensor_id: sensor_id.to_string(),
                gateway_id: gateway_id.to_string(),
                lat: parse_coord(get(2)?, "lat", 90.0).map_err(err)?,
                lon: parse_coord(get(3)?, "lon", 180.0).map_err(err)?,
                district: get(4)?.to_string(),
                kind: get(5)?.parse().map_err(err)?,
            });
        }
        SensorRegistry::from_sensors(sensors)
    }

    /// The registry as `sensors.csv` text (canonical column order).
    pub fn to_csv(&self) -> String {
        let mut s = String::from("sensor_id,gateway_id,lat,lon,district,kind\n");
        for r in &self.sensors {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{}",
                r.sensor_id,
                r.gateway_id,
                r.lat,
                r.lon,
                r.district,
                r.kind.as_str()
            );
        }
        s
    }

    /// The sensor with this id.
    pub fn get(&self, sensor_id: &str) -> Option<&SensorInfo> {
        self.by_id.get(sensor_id).map(|i| &self.sensors[i])
    }

    /// Position of the sensor in [`SensorRegistry::sensors`] (a dense index).
    pub fn index_of(&self, sensor_id: &str) -> Option<usize> {
        self.by_id.get(sensor_id)
    }

    /// All sensors, in file order.
    pub fn sensors(&self) -> &[SensorInfo] {
        &self.sensors
    }

    /// Number of sensors.
    pub fn len(&self) -> usize {
        self.sensors.len()
    }

    /// No sensors?
    pub fn is_empty(&self) -> bool {
        self.sensors.is_empty()
    }

    /// Sensors delivered by `gateway_id`.
    pub fn gateway_sensors<'a>(
        &'a self,
        gateway_id: &'a str,
    ) -> impl Iterator<Item = &'a SensorInfo> + 'a {
        self.sensors
            .iter()
            .filter(move |s| s.gateway_id == gateway_id)
    }

    /// The distinct districts, sorted.
    pub fn districts(&self) -> Vec<&str> {
        let mut d: Vec<&str> = self.sensors.iter().map(|s| s.district.as_str()).collect();
        d.sort_unstable();
        d.dedup();
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "sensor_id,gateway_id,lat,lon,district,kind\n\
        TZ-0001,gw-tz-01,39.9092,116.6573,Tongzhou-Center,lowcost\n\
        # a comment\n\
        \n\
        TZ-0002,gw-tz-01,39.9100,116.6600,\"Tongzhou, North\",reference\r\n\
        MET-01,gw-tz-02,39.9000,116.6500,Tongzhou-Center,met\n";

    #[test]
    fn parses_and_round_trips() {
        let r = SensorRegistry::from_csv(CSV).unwrap();
        assert_eq!(r.len(), 3);
        let s = r.get("TZ-0002").unwrap();
        assert_eq!(s.district, "Tongzhou, North");
        assert_eq!(s.kind, SensorKind::Reference);
        assert_eq!(r.index_of("MET-01"), Some(2));
        assert_eq!(r.gateway_sensors("gw-tz-01").count(), 2);
        assert_eq!(r.districts(), vec!["Tongzhou, North", "Tongzhou-Center"]);
        assert!(r.get("TZ-9999").is_none());
        let again = SensorRegistry::from_csv(&r.to_csv().replace("Tongzhou, North", "TN"));
        assert_eq!(again.unwrap().len(), 3);
    }

    #[test]
    fn columns_in_any_order() {
        let r = SensorRegistry::from_csv(
            "kind,lon,lat,district,gateway_id,sensor_id,extra\nmet,1,2,D,g,s,x\n",
        )
        .unwrap();
        let s = r.get("s").unwrap();
        assert_eq!((s.lat, s.lon), (2.0, 1.0));
    }

    #[test]
    fn errors_name_the_line() {
        let e = SensorRegistry::from_csv("sensor_id,gateway_id,lat,lon,district\n").unwrap_err();
        assert_eq!(e, RegistryError::MissingColumn("kind"));
        let e = SensorRegistry::from_csv(
            "sensor_id,gateway_id,lat,lon,district,kind\na,g,1,2,d,lowcost\na,g,1,2,d,lowcost\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("line 3") && e.to_string().contains("duplicate"));
        let e = SensorRegistry::from_csv(
            "sensor_id,gateway_id,lat,lon,district,kind\na,g,91,2,d,lowcost\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("lat 91"), "{e}");
        let e = SensorRegistry::from_csv(
            "sensor_id,gateway_id,lat,lon,district,kind\na,g,1,2,d,drone\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("drone"));
        assert_eq!(
            SensorRegistry::from_csv("").unwrap_err(),
            RegistryError::Empty
        );
    }
}
