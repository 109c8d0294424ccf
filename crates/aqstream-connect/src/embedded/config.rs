//! Configuration of the embedded log.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Settings of an [`EmbeddedLog`](super::EmbeddedLog).
///
/// In TOML, durations are strings with a unit (`"5ms"`, `"250us"`, `"30s"`, `"15m"`,
/// `"6h"`, `"7d"`) or integers of milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedLogConfig {
    /// Directory holding topics, segments and group offsets (created if missing). One
    /// process at a time may open it.
    pub dir: PathBuf,
    /// Longest time the writer keeps collecting appends into one batch before it writes
    /// and fsyncs them. The writer also syncs as soon as no append is waiting, so under
    /// light load a send costs one fsync, and under heavy load many sends share one.
    #[serde(deserialize_with = "duration::deserialize")]
    pub fsync_interval: Duration,
    /// Largest number of appends in one batch (one fsync per touched partition covers
    /// them all).
    pub max_batch_records: usize,
    /// A partition's active segment file is closed and a new one started once it would
    /// grow beyond this many bytes. Retention deletes whole segments.
    pub segment_bytes: u64,
    /// Partition count the one-box wiring uses when it creates the contract topics
    /// ([`EmbeddedLog::ensure_contract_topics`](super::EmbeddedLog::ensure_contract_topics)).
    /// The log never creates a topic implicitly: like Kafka, sending to a topic that was
    /// not created is an error.
    pub default_partitions: i32,
    /// Sealed segments whose last write is older than this are deleted (the active
    /// segment of a partition never is). Absent: keep everything.
    #[serde(deserialize_with = "duration::deserialize_opt")]
    pub retention: Option<Duration>,
    /// Largest encoded record (key + headers + payload) accepted by `send`; larger ones
    /// are a permanent error.
    pub max_record_bytes: usize,
}

impl Default for EmbeddedLogConfig {
    fn default() -> Self {
        EmbeddedLogConfig {
            dir: PathBuf::from("aqstream-data/log"),
            fsync_interval: Duration::from_millis(5),
            max_batch_records: 4096,
            segment_bytes: 64 << 20,
            default_partitions: 3,
            retention: Some(Duration::from_secs(7 * 24 * 3600)),
            max_record_bytes: 1 << 20,
        }
    }
}

impl EmbeddedLogConfig {
    /// The defaults with `dir` as the log directory.
    pub fn in_dir(dir: impl Into<PathBuf>) -> EmbeddedLogConfig {
        EmbeddedLogConfig {
            dir: dir.into(),
            ..EmbeddedLogConfig::default()
        }
    }
}

/// Human-readable durations for serde.
mod duration {
    use serde::de::{self, Deserializer, Visitor};
    use std::fmt;
    use std::time::Duration;

    /// Parses `"<integer><unit>"` with unit `us`, `ms`, `s`, `m`, `h` or `d`.
    pub(super) fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("duration {text:?} has no unit (us, ms, s, m, h, d)"))?;
        let (digits, unit) = text.split_at(split);
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("duration {text:?} does not start with an integer"))?;
        let secs = |mult: u64| {
            n.checked_mul(mult)
                .map(Duration::from_secs)
                .ok_or_else(|| format!("duration {text:?} is too large"))
        };
        match unit.trim() {
            "us" | "µs" => Ok(Duration::from_micros(n)),
            "ms" => Ok(Duration::from_millis(n)),
            "s" => secs(1),
            "m" | "min" => secs(60),
            "h" => secs(3600),
            "d" => secs(86_400),
            other => Err(format!(
                "duration {text:?}: unknown unit {other:?} (us, ms, s, m, h, d)"
            )),
        }
    }

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a duration like \"5ms\" or \"7d\", or an integer of milliseconds")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            Ok(Duration::from_millis(v))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            u64::try_from(v)
                .map(Duration::from_millis)
                .map_err(|_| E::custom("a duration cannot be negative"))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse(v).map_err(E::custom)
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor)
    }

    pub(super) fn deserialize_opt<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        d.deserialize_any(DurationVisitor).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_with_units() {
        assert_eq!(duration::parse("5ms"), Ok(Duration::from_millis(5)));
        assert_eq!(duration::parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(duration::parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration::parse("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(duration::parse("7d"), Ok(Duration::from_secs(604_800)));
        assert!(duration::parse("5").is_err());
        assert!(duration::parse("5 weeks").is_err());
        assert!(duration::parse("ms").is_err());
    }
}
