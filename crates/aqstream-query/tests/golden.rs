//! Golden SQL tests in a sqllogictest-like format, read from `testdata/sql/*.slt`:
//!
//! ```text
//! # comment
//! query
//! SELECT aqi_cn('pm25', 80, '24h')
//! ----
//! 107
//!
//! statement error unknown pollutant
//! SELECT aqi_cn('pm2', 80, '24h')
//! ```
//!
//! Result rows are written with values separated by a single space; NULL is `NULL`.
//! Set `AQSTREAM_BLESS=1` to rewrite the expected results from the engine's output.

use aqstream_query::config::EngineTuning;
use aqstream_query::{EngineOptions, QueryEngine};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use std::path::PathBuf;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

enum Record {
    Query { sql: String, expected: Vec<String> },
    Error { sql: String, needle: String },
}

fn parse(text: &str) -> Vec<(usize, Record)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_end();
        if l.is_empty() || l.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i + 1;
        if l == "query" {
            i += 1;
            let mut sql = Vec::new();
            while i < lines.len() && lines[i].trim_end() != "----" {
                sql.push(lines[i]);
                i += 1;
            }
            i += 1;
            let mut expected = Vec::new();
            while i < lines.len() && !lines[i].trim().is_empty() {
                expected.push(lines[i].trim_end().to_string());
                i += 1;
            }
            out.push((
                start,
                Record::Query {
                    sql: sql.join("\n"),
                    expected,
                },
            ));
        } else if let Some(needle) = l.strip_prefix("statement error") {
            i += 1;
            let mut sql = Vec::new();
            while i < lines.len() && !lines[i].trim().is_empty() {
                sql.push(lines[i]);
                i += 1;
            }
            out.push((
                start,
                Record::Error {
                    sql: sql.join("\n"),
                    needle: needle.trim().to_string(),
                },
            ));
        } else {
            panic!("line {start}: unknown record `{l}`");
        }
    }
    out
}

async fn rows(engine: &QueryEngine, sql: &str) -> Result<Vec<String>, String> {
    let (_, batches) = engine.sql(sql).await.map_err(|e| e.to_string())?;
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in &batches {
        let fmts: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            out.push(
                fmts.iter()
                    .map(|f| f.value(r).to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
                    .trim_end()
                    .to_string(),
            );
        }
    }
    Ok(out)
}

#[tokio::test]
async fn golden_sql_files() {
    let dir = testdata().join("sql");
    let sensors = testdata().join("sensors/tongzhou-small.csv");
    let engine = QueryEngine::new(&EngineOptions {
        sensors: Some(sensors),
        tuning: EngineTuning {
            target_partitions: 1,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let bless = std::env::var_os("AQSTREAM_BLESS").is_some();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut blessed = text.clone();
        for (line, rec) in parse(&text) {
            checked += 1;
            match rec {
                Record::Query { sql, expected } => match rows(&engine, &sql).await {
                    Ok(got) if got == expected => {}
                    Ok(got) if bless => {
                        let old = format!("{sql}\n----\n{}", expected.join("\n"));
                        let new = format!("{sql}\n----\n{}", got.join("\n"));
                        blessed = blessed.replacen(old.trim_end(), new.trim_end(), 1);
                    }
                    Ok(got) => failures.push(format!("{}:{line}: {sql}\n  expected {expected:?}\n  got      {got:?}", file.display())),
                    Err(e) => failures.push(format!("{}:{line}: {sql}\n  error {e}", file.display())),
                },
                Record::Error { sql, needle } => match rows(&engine, &sql).await {
                    Err(e) if e.contains(&needle) => {}
                    other => failures.push(format!("{}:{line}: {sql}\n  expected an error containing {needle:?}, got {other:?}", file.display())),
                },
            }
        }
        if bless && blessed != text {
            std::fs::write(&file, blessed).unwrap();
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} records failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 10);
}
