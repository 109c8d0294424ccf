//! The embedded log as a producer and reader: round trips, partitioning, offsets,
//! errors, wake-up latency, restart, configuration.

use anyhow::Result;
use aqstream_connect::embedded::partitioner::partition_for_key;
use aqstream_connect::embedded::{EmbeddedLog, EmbeddedLogConfig};
use aqstream_connect::log::{LogAdmin, LogSink, LogSource, OutRecord, Record, Retry};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

async fn open(dir: &std::path::Path) -> Result<Arc<EmbeddedLog>> {
    Ok(EmbeddedLog::open(EmbeddedLogConfig::in_dir(dir)).await?)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Every byte value, so nothing is lost to text encodings.
fn payload(i: usize) -> Vec<u8> {
    (0..(i % 300))
        .map(|j| ((i * 31 + j * 7) % 256) as u8)
        .collect()
}

async fn read_all(log: &EmbeddedLog, topic: &str) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for (p, end) in log.end_offsets(topic)?.into_iter().enumerate() {
        let recs = log.fetch(topic, p as i32, 0, usize::MAX).await?;
        assert_eq!(recs.len() as i64, end, "partition {p}");
        out.extend(recs);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_with_keys_headers_topics_and_partitions() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let log = open(dir.path()).await?;
    log.ensure_topics(&[("readings", 3), ("dlq", 1)]).await?;
    let sink = log.sink();
    let before = now_ms();

    // 300 keyed records sent concurrently, 40 unkeyed ones to another topic.
    let mut tasks = Vec::new();
    for i in 0..300usize {
        let sink = sink.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("TZ-{:04}", i % 20);
            let reason = [b'x', 0xff, 0x00, i as u8];
            let headers: [(&str, &[u8]); 2] = [("reason", &reason), ("empty", b"")];
            let d = sink
                .send(OutRecord {
                    topic: "readings",
                    key: key.as_bytes(),
                    payload: &payload(i),
                    headers: &headers,
                })
                .await?;
            anyhow::Ok((i, d))
        }));
    }
    let mut sent = BTreeMap::new();
    for t in tasks {
        let (i, d) = t.await??;
        let key = format!("TZ-{:04}", i % 20);
        assert_eq!(d.partition, partition_for_key(key.as_bytes(), 3), "{key}");
        sent.insert((d.partition, d.offset), i);
    }
    // Group commit: the concurrent sends shared fsyncs.
    let stats = log.write_stats();
    assert_eq!(stats.appends, 300);
    assert!(stats.syncs * 2 <= stats.appends, "{stats:?}");
    assert!(stats.batches <= stats.syncs, "{stats:?}");
    for i in 0..40usize {
        let d = sink
            .send(OutRecord {
                topic: "dlq",
                key: b"",
                payload: format!("raw {i}").as_bytes(),
                headers: &[],
            })
            .await?;
        assert_eq!(
            (d.partition, d.offset),
            (0, i as i64),
            "one partition, dense"
        );
    }
    let after = now_ms();

    // Offsets are dense per partition from 0.
    let ends = log.end_offsets("readings")?;
    for (p, &end) in ends.iter().enumerate() {
        let offsets: Vec<i64> = sent
            .keys()
            .filter(|(q, _)| *q == p as i32)
            .map(|&(_, o)| o)
            .collect();
        assert_eq!(offsets, (0..end).collect::<Vec<_>>(), "partition {p}");
    }
    assert_eq!(ends.iter().sum::<i64>(), 300);
    assert_eq!(log.end_offsets("dlq")?, vec![40]);

    // Everything reads back byte for byte where its delivery said.
    for r in read_all(&log, "readings").await? {
        let i = sent[&(r.partition, r.offset)];
        assert_eq!(r.topic, "readings");
        assert_eq!(r.key, Some(format!("TZ-{:04}", i % 20).into_bytes()));
        assert_eq!(r.payload, payload(i));
        assert_eq!(
            r.headers,
            vec![
                ("reason".to_string(), vec![b'x', 0xff, 0x00, i as u8]),
                ("empty".to_string(), vec![]),
            ]
        );
        let ts = r.timestamp_ms.expect("append time");
        assert!((before..=after).contains(&ts), "{ts} in {before}..={after}");
    }
    let dlq = read_all(&log, "dlq").await?;
    assert!(dlq.iter().all(|r| r.key.is_none() && r.headers.is_empty()));
    assert_eq!(dlq[7].payload, b"raw 7");

    // A consumer group sees each record once, each partition in offset order.
    let mut src = log.source("readings", "g")?;
    let mut seen: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    while seen.values().map(Vec::len).sum::<usize>() < 300 {
        let batch = src.poll(64, Duration::from_secs(5)).await?;
        assert!(!batch.is_empty(), "poll timed out with records pending");
        assert!(batch.len() <= 64);
        for r in batch {
            seen.entry(r.partition).or_default().push(r.offset);
        }
    }
    for (p, offs) in &seen {
        assert_eq!(offs, &(0..ends[*p as usize]).collect::<Vec<_>>());
    }
    assert!(src.poll(10, Duration::from_millis(50)).await?.is_empty());
    log.close().await?;
    Ok(())
}

#[tokio::test]
async fn keys_map_to_fixed_partitions() -> Result<()> {
    // Kafka's default partitioner (murmur2); these pairs must never change.
    let fixed: [(&str, i32, i32, i32); 6] = [
        ("TZ-0001", 1, 3, 7),
        ("TZ-0002", 0, 2, 6),
        ("TZ-0003", 2, 2, 2),
        ("TZ-0004", 0, 1, 9),
        ("BJ-DS-01", 2, 3, 11),
        ("a-20261122-0007", 1, 1, 1),
    ];
    let dir = tempfile::tempdir()?;
    let log = open(dir.path()).await?;
    log.ensure_topics(&[("p3", 3), ("p4", 4), ("p12", 12)])
        .await?;
    let sink = log.sink();
    for (key, p3, p4, p12) in fixed {
        for (topic, want) in [("p3", p3), ("p4", p4), ("p12", p12)] {
            assert_eq!(partition_for_key(key.as_bytes(), topic[1..].parse()?), want);
            let d = sink
                .send(OutRecord {
                    topic,
                    key: key.as_bytes(),
                    payload: b"{}",
                    headers: &[],
                })
                .await?;
            assert_eq!(d.partition, want, "{key} on {topic}");
        }
    }
    log.close().await?;
    Ok(())
}

#[tokio::test]
async fn unknown_topics_bad_names_and_oversized_records_are_permanent_errors() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = EmbeddedLogConfig {
        max_record_bytes: 1000,
        ..EmbeddedLogConfig::in_dir(dir.path())
    };
    let log = EmbeddedLog::open(cfg).await?;
    let sink = log.sink();
    let rec = |topic, payload| OutRecord {
        topic,
        key: b"k",
        payload,
        headers: &[],
    };
    let e = sink.send(rec("nope", b"x")).await.unwrap_err();
    assert_eq!(e.retry, Retry::Permanent, "{e}");
    assert!(log.source("nope", "g").is_err());
    for bad in ["", "a/b", "..", "sp ace"] {
        let e = log.ensure_topics(&[(bad, 1)]).await.unwrap_err();
        assert_eq!(e.retry, Retry::Permanent, "{bad:?}: {e}");
    }
    assert!(log.ensure_topics(&[("t", 0)]).await.is_err());
    log.ensure_topics(&[("t", 2)]).await?;
    log.ensure_topics(&[("t", 2), ("t", 5)]).await?; // exists: kept as is
    assert_eq!(log.end_offsets("t")?.len(), 2);
    let e = sink.send(rec("t", &[0u8; 1001])).await.unwrap_err();
    assert_eq!(e.retry, Retry::Permanent, "{e}");
    sink.send(rec("t", &[0u8; 990])).await?;
    log.close().await?;
    let e = sink.send(rec("t", b"late")).await.unwrap_err();
    assert_eq!(e.retry, Retry::Permanent, "{e}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_wakes_up_promptly_when_data_arrives() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let log = open(dir.path()).await?;
    log.ensure_topics(&[("t", 2)]).await?;
    let mut src = log.source("t", "g")?;

    // Nothing there: poll waits for the whole timeout, then returns empty.
    let t0 = Instant::now();
    assert!(src.poll(10, Duration::from_millis(150)).await?.is_empty());
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(2),
        "{waited:?}"
    );

    for round in 0..5 {
        let waiter = tokio::spawn(async move {
            let recs = src.poll(10, Duration::from_secs(20)).await;
            (recs, Instant::now(), src)
        });
        tokio::time::sleep(Duration::from_millis(50)).await; // let it start waiting
        let d = log
            .sink()
            .send(OutRecord {
                topic: "t",
                key: format!("k{round}").as_bytes(),
                payload: b"wake",
                headers: &[],
            })
            .await?;
        let acked = Instant::now();
        let (recs, woke, back) = waiter.await?;
        src = back;
        let recs = recs?;
        assert_eq!(recs.len(), 1);
        assert_eq!((recs[0].partition, recs[0].offset), (d.partition, d.offset));
        let latency = woke.saturating_duration_since(acked);
        assert!(
            latency < Duration::from_millis(200),
            "round {round}: woke {latency:?} after the ack"
        );
    }
    log.close().await?;
    Ok(())
}

#[tokio::test]
async fn reopen_keeps_records_and_continues_offsets() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let log = open(dir.path()).await?;
    log.ensure_topics(&[("t", 2)]).await?;
    let sink = log.sink();
    for i in 0..50 {
        sink.send(OutRecord {
            topic: "t",
            key: format!("k{}", i % 5).as_bytes(),
            payload: format!("v{i}").as_bytes(),
            headers: &[("n", format!("{i}").as_bytes())],
        })
        .await?;
    }
    sink.flush(Duration::from_secs(5)).await?;
    let ends = log.end_offsets("t")?;
    let before = read_all(&log, "t").await?;
    log.close().await?;
    drop((sink, log));

    // The directory is locked while open.
    let log = open(dir.path()).await?;
    let e = EmbeddedLog::open(EmbeddedLogConfig::in_dir(dir.path()))
        .await
        .unwrap_err();
    assert!(e.message.contains("already open"), "{e}");

    assert_eq!(log.end_offsets("t")?, ends);
    assert_eq!(read_all(&log, "t").await?, before);
    let d = log
        .sink()
        .send(OutRecord {
            topic: "t",
            key: b"k0",
            payload: b"after",
            headers: &[],
        })
        .await?;
    assert_eq!(
        d.offset, ends[d.partition as usize],
        "continues with the next offset"
    );
    log.close().await?;
    Ok(())
}

#[tokio::test]
async fn keyless_records_spread_round_robin() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let log = open(dir.path()).await?;
    log.ensure_topics(&[("t", 4)]).await?;
    for _ in 0..40 {
        log.sink()
            .send(OutRecord {
                topic: "t",
                key: b"",
                payload: b"x",
                headers: &[],
            })
            .await?;
    }
    assert_eq!(log.end_offsets("t")?, vec![10, 10, 10, 10]);
    log.close().await?;
    Ok(())
}

#[test]
fn config_reads_toml_with_durations_and_rejects_unknown_keys() -> Result<()> {
    let cfg: EmbeddedLogConfig = toml::from_str(
        r#"
        dir = "/var/lib/aqstream/log"
        fsync_interval = "2ms"
        max_batch_records = 100
        segment_bytes = 1048576
        retention = "3d"
        "#,
    )?;
    assert_eq!(cfg.dir, std::path::PathBuf::from("/var/lib/aqstream/log"));
    assert_eq!(cfg.fsync_interval, Duration::from_millis(2));
    assert_eq!(cfg.max_batch_records, 100);
    assert_eq!(cfg.segment_bytes, 1 << 20);
    assert_eq!(cfg.retention, Some(Duration::from_secs(3 * 86_400)));
    assert_eq!(cfg.default_partitions, 3, "defaults fill the rest");
    let ms: EmbeddedLogConfig = toml::from_str("fsync_interval = 7")?;
    assert_eq!(ms.fsync_interval, Duration::from_millis(7));
    assert!(toml::from_str::<EmbeddedLogConfig>("fsync = \"1ms\"").is_err());
    assert!(toml::from_str::<EmbeddedLogConfig>("retention = \"3 weeks\"").is_err());
    let d = EmbeddedLogConfig::default();
    assert_eq!(d.fsync_interval, Duration::from_millis(5));
    assert_eq!(d.max_batch_records, 4096);
    assert_eq!(d.segment_bytes, 64 << 20);
    Ok(())
}
