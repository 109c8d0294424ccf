//! Recovery of the embedded log: torn tails, segment rolling, retention.

use anyhow::Result;
use aqstream_connect::embedded::{EmbeddedLog, EmbeddedLogConfig};
use aqstream_connect::log::{LogAdmin, LogSink, LogSource, OutRecord, Record};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn segments(dir: &Path, topic: &str, partition: i32) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> =
        fs::read_dir(dir.join("topics").join(topic).join(partition.to_string()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
    v.retain(|p| p.extension().is_some_and(|e| e == "log"));
    v.sort();
    Ok(v)
}

async fn send_n(
    log: &Arc<EmbeddedLog>,
    topic: &str,
    from: usize,
    n: usize,
    size: usize,
) -> Result<()> {
    let sink = log.sink();
    for i in from..from + n {
        let mut payload = format!("record {i} ").into_bytes();
        payload.resize(size, b'.');
        let d = sink
            .send(OutRecord {
                topic,
                key: b"",
                payload: &payload,
                headers: &[("i", format!("{i:06}").as_bytes())],
            })
            .await?;
        assert_eq!(d.offset, i as i64);
    }
    Ok(())
}

fn index_of(r: &Record) -> usize {
    std::str::from_utf8(r.header("i").unwrap())
        .unwrap()
        .parse()
        .unwrap()
}

/// Writes 20 records, closes, damages the active segment with `damage`, reopens and
/// checks that `survivors` records remain intact and appending continues after them.
async fn torn_tail_case(name: &str, damage: impl FnOnce(&Path, u64), survivors: i64) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let log = EmbeddedLog::open(EmbeddedLogConfig::in_dir(dir.path())).await?;
    log.ensure_topics(&[("t", 1)]).await?;
    send_n(&log, "t", 0, 20, 100).await?;
    log.close().await?;
    drop(log);
    let seg = segments(dir.path(), "t", 0)?.pop().unwrap();
    let len = fs::metadata(&seg)?.len();
    damage(&seg, len);

    let log = EmbeddedLog::open(EmbeddedLogConfig::in_dir(dir.path())).await?;
    assert_eq!(log.end_offsets("t")?, vec![survivors], "{name}");
    let recs = log.fetch("t", 0, 0, 100).await?;
    assert_eq!(recs.len() as i64, survivors, "{name}");
    for (i, r) in recs.iter().enumerate() {
        assert_eq!((r.offset, index_of(r)), (i as i64, i), "{name}");
    }
    let valid = fs::metadata(&seg)?.len();
    assert_eq!(
        valid,
        len * survivors as u64 / 20,
        "{name}: file cut to whole records"
    );
    // Appending continues right after the survivors.
    send_n(&log, "t", survivors as usize, 3, 100).await?;
    assert_eq!(log.fetch("t", 0, 0, 100).await?.len() as i64, survivors + 3);
    log.close().await?;
    Ok(())
}

#[tokio::test]
async fn torn_tails_are_truncated_on_open() -> Result<()> {
    let record = |len: u64| len / 20;
    torn_tail_case(
        "cut mid-record",
        |p, len| {
            let f = OpenOptions::new().write(true).open(p).unwrap();
            f.set_len(len - record(len) / 2).unwrap();
        },
        19,
    )
    .await?;
    torn_tail_case(
        "cut inside the last header",
        |p, len| {
            let f = OpenOptions::new().write(true).open(p).unwrap();
            f.set_len(len - record(len) + 3).unwrap();
        },
        19,
    )
    .await?;
    torn_tail_case(
        "garbage appended",
        |p, _| {
            let mut f = OpenOptions::new().append(true).open(p).unwrap();
            f.write_all(b"\x2a\x00\x00\x00garbage that is not a record at all......")
                .unwrap();
        },
        20,
    )
    .await?;
    torn_tail_case(
        "zeros appended (a file system extended the file but not its data)",
        |p, _| {
            let mut f = OpenOptions::new().append(true).open(p).unwrap();
            f.write_all(&[0; 4096]).unwrap();
        },
        20,
    )
    .await?;
    torn_tail_case(
        "last record's bytes damaged",
        |p, len| {
            let mut bytes = fs::read(p).unwrap();
            bytes[(len - 10) as usize] ^= 0x55;
            fs::write(p, bytes).unwrap();
        },
        19,
    )
    .await?;
    Ok(())
}

fn set_age(path: &Path, age: Duration) -> Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_modified(SystemTime::now() - age)?;
    Ok(())
}

#[tokio::test]
async fn segments_roll_and_reads_cross_them_after_a_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = EmbeddedLogConfig {
        segment_bytes: 16 << 10,
        ..EmbeddedLogConfig::in_dir(dir.path())
    };
    let log = EmbeddedLog::open(cfg.clone()).await?;
    log.ensure_topics(&[("t", 1)]).await?;
    send_n(&log, "t", 0, 1000, 200).await?;
    let files = segments(dir.path(), "t", 0)?;
    assert!(files.len() >= 10, "{} segments", files.len());
    assert_eq!(log.segment_counts("t")?, vec![files.len()]);
    for f in &files {
        assert!(fs::metadata(f)?.len() <= 16 << 10, "{}", f.display());
    }
    log.close().await?;
    drop(log);

    let log = EmbeddedLog::open(cfg).await?;
    assert_eq!(log.end_offsets("t")?, vec![1000]);
    // Random access into sealed segments (their index is built on first use).
    for at in [0usize, 1, 77, 500, 501, 998, 999] {
        let r = log.fetch("t", 0, at as i64, 2).await?;
        assert_eq!(index_of(&r[0]), at);
        assert_eq!(r.len(), if at == 999 { 1 } else { 2 });
    }
    let mut src = log.source("t", "g")?;
    let mut n = 0;
    while n < 1000 {
        let batch = src.poll(333, Duration::from_secs(5)).await?;
        assert!(!batch.is_empty());
        for r in batch {
            assert_eq!(index_of(&r), n);
            n += 1;
        }
    }
    log.close().await?;
    Ok(())
}

#[tokio::test]
async fn retention_drops_old_sealed_segments_only() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = EmbeddedLogConfig {
        segment_bytes: 8 << 10,
        retention: Some(Duration::from_secs(3600)),
        ..EmbeddedLogConfig::in_dir(dir.path())
    };
    let log = EmbeddedLog::open(cfg.clone()).await?;
    log.ensure_topics(&[("t", 1), ("other", 1)]).await?;
    send_n(&log, "t", 0, 300, 200).await?;
    send_n(&log, "other", 0, 300, 200).await?;
    let files = segments(dir.path(), "t", 0)?;
    assert!(files.len() >= 6, "{} segments", files.len());
    assert_eq!(log.apply_retention().await?, 0, "nothing is old yet");

    // The first three segments are two hours old; the fourth is young.
    for f in &files[..3] {
        set_age(f, Duration::from_secs(7200))?;
    }
    let first_kept: i64 = files[3].file_stem().unwrap().to_str().unwrap().parse()?;
    assert_eq!(log.apply_retention().await?, 3);
    assert_eq!(segments(dir.path(), "t", 0)?, files[3..].to_vec());
    assert_eq!(log.start_offsets("t")?, vec![first_kept]);
    assert_eq!(log.end_offsets("t")?, vec![300]);
    assert_eq!(
        log.start_offsets("other")?,
        vec![0],
        "other topics untouched"
    );
    assert!(
        log.fetch("t", 0, 0, 1).await.is_err(),
        "deleted offsets are gone"
    );

    // A new group starts at the log start.
    let mut src = log.source("t", "g")?;
    let first = src.poll(1, Duration::from_secs(5)).await?;
    assert_eq!(first[0].offset, first_kept);
    assert_eq!(index_of(&first[0]), first_kept as usize);

    // Even when every file is old, the active segment stays (a young sealed one
    // in the middle also stops the deletion there).
    let files = segments(dir.path(), "t", 0)?;
    for f in &files {
        set_age(f, Duration::from_secs(7200))?;
    }
    set_age(&files[1], Duration::from_secs(60))?;
    assert_eq!(log.apply_retention().await?, 1);
    assert_eq!(segments(dir.path(), "t", 0)?, files[1..].to_vec());
    for f in &files[1..] {
        set_age(f, Duration::from_secs(7200))?;
    }
    log.apply_retention().await?;
    let left = segments(dir.path(), "t", 0)?;
    assert_eq!(left, vec![files.last().unwrap().clone()]);
    assert_eq!(log.end_offsets("t")?, vec![300]);
    let tail = log.fetch("t", 0, log.start_offsets("t")?[0], 1000).await?;
    assert_eq!(tail.last().map(index_of), Some(299));
    // A reader positioned before the new start skips ahead instead of failing.
    let more = src.poll(1000, Duration::from_secs(5)).await?;
    assert_eq!(
        more.first().map(|r| r.offset),
        log.start_offsets("t")?.first().copied()
    );
    log.close().await?;
    drop((src, log));

    // The start survives a restart (it is the first segment's base offset).
    let log = EmbeddedLog::open(cfg).await?;
    assert_eq!(log.start_offsets("t")?, vec![tail[0].offset]);
    log.close().await?;
    Ok(())
}
