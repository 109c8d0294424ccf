//! # aqstream-connect
//!
//! Everything that moves bytes in or out of aqstream: the [`log`] traits every stream
//! component reads and writes through (Kafka and the embedded durable log implement
//! them), and the ingest sources (MQTT, HJ 212 over TCP).

pub mod embedded;
pub mod log;
