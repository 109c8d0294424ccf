//! The embedded MQTT broker for one-box runs: rumqttd as the router, behind an access
//! gate that authenticates clients against a Mosquitto password file and enforces a
//! Mosquitto ACL file — the same files `deploy/mosquitto/` gives a Mosquitto broker, so
//! a gateway `gw-x` may publish only under `aq/v1/gw-x/#` on either broker.
//!
//! ```text
//!  gateways ──MQTT──▶ gate (public listener:   ──▶ rumqttd router (127.0.0.1, random
//!                     login, ACL, relays)            port, gate's secret credentials)
//! ```
//!
//! Limits: MQTT 3.1.1 clients only (what gateways and the ingester speak); no TLS on
//! the embedded listener (bind it to loopback or put a TLS terminator in front); the
//! router keeps messages in memory, so messages not yet taken by the ingester are lost
//! if the process dies (use Mosquitto with persistence when that matters); the router
//! threads live until the process exits.

pub mod acl;
mod gate;
pub mod packet;
pub mod passwd;

pub use acl::{Access, Acl};
pub use passwd::PasswordFile;

use crate::ingest::IngestError;
use aqstream_runtime::Shutdown;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

/// Settings of the embedded broker.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// Run the embedded broker (instead of connecting to an external one).
    pub enabled: bool,
    /// Public listener (MQTT 3.1.1, plain TCP).
    pub listen: SocketAddr,
    /// Mosquitto password file (`mosquitto_passwd`); absent: no login required (only
    /// sensible on loopback).
    pub password_file: Option<PathBuf>,
    /// Mosquitto ACL file; absent: every client may use every topic.
    pub acl_file: Option<PathBuf>,
    /// With a password file: also accept clients without a user name (the ACL's
    /// anonymous rules apply to them).
    pub allow_anonymous: bool,
    /// Largest MQTT packet accepted, in bytes. Keep it above the ingester's
    /// `limits.max_payload_bytes`, so oversize payloads reach the dead-letter stream.
    pub max_packet_bytes: usize,
    /// Unacknowledged QoS 1 messages the router sends one client at a time (the
    /// ingester's backpressure): keep it at or below `ingest.max_in_flight`.
    pub max_inflight: usize,
    /// Most simultaneous clients.
    pub max_connections: usize,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 1883)),
            password_file: None,
            acl_file: None,
            allow_anonymous: false,
            max_packet_bytes: 1024 * 1024,
            max_inflight: 1000,
            max_connections: 10_000,
        }
    }
}

fn cfg_err(message: String) -> IngestError {
    IngestError::Config {
        transport: "broker",
        message,
    }
}

fn io_err(source: std::io::Error) -> IngestError {
    IngestError::Io {
        transport: "broker",
        source,
    }
}

/// A running embedded broker.
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
    gate: Arc<gate::Gate>,
    task: tokio::task::JoinHandle<()>,
}

fn random_secret() -> Result<String, IngestError> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 24];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| cfg_err("no system randomness".into()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

impl EmbeddedBroker {
    /// Loads the password and ACL files, starts the router and the gate. Stops
    /// accepting (and closes every client) on `shutdown`.
    pub async fn start(
        cfg: &BrokerConfig,
        shutdown: Shutdown,
    ) -> Result<EmbeddedBroker, IngestError> {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .map_err(|e| cfg_err(format!("cannot read {}: {e}", p.display())))
        };
        let passwords = cfg
            .password_file
            .as_ref()
            .map(|p| PasswordFile::parse(&read(p)?).map_err(cfg_err))
            .transpose()?;
        let acl = cfg
            .acl_file
            .as_ref()
            .map(|p| Acl::parse(&read(p)?).map_err(cfg_err))
            .transpose()?;
        if passwords.is_none() && !cfg.listen.ip().is_loopback() {
            tracing::warn!(listen = %cfg.listen, "embedded MQTT broker without a password file on a non-loopback address");
        }
        let listener = TcpListener::bind(cfg.listen).await.map_err(io_err)?;
        let addr = listener.local_addr().map_err(io_err)?;

        let secret = random_secret()?;
        let upstream = start_router(cfg, "aqstream-gate", &secret).await?;
        let gate = Arc::new(gate::Gate {
            passwords,
            acl,
            allow_anonymous: cfg.allow_anonymous,
            upstream,
            upstream_user: "aqstream-gate".into(),
            upstream_password: secret,
            max_packet: cfg.max_packet_bytes + 1024,
            connect_timeout: Duration::from_secs(10),
            denied: AtomicU64::new(0),
        });
        let max_connections = cfg.max_connections;
        let g = gate.clone();
        let task = tokio::spawn(async move {
            let tracker = TaskTracker::new();
            loop {
                let accepted = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    a = listener.accept() => a,
                };
                match accepted {
                    Ok((stream, peer)) if tracker.len() < max_connections => {
                        let g = g.clone();
                        let stop = shutdown.clone();
                        tracker.spawn(async move {
                            tokio::select! {
                                _ = g.serve(stream, peer) => {}
                                _ = stop.cancelled() => {}
                            }
                        });
                    }
                    Ok((_, peer)) => tracing::warn!(%peer, "too many MQTT clients"),
                    Err(e) => {
                        tracing::warn!("MQTT accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            tracker.close();
            tracker.wait().await;
        });
        tracing::info!(%addr, "embedded MQTT broker up");
        Ok(EmbeddedBroker { addr, gate, task })
    }

    /// The public address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `mqtt://` URL of the public address.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }

    /// Publishes the ACL dropped so far.
    pub fn denied_publishes(&self) -> u64 {
        self.gate.denied.load(Ordering::Relaxed)
    }

    /// Waits until the gate has stopped (after the shutdown signal).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Starts rumqttd on a free loopback port that only accepts `user`/`password`.
async fn start_router(
    cfg: &BrokerConfig,
    user: &str,
    password: &str,
) -> Result<SocketAddr, IngestError> {
    // rumqttd binds by itself: find a free port first.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").map_err(io_err)?;
    let internal = probe.local_addr().map_err(io_err)?;
    drop(probe);
    let mut auth = HashMap::new();
    auth.insert(user.to_string(), password.to_string());
    let connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: cfg.max_packet_bytes,
        max_inflight_count: cfg.max_inflight.max(1),
        auth: Some(auth),
        external_auth: None,
        dynamic_filters: true,
    };
    let server = rumqttd::ServerSettings {
        name: "aqstream-router".into(),
        listen: internal,
        tls: None,
        next_connection_delay_ms: 0,
        connections,
    };
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: cfg.max_connections + 16,
            max_outgoing_packet_count: 200,
            max_segment_size: 100 * 1024 * 1024,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some(HashMap::from([("1".to_string(), server)])),
        ..Default::default()
    };
    let mut broker = rumqttd::Broker::new(config);
    std::thread::Builder::new()
        .name("aqstream-mqtt-router".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!("embedded MQTT router stopped: {e}");
            }
        })
        .map_err(io_err)?;
    // Ready when it accepts connections.
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(internal).await.is_ok() {
            return Ok(internal);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(cfg_err(format!(
        "the MQTT router did not start on {internal}"
    )))
}
