//! Alerts as the pages show them: one entry per episode (its latest state), and the
//! sensors and time range that make an alert's evidence. Pure functions.

use crate::data::Step;
use crate::model::{EvidenceRole, SensorNow};
use aqstream_core::alert::{Alert, AlertState};
use aqstream_core::geo::haversine_m;
use aqstream_core::time::{EpochMillis, HOUR_MS, MINUTE_MS};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One episode: its latest state and how it got there.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// The latest state change (`resolved` if there is one).
    pub latest: Alert,
    /// Number of state changes seen.
    pub changes: usize,
}

impl Episode {
    /// Is the episode still going on?
    pub fn is_active(&self) -> bool {
        self.latest.state != AlertState::Resolved
    }

    /// The contract's alert object of the latest state, plus `active` and `changes`.
    pub fn to_json(&self) -> Value {
        let mut v = alert_json(&self.latest);
        if let Value::Object(m) = &mut v {
            m.insert("active".into(), json!(self.is_active()));
            m.insert("changes".into(), json!(self.changes));
        }
        v
    }
}

/// The contract's JSON object of one alert state change.
pub fn alert_json(a: &Alert) -> Value {
    serde_json::from_str(&a.to_json()).unwrap_or(Value::Null)
}

fn rank(s: AlertState) -> u8 {
    match s {
        AlertState::Firing => 0,
        AlertState::Updated => 1,
        AlertState::Resolved => 2,
    }
}

/// Orders one alert's state changes: firing, the updates in the order given, resolved.
pub fn order_changes(changes: &mut [Alert]) {
    changes.sort_by_key(|a| rank(a.state));
}

/// Groups state changes (oldest first) into episodes, newest detection first.
pub fn episodes(changes: &[Alert]) -> Vec<Episode> {
    let mut by_id: BTreeMap<&str, Vec<&Alert>> = BTreeMap::new();
    for a in changes {
        by_id.entry(a.alert_id.as_str()).or_default().push(a);
    }
    let mut out: Vec<Episode> = by_id
        .into_values()
        .filter_map(|v| {
            // the stable max keeps the last of equal rank: the latest update
            let latest = v.iter().copied().max_by_key(|a| rank(a.state))?;
            Some(Episode {
                latest: latest.clone(),
                changes: v.len(),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (b.latest.detected_at, &b.latest.alert_id).cmp(&(a.latest.detected_at, &a.latest.alert_id))
    });
    out
}

/// Most quiet neighbours shown next to the sensors that saw an episode.
pub const QUIET_NEIGHBOURS: usize = 3;

/// What to plot as an alert's evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidencePlan {
    /// Sensors with their role and distance from the source, those that saw it first.
    pub sensors: Vec<(String, EvidenceRole, f64)>,
    /// First window start.
    pub from: EpochMillis,
    /// End (exclusive).
    pub to: EpochMillis,
    /// Window length.
    pub step: Step,
}

/// Longest evidence span.
pub const MAX_SPAN_MS: EpochMillis = 12 * HOUR_MS;

/// The sensors and time range of `alert`'s evidence: the sensors that saw it and the
/// [`QUIET_NEIGHBOURS`] nearest others, from an hour before the onset to half an hour
/// after the end (or `as_of` while it lasts); minute means up to three hours, else
/// five-minute means.
pub fn evidence_plan(
    alert: &Alert,
    sensors: &[SensorNow],
    as_of: Option<EpochMillis>,
) -> EvidencePlan {
    let origin = alert.source.map(|s| (s.lat, s.lon)).or_else(|| {
        alert
            .sensors
            .iter()
            .find_map(|id| sensors.iter().find(|s| &s.id == id))
            .map(|s| (s.lat, s.lon))
    });
    let dist = |s: &SensorNow| origin.map_or(0.0, |(lat, lon)| haversine_m(lat, lon, s.lat, s.lon));
    let mut saw: Vec<(String, EvidenceRole, f64)> = alert
        .sensors
        .iter()
        .map(|id| {
            let d = sensors.iter().find(|s| &s.id == id).map_or(f64::NAN, dist);
            (id.clone(), EvidenceRole::Saw, d)
        })
        .collect();
    saw.sort_by(|a, b| a.2.total_cmp(&b.2));
    let mut quiet: Vec<(String, EvidenceRole, f64)> = sensors
        .iter()
        .filter(|s| s.kind != "met" && !alert.sensors.contains(&s.id))
        .map(|s| (s.id.clone(), EvidenceRole::Quiet, dist(s)))
        .collect();
    quiet.sort_by(|a, b| a.2.total_cmp(&b.2));
    quiet.truncate(QUIET_NEIGHBOURS);
    saw.extend(quiet);

    let from = alert.started_at.min(alert.detected_at) - HOUR_MS;
    let end = alert
        .resolved_at
        .or(as_of)
        .unwrap_or(alert.detected_at)
        .max(alert.detected_at);
    let to = (end + 30 * MINUTE_MS).min(from + MAX_SPAN_MS);
    let step = if to - from <= 3 * HOUR_MS {
        Step::Minute
    } else {
        Step::FiveMinutes
    };
    EvidencePlan {
        sensors: saw,
        from,
        to,
        step,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aqstream_core::alert::{SourceEstimate, SourceType};

    fn alert(id: &str, state: AlertState, detected_at: EpochMillis, peak: f64) -> Alert {
        Alert {
            alert_id: id.into(),
            state,
            pollutant: "pm25".into(),
            district: "D".into(),
            started_at: detected_at - 3 * MINUTE_MS,
            detected_at,
            resolved_at: (state == AlertState::Resolved).then_some(detected_at + HOUR_MS),
            source: Some(SourceEstimate {
                lat: 39.9,
                lon: 116.65,
                uncertainty_m: 200.0,
            }),
            source_type: SourceType::Dust,
            confidence: 0.7,
            peak_ugm3: peak,
            sensors: vec!["S2".into(), "S1".into()],
            wind: None,
        }
    }

    fn sensor(id: &str, lat: f64, lon: f64, kind: &str) -> SensorNow {
        SensorNow {
            id: id.into(),
            district: "D".into(),
            kind: kind.into(),
            lat,
            lon,
            pm25: None,
            pm25_1h: None,
            aqi_cn: None,
            aqi_us: None,
            updated_at: None,
            wind: None,
        }
    }

    #[test]
    fn an_episode_is_its_latest_state() {
        let changes = vec![
            alert("a-1", AlertState::Firing, 1000, 100.0),
            alert("a-2", AlertState::Firing, 5000, 80.0),
            alert("a-1", AlertState::Updated, 1000, 150.0),
            alert("a-1", AlertState::Resolved, 1000, 150.0),
            alert("a-2", AlertState::Updated, 5000, 90.0),
            alert("a-2", AlertState::Updated, 5000, 95.0),
        ];
        let e = episodes(&changes);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].latest.alert_id, "a-2", "newest detection first");
        assert!(e[0].is_active());
        assert_eq!(e[0].latest.peak_ugm3, 95.0, "the last update wins");
        assert_eq!(e[0].changes, 3);
        assert!(!e[1].is_active());
        let j = e[1].to_json();
        assert_eq!(j["state"], "resolved");
        assert_eq!(j["active"], false);
        assert_eq!(j["source"]["uncertainty_m"], 200.0);

        let mut v = vec![changes[3].clone(), changes[2].clone(), changes[0].clone()];
        order_changes(&mut v);
        let states: Vec<_> = v.iter().map(|a| a.state.as_str()).collect();
        assert_eq!(states, ["firing", "updated", "resolved"]);
    }

    #[test]
    fn evidence_takes_the_alerts_sensors_and_the_nearest_quiet_ones() {
        let sensors = vec![
            sensor("S1", 39.90, 116.66, "lowcost"),
            sensor("S2", 39.90, 116.651, "lowcost"),
            sensor("S3", 39.91, 116.65, "lowcost"),
            sensor("S4", 39.95, 116.70, "lowcost"),
            sensor("S5", 39.901, 116.65, "met"),
            sensor("S6", 39.92, 116.65, "reference"),
            sensor("S7", 39.93, 116.65, "lowcost"),
        ];
        let a = alert("a-1", AlertState::Firing, 10 * HOUR_MS, 100.0);
        let p = evidence_plan(&a, &sensors, Some(10 * HOUR_MS + 20 * MINUTE_MS));
        let ids: Vec<_> = p.sensors.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(
            ids,
            ["S2", "S1", "S3", "S6", "S7"],
            "saw (nearest first), then quiet; no met"
        );
        assert_eq!(p.sensors[0].1, EvidenceRole::Saw);
        assert_eq!(p.sensors[2].1, EvidenceRole::Quiet);
        assert!((p.sensors[2].2 - 1112.0).abs() < 5.0, "{}", p.sensors[2].2);
        assert_eq!(p.from, 10 * HOUR_MS - 3 * MINUTE_MS - HOUR_MS);
        assert_eq!(p.to, 10 * HOUR_MS + 50 * MINUTE_MS);
        assert_eq!(p.step, Step::Minute);

        let r = alert("a-1", AlertState::Resolved, 10 * HOUR_MS, 100.0);
        let long = Alert {
            resolved_at: Some(24 * HOUR_MS),
            ..r
        };
        let p = evidence_plan(&long, &sensors, None);
        assert_eq!(p.step, Step::FiveMinutes);
        assert_eq!(p.to - p.from, MAX_SPAN_MS);
    }
}
