use super::*;
use crate::time::{format_rfc3339, parse_rfc3339};

const REAL: &str = "##0648ST=22;CN=2011;PW=123456;MN=LB4200001;CP=&&DataTime=20210107140300;a05002-Rtd=16.996,a05002-Flag=N;a21005-Rtd=0.967,a21005-Flag=N;a34006-Rtd=1074,a34006-Flag=N;a24088-Rtd=3.731,a24088-Flag=N;a21003-Rtd=6.197,a21003-Flag=N;a21004-Rtd=9.346,a21004-Flag=N;a21002-Rtd=18.815,a21002-Flag=N;a05024-Rtd=8.276,a05024-Flag=N;a34007-Rtd=2743,a34007-Flag=N;a34002-Rtd=123.97,a34002-Flag=N;a34004-Rtd=24.82,a34004-Flag=N;a01006-Rtd=1032.5,a01006-Flag=N;a01002-Rtd=21.6,a01002-Flag=N;a21026-Rtd=1.961,a21026-Flag=N;a01007-Rtd=3.5,a01007-Flag=N;a34049-Rtd=3817,a34049-Flag=N;a01001-Rtd=0,a01001-Flag=N;a99999-Rtd=20.727,a99999-Flag=N;a01008-Rtd=99,a01008-Flag=N&&DD01\r\n";

fn codec() -> Hj212Codec {
    Hj212Codec::default()
}

#[test]
fn decodes_a_real_frame() {
    let r = codec().decode(REAL.as_bytes()).unwrap();
    assert_eq!(r.sensor_id, "LB4200001");
    assert_eq!(format_rfc3339(r.ts), "2021-01-07T06:03:00Z");
    assert_eq!(r.period_s, 0);
    assert_eq!(r.get(Measure::Pm25), Some(24.82));
    assert_eq!(r.get(Measure::Pm10), Some(123.97));
    assert_eq!(r.get(Measure::No2), Some(9.346));
    assert_eq!(r.get(Measure::So2), Some(1.961));
    assert_eq!(r.get(Measure::O3), Some(8.276));
    assert_eq!(r.get(Measure::Co), Some(0.967));
    assert_eq!(r.get(Measure::TempC), Some(0.0));
    assert_eq!(r.get(Measure::Rh), Some(21.6));
    assert_eq!(r.get(Measure::PressureHpa), Some(1032.5));
    assert_eq!(r.get(Measure::WindSpeed), Some(3.5));
    assert_eq!(r.get(Measure::WindDir), Some(99.0));
    assert!(r.flags.is_empty());
}

fn data(cn: &str, cp: &str) -> String {
    wrap(&format!(
        "QN=20261122160300123;ST=22;CN={cn};PW=123456;MN=TZ-0001;Flag=5;CP=&&{cp}&&"
    ))
    .unwrap()
}

#[test]
fn period_commands_end_their_period() {
    let start = "20261122160200"; // 08:02 UTC
    let t = |cn: &str| {
        let r = codec()
            .decode(data(cn, &format!("DataTime={start};a34004-Avg=35.2")).as_bytes())
            .unwrap();
        (format_rfc3339(r.ts), r.period_s)
    };
    assert_eq!(t("2051"), ("2026-11-22T08:03:00Z".to_string(), 60));
    assert_eq!(t("2061"), ("2026-11-22T09:02:00Z".to_string(), 3600));
    assert_eq!(t("2031"), ("2026-11-23T08:02:00Z".to_string(), 86400));
    assert_eq!(t("2011"), ("2026-11-22T08:02:00Z".to_string(), 0));
}

#[test]
fn value_suffix_preference_and_flags() {
    let r = codec()
        .decode(
            data("2051", "DataTime=20261122160200;a34004-Rtd=1,a34004-Avg=2,a34004-Flag=N;a21004-Rtd=7,a21004-Flag=D;a34002-Min=1,a34002-Max=9")
                .as_bytes(),
        )
        .unwrap();
    assert_eq!(r.get(Measure::Pm25), Some(2.0));
    assert_eq!(r.get(Measure::No2), Some(7.0));
    assert!(r.flags.has(Measure::No2, FlagKind::DeviceFlag));
    assert!(r.flags.is_clean(Measure::Pm25));
    assert_eq!(r.get(Measure::Pm10), None, "Min/Max alone are not a value");
    let r = codec()
        .decode(data("2011", "DataTime=20261122160200;a34004-Rtd=1,a34004-Avg=2").as_bytes())
        .unwrap();
    assert_eq!(r.get(Measure::Pm25), Some(1.0));
}

#[test]
fn content_errors_are_typed() {
    let reason = |cn: &str, cp: &str| codec().decode(data(cn, cp).as_bytes()).unwrap_err().reason;
    assert_eq!(
        reason("2011", "DataTime=20261122160200;a34004-Rtd=abc"),
        RejectReason::BadValue
    );
    assert_eq!(
        reason("2011", "DataTime=20261122160200;a34004-Rtd=NaN"),
        RejectReason::BadValue
    );
    assert_eq!(
        reason("2011", "DataTime=20261122160200;a34004-Rtd=inf"),
        RejectReason::BadValue
    );
    assert_eq!(
        reason("2011", "DataTime=20261122160200;a34004-Rtd="),
        RejectReason::BadValue
    );
    assert_eq!(
        reason("2011", "DataTime=20261122160200;a34004-Rtd=1;a34004-Rtd=2"),
        RejectReason::DuplicateField
    );
    assert_eq!(
        reason(
            "2011",
            "DataTime=20261122160200;DataTime=20261122160200;a34004-Rtd=1"
        ),
        RejectReason::DuplicateField
    );
    assert_eq!(reason("2011", "a34004-Rtd=1"), RejectReason::MissingField);
    assert_eq!(
        reason("2011", "DataTime=20261322160200;a34004-Rtd=1"),
        RejectReason::BadTimestamp
    );
    assert_eq!(
        reason("2011", "DataTime=20261122160200;a99999-Rtd=1"),
        RejectReason::NoMeasurement
    );
    assert_eq!(
        reason("2011", "DataTime=20261122160200;a34004"),
        RejectReason::BadFrame
    );
    assert_eq!(
        reason("1011", "DataTime=20261122160200;a34004-Rtd=1"),
        RejectReason::UnsupportedFrame
    );
    let st21 = wrap("ST=21;CN=2011;MN=x;CP=&&DataTime=20261122160200;a34004-Rtd=1&&").unwrap();
    assert_eq!(
        codec().decode(st21.as_bytes()).unwrap_err().reason,
        RejectReason::UnsupportedFrame
    );
    // Unknown factors with odd values are ignored, not rejected.
    assert!(
        codec()
            .decode(data("2011", "DataTime=20261122160200;a34004-Rtd=1;a99999-Rtd=??").as_bytes())
            .is_ok()
    );
}

#[test]
fn encode_decode_round_trip_with_units() {
    let mut units = UnitTable::default();
    units.set(Measure::Co, Unit::UgM3).unwrap();
    let codec = Hj212Codec::new(units);
    let ts = parse_rfc3339("2026-11-22T08:03:00Z").unwrap();
    let mut r = Reading::new("TZ-0001", ts, 60)
        .with(Measure::Pm25, 35.2)
        .with(Measure::Co, 0.8)
        .with(Measure::WindDir, 270.0);
    r.flags.set(Measure::Pm25, FlagKind::DeviceFlag);
    let opts = EncodeOptions {
        qn: Some(ts),
        ack: true,
        ..EncodeOptions::default()
    };
    let text = codec.encode(&r, &opts).unwrap();
    assert!(
        text.contains("CN=2051") && text.contains("DataTime=20261122160200"),
        "{text}"
    );
    assert!(
        text.contains("a21005-Avg=800,"),
        "CO is sent in µg/m³: {text}"
    );
    let back = codec.decode(text.as_bytes()).unwrap();
    assert_eq!(back.ts, r.ts);
    assert_eq!(back.period_s, 60);
    assert_eq!(back.flags, r.flags);
    for m in Measure::ALL {
        match (back.get(m), r.get(m)) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "{m}"),
            (a, b) => assert_eq!(a, b, "{m}"),
        }
    }
    let f = parse_frame(text.as_bytes()).unwrap();
    assert!(f.needs_ack());
    assert!(
        codec
            .encode(&Reading::new("x", ts, 300).with(Measure::Pm25, 1.0), &opts)
            .is_err()
    );
}

#[test]
fn replies() {
    let text = data("2051", "DataTime=20261122160200;a34004-Avg=35.2");
    let f = parse_frame(text.as_bytes()).unwrap();
    let ack = reply_for(&f).unwrap();
    let a = parse_frame(ack.as_bytes()).unwrap();
    assert_eq!(
        (a.st, a.cn, a.mn, a.qn, a.flag),
        ("91", "9014", "TZ-0001", Some("20261122160300123"), Some(4))
    );
    assert_eq!(a.cp, "");
    assert_eq!(reply_for(&a), None, "replies are never answered");

    let cmd = wrap("QN=1;ST=22;CN=1011;PW=1;MN=TZ-0001;Flag=5;CP=&&&&").unwrap();
    let r = reply_for(&parse_frame(cmd.as_bytes()).unwrap()).unwrap();
    let r = parse_frame(r.as_bytes()).unwrap();
    assert_eq!((r.cn, r.cp), ("9011", "QnRtn=8"));

    let no_ack =
        wrap("ST=22;CN=2011;MN=TZ-0001;Flag=4;CP=&&DataTime=20261122160200;a34004-Rtd=1&&")
            .unwrap();
    assert_eq!(reply_for(&parse_frame(no_ack.as_bytes()).unwrap()), None);
    let done = execution_result(&f, ExeRtn::Success);
    assert_eq!(parse_frame(done.as_bytes()).unwrap().cp, "ExeRtn=1");
}

#[test]
fn factor_codes_round_trip() {
    for m in Measure::ALL {
        assert_eq!(measure_of_factor(factor_code(m)), Some(m));
    }
    for other in ["a34006", "a3400", "a340044", "", "A34004", "a99999"] {
        assert_eq!(measure_of_factor(other), None, "{other}");
    }
}
