//! Why an input message could not become a reading.
//!
//! Every reject carries a [`RejectReason`] — a stable snake_case name used in the
//! dead-letter headers (`reason`) and the `aq_ingest_rejected_total{reason}` label — and a
//! human-readable detail that names the field or byte at fault.

use std::fmt;

/// The stable, low-cardinality reason a message was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Not well-formed JSON, or JSON of the wrong shape (not an object / array).
    BadJson,
    /// Not UTF-8 text where text is required.
    BadEncoding,
    /// An HJ 212 frame without the `##`/length/CRC/CRLF structure.
    BadFrame,
    /// The HJ 212 length field does not match the data segment.
    BadLength,
    /// The HJ 212 CRC does not match the data segment.
    BadCrc,
    /// A field has the wrong type or a non-numeric value.
    BadValue,
    /// A timestamp that is not a valid date-time.
    BadTimestamp,
    /// A required field is absent.
    MissingField,
    /// The same field or factor appears twice.
    DuplicateField,
    /// No measurement at all (every value null or absent).
    NoMeasurement,
    /// The payload's `sensor_id` differs from the one in the MQTT topic.
    SensorMismatch,
    /// The sensor is not in the registry.
    UnknownSensor,
    /// The sensor belongs to another gateway than the one that sent it.
    GatewayMismatch,
    /// The event time is more than the allowed skew in the future.
    FutureTimestamp,
    /// A value outside what the quantity can physically be.
    OutOfRange,
    /// A well-formed HJ 212 frame that is not an air-quality data upload.
    UnsupportedFrame,
    /// The message exceeds the size limit.
    Oversize,
    /// The MQTT topic does not follow `aq/v1/{gateway_id}/…`.
    BadTopic,
}

impl RejectReason {
    /// Every reason, for metric pre-registration and documentation.
    pub const ALL: [RejectReason; 18] = [
        RejectReason::BadJson,
        RejectReason::BadEncoding,
        RejectReason::BadFrame,
        RejectReason::BadLength,
        RejectReason::BadCrc,
        RejectReason::BadValue,
        RejectReason::BadTimestamp,
        RejectReason::MissingField,
        RejectReason::DuplicateField,
        RejectReason::NoMeasurement,
        RejectReason::SensorMismatch,
        RejectReason::UnknownSensor,
        RejectReason::GatewayMismatch,
        RejectReason::FutureTimestamp,
        RejectReason::OutOfRange,
        RejectReason::UnsupportedFrame,
        RejectReason::Oversize,
        RejectReason::BadTopic,
    ];

    /// The stable snake_case name (DLQ header, metric label).
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::BadJson => "bad_json",
            RejectReason::BadEncoding => "bad_encoding",
            RejectReason::BadFrame => "bad_frame",
            RejectReason::BadLength => "bad_length",
            RejectReason::BadCrc => "bad_crc",
            RejectReason::BadValue => "bad_value",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::MissingField => "missing_field",
            RejectReason::DuplicateField => "duplicate_field",
            RejectReason::NoMeasurement => "no_measurement",
            RejectReason::SensorMismatch => "sensor_mismatch",
            RejectReason::UnknownSensor => "unknown_sensor",
            RejectReason::GatewayMismatch => "gateway_mismatch",
            RejectReason::FutureTimestamp => "future_timestamp",
            RejectReason::OutOfRange => "out_of_range",
            RejectReason::UnsupportedFrame => "unsupported_frame",
            RejectReason::Oversize => "oversize",
            RejectReason::BadTopic => "bad_topic",
        }
    }

    /// The reason with this name, if any.
    pub fn from_name(name: &str) -> Option<RejectReason> {
        RejectReason::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected input: the reason and a detail message naming what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Reject {
    /// The stable reason.
    pub reason: RejectReason,
    /// What exactly was wrong, for people (field names, positions, values).
    pub detail: String,
}

impl Reject {
    /// A reject with a reason and a detail message.
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Reject {
        Reject {
            reason,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for r in RejectReason::ALL {
            let n = r.as_str();
            assert!(
                n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{n}"
            );
            assert!(seen.insert(n), "duplicate {n}");
            assert_eq!(RejectReason::from_name(n), Some(r));
        }
        assert_eq!(RejectReason::from_name("nope"), None);
        let e = Reject::new(RejectReason::BadCrc, "expected 2F80, found 802F");
        assert_eq!(e.to_string(), "bad_crc: expected 2F80, found 802F");
    }
}
