//! The protocol side of ingest, free of I/O: from a received message (its topic or
//! connection, its bytes, the receive time) to the records to append — canonical
//! readings for `aq.readings.v1` and dead letters for `aq.readings.dlq.v1`.

use super::topic::{self, TopicKind};
use crate::log::topics;
use aqstream_core::hj212::{self, Frame, Hj212Codec};
use aqstream_core::json::{self, DecodeMode, EncodeStyle};
use aqstream_core::time::{EpochMillis, format_rfc3339};
use aqstream_core::validate::{ValidationPolicy, Validator};
use aqstream_core::{Reading, Reject, RejectReason, SensorRegistry};
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::Arc;

/// Size limits of ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest accepted message (MQTT payload or HJ 212 line), in bytes; larger ones are
    /// dead-lettered with reason `oversize`.
    pub max_payload_bytes: usize,
    /// At most this many bytes of a rejected message are kept in its dead letter (the
    /// `original_size` header then tells the full size).
    pub max_dead_letter_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: 256 * 1024,
            max_dead_letter_bytes: 64 * 1024,
        }
    }
}

/// One record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// `aq.readings.v1` or `aq.readings.dlq.v1`.
    pub topic: &'static str,
    /// Partitioning key: the `sensor_id` of a reading, the gateway of a dead letter.
    pub key: String,
    /// Canonical JSON of a reading, or the raw bytes of a rejected message.
    pub payload: Vec<u8>,
    /// Headers (dead letters only): `reason`, `topic`, `gateway_id`, `received_at`,
    /// `detail`, and sometimes `original_size` or `peer`.
    pub headers: Vec<(&'static str, Vec<u8>)>,
    /// The reject reason of a dead letter.
    pub reason: Option<RejectReason>,
}

impl Output {
    /// Is this a dead letter?
    pub fn is_dead_letter(&self) -> bool {
        self.reason.is_some()
    }
}

/// Where a message came from, for the dead-letter headers.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The MQTT topic, or a pseudo-topic of the TCP listener (`hj212-tcp`).
    pub topic: &'a str,
    /// The gateway the message is attributed to (empty if unknown).
    pub gateway_id: &'a str,
    /// The peer address of a TCP terminal.
    pub peer: Option<&'a str>,
    /// When it was received (epoch ms, wall clock).
    pub received_at: EpochMillis,
}

/// What became of one message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Processed {
    /// Records to append, readings and dead letters in message order.
    pub outputs: Vec<Output>,
    /// How many readings were accepted.
    pub accepted: usize,
    /// The registered gateway the message came from, if any (for last-seen times).
    pub gateway_id: Option<String>,
}

impl Processed {
    /// The reject reasons of the dead letters, in order.
    pub fn reject_reasons(&self) -> impl Iterator<Item = RejectReason> + '_ {
        self.outputs.iter().filter_map(|o| o.reason)
    }
}

/// Decodes and validates messages against the registry. Shared by every connection
/// (`Arc`), no interior mutability.
#[derive(Debug)]
pub struct Pipeline {
    registry: Arc<SensorRegistry>,
    gateways: HashSet<String>,
    policy: ValidationPolicy,
    codec: Hj212Codec,
    limits: Limits,
}

impl Pipeline {
    /// A pipeline over `registry`.
    pub fn new(
        registry: Arc<SensorRegistry>,
        policy: ValidationPolicy,
        codec: Hj212Codec,
        limits: Limits,
    ) -> Pipeline {
        let gateways = registry
            .sensors()
            .iter()
            .map(|s| s.gateway_id.clone())
            .collect();
        Pipeline {
            registry,
            gateways,
            policy,
            codec,
            limits,
        }
    }

    /// The registry in force.
    pub fn registry(&self) -> &SensorRegistry {
        &self.registry
    }

    /// The size limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn validator(&self) -> Validator<'_> {
        Validator::new(&self.registry, self.policy.clone())
    }

    /// A dead letter of `raw` (truncated to the limit) for `reject`.
    pub fn dead_letter(&self, raw: &[u8], reject: &Reject, origin: &Origin<'_>) -> Output {
        let keep = raw.len().min(self.limits.max_dead_letter_bytes);
        let mut headers: Vec<(&'static str, Vec<u8>)> = vec![
            ("reason", reject.reason.as_str().as_bytes().to_vec()),
            ("topic", origin.topic.as_bytes().to_vec()),
            ("gateway_id", origin.gateway_id.as_bytes().to_vec()),
            (
                "received_at",
                format_rfc3339(origin.received_at).into_bytes(),
            ),
            ("detail", reject.detail.as_bytes().to_vec()),
        ];
        if keep < raw.len() {
            headers.push(("original_size", raw.len().to_string().into_bytes()));
        }
        if let Some(peer) = origin.peer {
            headers.push(("peer", peer.as_bytes().to_vec()));
        }
        Output {
            topic: topics::DLQ,
            key: origin.gateway_id.to_string(),
            payload: raw[..keep].to_vec(),
            headers,
            reason: Some(reject.reason),
        }
    }

    fn reading(r: &Reading) -> Output {
        let mut s = String::with_capacity(256);
        json::encode_into(&mut s, r, EncodeStyle::Canonical);
        Output {
            topic: topics::READINGS,
            key: r.sensor_id.clone(),
            payload: s.into_bytes(),
            headers: Vec::new(),
            reason: None,
        }
    }

    /// Validates a decoded reading and appends the reading or its dead letter.
    fn admit(
        &self,
        decoded: Result<Reading, Reject>,
        raw: &[u8],
        origin: &Origin<'_>,
        out: &mut Processed,
    ) {
        let checked = decoded.and_then(|r| {
            self.validator()
                .validate(r, origin.gateway_id, origin.received_at)
        });
        match checked {
            Ok(r) => {
                out.accepted += 1;
                out.outputs.push(Self::reading(&r));
            }
            Err(e) => out.outputs.push(self.dead_letter(raw, &e, origin)),
        }
    }

    fn known_gateway(&self, gateway_id: &str) -> Option<String> {
        self.gateways
            .contains(gateway_id)
            .then(|| gateway_id.to_string())
    }

    /// Processes one MQTT message received on `topic` at `received_at`.
    pub fn mqtt_message(&self, topic: &str, payload: &[u8], received_at: EpochMillis) -> Processed {
        let mut out = Processed::default();
        let mut origin = Origin {
            topic,
            gateway_id: topic::claimed_gateway(topic),
            peer: None,
            received_at,
        };
        let kind = match topic::parse(topic) {
            Ok(k) => k,
            Err(e) => {
                out.outputs.push(self.dead_letter(payload, &e, &origin));
                return out;
            }
        };
        origin.gateway_id = kind.gateway_id();
        out.gateway_id = self.known_gateway(origin.gateway_id);
        if payload.len() > self.limits.max_payload_bytes {
            let e = Reject::new(
                RejectReason::Oversize,
                format!(
                    "payload of {} bytes exceeds the limit of {}",
                    payload.len(),
                    self.limits.max_payload_bytes
                ),
            );
            out.outputs.push(self.dead_letter(payload, &e, &origin));
            return out;
        }
        match kind {
            TopicKind::Single { sensor_id, .. } => {
                let decoded = json::decode_one(payload, DecodeMode::Gateway).and_then(|r| {
                    if r.sensor_id == sensor_id {
                        Ok(r)
                    } else {
                        Err(Reject::new(
                            RejectReason::SensorMismatch,
                            format!(
                                "payload sensor_id `{}` differs from the topic's `{sensor_id}`",
                                r.sensor_id
                            ),
                        ))
                    }
                });
                self.admit(decoded, payload, &origin, &mut out);
            }
            TopicKind::Batch { .. } => match json::decode_payload(payload, DecodeMode::Gateway) {
                Ok(items) => {
                    for d in items {
                        self.admit(d.result, &payload[d.span], &origin, &mut out);
                    }
                }
                Err(e) => out.outputs.push(self.dead_letter(payload, &e, &origin)),
            },
            TopicKind::Hj212 { gateway_id } => {
                let mut frames = 0;
                for (_, line) in hj212::lines(payload) {
                    frames += 1;
                    self.hj212_into(line, &origin, |_| Ok(gateway_id.to_string()), &mut out);
                }
                if frames == 0 {
                    let e = Reject::new(RejectReason::BadFrame, "payload holds no HJ 212 frame");
                    out.outputs.push(self.dead_letter(payload, &e, &origin));
                }
            }
        }
        out
    }

    /// Processes one HJ 212 line from a TCP terminal. `authenticate` names the gateway
    /// the frame is delivered by (or rejects it); it sees the parsed frame (`MN`, `PW`).
    /// Returns what became of the frame and the reply the terminal asked for, if any.
    pub fn hj212_line(
        &self,
        line: &[u8],
        origin: &Origin<'_>,
        authenticate: impl FnOnce(&Frame<'_>) -> Result<String, Reject>,
    ) -> (Processed, Option<String>) {
        let mut out = Processed::default();
        if line.len() > self.limits.max_payload_bytes {
            let e = Reject::new(
                RejectReason::Oversize,
                format!(
                    "frame of {} bytes exceeds the limit of {}",
                    line.len(),
                    self.limits.max_payload_bytes
                ),
            );
            out.outputs.push(self.dead_letter(line, &e, origin));
            return (out, None);
        }
        let reply = self.hj212_into(line, origin, authenticate, &mut out);
        (out, reply)
    }

    /// Parses, authenticates, decodes and validates one frame into `out`; returns the
    /// reply the frame asks for.
    fn hj212_into(
        &self,
        line: &[u8],
        origin: &Origin<'_>,
        authenticate: impl FnOnce(&Frame<'_>) -> Result<String, Reject>,
        out: &mut Processed,
    ) -> Option<String> {
        let frame = match hj212::parse_frame(line) {
            Ok(f) => f,
            Err(e) => {
                out.outputs.push(self.dead_letter(line, &e, origin));
                return None;
            }
        };
        let reply = hj212::reply_for(&frame);
        match authenticate(&frame) {
            Ok(gateway_id) => {
                let origin = Origin {
                    gateway_id: &gateway_id,
                    ..*origin
                };
                if out.gateway_id.is_none() {
                    out.gateway_id = self.known_gateway(&gateway_id);
                }
                let decoded = self.codec.reading_of(&frame);
                self.admit(decoded, line, &origin, out);
            }
            Err(e) => out.outputs.push(self.dead_letter(line, &e, origin)),
        }
        reply
    }
}
