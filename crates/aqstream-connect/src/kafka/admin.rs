//! Topic administration: [`KafkaAdmin`].

use super::{TracingContext, map_err};
use crate::kafka::KafkaConfig;
use crate::log::{ConnectError, LogAdmin};
use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::RDKafkaErrorCode;
use std::time::Duration;

/// Creates topics (the contract's topics, or per-test ones).
pub struct KafkaAdmin {
    client: AdminClient<TracingContext>,
    replication: i32,
}

impl std::fmt::Debug for KafkaAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaAdmin")
            .field("replication", &self.replication)
            .finish_non_exhaustive()
    }
}

impl KafkaAdmin {
    /// An admin client for `cfg`; topics get `cfg.replication_factor` replicas.
    pub fn new(cfg: &KafkaConfig) -> Result<KafkaAdmin, ConnectError> {
        let client = cfg
            .finish(cfg.base())
            .create_with_context(TracingContext)
            .map_err(|e| map_err("cannot create admin client", &e))?;
        Ok(KafkaAdmin {
            client,
            replication: cfg.replication_factor,
        })
    }
}

#[async_trait]
impl LogAdmin for KafkaAdmin {
    async fn ensure_topics(&self, topics: &[(&str, i32)]) -> Result<(), ConnectError> {
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|(name, partitions)| {
                NewTopic::new(name, *partitions, TopicReplication::Fixed(self.replication))
            })
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = self
            .client
            .create_topics(new.iter(), &opts)
            .await
            .map_err(|e| map_err("create topics", &e))?;
        for r in results {
            match r {
                Ok(_) => {}
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    let e = rdkafka::error::KafkaError::AdminOp(code);
                    return Err(map_err(&format!("create topic {topic}"), &e));
                }
            }
        }
        Ok(())
    }
}
