//! MQTT client settings of the ingester.

use crate::ingest::IngestError;
use crate::ingest::topic::SHARED_FILTER;
use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// TLS towards the MQTT broker (used with `mqtts://` URLs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttTls {
    /// PEM file of the CA certificates that sign the broker's certificate (absent: the
    /// system's trust store).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for brokers that authenticate clients by certificate.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
}

/// How the ingester subscribes to the MQTT broker.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Subscribe at all (false: only the HJ 212 TCP listener ingests).
    pub enabled: bool,
    /// Broker URL: `mqtt://host:port` (plain, default port 1883) or `mqtts://host:port`
    /// (TLS, default port 8883).
    pub url: String,
    /// Client id. Must be stable across restarts and unique per ingester instance: the
    /// broker keeps the session (and every unacknowledged message) under it.
    pub client_id: String,
    /// User name, if the broker requires one.
    pub username: Option<String>,
    /// Password of `username`.
    pub password: Option<String>,
    /// Topic filter. The default shared subscription lets several ingesters split the
    /// load; every message goes to exactly one of them.
    pub subscription: String,
    /// Keep-alive interval, in seconds.
    pub keep_alive_s: u16,
    /// Start with a clean session. Keep false: a persistent session is what makes the
    /// broker redeliver unacknowledged messages after a crash.
    pub clean_session: bool,
    /// Largest MQTT packet accepted from the broker, in bytes. Keep it above the
    /// broker's own message size limit, so oversize payloads reach the dead-letter
    /// stream instead of breaking the connection.
    pub max_packet_bytes: usize,
    /// First reconnect delay, in milliseconds (doubles up to `reconnect_max_ms`).
    pub reconnect_initial_ms: u64,
    /// Largest reconnect delay, in milliseconds.
    pub reconnect_max_ms: u64,
    /// TLS settings for `mqtts://`.
    pub tls: Option<MqttTls>,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            enabled: true,
            url: "mqtt://127.0.0.1:1883".into(),
            client_id: "aqstream-ingest".into(),
            username: None,
            password: None,
            subscription: SHARED_FILTER.into(),
            keep_alive_s: 30,
            clean_session: false,
            max_packet_bytes: 16 * 1024 * 1024,
            reconnect_initial_ms: 200,
            reconnect_max_ms: 10_000,
            tls: None,
        }
    }
}

/// A parsed broker URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS (`mqtts://`)?
    pub tls: bool,
}

fn config_err(message: impl Into<String>) -> IngestError {
    IngestError::Config {
        transport: "mqtt",
        message: message.into(),
    }
}

/// Parses `mqtt://host[:port]`, `mqtts://host[:port]` or `tcp://host[:port]` (a bare
/// `host:port` means `mqtt://`).
pub fn parse_url(url: &str) -> Result<BrokerUrl, IngestError> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
        (true, r)
    } else if let Some(r) = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
    {
        (false, r)
    } else if url.contains("://") {
        return Err(config_err(format!(
            "unsupported URL `{url}` (use mqtt:// or mqtts://)"
        )));
    } else {
        (false, url)
    };
    let rest = rest.trim_end_matches('/');
    let default_port = if tls { 8883 } else { 1883 };
    let (host, port) = if let Some(h) = rest.strip_prefix('[') {
        // [ipv6]:port
        let (h, p) = h
            .split_once(']')
            .ok_or_else(|| config_err(format!("bad IPv6 address in `{url}`")))?;
        (h.to_string(), p.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (rest.to_string(), None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| config_err(format!("bad port in `{url}`")))?,
        None => default_port,
    };
    if host.is_empty() {
        return Err(config_err(format!("no host in `{url}`")));
    }
    Ok(BrokerUrl { host, port, tls })
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, IngestError> {
    std::fs::read(path).map_err(|e| config_err(format!("cannot read {}: {e}", path.display())))
}

impl MqttConfig {
    /// The rumqttc options: persistent session, manual acknowledgements.
    pub fn options(&self) -> Result<MqttOptions, IngestError> {
        let url = parse_url(&self.url)?;
        let mut o = MqttOptions::new(&self.client_id, &url.host, url.port);
        o.set_keep_alive(Duration::from_secs(u64::from(self.keep_alive_s.max(5))))
            .set_clean_session(self.clean_session)
            .set_manual_acks(true)
            .set_max_packet_size(self.max_packet_bytes, 64 * 1024);
        if let Some(u) = &self.username {
            o.set_credentials(u, self.password.clone().unwrap_or_default());
        }
        if url.tls || self.tls.is_some() {
            o.set_transport(Transport::tls_with_config(self.tls_config()?));
        }
        Ok(o)
    }

    fn tls_config(&self) -> Result<TlsConfiguration, IngestError> {
        let tls = self.tls.clone().unwrap_or_default();
        let client_auth = match (&tls.cert_file, &tls.key_file) {
            (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
            (None, None) => None,
            _ => return Err(config_err("tls.cert_file and tls.key_file go together")),
        };
        match &tls.ca_file {
            Some(ca) => Ok(TlsConfiguration::Simple {
                ca: read(ca)?,
                alpn: None,
                client_auth,
            }),
            None if client_auth.is_none() => Ok(TlsConfiguration::default()),
            None => Err(config_err(
                "a client certificate needs tls.ca_file (the broker's CA)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("mqtt://broker.local:1884").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.tls),
            ("broker.local", 1884, false)
        );
        let u = parse_url("mqtts://broker.local").unwrap();
        assert_eq!((u.port, u.tls), (8883, true));
        let u = parse_url("127.0.0.1:1883").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 1883));
        let u = parse_url("mqtt://[::1]:1999").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 1999));
        assert!(parse_url("http://x:1").is_err());
        assert!(parse_url("mqtt://x:port").is_err());
        assert!(parse_url("mqtt://").is_err());
    }

    #[test]
    fn options_are_persistent_with_manual_acks() {
        let cfg = MqttConfig {
            username: Some("aqstream".into()),
            password: Some("pw".into()),
            ..MqttConfig::default()
        };
        let o = cfg.options().unwrap();
        assert!(!o.clean_session());
        assert!(o.manual_acks());
        assert_eq!(o.client_id(), "aqstream-ingest");
        let login = o.credentials().unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("aqstream", "pw")
        );
        let bad = MqttConfig {
            tls: Some(MqttTls {
                cert_file: Some("/nonexistent.pem".into()),
                ..MqttTls::default()
            }),
            ..MqttConfig::default()
        };
        assert!(bad.options().is_err());
    }
}
