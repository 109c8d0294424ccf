//! The alert gauges of the contract (section 6), kept from alert transitions:
//!
//! * `aq_alert_active{alert_id,pollutant,district,source_type}` — 1 while firing;
//! * `aq_alert_source_latitude{alert_id}`, `aq_alert_source_longitude{alert_id}`;
//! * `aq_alert_confidence{alert_id}`, `aq_alert_peak_ugm3{alert_id}`;
//! * `aq_alert_sensors{alert_id,sensors}` — number of sensors, with their ids (at most
//!   ten, then `+N`) as a label for the alert's annotations (an addition to the contract);
//! * `aq_reading_to_alert_seconds` — histogram the caller feeds with
//!   [`AlertGauges::observe_latency`].
//!
//! On `resolved` the series of the alert are set to 0 and removed once the caller's
//! event time has moved `retain_resolved_ms` past the resolution
//! ([`AlertGauges::expire`]), so Prometheus sees the alert end and its series go stale.

use aqstream_core::alert::{Alert, AlertState};
use aqstream_runtime::MetricsRegistry;
use prometheus::{GaugeVec, Histogram, HistogramOpts, Opts};
use std::collections::BTreeMap;

/// Label values of the series of one alert.
#[derive(Debug, Clone, PartialEq)]
struct Series {
    active: [String; 4],
    sensors: String,
    resolved_at: Option<i64>,
}

/// The alert gauges of one process.
#[derive(Debug, Clone)]
pub struct AlertGauges {
    active: GaugeVec,
    lat: GaugeVec,
    lon: GaugeVec,
    confidence: GaugeVec,
    peak: GaugeVec,
    sensors: GaugeVec,
    latency: Histogram,
    series: BTreeMap<String, Series>,
    retain_resolved_ms: i64,
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    GaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition")
}

/// Sensor ids as one label value: the first ten, then `+N`.
pub fn sensors_label(ids: &[String]) -> String {
    let mut s = ids.iter().take(10).cloned().collect::<Vec<_>>().join(",");
    if ids.len() > 10 {
        s.push_str(&format!(",+{}", ids.len() - 10));
    }
    s
}

impl AlertGauges {
    /// Registers the gauges in `registry`. A resolved alert's series are removed
    /// `retain_resolved_ms` of event time after it resolved.
    pub fn register(registry: &MetricsRegistry, retain_resolved_ms: i64) -> AlertGauges {
        let id = ["alert_id"];
        AlertGauges {
            active: registry.register(&gauge(
                "aq_alert_active",
                "1 while the pollution alert is firing.",
                &["alert_id", "pollutant", "district", "source_type"],
            )),
            lat: registry.register(&gauge("aq_alert_source_latitude", "Estimated source latitude, WGS84 degrees.", &id)),
            lon: registry.register(&gauge("aq_alert_source_longitude", "Estimated source longitude, WGS84 degrees.", &id)),
            confidence: registry.register(&gauge("aq_alert_confidence", "Confidence of the alert's source estimate, 0..1.", &id)),
            peak: registry.register(&gauge("aq_alert_peak_ugm3", "Highest concentration seen in the episode (CO: mg/m3).", &id)),
            sensors: registry.register(&gauge(
                "aq_alert_sensors",
                "Number of sensors that saw the episode; label sensors lists them.",
                &["alert_id", "sensors"],
            )),
            latency: registry.register(
                &Histogram::with_opts(
                    HistogramOpts::new(
                        "aq_reading_to_alert_seconds",
                        "Wall-clock time from receiving the reading that closed a detection window to emitting the alert.",
                    )
                    .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
                )
                .expect("valid histogram"),
            ),
            series: BTreeMap::new(),
            retain_resolved_ms,
        }
    }

    /// Applies one alert transition.
    pub fn apply(&mut self, a: &Alert) {
        let active = [
            a.alert_id.clone(),
            a.pollutant.clone(),
            a.district.clone(),
            a.source_type.as_str().to_string(),
        ];
        let sensors = sensors_label(&a.sensors);
        if let Some(old) = self.series.get(&a.alert_id) {
            if old.active != active {
                let _ = self
                    .active
                    .remove_label_values(&old.active.each_ref().map(String::as_str));
            }
            if old.sensors != sensors {
                let _ = self
                    .sensors
                    .remove_label_values(&[&a.alert_id, &old.sensors]);
            }
        }
        let labels = active.each_ref().map(String::as_str);
        let id = [a.alert_id.as_str()];
        match a.state {
            AlertState::Firing | AlertState::Updated => {
                self.active.with_label_values(&labels).set(1.0)
            }
            AlertState::Resolved => self.active.with_label_values(&labels).set(0.0),
        }
        match a.source {
            Some(s) => {
                self.lat.with_label_values(&id).set(s.lat);
                self.lon.with_label_values(&id).set(s.lon);
            }
            None => {
                let _ = self.lat.remove_label_values(&id);
                let _ = self.lon.remove_label_values(&id);
            }
        }
        self.confidence.with_label_values(&id).set(a.confidence);
        self.peak.with_label_values(&id).set(a.peak_ugm3);
        self.sensors
            .with_label_values(&[&a.alert_id, &sensors])
            .set(a.sensors.len() as f64);
        let resolved_at =
            (a.state == AlertState::Resolved).then(|| a.resolved_at.unwrap_or(a.detected_at));
        self.series.insert(
            a.alert_id.clone(),
            Series {
                active,
                sensors,
                resolved_at,
            },
        );
    }

    /// Removes the series of alerts resolved more than the retention before `now`
    /// (event time, e.g. the watermark).
    pub fn expire(&mut self, now: i64) {
        let gone: Vec<String> = self
            .series
            .iter()
            .filter(|(_, s)| {
                s.resolved_at
                    .is_some_and(|t| now - t >= self.retain_resolved_ms)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for id in gone {
            if let Some(s) = self.series.remove(&id) {
                let _ = self
                    .active
                    .remove_label_values(&s.active.each_ref().map(String::as_str));
                let _ = self.sensors.remove_label_values(&[&id, &s.sensors]);
                for g in [&self.lat, &self.lon, &self.confidence, &self.peak] {
                    let _ = g.remove_label_values(&[&id]);
                }
            }
        }
    }

    /// Records the time from a reading's arrival to the alert it led to, seconds.
    pub fn observe_latency(&self, seconds: f64) {
        self.latency.observe(seconds);
    }

    /// Alerts with series (firing, or resolved and not yet expired).
    pub fn tracked(&self) -> usize {
        self.series.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aqstream_core::alert::{SourceEstimate, SourceType};

    fn alert(state: AlertState, lat: f64, t: SourceType) -> Alert {
        Alert {
            alert_id: "a-20261122-0001".into(),
            state,
            pollutant: "pm25".into(),
            district: "Tongzhou-Center".into(),
            started_at: 0,
            detected_at: 60_000,
            resolved_at: (state == AlertState::Resolved).then_some(600_000),
            source: Some(SourceEstimate {
                lat,
                lon: 116.66,
                uncertainty_m: 120.0,
            }),
            source_type: t,
            confidence: 0.8,
            peak_ugm3: 210.0,
            sensors: vec!["TZ-0001".into(), "TZ-0002".into()],
            wind: None,
        }
    }

    #[test]
    fn gauges_follow_the_lifecycle_and_expire() {
        let reg = MetricsRegistry::new();
        let mut g = AlertGauges::register(&reg, 300_000);
        g.apply(&alert(AlertState::Firing, 39.90, SourceType::Unknown));
        let text = reg.render();
        assert!(text.contains(r#"aq_alert_active{alert_id="a-20261122-0001",district="Tongzhou-Center",pollutant="pm25",source_type="unknown"} 1"#), "{text}");
        assert!(text.contains(r#"aq_alert_source_latitude{alert_id="a-20261122-0001"} 39.9"#));
        assert!(text.contains(
            r#"aq_alert_sensors{alert_id="a-20261122-0001",sensors="TZ-0001,TZ-0002"} 2"#
        ));
        // The type becomes known: the old active series goes, the new one is there.
        g.apply(&alert(AlertState::Updated, 39.91, SourceType::Coal));
        let text = reg.render();
        assert!(!text.contains("source_type=\"unknown\""), "{text}");
        assert!(text.contains(r#"source_type="coal"} 1"#));
        assert!(text.contains(r#"aq_alert_source_latitude{alert_id="a-20261122-0001"} 39.91"#));
        g.apply(&alert(AlertState::Resolved, 39.91, SourceType::Coal));
        assert!(reg.render().contains(r#"source_type="coal"} 0"#));
        g.expire(600_000 + 299_999);
        assert_eq!(g.tracked(), 1);
        g.expire(600_000 + 300_000);
        assert_eq!(g.tracked(), 0);
        let text = reg.render();
        assert!(!text.contains("a-20261122-0001"), "{text}");
        g.observe_latency(0.2);
        assert!(reg.render().contains("aq_reading_to_alert_seconds_count 1"));
    }

    #[test]
    fn sensor_label_is_bounded() {
        let ids: Vec<String> = (0..13).map(|i| format!("S{i}")).collect();
        assert_eq!(sensors_label(&ids), "S0,S1,S2,S3,S4,S5,S6,S7,S8,S9,+3");
    }
}
