//! The access gate: the embedded broker's public listener. It speaks just enough MQTT
//! to authenticate clients (password file) and enforce the topic ACL, and relays
//! everything else to the rumqttd router listening on a private loopback port (which
//! accepts only the gate's own random credentials).
//!
//! Refused operations behave like Mosquitto's: a PUBLISH the ACL forbids is
//! acknowledged and dropped (MQTT 3.1.1 §3.3.5 allows exactly that), a SUBSCRIBE with
//! a forbidden filter gets a failure SUBACK (all of its filters are refused).

use super::acl::{Access, Acl};
use super::packet::{self, read_packet};
use super::passwd::PasswordFile;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// What the gate needs to decide and relay.
#[derive(Debug)]
pub(crate) struct Gate {
    pub passwords: Option<PasswordFile>,
    pub acl: Option<Acl>,
    pub allow_anonymous: bool,
    pub upstream: SocketAddr,
    pub upstream_user: String,
    pub upstream_password: String,
    pub max_packet: usize,
    pub connect_timeout: Duration,
    /// Publishes dropped by the ACL (for logs and tests).
    pub denied: AtomicU64,
}

impl Gate {
    fn allowed(&self, user: Option<&str>, client: &str, topic: &str, access: Access) -> bool {
        self.acl
            .as_ref()
            .is_none_or(|acl| acl.check(user, client, topic, access))
    }

    /// Serves one client connection until either side closes.
    pub(crate) async fn serve(self: Arc<Self>, mut client: TcpStream, peer: SocketAddr) {
        let _ = client.set_nodelay(true);
        let first = tokio::time::timeout(
            self.connect_timeout,
            read_packet(&mut client, self.max_packet),
        )
        .await;
        let Ok(Ok(first)) = first else { return };
        if first.kind() != packet::CONNECT {
            return;
        }
        let Ok(c) = packet::parse_connect(&first.body) else {
            return;
        };
        let refuse = |code: u8| packet::connack(code);
        if c.level == 0 {
            let _ = client.write_all(&refuse(1)).await;
            return;
        }
        let user = c.username.as_deref();
        let authenticated = match (&self.passwords, user) {
            (None, _) => true,
            (Some(_), None) => self.allow_anonymous,
            (Some(pw), Some(u)) => pw.verify(u, c.password.as_deref().unwrap_or_default()),
        };
        if !authenticated {
            tracing::info!(%peer, user = user.unwrap_or(""), "MQTT login refused");
            let code = if user.is_some() { 4 } else { 5 };
            let _ = client.write_all(&refuse(code)).await;
            return;
        }
        if let Some(t) = &c.will_topic
            && !self.allowed(user, &c.client_id, t, Access::Write)
        {
            let _ = client.write_all(&refuse(5)).await;
            return;
        }
        let mut upstream = match TcpStream::connect(self.upstream).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("embedded broker router unreachable: {e}");
                let _ = client.write_all(&refuse(3)).await;
                return;
            }
        };
        let _ = upstream.set_nodelay(true);
        let connect = packet::encode_connect(&c, &self.upstream_user, &self.upstream_password);
        if upstream.write_all(&connect).await.is_err() {
            return;
        }
        let (mut ur, mut uw) = upstream.into_split();
        let (mut cr, mut cw) = client.into_split();
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);

        let to_client = {
            let tx = tx.clone();
            let max = self.max_packet;
            async move {
                while let Ok(p) = read_packet(&mut ur, max).await {
                    if tx.send(p.encode()).await.is_err() {
                        break;
                    }
                }
            }
        };
        let writer = async move {
            while let Some(bytes) = rx.recv().await {
                if cw.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        };
        let from_client = async {
            let mut denied_qos2: HashSet<u16> = HashSet::new();
            loop {
                let Ok(p) = read_packet(&mut cr, self.max_packet).await else {
                    break;
                };
                let forward = match p.kind() {
                    packet::PUBLISH => match packet::parse_publish(&p) {
                        Ok((topic, qos, pkid)) => {
                            if self.allowed(user, &c.client_id, &topic, Access::Write) {
                                true
                            } else {
                                self.denied.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!(%peer, user = user.unwrap_or(""), %topic, "publish denied by the ACL");
                                let reply = match qos {
                                    1 => Some(packet::ack(0x40, pkid)),
                                    2 => {
                                        denied_qos2.insert(pkid);
                                        Some(packet::ack(0x50, pkid))
                                    }
                                    _ => None,
                                };
                                if let Some(r) = reply
                                    && tx.send(r).await.is_err()
                                {
                                    break;
                                }
                                false
                            }
                        }
                        Err(_) => break,
                    },
                    packet::PUBREL => {
                        let pkid = p
                            .body
                            .get(..2)
                            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                        if denied_qos2.remove(&pkid) {
                            if tx.send(packet::ack(0x70, pkid)).await.is_err() {
                                break;
                            }
                            false
                        } else {
                            true
                        }
                    }
                    packet::SUBSCRIBE => match packet::parse_subscribe(&p) {
                        Ok((pkid, filters)) => {
                            let ok = filters
                                .iter()
                                .all(|f| self.allowed(user, &c.client_id, f, Access::Read));
                            if !ok {
                                tracing::warn!(%peer, user = user.unwrap_or(""), ?filters, "subscribe denied by the ACL");
                                if tx
                                    .send(packet::suback_failure(pkid, filters.len()))
                                    .await
                                    .is_err()
                                {
                                    break;
                                }
                            }
                            ok
                        }
                        Err(_) => break,
                    },
                    _ => true,
                };
                if forward && uw.write_all(&p.encode()).await.is_err() {
                    break;
                }
            }
        };
        tokio::select! {
            _ = to_client => {}
            _ = writer => {}
            _ = from_client => {}
        }
    }
}
