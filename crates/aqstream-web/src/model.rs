//! What the JSON API returns. Times inside objects are RFC 3339 strings (as in the
//! contract's alerts); regular series carry `start_ms` and `step_s` and a plain array of
//! values, `null` where nothing was measured.

use aqstream_core::time::{EpochMillis, format_rfc3339};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

/// An event time, serialized as RFC 3339 (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(pub EpochMillis);

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_rfc3339(self.0))
    }
}

/// Wind: speed and the direction it blows from (degrees clockwise from north).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WindView {
    /// Speed, m/s.
    pub speed_ms: f64,
    /// Direction the wind blows from, degrees, 0 = north, 90 = east.
    pub from_deg: f64,
}

/// One sensor now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SensorNow {
    /// Sensor id.
    pub id: String,
    /// District.
    pub district: String,
    /// `lowcost`, `reference` or `met`.
    pub kind: String,
    /// Latitude, WGS84 degrees.
    pub lat: f64,
    /// Longitude, WGS84 degrees.
    pub lon: f64,
    /// PM2.5 of the latest 5-minute window, µg/m³.
    pub pm25: Option<f64>,
    /// PM2.5 of the latest hour, µg/m³.
    pub pm25_1h: Option<f64>,
    /// HJ 633 AQI of the latest hourly PM2.5 mean.
    pub aqi_cn: Option<u32>,
    /// US EPA AQI of the PM2.5 NowCast at the latest hour (of the hourly mean while the
    /// NowCast is not defined).
    pub aqi_us: Option<u32>,
    /// End of the latest 5-minute window with data.
    pub updated_at: Option<Time>,
    /// Wind at the sensor in the latest 5 minutes.
    pub wind: Option<WindView>,
}

/// One district now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DistrictNow {
    /// District name.
    pub name: String,
    /// Centroid of its sensors (for the label on the map).
    pub lat: f64,
    /// Centroid longitude.
    pub lon: f64,
    /// District PM2.5 of the latest 5-minute window, µg/m³.
    pub pm25: Option<f64>,
    /// Number of sensors.
    pub sensors: usize,
}

/// The city now: `GET /api/v1/city`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CityNow {
    /// Event time the values refer to: the end of the latest 5-minute window in the
    /// history (none: no data yet).
    pub as_of: Option<Time>,
    /// The same in epoch milliseconds.
    pub as_of_ms: Option<EpochMillis>,
    /// Every registered sensor, with its latest values where it has any.
    pub sensors: Vec<SensorNow>,
    /// Districts with their centroid and latest mean.
    pub districts: Vec<DistrictNow>,
    /// Speed-weighted vector mean of the sensors' latest wind.
    pub wind: Option<WindView>,
}

/// Hourly PM2.5 of every sensor: `GET /api/v1/history`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourlyHistory {
    /// Start of the first hour, epoch ms.
    pub start_ms: EpochMillis,
    /// Seconds between values (3600).
    pub step_s: u32,
    /// Number of values per series.
    pub len: usize,
    /// Hourly PM2.5 means per sensor id, µg/m³.
    pub sensors: BTreeMap<String, Vec<Option<f64>>>,
    /// HJ 633 AQI of each hourly mean, per sensor id.
    pub aqi_cn: BTreeMap<String, Vec<Option<u32>>>,
    /// US EPA AQI of each hourly mean (24 h table), per sensor id.
    pub aqi_us: BTreeMap<String, Vec<Option<u32>>>,
    /// Mean over the sensors that have a value, per hour.
    pub city: Vec<Option<f64>>,
}

/// Regular series of a few sensors (evidence of an alert).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// Start of the first window, epoch ms.
    pub start_ms: EpochMillis,
    /// Seconds between values.
    pub step_s: u32,
    /// Number of values per series.
    pub len: usize,
    /// PM2.5 means per sensor id, µg/m³.
    pub sensors: BTreeMap<String, Vec<Option<f64>>>,
}

/// Why a sensor is part of an alert's evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceRole {
    /// The sensor saw the episode.
    Saw,
    /// A nearby sensor that did not (the background the episode stands out from).
    Quiet,
}

/// One sensor of an alert's evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvidenceSensor {
    /// Sensor id.
    pub id: String,
    /// Saw the episode, or a quiet neighbour.
    pub role: EvidenceRole,
    /// Distance from the estimated source (or the first sensor), metres.
    pub distance_m: f64,
    /// PM2.5 per window, µg/m³.
    pub values: Vec<Option<f64>>,
}

/// The evidence of an alert: its sensors' series around the episode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// Start of the first window, epoch ms.
    pub start_ms: EpochMillis,
    /// Seconds between values (60 or 300).
    pub step_s: u32,
    /// Number of values per series.
    pub len: usize,
    /// Sensors, those that saw the episode first.
    pub sensors: Vec<EvidenceSensor>,
}
