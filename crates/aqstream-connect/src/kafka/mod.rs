//! Kafka through librdkafka (the `rdkafka` crate): the [`LogSink`](crate::log::LogSink),
//! [`LogSource`](crate::log::LogSource) and [`LogAdmin`](crate::log::LogAdmin) of
//! deployments with a Kafka cluster (or any Kafka-protocol broker).
//!
//! * [`KafkaSink`] — idempotent producer, `acks=all`, compressed; `send` resolves when
//!   the record is acknowledged by every in-sync replica;
//! * [`KafkaSource`] — one topic as a member of a consumer group, manual commits,
//!   rebalances surfaced through `take_rebalances`;
//! * [`KafkaAdmin`] — topic creation.

mod admin;
mod config;
mod sink;
mod source;

pub use admin::KafkaAdmin;
pub use config::{Compression, KafkaConfig, KafkaSasl, KafkaTls};
pub use sink::KafkaSink;
pub use source::KafkaSource;

use crate::log::ConnectError;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// The error domain of this module.
pub(crate) const DOMAIN: &str = "kafka";

/// Is `code` a condition retrying cannot fix?
fn is_permanent(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::MessageSizeTooLarge
            | C::InvalidMessageSize
            | C::InvalidMessage
            | C::InvalidRecord
            | C::TopicAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::GroupAuthorizationFailed
            | C::SaslAuthenticationFailed
            | C::Authentication
            | C::InvalidArgument
            | C::InvalidConfig
            | C::UnsupportedCompressionType
            | C::UnsupportedVersion
            | C::InvalidReplicationFactor
            | C::InvalidPartitions
            | C::InvalidTopic
            | C::UnknownTopic
            | C::Fatal
    )
}

/// Maps a librdkafka error to a [`ConnectError`] with a retry hint.
pub(crate) fn map_err(context: &str, e: &KafkaError) -> ConnectError {
    let permanent = match e {
        KafkaError::ClientConfig(..) | KafkaError::ClientCreation(_) => true,
        KafkaError::Subscription(_) => true,
        other => other.rdkafka_error_code().is_some_and(is_permanent),
    };
    let message = format!("{context}: {e}");
    if permanent {
        ConnectError::permanent(DOMAIN, message)
    } else {
        ConnectError::transient(DOMAIN, message)
    }
}

/// Logs librdkafka's own messages through `tracing` instead of stderr.
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingContext;

impl rdkafka::ClientContext for TracingContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error => {
                tracing::error!(target: "librdkafka", "{fac}: {msg}")
            }
            L::Warning => tracing::warn!(target: "librdkafka", "{fac}: {msg}"),
            L::Notice | L::Info => tracing::info!(target: "librdkafka", "{fac}: {msg}"),
            L::Debug => tracing::debug!(target: "librdkafka", "{fac}: {msg}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // Broker-down and transport errors are retried by librdkafka itself.
        tracing::warn!(target: "librdkafka", "{error}: {reason}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_hints() {
        let e = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert!(!map_err("send", &e).is_transient());
        let e = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        assert!(map_err("send", &e).is_transient());
        let e = KafkaError::MessageProduction(RDKafkaErrorCode::AllBrokersDown);
        let ce = map_err("send", &e);
        assert!(ce.is_transient());
        assert_eq!(ce.domain, "kafka");
        assert!(ce.message.starts_with("send: "), "{ce}");
    }
}
