//! The stage-1 loop: poll, run the owned partitions' operators, publish, checkpoint.

use super::watchdog::{GroupWatchdog, watch_group};
use super::{Shared, blocking, lease, log_err, now_ms, owner_of};
use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::city::Sequenced;
use crate::error::{Result, StreamError};
use crate::history::{EpochFiles, publish, recover, write_epoch};
use crate::stage1::{PartitionOperator, Stage1Output};
use crate::stage2::{CityOperator, CityOutput};
use crate::wire::{self, Wire};
use aqstream_connect::log::{LogSource, OutRecord, Rebalance, Record};
use aqstream_runtime::Shutdown;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// One owned partition.
pub(super) struct Owned {
    op: Option<PartitionOperator>,
    store: CheckpointStore,
    epoch: u64,
    last_record: Instant,
    idle: bool,
    dirty: bool,
}

/// Stage 2 running in this process (one-process mode).
pub struct InProcessCity {
    /// The operator (taken while it works on the blocking pool).
    pub op: Option<CityOperator>,
    /// Its checkpoints.
    pub store: CheckpointStore,
    /// Its last committed epoch.
    pub epoch: u64,
}

impl InProcessCity {
    /// Loads stage 2 from its newest checkpoint (or starts it empty).
    pub async fn load(shared: &Shared, partitions: usize) -> Result<InProcessCity> {
        let store = CheckpointStore::new(&shared.opts.state_dir, "city", &shared.opts.token);
        let s = shared.clone();
        let st = store.clone();
        let (op, epoch, _) = blocking(move || load_city(&s, &st, partitions)).await??;
        Ok(InProcessCity {
            op: Some(op),
            store,
            epoch,
        })
    }
}

/// Stage 2 from the newest checkpoint of `store`, that checkpoint's epoch and its next
/// offset of the internal topic (0 without a checkpoint).
pub(crate) fn load_city(
    shared: &Shared,
    store: &CheckpointStore,
    partitions: usize,
) -> Result<(CityOperator, u64, i64)> {
    let det = crate::detect::detector(&shared.registry, &shared.cfg);
    match store.latest()? {
        Some(ck) => {
            recover(
                &[&shared.opts.history_dir, &shared.opts.state_dir],
                "city",
                ck.epoch,
                &ck.files,
            )?;
            let op = CityOperator::restore(
                shared.cfg.clone(),
                shared.dir.clone(),
                shared.archive.clone(),
                det,
                &ck.state,
            )?;
            Ok((op, ck.epoch, ck.offset))
        }
        None => Ok((
            CityOperator::new(
                shared.cfg.clone(),
                shared.dir.clone(),
                shared.archive.clone(),
                det,
                partitions,
            ),
            0,
            0,
        )),
    }
}

/// Writes the epoch of stage 2 and commits its checkpoint (`offset`: next offset of the
/// internal topic, or 0 in-process).
pub(crate) fn checkpoint_city(
    shared: &Shared,
    op: &mut CityOperator,
    store: &CheckpointStore,
    epoch: u64,
    offset: i64,
) -> Result<()> {
    let d = op.take_epoch();
    let mut files = EpochFiles::from(d);
    let staged = write_epoch(
        &shared.opts.history_dir,
        &shared.opts.state_dir,
        "city",
        epoch,
        &shared.opts.token,
        &mut files,
    )?;
    let ck = Checkpoint {
        owner: "city".into(),
        epoch,
        offset,
        files: staged,
        state: op.snapshot()?,
    };
    store.commit(&ck)?;
    publish(&ck.files)
}

/// Loads a partition from its newest checkpoint: (operator, epoch, offset to seek to).
fn load_partition(
    shared: &Shared,
    p: i32,
    store: &CheckpointStore,
) -> Result<(PartitionOperator, u64, Option<i64>)> {
    match store.latest()? {
        Some(ck) => {
            recover(
                &[&shared.opts.history_dir, &shared.opts.state_dir],
                store.owner(),
                ck.epoch,
                &ck.files,
            )?;
            let op = PartitionOperator::restore(
                shared.cfg.clone(),
                shared.dir.clone(),
                shared.plan.clone(),
                shared.archive.clone(),
                &ck.state,
            )?;
            Ok((op, ck.epoch, Some(ck.offset)))
        }
        None => {
            let op = PartitionOperator::new(
                p,
                shared.cfg.clone(),
                shared.dir.clone(),
                shared.plan.clone(),
                shared.archive.clone(),
            );
            Ok((op, 0, None))
        }
    }
}

/// Writes one partition's epoch and commits its checkpoint.
fn checkpoint_partition(
    shared: &Shared,
    op: &mut PartitionOperator,
    store: &CheckpointStore,
    epoch: u64,
) -> Result<()> {
    let d = op.take_epoch();
    let mut files = EpochFiles::from(d);
    let staged = write_epoch(
        &shared.opts.history_dir,
        &shared.opts.state_dir,
        store.owner(),
        epoch,
        &shared.opts.token,
        &mut files,
    )?;
    let ck = Checkpoint {
        owner: store.owner().to_string(),
        epoch,
        offset: op.next_offset,
        files: staged,
        state: op.snapshot()?,
    };
    store.commit(&ck)?;
    publish(&ck.files)
}

/// Runs stage 1 over `source` until `shutdown`; with `city`, stage 2 runs in-process on
/// its output, otherwise its messages go to the internal topic. Checkpoints on the
/// way out.
pub async fn run_stage1(
    shared: Shared,
    mut source: Box<dyn LogSource>,
    mut city: Option<InProcessCity>,
    shutdown: Shutdown,
) -> Result<()> {
    let cfg = shared.cfg.clone();
    let partitions = source.partition_count();
    shared.metrics.topic_partitions.set(i64::from(partitions));
    if city.is_some() {
        // Stage 2 in this process, over every partition (`aqstream run`).
        shared.metrics.stage2_active.set(1);
    }
    let idle_after = Duration::from_secs(cfg.idle_timeout_s);
    let every = Duration::from_secs(cfg.checkpoint_interval_s.max(1));
    let mut owned: BTreeMap<i32, Owned> = BTreeMap::new();
    let mut last_checkpoint = Instant::now();
    let mut backoff = Duration::from_millis(100);
    let mut watchdog = cfg
        .group_stall_timeout()
        .map(|t| GroupWatchdog::new(t, Instant::now()));
    let renew_every = lease::renew_interval(cfg.group_stall_timeout());
    let mut next_renewal = Instant::now();
    loop {
        let polled = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = source.poll(cfg.poll_max_records, Duration::from_millis(cfg.poll_timeout_ms)) => r,
        };
        let records = match polled {
            Ok(r) => {
                backoff = Duration::from_millis(100);
                r
            }
            Err(e) if e.is_transient() => {
                tracing::warn!("poll failed: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
            Err(e) => return Err(log_err(e)),
        };
        let rebalanced = rebalance(&shared, source.as_mut(), &mut owned).await?;
        shared.metrics.partitions.set(owned.len() as i64);
        if rebalanced || Instant::now() >= next_renewal {
            renew_leases(&shared, &owned).await;
            next_renewal = Instant::now() + renew_every;
        }
        shared.partition0.send_if_modified(|owns| {
            let now = owned.contains_key(&0);
            std::mem::replace(owns, now) != now
        });
        let now = Instant::now();
        // Group by partition (records of one partition are in offset order).
        let mut by_part: BTreeMap<i32, Vec<Record>> = BTreeMap::new();
        for r in records {
            if owned.contains_key(&r.partition) {
                by_part.entry(r.partition).or_default().push(r);
            }
        }
        let mut work = Vec::new();
        for (p, recs) in by_part {
            let o = owned.get_mut(&p).expect("filtered above");
            o.last_record = now;
            o.dirty = true;
            if o.idle {
                o.idle = false;
            }
            if let Some(op) = o.op.take() {
                work.push((op, recs));
            }
        }
        let mut city_op = city.as_mut().and_then(|c| c.op.take());
        let (done, out1, out2, city_back) = blocking(move || -> Result<_> {
            let mut out1 = Stage1Output::default();
            let mut out2 = CityOutput::default();
            let mut done = Vec::new();
            for (mut op, recs) in work {
                for r in recs {
                    if r.offset < op.next_offset {
                        continue;
                    }
                    op.push_record(r.offset, &r.payload, &mut out1)?;
                }
                done.push(op);
            }
            if let Some(c) = city_op.as_mut() {
                for m in &out1.city {
                    c.apply(m, &mut out2)?;
                }
            }
            Ok((done, out1, out2, city_op))
        })
        .await??;
        for op in done {
            if let Some(o) = owned.get_mut(&op.partition()) {
                o.op = Some(op);
            }
        }
        if let Some(c) = city.as_mut() {
            c.op = city_back;
        }
        emit(&shared, &out1, &out2, city.is_none(), partitions, now).await?;
        // Idle partitions stop holding the stream's watermark back.
        let mut idle_changes = Vec::new();
        for (p, o) in owned.iter_mut() {
            if !o.idle && now.duration_since(o.last_record) >= idle_after {
                o.idle = true;
                idle_changes.push(*p);
            }
        }
        if !idle_changes.is_empty() {
            tracing::debug!(?idle_changes, "partitions idle");
            idle(&shared, &mut city, &idle_changes, partitions).await?;
        }
        let wm = owned
            .values()
            .filter_map(|o| o.op.as_ref())
            .map(PartitionOperator::watermark)
            .min();
        if let Some(w) = wm {
            shared.metrics.set_lag(now_ms(), w);
        }
        if now.duration_since(last_checkpoint) >= every {
            checkpoint_all(&shared, source.as_mut(), &mut owned, &mut city).await?;
            last_checkpoint = Instant::now();
        }
        if let Some(w) = watchdog.as_mut()
            && w.due(Instant::now())
        {
            watch_group(&shared, source.as_mut(), &mut owned, &mut city, w).await?;
        }
    }
    checkpoint_all(&shared, source.as_mut(), &mut owned, &mut city).await?;
    Ok(())
}

/// Renews the leases of the owned partitions (see [`lease`]). A lease that cannot be
/// written is not fatal: the worker goes on, and if that persists the other workers
/// take its partitions for unowned and rejoin the group, which is what they should do
/// with a worker that cannot write to the shared state directory.
async fn renew_leases(shared: &Shared, owned: &BTreeMap<i32, Owned>) {
    if owned.is_empty() {
        return;
    }
    let (state, token) = (shared.opts.state_dir.clone(), shared.opts.token.clone());
    let parts: Vec<i32> = owned.keys().copied().collect();
    match blocking(move || lease::renew(&state, &parts, &token)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("cannot renew the partition leases: {e}"),
        Err(e) => tracing::warn!("cannot renew the partition leases: {e}"),
    }
}

/// Publishes the outputs of one poll: rows and alerts to their topics, stage-2
/// messages to the internal topic (unless stage 2 runs here), and the metrics.
async fn emit(
    shared: &Shared,
    out1: &Stage1Output,
    out2: &CityOutput,
    to_topic: bool,
    partitions: i32,
    polled_at: Instant,
) -> Result<()> {
    let m = &shared.metrics;
    m.observe_alerts(&out2.alerts, out2.watermark, Some(polled_at.into_std()));
    m.readings.inc_by(out1.accepted);
    m.late.inc_by(out1.late);
    m.duplicates.inc_by(out1.duplicates);
    m.malformed.inc_by(out1.malformed);
    m.observe_rows(&out1.rows);
    m.observe_rows(&out2.rows);
    m.observe_health(&out1.health);
    m.observe_health(&out2.health);
    if to_topic && !out1.city.is_empty() {
        send_internal(shared, &out1.city, partitions).await?;
    }
    let mut rows = out1.rows.clone();
    rows.extend(out2.rows.iter().cloned());
    shared.publish(&rows, &out2.alerts).await
}

/// Sends stage-2 messages to the internal topic and waits for the acknowledgements.
pub(crate) async fn send_internal(
    shared: &Shared,
    msgs: &[Sequenced],
    partitions: i32,
) -> Result<()> {
    let encoded: Vec<(String, Vec<u8>)> = msgs
        .iter()
        .map(|m| {
            let w = Wire::Input {
                partitions,
                msg: m.clone(),
            };
            (w.key(), w.encode())
        })
        .collect();
    send_all(shared, &encoded).await
}

async fn send_all(shared: &Shared, encoded: &[(String, Vec<u8>)]) -> Result<()> {
    let sends = encoded.iter().map(|(k, v)| {
        shared.sink.send(OutRecord {
            topic: wire::TOPIC,
            key: k.as_bytes(),
            payload: v,
            headers: &[],
        })
    });
    futures::future::try_join_all(sends)
        .await
        .map_err(log_err)?;
    Ok(())
}

/// Reports idle partitions to stage 2.
async fn idle(
    shared: &Shared,
    city: &mut Option<InProcessCity>,
    parts: &[i32],
    partitions: i32,
) -> Result<()> {
    match city {
        Some(c) => {
            if let Some(mut op) = c.op.take() {
                let parts = parts.to_vec();
                let (op, out) = blocking(move || -> Result<_> {
                    let mut out = CityOutput::default();
                    for p in parts {
                        op.set_idle(p, true, &mut out)?;
                    }
                    Ok((op, out))
                })
                .await??;
                c.op = Some(op);
                shared.metrics.observe_rows(&out.rows);
                shared.metrics.observe_health(&out.health);
                shared.publish(&out.rows, &out.alerts).await?;
            }
            Ok(())
        }
        None => {
            let encoded: Vec<(String, Vec<u8>)> = parts
                .iter()
                .map(|&p| {
                    let w = Wire::Idle {
                        partitions,
                        partition: p,
                        idle: true,
                    };
                    (w.key(), w.encode())
                })
                .collect();
            send_all(shared, &encoded).await
        }
    }
}

/// Applies the source's assignment changes; whether there were any.
async fn rebalance(
    shared: &Shared,
    source: &mut dyn LogSource,
    owned: &mut BTreeMap<i32, Owned>,
) -> Result<bool> {
    let changes = source.take_rebalances();
    let any = !changes.is_empty();
    for rb in changes {
        match rb {
            Rebalance::Revoked(ps) => {
                for p in ps {
                    if let Some(o) = owned.remove(&p) {
                        hand_over(shared, p, o).await;
                    }
                }
            }
            Rebalance::Assigned(ps) => {
                for p in ps {
                    assign(shared, source, owned, p).await?;
                }
            }
        }
    }
    Ok(any)
}

/// Checkpoints a revoked partition's work, so its next owner resumes from there and a
/// group that rebalances often still makes progress. Safe after the revocation: the
/// checkpoint store fences epochs, so if the next owner already committed, this
/// checkpoint is refused and the work is dropped (the new owner redoes it).
async fn hand_over(shared: &Shared, p: i32, mut o: Owned) {
    let Some(mut op) = o.op.take().filter(|_| o.dirty) else {
        tracing::info!(partition = p, "partition revoked");
        return;
    };
    let (s, store, epoch) = (shared.clone(), o.store.clone(), o.epoch + 1);
    match blocking(move || checkpoint_partition(&s, &mut op, &store, epoch)).await {
        Ok(Ok(())) => tracing::info!(partition = p, epoch, "partition revoked; work checkpointed"),
        Ok(Err(e)) => tracing::info!(
            partition = p,
            "partition revoked; uncommitted work dropped: {e}"
        ),
        Err(e) => tracing::warn!(
            partition = p,
            "partition revoked; uncommitted work dropped: {e}"
        ),
    }
}

async fn assign(
    shared: &Shared,
    source: &mut dyn LogSource,
    owned: &mut BTreeMap<i32, Owned>,
    p: i32,
) -> Result<()> {
    let store = CheckpointStore::new(&shared.opts.state_dir, &owner_of(p), &shared.opts.token);
    let (s, st) = (shared.clone(), store.clone());
    let (op, epoch, offset) = blocking(move || load_partition(&s, p, &st)).await??;
    if let Some(off) = offset {
        source.seek(p, off).await.map_err(log_err)?;
    }
    tracing::info!(partition = p, epoch, offset = ?offset, "partition assigned");
    owned.insert(
        p,
        Owned {
            op: Some(op),
            store,
            epoch,
            last_record: Instant::now(),
            idle: false,
            dirty: false,
        },
    );
    Ok(())
}

/// Checkpoints stage 2 (in-process) and every owned partition with new data, then
/// commits the offsets.
pub(super) async fn checkpoint_all(
    shared: &Shared,
    source: &mut dyn LogSource,
    owned: &mut BTreeMap<i32, Owned>,
    city: &mut Option<InProcessCity>,
) -> Result<()> {
    let started = std::time::Instant::now();
    // Stage 2 first: its applied sequence numbers must not fall behind stage 1's.
    if let Some(c) = city.as_mut()
        && let Some(mut op) = c.op.take()
    {
        let (s, store, epoch) = (shared.clone(), c.store.clone(), c.epoch + 1);
        let (op, r) = blocking(move || {
            let r = checkpoint_city(&s, &mut op, &store, epoch, 0);
            (op, r)
        })
        .await?;
        c.op = Some(op);
        r?;
        c.epoch += 1;
    }
    let mut commits = Vec::new();
    let parts: Vec<i32> = owned
        .iter()
        .filter(|(_, o)| o.dirty)
        .map(|(p, _)| *p)
        .collect();
    for p in parts {
        let o = owned.get_mut(&p).expect("listed");
        let Some(mut op) = o.op.take() else { continue };
        let (s, store, epoch) = (shared.clone(), o.store.clone(), o.epoch + 1);
        let (op, r) = blocking(move || {
            let r = checkpoint_partition(&s, &mut op, &store, epoch);
            (op, r)
        })
        .await?;
        match r {
            Ok(()) => {
                commits.push((p, op.next_offset));
                o.op = Some(op);
                o.epoch = epoch;
                o.dirty = false;
            }
            Err(StreamError::Fenced { .. }) => {
                tracing::warn!(
                    partition = p,
                    epoch,
                    "another worker committed this epoch; reloading the partition"
                );
                owned.remove(&p);
                assign(shared, source, owned, p).await?;
            }
            Err(e) => {
                o.op = Some(op);
                return Err(e);
            }
        }
    }
    if !commits.is_empty() {
        if let Err(e) = source.commit(&commits).await {
            // The checkpoint is the truth; the committed offset only informs lag tools.
            tracing::warn!("offset commit failed: {e}");
        }
        shared
            .metrics
            .checkpoint_seconds
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(())
}
