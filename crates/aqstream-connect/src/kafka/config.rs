//! Kafka client configuration: brokers, security, producer and consumer tuning.

use rdkafka::ClientConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Compression of produced batches. Snappy is deliberately absent: some
/// Kafka-compatible brokers accept snappy batches but cannot serve them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// No compression.
    None,
    /// LZ4 (fast, the default).
    #[default]
    Lz4,
    /// Zstandard (smaller, slower).
    Zstd,
    /// Gzip.
    Gzip,
}

impl Compression {
    /// The librdkafka name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
            Compression::Gzip => "gzip",
        }
    }
}

/// TLS towards the brokers (`security.protocol` `SSL`, or `SASL_SSL` with [`KafkaSasl`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaTls {
    /// PEM file of the CA certificates that sign the brokers' certificates (absent: the
    /// system's trust store).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for brokers that authenticate clients by certificate.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Password of an encrypted `key_file`.
    pub key_password: Option<String>,
    /// Check that the broker certificate names the host connected to (default true).
    pub verify_hostname: Option<bool>,
}

/// SASL authentication (`security.protocol` `SASL_PLAINTEXT`, or `SASL_SSL` with TLS).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSasl {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

/// How to reach and use a Kafka cluster (or any Kafka-protocol broker).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port…]`.
    pub brokers: String,
    /// Client id shown in broker logs and quotas.
    pub client_id: String,
    /// TLS settings; absent means plaintext.
    pub tls: Option<KafkaTls>,
    /// SASL settings; absent means no SASL.
    pub sasl: Option<KafkaSasl>,
    /// Compression of produced batches (`lz4`, `zstd`, `gzip` or `none`).
    pub compression: Compression,
    /// How long the producer waits to fill a batch, in milliseconds.
    pub linger_ms: u32,
    /// How long librdkafka keeps retrying one record before reporting a (transient)
    /// failure, in milliseconds; the ingester then retries it again.
    pub message_timeout_ms: u32,
    /// Consumer group session timeout, in milliseconds.
    pub session_timeout_ms: u32,
    /// Replication factor of topics created by [`super::KafkaAdmin`] (1 on one machine,
    /// 3 in a production cluster).
    pub replication_factor: i32,
    /// Any other librdkafka property (`name = "value"`), applied last, so it overrides
    /// the settings above.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            client_id: "aqstream".into(),
            tls: None,
            sasl: None,
            compression: Compression::Lz4,
            linger_ms: 5,
            message_timeout_ms: 60_000,
            session_timeout_ms: 6_000,
            replication_factor: 1,
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    /// A configuration for `brokers` with every other option at its default.
    pub fn new(brokers: impl Into<String>) -> KafkaConfig {
        KafkaConfig {
            brokers: brokers.into(),
            ..KafkaConfig::default()
        }
    }

    /// The librdkafka `security.protocol` these settings imply.
    pub fn security_protocol(&self) -> &'static str {
        match (self.tls.is_some(), self.sasl.is_some()) {
            (false, false) => "plaintext",
            (true, false) => "ssl",
            (false, true) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        }
    }

    /// Settings shared by producers, consumers and admin clients (without the extra
    /// `properties`, which [`KafkaConfig::finish`] applies).
    pub fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            .set("security.protocol", self.security_protocol());
        if let Some(tls) = &self.tls {
            if let Some(p) = &tls.ca_file {
                c.set("ssl.ca.location", p.to_string_lossy());
            }
            if let Some(p) = &tls.cert_file {
                c.set("ssl.certificate.location", p.to_string_lossy());
            }
            if let Some(p) = &tls.key_file {
                c.set("ssl.key.location", p.to_string_lossy());
            }
            if let Some(p) = &tls.key_password {
                c.set("ssl.key.password", p);
            }
            let verify = tls.verify_hostname.unwrap_or(true);
            c.set(
                "ssl.endpoint.identification.algorithm",
                if verify { "https" } else { "none" },
            );
        }
        if let Some(sasl) = &self.sasl {
            c.set("sasl.mechanism", &sasl.mechanism)
                .set("sasl.username", &sasl.username)
                .set("sasl.password", &sasl.password);
        }
        c
    }

    /// Applies the extra `properties` on top of `c`.
    pub fn finish(&self, mut c: ClientConfig) -> ClientConfig {
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    /// The producer settings: idempotent, `acks=all`, compressed, in-order retries.
    pub fn producer_config(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("max.in.flight.requests.per.connection", "5")
            .set("compression.type", self.compression.as_str())
            .set("linger.ms", self.linger_ms.to_string())
            .set("message.timeout.ms", self.message_timeout_ms.to_string());
        self.finish(c)
    }

    /// The consumer settings for `group_id`: manual commits, start at the earliest
    /// offset when the group has none.
    pub fn consumer_config(&self, group_id: &str) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set("enable.partition.eof", "false");
        self.finish(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_is_idempotent_and_never_snappy() {
        let cfg = KafkaConfig::new("k1:9092,k2:9092");
        let p = cfg.producer_config();
        assert_eq!(p.get("bootstrap.servers"), Some("k1:9092,k2:9092"));
        assert_eq!(p.get("enable.idempotence"), Some("true"));
        assert_eq!(p.get("acks"), Some("all"));
        assert_eq!(p.get("compression.type"), Some("lz4"));
        assert_eq!(p.get("security.protocol"), Some("plaintext"));
        let c = cfg.consumer_config("g");
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        assert_eq!(c.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(c.get("session.timeout.ms"), Some("6000"));
    }

    #[test]
    fn security_and_overrides() {
        let cfg: KafkaConfig = toml::from_str(
            r#"
            brokers = "k:9093"
            compression = "zstd"
            [tls]
            ca_file = "/etc/ca.pem"
            [sasl]
            mechanism = "SCRAM-SHA-512"
            username = "ingest"
            password = "s3cret"
            [properties]
            "linger.ms" = "20"
            "#,
        )
        .unwrap();
        let p = cfg.producer_config();
        assert_eq!(p.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(p.get("ssl.ca.location"), Some("/etc/ca.pem"));
        assert_eq!(p.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(p.get("compression.type"), Some("zstd"));
        assert_eq!(p.get("linger.ms"), Some("20"), "properties override");
        assert!(toml::from_str::<KafkaConfig>("compression = \"snappy\"").is_err());
        assert!(toml::from_str::<KafkaConfig>("brokerz = \"x\"").is_err());
    }
}
