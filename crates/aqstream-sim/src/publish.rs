//! Live field terminals: a running simulation publishing over MQTT (JSON on
//! `aq/v1/{gateway}/{sensor}`, or HJ 212 frames on `aq/v1/{gateway}/hj212`, QoS 1) or
//! sending HJ 212 frames over TCP, paced by a clock that can run faster than real time.

use crate::generate::{Arrival, Simulation};
use aqstream_core::hj212::{EncodeOptions, Hj212Codec, UnitTable};
use aqstream_core::json::{EncodeStyle, encode};
use aqstream_runtime::Shutdown;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

/// Publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker URL is not `mqtt://HOST:PORT`.
    #[error("bad MQTT URL `{0}` (expected mqtt://HOST:PORT)")]
    BadUrl(String),
    /// The MQTT connection failed (retry when the broker is back).
    #[error("MQTT connection to {url} failed: {message}")]
    Mqtt {
        /// The broker.
        url: String,
        /// What the client said.
        message: String,
    },
    /// The TCP connection failed (retry when the receiver is back).
    #[error("HJ 212 TCP connection to {addr} failed: {source}")]
    Tcp {
        /// The receiver.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// Gateway JSON, one reading per message on the sensor's topic.
    Json,
    /// HJ 212 minute-data frames.
    Hj212,
}

/// How fast the simulated clock runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Simulated seconds per real second; 0 or less: as fast as possible.
    pub speed: f64,
    /// Follow the wall clock instead: each reading is released at its arrival time
    /// (event time plus transport delay) on the system clock, readings already due go
    /// out at once. A run that starts in the past catches up, then goes live (`speed`
    /// is ignored). This is how `aqstream run --demo` feeds a live city.
    pub wall_clock: bool,
}

impl Pace {
    /// Simulated seconds per real second (0: as fast as possible).
    pub fn speed(speed: f64) -> Pace {
        Pace {
            speed,
            wall_clock: false,
        }
    }

    /// Released at the arrival times on the system clock.
    pub fn wall_clock() -> Pace {
        Pace {
            speed: 0.0,
            wall_clock: true,
        }
    }
}

/// What a publisher sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishStats {
    /// Messages (or frames) sent.
    pub sent: u64,
    /// Messages acknowledged by the broker (MQTT QoS 1).
    pub acked: u64,
}

/// Parses `mqtt://HOST:PORT` (the scheme may be omitted; the port defaults to 1883).
pub fn parse_mqtt_url(url: &str) -> Result<(String, u16), PublishError> {
    let rest = url.strip_prefix("mqtt://").unwrap_or(url);
    let bad = || PublishError::BadUrl(url.to_string());
    if rest.contains("://") || rest.is_empty() {
        return Err(bad());
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') => (h, p.parse::<u16>().map_err(|_| bad())?),
        _ => (rest, 1883),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// Releases a simulation's readings in arrival order, waiting for the paced clock.
struct Feeder {
    sim: Simulation,
    heap: BinaryHeap<Reverse<(i64, u64, usize)>>,
    slots: Vec<Option<Arrival>>,
    pace: Pace,
    t0: Option<(i64, Instant)>,
}

impl Feeder {
    fn new(sim: Simulation, pace: Pace) -> Feeder {
        Feeder {
            sim,
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            pace,
            t0: None,
        }
    }

    /// The next arrival, after sleeping until its (paced) time; `None` at the end.
    async fn next(&mut self, shutdown: &Shutdown) -> Option<Arrival> {
        // Every later minute's readings arrive after that minute ends, so an arrival
        // before the next minute's end is final.
        while !self.sim.done()
            && self
                .heap
                .peek()
                .is_none_or(|Reverse((t, _, _))| *t >= self.sim.next_minute_end())
        {
            for a in self.sim.next_minute().unwrap_or_default() {
                self.heap
                    .push(Reverse((a.arrive_at, a.seq, self.slots.len())));
                self.slots.push(Some(a));
            }
        }
        let Reverse((t, _, k)) = self.heap.pop()?;
        let a = self.slots[k].take()?;
        if self.heap.is_empty() {
            self.slots.clear();
        }
        if self.pace.wall_clock {
            let wait_ms = t - wall_ms();
            if wait_ms > 0 {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {}
                    _ = shutdown.cancelled() => return None,
                }
            } else if shutdown.is_triggered() {
                return None;
            }
        } else if self.pace.speed > 0.0 {
            let (sim0, real0) = *self.t0.get_or_insert((t, Instant::now()));
            let due =
                real0 + Duration::from_secs_f64(((t - sim0) as f64 / 1000.0) / self.pace.speed);
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = shutdown.cancelled() => return None,
            }
        } else if shutdown.is_triggered() {
            return None;
        }
        Some(a)
    }
}

/// The system clock, epoch milliseconds.
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Publishes the run to an MQTT broker until it ends or `shutdown`; waits for the
/// broker's acknowledgements (QoS 1) before disconnecting.
pub async fn publish_mqtt(
    sim: Simulation,
    url: &str,
    format: WireFormat,
    pace: Pace,
    shutdown: Shutdown,
) -> Result<PublishStats, PublishError> {
    let (host, port) = parse_mqtt_url(url)?;
    let mut opts = MqttOptions::new(format!("aqstream-sim-{port}"), host, port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(opts, 256);
    let (ack_tx, mut ack_rx) = tokio::sync::watch::channel(0u64);
    let url_s = url.to_string();
    let poller = tokio::spawn(async move {
        let mut acked = 0u64;
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    acked += 1;
                    let _ = ack_tx.send(acked);
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return Ok(acked),
                Ok(_) => {}
                Err(e) => {
                    return Err(PublishError::Mqtt {
                        url: url_s,
                        message: e.to_string(),
                    });
                }
            }
        }
    });
    let codec = Hj212Codec::new(UnitTable::default());
    let mut feeder = Feeder::new(sim, pace);
    let mut sent = 0u64;
    while let Some(a) = feeder.next(&shutdown).await {
        let r = &a.reading;
        let (topic, payload) = match format {
            WireFormat::Json => (
                format!("aq/v1/{}/{}", r.gateway_id, r.sensor_id),
                encode(r, EncodeStyle::Gateway),
            ),
            WireFormat::Hj212 => match codec.encode(r, &EncodeOptions::default()) {
                Ok(f) => (format!("aq/v1/{}/hj212", r.gateway_id), f),
                Err(_) => continue,
            },
        };
        if let Err(e) = client
            .publish(topic, QoS::AtLeastOnce, false, payload.into_bytes())
            .await
        {
            return Err(PublishError::Mqtt {
                url: url.to_string(),
                message: e.to_string(),
            });
        }
        sent += 1;
        if poller.is_finished() {
            break;
        }
    }
    // Wait (bounded) for the acknowledgements of everything sent.
    let wait = tokio::time::timeout(Duration::from_secs(30), async {
        while *ack_rx.borrow() < sent {
            if ack_rx.changed().await.is_err() {
                break;
            }
        }
    });
    let _ = wait.await;
    let acked = *ack_rx.borrow();
    let _ = client.disconnect().await;
    match tokio::time::timeout(Duration::from_secs(5), poller).await {
        Ok(Ok(Err(e))) if acked < sent => return Err(e),
        _ => {}
    }
    tracing::info!(sent, acked, "simulation published over MQTT");
    Ok(PublishStats { sent, acked })
}

/// Sends the run as HJ 212 minute frames over one TCP connection (one frame per line).
pub async fn send_hj212_tcp(
    sim: Simulation,
    addr: &str,
    pace: Pace,
    shutdown: Shutdown,
) -> Result<PublishStats, PublishError> {
    let tcp = |source| PublishError::Tcp {
        addr: addr.to_string(),
        source,
    };
    let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(tcp)?;
    let codec = Hj212Codec::new(UnitTable::default());
    let mut feeder = Feeder::new(sim, pace);
    let mut sent = 0u64;
    while let Some(a) = feeder.next(&shutdown).await {
        let Ok(frame) = codec.encode(&a.reading, &EncodeOptions::default()) else {
            continue;
        };
        stream.write_all(frame.as_bytes()).await.map_err(tcp)?;
        sent += 1;
    }
    stream.flush().await.map_err(tcp)?;
    stream.shutdown().await.map_err(tcp)?;
    Ok(PublishStats { sent, acked: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_mqtt_url("mqtt://127.0.0.1:1884").unwrap(),
            ("127.0.0.1".into(), 1884)
        );
        assert_eq!(parse_mqtt_url("broker").unwrap(), ("broker".into(), 1883));
        assert_eq!(
            parse_mqtt_url("mqtt://[::1]:1999").unwrap(),
            ("::1".into(), 1999)
        );
        assert!(parse_mqtt_url("http://x:1").is_err());
        assert!(parse_mqtt_url("mqtt://x:port").is_err());
    }
}
