//! Pipeline tests: every kind of bad input becomes a dead letter with the right reason
//! and headers; good input becomes canonical readings keyed by sensor.

use super::*;
use crate::log::topics;
use aqstream_core::hj212::{Hj212Codec, parse_frame, wrap};
use aqstream_core::time::parse_rfc3339;
use aqstream_core::{Reject, RejectReason, SensorRegistry};
use std::sync::Arc;

const SENSORS: &str = "sensor_id,gateway_id,lat,lon,district,kind\n\
    TZ-0001,gw-1,39.9,116.6,Center,lowcost\n\
    TZ-0002,gw-1,39.9,116.6,Center,lowcost\n\
    TZ-0004,gw-2,39.9,116.6,North,lowcost\n";

fn now() -> i64 {
    parse_rfc3339("2026-11-22T08:05:00Z").unwrap()
}

fn pipeline() -> Pipeline {
    Pipeline::new(
        Arc::new(SensorRegistry::from_csv(SENSORS).unwrap()),
        IngestConfig::default().policy(),
        Hj212Codec::default(),
        Limits {
            max_payload_bytes: 4096,
            max_dead_letter_bytes: 100,
        },
    )
}

fn header<'a>(o: &'a Output, name: &str) -> &'a str {
    o.headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| std::str::from_utf8(v).unwrap())
        .unwrap_or_else(|| panic!("no header {name}"))
}

fn frame(mn: &str, cn: &str, cp: &str, flag: u8) -> String {
    wrap(&format!(
        "QN=20261122160100000;ST=22;CN={cn};PW=123456;MN={mn};Flag={flag};CP=&&{cp}&&"
    ))
    .unwrap()
}

const GOOD: &str = r#"{"sensor_id":"TZ-0001","ts":"2026-11-22T08:01:00Z","pm25":35.5,"pm10":60}"#;

#[test]
fn a_good_reading_becomes_canonical_json_keyed_by_sensor() {
    let p = pipeline().mqtt_message("aq/v1/gw-1/TZ-0001", GOOD.as_bytes(), now());
    assert_eq!(p.accepted, 1);
    assert_eq!(p.gateway_id.as_deref(), Some("gw-1"));
    let [o] = p.outputs.as_slice() else {
        panic!("{p:?}")
    };
    assert_eq!(o.topic, topics::READINGS);
    assert_eq!(o.key, "TZ-0001");
    assert!(o.headers.is_empty());
    let v: serde_json::Value = serde_json::from_slice(&o.payload).unwrap();
    assert_eq!(v["gateway_id"], "gw-1");
    assert_eq!(v["period_s"], 60);
    assert_eq!(v["pm25"], 35.5);
    assert_eq!(v["received_at"], "2026-11-22T08:05:00Z");
    assert_eq!(v["flags"], serde_json::json!([]));
}

/// (topic, payload, expected reason) for MQTT messages.
fn bad_mqtt() -> Vec<(&'static str, Vec<u8>, RejectReason)> {
    let r = |s: &str| s.as_bytes().to_vec();
    let mut non_utf8 = b"QN=1;ST=22;CN=2051;PW=1;MN=TZ-0001;Flag=4;CP=&&DataTime=20261122160000;a34004-Avg=1\xff&&".to_vec();
    let crc = aqstream_core::hj212::crc::crc16(&non_utf8);
    let mut enc = format!("##{:04}", non_utf8.len()).into_bytes();
    enc.append(&mut non_utf8);
    enc.extend(format!("{crc:04X}\r\n").into_bytes());
    let good_frame = frame(
        "TZ-0001",
        "2051",
        "DataTime=20261122160000;a34004-Avg=39,a34004-Flag=N",
        4,
    );
    let mut bad_crc = good_frame.clone().into_bytes();
    let n = bad_crc.len();
    bad_crc[n - 3] = if bad_crc[n - 3] == b'0' { b'1' } else { b'0' };
    vec![
        ("aq/v1/gw-1/TZ-0001", r("{not json"), RejectReason::BadJson),
        ("aq/v1/gw-1/TZ-0001", r("[1,2]"), RejectReason::BadJson),
        ("aq/v1/gw-1/TZ-0001", r(""), RejectReason::BadJson),
        (
            "aq/v1/gw-1/TZ-0001",
            r(r#"{"ts":"2026-11-22T08:01:00Z","pm25":1}"#),
            RejectReason::MissingField,
        ),
        (
            "aq/v1/gw-1/TZ-0001",
            r(r#"{"sensor_id":"TZ-0001","pm25":1}"#),
            RejectReason::MissingField,
        ),
        (
            "aq/v1/gw-1/TZ-0001",
            r(r#"{"sensor_id":"TZ-0001","ts":"2026-11-22T08:01:00Z","pm25":1,"pm25":2}"#),
            RejectReason::DuplicateField,
        ),
        (
            "aq/v1/gw-1/TZ-0001",
            r(r#"{"sensor_id":"TZ-0001","ts":"2026-11-22T08:01:00Z","pm25":"high"}"#),
            RejectReason::BadValue,
        ),
        (
            "aq/v1/gw-1/TZ-0001",
            r(r#"{"sensor_id":"TZ-0001","ts":"yesterday","pm25":1}"#),
            RejectReason::BadTimestamp,
        ),
        (
            "aq/v1/gw-1/TZ-0001",
            r(r#"{"sensor_id":"TZ-0001","ts":"2026-11-22T08:01:00Z","pm25":null}"#),
            RejectReason::NoMeasurement,
        ),
        (
            "aq/v1/gw-1/TZ-0001",
            r(r#"{"sensor_id":"TZ-0002","ts":"2026-11-22T08:01:00Z","pm25":1}"#),
            RejectReason::SensorMismatch,
        ),
        (
            "aq/v1/gw-1/TZ-9999",
            r(r#"{"sensor_id":"TZ-9999","ts":"2026-11-22T08:01:00Z","pm25":1}"#),
            RejectReason::UnknownSensor,
        ),
        (
            "aq/v1/gw-1/TZ-0004",
            r(r#"{"sensor_id":"TZ-0004","ts":"2026-11-22T08:01:00Z","pm25":1}"#),
            RejectReason::GatewayMismatch,
        ),
        (
            "aq/v1/gw-1/TZ-0001",
            r(r#"{"sensor_id":"TZ-0001","ts":"2026-11-22T08:16:00Z","pm25":1}"#),
            RejectReason::FutureTimestamp,
        ),
        (
            "aq/v1/gw-1/TZ-0001",
            r(r#"{"sensor_id":"TZ-0001","ts":"2026-11-22T08:01:00Z","wind_dir":400}"#),
            RejectReason::OutOfRange,
        ),
        (
            "aq/v1/gw-1/TZ-0001",
            vec![b' '; 5000],
            RejectReason::Oversize,
        ),
        ("aq/v2/gw-1/TZ-0001", r(GOOD), RejectReason::BadTopic),
        ("aq/v1/gw-1/hj212", bad_crc, RejectReason::BadCrc),
        (
            "aq/v1/gw-1/hj212",
            r("##9999QN=1;ST=22&&ABCD"),
            RejectReason::BadLength,
        ),
        ("aq/v1/gw-1/hj212", r("hello"), RejectReason::BadFrame),
        ("aq/v1/gw-1/hj212", r(""), RejectReason::BadFrame),
        ("aq/v1/gw-1/hj212", enc, RejectReason::BadEncoding),
        (
            "aq/v1/gw-1/hj212",
            frame("TZ-0001", "1011", "DataTime=20261122160000", 4).into_bytes(),
            RejectReason::UnsupportedFrame,
        ),
        (
            "aq/v1/gw-2/hj212",
            good_frame.into_bytes(),
            RejectReason::GatewayMismatch,
        ),
    ]
}

#[test]
fn every_kind_of_bad_input_is_dead_lettered_with_its_reason() {
    let pl = pipeline();
    let mut seen = std::collections::BTreeSet::new();
    for (topic, payload, want) in bad_mqtt() {
        let p = pl.mqtt_message(topic, &payload, now());
        assert_eq!(p.accepted, 0, "{topic} {want}");
        let [o] = p.outputs.as_slice() else {
            panic!("{topic} {want}: {p:?}")
        };
        assert_eq!(o.reason, Some(want), "{topic}: {}", header(o, "detail"));
        assert_eq!(o.topic, topics::DLQ);
        assert_eq!(header(o, "reason"), want.as_str());
        assert_eq!(header(o, "topic"), topic);
        assert_eq!(header(o, "received_at"), "2026-11-22T08:05:00Z");
        assert!(!header(o, "detail").is_empty());
        let claimed = topic
            .strip_prefix("aq/v1/")
            .map_or("", |r| r.split('/').next().unwrap_or(""));
        assert_eq!(header(o, "gateway_id"), claimed);
        // The raw bytes (of an HJ 212 payload: the frame's line), cut to the
        // dead-letter limit.
        let raw: &[u8] = if topic.ends_with("/hj212") {
            payload.strip_suffix(b"\r\n").unwrap_or(&payload)
        } else {
            &payload
        };
        let keep = raw.len().min(100);
        assert_eq!(o.payload, &raw[..keep]);
        if raw.len() > 100 {
            assert_eq!(header(o, "original_size"), raw.len().to_string());
        }
        seen.insert(want);
    }
    // Every reason the core knows is produced by some input.
    let all: std::collections::BTreeSet<_> = RejectReason::ALL.into_iter().collect();
    assert_eq!(
        seen,
        all,
        "missing: {:?}",
        all.difference(&seen).collect::<Vec<_>>()
    );
}

#[test]
fn a_batch_is_judged_element_by_element() {
    let payload = format!(
        r#"[{GOOD},{{"sensor_id":"TZ-0004","ts":"2026-11-22T08:01:00Z","pm25":1}},
           {{"sensor_id":"TZ-0002","ts":"2026-11-22T08:01:00Z","no2":20}}, 7]"#
    );
    let p = pipeline().mqtt_message("aq/v1/gw-1/batch", payload.as_bytes(), now());
    assert_eq!(p.accepted, 2);
    let reasons: Vec<_> = p.reject_reasons().collect();
    assert_eq!(
        reasons,
        [RejectReason::GatewayMismatch, RejectReason::BadJson]
    );
    let keys: Vec<_> = p.outputs.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["TZ-0001", "gw-1", "TZ-0002", "gw-1"]);
    // A dead letter of a batch element carries that element's bytes only.
    assert!(
        p.outputs[1]
            .payload
            .starts_with(br#"{"sensor_id":"TZ-0004""#)
    );
    assert!(p.outputs[1].payload.ends_with(b"}"));
    assert_eq!(p.outputs[3].payload, b"7");
}

#[test]
fn hj212_over_mqtt_takes_several_frames() {
    let f1 = frame(
        "TZ-0001",
        "2051",
        "DataTime=20261122160000;a34004-Avg=39,a34004-Flag=N",
        4,
    );
    let f2 = frame(
        "TZ-0002",
        "2011",
        "DataTime=20261122160100;a34004-Rtd=41,a34004-Flag=N",
        4,
    );
    let payload = format!("{f1}{f2}garbage\r\n");
    let p = pipeline().mqtt_message("aq/v1/gw-1/hj212", payload.as_bytes(), now());
    assert_eq!(p.accepted, 2);
    assert_eq!(
        p.reject_reasons().collect::<Vec<_>>(),
        [RejectReason::BadFrame]
    );
    let v: serde_json::Value = serde_json::from_slice(&p.outputs[0].payload).unwrap();
    assert_eq!(
        v["ts"], "2026-11-22T08:01:00Z",
        "minute data: DataTime (CST) + 1 min"
    );
    let v: serde_json::Value = serde_json::from_slice(&p.outputs[1].payload).unwrap();
    assert_eq!(v["period_s"], 0);
}

#[test]
fn tcp_frames_are_authenticated_and_answered() {
    let pl = pipeline();
    let origin = Origin {
        topic: "hj212-tcp",
        gateway_id: "",
        peer: Some("192.0.2.9:4000"),
        received_at: now(),
    };
    let f = frame(
        "TZ-0001",
        "2051",
        "DataTime=20261122160000;a34004-Avg=39,a34004-Flag=N",
        5,
    );
    let (p, reply) = pl.hj212_line(f.trim_end().as_bytes(), &origin, |fr| {
        assert_eq!(fr.pw, Some("123456"));
        Ok("gw-1".into())
    });
    assert_eq!(p.accepted, 1);
    let reply = reply.expect("Flag=5 asks for a reply");
    let r = parse_frame(reply.as_bytes()).unwrap();
    assert_eq!((r.st, r.cn, r.mn), ("91", "9014", "TZ-0001"));
    // A refused terminal still gets its 9014: the frame is safely dead-lettered.
    let (p, reply) = pl.hj212_line(f.as_bytes(), &origin, |_| {
        Err(Reject::new(
            RejectReason::GatewayMismatch,
            "not authenticated",
        ))
    });
    assert_eq!(
        p.reject_reasons().collect::<Vec<_>>(),
        [RejectReason::GatewayMismatch]
    );
    assert_eq!(header(&p.outputs[0], "peer"), "192.0.2.9:4000");
    assert!(reply.is_some());
    // An unparsable line gets no reply; an oversize one is cut.
    let (p, reply) = pl.hj212_line(b"##00", &origin, |_| unreachable!());
    assert_eq!(
        p.reject_reasons().collect::<Vec<_>>(),
        [RejectReason::BadFrame]
    );
    assert!(reply.is_none());
    let (p, _) = pl.hj212_line(&[b'#'; 5000], &origin, |_| unreachable!());
    assert_eq!(
        p.reject_reasons().collect::<Vec<_>>(),
        [RejectReason::Oversize]
    );
    assert_eq!(p.outputs[0].payload.len(), 100);
}
