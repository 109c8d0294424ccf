//! The decoders against real traffic from `../shared/data/` (read in place, never copied).

use aqstream_core::hj212::{Hj212Codec, lines, parse_frame};
use aqstream_core::time::format_rfc3339;
use aqstream_core::{Measure, RejectReason};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn shared(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the shared data sets must be present)",
            p.display()
        )
    })
}

#[test]
fn every_real_frame_passes_length_and_crc_and_decodes() {
    let bytes = shared("hj212_real_capture/hj212_real_frames.txt");
    let codec = Hj212Codec::default();
    let mut n = 0;
    let mut with_pm25 = 0;
    let mut last_ts = i64::MIN;
    for (line, frame) in lines(&bytes) {
        let f = parse_frame(frame).unwrap_or_else(|e| panic!("line {line}: {e}"));
        assert_eq!((f.st, f.cn, f.mn), ("22", "2011", "LB4200001"));
        let r = codec
            .decode(frame)
            .unwrap_or_else(|e| panic!("line {line}: {e}"));
        assert_eq!(r.period_s, 0);
        assert!(r.ts >= last_ts, "line {line}: frames are in time order");
        last_ts = r.ts;
        if let Some(v) = r.get(Measure::Pm25) {
            assert!((0.0..1000.0).contains(&v));
            with_pm25 += 1;
        }
        n += 1;
    }
    assert_eq!(n, 86);
    assert!(with_pm25 > 40, "{with_pm25}");
    assert!(format_rfc3339(last_ts).starts_with("2021-01-07"));
}

#[test]
fn the_raw_capture_decodes_frames_and_rejects_scanner_noise_cleanly() {
    let bytes = shared("hj212_real_capture/hj212_real_capture.txt");
    let codec = Hj212Codec::default();
    let mut ok = 0;
    let mut reasons: BTreeMap<RejectReason, usize> = BTreeMap::new();
    for (_, line) in lines(&bytes) {
        match codec.decode(line) {
            Ok(_) => ok += 1,
            Err(e) => *reasons.entry(e.reason).or_default() += 1,
        }
    }
    assert_eq!(ok, 86, "{reasons:?}");
    // Scanner noise (HTTP requests, binary probes, log lines) is not a frame.
    assert!(
        reasons.get(&RejectReason::BadFrame).copied().unwrap_or(0) > 100,
        "{reasons:?}"
    );
    assert!(
        reasons.keys().all(|r| matches!(
            r,
            RejectReason::BadFrame
                | RejectReason::BadLength
                | RejectReason::BadCrc
                | RejectReason::BadEncoding
        )),
        "{reasons:?}"
    );
}
