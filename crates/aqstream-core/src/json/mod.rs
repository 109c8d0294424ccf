//! The JSON reading codec.
//!
//! Decodes gateway payloads (one object, or an array of objects on `…/batch` topics)
//! and the canonical Kafka value, straight into [`Reading`]s — no intermediate
//! `serde_json::Value` — with errors that name the field and the byte offset. Encodes
//! readings in the canonical form of `aq.readings.v1`.

mod lexer;

use crate::measure::{Measure, N_MEASURES};
use crate::reading::Reading;
use crate::reject::{Reject, RejectReason};
use crate::time::{parse_rfc3339, write_rfc3339};
use lexer::{Kind, Lexer, SyntaxError};
use std::fmt::Write as _;
use std::ops::Range;

/// Which fields a payload may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeMode {
    /// A field terminal's payload: only the contract's reading fields count;
    /// `gateway_id`, `received_at`, `flags` and `period_s` are set by the ingester and
    /// ignored here; `period_s` is 60.
    Gateway,
    /// The canonical Kafka value: every field, including `gateway_id`, `received_at`,
    /// `flags` and `period_s`.
    Canonical,
}

/// One element of a decoded payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Byte range of the element within the payload (the raw bytes for a dead letter).
    pub span: Range<usize>,
    /// The reading, or why the element is not one.
    pub result: Result<Reading, Reject>,
}

fn syntax(e: SyntaxError) -> Reject {
    Reject::new(
        RejectReason::BadJson,
        format!("{} at byte {}", e.message, e.at),
    )
}

/// The field a key names.
#[derive(Clone, Copy)]
enum Field {
    SensorId,
    Ts,
    Measure(Measure),
    GatewayId,
    ReceivedAt,
    PeriodS,
    Flags,
    Other,
}

fn field_of(key: &str, mode: DecodeMode) -> (Field, usize) {
    // Slot numbers for duplicate detection: 0..11 measures, then the others.
    let f = match key {
        "sensor_id" => return (Field::SensorId, N_MEASURES),
        "ts" => return (Field::Ts, N_MEASURES + 1),
        "pm25" => Measure::Pm25,
        "pm10" => Measure::Pm10,
        "no2" => Measure::No2,
        "so2" => Measure::So2,
        "o3" => Measure::O3,
        "co" => Measure::Co,
        "temp_c" => Measure::TempC,
        "rh" => Measure::Rh,
        "pressure_hpa" => Measure::PressureHpa,
        "wind_speed" => Measure::WindSpeed,
        "wind_dir" => Measure::WindDir,
        _ if mode == DecodeMode::Gateway => return (Field::Other, usize::MAX),
        "gateway_id" => return (Field::GatewayId, N_MEASURES + 2),
        "received_at" => return (Field::ReceivedAt, N_MEASURES + 3),
        "period_s" => return (Field::PeriodS, N_MEASURES + 4),
        "flags" => return (Field::Flags, N_MEASURES + 5),
        _ => return (Field::Other, usize::MAX),
    };
    (Field::Measure(f), f.index())
}

fn note(e: Reject, first: &mut Option<Reject>) {
    if first.is_none() {
        *first = Some(e);
    }
}

/// Decodes one JSON object at the lexer's position. Syntax errors abort (`Err`);
/// semantic errors (types, missing fields, timestamps) are returned inside `Ok` after
/// the whole object was consumed, so the next array element can still be read.
fn object(lx: &mut Lexer<'_>, mode: DecodeMode) -> lexer::Result<Result<Reading, Reject>> {
    lx.expect(b'{', "expected '{'")?;
    let mut r = Reading::new(String::new(), 0, 60);
    let mut seen: u32 = 0;
    let mut have_ts = false;
    let mut have_id = false;
    let mut first_err: Option<Reject> = None;
    if lx.peek() == Some(b'}') {
        lx.i += 1;
    } else {
        loop {
            let key = lx.string()?;
            lx.expect(b':', "expected ':' after a key")?;
            let (field, slot) = field_of(&key, mode);
            if slot != usize::MAX {
                if seen & (1 << slot) != 0 {
                    note(
                        Reject::new(
                            RejectReason::DuplicateField,
                            format!("field `{key}` appears twice"),
                        ),
                        &mut first_err,
                    );
                }
                seen |= 1 << slot;
            }
            let kind = lx.kind()?;
            let bad = |expected: &str| {
                Reject::new(
                    RejectReason::BadValue,
                    format!("field `{key}`: expected {expected}, found {}", kind.name()),
                )
            };
            match (field, kind) {
                (Field::Measure(m), Kind::Number) => r.set(m, Some(lx.number()?)),
                (Field::Measure(_), Kind::Null) => lx.null()?,
                (Field::Measure(_), _) => {
                    lx.skip(1)?;
                    note(bad("number or null"), &mut first_err);
                }
                (Field::SensorId, Kind::String) => {
                    let s = lx.string()?;
                    if s.is_empty() {
                        note(
                            Reject::new(RejectReason::BadValue, "field `sensor_id` is empty"),
                            &mut first_err,
                        );
                    }
                    r.sensor_id = s.into_owned();
                    have_id = true;
                }
                (Field::GatewayId, Kind::String) => r.gateway_id = lx.string()?.into_owned(),
                (Field::Ts | Field::ReceivedAt, Kind::String) => {
                    let s = lx.string()?;
                    match parse_rfc3339(&s) {
                        Ok(ms) if matches!(field, Field::Ts) => {
                            r.ts = ms;
                            have_ts = true;
                        }
                        Ok(ms) => r.received_at = Some(ms),
                        Err(e) => note(
                            Reject::new(RejectReason::BadTimestamp, format!("field `{key}`: {e}")),
                            &mut first_err,
                        ),
                    }
                }
                (Field::ReceivedAt | Field::GatewayId, Kind::Null) => lx.null()?,
                (Field::PeriodS, Kind::Number) => {
                    let v = lx.number()?;
                    if v >= 0.0 && v <= f64::from(u32::MAX) && v.fract() == 0.0 {
                        r.period_s = v as u32;
                    } else {
                        note(bad("a whole number of seconds"), &mut first_err);
                    }
                }
                (Field::Flags, Kind::Array) => {
                    lx.i += 1;
                    if lx.peek() == Some(b']') {
                        lx.i += 1;
                    } else {
                        loop {
                            if lx.kind()? == Kind::String {
                                let f = lx.string()?;
                                if !r.flags.insert_str(&f) {
                                    note(
                                        Reject::new(
                                            RejectReason::BadValue,
                                            format!("field `flags`: unknown flag `{f}`"),
                                        ),
                                        &mut first_err,
                                    );
                                }
                            } else {
                                lx.skip(1)?;
                                note(bad("array of strings"), &mut first_err);
                            }
                            match lx.peek() {
                                Some(b',') => lx.i += 1,
                                Some(b']') => {
                                    lx.i += 1;
                                    break;
                                }
                                _ => return lx.err("expected ',' or ']'"),
                            }
                        }
                    }
                }
                (Field::SensorId | Field::Ts, _) => {
                    lx.skip(1)?;
                    note(bad("string"), &mut first_err);
                }
                (Field::GatewayId | Field::ReceivedAt, _) => {
                    lx.skip(1)?;
                    note(bad("string"), &mut first_err);
                }
                (Field::PeriodS, _) => {
                    lx.skip(1)?;
                    note(bad("number"), &mut first_err);
                }
                (Field::Flags, _) => {
                    lx.skip(1)?;
                    note(bad("array of strings"), &mut first_err);
                }
                (Field::Other, _) => lx.skip(1)?,
            }
            match lx.peek() {
                Some(b',') => lx.i += 1,
                Some(b'}') => {
                    lx.i += 1;
                    break;
                }
                _ => return lx.err("expected ',' or '}'"),
            }
        }
    }
    if let Some(e) = first_err {
        return Ok(Err(e));
    }
    if !have_id {
        return Ok(Err(Reject::new(
            RejectReason::MissingField,
            "required field `sensor_id` is missing",
        )));
    }
    if !have_ts {
        return Ok(Err(Reject::new(
            RejectReason::MissingField,
            "required field `ts` is missing",
        )));
    }
    if !r.has_measurement() {
        return Ok(Err(Reject::new(
            RejectReason::NoMeasurement,
            "no measurement field has a value (pm25, pm10, no2, so2, o3, co, temp_c, rh, pressure_hpa, wind_speed, wind_dir)",
        )));
    }
    Ok(Ok(r))
}

/// Decodes a payload: one JSON object, or an array of objects. A payload that is not
/// JSON at all (or not an object/array) is one reject for the whole message; inside a
/// well-formed array each element succeeds or fails on its own.
pub fn decode_payload(bytes: &[u8], mode: DecodeMode) -> Result<Vec<Decoded>, Reject> {
    let mut lx = Lexer::new(bytes);
    let mut out = Vec::new();
    match lx.peek() {
        Some(b'{') => {
            let start = lx.i; // `peek` skipped the whitespace
            let result = object(&mut lx, mode).map_err(syntax)?;
            out.push(Decoded {
                span: start..lx.i,
                result,
            });
        }
        Some(b'[') => {
            lx.i += 1;
            if lx.peek() == Some(b']') {
                lx.i += 1;
            } else {
                loop {
                    lx.ws();
                    let start = lx.i;
                    let result = if lx.kind().map_err(syntax)? == Kind::Object {
                        object(&mut lx, mode).map_err(syntax)?
                    } else {
                        let kind = lx.kind().map_err(syntax)?;
                        lx.skip(1).map_err(syntax)?;
                        Err(Reject::new(
                            RejectReason::BadJson,
                            format!("array element is a {}, expected an object", kind.name()),
                        ))
                    };
                    out.push(Decoded {
                        span: start..lx.i,
                        result,
                    });
                    match lx.peek() {
                        Some(b',') => lx.i += 1,
                        Some(b']') => {
                            lx.i += 1;
                            break;
                        }
                        _ => return Err(syntax(lx.err::<()>("expected ',' or ']'").unwrap_err())),
                    }
                }
            }
        }
        Some(_) => {
            return Err(Reject::new(
                RejectReason::BadJson,
                "payload is not a JSON object or array",
            ));
        }
        None => return Err(Reject::new(RejectReason::BadJson, "empty payload")),
    }
    if lx.peek().is_some() {
        return Err(Reject::new(
            RejectReason::BadJson,
            format!("trailing characters at byte {}", lx.i),
        ));
    }
    Ok(out)
}

/// Decodes exactly one JSON object (a payload on `aq/v1/{gateway}/{sensor}` or one
/// canonical Kafka value).
pub fn decode_one(bytes: &[u8], mode: DecodeMode) -> Result<Reading, Reject> {
    let mut lx = Lexer::new(bytes);
    if lx.peek() != Some(b'{') {
        return Err(Reject::new(
            RejectReason::BadJson,
            "payload is not a JSON object",
        ));
    }
    let r = object(&mut lx, mode).map_err(syntax)?;
    if lx.peek().is_some() {
        return Err(Reject::new(
            RejectReason::BadJson,
            format!("trailing characters at byte {}", lx.i),
        ));
    }
    r
}

/// Appends `s` as a JSON string literal.
pub fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a finite number in shortest round-trip form (`null` if not finite).
pub fn write_json_f64(out: &mut String, v: f64) {
    if v.is_finite() {
        let _ = write!(out, "{v}");
    } else {
        out.push_str("null");
    }
}

/// Which fields the encoder writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeStyle {
    /// What a field terminal sends: `sensor_id`, `ts` and the values.
    Gateway,
    /// The canonical value of `aq.readings.v1`: also `gateway_id`, `period_s`,
    /// `received_at` and `flags`.
    Canonical,
}

/// Appends the JSON object of `r`. Absent values are omitted (a reader treats an absent
/// field as null).
pub fn encode_into(out: &mut String, r: &Reading, style: EncodeStyle) {
    out.push_str("{\"sensor_id\":");
    write_json_str(out, &r.sensor_id);
    if style == EncodeStyle::Canonical {
        out.push_str(",\"gateway_id\":");
        write_json_str(out, &r.gateway_id);
    }
    out.push_str(",\"ts\":\"");
    write_rfc3339(out, r.ts);
    out.push('"');
    if style == EncodeStyle::Canonical {
        let _ = write!(out, ",\"period_s\":{}", r.period_s);
    }
    for m in Measure::ALL {
        if let Some(v) = r.get(m) {
            out.push_str(",\"");
            out.push_str(m.field());
            out.push_str("\":");
            write_json_f64(out, v);
        }
    }
    if style == EncodeStyle::Canonical {
        if let Some(t) = r.received_at {
            out.push_str(",\"received_at\":\"");
            write_rfc3339(out, t);
            out.push('"');
        }
        out.push_str(",\"flags\":[");
        for (i, (m, k)) in r.flags.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "\"{}:{}\"", k.as_str(), m.field());
        }
        out.push(']');
    }
    out.push('}');
}

/// The JSON object of `r` as a new string.
pub fn encode(r: &Reading, style: EncodeStyle) -> String {
    let mut s = String::with_capacity(256);
    encode_into(&mut s, r, style);
    s
}

#[cfg(test)]
mod tests;
