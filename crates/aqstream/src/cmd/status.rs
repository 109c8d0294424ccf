//! The live status line of `aqstream run`: readings per second, live sensors, alerts
//! firing and the URLs, read from the process's own Prometheus registry (so it shows
//! exactly what `/metrics` shows).

use aqstream_runtime::{MetricsRegistry, Shutdown};
use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

/// What the status line shows, from one scrape of the registry.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Snapshot {
    /// `aq_ingest_messages_total`, all transports.
    pub messages: f64,
    /// `aq_ingest_rejected_total`, all reasons.
    pub rejected: f64,
    /// Sensors with a current `aq_sensor_pm25_ugm3`.
    pub sensors: usize,
    /// `aq_alert_active` series at 1.
    pub alerts_firing: usize,
    /// `aq_worker_watermark_lag_seconds`.
    pub lag_s: Option<f64>,
}

impl Snapshot {
    /// Reads the text exposition of a registry (what `/metrics` serves).
    pub fn from_text(text: &str) -> Snapshot {
        let mut s = Snapshot::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, v)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(v) = v.parse::<f64>() else {
                continue;
            };
            let name = series.split('{').next().unwrap_or(series);
            match name {
                "aq_ingest_messages_total" => s.messages += v,
                "aq_ingest_rejected_total" => s.rejected += v,
                "aq_sensor_pm25_ugm3" => s.sensors += 1,
                "aq_alert_active" if v >= 1.0 => s.alerts_firing += 1,
                "aq_worker_watermark_lag_seconds" => s.lag_s = Some(v),
                _ => {}
            }
        }
        s
    }

    /// The line, given the previous snapshot `dt` ago.
    pub fn render(&self, prev: &Snapshot, dt: Duration, urls: &str) -> String {
        let rate = (self.messages - prev.messages).max(0.0) / dt.as_secs_f64().max(1e-3);
        let lag = self
            .lag_s
            .map_or_else(|| "-".to_string(), |l| format!("{l:.0} s"));
        format!(
            "{rate:>7.0} readings/s | {} sensors live | {} alerts firing | {} rejected | lag {lag} | {urls}",
            self.sensors, self.alerts_firing, self.rejected as u64
        )
    }
}

/// Prints the status every two seconds on a terminal (rewriting one line), every
/// minute as a log line otherwise.
#[derive(Debug)]
pub struct StatusLine {
    metrics: MetricsRegistry,
    urls: String,
}

impl StatusLine {
    /// A status line over `metrics`.
    pub fn new(metrics: MetricsRegistry, urls: String) -> StatusLine {
        StatusLine { metrics, urls }
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: Shutdown) {
        let tty = std::io::stderr().is_terminal();
        let every = if tty {
            Duration::from_secs(2)
        } else {
            Duration::from_secs(60)
        };
        let mut prev = Snapshot::from_text(&self.metrics.render());
        let mut at = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.cancelled() => break,
            }
            let now = Snapshot::from_text(&self.metrics.render());
            let line = now.render(&prev, at.elapsed(), &self.urls);
            if tty {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{line}");
                let _ = err.flush();
            } else {
                tracing::info!("{line}");
            }
            prev = now;
            at = Instant::now();
        }
        if tty {
            let _ = writeln!(std::io::stderr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{GaugeVec, IntCounterVec, Opts};

    #[test]
    fn the_snapshot_reads_the_contract_metrics() {
        let reg = MetricsRegistry::new();
        let msgs = reg.register(
            &IntCounterVec::new(Opts::new("aq_ingest_messages_total", "m"), &["transport"])
                .unwrap(),
        );
        msgs.with_label_values(&["mqtt"]).inc_by(90);
        msgs.with_label_values(&["hj212_tcp"]).inc_by(10);
        let pm = reg.register(
            &GaugeVec::new(
                Opts::new("aq_sensor_pm25_ugm3", "p"),
                &["sensor_id", "district"],
            )
            .unwrap(),
        );
        pm.with_label_values(&["a", "d"]).set(10.0);
        pm.with_label_values(&["b", "d"]).set(12.0);
        let active =
            reg.register(&GaugeVec::new(Opts::new("aq_alert_active", "a"), &["alert_id"]).unwrap());
        active.with_label_values(&["x"]).set(1.0);
        active.with_label_values(&["y"]).set(0.0);
        let s = Snapshot::from_text(&reg.render());
        assert_eq!(s.messages, 100.0);
        assert_eq!(s.sensors, 2);
        assert_eq!(s.alerts_firing, 1);
        let prev = Snapshot {
            messages: 40.0,
            ..Snapshot::default()
        };
        let line = s.render(&prev, Duration::from_secs(2), "http://x/");
        assert!(line.contains("30 readings/s"), "{line}");
        assert!(line.contains("2 sensors live | 1 alerts firing"), "{line}");
    }
}
