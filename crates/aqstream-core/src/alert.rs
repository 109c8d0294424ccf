//! Alerts: one JSON object per state change (contract section 4).
//!
//! ```json
//! {"alert_id":"a-20261122-0007","state":"firing","pollutant":"pm25",
//!  "district":"Tongzhou-Center","started_at":"2026-11-22T08:03:00Z",
//!  "detected_at":"2026-11-22T08:06:00Z","resolved_at":null,
//!  "source":{"lat":39.9071,"lon":116.6612,"uncertainty_m":180},
//!  "source_type":"combustion","confidence":0.82,"peak_ugm3":312.4,
//!  "sensors":["TZ-0004","TZ-0011"],"wind":{"speed_ms":2.4,"from_deg":270}}
//! ```

use crate::json::{write_json_f64, write_json_str};
use crate::time::{EpochMillis, write_rfc3339};
use std::fmt;
use std::str::FromStr;

/// Lifecycle state of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertState {
    /// The episode was detected.
    Firing,
    /// The location or the peak changed materially.
    Updated,
    /// The episode is over.
    Resolved,
}

impl AlertState {
    /// Contract name.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Updated => "updated",
            AlertState::Resolved => "resolved",
        }
    }
}

impl FromStr for AlertState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "firing" => Ok(AlertState::Firing),
            "updated" => Ok(AlertState::Updated),
            "resolved" => Ok(AlertState::Resolved),
            o => Err(format!("unknown alert state `{o}`")),
        }
    }
}

/// What kind of source an episode most likely comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceType {
    /// Construction, demolition, bare soil, roads: coarse particles (high PM10/PM2.5).
    Dust,
    /// Open burning, biomass: fine particles with CO.
    Combustion,
    /// Vehicle exhaust: NO2 and CO with fine particles.
    Traffic,
    /// Coal burning: SO2 with fine particles.
    Coal,
    /// Industrial emissions: SO2/NO2 without the traffic CO signature.
    Industrial,
    /// Not enough co-pollutants to tell.
    Unknown,
}

impl SourceType {
    /// Every source type.
    pub const ALL: [SourceType; 6] = [
        SourceType::Dust,
        SourceType::Combustion,
        SourceType::Traffic,
        SourceType::Coal,
        SourceType::Industrial,
        SourceType::Unknown,
    ];

    /// Contract name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SourceType::Dust => "dust",
            SourceType::Combustion => "combustion",
            SourceType::Traffic => "traffic",
            SourceType::Coal => "coal",
            SourceType::Industrial => "industrial",
            SourceType::Unknown => "unknown",
        }
    }
}

impl FromStr for SourceType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SourceType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown source type `{s}`"))
    }
}

impl fmt::Display for SourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Estimated source location.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceEstimate {
    /// Latitude, WGS84 degrees.
    pub lat: f64,
    /// Longitude, WGS84 degrees.
    pub lon: f64,
    /// Radius (metres) that contains the source with the stated confidence.
    pub uncertainty_m: f64,
}

/// Wind at the source during the episode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wind {
    /// Speed, m/s.
    pub speed_ms: f64,
    /// Direction the wind blows from, degrees clockwise from north.
    pub from_deg: f64,
}

/// One alert state change.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Stable id of the episode, e.g. `a-20261122-0007`.
    pub alert_id: String,
    /// The state entered.
    pub state: AlertState,
    /// The pollutant (`pm25`, …).
    pub pollutant: String,
    /// District of the estimated source (or of the most affected sensor).
    pub district: String,
    /// Estimated onset, event time.
    pub started_at: EpochMillis,
    /// Event time (watermark) at which the pipeline first fired.
    pub detected_at: EpochMillis,
    /// Event time at which the episode ended, for `resolved`.
    pub resolved_at: Option<EpochMillis>,
    /// Estimated source, if one could be located.
    pub source: Option<SourceEstimate>,
    /// Source type.
    pub source_type: SourceType,
    /// Confidence in [0, 1].
    pub confidence: f64,
    /// Highest concentration seen in the episode, µg/m³ (mg/m³ for CO).
    pub peak_ugm3: f64,
    /// Sensors that saw the episode.
    pub sensors: Vec<String>,
    /// Wind during the episode, if known.
    pub wind: Option<Wind>,
}

fn round_to(v: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (v * p).round() / p
}

impl Alert {
    /// The contract's JSON object (one line, no trailing newline).
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(400);
        s.push_str("{\"alert_id\":");
        write_json_str(&mut s, &self.alert_id);
        s.push_str(",\"state\":\"");
        s.push_str(self.state.as_str());
        s.push_str("\",\"pollutant\":");
        write_json_str(&mut s, &self.pollutant);
        s.push_str(",\"district\":");
        write_json_str(&mut s, &self.district);
        s.push_str(",\"started_at\":\"");
        write_rfc3339(&mut s, self.started_at);
        s.push_str("\",\"detected_at\":\"");
        write_rfc3339(&mut s, self.detected_at);
        s.push_str("\",\"resolved_at\":");
        match self.resolved_at {
            Some(t) => {
                s.push('"');
                write_rfc3339(&mut s, t);
                s.push('"');
            }
            None => s.push_str("null"),
        }
        s.push_str(",\"source\":");
        match self.source {
            Some(src) => {
                s.push_str("{\"lat\":");
                write_json_f64(&mut s, round_to(src.lat, 6));
                s.push_str(",\"lon\":");
                write_json_f64(&mut s, round_to(src.lon, 6));
                s.push_str(",\"uncertainty_m\":");
                write_json_f64(&mut s, src.uncertainty_m.round());
                s.push('}');
            }
            None => s.push_str("null"),
        }
        s.push_str(",\"source_type\":\"");
        s.push_str(self.source_type.as_str());
        s.push_str("\",\"confidence\":");
        write_json_f64(&mut s, round_to(self.confidence, 3));
        s.push_str(",\"peak_ugm3\":");
        write_json_f64(&mut s, round_to(self.peak_ugm3, 1));
        s.push_str(",\"sensors\":[");
        for (i, id) in self.sensors.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            write_json_str(&mut s, id);
        }
        s.push_str("],\"wind\":");
        match self.wind {
            Some(w) => {
                s.push_str("{\"speed_ms\":");
                write_json_f64(&mut s, round_to(w.speed_ms, 1));
                s.push_str(",\"from_deg\":");
                write_json_f64(&mut s, w.from_deg.round());
                s.push('}');
            }
            None => s.push_str("null"),
        }
        s.push('}');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    #[test]
    fn the_contract_example() {
        let a = Alert {
            alert_id: "a-20261122-0007".into(),
            state: AlertState::Firing,
            pollutant: "pm25".into(),
            district: "Tongzhou-Center".into(),
            started_at: parse_rfc3339("2026-11-22T08:03:00Z").unwrap(),
            detected_at: parse_rfc3339("2026-11-22T08:06:00Z").unwrap(),
            resolved_at: None,
            source: Some(SourceEstimate {
                lat: 39.9071,
                lon: 116.6612,
                uncertainty_m: 180.0,
            }),
            source_type: SourceType::Combustion,
            confidence: 0.82,
            peak_ugm3: 312.4,
            sensors: vec!["TZ-0004".into(), "TZ-0011".into()],
            wind: Some(Wind {
                speed_ms: 2.4,
                from_deg: 270.0,
            }),
        };
        assert_eq!(
            a.to_json(),
            r#"{"alert_id":"a-20261122-0007","state":"firing","pollutant":"pm25","district":"Tongzhou-Center","started_at":"2026-11-22T08:03:00Z","detected_at":"2026-11-22T08:06:00Z","resolved_at":null,"source":{"lat":39.9071,"lon":116.6612,"uncertainty_m":180},"source_type":"combustion","confidence":0.82,"peak_ugm3":312.4,"sensors":["TZ-0004","TZ-0011"],"wind":{"speed_ms":2.4,"from_deg":270}}"#
        );
        assert_eq!("resolved".parse::<AlertState>(), Ok(AlertState::Resolved));
        assert_eq!("coal".parse::<SourceType>(), Ok(SourceType::Coal));
        assert!("smog".parse::<SourceType>().is_err());
    }
}
