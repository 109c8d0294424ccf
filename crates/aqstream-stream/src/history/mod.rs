//! The Parquet history: Hive-partitioned by UTC date, written one epoch at a time with
//! an atomic publish.
//!
//! ```text
//! <history>/readings/date=YYYY-MM-DD/p003-e00000042.parquet      stage 1, partition 3, epoch 42
//! <history>/aggregates/date=…/p003-e00000042.parquet             sensor rows
//! <history>/aggregates/date=…/city-e00000007.parquet             district rows (stage 2)
//! <history>/sensor_health/date=…/p003-e00000042.parquet          QA changes
//! <history>/alerts/date=…/city-e00000007.parquet                 alert changes
//! <state>/ledger/date=…/city-e00000007.parquet                   stage 2's final sensor-minutes
//! <root>/_staging/<owner>/<token>-<name>                         files of an epoch not yet published
//! ```
//!
//! An epoch's files are written to the staging directory of their root (same file
//! system, so a rename publishes them), fsync'd, and listed in the epoch's checkpoint.
//! Only after the checkpoint is durable are they renamed into place
//! ([`publish`]); recovery finishes the renames of the newest checkpoint and deletes
//! staged files no checkpoint lists ([`recover`]). Names are deterministic (owner and
//! epoch), so a replay writes the same files, byte for byte. Rows are sorted by
//! sensor (key) and time within a file.

mod archive;
mod order;
pub(crate) mod write;

pub use archive::ParquetArchive;
pub use write::{
    EpochFiles, StagedFile, alerts_batch, ledger_batch, ledger_schema, publish, recover,
    write_epoch,
};
