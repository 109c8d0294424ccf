use super::*;
use crate::reading::FlagKind;
use crate::time::parse_rfc3339;

fn one(s: &str) -> Result<Reading, Reject> {
    decode_one(s.as_bytes(), DecodeMode::Gateway)
}

fn reason(s: &str) -> RejectReason {
    one(s).unwrap_err().reason
}

#[test]
fn decodes_the_contract_example() {
    let r = one(
        r#"{"sensor_id":"TZ-0001","ts":"2026-11-22T16:03:00+08:00","pm25":35.2,
        "pm10":61,"no2":null,"co":0.8,"wind_speed":2.4,"wind_dir":270,"firmware":{"v":[1,2]}}"#,
    )
    .unwrap();
    assert_eq!(r.sensor_id, "TZ-0001");
    assert_eq!(r.ts, parse_rfc3339("2026-11-22T08:03:00Z").unwrap());
    assert_eq!(r.period_s, 60);
    assert_eq!(r.get(Measure::Pm25), Some(35.2));
    assert_eq!(r.get(Measure::Pm10), Some(61.0));
    assert_eq!(r.get(Measure::No2), None);
    assert_eq!(r.get(Measure::Co), Some(0.8));
    assert_eq!(r.get(Measure::WindDir), Some(270.0));
}

#[test]
fn gateway_mode_ignores_ingester_fields() {
    let r = one(r#"{"sensor_id":"a","ts":"2026-11-22T08:03:00Z","pm25":1,
        "gateway_id":"evil","period_s":5,"flags":["drift:pm25"],"received_at":"x"}"#)
    .unwrap();
    assert_eq!(r.gateway_id, "");
    assert_eq!(r.period_s, 60);
    assert!(r.flags.is_empty());
    assert_eq!(r.received_at, None);
}

#[test]
fn typed_errors_name_the_field() {
    assert_eq!(
        reason("{\"ts\":\"2026-11-22T08:03:00Z\",\"pm25\":1}"),
        RejectReason::MissingField
    );
    let e = one(r#"{"sensor_id":"a","pm25":1}"#).unwrap_err();
    assert!(e.detail.contains("`ts`"), "{e}");
    let e = one(r#"{"sensor_id":"a","ts":"2026-11-22T08:03:00Z","pm25":"12.5"}"#).unwrap_err();
    assert_eq!(e.reason, RejectReason::BadValue);
    assert!(
        e.detail.contains("`pm25`") && e.detail.contains("string"),
        "{e}"
    );
    let e = one(r#"{"sensor_id":"a","ts":"22/11/2026","pm25":1}"#).unwrap_err();
    assert_eq!(e.reason, RejectReason::BadTimestamp);
    assert!(e.detail.contains("`ts`"), "{e}");
    assert_eq!(
        reason(r#"{"sensor_id":"a","ts":"2026-11-22T08:03:00Z","pm25":1,"pm25":2}"#),
        RejectReason::DuplicateField
    );
    assert_eq!(
        reason(r#"{"sensor_id":"a","ts":"2026-11-22T08:03:00Z","pm25":null}"#),
        RejectReason::NoMeasurement
    );
    assert_eq!(
        reason(r#"{"sensor_id":7,"ts":"2026-11-22T08:03:00Z","pm25":1}"#),
        RejectReason::BadValue
    );
    assert_eq!(
        reason(r#"{"sensor_id":"","ts":"2026-11-22T08:03:00Z","pm25":1}"#),
        RejectReason::BadValue
    );
    let e = one(r#"{"sensor_id":"a","ts":"2026-11-22T08:03:00Z","pm25":1,}"#).unwrap_err();
    assert_eq!(e.reason, RejectReason::BadJson);
    assert!(e.detail.contains("byte"), "{e}");
    for s in [
        "",
        "  ",
        "[1]",
        "nul",
        "{",
        "{\"a\"",
        "\"x\"",
        "{} {}",
        "{\"sensor_id\":\"a\"}x",
    ] {
        assert!(one(s).is_err(), "{s:?}");
    }
    assert_eq!(
        reason("{\"sensor_id\":\"a\",\"ts\":\"2026-11-22T08:03:00Z\",\"pm25\":NaN}"),
        RejectReason::BadJson
    );
}

#[test]
fn batch_elements_fail_on_their_own() {
    let p = br#"[{"sensor_id":"a","ts":"2026-11-22T08:03:00Z","pm25":1},
                 {"sensor_id":"b","pm25":2},
                 42,
                 {"sensor_id":"c","ts":"2026-11-22T08:04:00Z","pm10":3}]"#;
    let d = decode_payload(p, DecodeMode::Gateway).unwrap();
    assert_eq!(d.len(), 4);
    assert!(d[0].result.is_ok());
    assert_eq!(
        d[1].result.as_ref().unwrap_err().reason,
        RejectReason::MissingField
    );
    assert_eq!(&p[d[1].span.clone()], br#"{"sensor_id":"b","pm25":2}"#);
    assert_eq!(
        d[2].result.as_ref().unwrap_err().reason,
        RejectReason::BadJson
    );
    assert_eq!(d[3].result.as_ref().unwrap().sensor_id, "c");
    assert!(
        decode_payload(b"[]", DecodeMode::Gateway)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        decode_payload(b"[{\"sensor_id\":\"a\"", DecodeMode::Gateway)
            .unwrap_err()
            .reason,
        RejectReason::BadJson
    );
}

#[test]
fn canonical_round_trip() {
    let mut r = Reading::new(
        "TZ-\"7\"\n",
        parse_rfc3339("2026-11-22T08:03:00.250Z").unwrap(),
        3600,
    )
    .with(Measure::Pm25, 35.25)
    .with(Measure::Co, 0.8)
    .with(Measure::TempC, -3.5);
    r.gateway_id = "gw-1".into();
    r.received_at = Some(r.ts + 1234);
    r.flags.set(Measure::TempC, FlagKind::DeviceFlag);
    let text = encode(&r, EncodeStyle::Canonical);
    assert!(text.starts_with(r#"{"sensor_id":"TZ-\"7\"\n","gateway_id":"gw-1","ts":"2026-11-22T08:03:00.250Z","period_s":3600,"pm25":35.25"#), "{text}");
    let back = decode_one(text.as_bytes(), DecodeMode::Canonical).unwrap();
    assert_eq!(back, r);
    // The encoded text is valid JSON by an independent parser.
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["flags"][0], "device_flag:temp_c");
    // Gateway style decodes to the same values with period 60.
    let g = one(&encode(&r, EncodeStyle::Gateway)).unwrap();
    assert_eq!(g.values, r.values);
    assert_eq!(g.period_s, 60);
}

#[test]
fn canonical_rejects_unknown_flags() {
    let e = decode_one(
        br#"{"sensor_id":"a","ts":"2026-11-22T08:03:00Z","pm25":1,"flags":["melted:pm25"]}"#,
        DecodeMode::Canonical,
    )
    .unwrap_err();
    assert_eq!(e.reason, RejectReason::BadValue);
}
