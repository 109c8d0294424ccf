//! # aqstream-connect
//!
//! Everything that moves bytes in or out of aqstream: the [`log`] traits every stream
//! component reads and writes through (Kafka and the embedded durable log implement
//! them), and the ingest sources (MQTT, HJ 212 over TCP).

pub mod broker;
pub mod embedded;
pub mod hj212_tcp;
pub mod ingest;
pub mod kafka;
pub mod log;
pub mod mqtt;
#[cfg(feature = "testkit")]
pub mod testkit;
