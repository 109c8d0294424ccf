//! The HJ 212 TCP listener: terminals connect, send one frame per line, and get the
//! reply they ask for (`Flag` bit A) once the frame is durably in the log.
//!
//! Per connection: frames are handled one after another (a terminal waits for the
//! reply before sending the next), longer lines than `max_frame_bytes` are
//! dead-lettered as `oversize` without being buffered, a connection silent for
//! `idle_timeout_s` is closed, and one that produced more than `max_errors` rejects is
//! closed too. See [`auth`] for how a connection's gateway is established.

pub mod auth;
pub mod lines;

pub use auth::{IpNet, TcpAuth, TcpGateway};

use crate::ingest::{IngestContext, IngestError, Origin, Transport, now_ms};
use aqstream_core::{Reject, RejectReason};
use lines::{LineRead, read_line};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;

/// The pseudo-topic of TCP frames in dead-letter headers.
pub const TOPIC: &str = "hj212-tcp";

/// Settings of the HJ 212 TCP listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hj212TcpConfig {
    /// Listen at all.
    pub enabled: bool,
    /// Address to listen on (`0.0.0.0:9212` to accept terminals from the network).
    pub listen: SocketAddr,
    /// Longest frame (one line, without CRLF), in bytes; longer lines are dead-lettered
    /// as `oversize`. HJ 212 frames are at most 10 011 bytes.
    pub max_frame_bytes: usize,
    /// Close a connection silent for this long, in seconds.
    pub idle_timeout_s: u64,
    /// Close a connection after this many rejected frames.
    pub max_errors: u32,
    /// Most simultaneous connections; further ones are closed at once.
    pub max_connections: usize,
    /// Trust connections from the loopback interface to speak for the registry
    /// gateway of each frame's `MN` (one-box runs and local simulators).
    pub trust_loopback: bool,
    /// Credentials per gateway id: terminals of a gateway authenticate with the HJ 212
    /// `PW` and, optionally, their source network.
    pub gateways: BTreeMap<String, TcpGateway>,
}

impl Default for Hj212TcpConfig {
    fn default() -> Self {
        Hj212TcpConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9212)),
            max_frame_bytes: 10_240,
            idle_timeout_s: 600,
            max_errors: 100,
            max_connections: 10_000,
            trust_loopback: true,
            gateways: BTreeMap::new(),
        }
    }
}

/// A bound listener, ready to [`Hj212Listener::run`].
#[derive(Debug)]
pub struct Hj212Listener {
    listener: TcpListener,
    cfg: Hj212TcpConfig,
    auth: Arc<TcpAuth>,
}

fn cfg_err(message: String) -> IngestError {
    IngestError::Config {
        transport: "hj212-tcp",
        message,
    }
}

impl Hj212Listener {
    /// Binds `cfg.listen` (port 0 picks a free port).
    pub async fn bind(
        cfg: &Hj212TcpConfig,
        ctx: &IngestContext,
    ) -> Result<Hj212Listener, IngestError> {
        let auth = TcpAuth::new(
            Arc::new(ctx.pipeline.registry().clone()),
            cfg.trust_loopback,
            &cfg.gateways,
        )
        .map_err(cfg_err)?;
        let listener = TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| IngestError::Io {
                transport: "hj212-tcp",
                source,
            })?;
        Ok(Hj212Listener {
            listener,
            cfg: cfg.clone(),
            auth: Arc::new(auth),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts terminals until `ctx.shutdown`; then every connection finishes the
    /// frame it is handling (up to `ctx.drain_timeout`) and closes.
    pub async fn run(self, ctx: IngestContext) -> Result<(), IngestError> {
        let tracker = TaskTracker::new();
        tracing::info!(addr = %self.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string()), "HJ 212 TCP listener up");
        loop {
            let accepted = tokio::select! {
                biased;
                _ = ctx.shutdown.cancelled() => break,
                a = self.listener.accept() => a,
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if tracker.len() >= self.cfg.max_connections {
                tracing::warn!(%peer, "too many HJ 212 connections, closing a new one");
                continue;
            }
            let conn = Connection {
                ctx: ctx.clone(),
                cfg: self.cfg.clone(),
                auth: self.auth.clone(),
                peer,
            };
            tracker.spawn(conn.serve(stream));
        }
        tracker.close();
        if tokio::time::timeout(ctx.drain_timeout, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("HJ 212 connections did not finish in time");
            ctx.abort.trigger();
            tracker.wait().await;
        }
        tracing::info!("HJ 212 TCP listener stopped");
        Ok(())
    }
}

struct Connection {
    ctx: IngestContext,
    cfg: Hj212TcpConfig,
    auth: Arc<TcpAuth>,
    peer: SocketAddr,
}

impl Connection {
    async fn serve(self, stream: TcpStream) {
        let m = &self.ctx.metrics;
        m.tcp_connections.inc();
        tracing::debug!(peer = %self.peer, "terminal connected");
        let why = self.frames(stream).await;
        m.tcp_connections.dec();
        if let Some(kind) = why {
            m.tcp_errors.with_label_values(&[kind]).inc();
        }
        tracing::debug!(peer = %self.peer, reason = why.unwrap_or("closed"), "terminal disconnected");
    }

    /// Serves frames until the connection ends; returns the error kind that ended it.
    async fn frames(&self, stream: TcpStream) -> Option<&'static str> {
        let _ = stream.set_nodelay(true);
        let (rd, mut wr) = stream.into_split();
        let mut rd = BufReader::new(rd);
        let mut buf = Vec::with_capacity(1024);
        let mut pinned: Option<String> = None;
        let mut errors = 0u32;
        let idle = Duration::from_secs(self.cfg.idle_timeout_s.max(1));
        let peer = self.peer.to_string();
        loop {
            let read = tokio::select! {
                biased;
                _ = self.ctx.shutdown.cancelled() => return None,
                r = tokio::time::timeout(idle, read_line(&mut rd, &mut buf, self.cfg.max_frame_bytes)) => r,
            };
            let read = match read {
                Err(_) => return Some("idle_timeout"),
                Ok(Err(_)) => return Some("io"),
                Ok(Ok(LineRead::Eof)) => return None,
                Ok(Ok(r)) => r,
            };
            if matches!(read, LineRead::Line) && buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Ok(_permit) = self.ctx.window.acquire().await else {
                return None;
            };
            let received_at = now_ms();
            self.ctx.metrics.message(Transport::Hj212Tcp, received_at);
            let origin = Origin {
                topic: TOPIC,
                gateway_id: pinned.as_deref().unwrap_or(""),
                peer: Some(&peer),
                received_at,
            };
            let (processed, reply) = match read {
                LineRead::TooLong { len } => {
                    self.ctx
                        .metrics
                        .tcp_errors
                        .with_label_values(&["oversize"])
                        .inc();
                    let e = Reject::new(
                        RejectReason::Oversize,
                        format!(
                            "line of {len} bytes exceeds the frame limit of {}",
                            self.cfg.max_frame_bytes
                        ),
                    );
                    let mut p = crate::ingest::Processed::default();
                    let mut out = self.ctx.pipeline.dead_letter(&buf, &e, &origin);
                    // only the first bytes were read: say how long the line was
                    out.headers.retain(|(k, _)| *k != "original_size");
                    out.headers
                        .push(("original_size", len.to_string().into_bytes()));
                    p.outputs.push(out);
                    (p, None)
                }
                _ => {
                    let mut pin = pinned.clone();
                    let r = self.ctx.pipeline.hj212_line(&buf, &origin, |f| {
                        self.auth.resolve(f, self.peer.ip(), &mut pin)
                    });
                    pinned = pin;
                    r
                }
            };
            self.ctx.metrics.in_flight.inc();
            let stored = self.ctx.deliver(&processed, received_at).await;
            self.ctx.metrics.in_flight.dec();
            if let Err(e) = stored {
                // No reply: the terminal resends what it did not get acknowledged.
                tracing::error!(%peer, "frame not stored, closing the connection: {e}");
                return Some("io");
            }
            if let Some(reply) = reply
                && wr.write_all(reply.as_bytes()).await.is_err()
            {
                return Some("io");
            }
            let rejects = processed.reject_reasons().count() as u32;
            if rejects > 0 {
                self.ctx
                    .metrics
                    .tcp_errors
                    .with_label_values(&["reject"])
                    .inc_by(u64::from(rejects));
                errors += rejects;
                if errors > self.cfg.max_errors {
                    tracing::warn!(%peer, errors, "too many bad frames, closing the connection");
                    return Some("too_many_errors");
                }
            }
        }
    }
}
