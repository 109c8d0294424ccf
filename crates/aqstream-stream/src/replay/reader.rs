//! The replay's reader: decodes the input ahead of the operators, in order.

use super::InputFormat;
use crate::error::StreamError;
use aqstream_core::Reading;
use aqstream_core::hj212::{Hj212Codec, UnitTable};
use aqstream_core::json::{DecodeMode, decode_payload};
use aqstream_core::registry::SensorRegistry;
use aqstream_core::validate::{ValidationPolicy, apply_quality_flags, check_ranges};
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

/// Decoded input, in order.
pub(crate) enum Item {
    /// Readings with their sensor's index in the registry, the lines they came from,
    /// and the lines or readings refused.
    Readings(Vec<(u32, Reading)>, u64, u64),
    /// The input could not be read.
    Error(StreamError),
}

/// Reads and decodes the input on a thread of its own, in blocks of lines.
pub(crate) fn spawn_reader(
    input: Box<dyn Read + Send>,
    format: InputFormat,
    registry: Arc<SensorRegistry>,
) -> Receiver<Item> {
    let (tx, rx) = sync_channel::<Item>(8);
    std::thread::Builder::new()
        .name("replay-reader".into())
        .spawn(move || {
            let mut reader = BufReader::with_capacity(1 << 20, input);
            let codec = Hj212Codec::new(UnitTable::default());
            let policy = ValidationPolicy::default();
            let mut line = Vec::with_capacity(1024);
            let mut block = Vec::with_capacity(4096);
            let (mut lines, mut rejected) = (0u64, 0u64);
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Item::Error(StreamError::io("replay input", e)));
                        return;
                    }
                }
                lines += 1;
                let text = trim(&line);
                if text.is_empty() {
                    continue;
                }
                let mut accept = |r: Result<Reading, _>| {
                    let Ok(mut r) = r else { return 1 };
                    match registry.index_of(&r.sensor_id) {
                        Some(i) if check_ranges(&r).is_ok() => {
                            apply_quality_flags(&mut r, &policy);
                            block.push((i as u32, r));
                            0
                        }
                        _ => 1,
                    }
                };
                rejected += match format {
                    InputFormat::Json => match decode_payload(text, DecodeMode::Canonical) {
                        Ok(items) => items.into_iter().map(|it| accept(it.result)).sum(),
                        Err(_) => 1,
                    },
                    InputFormat::Hj212 => accept(codec.decode(text)),
                };
                if block.len() >= 4096 {
                    let b = std::mem::replace(&mut block, Vec::with_capacity(4096));
                    if tx.send(Item::Readings(b, lines, rejected)).is_err() {
                        return;
                    }
                    lines = 0;
                    rejected = 0;
                }
            }
            let _ = tx.send(Item::Readings(block, lines, rejected));
        })
        .expect("spawn the replay reader");
    rx
}

fn trim(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r' | b' ' | b'\t') {
        end -= 1;
    }
    &line[..end]
}
