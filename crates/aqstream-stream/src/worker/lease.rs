//! Partition leases: proof, visible to the other workers, that a partition's owner is
//! alive and working.
//!
//! ```text
//! <state>/checkpoints/p003/lease      renewed by the owner of partition 3
//! ```
//!
//! The owner of a partition of `aq.readings.v1` rewrites its lease file from its
//! worker loop a few times per stall timeout; the file's modification time is the
//! lease. Committed offsets cannot say the same on a quiet stream: once every record
//! is read and committed, an owner that works and an owner that is gone leave the
//! same offsets. The group watchdog of every other worker reads the leases of the
//! partitions it does not own; one that nobody renewed for the whole stall timeout
//! has no working owner, whatever the broker's group says (see
//! [`GroupWatchdog`](super::watchdog::GroupWatchdog)).
//!
//! The workers of a group share the state directory already (checkpoints are fenced
//! there), so the leases need nothing new; they compare modification times with their
//! own clock, so the hosts' clocks must agree to well within the stall timeout.

use super::owner_of;
use crate::checkpoint::owner_dir;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Longest time between two renewals, whatever the stall timeout.
const MAX_RENEW_INTERVAL: Duration = Duration::from_secs(5);

/// The lease file of `partition` under the state directory `state`.
pub(crate) fn path(state: &Path, partition: i32) -> PathBuf {
    owner_dir(state, &owner_of(partition)).join("lease")
}

/// How often an owner renews its leases: a quarter of the stall timeout (when the
/// watchdog is on), at most [`MAX_RENEW_INTERVAL`], at least every half second.
pub(crate) fn renew_interval(stall_timeout: Option<Duration>) -> Duration {
    stall_timeout
        .map_or(MAX_RENEW_INTERVAL, |t| t / 4)
        .clamp(Duration::from_millis(500), MAX_RENEW_INTERVAL)
}

/// Renews the leases of `partitions` for the worker `token` (the file names the
/// worker, for whoever looks; its modification time is what counts). Not synced: a
/// lease is about liveness, and a crash that loses one only makes it look older.
pub(crate) fn renew(state: &Path, partitions: &[i32], token: &str) -> std::io::Result<()> {
    for &p in partitions {
        let file = path(state, p);
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&file, format!("{token}\n"))?;
    }
    Ok(())
}

/// How long ago the lease of `partition` was last renewed, as of `now`; `None` if it
/// never was (a partition nobody has owned since leases exist). A modification time
/// ahead of `now` (another host's clock) counts as just renewed.
pub(crate) fn age(state: &Path, partition: i32, now: SystemTime) -> Option<Duration> {
    let modified = std::fs::metadata(path(state, partition))
        .and_then(|m| m.modified())
        .ok()?;
    Some(now.duration_since(modified).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewed_lease_is_young_and_ages_with_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path();
        let now = SystemTime::now();
        assert_eq!(age(state, 3, now), None, "never renewed");
        renew(state, &[1, 3], "worker-a").unwrap();
        let now = SystemTime::now();
        for p in [1, 3] {
            let a = age(state, p, now).expect("renewed");
            assert!(a < Duration::from_secs(5), "{a:?}");
            let later = age(state, p, now + Duration::from_secs(60)).unwrap();
            assert!(later >= Duration::from_secs(55), "{later:?}");
        }
        assert_eq!(age(state, 2, now), None, "only the partitions renewed");
        assert_eq!(
            std::fs::read_to_string(state.join("checkpoints/p003/lease")).unwrap(),
            "worker-a\n"
        );
        // A clock behind the file's makes it just renewed, not an error.
        let earlier = now - Duration::from_secs(3600);
        assert_eq!(age(state, 1, earlier), Some(Duration::ZERO));
        // Renewing again moves the time forward.
        let old = std::fs::metadata(path(state, 1))
            .unwrap()
            .modified()
            .unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(path(state, 1))
            .unwrap();
        f.set_modified(old - Duration::from_secs(120)).unwrap();
        assert!(age(state, 1, SystemTime::now()).unwrap() >= Duration::from_secs(120));
        renew(state, &[1], "worker-b").unwrap();
        assert!(age(state, 1, SystemTime::now()).unwrap() < Duration::from_secs(5));
    }

    #[test]
    fn renewals_come_a_few_times_per_stall_timeout() {
        let s = Duration::from_secs;
        assert_eq!(renew_interval(Some(s(60))), s(5), "at most 5 s apart");
        assert_eq!(renew_interval(Some(s(10))), Duration::from_millis(2500));
        assert_eq!(renew_interval(Some(s(1))), Duration::from_millis(500));
        assert_eq!(renew_interval(None), s(5), "also with the watchdog off");
    }
}
