//! Decode throughput of the JSON and HJ 212 codecs, each next to a baseline measured
//! in the same run:
//!
//! * `json/aqstream` vs `json/serde_json_value` — the same payload bytes parsed into a
//!   `serde_json::Value` (which does not even validate or convert anything);
//! * `hj212/aqstream` vs `hj212/naive_split_map` — the same frames split into a
//!   `HashMap<String, String>` of fields, as many public receivers do (no CRC check,
//!   no conversion), and vs `hj212/serde_json_value` of the equivalent JSON readings;
//! * `*_to_arrow` — decoding plus appending to the Arrow batch builder.
//!
//! Run with `cargo bench -p aqstream-core --bench decode`.

#![allow(clippy::print_stderr, missing_docs)]

use aqstream_core::arrow::ReadingBatchBuilder;
use aqstream_core::hj212::{EncodeOptions, Hj212Codec};
use aqstream_core::json::{DecodeMode, EncodeStyle, decode_one, encode};
use aqstream_core::{Measure, Reading};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::collections::HashMap;
use std::hint::black_box;

const N: usize = 10_000;

/// Deterministic, realistic readings: 500 sensors, all pollutants and weather.
fn readings() -> Vec<Reading> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % 10_000) as f64 / 100.0
    };
    (0..N)
        .map(|i| {
            Reading::new(
                format!("TZ-{:04}", i % 500),
                1_795_334_580_000 + (i / 500) as i64 * 60_000,
                60,
            )
            .with(Measure::Pm25, (rnd() * 3.0 * 10.0).round() / 10.0)
            .with(Measure::Pm10, (rnd() * 5.0 * 10.0).round() / 10.0)
            .with(Measure::No2, (rnd() * 10.0).round() / 10.0)
            .with(Measure::So2, (rnd() * 0.5 * 10.0).round() / 10.0)
            .with(Measure::O3, (rnd() * 1.5 * 10.0).round() / 10.0)
            .with(Measure::Co, (rnd() * 0.03 * 1000.0).round() / 1000.0)
            .with(Measure::TempC, (rnd() * 0.3 * 10.0).round() / 10.0)
            .with(Measure::Rh, (rnd() * 10.0).round() / 10.0)
            .with(Measure::WindSpeed, (rnd() * 0.1 * 10.0).round() / 10.0)
            .with(Measure::WindDir, rnd().round() * 3.6)
        })
        .collect()
}

fn naive_hj212(frame: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(frame);
    let mut m = HashMap::new();
    for part in text.trim_end().split([';', ',', '&']) {
        if let Some((k, v)) = part.split_once('=') {
            m.insert(k.to_string(), v.to_string());
        }
    }
    m
}

fn bench(c: &mut Criterion) {
    let rs = readings();
    let json: Vec<String> = rs.iter().map(|r| encode(r, EncodeStyle::Gateway)).collect();
    let codec = Hj212Codec::default();
    let frames: Vec<String> = rs
        .iter()
        .map(|r| {
            codec
                .encode(
                    r,
                    &EncodeOptions {
                        qn: Some(r.ts),
                        ..Default::default()
                    },
                )
                .unwrap()
        })
        .collect();
    let json_bytes: usize = json.iter().map(String::len).sum();
    let frame_bytes: usize = frames.iter().map(String::len).sum();
    eprintln!(
        "{N} readings: JSON {} B/reading, HJ 212 {} B/frame",
        json_bytes / N,
        frame_bytes / N
    );

    let mut g = c.benchmark_group("json");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("aqstream", |b| {
        b.iter(|| {
            for p in &json {
                black_box(decode_one(black_box(p.as_bytes()), DecodeMode::Gateway).unwrap());
            }
        })
    });
    g.bench_function("serde_json_value", |b| {
        b.iter(|| {
            for p in &json {
                black_box(
                    serde_json::from_slice::<serde_json::Value>(black_box(p.as_bytes())).unwrap(),
                );
            }
        })
    });
    g.bench_function("aqstream_to_arrow", |b| {
        let mut builder = ReadingBatchBuilder::with_capacity(N);
        b.iter(|| {
            for p in &json {
                builder.push(&decode_one(p.as_bytes(), DecodeMode::Gateway).unwrap());
            }
            black_box(builder.finish());
        })
    });
    g.finish();

    let mut g = c.benchmark_group("hj212");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("aqstream", |b| {
        b.iter(|| {
            for f in &frames {
                black_box(codec.decode(black_box(f.as_bytes())).unwrap());
            }
        })
    });
    g.bench_function("crc_only", |b| {
        b.iter(|| {
            for f in &frames {
                let d = &f.as_bytes()[6..f.len() - 6];
                black_box(aqstream_core::hj212::crc::crc16(black_box(d)));
            }
        })
    });
    g.bench_function("envelope_and_header_only", |b| {
        b.iter(|| {
            for f in &frames {
                black_box(aqstream_core::hj212::parse_frame(black_box(f.as_bytes())).unwrap());
            }
        })
    });
    g.bench_function("naive_split_map", |b| {
        b.iter(|| {
            for f in &frames {
                black_box(naive_hj212(black_box(f.as_bytes())));
            }
        })
    });
    g.bench_function("serde_json_value", |b| {
        b.iter(|| {
            for p in &json {
                black_box(
                    serde_json::from_slice::<serde_json::Value>(black_box(p.as_bytes())).unwrap(),
                );
            }
        })
    });
    g.bench_function("aqstream_to_arrow", |b| {
        let mut builder = ReadingBatchBuilder::with_capacity(N);
        b.iter(|| {
            for f in &frames {
                builder.push(&codec.decode(f.as_bytes()).unwrap());
            }
            black_box(builder.finish());
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
