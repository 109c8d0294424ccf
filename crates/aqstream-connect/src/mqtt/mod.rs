//! The MQTT source of the ingester (rumqttc, MQTT 3.1.1).
//!
//! Three tasks, connected by channels, so the MQTT event loop is never blocked:
//!
//! ```text
//!  event loop ──publish──▶ dispatcher ──spawn──▶ message task ──done──▶ acknowledger
//!  (polls the broker,      (waits for a       (decode, validate,       (PUBACKs in
//!   reconnects with         window permit)     append, await the log)   arrival order)
//!   backoff)
//! ```
//!
//! A QoS 1 message is acknowledged only after the log acknowledged every reading and
//! every dead letter made from it; the session is persistent (`clean_session=false`),
//! so whatever was not acknowledged when the ingester died is redelivered when it comes
//! back. Memory is bounded by the in-flight window: the broker sends no more
//! unacknowledged messages than its per-client in-flight limit, and the ingester
//! processes at most `max_in_flight` at a time.

mod acks;
mod config;

pub use acks::{AckOrder, Released};
pub use config::{BrokerUrl, MqttConfig, MqttTls, parse_url};

use crate::ingest::{IngestContext, IngestError, Transport, now_ms};
use rumqttc::{AsyncClient, Event, Outgoing, Packet, Publish, QoS, SubscribeReasonCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// A message handed from the event loop to the dispatcher: connection epoch and packet.
type Received = (u64, Publish);

struct Shared {
    order: Mutex<AckOrder<Publish>>,
    epoch: AtomicU64,
    drained: Notify,
}

impl Shared {
    fn pending(&self) -> usize {
        self.order.lock().map_or(0, |o| o.len())
    }
}

/// Subscribes to the broker and ingests until `ctx.shutdown`, then drains: messages
/// already taken are finished and acknowledged (up to `ctx.drain_timeout`), the session
/// is closed cleanly, and the function returns.
pub async fn run(cfg: &MqttConfig, ctx: IngestContext) -> Result<(), IngestError> {
    let options = cfg.options()?;
    let cap = ctx.window.available_permits().max(16) * 2;
    let (client, eventloop) = AsyncClient::new(options, cap);
    let shared = Arc::new(Shared {
        order: Mutex::new(AckOrder::new()),
        epoch: AtomicU64::new(0),
        drained: Notify::new(),
    });
    let (pub_tx, pub_rx) = mpsc::unbounded_channel::<Received>();
    let (done_tx, done_rx) = mpsc::unbounded_channel::<(u64, bool)>();
    let stop_loop = aqstream_runtime::Shutdown::new();
    tracing::info!(url = %cfg.url, client_id = %cfg.client_id, filter = %cfg.subscription, "MQTT source starting");

    let event_task = tokio::spawn(event_loop(
        eventloop,
        client.clone(),
        cfg.clone(),
        ctx.clone(),
        shared.clone(),
        pub_tx,
        stop_loop.clone(),
    ));
    let ack_task = tokio::spawn(acknowledger(
        client.clone(),
        ctx.clone(),
        shared.clone(),
        done_rx,
    ));

    dispatcher(ctx.clone(), shared.clone(), pub_rx, done_tx).await;

    // Drain: everything taken finishes (or the deadline passes), then close cleanly.
    let pending = shared.pending();
    if pending > 0 {
        tracing::info!(pending, "draining in-flight MQTT messages");
    }
    let drained = tokio::time::timeout(ctx.drain_timeout, async {
        while shared.pending() > 0 {
            let notified = shared.drained.notified();
            if shared.pending() == 0 {
                break;
            }
            notified.await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            pending = shared.pending(),
            "drain timed out; unacknowledged messages will be redelivered by the broker"
        );
        ctx.abort.trigger();
    }
    // Queued acknowledgements go out before the DISCONNECT (one request channel).
    ack_task.abort();
    let _ = client.try_disconnect();
    if tokio::time::timeout(
        Duration::from_secs(5),
        stop_loop_after(&stop_loop, event_task),
    )
    .await
    .is_err()
    {
        tracing::warn!("MQTT event loop did not stop in time");
    }
    ctx.metrics.mqtt_connected.set(0);
    tracing::info!("MQTT source stopped");
    Ok(())
}

async fn stop_loop_after(stop: &aqstream_runtime::Shutdown, task: tokio::task::JoinHandle<()>) {
    // The loop ends by itself once the DISCONNECT is written; if the broker is
    // unreachable, stop it after a grace period.
    let abort = task.abort_handle();
    let grace = tokio::time::sleep(Duration::from_secs(3));
    tokio::pin!(task);
    tokio::select! {
        _ = &mut task => {}
        _ = grace => {
            stop.trigger();
            if tokio::time::timeout(Duration::from_secs(1), &mut task).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// Polls the broker: forwards publishes, (re)subscribes on every connection, reconnects
/// with backoff. Never waits on anything but the network and the backoff timer.
async fn event_loop(
    mut eventloop: rumqttc::EventLoop,
    client: AsyncClient,
    cfg: MqttConfig,
    ctx: IngestContext,
    shared: Arc<Shared>,
    pub_tx: mpsc::UnboundedSender<Received>,
    stop: aqstream_runtime::Shutdown,
) {
    let initial = Duration::from_millis(cfg.reconnect_initial_ms.max(1));
    let max = Duration::from_millis(cfg.reconnect_max_ms.max(cfg.reconnect_initial_ms).max(1));
    let mut backoff = initial;
    loop {
        let ev = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            ev = eventloop.poll() => ev,
        };
        match ev {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let epoch = shared.epoch.load(Ordering::Acquire);
                if pub_tx.send((epoch, p)).is_err() {
                    // The dispatcher stopped (shutdown): leave the message unacknowledged.
                }
            }
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                let epoch = shared.epoch.fetch_add(1, Ordering::AcqRel) + 1;
                ctx.metrics.mqtt_connected.set(1);
                ctx.metrics.mqtt_connects.inc();
                backoff = initial;
                tracing::info!(
                    epoch,
                    session_present = ack.session_present,
                    "connected to the MQTT broker"
                );
                if !ctx.shutdown.is_triggered() {
                    let c = client.clone();
                    let filter = cfg.subscription.clone();
                    tokio::spawn(async move {
                        if let Err(e) = c.subscribe(filter, QoS::AtLeastOnce).await {
                            tracing::error!("cannot subscribe: {e}");
                        }
                    });
                }
            }
            Ok(Event::Incoming(Packet::SubAck(s))) => {
                if s.return_codes
                    .iter()
                    .any(|c| matches!(c, SubscribeReasonCode::Failure))
                {
                    tracing::error!(
                        filter = %cfg.subscription,
                        "the broker refused the subscription (check the ACL of this user)"
                    );
                } else {
                    ctx.metrics.mqtt_subscribed.set(1);
                    tracing::info!(filter = %cfg.subscription, "subscribed");
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
            Ok(_) => {}
            Err(e) => {
                ctx.metrics.mqtt_connected.set(0);
                ctx.metrics.mqtt_subscribed.set(0);
                if ctx.shutdown.is_triggered() && shared.pending() == 0 {
                    break;
                }
                tracing::warn!("MQTT connection: {e}; reconnecting in {backoff:?}");
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(max);
            }
        }
    }
}

/// Takes publishes in arrival order, one window permit each, and spawns their work.
async fn dispatcher(
    ctx: IngestContext,
    shared: Arc<Shared>,
    mut pub_rx: mpsc::UnboundedReceiver<Received>,
    done_tx: mpsc::UnboundedSender<(u64, bool)>,
) {
    loop {
        let (epoch, publish) = tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => return,
            m = pub_rx.recv() => match m {
                Some(m) => m,
                None => return,
            },
        };
        let permit = tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => return,
            p = ctx.window.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let seq = match shared.order.lock() {
            Ok(mut o) => o.push(epoch, publish.pkid, publish.clone()),
            Err(_) => return,
        };
        ctx.metrics.in_flight.inc();
        let ctx = ctx.clone();
        let done_tx = done_tx.clone();
        tokio::spawn(async move {
            let received_at = now_ms();
            ctx.metrics.message(Transport::Mqtt, received_at);
            let processed =
                ctx.pipeline
                    .mqtt_message(&publish.topic, &publish.payload, received_at);
            let ok = match ctx.deliver(&processed, received_at).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(topic = %publish.topic, "message not stored, left unacknowledged: {e}");
                    false
                }
            };
            drop(permit);
            let _ = done_tx.send((seq, ok));
        });
    }
}

/// Releases acknowledgements in arrival order as messages finish.
async fn acknowledger(
    client: AsyncClient,
    ctx: IngestContext,
    shared: Arc<Shared>,
    mut done_rx: mpsc::UnboundedReceiver<(u64, bool)>,
) {
    while let Some((seq, ok)) = done_rx.recv().await {
        let released = match shared.order.lock() {
            Ok(mut o) => {
                o.complete(seq, ok);
                // Finish everything already done, not just this one.
                while let Ok((s, k)) = done_rx.try_recv() {
                    o.complete(s, k);
                }
                o.release(shared.epoch.load(Ordering::Acquire))
            }
            Err(_) => return,
        };
        for p in &released.ack {
            if let Err(e) = client.ack(p).await {
                tracing::warn!("cannot queue PUBACK {}: {e}", p.pkid);
            }
        }
        ctx.metrics.in_flight.sub(released.removed as i64);
        if shared.pending() == 0 {
            shared.drained.notify_waiters();
        }
    }
}
