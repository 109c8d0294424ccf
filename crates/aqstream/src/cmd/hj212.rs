//! `aqstream hj212 decode|encode`.

use anyhow::Context as _;
use aqstream_core::Measure;
use aqstream_core::hj212::{EncodeOptions, Hj212Codec, Unit, UnitTable, lines};
use aqstream_core::json::{DecodeMode, EncodeStyle, decode_payload, encode_into};
use aqstream_core::validate::{ValidationPolicy, apply_quality_flags, check_ranges};
use clap::{Args, Subcommand};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// HJ 212 subcommands.
#[derive(Debug, Subcommand)]
pub enum Hj212Command {
    /// Decode frames (one per line, from FILE or stdin) into canonical JSON readings on
    /// stdout; each rejected line goes to stderr as `line N: reason: detail`.
    Decode(DecodeArgs),
    /// Encode JSON readings (one object or array per line) into HJ 212 frames.
    Encode(EncodeArgs),
}

/// Units of incoming factors, e.g. `--unit co=ug/m3 --unit no2=ppb`.
#[derive(Debug, Args)]
pub struct UnitArgs {
    /// A factor's unit as `measure=unit` (units: ug/m3, mg/m3, ppb, ppm). Defaults:
    /// particulate matter and gases µg/m³, CO mg/m³.
    #[arg(long = "unit", value_name = "MEASURE=UNIT")]
    units: Vec<String>,
}

impl UnitArgs {
    fn table(&self) -> anyhow::Result<UnitTable> {
        let mut t = UnitTable::default();
        for spec in &self.units {
            let (m, u) = spec
                .split_once('=')
                .with_context(|| format!("--unit `{spec}` is not MEASURE=UNIT"))?;
            let m: Measure = m.parse()?;
            let u: Unit = u.parse().map_err(anyhow::Error::msg)?;
            t.set(m, u).map_err(anyhow::Error::msg)?;
        }
        Ok(t)
    }
}

/// Arguments of `hj212 decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// Input file (default: stdin).
    file: Option<PathBuf>,
    /// Gateway id to stamp on the readings.
    #[arg(long, default_value = "")]
    gateway: String,
    #[command(flatten)]
    units: UnitArgs,
}

/// Arguments of `hj212 encode`.
#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// Input file of JSON readings (default: stdin).
    file: Option<PathBuf>,
    /// Access password (`PW`).
    #[arg(long, default_value = "123456")]
    pw: String,
    /// Ask the receiver for acknowledgements (`Flag=5`).
    #[arg(long)]
    ack: bool,
    #[command(flatten)]
    units: UnitArgs,
}

/// Runs an HJ 212 subcommand.
pub fn run(cmd: Hj212Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Hj212Command::Decode(a) => decode(a),
        Hj212Command::Encode(a) => encode(a),
    }
}

fn decode(a: DecodeArgs) -> anyhow::Result<ExitCode> {
    let input = super::read_input(a.file.as_deref())?;
    let codec = Hj212Codec::new(a.units.table()?);
    let policy = ValidationPolicy::default();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let stderr = std::io::stderr();
    let mut err = BufWriter::new(stderr.lock());
    let mut text = String::with_capacity(512);
    for (line, bytes) in lines(&input) {
        let result = codec.decode(bytes).and_then(|mut r| {
            check_ranges(&r)?;
            apply_quality_flags(&mut r, &policy);
            r.gateway_id.clone_from(&a.gateway);
            Ok(r)
        });
        match result {
            Ok(r) => {
                text.clear();
                encode_into(&mut text, &r, EncodeStyle::Canonical);
                writeln!(out, "{text}")?;
            }
            Err(e) => writeln!(err, "line {line}: {e}")?,
        }
    }
    out.flush()?;
    err.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn encode(a: EncodeArgs) -> anyhow::Result<ExitCode> {
    let input = super::read_input(a.file.as_deref())?;
    let codec = Hj212Codec::new(a.units.table()?);
    let opts = EncodeOptions {
        pw: a.pw,
        qn: None,
        ack: a.ack,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = false;
    for (n, line) in input.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let items = match decode_payload(line, DecodeMode::Canonical) {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(line = n + 1, "{e}");
                failed = true;
                continue;
            }
        };
        for item in items {
            match item.result.and_then(|mut r| {
                let qn = r.ts;
                r.received_at = None;
                codec.encode(
                    &r,
                    &EncodeOptions {
                        qn: Some(qn),
                        ..opts.clone()
                    },
                )
            }) {
                Ok(frame) => out.write_all(frame.as_bytes())?,
                Err(e) => {
                    tracing::warn!(line = n + 1, "{e}");
                    failed = true;
                }
            }
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
