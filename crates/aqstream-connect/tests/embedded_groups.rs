//! Consumer groups of the embedded log: committed offsets, partition assignment,
//! rebalances, seeks.

use anyhow::Result;
use aqstream_connect::embedded::{EmbeddedLog, EmbeddedLogConfig, EmbeddedSource};
use aqstream_connect::log::{LogAdmin, LogSink, LogSource, OutRecord, Rebalance, Record, Retry};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

async fn log_with(dir: &std::path::Path, topic: &str, partitions: i32) -> Result<Arc<EmbeddedLog>> {
    let log = EmbeddedLog::open(EmbeddedLogConfig::in_dir(dir)).await?;
    log.ensure_topics(&[(topic, partitions)]).await?;
    Ok(log)
}

/// Sends `n` records with keyless round-robin, so every partition gets some.
async fn fill(log: &Arc<EmbeddedLog>, topic: &str, n: usize) -> Result<()> {
    let sink = log.sink();
    for i in 0..n {
        sink.send(OutRecord {
            topic,
            key: b"",
            payload: format!("r{i}").as_bytes(),
            headers: &[],
        })
        .await?;
    }
    Ok(())
}

/// Polls until `n` records arrived (failing on a quiet timeout).
async fn poll_n(src: &mut EmbeddedSource, n: usize) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    while out.len() < n {
        let batch = src.poll(n - out.len(), Duration::from_secs(5)).await?;
        anyhow::ensure!(
            !batch.is_empty(),
            "timed out after {} of {n} records",
            out.len()
        );
        out.extend(batch);
    }
    Ok(out)
}

#[tokio::test]
async fn committed_offsets_survive_a_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let log = log_with(dir.path(), "t", 3).await?;
    fill(&log, "t", 30).await?;
    let mut src = log.source("t", "worker")?;
    assert_eq!(
        src.committed(&[0, 1, 2]).await?,
        vec![(0, None), (1, None), (2, None)]
    );
    src.commit(&[(0, 4), (2, 10)]).await?;
    src.commit(&[(0, 7)]).await?;
    assert_eq!(
        src.committed(&[0, 1, 2]).await?,
        vec![(0, Some(7)), (1, None), (2, Some(10))]
    );
    let e = src.commit(&[(9, 1)]).await.unwrap_err();
    assert_eq!(e.retry, Retry::Permanent, "{e}");
    drop(src);
    log.close().await?;
    drop(log);

    let log = EmbeddedLog::open(EmbeddedLogConfig::in_dir(dir.path())).await?;
    let mut src = log.source("t", "worker")?;
    assert_eq!(
        src.committed(&[0, 1, 2]).await?,
        vec![(0, Some(7)), (1, None), (2, Some(10))]
    );
    // Reading resumes at the committed offsets (log start where none).
    assert_eq!(src.positions(), vec![(0, 7), (1, 0), (2, 10)]);
    let recs = poll_n(&mut src, 3 + 10).await?;
    let first: Vec<(i32, i64)> = [0, 1, 2]
        .iter()
        .filter_map(|&p| {
            recs.iter()
                .find(|r| r.partition == p)
                .map(|r| (p, r.offset))
        })
        .collect();
    assert_eq!(first, vec![(0, 7), (1, 0)], "partition 2 is fully consumed");
    // Another group is independent.
    let other = log.source("t", "other")?;
    drop(src);
    let mut other = other;
    assert_eq!(other.committed(&[0]).await?, vec![(0, None)]);
    assert_eq!(poll_n(&mut other, 30).await?.len(), 30);
    log.close().await?;
    Ok(())
}

#[tokio::test]
async fn two_sources_split_partitions_and_rebalance_when_one_leaves() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let log = log_with(dir.path(), "t", 4).await?;
    fill(&log, "t", 40).await?; // 10 per partition

    let mut a = log.source("t", "g")?;
    assert_eq!(a.assignment(), vec![0, 1, 2, 3]);
    assert_eq!(
        a.take_rebalances(),
        vec![Rebalance::Assigned(vec![0, 1, 2, 3])]
    );
    assert_eq!(a.partition_count(), 4);

    let mut b = log.source("t", "g")?;
    assert_eq!(b.take_rebalances(), vec![Rebalance::Assigned(vec![1, 3])]);
    assert_eq!(a.take_rebalances(), vec![Rebalance::Revoked(vec![1, 3])]);
    assert_eq!(a.assignment(), vec![0, 2]);
    assert_eq!(b.assignment(), vec![1, 3]);

    // They split the records.
    let ra = poll_n(&mut a, 20).await?;
    let rb = poll_n(&mut b, 20).await?;
    assert!(ra.iter().all(|r| r.partition % 2 == 0));
    assert!(rb.iter().all(|r| r.partition % 2 == 1));
    assert!(a.poll(10, Duration::from_millis(50)).await?.is_empty());

    // Only the owner may commit a partition.
    let e = a.commit(&[(1, 5)]).await.unwrap_err();
    assert_eq!(e.retry, Retry::Transient, "{e}");
    b.commit(&[(1, 6), (3, 10)]).await?;

    // b leaves: a takes over 1 and 3 from b's committed offsets.
    drop(b);
    let got =
        tokio::time::timeout(Duration::from_secs(5), a.poll(100, Duration::from_secs(5))).await??;
    assert_eq!(a.take_rebalances(), vec![Rebalance::Assigned(vec![1, 3])]);
    assert_eq!(a.assignment(), vec![0, 1, 2, 3]);
    let offsets: BTreeSet<(i32, i64)> = got.iter().map(|r| (r.partition, r.offset)).collect();
    assert_eq!(
        offsets,
        (6..10).map(|o| (1, o)).collect(),
        "re-reads 1 from 6, 3 is done"
    );
    a.commit(&[(1, 10)]).await?;
    log.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_source_wakes_up_when_partitions_are_handed_over() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let log = log_with(dir.path(), "t", 2).await?;
    let mut a = log.source("t", "g")?;
    let b = log.source("t", "g")?;
    a.take_rebalances();
    fill(&log, "t", 4).await?;
    let _ = poll_n(&mut a, 2).await?; // partition 0 only
    let waiter = tokio::spawn(async move {
        let r = a.poll(10, Duration::from_secs(10)).await;
        (r, a)
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t0 = std::time::Instant::now();
    drop(b);
    let (r, mut a) = waiter.await?;
    let recs = r?;
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| r.partition == 1));
    assert_eq!(a.take_rebalances(), vec![Rebalance::Assigned(vec![1])]);
    log.close().await?;
    Ok(())
}

#[tokio::test]
async fn seek_moves_the_read_position() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let log = log_with(dir.path(), "t", 1).await?;
    fill(&log, "t", 10).await?;
    let mut src = log.source("t", "g")?;
    let all = poll_n(&mut src, 10).await?;
    assert_eq!(
        all.iter().map(|r| r.offset).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );

    src.seek(0, 3).await?;
    let again = poll_n(&mut src, 7).await?;
    assert_eq!(again.first().map(|r| r.offset), Some(3));
    assert_eq!(again, all[3..].to_vec());

    src.seek(0, 10).await?; // the end is a valid position
    assert!(src.poll(1, Duration::from_millis(20)).await?.is_empty());
    assert_eq!(src.seek(0, 11).await.unwrap_err().retry, Retry::Permanent);
    assert!(src.seek(0, -1).await.is_err());
    assert!(src.seek(1, 0).await.is_err(), "no partition 1");

    // A partition owned by another member cannot be sought.
    log.ensure_topics(&[("u", 2)]).await?;
    let mut a = log.source("u", "g")?;
    let _b = log.source("u", "g")?;
    a.take_rebalances();
    let e = a.seek(1, 0).await.unwrap_err();
    assert!(e.message.contains("not assigned"), "{e}");
    log.close().await?;
    Ok(())
}

#[tokio::test]
async fn rejoining_gives_the_assignment_up_and_joins_as_a_new_member() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let log = log_with(dir.path(), "t", 4).await?;
    fill(&log, "t", 40).await?; // 10 per partition
    let mut a = log.source("t", "g")?;
    let mut b = log.source("t", "g")?;
    a.take_rebalances();
    b.take_rebalances();
    assert_eq!((a.assignment(), b.assignment()), (vec![0, 2], vec![1, 3]));
    assert_eq!(
        a.watermarks(&[0, 3]).await?,
        vec![(0, 0, 10), (3, 0, 10)],
        "any partition, owned or not"
    );
    b.commit(&[(1, 4)]).await?;

    // `a` leaves and comes back as the newest member: it gives 0 and 2 up first and
    // then gets the newest member's share, read from the group's committed offsets.
    a.rejoin().await?;
    assert_eq!(
        a.take_rebalances(),
        vec![
            Rebalance::Revoked(vec![0, 2]),
            Rebalance::Assigned(vec![1, 3])
        ]
    );
    b.take_rebalances();
    assert_eq!((a.assignment(), b.assignment()), (vec![1, 3], vec![0, 2]));
    let got = poll_n(&mut a, 6 + 10).await?;
    let first_of_1 = got.iter().find(|r| r.partition == 1).map(|r| r.offset);
    assert_eq!(first_of_1, Some(4));
    log.close().await?;
    Ok(())
}
