//! The worker's Prometheus metrics (contract section 6, plus a few of its own).

use crate::health::HealthEvent;
use crate::rows::{AggregateRow, Scope};
use crate::window::WindowKind;
use aqstream_core::alert::Alert;
use aqstream_core::aqi::Pollutant;
use aqstream_core::aqi::us;
use aqstream_core::time::{EpochMillis, HOUR_MS};
use aqstream_locate::metrics::AlertGauges;
use aqstream_runtime::MetricsRegistry;
use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts,
};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// How long a resolved alert's series stay on `/metrics` (event time).
pub const RESOLVED_ALERT_RETENTION_MS: EpochMillis = 6 * HOUR_MS;

/// The metrics of stage 1 and stage 2 (register once per process).
pub struct StreamMetrics {
    /// `aq_sensor_pm25_ugm3{sensor_id,district}`: the latest 1-minute PM2.5 mean.
    pub sensor_pm25: GaugeVec,
    /// `aq_sensor_aqi{sensor_id,district,standard}`: CN of the latest hourly mean, US of
    /// the NowCast (of the hourly mean while the NowCast is not yet defined).
    pub sensor_aqi: GaugeVec,
    /// `aq_district_pm25_ugm3{district,window}`: the latest district mean per window.
    pub district_pm25: GaugeVec,
    /// `aq_worker_watermark_lag_seconds`: wall clock minus the watermark of this
    /// worker's partitions.
    pub watermark_lag: Gauge,
    /// `aq_worker_late_readings_total`: readings later than the allowed lateness.
    pub late: IntCounter,
    /// `aq_sensor_health{sensor_id,problem}`: 1 while the problem is raised, else 0.
    pub health: GaugeVec,
    /// `aq_worker_readings_total`: readings accepted (deduplicated).
    pub readings: IntCounter,
    /// `aq_worker_duplicates_total`: duplicate readings dropped.
    pub duplicates: IntCounter,
    /// `aq_worker_malformed_total`: records that were not canonical readings.
    pub malformed: IntCounter,
    /// `aq_worker_rows_total{scope}`: aggregate rows emitted.
    pub rows: IntCounterVec,
    /// `aq_worker_checkpoint_seconds`: duration of a checkpoint (files, state, publish).
    pub checkpoint_seconds: Histogram,
    /// `aq_worker_partitions`: partitions of `aq.readings.v1` this worker owns.
    pub partitions: IntGauge,
    /// `aq_worker_topic_partitions`: partitions `aq.readings.v1` has, as this worker
    /// sees it (with the sum of `aq_worker_partitions` over the workers: are all
    /// owned?).
    pub topic_partitions: IntGauge,
    /// `aq_worker_stage2_active`: 1 while this worker runs stage 2.
    pub stage2_active: IntGauge,
    /// `aq_worker_group_rejoins_total`: times this worker left and rejoined its
    /// consumer group because partitions it did not own went unread.
    pub group_rejoins: IntCounter,
    /// `aq_alert_active{alert_id,pollutant,district,source_type}`, the source
    /// position, confidence and peak gauges of every alert, and
    /// `aq_reading_to_alert_seconds` (from the worker receiving the readings that
    /// closed the window to the alert leaving it).
    alerts: Mutex<AlertGauges>,
    latest: Mutex<HashMap<(String, u8), EpochMillis>>,
}

impl std::fmt::Debug for StreamMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamMetrics").finish_non_exhaustive()
    }
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    GaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
}

impl StreamMetrics {
    /// Registers the metrics in `reg`.
    pub fn new(reg: &MetricsRegistry) -> StreamMetrics {
        let counter =
            |n: &str, h: &str| reg.register(&IntCounter::new(n, h).expect("valid metric"));
        StreamMetrics {
            sensor_pm25: reg.register(&gauge_vec(
                "aq_sensor_pm25_ugm3",
                "Latest 1-minute PM2.5 mean of a sensor, µg/m³",
                &["sensor_id", "district"],
            )),
            sensor_aqi: reg.register(&gauge_vec(
                "aq_sensor_aqi",
                "Latest AQI of a sensor (cn: HJ 633 of the hourly mean; us: EPA of the NowCast)",
                &["sensor_id", "district", "standard"],
            )),
            district_pm25: reg.register(&gauge_vec(
                "aq_district_pm25_ugm3",
                "Latest district PM2.5 mean over valid sensor-minutes, µg/m³",
                &["district", "window"],
            )),
            watermark_lag: reg.register(
                &Gauge::new(
                    "aq_worker_watermark_lag_seconds",
                    "Wall clock minus the event-time watermark of this worker's partitions",
                )
                .expect("valid metric"),
            ),
            late: counter(
                "aq_worker_late_readings_total",
                "Readings later than the allowed lateness (recomputed from the history)",
            ),
            health: reg.register(&gauge_vec(
                "aq_sensor_health",
                "1 while QA reports the problem for the sensor, else 0",
                &["sensor_id", "problem"],
            )),
            readings: counter(
                "aq_worker_readings_total",
                "Readings accepted (deduplicated)",
            ),
            duplicates: counter("aq_worker_duplicates_total", "Duplicate readings dropped"),
            malformed: counter(
                "aq_worker_malformed_total",
                "Records that were not canonical readings",
            ),
            rows: reg.register(
                &IntCounterVec::new(
                    Opts::new("aq_worker_rows_total", "Aggregate rows emitted"),
                    &["scope"],
                )
                .expect("valid metric"),
            ),
            checkpoint_seconds: reg.register(
                &Histogram::with_opts(
                    HistogramOpts::new(
                        "aq_worker_checkpoint_seconds",
                        "Duration of a checkpoint: files, state, publish",
                    )
                    .buckets(vec![
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    ]),
                )
                .expect("valid metric"),
            ),
            partitions: reg.register(
                &IntGauge::new("aq_worker_partitions", "Partitions of aq.readings.v1 owned")
                    .expect("valid metric"),
            ),
            topic_partitions: reg.register(
                &IntGauge::new(
                    "aq_worker_topic_partitions",
                    "Partitions of aq.readings.v1 (owned or not)",
                )
                .expect("valid metric"),
            ),
            stage2_active: reg.register(
                &IntGauge::new(
                    "aq_worker_stage2_active",
                    "1 while this worker runs stage 2",
                )
                .expect("valid metric"),
            ),
            group_rejoins: counter(
                "aq_worker_group_rejoins_total",
                "Times the worker rejoined its consumer group because partitions it did not own went unread",
            ),
            alerts: Mutex::new(AlertGauges::register(reg, RESOLVED_ALERT_RETENTION_MS)),
            latest: Mutex::new(HashMap::new()),
        }
    }

    /// Is `row` the newest window of its key and kind seen so far?
    fn newest(&self, row: &AggregateRow) -> bool {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        let k = (
            format!("{}/{}", row.scope.as_str(), row.key),
            row.window.kind as u8,
        );
        match latest.get(&k) {
            Some(t) if *t > row.window.start => false,
            _ => {
                latest.insert(k, row.window.start);
                true
            }
        }
    }

    /// Updates the gauges from emitted rows.
    pub fn observe_rows(&self, rows: &[AggregateRow]) {
        for r in rows {
            self.rows.with_label_values(&[r.scope.as_str()]).inc();
            if !self.newest(r) {
                continue;
            }
            let mean = r.stats.pm25_mean();
            match (r.scope, r.window.kind) {
                (Scope::Sensor, WindowKind::M1) => {
                    if let Some(m) = mean {
                        self.sensor_pm25
                            .with_label_values(&[&*r.key, &*r.district])
                            .set(m);
                    }
                }
                (Scope::Sensor, WindowKind::H1) => {
                    if let Some(a) = r.stats.aqi_cn() {
                        self.sensor_aqi
                            .with_label_values(&[&*r.key, &*r.district, "cn"])
                            .set(f64::from(a));
                    }
                    let us = r
                        .nowcast_pm25
                        .and_then(|c| us::aqi(Pollutant::Pm25, None, c).ok())
                        .map(i64::from)
                        .or(r.stats.aqi_us().map(i64::from));
                    if let Some(a) = us {
                        self.sensor_aqi
                            .with_label_values(&[&*r.key, &*r.district, "us"])
                            .set(a as f64);
                    }
                }
                (Scope::District, kind) => {
                    if let Some(m) = mean {
                        self.district_pm25
                            .with_label_values(&[&*r.key, kind.name()])
                            .set(m);
                    }
                }
                _ => {}
            }
        }
    }

    /// Updates `aq_sensor_health` from health changes.
    pub fn observe_health(&self, events: &[HealthEvent]) {
        for e in events {
            self.health
                .with_label_values(&[&*e.sensor_id, e.problem.as_str()])
                .set(if e.raised { 1.0 } else { 0.0 });
        }
    }

    /// Applies alert transitions to the alert gauges; `received` is when the worker
    /// received the readings whose window closing produced them (for
    /// `aq_reading_to_alert_seconds`), `watermark` expires old resolved alerts.
    pub fn observe_alerts(
        &self,
        alerts: &[Alert],
        watermark: Option<EpochMillis>,
        received: Option<Instant>,
    ) {
        let mut g = self.alerts.lock().unwrap_or_else(|e| e.into_inner());
        for a in alerts {
            g.apply(a);
        }
        if let (Some(at), false) = (received, alerts.is_empty()) {
            g.observe_latency(at.elapsed().as_secs_f64());
        }
        if let Some(wm) = watermark {
            g.expire(wm);
        }
    }

    /// Sets the watermark lag from the wall clock `now` and the watermark `wm`.
    pub fn set_lag(&self, now: EpochMillis, wm: EpochMillis) {
        if wm > crate::stage1::clock::NEVER {
            self.watermark_lag.set((now - wm) as f64 / 1000.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipeline_rules_use_the_metrics_the_workers_export() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/prometheus/rules/aqstream.yml"
        );
        let rules = std::fs::read_to_string(path).unwrap();
        let reg = MetricsRegistry::new();
        let _m = StreamMetrics::new(&reg);
        let exposition = reg.render();
        let used: Vec<&str> = rules
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("aq_worker_"))
            .collect();
        for name in ["aq_worker_partitions", "aq_worker_topic_partitions"] {
            assert!(used.contains(&name), "the rules do not use {name}");
        }
        for name in used {
            assert!(
                exposition.contains(&format!("\n{name} ")),
                "the rules use {name}, which the worker does not export:\n{exposition}"
            );
        }
    }
}
