//! The Kafka connector against a real Kafka-protocol broker (Tansu, started here).

use aqstream_connect::kafka::{KafkaAdmin, KafkaConfig, KafkaSink, KafkaSource};
use aqstream_connect::log::{LogAdmin, LogSink, LogSource, OutRecord, Rebalance, Record};
use aqstream_connect::testkit::Tansu;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Polls until `n` records arrived or the deadline passes.
async fn poll_n(src: &mut KafkaSource, n: usize, within: Duration) -> Vec<Record> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        out.extend(src.poll(500, Duration::from_millis(200)).await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_consume_commit_seek() {
    let tansu = Tansu::start();
    let cfg = KafkaConfig::new(tansu.brokers());
    let admin = KafkaAdmin::new(&cfg).unwrap();
    admin.ensure_topics(&[("t.roundtrip", 3)]).await.unwrap();
    admin
        .ensure_topics(&[("t.roundtrip", 3)])
        .await
        .expect("creating an existing topic is fine");

    let sink = KafkaSink::new(&cfg).unwrap();
    let mut sent = BTreeMap::new();
    for i in 0..60 {
        let key = format!("S-{}", i % 7);
        let value = format!("{{\"n\":{i}}}");
        let d = sink
            .send(OutRecord {
                topic: "t.roundtrip",
                key: key.as_bytes(),
                payload: value.as_bytes(),
                headers: &[("reason", b"none"), ("n", i.to_string().as_bytes())],
            })
            .await
            .unwrap();
        assert!((0..3).contains(&d.partition));
        sent.insert((d.partition, d.offset), (key, value));
    }
    sink.flush(Duration::from_secs(5)).await.unwrap();

    let mut src = KafkaSource::new(&cfg, "t.roundtrip", "g1").await.unwrap();
    assert_eq!(src.partition_count(), 3);
    let got = poll_n(&mut src, 60, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 60, "every record once");
    let rebalances = src.take_rebalances();
    assert_eq!(rebalances, vec![Rebalance::Assigned(vec![0, 1, 2])]);
    assert_eq!(src.assignment(), vec![0, 1, 2]);
    let mut last = BTreeMap::new();
    for r in &got {
        let (key, value) = &sent[&(r.partition, r.offset)];
        assert_eq!(r.key.as_deref(), Some(key.as_bytes()));
        assert_eq!(r.payload, value.as_bytes());
        assert_eq!(r.header("reason"), Some(&b"none"[..]));
        // Same key, same partition; offsets increase within a partition.
        let prev = last.insert(r.partition, r.offset);
        assert!(prev.is_none_or(|p| p < r.offset));
    }

    // Commit positions mid-way, read them back from a new member of the group.
    let commits: Vec<(i32, i64)> = last.iter().map(|(&p, &o)| (p, o)).collect();
    src.commit(&commits).await.unwrap();
    let committed = src.committed(&[0, 1, 2]).await.unwrap();
    for (p, o) in &committed {
        assert_eq!(*o, last.get(p).copied(), "partition {p}");
    }
    // Seek back to the start of one partition: its records come again.
    let p0 = *last.keys().next().unwrap();
    src.seek(p0, 0).await.unwrap();
    let again = poll_n(&mut src, last[&p0] as usize + 1, Duration::from_secs(20)).await;
    assert!(!again.is_empty() && again.iter().all(|r| r.partition == p0));
    assert_eq!(again[0].offset, 0);
    drop(src);

    // A new consumer of the group resumes at the committed positions: exactly the
    // last record of each partition is read again.
    let mut src2 = KafkaSource::new(&cfg, "t.roundtrip", "g1").await.unwrap();
    let resumed = poll_n(&mut src2, last.len(), Duration::from_secs(30)).await;
    let mut resumed: Vec<(i32, i64)> = resumed.iter().map(|r| (r.partition, r.offset)).collect();
    resumed.sort();
    assert_eq!(resumed, commits);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_topic_is_reported_and_rebalances_are_surfaced() {
    let tansu = Tansu::start();
    let cfg = KafkaConfig::new(tansu.brokers());
    let e = KafkaSource::new(&cfg, "t.missing", "g").await.unwrap_err();
    assert!(e.message.contains("t.missing"), "{e}");
    tansu.create_topic("t.shared", 2);
    let sink = KafkaSink::new(&cfg).unwrap();
    for i in 0..20u32 {
        let k = format!("k{i}");
        sink.send(OutRecord {
            topic: "t.shared",
            key: k.as_bytes(),
            payload: b"x",
            headers: &[],
        })
        .await
        .unwrap();
    }
    let mut a = KafkaSource::new(&cfg, "t.shared", "g2").await.unwrap();
    let first = poll_n(&mut a, 20, Duration::from_secs(30)).await;
    assert_eq!(first.len(), 20);
    assert_eq!(a.take_rebalances(), vec![Rebalance::Assigned(vec![0, 1])]);
    // A second member joins: the first gives up one partition.
    let mut b = KafkaSource::new(&cfg, "t.shared", "g2").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    while Instant::now() < deadline && !(a.assignment().len() == 1 && b.assignment().len() == 1) {
        let _ = a.poll(10, Duration::from_millis(100)).await.unwrap();
        let _ = b.poll(10, Duration::from_millis(100)).await.unwrap();
        ra.extend(a.take_rebalances());
        rb.extend(b.take_rebalances());
    }
    assert_eq!(
        a.assignment().len() + b.assignment().len(),
        2,
        "{ra:?} {rb:?}"
    );
    assert!(ra.contains(&Rebalance::Revoked(vec![0, 1])), "{ra:?}");
    assert!(
        matches!(rb.last(), Some(Rebalance::Assigned(p)) if p.len() == 1),
        "{rb:?}"
    );
}
