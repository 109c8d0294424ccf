//! Rendering query results: an aligned table for people, CSV, JSON (lines or one array),
//! Parquet and the Arrow IPC stream for programs.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::writer::{JsonArray, JsonFormat, LineDelimited, WriterBuilder};
use std::io::Write;
use std::str::FromStr;

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// An aligned text table.
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON object per row, one per line (nulls included).
    Json,
    /// One JSON array of row objects (nulls included).
    JsonArray,
    /// A Parquet file (zstd).
    Parquet,
    /// The Arrow IPC streaming format.
    ArrowIpc,
}

impl OutputFormat {
    /// The media type of the format (HTTP `Content-Type`).
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Table => "text/plain; charset=utf-8",
            OutputFormat::Csv => "text/csv; charset=utf-8",
            OutputFormat::Json => "application/x-ndjson",
            OutputFormat::JsonArray => "application/json",
            OutputFormat::Parquet => "application/vnd.apache.parquet",
            OutputFormat::ArrowIpc => "application/vnd.apache.arrow.stream",
        }
    }

    /// Is the output binary (not for a terminal)?
    pub fn is_binary(self) -> bool {
        matches!(self, OutputFormat::Parquet | OutputFormat::ArrowIpc)
    }
}

impl FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "json" | "jsonl" | "ndjson" => Ok(OutputFormat::Json),
            "json-array" => Ok(OutputFormat::JsonArray),
            "parquet" => Ok(OutputFormat::Parquet),
            "arrow" => Ok(OutputFormat::ArrowIpc),
            other => Err(format!(
                "unknown format `{other}` (table, csv, json, json-array, parquet, arrow)"
            )),
        }
    }
}

fn write_json<F: JsonFormat>(
    out: &mut dyn Write,
    batches: &[&RecordBatch],
) -> Result<(), ArrowError> {
    let mut w = WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, F>(out);
    for b in batches {
        w.write(b)?;
    }
    w.finish()
}

/// Writes `batches` to `out` in `format`. An empty result still prints the header
/// (table and CSV), `[]` (JSON array), or a file with the schema (Parquet, Arrow).
pub fn write_batches(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> Result<(), ArrowError> {
    let nonempty: Vec<&RecordBatch> = batches.iter().filter(|b| b.num_rows() > 0).collect();
    match format {
        OutputFormat::Table => {
            let table = if nonempty.is_empty() {
                datafusion::arrow::util::pretty::pretty_format_batches(&[RecordBatch::new_empty(
                    schema.clone(),
                )])?
            } else {
                datafusion::arrow::util::pretty::pretty_format_batches(batches)?
            };
            writeln!(out, "{table}")?;
        }
        OutputFormat::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            if nonempty.is_empty() {
                w.write(&RecordBatch::new_empty(schema.clone()))?;
            }
            for b in nonempty {
                w.write(b)?;
            }
        }
        OutputFormat::Json => write_json::<LineDelimited>(out, &nonempty)?,
        OutputFormat::JsonArray => {
            if nonempty.is_empty() {
                out.write_all(b"[]")?;
            } else {
                write_json::<JsonArray>(out, &nonempty)?;
            }
        }
        OutputFormat::Parquet => {
            // ArrowWriter needs a `Send` sink: buffer (results are bounded by the row limit)
            let mut buf = Vec::new();
            let props = datafusion::parquet::file::properties::WriterProperties::builder()
                .set_compression(datafusion::parquet::basic::Compression::ZSTD(
                    Default::default(),
                ))
                .build();
            let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(
                &mut buf,
                schema.clone(),
                Some(props),
            )
            .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
            for b in nonempty {
                w.write(b)
                    .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
            }
            w.close()
                .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
            out.write_all(&buf)?;
        }
        OutputFormat::ArrowIpc => {
            let mut w = datafusion::arrow::ipc::writer::StreamWriter::try_new(out, schema)?;
            for b in nonempty {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    Ok(())
}
