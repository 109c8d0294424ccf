//! What stage 1 hands to stage 2: closed sensor-minutes and partition watermarks, in
//! order and numbered per partition.
//!
//! Stage 1 is deterministic: the same records from the same checkpoint produce the same
//! sequence, so when a restarted (or a zombie) stage 1 re-sends messages, stage 2
//! recognises them by their per-partition sequence number and applies each once.

use crate::partial::MinuteValues;
use aqstream_core::time::EpochMillis;
use std::sync::Arc;

/// A sensor-minute as stage 1 closed (revision 0) or corrected it.
#[derive(Debug, Clone, PartialEq)]
pub struct MinuteUpdate {
    /// The sensor.
    pub sensor_id: Arc<str>,
    /// Start of the minute.
    pub minute_start: EpochMillis,
    /// Revision of the sensor's 1-minute window.
    pub revision: i32,
    /// Stage 1's QA wants the minute left out of district aggregates and detection
    /// (fast clock).
    pub excluded: bool,
    /// The valid means.
    pub values: MinuteValues,
}

/// One message from stage 1 to stage 2.
// Nearly every message is a minute; boxing it would add an allocation to each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum CityInput {
    /// A closed or corrected sensor-minute.
    Minute(MinuteUpdate),
    /// The partition's watermark advanced to this event time.
    Watermark(EpochMillis),
}

/// A message with its per-partition sequence number (1, 2, …).
#[derive(Debug, Clone, PartialEq)]
pub struct Sequenced {
    /// Partition of `aq.readings.v1` that produced it.
    pub partition: i32,
    /// Position in the partition's stream of messages.
    pub seq: u64,
    /// The message.
    pub input: CityInput,
}
