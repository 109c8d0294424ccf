//! The stage-2 loop. Stage 2 runs on the worker whose stage 1 owns partition 0 of
//! `aq.readings.v1`: the readings group already elects exactly one owner per partition
//! and hands partitions of a dead worker to the living, so stage 2 follows that owner
//! instead of depending on a second consumer group. The active stage 2 reads the one
//! partition of the internal topic directly from the offset of its newest checkpoint;
//! when partition 0 leaves the worker, its stage 2 stops and drops uncommitted work,
//! and the new owner resumes from the checkpoint. A worker that lost partition 0
//! without knowing it (paused, partitioned away) is fenced by the checkpoint store.

use super::partitions::{checkpoint_city, load_city};
use super::{Shared, blocking, log_err};
use crate::checkpoint::CheckpointStore;
use crate::error::{Result, StreamError};
use crate::stage2::{CityOperator, CityOutput};
use crate::wire::Wire;
use aqstream_connect::log::{ConnectError, LogSource};
use aqstream_runtime::Shutdown;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Opens the internal topic's partition 0 for reading from an offset.
pub type OpenInternal = Arc<
    dyn Fn(i64) -> BoxFuture<'static, std::result::Result<Box<dyn LogSource>, ConnectError>>
        + Send
        + Sync,
>;

struct Held {
    source: Box<dyn LogSource>,
    op: Option<CityOperator>,
    epoch: u64,
    next_offset: i64,
    dirty: bool,
}

/// Runs stage 2 whenever this worker owns partition 0 of the readings topic, until
/// `shutdown`. `open` opens the internal topic at an offset.
pub async fn run_stage2(shared: Shared, open: OpenInternal, shutdown: Shutdown) -> Result<()> {
    let cfg = shared.cfg.clone();
    let store = CheckpointStore::new(&shared.opts.state_dir, "city", &shared.opts.token);
    let every = Duration::from_secs(cfg.checkpoint_interval_s.max(1));
    let mut leader = shared.partition0.subscribe();
    let mut held: Option<Held> = None;
    let mut last_checkpoint = Instant::now();
    let mut backoff = Duration::from_millis(100);
    loop {
        let owns = *leader.borrow_and_update();
        if !owns && held.take().is_some() {
            tracing::info!("partition 0 left this worker: stage 2 handed over");
            shared.metrics.stage2_active.set(0);
        }
        if owns && held.is_none() {
            match activate(&shared, &store, &open).await {
                Ok(h) => {
                    backoff = Duration::from_millis(100);
                    held = Some(h);
                    shared.metrics.stage2_active.set(1);
                    last_checkpoint = Instant::now();
                }
                Err(e) if e.retry() == crate::Retry::Transient => {
                    tracing::warn!("cannot start stage 2 yet: {e}; retrying in {backoff:?}");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        let Some(h) = held.as_mut() else {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = leader.changed() => if changed.is_err() { break },
            }
            continue;
        };
        let polled = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = leader.changed() => continue,
            r = h.source.poll(cfg.poll_max_records, Duration::from_millis(cfg.poll_timeout_ms)) => r,
        };
        let polled_at = Instant::now();
        let records = match polled {
            Ok(r) => {
                backoff = Duration::from_millis(100);
                r
            }
            Err(e) if e.is_transient() => {
                tracing::warn!("stage 2 poll failed: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
            Err(e) => return Err(log_err(e)),
        };
        let records: Vec<_> = records
            .into_iter()
            .filter(|r| r.partition == 0 && r.offset >= h.next_offset)
            .collect();
        if !records.is_empty() {
            h.next_offset = records.last().map_or(h.next_offset, |r| r.offset + 1);
            h.dirty = true;
            let Some(op) = h.op.take() else { continue };
            let (op, out) = blocking(move || apply(op, records)).await??;
            h.op = Some(op);
            shared.metrics.observe_rows(&out.rows);
            shared.metrics.observe_health(&out.health);
            shared
                .metrics
                .observe_alerts(&out.alerts, out.watermark, Some(polled_at.into_std()));
            shared.publish(&out.rows, &out.alerts).await?;
        }
        if last_checkpoint.elapsed() >= every {
            match checkpoint(&shared, &store, h).await {
                Ok(()) => {}
                Err(StreamError::Fenced { .. }) => {
                    tracing::warn!("another worker committed stage 2; reloading it");
                    held = None;
                    shared.metrics.stage2_active.set(0);
                }
                Err(e) => return Err(e),
            }
            last_checkpoint = Instant::now();
        }
    }
    if let Some(h) = held.as_mut() {
        checkpoint(&shared, &store, h).await?;
    }
    Ok(())
}

/// Loads stage 2 from its newest checkpoint and opens the internal topic after it.
async fn activate(shared: &Shared, store: &CheckpointStore, open: &OpenInternal) -> Result<Held> {
    let (s, st) = (shared.clone(), store.clone());
    // The partition count of aq.readings.v1 arrives with every internal message
    // (`CityOperator::ensure_partitions`).
    let (op, epoch, next_offset) = blocking(move || load_city(&s, &st, 1)).await??;
    let source = open(next_offset).await.map_err(log_err)?;
    tracing::info!(epoch, next_offset, "stage 2 active on this worker");
    Ok(Held {
        source,
        op: Some(op),
        epoch,
        next_offset,
        dirty: false,
    })
}

/// Applies internal messages to stage 2.
fn apply(
    mut op: CityOperator,
    records: Vec<aqstream_connect::log::Record>,
) -> Result<(CityOperator, CityOutput)> {
    let mut out = CityOutput::default();
    for r in records {
        match Wire::decode(&r.payload) {
            Ok(Wire::Input { partitions, msg }) => {
                op.ensure_partitions(usize::try_from(partitions).unwrap_or(0));
                op.apply(&msg, &mut out)?;
            }
            Ok(Wire::Idle {
                partitions,
                partition,
                idle,
            }) => {
                op.ensure_partitions(usize::try_from(partitions).unwrap_or(0));
                op.set_idle(partition, idle, &mut out)?;
            }
            Err(e) => tracing::warn!(offset = r.offset, "skipping a bad internal message: {e}"),
        }
    }
    Ok((op, out))
}

async fn checkpoint(shared: &Shared, store: &CheckpointStore, h: &mut Held) -> Result<()> {
    if !h.dirty {
        return Ok(());
    }
    let Some(mut op) = h.op.take() else {
        return Ok(());
    };
    let (s, st, epoch, offset) = (shared.clone(), store.clone(), h.epoch + 1, h.next_offset);
    let (op, r) = blocking(move || {
        let r = checkpoint_city(&s, &mut op, &st, epoch, offset);
        (op, r)
    })
    .await?;
    h.op = Some(op);
    r?;
    h.epoch = epoch;
    h.dirty = false;
    if let Err(e) = h.source.commit(&[(0, offset)]).await {
        tracing::warn!("stage 2 offset commit failed: {e}");
    }
    Ok(())
}
