//! Notices a consumer group that stopped reading some partitions.
//!
//! Every partition of `aq.readings.v1` should be owned by a live worker that commits
//! its offsets at each checkpoint. A broker can get this wrong: Tansu 0.6 completes a
//! rebalance with an empty assignment when a new member's SyncGroup arrives just after
//! the old leader's session expired, so the partitions stay with the dead leader and
//! every live member sits idle (heartbeats succeed, nothing rebalances again). The
//! watchdog looks at the partitions this worker does not own: one that has unread
//! records and whose committed offset has not moved for the whole stall timeout is
//! unread, and the worker should rejoin the group as a new member. On a quiet stream
//! (every record read and committed) offsets cannot tell a working owner from none,
//! so the owners also renew [leases](super::lease) in the shared state directory: a
//! partition whose lease nobody renewed for the whole stall timeout has no working
//! owner either (Tansu 0.6 can leave a group that way: its one live member assigned
//! nothing, the partitions with a member it has dropped). Rejoins in a row
//! without progress wait twice as long each time (up to eight stall timeouts): a
//! broker too slow to complete a join within the timeout must not have every join
//! abandoned for the next one. The decision
//! ([`GroupWatchdog`]) is pure, time passed in; [`watch_group`] does the looking and
//! the rejoining for the worker loop.

use super::partitions::{InProcessCity, Owned, checkpoint_all};
use super::{Shared, blocking, lease};
use crate::error::Result;
use aqstream_connect::log::LogSource;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How long one look at the group's progress may take; a slow broker must not hold
/// the worker loop up (the look is tried again at the next interval).
const LOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// What is known of one partition of another member (or of none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Observed {
    /// The partition.
    pub partition: i32,
    /// The group's committed offset (next to read), `None` if never committed.
    pub committed: Option<i64>,
    /// First readable offset.
    pub low: i64,
    /// Next offset to be written.
    pub high: i64,
    /// Time since the partition's lease was last renewed; `None` if it never was.
    pub lease_age: Option<Duration>,
}

impl Observed {
    /// Records between the group's position and the end of the partition.
    fn lag(&self) -> i64 {
        self.high - self.committed.unwrap_or(self.low).max(self.low)
    }
}

/// Most doublings of the wait after rejoins without progress (8 × the timeout).
const MAX_DOUBLINGS: u32 = 3;

/// Tracks the progress of the partitions this worker does not own.
#[derive(Debug)]
pub(crate) struct GroupWatchdog {
    timeout: Duration,
    /// Rejoins since the group last made progress.
    rejoins: u32,
    next_check: Instant,
    /// Per partition, what the looks since the last rejoin saw of it.
    seen: BTreeMap<i32, Seen>,
}

/// What the watchdog's looks saw of one partition.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// The committed offset at the last look.
    committed: Option<i64>,
    /// Since when records have waited and the committed offset has not moved.
    waiting_since: Instant,
    /// When the committed offset last moved (or the first look at it).
    moved_at: Instant,
}

impl GroupWatchdog {
    /// A watchdog that reports partitions unread for `timeout`, looking a few times per
    /// timeout; the first look is one interval after `now`.
    pub(crate) fn new(timeout: Duration, now: Instant) -> GroupWatchdog {
        let mut w = GroupWatchdog {
            timeout,
            rejoins: 0,
            next_check: now,
            seen: BTreeMap::new(),
        };
        w.next_check = now + w.interval();
        w
    }

    /// Time between two looks.
    fn interval(&self) -> Duration {
        (self.timeout / 4).max(Duration::from_millis(500))
    }

    /// How long a partition must go unread: the timeout, doubled for each rejoin since
    /// the group last made progress (up to [`MAX_DOUBLINGS`] times).
    pub(crate) fn wait(&self) -> Duration {
        self.timeout * (1 << self.rejoins.min(MAX_DOUBLINGS))
    }

    /// Whether the loop should look at the other partitions now.
    pub(crate) fn due(&self, now: Instant) -> bool {
        now >= self.next_check
    }

    /// Takes one look: the partitions not owned by this worker with their committed
    /// offsets and ranges (partitions left out are owned here, and their tracking
    /// starts over when they are not). Returns, in partition order, the partitions
    /// unread for the whole [`wait`](Self::wait) (records waiting, committed offset
    /// unchanged) and those without a working owner (lease not renewed and committed
    /// offset unchanged for the wait; both counted from the first look after the last
    /// rejoin at the earliest, so a lease that goes on ageing through a rejoin that
    /// did not help still waits the doubled wait). A committed offset that moved, or
    /// no partition left to others, is progress: the wait is the timeout again.
    pub(crate) fn observe(&mut self, now: Instant, others: &[Observed]) -> Vec<i32> {
        self.next_check = now + self.interval();
        self.seen
            .retain(|p, _| others.iter().any(|o| o.partition == *p));
        if others.is_empty() {
            self.rejoins = 0;
        }
        let mut stalled = Vec::new();
        for o in others {
            let seen = self.seen.entry(o.partition).or_insert(Seen {
                committed: o.committed,
                waiting_since: now,
                moved_at: now,
            });
            let moved = seen.committed != o.committed;
            if moved {
                seen.committed = o.committed;
                seen.moved_at = now;
            }
            if o.lag() <= 0 || moved {
                seen.waiting_since = now;
            }
            let Seen {
                waiting_since,
                moved_at,
                ..
            } = *seen;
            if moved {
                self.rejoins = 0;
            }
            let wait = self.wait();
            let unread = now.duration_since(waiting_since) >= wait;
            let unowned =
                now.duration_since(moved_at) >= wait && o.lease_age.is_some_and(|a| a >= wait);
            if unread || unowned {
                stalled.push(o.partition);
            }
        }
        stalled
    }

    /// Starts every partition's wait over after a rejoin; until the group makes
    /// progress, the next wait is twice as long.
    pub(crate) fn reset(&mut self, now: Instant) {
        self.rejoins = self.rejoins.saturating_add(1);
        self.seen.clear();
        self.postpone(now);
    }

    /// Schedules the next look one interval after `now` (after a look that failed).
    pub(crate) fn postpone(&mut self, now: Instant) {
        self.next_check = now + self.interval();
    }
}

/// Looks at the partitions other members own; when some went unread for the stall
/// timeout, checkpoints this worker's work and rejoins the group as a new member. A
/// look or rejoin that fails is tried again later.
pub(super) async fn watch_group(
    shared: &Shared,
    source: &mut dyn LogSource,
    owned: &mut BTreeMap<i32, Owned>,
    city: &mut Option<InProcessCity>,
    w: &mut GroupWatchdog,
) -> Result<()> {
    let now = Instant::now();
    let others: Vec<i32> = (0..source.partition_count())
        .filter(|p| !owned.contains_key(p))
        .collect();
    if others.is_empty() {
        w.observe(now, &[]);
        return Ok(());
    }
    let looked = tokio::time::timeout(LOOK_TIMEOUT, async {
        let c = source.committed(&others).await?;
        let m = source.watermarks(&others).await?;
        Ok::<_, aqstream_connect::log::ConnectError>((c, m))
    })
    .await;
    let (committed, marks) = match looked {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            tracing::debug!("cannot look at the group's progress: {e}");
            w.postpone(now);
            return Ok(());
        }
        Err(_) => {
            tracing::debug!("looking at the group's progress took over {LOOK_TIMEOUT:?}");
            w.postpone(now);
            return Ok(());
        }
    };
    let state = shared.opts.state_dir.clone();
    let leases = blocking(move || {
        let at = SystemTime::now();
        others
            .iter()
            .map(|&p| (p, lease::age(&state, p, at)))
            .collect::<BTreeMap<i32, Option<Duration>>>()
    })
    .await?;
    let observed: Vec<Observed> = marks
        .into_iter()
        .map(|(partition, low, high)| Observed {
            partition,
            committed: committed
                .iter()
                .find(|c| c.0 == partition)
                .and_then(|c| c.1),
            low,
            high,
            lease_age: leases.get(&partition).copied().flatten(),
        })
        .collect();
    let stalled = w.observe(now, &observed);
    if stalled.is_empty() {
        return Ok(());
    }
    let leases: Vec<String> = stalled
        .iter()
        .map(|p| match leases.get(p).copied().flatten() {
            Some(a) => format!("p{p}: {} s", a.as_secs()),
            None => format!("p{p}: never"),
        })
        .collect();
    tracing::warn!(
        partitions = ?stalled,
        owned = ?owned.keys().collect::<Vec<_>>(),
        lease_renewed_ago = ?leases,
        "partitions of other members went unread, or without a working owner, for {} s; \
         rejoining the consumer group",
        w.wait().as_secs()
    );
    checkpoint_all(shared, source, owned, city).await?;
    match source.rejoin().await {
        Ok(()) => {
            shared.metrics.group_rejoins.inc();
            w.reset(Instant::now());
        }
        Err(e) => {
            tracing::warn!("cannot rejoin the consumer group: {e}");
            w.postpone(Instant::now());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A partition of another member whose owner renews its lease.
    fn obs(partition: i32, committed: Option<i64>, high: i64) -> Observed {
        Observed {
            partition,
            committed,
            low: 0,
            high,
            lease_age: Some(Duration::from_secs(1)),
        }
    }

    const T: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn a_partition_without_progress_is_reported_after_the_timeout() {
        let t0 = Instant::now();
        let mut w = GroupWatchdog::new(T, t0);
        assert!(!w.due(t0));
        assert!(w.due(t0 + Duration::from_secs(15)));
        let look = |w: &mut GroupWatchdog, s: u64, o: &[Observed]| {
            w.observe(t0 + Duration::from_secs(s), o)
        };
        // Partition 1 never read, partition 2 read but behind, both for 60 s.
        let o = [obs(1, None, 500), obs(2, Some(100), 500)];
        assert!(look(&mut w, 15, &o).is_empty());
        assert!(look(&mut w, 45, &o).is_empty());
        assert!(look(&mut w, 74, &o).is_empty(), "59 s is not yet stalled");
        assert_eq!(look(&mut w, 75, &o), vec![1, 2]);
        assert!(!w.due(t0 + Duration::from_secs(89)));
        assert!(w.due(t0 + Duration::from_secs(90)));
        // After a rejoin each partition's wait starts over, twice as long while
        // nothing moves: 120 s, then 240 s, then 480 s at most.
        w.reset(t0 + Duration::from_secs(80));
        assert_eq!(w.wait(), 2 * T);
        assert!(look(&mut w, 95, &o).is_empty());
        assert!(look(&mut w, 214, &o).is_empty());
        assert_eq!(look(&mut w, 215, &o), vec![1, 2]);
        for (n, want) in [(2, 4 * T), (3, 8 * T), (4, 8 * T), (9, 8 * T)] {
            w.reset(t0 + Duration::from_secs(220));
            assert_eq!(w.wait(), want, "after {n} rejoins");
        }
        // Progress of any partition makes the wait the timeout again.
        assert!(look(&mut w, 230, &o).is_empty());
        let moved = [obs(1, None, 500), obs(2, Some(101), 500)];
        assert!(look(&mut w, 240, &moved).is_empty());
        assert_eq!(w.wait(), T);
        // Partition 1 has waited since the look at 230 s, partition 2 since it moved.
        assert!(look(&mut w, 289, &moved).is_empty());
        assert_eq!(look(&mut w, 290, &moved), vec![1]);
        // So does owning every partition.
        w.reset(t0 + Duration::from_secs(300));
        assert_eq!(w.wait(), 2 * T);
        assert!(look(&mut w, 310, &[]).is_empty());
        assert_eq!(w.wait(), T);
    }

    #[tokio::test(start_paused = true)]
    async fn progress_caught_up_partitions_and_own_partitions_are_not_stalled() {
        let t0 = Instant::now();
        let mut w = GroupWatchdog::new(T, t0);
        let at = |s: u64| t0 + Duration::from_secs(s);
        // Partition 0 moves a little each look; partition 1 is fully read (nothing new
        // arrives, so its offset rightly stays); partition 2 lost its old records to
        // retention and was never read, but nothing is left to read.
        for s in (0..=300).step_by(15) {
            let c = 10 + s as i64;
            let others = [
                obs(0, Some(c), c + 1000),
                obs(1, Some(700), 700),
                Observed {
                    partition: 2,
                    committed: None,
                    low: 900,
                    high: 900,
                    lease_age: Some(Duration::from_secs(2)),
                },
            ];
            assert!(w.observe(at(s), &others).is_empty(), "at {s} s");
        }
        // Partition 3 stalls for 50 s, is taken by this worker (left out), and is
        // given away again: its wait starts over.
        assert!(w.observe(at(300), &[obs(3, Some(5), 50)]).is_empty());
        assert!(w.observe(at(350), &[obs(3, Some(5), 50)]).is_empty());
        assert!(w.observe(at(355), &[]).is_empty());
        assert!(w.observe(at(370), &[obs(3, Some(5), 50)]).is_empty());
        assert!(w.observe(at(420), &[obs(3, Some(5), 50)]).is_empty());
        assert_eq!(w.observe(at(430), &[obs(3, Some(5), 50)]), vec![3]);
        // A committed offset that moves (even backwards, after a rewind) is progress.
        assert!(w.observe(at(431), &[obs(3, Some(4), 50)]).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_partition_nobody_renews_is_reported_on_a_quiet_stream() {
        let t0 = Instant::now();
        let mut w = GroupWatchdog::new(T, t0);
        let at = |s: u64| t0 + Duration::from_secs(s);
        // Every record read and committed. Partition 1's owner renews its lease;
        // partition 2's lease was last renewed at 10 s; partition 3 never had one.
        let quiet = |s: u64| {
            [
                obs(1, Some(500), 500),
                Observed {
                    lease_age: Some(Duration::from_secs(s - 10)),
                    ..obs(2, Some(700), 700)
                },
                Observed {
                    lease_age: None,
                    ..obs(3, Some(900), 900)
                },
            ]
        };
        // Counted from the first look (15 s): the lease is 60 s old at 70 s, but
        // this worker has watched for only 55 s.
        for s in [15, 30, 45, 60, 70, 74] {
            assert!(w.observe(at(s), &quiet(s)).is_empty(), "at {s} s");
        }
        assert_eq!(
            w.observe(at(75), &quiet(75)),
            vec![2],
            "no renewal for 60 s"
        );
        // After a rejoin the lease goes on ageing, but the wait (now 120 s) counts
        // from the first look after it: no rejoin at every look.
        w.reset(at(80));
        for s in [90, 150, 209] {
            assert!(w.observe(at(s), &quiet(s)).is_empty(), "at {s} s");
        }
        assert_eq!(w.observe(at(210), &quiet(210)), vec![2]);
        w.reset(at(210));
        assert_eq!(w.wait(), 4 * T);
        // A new owner renews it: nothing to report, whatever the lease's past.
        let renewed = [obs(1, Some(500), 500), obs(2, Some(700), 700)];
        assert!(w.observe(at(500), &renewed).is_empty());
        // A committed offset that moves is progress even under a stale lease (an
        // owner that commits but does not renew: an older worker).
        let old_owner = |s: u64, c: i64| {
            [Observed {
                lease_age: Some(Duration::from_secs(s - 400)),
                ..obs(2, Some(c), 900)
            }]
        };
        assert!(w.observe(at(510), &old_owner(510, 700)).is_empty());
        assert!(w.observe(at(520), &old_owner(520, 800)).is_empty());
        assert_eq!(w.wait(), T);
        // Unread and unrenewed at once: reported once.
        let both = [Observed {
            lease_age: Some(Duration::from_secs(600)),
            ..obs(2, Some(800), 900)
        }];
        assert!(w.observe(at(560), &both).is_empty(), "moved 40 s ago");
        assert_eq!(w.observe(at(580), &both), vec![2]);
    }

    #[test]
    fn lag_counts_from_the_first_readable_record() {
        assert_eq!(obs(0, None, 40).lag(), 40);
        assert_eq!(obs(0, Some(30), 40).lag(), 10);
        let trimmed = Observed {
            partition: 0,
            committed: Some(3),
            low: 35,
            high: 40,
            lease_age: None,
        };
        assert_eq!(trimmed.lag(), 5);
    }
}
