//! Files a run writes: `sensors.csv`, readings as JSON lines (or HJ 212 frames) in
//! arrival order, and the ground truth as JSON.

use crate::generate::{Arrival, GroundTruth};
use crate::scenario::SimError;
use aqstream_core::hj212::{EncodeOptions, Hj212Codec, UnitTable};
use aqstream_core::json::{EncodeStyle, encode_into};
use aqstream_core::validate::{ValidationPolicy, apply_quality_flags};
use std::io::Write;
use std::path::Path;

/// How readings are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadingFormat {
    /// The canonical JSON of `aq.readings.v1`: the contract's fields plus `gateway_id`,
    /// `period_s` (60), `received_at` (the arrival) and the quality flags the ingest's
    /// validation sets (e.g. for 999 sentinels).
    #[default]
    Json,
    /// HJ 212-2017 minute-data frames (`CN=2051`), one per line, as terminals send them.
    Hj212,
}

/// One reading in the given format, without a line end.
pub fn format_reading(a: &Arrival, format: ReadingFormat, codec: &Hj212Codec) -> Option<String> {
    match format {
        ReadingFormat::Json => {
            let mut r = a.reading.clone();
            apply_quality_flags(&mut r, &ValidationPolicy::default());
            let mut s = String::with_capacity(300);
            encode_into(&mut s, &r, EncodeStyle::Canonical);
            Some(s)
        }
        ReadingFormat::Hj212 => codec
            .encode(
                &a.reading,
                &EncodeOptions {
                    qn: a.reading.received_at,
                    ..EncodeOptions::default()
                },
            )
            .ok()
            .map(|f| f.trim_end().to_string()),
    }
}

fn io(what: &Path) -> impl Fn(std::io::Error) -> SimError + '_ {
    move |source| SimError::Io {
        what: what.display().to_string(),
        source,
    }
}

/// Writes readings, one per line, in the given order.
pub fn write_readings(
    path: &Path,
    arrivals: &[Arrival],
    format: ReadingFormat,
) -> Result<(), SimError> {
    let f = std::fs::File::create(path).map_err(io(path))?;
    let mut w = std::io::BufWriter::new(f);
    let codec = Hj212Codec::new(UnitTable::default());
    for a in arrivals {
        if let Some(line) = format_reading(a, format, &codec) {
            writeln!(w, "{line}").map_err(io(path))?;
        }
    }
    w.flush().map_err(io(path))
}

/// Writes the ground truth as pretty JSON.
pub fn write_truth(path: &Path, truth: &GroundTruth) -> Result<(), SimError> {
    let text = serde_json::to_string_pretty(truth).expect("truth serializes");
    std::fs::write(path, text + "\n").map_err(io(path))
}

/// Writes `sensors.csv`.
pub fn write_sensors(
    path: &Path,
    registry: &aqstream_core::SensorRegistry,
) -> Result<(), SimError> {
    std::fs::write(path, registry.to_csv()).map_err(io(path))
}
