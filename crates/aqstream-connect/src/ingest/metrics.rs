//! The ingester's metrics, registered once into the process registry.
//!
//! Names of the contract: `aq_ingest_messages_total{transport}` and
//! `aq_ingest_rejected_total{reason}`; the others are this crate's own.

use aqstream_core::RejectReason;
use aqstream_runtime::MetricsRegistry;
use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts,
};

/// How a message arrived (the `transport` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// An MQTT message (JSON, batch or HJ 212 payload).
    Mqtt,
    /// An HJ 212 frame from a TCP terminal.
    Hj212Tcp,
}

impl Transport {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::Mqtt => "mqtt",
            Transport::Hj212Tcp => "hj212_tcp",
        }
    }
}

/// Every metric of ingest. Cheap to clone (handles to shared collectors).
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    /// `aq_ingest_messages_total{transport}` — messages received.
    pub messages: IntCounterVec,
    /// `aq_ingest_rejected_total{reason}` — readings or messages dead-lettered.
    pub rejected: IntCounterVec,
    /// `aq_ingest_readings_total` — readings accepted and appended.
    pub readings: IntCounter,
    /// `aq_ingest_produce_latency_seconds` — send → durable acknowledgement of a record.
    pub produce_latency: Histogram,
    /// `aq_ingest_produce_retries_total` — records re-sent after a transient failure.
    pub produce_retries: IntCounter,
    /// `aq_ingest_in_flight_messages` — messages received but not yet acknowledged.
    pub in_flight: IntGauge,
    /// `aq_ingest_gateway_last_seen_seconds{gateway_id}` — Unix time of the last message
    /// of each registered gateway.
    pub gateway_last_seen: GaugeVec,
    /// `aq_ingest_mqtt_connected` — 1 while the MQTT session is up.
    pub mqtt_connected: IntGauge,
    /// `aq_ingest_mqtt_subscribed` — 1 once the broker accepted the subscription of
    /// the current session.
    pub mqtt_subscribed: IntGauge,
    /// `aq_ingest_mqtt_connects_total` — MQTT (re)connections.
    pub mqtt_connects: IntCounter,
    /// `aq_ingest_tcp_connections` — open HJ 212 TCP connections.
    pub tcp_connections: IntGauge,
    /// `aq_ingest_tcp_errors_total{kind}` — per-connection errors of the HJ 212 listener
    /// (`reject`, `oversize`, `idle_timeout`, `too_many_errors`, `io`).
    pub tcp_errors: IntCounterVec,
    /// `aq_ingest_last_message_seconds` — Unix time of the last message of any kind.
    pub last_message: Gauge,
}

fn reg<C: prometheus::core::Collector + Clone + 'static>(r: &MetricsRegistry, c: C) -> C {
    r.register(&c)
}

impl IngestMetrics {
    /// Creates and registers the metrics (pre-registering every label value of the
    /// low-cardinality labels, so dashboards see zeros instead of gaps).
    pub fn new(r: &MetricsRegistry) -> IngestMetrics {
        // The metric definitions are constants; failing to build them is a bug.
        let counter_vec = |name: &str, help: &str, label: &str| {
            IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid metric")
        };
        let m = IngestMetrics {
            messages: reg(
                r,
                counter_vec(
                    "aq_ingest_messages_total",
                    "Messages received, by transport.",
                    "transport",
                ),
            ),
            rejected: reg(
                r,
                counter_vec(
                    "aq_ingest_rejected_total",
                    "Readings or messages sent to the dead-letter stream, by reason.",
                    "reason",
                ),
            ),
            readings: reg(
                r,
                IntCounter::new(
                    "aq_ingest_readings_total",
                    "Readings accepted and appended to the log.",
                )
                .expect("valid metric"),
            ),
            produce_latency: reg(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "aq_ingest_produce_latency_seconds",
                        "Time from sending a record to the log until it is durably acknowledged.",
                    )
                    .buckets(vec![
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0, 10.0, 30.0,
                    ]),
                )
                .expect("valid metric"),
            ),
            produce_retries: reg(
                r,
                IntCounter::new(
                    "aq_ingest_produce_retries_total",
                    "Records re-sent after a transient log failure.",
                )
                .expect("valid metric"),
            ),
            in_flight: reg(
                r,
                IntGauge::new(
                    "aq_ingest_in_flight_messages",
                    "Messages received but not yet acknowledged to their sender.",
                )
                .expect("valid metric"),
            ),
            gateway_last_seen: reg(
                r,
                GaugeVec::new(
                    Opts::new(
                        "aq_ingest_gateway_last_seen_seconds",
                        "Unix time of the last message of each registered gateway.",
                    ),
                    &["gateway_id"],
                )
                .expect("valid metric"),
            ),
            mqtt_connected: reg(
                r,
                IntGauge::new(
                    "aq_ingest_mqtt_connected",
                    "1 while the MQTT session is up.",
                )
                .expect("valid metric"),
            ),
            mqtt_subscribed: reg(
                r,
                IntGauge::new(
                    "aq_ingest_mqtt_subscribed",
                    "1 once the broker accepted the subscription of the current MQTT session.",
                )
                .expect("valid metric"),
            ),
            mqtt_connects: reg(
                r,
                IntCounter::new(
                    "aq_ingest_mqtt_connects_total",
                    "MQTT connections established (including reconnects).",
                )
                .expect("valid metric"),
            ),
            tcp_connections: reg(
                r,
                IntGauge::new("aq_ingest_tcp_connections", "Open HJ 212 TCP connections.")
                    .expect("valid metric"),
            ),
            tcp_errors: reg(
                r,
                counter_vec(
                    "aq_ingest_tcp_errors_total",
                    "Errors of HJ 212 TCP connections, by kind.",
                    "kind",
                ),
            ),
            last_message: reg(
                r,
                Gauge::new(
                    "aq_ingest_last_message_seconds",
                    "Unix time of the last message received.",
                )
                .expect("valid metric"),
            ),
        };
        for t in [Transport::Mqtt, Transport::Hj212Tcp] {
            m.messages.with_label_values(&[t.as_str()]);
        }
        for reason in RejectReason::ALL {
            m.rejected.with_label_values(&[reason.as_str()]);
        }
        for k in [
            "reject",
            "oversize",
            "idle_timeout",
            "too_many_errors",
            "io",
        ] {
            m.tcp_errors.with_label_values(&[k]);
        }
        m
    }

    /// Counts a received message.
    pub fn message(&self, t: Transport, received_at_ms: i64) {
        self.messages.with_label_values(&[t.as_str()]).inc();
        self.last_message.set(received_at_ms as f64 / 1000.0);
    }

    /// Accounts for what became of a message: rejects by reason, accepted readings, the
    /// gateway's last-seen time.
    pub fn processed(&self, p: &super::Processed, received_at_ms: i64) {
        for reason in p.reject_reasons() {
            self.rejected.with_label_values(&[reason.as_str()]).inc();
        }
        self.readings.inc_by(p.accepted as u64);
        if let Some(gw) = &p.gateway_id {
            self.gateway_last_seen
                .with_label_values(&[gw.as_str()])
                .set(received_at_ms as f64 / 1000.0);
        }
    }
}
