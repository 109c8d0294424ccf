//! The internal topic `aq.internal.sensor-minutes.v1`: stage 1's messages to stage 2
//! on the wire (one partition, so exactly one consumer — the active stage 2 — reads
//! them in order).
//!
//! ```text
//! version u8 = 1 | kind u8 | partition i32 | partitions i32 | seq u64 | body
//! kind 1 Minute:    sensor str | minute_start i64 | revision i32 | excluded u8 |
//!                   12 × optional f64 (10 means, wind x, wind y)
//! kind 2 Watermark: watermark i64
//! kind 3 Idle:      idle u8            (not sequenced: seq is the last one sent)
//! ```
//!
//! Record key: `p<partition>`. Floats travel as their bits, so stage 2 sees exactly the
//! values stage 1 computed.

use crate::city::{CityInput, MinuteUpdate, Sequenced};
use crate::codec::{Dec, Enc};
use crate::error::{Result, StreamError};
use crate::partial::MinuteValues;
use std::sync::Arc;

/// The internal topic.
pub const TOPIC: &str = "aq.internal.sensor-minutes.v1";

/// A message on the internal topic.
// Nearly every message is an input; boxing it would add an allocation to each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Wire {
    /// A sequenced message of stage 1.
    Input {
        /// Partitions of `aq.readings.v1` (stage 2 waits for all of them).
        partitions: i32,
        /// The message.
        msg: Sequenced,
    },
    /// A partition became idle (or active again).
    Idle {
        /// Partitions of `aq.readings.v1`.
        partitions: i32,
        /// The partition.
        partition: i32,
        /// Idle or active.
        idle: bool,
    },
}

impl Wire {
    /// The record key.
    pub fn key(&self) -> String {
        let p = match self {
            Wire::Input { msg, .. } => msg.partition,
            Wire::Idle { partition, .. } => *partition,
        };
        format!("p{p}")
    }

    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::new();
        e.u8(1);
        match self {
            Wire::Input { partitions, msg } => {
                e.u8(match msg.input {
                    CityInput::Minute(_) => 1,
                    CityInput::Watermark(_) => 2,
                });
                e.i32(msg.partition);
                e.i32(*partitions);
                e.u64(msg.seq);
                match &msg.input {
                    CityInput::Minute(m) => {
                        e.str(&m.sensor_id);
                        e.i64(m.minute_start);
                        e.i32(m.revision);
                        e.bool(m.excluded);
                        for k in 0..MinuteValues::SLOTS {
                            e.opt_f64(m.values.slot(k));
                        }
                    }
                    CityInput::Watermark(w) => e.i64(*w),
                }
            }
            Wire::Idle {
                partitions,
                partition,
                idle,
            } => {
                e.u8(3);
                e.i32(*partition);
                e.i32(*partitions);
                e.u64(0);
                e.bool(*idle);
            }
        }
        e.buf
    }

    /// Decodes a message.
    pub fn decode(b: &[u8]) -> Result<Wire> {
        const WHAT: &str = "internal message";
        let mut d = Dec::new(b, WHAT);
        if d.u8()? != 1 {
            return Err(StreamError::corrupt(WHAT, "unknown version"));
        }
        let kind = d.u8()?;
        let partition = d.i32()?;
        let partitions = d.i32()?;
        let seq = d.u64()?;
        let w = match kind {
            1 => {
                let sensor_id: Arc<str> = Arc::from(d.str()?);
                let minute_start = d.i64()?;
                let revision = d.i32()?;
                let excluded = d.bool()?;
                let mut values = MinuteValues::default();
                for k in 0..MinuteValues::SLOTS {
                    values.set_slot(k, d.opt_f64()?);
                }
                Wire::Input {
                    partitions,
                    msg: Sequenced {
                        partition,
                        seq,
                        input: CityInput::Minute(MinuteUpdate {
                            sensor_id,
                            minute_start,
                            revision,
                            excluded,
                            values,
                        }),
                    },
                }
            }
            2 => Wire::Input {
                partitions,
                msg: Sequenced {
                    partition,
                    seq,
                    input: CityInput::Watermark(d.i64()?),
                },
            },
            3 => Wire::Idle {
                partitions,
                partition,
                idle: d.bool()?,
            },
            k => return Err(StreamError::corrupt(WHAT, format!("unknown kind {k}"))),
        };
        if d.remaining() != 0 {
            return Err(StreamError::corrupt(WHAT, "trailing bytes"));
        }
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partial::NS;

    #[test]
    fn messages_round_trip_bit_for_bit() {
        let mut values = MinuteValues::default();
        values.set_slot(0, Some(0.1 + 0.2));
        values.set_slot(9, Some(f64::MIN_POSITIVE));
        values.set_slot(NS, Some(-1.5));
        values.set_slot(NS + 1, Some(2.0));
        let msgs = [
            Wire::Input {
                partitions: 6,
                msg: Sequenced {
                    partition: 3,
                    seq: 42,
                    input: CityInput::Minute(MinuteUpdate {
                        sensor_id: "TZ-0001".into(),
                        minute_start: 1_795_334_400_000,
                        revision: 2,
                        excluded: true,
                        values,
                    }),
                },
            },
            Wire::Input {
                partitions: 6,
                msg: Sequenced {
                    partition: 0,
                    seq: 7,
                    input: CityInput::Watermark(-5),
                },
            },
            Wire::Idle {
                partitions: 6,
                partition: 5,
                idle: true,
            },
        ];
        for m in msgs {
            let b = m.encode();
            assert_eq!(Wire::decode(&b).unwrap(), m);
            assert!(Wire::decode(&b[..b.len() - 1]).is_err());
        }
        assert_eq!(
            Wire::Idle {
                partitions: 1,
                partition: 4,
                idle: false
            }
            .key(),
            "p4"
        );
    }
}
