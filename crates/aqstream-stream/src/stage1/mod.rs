//! Stage 1: the partition-parallel operator chain.
//!
//! ```text
//! record ─▶ decode (canonical JSON → Reading) ─▶ QA re-check ─▶ late? ──yes──▶ held for the cut
//!                                                        │ no
//!                                                        ▼
//!              dedup (sensor_id, ts, period_s) ─▶ stuck QA ─▶ readings history (Arrow)
//!                                                        │
//!                              segment (Arrow) ◀─────────┘      clock: watermark crossing?
//!                                   │  at the crossing ("cut")              │
//!                                   ▼                                       ▼
//!             DataFusion partial aggregation ─▶ window state ─▶ emit rev 0 / revisions,
//!                                                                close windows, prune dedup
//! ```
//!
//! All of a sensor's readings live in one partition (the record key is the sensor id),
//! so one operator owns each sensor's state. The operator is deterministic: its output
//! depends only on the sequence of records (from a given checkpoint), not on how they
//! were batched, because it aggregates and emits only at watermark crossings, which are
//! a function of the record sequence ([`clock`]).

pub mod clock;
mod late;
pub mod qa;
mod snapshot;
mod state;
mod windows;

pub use state::{EpochData, PartitionOperator, Stage1Output};
