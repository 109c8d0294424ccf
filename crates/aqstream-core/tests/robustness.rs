//! Property tests: the decoders never panic on arbitrary bytes, reject every damaged
//! frame with a typed reason, and encode → decode round-trips.

use aqstream_core::hj212::{EncodeOptions, Hj212Codec, parse_frame, wrap};
use aqstream_core::json::{DecodeMode, EncodeStyle, decode_one, decode_payload, encode};
use aqstream_core::measure::N_MEASURES;
use aqstream_core::reading::FlagKind;
use aqstream_core::{Measure, Reading, RejectReason};
use proptest::prelude::*;

fn value(m: Measure) -> impl Strategy<Value = Option<f64>> {
    let (lo, hi) = m.hard_range();
    prop_oneof![
        1 => Just(None),
        3 => (lo..=hi).prop_map(Some),
        1 => (-50i32..5000).prop_map(|v| Some(f64::from(v) / 10.0)),
    ]
}

fn values() -> impl Strategy<Value = [Option<f64>; N_MEASURES]> {
    Measure::ALL
        .map(value)
        .prop_map(|v| v)
        .prop_filter("at least one value", |v| v.iter().any(Option::is_some))
}

fn reading(id: impl Strategy<Value = String>, ms_step: i64) -> impl Strategy<Value = Reading> {
    (
        id,
        // 2000-01-01 .. 2099-12-31
        (946_684_800i64..4_102_358_400).prop_map(move |s| s * 1000 / ms_step * ms_step),
        prop::sample::select(vec![0u32, 60, 3600, 86_400]),
        values(),
        prop::collection::vec((0usize..N_MEASURES, 0usize..FlagKind::ALL.len()), 0..4),
    )
        .prop_map(|(id, ts, period_s, values, flags)| {
            let mut r = Reading::new(id, ts, period_s);
            r.values = values;
            for (m, k) in flags {
                if r.values[m].is_some() {
                    r.flags.set(Measure::ALL[m], FlagKind::ALL[k]);
                }
            }
            r
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn json_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_payload(&bytes, DecodeMode::Gateway);
        let _ = decode_one(&bytes, DecodeMode::Canonical);
    }

    #[test]
    fn json_never_panics_on_near_json(s in r#"[\[\]{}",:0-9a-z_.\-eE\\ ]{0,200}"#) {
        let _ = decode_payload(s.as_bytes(), DecodeMode::Gateway);
        let wrapped = format!(r#"{{"sensor_id":"a","ts":"2026-11-22T08:03:00Z","pm25":{s}}}"#);
        let _ = decode_payload(wrapped.as_bytes(), DecodeMode::Canonical);
    }

    #[test]
    fn hj212_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let codec = Hj212Codec::default();
        let _ = codec.decode(&bytes);
        let mut framed = b"##".to_vec();
        framed.extend_from_slice(format!("{:04}", bytes.len()).as_bytes());
        framed.extend_from_slice(&bytes);
        framed.extend_from_slice(b"0000\r\n");
        let _ = codec.decode(&framed);
    }

    #[test]
    fn hj212_never_panics_with_a_valid_envelope(cp in "[A-Za-z0-9=;,&.\\-]{0,200}", cn in "20[1-6]1") {
        // A correct length and CRC around arbitrary content reaches the content parser.
        let frame = wrap(&format!("ST=22;CN={cn};MN=x;CP=&&{cp}&&")).unwrap();
        let _ = Hj212Codec::default().decode(frame.as_bytes());
    }

    #[test]
    fn json_canonical_round_trip(r in reading(any::<String>().prop_filter("non-empty", |s| !s.is_empty()), 1)) {
        let mut r = r;
        r.gateway_id = "gw-1".into();
        r.received_at = Some(r.ts + 500);
        let text = encode(&r, EncodeStyle::Canonical);
        let back = decode_one(text.as_bytes(), DecodeMode::Canonical).unwrap();
        prop_assert_eq!(back, r);
    }

    #[test]
    fn hj212_round_trip(r in reading("[A-Za-z0-9-]{1,20}", 1000), ack in any::<bool>()) {
        let mut r = r;
        // HJ 212 carries only the device's own flag.
        let mut only_device = aqstream_core::QualityFlags::NONE;
        for (m, k) in r.flags.iter() {
            if k == FlagKind::DeviceFlag { only_device.set(m, k); }
        }
        r.flags = only_device;
        let codec = Hj212Codec::default();
        let frame = codec.encode(&r, &EncodeOptions { qn: Some(r.ts), ack, ..Default::default() }).unwrap();
        prop_assert_eq!(parse_frame(frame.as_bytes()).unwrap().needs_ack(), ack);
        let back = codec.decode(frame.as_bytes()).unwrap();
        prop_assert_eq!(back, r);
    }

    #[test]
    fn any_single_byte_change_is_rejected(r in reading("[A-Z0-9]{4,12}", 1000), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let codec = Hj212Codec::default();
        let frame = codec.encode(&r, &EncodeOptions::default()).unwrap();
        let frame_bytes = frame.clone();
        let mut bytes = frame.into_bytes();
        let body_end = bytes.len() - 2; // keep CRLF: a changed line end is a different frame shape
        let i = pos.index(body_end);
        prop_assume!(bytes[i] != byte);
        // The CRC's four hex digits are read in either case (devices differ): a
        // letter changing case is the same CRC, and the frame must still decode to
        // the same reading.
        let crc_digit = i >= body_end - 4 && bytes[i].eq_ignore_ascii_case(&byte);
        bytes[i] = byte;
        if crc_digit {
            prop_assert_eq!(codec.decode(&bytes).unwrap(), codec.decode(frame_bytes.as_bytes()).unwrap());
            return Ok(());
        }
        let e = codec.decode(&bytes).unwrap_err();
        prop_assert!(matches!(e.reason, RejectReason::BadFrame | RejectReason::BadLength | RejectReason::BadCrc), "{}", e);
    }
}

#[test]
fn the_known_malformed_cases() {
    let codec = Hj212Codec::default();
    let r = Reading::new("TZ-0001", 1_795_334_580_000, 60).with(Measure::Pm25, 35.2);
    let good = codec.encode(&r, &EncodeOptions::default()).unwrap();
    let n = good.len();
    let crc = &good[n - 6..n - 2];
    let cases: Vec<(String, RejectReason)> = vec![
        (
            format!("{}{}{}\r\n", &good[..n - 6], &crc[2..], &crc[..2]),
            RejectReason::BadCrc,
        ),
        (
            good.replacen(&good[2..6], &format!("{:04}", n - 12 + 1), 1),
            RejectReason::BadLength,
        ),
        (good[..n / 2].to_string(), RejectReason::BadLength),
        (
            wrap("ST=22;CN=2051;MN=TZ-0001;CP=&&DataTime=20261122160200;a34004-Avg=3x.2&&")
                .unwrap(),
            RejectReason::BadValue,
        ),
        (
            wrap(
                "ST=22;CN=2051;MN=TZ-0001;CP=&&DataTime=20261122160200;a34004-Avg=1;a34004-Avg=2&&",
            )
            .unwrap(),
            RejectReason::DuplicateField,
        ),
        (
            "\u{0}\u{1}garbage\u{7f}".to_string(),
            RejectReason::BadFrame,
        ),
    ];
    for (frame, want) in cases {
        let e = codec.decode(frame.as_bytes()).unwrap_err();
        assert_eq!(e.reason, want, "{frame:?}: {e}");
    }
    assert_eq!(
        codec.decode(&[0xff, 0xfe, b'#', b'#']).unwrap_err().reason,
        RejectReason::BadFrame
    );
}
