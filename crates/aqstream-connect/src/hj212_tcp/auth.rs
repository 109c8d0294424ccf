//! Which gateway a TCP terminal speaks for.
//!
//! MQTT gateways are identified by the broker (user name + topic ACL); a bare TCP
//! connection has no such identity, so the listener establishes it from the frames:
//!
//! 1. the frame's `MN` names a sensor; the registry names its gateway;
//! 2. the connection is that gateway's if it comes from the loopback interface and
//!    `trust_loopback` is on (one-box runs, local simulators), or if the frame's `PW`
//!    (the HJ 212 access password) equals the password configured for the gateway and
//!    the peer address is inside the gateway's `networks` (when any are configured);
//! 3. the first authenticated frame pins the connection to its gateway: later frames
//!    of another gateway's sensors on the same connection are rejected
//!    (`gateway_mismatch`), whatever password they carry.
//!
//! A frame that fails 2 is rejected as `gateway_mismatch` (it did not arrive through
//! the sensor's gateway), with a detail naming the peer; an unknown `MN` is
//! `unknown_sensor`.

use aqstream_core::hj212::Frame;
use aqstream_core::{Reject, RejectReason, SensorRegistry};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

/// An IP network in CIDR notation (`10.1.0.0/16`, `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl FromStr for IpNet {
    type Err = String;
    fn from_str(s: &str) -> Result<IpNet, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("bad prefix length in `{s}`"))?,
            None => max,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl IpNet {
    /// Is `ip` inside this network? (IPv4-mapped IPv6 peers match IPv4 networks.)
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Credentials of one gateway's TCP terminals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TcpGateway {
    /// The HJ 212 access password (`PW`) its terminals send.
    pub password: String,
    /// Source networks its terminals connect from (CIDR); empty: any address.
    pub networks: Vec<String>,
}

/// Decides which gateway a frame is delivered by.
#[derive(Debug, Clone)]
pub struct TcpAuth {
    registry: Arc<SensorRegistry>,
    trust_loopback: bool,
    gateways: BTreeMap<String, (String, Vec<IpNet>)>,
}

/// Compares without an early exit, so the time taken does not reveal the prefix.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(!x));
    }
    diff == 0
}

impl TcpAuth {
    /// Rules over `registry`; fails on a malformed network.
    pub fn new(
        registry: Arc<SensorRegistry>,
        trust_loopback: bool,
        gateways: &BTreeMap<String, TcpGateway>,
    ) -> Result<TcpAuth, String> {
        let mut g = BTreeMap::new();
        for (id, cfg) in gateways {
            let nets = cfg
                .networks
                .iter()
                .map(|n| n.parse())
                .collect::<Result<Vec<IpNet>, String>>()
                .map_err(|e| format!("gateway {id}: {e}"))?;
            if cfg.password.is_empty() {
                return Err(format!("gateway {id}: empty password"));
            }
            g.insert(id.clone(), (cfg.password.clone(), nets));
        }
        Ok(TcpAuth {
            registry,
            trust_loopback,
            gateways: g,
        })
    }

    /// The gateway `frame` from `peer` is delivered by; `pinned` is the connection's
    /// gateway (set by the first authenticated frame).
    pub fn resolve(
        &self,
        frame: &Frame<'_>,
        peer: IpAddr,
        pinned: &mut Option<String>,
    ) -> Result<String, Reject> {
        let Some(info) = self.registry.get(frame.mn) else {
            return Err(Reject::new(
                RejectReason::UnknownSensor,
                format!("MN `{}` is not in the registry", frame.mn),
            ));
        };
        let gw = info.gateway_id.as_str();
        if let Some(p) = pinned.as_deref()
            && p != gw
        {
            return Err(Reject::new(
                RejectReason::GatewayMismatch,
                format!(
                    "connection from {peer} speaks for gateway `{p}`; sensor `{}` belongs to `{gw}`",
                    frame.mn
                ),
            ));
        }
        let trusted = self.trust_loopback && peer.is_loopback();
        let authenticated = trusted
            || self.gateways.get(gw).is_some_and(|(pw, nets)| {
                same_secret(frame.pw.unwrap_or("").as_bytes(), pw.as_bytes())
                    && (nets.is_empty() || nets.iter().any(|n| n.contains(peer)))
            });
        if !authenticated {
            return Err(Reject::new(
                RejectReason::GatewayMismatch,
                format!(
                    "terminal at {peer} is not authenticated for gateway `{gw}` of sensor `{}` (wrong PW or source address)",
                    frame.mn
                ),
            ));
        }
        *pinned = Some(gw.to_string());
        Ok(gw.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aqstream_core::hj212::{parse_frame, wrap};

    fn registry() -> Arc<SensorRegistry> {
        Arc::new(
            SensorRegistry::from_csv(
                "sensor_id,gateway_id,lat,lon,district,kind\n\
                 A-1,gw-a,39.9,116.6,X,lowcost\n\
                 A-2,gw-a,39.9,116.6,X,lowcost\n\
                 B-1,gw-b,39.9,116.6,X,lowcost\n",
            )
            .unwrap(),
        )
    }

    fn frame(mn: &str, pw: &str) -> String {
        wrap(&format!(
            "QN=20261122160100000;ST=22;CN=2051;PW={pw};MN={mn};Flag=5;CP=&&DataTime=20261122160000;a34004-Avg=39,a34004-Flag=N&&"
        ))
        .unwrap()
    }

    fn auth(trust_loopback: bool) -> TcpAuth {
        let mut g = BTreeMap::new();
        g.insert(
            "gw-a".to_string(),
            TcpGateway {
                password: "s3cret".into(),
                networks: vec!["10.1.0.0/16".into()],
            },
        );
        g.insert(
            "gw-b".to_string(),
            TcpGateway {
                password: "other".into(),
                networks: vec![],
            },
        );
        TcpAuth::new(registry(), trust_loopback, &g).unwrap()
    }

    #[test]
    fn networks() {
        let n: IpNet = "10.1.0.0/16".parse().unwrap();
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one: IpNet = "192.0.2.7".parse().unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.1".parse().unwrap()));
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("nope".parse::<IpNet>().is_err());
    }

    #[test]
    fn password_network_and_pinning() {
        let a = auth(false);
        let inside: IpAddr = "10.1.0.5".parse().unwrap();
        let outside: IpAddr = "192.0.2.1".parse().unwrap();
        let reason = |f: &str, peer: IpAddr, pinned: &mut Option<String>| {
            a.resolve(&parse_frame(f.as_bytes()).unwrap(), peer, pinned)
                .map_err(|e| e.reason)
        };
        let mut pin = None;
        assert_eq!(
            reason(&frame("A-1", "wrong"), inside, &mut pin),
            Err(RejectReason::GatewayMismatch)
        );
        assert_eq!(pin, None);
        assert_eq!(
            reason(&frame("A-1", "s3cret"), outside, &mut pin),
            Err(RejectReason::GatewayMismatch),
            "right password, wrong network"
        );
        assert_eq!(
            reason(&frame("A-1", "s3cret"), inside, &mut pin),
            Ok("gw-a".to_string())
        );
        assert_eq!(pin.as_deref(), Some("gw-a"));
        assert_eq!(
            reason(&frame("A-2", "s3cret"), inside, &mut pin),
            Ok("gw-a".to_string())
        );
        // gw-b's own password does not let a gw-a connection send gw-b's sensors.
        assert_eq!(
            reason(&frame("B-1", "other"), inside, &mut pin),
            Err(RejectReason::GatewayMismatch)
        );
        assert_eq!(
            reason(&frame("Z-9", "s3cret"), inside, &mut pin),
            Err(RejectReason::UnknownSensor)
        );
        let mut fresh = None;
        assert_eq!(
            reason(&frame("B-1", "other"), outside, &mut fresh),
            Ok("gw-b".to_string()),
            "no networks configured: any address"
        );
    }

    #[test]
    fn loopback_trust_is_optional() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let f = frame("A-1", "whatever");
        let f = parse_frame(f.as_bytes()).unwrap();
        assert!(auth(true).resolve(&f, lo, &mut None).is_ok());
        assert!(auth(false).resolve(&f, lo, &mut None).is_err());
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }
}
