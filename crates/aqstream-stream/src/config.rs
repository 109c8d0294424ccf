//! Configuration of the stream engine (`[stream]` and `[stream.qa]` in the TOML file).

use aqstream_core::time::{HOUR_MS, MINUTE_MS};
use serde::Deserialize;

/// Event time, windows, checkpoints and the worker loop.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// How long after a window's end (in event time, measured by the watermark) late
    /// readings still correct it in memory (revision 1, 2, …). Later readings are not
    /// dropped: they are recomputed from the history. Seconds.
    pub allowed_lateness_s: u64,
    /// Bounded out-of-orderness: the partition watermark trails the robust event-time
    /// frontier of its sensors by this much. Seconds.
    pub out_of_orderness_s: u64,
    /// Which quantile of the sensors' latest event times is the partition's frontier
    /// (0.5 = median: a minority of sensors with fast clocks cannot move it).
    pub watermark_quantile: f64,
    /// A sensor whose latest event time is this far behind the newest sensors no longer
    /// holds the frontier back (it went offline). Seconds.
    pub inactive_sensor_s: u64,
    /// A sensor whose latest event time is this far ahead of the frontier is flagged
    /// `fast_clock` and left out of district aggregates and detection. Seconds.
    pub fast_clock_s: u64,
    /// A partition without records for this long (processing time) is idle: it no
    /// longer holds the stream's watermark back (like Flink's idleness). Seconds.
    pub idle_timeout_s: u64,
    /// How often the worker checkpoints state and offsets and publishes its history
    /// files (processing time). Seconds.
    pub checkpoint_interval_s: u64,
    /// Stuck consumer group: when partitions this worker does not own have unread
    /// records and their committed offsets have not moved for this long, the worker
    /// leaves the group and joins it again as a new member, which makes the group
    /// hand its partitions out anew. A broker can leave partitions assigned to a
    /// member that is gone (Tansu 0.6 does when a new member's SyncGroup arrives just
    /// after the old leader's session expired); other members then sit idle forever.
    /// On a quiet stream, a partition whose lease (renewed by its owner in the shared
    /// state directory a few times per timeout) and committed offset have not moved
    /// for this long counts the same. Offsets are committed at checkpoints, so at least three checkpoint intervals
    /// are waited; after a rejoin without progress the wait doubles (up to eight
    /// times), so a slow broker gets time to complete the join. Seconds; 0 turns the
    /// check off.
    pub group_stall_timeout_s: u64,
    /// Readings of one partition aggregated at most in one DataFusion run; a segment
    /// that grows past this (a stalled watermark) is aggregated early.
    pub max_segment_rows: usize,
    /// Records asked for in one poll of the log.
    pub poll_max_records: usize,
    /// How long one poll waits for the first record. Milliseconds.
    pub poll_timeout_ms: u64,
    /// `replay`: accepted readings per history epoch (one set of Parquet files each).
    pub replay_epoch_readings: usize,
    /// Consumer group of stage 1 on `aq.readings.v1`.
    pub group: String,
    /// Consumer group under which stage 2 commits its offsets of
    /// `aq.internal.sensor-minutes.v1` (it reads the topic's one partition directly, on
    /// the worker that owns partition 0 of `aq.readings.v1`; the offsets inform lag tools).
    pub stage2_group: String,
    /// Event time the detector's input journal covers, for checkpoints of stage 2
    /// (a restored detector is rebuilt from it). Minutes; 0 turns the journal off.
    pub detector_memory_min: u32,
    /// Sensor quality assurance.
    pub qa: QaConfig,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            allowed_lateness_s: 300,
            out_of_orderness_s: 60,
            watermark_quantile: 0.5,
            inactive_sensor_s: 3600,
            fast_clock_s: 120,
            idle_timeout_s: 30,
            checkpoint_interval_s: 10,
            group_stall_timeout_s: 60,
            max_segment_rows: 500_000,
            poll_max_records: 5_000,
            poll_timeout_ms: 200,
            replay_epoch_readings: 100_000,
            group: "aqstream-worker".into(),
            stage2_group: "aqstream-stage2".into(),
            detector_memory_min: 240,
            qa: QaConfig::default(),
        }
    }
}

impl StreamConfig {
    /// Allowed lateness in milliseconds.
    pub fn lateness_ms(&self) -> i64 {
        secs(self.allowed_lateness_s)
    }

    /// How long unread partitions of others may go without progress before the worker
    /// rejoins its group ([`StreamConfig::group_stall_timeout_s`], at least three
    /// checkpoint intervals); `None` when the check is off.
    pub fn group_stall_timeout(&self) -> Option<std::time::Duration> {
        (self.group_stall_timeout_s > 0).then(|| {
            std::time::Duration::from_secs(
                self.group_stall_timeout_s
                    .max(3 * self.checkpoint_interval_s.max(1)),
            )
        })
    }

    /// Out-of-orderness in milliseconds.
    pub fn ooo_ms(&self) -> i64 {
        secs(self.out_of_orderness_s)
    }

    /// Checks the values that would make the engine misbehave.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.watermark_quantile) {
            return Err(format!(
                "stream.watermark_quantile must be in [0, 1), not {}",
                self.watermark_quantile
            ));
        }
        if self.allowed_lateness_s > 7 * 24 * 3600 {
            return Err("stream.allowed_lateness_s above a week keeps too much state".into());
        }
        if self.max_segment_rows == 0 || self.poll_max_records == 0 {
            return Err("stream.max_segment_rows and poll_max_records must be > 0".into());
        }
        if self.replay_epoch_readings == 0 {
            return Err("stream.replay_epoch_readings must be > 0".into());
        }
        self.qa.validate()
    }
}

/// Sensor quality assurance.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QaConfig {
    /// A pollutant value unchanged (bit for bit) for this long is `stuck_value`.
    /// Seconds.
    pub stuck_after_s: u64,
    /// A per-reading problem (sentinel, out of range) is cleared after this long without
    /// it. Seconds.
    pub problem_clear_s: u64,
    /// Neighbours for the drift check are other pollutant sensors within this radius.
    /// Metres.
    pub drift_radius_m: f64,
    /// At most this many nearest neighbours are compared.
    pub drift_neighbours: usize,
    /// A sensor-minute is compared only when this many neighbours have a value.
    pub drift_min_neighbours: usize,
    /// The recent mean difference to the neighbours' median is taken over this many
    /// hours.
    pub drift_window_h: usize,
    /// The sensor's usual difference (baseline) is the median hourly difference over
    /// this many hours before the recent window.
    pub drift_baseline_h: usize,
    /// Drift when the recent difference departs from the baseline by more than this
    /// (µg/m³ of PM2.5) …
    pub drift_abs_ugm3: f64,
    /// … and by more than this fraction of the neighbours' level.
    pub drift_rel: f64,
}

impl Default for QaConfig {
    fn default() -> Self {
        QaConfig {
            stuck_after_s: 3 * 3600,
            problem_clear_s: 600,
            drift_radius_m: 5_000.0,
            drift_neighbours: 8,
            drift_min_neighbours: 3,
            drift_window_h: 3,
            drift_baseline_h: 24,
            drift_abs_ugm3: 25.0,
            drift_rel: 0.3,
        }
    }
}

impl QaConfig {
    /// Stuck threshold in milliseconds.
    pub fn stuck_after_ms(&self) -> i64 {
        secs(self.stuck_after_s)
    }

    /// Problem clearing delay in milliseconds.
    pub fn problem_clear_ms(&self) -> i64 {
        secs(self.problem_clear_s)
    }

    fn validate(&self) -> Result<(), String> {
        if self.drift_window_h == 0 || self.drift_window_h > 24 {
            return Err("stream.qa.drift_window_h must be in 1..=24".into());
        }
        if self.drift_baseline_h > 24 * 7 {
            return Err("stream.qa.drift_baseline_h must be at most a week".into());
        }
        if self.drift_radius_m.is_nan() || self.drift_radius_m <= 0.0 {
            return Err("stream.qa.drift_radius_m must be positive".into());
        }
        Ok(())
    }
}

fn secs(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX / 1000) * 1000
}

/// One minute, for readability of window arithmetic.
pub(crate) const MIN: i64 = MINUTE_MS;
/// One hour.
pub(crate) const HOUR: i64 = HOUR_MS;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_strict_keys() {
        let c = StreamConfig::default();
        assert!(c.validate().is_ok());
        assert_eq!(c.lateness_ms(), 5 * MIN);
        let parsed: StreamConfig =
            toml::from_str("allowed_lateness_s = 120\n[qa]\nstuck_after_s = 60\n").unwrap();
        assert_eq!(parsed.lateness_ms(), 2 * MIN);
        assert_eq!(parsed.qa.stuck_after_ms(), MIN);
        assert_eq!(parsed.out_of_orderness_s, 60);
        assert!(toml::from_str::<StreamConfig>("lateness = 1\n").is_err());
        let bad = StreamConfig {
            watermark_quantile: 1.5,
            ..StreamConfig::default()
        };
        assert!(bad.validate().is_err());
        assert_eq!(HOUR, 60 * MIN);
    }
}
