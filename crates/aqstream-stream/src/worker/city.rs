//! The stage-2 loop: a member of the stage-2 group on the internal topic. The topic has
//! one partition, so one worker at a time holds it and runs stage 2; when it dies the
//! group hands the partition (and the newest stage-2 checkpoint) to another.

use super::partitions::{checkpoint_city, load_city};
use super::{Shared, blocking, log_err};
use crate::checkpoint::CheckpointStore;
use crate::error::Result;
use crate::stage2::{CityOperator, CityOutput};
use crate::wire::Wire;
use aqstream_connect::log::{LogSource, Rebalance};
use aqstream_runtime::Shutdown;
use std::time::Duration;
use tokio::time::Instant;

struct Held {
    op: Option<CityOperator>,
    epoch: u64,
    next_offset: i64,
    dirty: bool,
}

/// Runs stage 2 over the internal topic until `shutdown`.
pub async fn run_stage2(
    shared: Shared,
    mut source: Box<dyn LogSource>,
    shutdown: Shutdown,
) -> Result<()> {
    let cfg = shared.cfg.clone();
    let store = CheckpointStore::new(&shared.opts.state_dir, "city", &shared.opts.token);
    let every = Duration::from_secs(cfg.checkpoint_interval_s.max(1));
    let mut held: Option<Held> = None;
    let mut last_checkpoint = Instant::now();
    let mut backoff = Duration::from_millis(100);
    loop {
        let polled = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = source.poll(cfg.poll_max_records, Duration::from_millis(cfg.poll_timeout_ms)) => r,
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
        for rb in source.take_rebalances() {
            match rb {
                Rebalance::Revoked(ps) if ps.contains(&0) => {
                    tracing::info!("stage 2 handed over");
                    held = None;
                    shared.metrics.stage2_active.set(0);
                }
                Rebalance::Assigned(ps) if ps.contains(&0) => {
                    let (s, st) = (shared.clone(), store.clone());
                    let (op, epoch) = blocking(move || load_city(&s, &st, 1)).await??;
                    let next_offset = match st_offset(&store)? {
                        Some(off) => {
                            source.seek(0, off).await.map_err(log_err)?;
                            off
                        }
                        None => 0,
                    };
                    tracing::info!(epoch, next_offset, "stage 2 active on this worker");
                    held = Some(Held {
                        op: Some(op),
                        epoch,
                        next_offset,
                        dirty: false,
                    });
                    shared.metrics.stage2_active.set(1);
                }
                _ => {}
            }
        }
        let Some(h) = held.as_mut() else { continue };
        let records: Vec<_> = records
            .into_iter()
            .filter(|r| r.partition == 0 && r.offset >= h.next_offset)
            .collect();
        if !records.is_empty() {
            h.next_offset = records.last().map_or(h.next_offset, |r| r.offset + 1);
            h.dirty = true;
            let Some(mut op) = h.op.take() else { continue };
            let (op, out) = blocking(move || -> Result<_> {
                let mut out = CityOutput::default();
                for r in records {
                    match Wire::decode(&r.payload) {
                        Ok(Wire::Input { msg, .. }) => op.apply(&msg, &mut out)?,
                        Ok(Wire::Idle {
                            partition, idle, ..
                        }) => op.set_idle(partition, idle, &mut out)?,
                        Err(e) => tracing::warn!(
                            offset = r.offset,
                            "skipping a bad internal message: {e}"
                        ),
                    }
                }
                Ok((op, out))
            })
            .await??;
            h.op = Some(op);
            shared.metrics.observe_rows(&out.rows);
            shared.metrics.observe_health(&out.health);
            shared
                .metrics
                .observe_alerts(&out.alerts, out.watermark, Some(polled_at.into_std()));
            shared.publish(&out.rows, &out.alerts).await?;
        }
        if last_checkpoint.elapsed() >= every {
            checkpoint(&shared, source.as_mut(), &store, h).await?;
            last_checkpoint = Instant::now();
        }
    }
    if let Some(h) = held.as_mut() {
        checkpoint(&shared, source.as_mut(), &store, h).await?;
    }
    Ok(())
}

fn st_offset(store: &CheckpointStore) -> Result<Option<i64>> {
    Ok(store.latest()?.map(|c| c.offset))
}

async fn checkpoint(
    shared: &Shared,
    source: &mut dyn LogSource,
    store: &CheckpointStore,
    h: &mut Held,
) -> Result<()> {
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
    if let Err(e) = source.commit(&[(0, offset)]).await {
        tracing::warn!("stage 2 offset commit failed: {e}");
    }
    Ok(())
}
